//! One look at the sessions, as readers take it (`sessions list`, `show`,
//! `wait`): the records, the process table, each watcher's lock and status
//! file, Claude Code's registry, hook hints and the daemon's `gone_at`,
//! joined per session and refined (see [`crate::refine`]).
//!
//! Invariant: a look changes nothing, and a file that cannot be read is one
//! fact fewer, never an error that hides the other sessions. The only state
//! carried from one look to the next is when a session was first seen gone
//! ([`Memory`]), so that a `gone` keeps its age from look to look.

use crate::attention::{Agent, Attention};
use crate::claude::{self, Registry};
use crate::config::Config;
use crate::home::Home;
use crate::ps::{self, Proc};
use crate::refine::{self, Facts, Hint, Refined};
use crate::store::{self, Life, Session, Task};
use crate::watcher::status::{Status, WatchState};
use crate::{files, kv, lock, proctree, sys, time};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything known about one session at one look.
#[derive(Debug, Clone)]
pub struct View {
    /// The record.
    pub session: Session,
    /// Its task's record, when it exists.
    pub task: Option<Task>,
    /// Live, ended or gone.
    pub life: Life,
    /// Live with a task that is not finished: a watcher should run.
    pub supervisable: bool,
    /// The artifact's key.
    pub key: String,
    /// The holder of the artifact's lock: its watcher.
    pub watcher: Option<i32>,
    /// The status file of the artifact, whoever wrote it.
    pub status: Option<Status>,
    /// The watcher's state, when the live lock holder wrote the status.
    pub observed: Option<WatchState>,
    /// The watcher's agent, else the record's.
    pub agent: Option<Agent>,
    /// The agent's folder: the record's, else the live process's.
    pub cwd: Option<String>,
    /// Where the agent's Claude registry file is (Claude and unknown agents
    /// with a live pid), and what it says when it matches the process.
    pub registry_path: Option<PathBuf>,
    /// The registry, when it names this very process.
    pub registry: Option<Registry>,
    /// The hook hint of the artifact.
    pub hint: Option<Hint>,
    /// What to show.
    pub refined: Refined,
    /// Why a live session has no watcher ("no task"), when it has none.
    pub why: Option<String>,
}

/// What one look leaves for the next.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    /// Session id → the first look that saw its agent gone.
    gone_first: BTreeMap<String, u64>,
}

impl Memory {
    /// Since when session `s`, seen gone at `now`, is gone: the daemon's
    /// `gone_at` for it, else the first look that saw it so.
    fn gone_since(&mut self, s: &Session, gone_at: Option<u64>, now: u64) -> u64 {
        let first = *self.gone_first.entry(s.id.clone()).or_insert(now);
        gone_at.filter(|&t| t >= s.started).unwrap_or(first)
    }
}

/// What every session of one look shares.
pub struct Context<'a> {
    /// The home.
    pub home: &'a Home,
    /// `permission_seconds`, `stall_seconds`.
    pub config: &'a Config,
    /// The process table (start ticks filled for the sessions' pids), or
    /// `None` when `ps` failed: then agents are taken to run.
    pub procs: Option<&'a [Proc]>,
    /// The time of the look.
    pub now: u64,
}

/// Looks at every session.
pub fn look(
    cx: &Context,
    sessions: Vec<Session>,
    tasks: &[Task],
    memory: &mut Memory,
) -> Vec<View> {
    let daemon = daemon_fields(cx.home);
    let kids = cx.procs.map(proctree::children).unwrap_or_default();
    let mut watchers: BTreeMap<String, (Option<i32>, Option<Status>)> = BTreeMap::new();
    let views: Vec<View> = sessions
        .into_iter()
        .map(|s| {
            let key = cx.home.key(&s.artifact);
            let (watcher, status) =
                watchers.entry(key.clone()).or_insert_with(|| watcher_of(cx.home, &key)).clone();
            let status = status.filter(|st| st.artifact == s.artifact);
            let gone_at = field(&daemon, &key, "gone_at").and_then(|v| v.parse().ok());
            one(cx, s, tasks, (key, watcher, status), gone_at, &kids, memory)
        })
        .collect();
    memory.gone_first.retain(|id, _| views.iter().any(|v| &v.session.id == id));
    views
}

