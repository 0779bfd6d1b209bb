//! How a session that registers itself gets into the store: the one path
//! the Claude Code hook and discovery share (DESIGN, "Sessions that
//! register themselves", Settled). A session is named by its agent's own
//! session id (`c-`/`x-` and 12 hex digits), so both find the same record.
//!
//! Invariants: the first writer's `link` wins and the other only fills
//! what is absent (never two records for one agent session, whatever the
//! interleaving); an explicit task (`--task`, `$BACH_TASK`) replaces only a
//! task that discovery chose; a new artifact naming the same file as a live
//! session's reuses that session's bytes, so one file has one key; an auto
//! task is created with `link` too, so concurrent creators meet at one.

use crate::attention::Agent;
use crate::config::Config;
use crate::error::Result;
use crate::ps::Proc;
use crate::store::{self, Session, Store, Task, Via};
use crate::taskdir::{self, DirTask};
use crate::{sys, time};
use std::os::unix::fs::MetadataExt;

/// The process an agent runs as: what tells it from a later one with its
/// pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// Its pid.
    pub pid: i32,
    /// Its (effective) uid.
    pub uid: u32,
    /// Its start as `ps` prints `lstart`.
    pub start: String,
    /// Its start ticks (Linux).
    pub ticks: Option<u64>,
}

impl Ident {
    /// Process `pid` now, from the kernel (never `ps`); `None` when it is
    /// gone or a zombie.
    pub fn of(pid: i32) -> Option<Ident> {
        let st = sys::proc_stat(pid).ok().filter(|s| !s.zombie)?;
        let start = time::lstart(sys::start_secs(st.start).ok()?);
        let ticks = cfg!(target_os = "linux").then_some(st.start);
        Some(Ident { pid, uid: st.uid, start, ticks })
    }

    /// A process as `ps` listed it (with its ticks where they were read).
    pub fn of_proc(p: &Proc) -> Ident {
        Ident { pid: p.pid, uid: p.uid, start: p.start.clone(), ticks: p.ticks }
    }

    /// The identity a session records, if it records a pid.
    pub fn recorded(s: &Session) -> Option<Ident> {
        let (pid, uid, start) = (s.pid?, s.pid_uid.unwrap_or(0), s.pid_start.clone());
        Some(Ident { pid, uid, start: start.unwrap_or_default(), ticks: s.pid_ticks })
    }

    /// Whether session `s` records this process (ticks decide where both
    /// are known, as for liveness).
    pub fn is_of(&self, s: &Session) -> bool {
        let p = Proc {
            uid: self.uid,
            pid: self.pid,
            ppid: 0,
            pgid: 0,
            zombie: false,
            start: self.start.clone(),
            command: String::new(),
            ticks: self.ticks,
        };
        s.pid == Some(self.pid) && store::same_process(s, &p)
    }

    fn write(&self, s: &mut Session) {
        (s.pid, s.pid_uid) = (Some(self.pid), Some(self.uid));
        (s.pid_start, s.pid_ticks) = (Some(self.start.clone()), self.ticks);
    }
}

/// Whether the process a session records still runs, asked of the kernel.
fn still_runs(s: &Session) -> bool {
    let Some(pid) = s.pid else { return false };
    Ident::of(pid).is_some_and(|now| now.is_of(s))
}

/// A session an agent announced (the hook) or that discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// bach's id: `c-`/`x-` and 12 hex digits of `agent_session`.
    pub id: String,
    /// Claude Code or Codex.
    pub agent: Agent,
    /// The agent's own id of the session.
    pub agent_session: String,
    /// The transcript, absolute.
    pub artifact: String,
    /// The agent's folder.
    pub cwd: Option<String>,
    /// The agent's process, where known.
    pub ident: Option<Ident>,
    /// `--task` or `$BACH_TASK`.
    pub task: Option<String>,
    /// Who found it: `Hook` (a `SessionStart`, which also revives an ended
    /// session) or `Discover`.
    pub via: Via,
}

/// What [`record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new record.
    Added,
    /// An existing record, filled in or revived.
    Updated,
    /// An existing record that already said it all.
    Unchanged,
}

/// The task a new session would take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// An existing task.
    Existing(String),
    /// A new auto task for the session's folder (created with `link`).
    Auto(Task),
    /// None: the session is recorded, not supervised.
    Nothing,
}

impl Choice {
    /// The id of the task chosen.
    pub fn id(&self) -> Option<&str> {
        match self {
            Choice::Existing(id) => Some(id),
            Choice::Auto(t) => Some(&t.id),
            Choice::Nothing => None,
        }
    }
}

/// The task rules: the explicit task if it exists, else the task whose
/// `dir` holds `cwd` (longest, then oldest), else with `auto` a new auto
/// task for `cwd`. The second value says why an explicit task was passed
/// over.
pub fn choose_task(
    explicit: Option<&str>,
    cwd: Option<&str>,
    tasks: &[Task],
    auto: bool,
    now: u64,
) -> (Choice, Option<String>) {
    let known = explicit.filter(|id| tasks.iter().any(|t| t.id == *id));
    let note = explicit.filter(|_| known.is_none()).map(|id| format!("unknown task '{id}'"));
    if let Some(id) = known {
        return (Choice::Existing(id.into()), None);
    }
    let Some(cwd) = cwd else { return (Choice::Nothing, note) };
    if let Some(id) = by_dir(tasks, cwd) {
        return (Choice::Existing(id), note);
    }
    let home = std::env::var("HOME").ok();
    let tmp = std::env::temp_dir().to_str().map(String::from);
    let id = taskdir::auto_id(cwd, home.as_deref(), tmp.as_deref()).filter(|_| auto);
    let Some(id) = id else { return (Choice::Nothing, note) };
    let name = crate::agent::basename(cwd.trim_end_matches('/')).trim();
    let mut t = Task::new(if name.is_empty() { cwd } else { name }, now);
    (t.id, t.dir, t.dir_real, t.auto) = (id, Some(cwd.into()), real_dir(cwd), true);
    (Choice::Auto(t), note)
}

