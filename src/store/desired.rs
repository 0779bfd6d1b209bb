//! The join the whole product turns on: which sessions are live, which
//! are supervisable (live, with a task that exists and is not terminal),
//! and so which artifacts are desired. Pure: records and the process table
//! in, the desired set out.

use super::record::{Session, Task};
use crate::ps::Proc;
use std::collections::BTreeMap;

/// Whether a session is live, ended, or gone (its agent no longer runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    /// Running, or nothing says otherwise.
    Live,
    /// Ended by `sessions end`.
    Ended,
    /// Its agent's pid, uid and start time are no longer in `ps`.
    Gone,
}

impl Life {
    /// Its name in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Life::Live => "live",
            Life::Ended => "ended",
            Life::Gone => "gone",
        }
    }
}

/// The life of a session; `procs` is the process table, `None` when unknown
/// (then a recorded agent is taken to be running).
pub fn life(s: &Session, procs: Option<&[Proc]>) -> Life {
    if s.ended {
        return Life::Ended;
    }
    let (Some(pid), Some(procs)) = (s.pid, procs) else { return Life::Live };
    match procs.iter().any(|p| p.pid == pid && !p.zombie && same_process(s, p)) {
        true => Life::Live,
        false => Life::Gone,
    }
}

/// Whether `p` (with the session's pid) is the session's agent: same uid,
/// and the same start: by ticks where both are known (Linux: no clock step
/// moves them), else by the start time `ps` printed.
pub fn same_process(s: &Session, p: &Proc) -> bool {
    let same_start = match (s.pid_ticks, p.ticks) {
        (Some(a), Some(b)) => a == b,
        _ => s.pid_start.as_deref().map_or(true, |t| t == p.start),
    };
    s.pid_uid.map_or(true, |u| u == p.uid) && same_start
}

/// The task of a session, when it exists and is not terminal.
fn open_task<'a>(s: &Session, tasks: &'a [Task]) -> Option<&'a Task> {
    let id = s.task.as_deref()?;
    tasks.iter().find(|t| t.id == id).filter(|t| !t.state.terminal())
}

/// Whether a session is supervisable: live, linked to a task that exists
/// and is not terminal.
pub fn supervisable(s: &Session, tasks: &[Task], life: Life) -> bool {
    life == Life::Live && open_task(s, tasks).is_some()
}

/// What the store wants for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    /// The artifact.
    pub artifact: String,
    /// The sessions that refer to it, oldest first.
    pub sessions: Vec<String>,
    /// Every one of those sessions is `gone`: the key is no longer desired,
    /// but its watcher is let finish its last idle verdict.
    pub all_gone: bool,
}

/// The desired set, by key: every artifact of a supervisable session, plus
/// (with `all_gone`) those whose sessions would be supervisable but are gone.
pub fn desired(
    home: &str,
    sessions: &[Session],
    tasks: &[Task],
    procs: Option<&[Proc]>,
) -> BTreeMap<String, Want> {
    desired_by(home, sessions, tasks, &|s| life(s, procs))
}

/// The same with each session's life told by `life` (the daemon knows its
/// agents by pid handles between `ps` reads). A `dyn`, so the join is
/// compiled once.
pub fn desired_by(
    home: &str,
    sessions: &[Session],
    tasks: &[Task],
    life: &dyn Fn(&Session) -> Life,
) -> BTreeMap<String, Want> {
    let mut out: BTreeMap<String, Want> = BTreeMap::new();
    let mut sorted: Vec<&Session> = sessions.iter().collect();
    sorted.sort_by(|a, b| (a.started, &a.id).cmp(&(b.started, &b.id)));
    for s in sorted {
        let l = life(s);
        if l == Life::Ended || open_task(s, tasks).is_none() {
            continue;
        }
        let want = out.entry(crate::key::of(home, &s.artifact)).or_insert_with(|| Want {
            artifact: s.artifact.clone(),
            sessions: Vec::new(),
            all_gone: true,
        });
        want.sessions.push(s.id.clone());
        want.all_gone &= l == Life::Gone;
    }
    out
}