/// One session's view; `watched` is its key, lock holder and status.
fn one(
    cx: &Context,
    s: Session,
    tasks: &[Task],
    watched: (String, Option<i32>, Option<Status>),
    gone_at: Option<u64>,
    kids: &BTreeMap<i32, Vec<&Proc>>,
    memory: &mut Memory,
) -> View {
    let (key, watcher, status) = watched;
    let life = store::life(&s, cx.procs);
    let task = s.task.as_deref().and_then(|id| tasks.iter().find(|t| t.id == id)).cloned();
    let supervisable = store::supervisable(&s, tasks, life);
    let observed = status.as_ref().filter(|x| Some(x.pid) == watcher).map(|x| x.state);
    let agent = status.as_ref().and_then(|x| x.saved.agent).or(s.agent);
    let agent_proc = s
        .pid
        .filter(|_| life == Life::Live)
        .and_then(|pid| cx.procs.and_then(|procs| ps::find(procs, pid)).filter(|p| !p.zombie));
    let (descendants, registry_path, registry) = agent_side(agent_proc, agent, kids, cx.now);
    let hint = read_hint(cx.home, &key);
    let facts = Facts {
        agent_pid: agent_proc.is_some(),
        gone_since: (life == Life::Gone).then(|| memory.gone_since(&s, gone_at, cx.now)),
        registry: registry.as_ref().map(registry_facts),
        hint,
        descendants: &descendants,
        now: cx.now,
        permission_seconds: cx.config.permission_seconds,
        stall_seconds: cx.config.stall_seconds,
        ..recorded(&s, status.as_ref(), agent)
    };
    let mut refined = refine::refine(&facts);
    let why = (life == Life::Live && !supervisable).then(|| unsupervised(&s, task.as_ref()));
    if let (None, Some(why)) = (refined.attention, &why) {
        refined.reason = why.clone();
    }
    let cwd = s.cwd.clone().or_else(|| agent_proc.and_then(|p| cwd_of(p.pid)));
    View {
        session: s,
        task,
        life,
        supervisable,
        key,
        watcher,
        status,
        observed,
        agent,
        cwd,
        registry_path,
        registry,
        hint,
        refined,
        why,
    }
}

/// What the rules read of Claude Code's registry file.
fn registry_facts(r: &Registry) -> refine::Registry<'_> {
    refine::Registry {
        status: r.status.as_deref().unwrap_or(""),
        waiting_for: r.waiting_for.as_deref().unwrap_or(""),
        updated_ms: r.status_updated_at_ms.or(r.updated_at_ms),
    }
}

/// The folder process `pid` runs in, when a record could hold it.
fn cwd_of(pid: i32) -> Option<String> {
    let dir = sys::proc_cwd(pid).ok()?;
    dir.to_str().filter(|d| kv::storable(d)).map(String::from)
}

/// The facts that the record `s` and the watcher's status `st` give.
fn recorded<'a>(s: &'a Session, st: Option<&'a Status>, agent: Option<Agent>) -> Facts<'a> {
    let end_reason = s.end_reason.as_deref().unwrap_or("");
    Facts {
        attention: st.and_then(|x| x.saved.attention),
        reason: st.map_or("", |x| x.saved.reason.as_str()),
        attention_since: st.and_then(|x| x.attention_since),
        tool: st.map_or("", |x| x.saved.tool.as_str()),
        agent,
        last_activity: st.and_then(|x| x.last_activity),
        ended: s.ended,
        end_reason,
        ended_at: s.ended_at,
        cleared: s.ended && end_reason == "clear",
        ..Facts::default()
    }
}

/// What the running agent `p` shows: the start times of what runs under it
/// (below its innermost agent process), and for Claude Code its registry
/// file's path and what that file says.
fn agent_side(
    p: Option<&Proc>,
    agent: Option<Agent>,
    kids: &BTreeMap<i32, Vec<&Proc>>,
    now: u64,
) -> (Vec<u64>, Option<PathBuf>, Option<Registry>) {
    let Some(p) = p else { return (Vec::new(), None, None) };
    let descendants = proctree::descendants(kids, proctree::innermost(kids, p.pid, agent), now);
    let path = matches!(agent, Some(Agent::Claude) | None)
        .then(|| claude_dir(p.pid).map(|d| d.join("sessions").join(format!("{}.json", p.pid))))
        .flatten();
    let registry = path.as_ref().and_then(|path| read_registry(p, path));
    (descendants, path, registry)
}

/// Why a live session is not supervised: it has no task, its task record
/// is missing, or its task is finished.
fn unsupervised(s: &Session, task: Option<&Task>) -> String {
    match (s.task.as_deref(), task) {
        (None, _) => "not supervised: no task".into(),
        (Some(_), None) => "not supervised: no such task".into(),
        (Some(_), Some(t)) => format!("not supervised: task {}", t.state.as_str()),
    }
}