/// The task whose `dir` holds `cwd`, by the folder rule alone (what
/// `sessions start` without `--task` applies).
pub fn by_dir(tasks: &[Task], cwd: &str) -> Option<String> {
    let dir_tasks: Vec<DirTask> = tasks
        .iter()
        .map(|t| DirTask {
            id: &t.id,
            state: t.state,
            created: t.created,
            dir: t.dir.as_deref(),
            dir_real: t.dir_real.as_deref(),
            auto: t.auto,
        })
        .collect();
    taskdir::choose(&dir_tasks, cwd, real_dir(cwd).as_deref()).map(String::from)
}

/// The realpath of `dir` when it differs from `dir`.
fn real_dir(dir: &str) -> Option<String> {
    let real = std::fs::canonicalize(dir).ok()?;
    real.to_str().filter(|r| *r != dir.trim_end_matches('/')).map(String::from)
}

/// The artifact of a live session that names the same file (dev, ino) as
/// `artifact`, which the new session then shares: one file, one key.
pub fn same_file(sessions: &[Session], artifact: &str) -> Option<String> {
    let file = |p: &str| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let this = file(artifact)?;
    let live = sessions.iter().filter(|s| !s.ended && s.artifact != artifact);
    live.map(|s| &s.artifact).find(|a| file(a) == Some(this)).cloned()
}

/// Records `f`: a new session put in place with `link`, or, when its id
/// exists, the existing record filled in (see [`merge`]). `sessions` and
/// `tasks` are the store as the caller read it. Returns what happened and
/// the session as stored, or `None` for a record of another agent session
/// under the same id (a collision of 48 bits: left alone).
pub fn record(
    st: &Store,
    config: &Config,
    f: &Found,
    (sessions, tasks): (&[Session], &[Task]),
    now: u64,
) -> Result<Option<(Outcome, Session)>> {
    // An explicit task that does not exist is passed over (the caller says so).
    let f =
        &Found { task: f.task.clone().filter(|id| tasks.iter().any(|t| t.id == *id)), ..f.clone() };
    let choose = || choose_task(f.task.as_deref(), f.cwd.as_deref(), tasks, config.auto_task, now);
    if st.session(&f.id)?.is_none() {
        let mut s = Session {
            artifact: same_file(sessions, &f.artifact).unwrap_or_else(|| f.artifact.clone()),
            started: now,
            agent: Some(f.agent),
            agent_session: Some(f.agent_session.clone()),
            cwd: f.cwd.clone(),
            via: f.via,
            ..Session::default()
        };
        s.task = take_task(st, choose().0)?;
        if let Some(ident) = &f.ident {
            ident.write(&mut s);
        }
        if st.link_session(&f.id, &s)? {
            s.id = f.id.clone();
            return Ok(Some((Outcome::Added, s)));
        }
    }
    // Another writer was first, or the session was known: fill it in.
    let Some(old) = st.session(&f.id)? else { return Ok(None) };
    let Some(mut s) = merge(&old, f, still_runs(&old)) else { return Ok(None) };
    if s.task.is_none() {
        s.task = take_task(st, choose().0)?;
    }
    if s == old {
        return Ok(Some((Outcome::Unchanged, s)));
    }
    st.put_session(&s)?;
    Ok(Some((Outcome::Updated, s)))
}

/// The id of the task chosen, creating an auto task (with `link`: an
/// existing one of that id is met, not replaced).
fn take_task(st: &Store, choice: Choice) -> Result<Option<String>> {
    if let Choice::Auto(t) = &choice {
        st.link_task(&t.id, t)?;
    }
    Ok(choice.id().map(String::from))
}

/// The existing record `old` with what `f` adds: the pid when it had none,
/// or when the process it named has ended (`old_runs` false: a resume in a
/// new process); revived when it had ended and a hook announced it again or
/// another process now runs it; absent fields filled; an explicit task
/// replacing one that discovery chose. `None` when `old` is another agent
/// session's.
pub fn merge(old: &Session, f: &Found, old_runs: bool) -> Option<Session> {
    if old.agent_session.as_deref().is_some_and(|a| a != f.agent_session) {
        return None;
    }
    let mut s = old.clone();
    let new_process = match (Ident::recorded(old), &f.ident) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(_), Some(new)) => !new.is_of(old) && !old_runs,
    };
    if let Some(ident) = f.ident.as_ref().filter(|_| new_process) {
        ident.write(&mut s);
    }
    if s.ended && (f.via == Via::Hook || new_process) {
        (s.ended, s.ended_at, s.end_reason) = (false, None, None);
    }
    s.cwd = s.cwd.or_else(|| f.cwd.clone());
    s.agent = s.agent.or(Some(f.agent));
    s.agent_session = s.agent_session.or_else(|| Some(f.agent_session.clone()));
    if f.task.is_some() && (s.task.is_none() || old.via == Via::Discover) {
        s.task.clone_from(&f.task);
    }
    Some(s)
}

/// Ends session `s` (live) as of `now`, saying how.
pub fn end(st: &Store, s: &Session, reason: &str, now: u64) -> Result<()> {
    let mut s = s.clone();
    (s.ended, s.ended_at, s.end_reason) = (true, Some(now), Some(reason.into()));
    st.put_session(&s)
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;