/// The lock holder of a key and the status file it wrote.
pub fn watcher_of(home: &Home, key: &str) -> (Option<i32>, Option<Status>) {
    let holder = lock::holder(&home.lock(key)).ok().flatten();
    let text = files::read_small(&home.status(key), files::RECORD_MAX);
    (holder, text.ok().flatten().and_then(|t| Status::parse(&t)))
}

/// `CLAUDE_CONFIG_DIR` of the agent's own environment when it can be read,
/// else bach's; unset, `~/.claude`.
fn claude_dir(pid: i32) -> Option<PathBuf> {
    let var = match sys::proc_env_var(pid, "CLAUDE_CONFIG_DIR") {
        Ok(v) => v,
        Err(_) => std::env::var("CLAUDE_CONFIG_DIR").ok(),
    };
    match var.filter(|v| !v.is_empty()) {
        Some(v) => Some(PathBuf::from(v)),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".claude")),
    }
}

/// The registry file at `path`, when it names process `p` (its pid and
/// start: ticks on Linux, seconds on macOS).
fn read_registry(p: &Proc, path: &std::path::Path) -> Option<Registry> {
    let text = files::read_small(path, files::RECORD_MAX).ok().flatten()?;
    let reg = claude::parse(&text).ok()?;
    let secs = time::lstart_secs(&p.start);
    claude::registry_matches(&reg, p.pid, p.ticks, secs).then_some(reg)
}

/// `watch/KEY.hint`: `hint` (`needs_you` or `turn_done`) and `hint_at`.
fn read_hint(home: &Home, key: &str) -> Option<Hint> {
    let text = files::read_small(&home.hint(key), files::RECORD_MAX).ok().flatten()?;
    let fields: Vec<kv::Field> = kv::lines(&text).filter_map(Result::ok).collect();
    let attention = Attention::parse(kv::get(&fields, "hint")?)
        .filter(|a| matches!(a, Attention::NeedsYou | Attention::TurnDone))?;
    Some(Hint { attention, at: kv::get(&fields, "hint_at")?.parse().ok()? })
}

/// Every field of `daemon.state` (empty when it cannot be read).
pub fn daemon_fields(home: &Home) -> Vec<(String, String)> {
    let text = files::read_small(&home.daemon_state(), crate::ledger::MAX).ok().flatten();
    let text = text.unwrap_or_default();
    kv::lines(&text).filter_map(Result::ok).map(|f| (f.key.into(), f.value.into())).collect()
}

/// The daemon's `KEY.name`, the first if given twice.
fn field<'a>(fields: &'a [(String, String)], key: &str, name: &str) -> Option<&'a str> {
    let want = format!("{key}.{name}");
    fields.iter().find(|(k, _)| *k == want).map(|(_, v)| v.as_str())
}

/// The daemon's ledger entry of `key` (`KEY.crashes` … without `KEY.`).
pub fn ledger(fields: &[(String, String)], key: &str) -> Vec<(String, String)> {
    let prefix = format!("{key}.");
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in fields {
        if let Some(name) = k.strip_prefix(&prefix) {
            if !out.iter().any(|(n, _)| n == name) {
                out.push((name.to_string(), v.clone()));
            }
        }
    }
    out
}

/// Most urgent first (see [`refine::urgency`]); the longest wait first
/// within one state, then by id.
pub fn sort(views: &mut [View]) {
    views.sort_by(|a, b| {
        let key =
            |v: &View| (refine::urgency(v.refined.attention), v.refined.since.unwrap_or(u64::MAX));
        key(a).cmp(&key(b)).then_with(|| a.session.id.cmp(&b.session.id))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TaskState;

    #[test]
    fn a_live_session_without_a_watcher_says_why() {
        let s = |task: Option<&str>| Session { task: task.map(String::from), ..Session::default() };
        let done = Task { id: "t".into(), state: TaskState::Done, ..Task::new("x", 0) };
        assert_eq!(unsupervised(&s(None), None), "not supervised: no task");
        assert_eq!(unsupervised(&s(Some("t")), None), "not supervised: no such task");
        assert_eq!(unsupervised(&s(Some("t")), Some(&done)), "not supervised: task done");
    }

    #[test]
    fn the_ledger_entry_is_the_keys_fields_without_its_prefix() {
        let f: Vec<(String, String)> = [
            ("pid", "1"),
            ("k.crashes", "2"),
            ("k.gone_at", "9"),
            ("kk.crashes", "5"),
            ("k.crashes", "7"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let want: Vec<(String, String)> =
            vec![("crashes".into(), "2".into()), ("gone_at".into(), "9".into())];
        assert_eq!(ledger(&f, "k"), want);
        assert_eq!(field(&f, "k", "gone_at"), Some("9"));
        assert_eq!(ledger(&f, "x"), Vec::new());
    }
}
