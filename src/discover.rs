//! Discovery: the Claude Code and Codex sessions that run on this machine
//! under this user and that no record knows, mapped to their transcripts
//! and registered (`via = discover`, see [`crate::register`]). Run by
//! `bach sessions discover` and by the daemon after every `ps` read.
//!
//! Invariants: discovery only reads what agents write (their registry,
//! transcripts, `/proc` entries) and writes only records: it never signals,
//! stops or writes to an agent or its files. A process counts as
//! registered when any record, live or ended, carries its identity, so a
//! session ended by hand is not brought back. A transcript is never
//! guessed among several, nor taken from another session: where the rules
//! do not single out one file for one process, the process is skipped with
//! the reason.

mod find;

pub use find::own_dir;

use crate::attention::Agent;
use crate::config::Config;
use crate::log::Log;
use crate::ps::Proc;
use crate::register::{self, Found, Ident, Outcome};
use crate::store::{Session, Store, Task};
use crate::{claude, codex, procs, sys};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// A session discovery registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// bach's id of it.
    pub id: String,
    /// Claude Code or Codex.
    pub agent: Agent,
    /// The agent's pid (for Codex from npm, the wrapper's).
    pub pid: i32,
    /// Its transcript.
    pub artifact: String,
    /// Its task, if any.
    pub task: Option<String>,
}

/// An agent discovery left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The agent's pid.
    pub pid: i32,
    /// Why: the rule that did not single out a transcript, or the file that
    /// could not be read.
    pub why: String,
}

/// What one pass did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// New sessions, and sessions filled in or revived.
    pub registered: Vec<Registered>,
    /// Sessions ended because their agent moved on to a new one (`/clear`).
    pub ended: Vec<String>,
    /// Agents not registered.
    pub skipped: Vec<Skipped>,
}

/// A process that is Claude Code or Codex.
#[derive(Debug, Clone)]
struct Cand {
    proc_: Proc,
    agent: Agent,
}

impl Cand {
    fn pid(&self) -> i32 {
        self.proc_.pid
    }

    fn ident(&self) -> Ident {
        Ident::of_proc(&self.proc_)
    }
}

/// One pass over `procs` (the process table) with the store as `records`;
/// `dry` writes nothing. An agent that cannot be registered, even for a
/// store that refuses the write, is a skip, never the pass's end.
pub fn pass(
    st: &Store,
    config: &Config,
    procs: &[Proc],
    records: (&[Session], &[Task]),
    dry: bool,
    now: u64,
) -> Report {
    let cands = candidates(procs, &config.discover);
    let mut p =
        Pass { st, config, records, dry, now, report: Report::default(), taken: BTreeSet::new() };
    let registered = |c: &Cand| records.0.iter().any(|s| c.ident().is_of(s));
    for c in cands.iter().filter(|c| c.agent == Agent::Claude) {
        match registered(c) {
            true => p.follow_claude(c),
            false => p.claude(c),
        }
    }
    let codex: Vec<&Cand> = cands.iter().filter(|c| c.agent == Agent::Codex).collect();
    let pairs: Vec<(i32, i32)> = codex.iter().map(|c| (c.pid(), c.proc_.ppid)).collect();
    let of = |pid: &i32| codex.iter().copied().find(|c| c.pid() == *pid);
    let agents: Vec<Vec<&Cand>> = codex::outermost(&pairs)
        .into_iter()
        .map(|(_, members)| members.iter().filter_map(of).collect())
        .collect();
    for members in &agents {
        match members.iter().any(|c| registered(c)) {
            true => p.follow_codex(members),
            false => p.codex(members, &agents),
        }
    }
    p.report
}

/// A running agent whose folder (`CLAUDE_CONFIG_DIR` or `CODEX_HOME`, as
/// its environment sets it) is not the one bach's own environment names:
/// discovery still finds its files, but the daemon watches the other
/// folder for changes, and `doctor` and `hook` read the other settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherFolder {
    /// The agent's pid (the first, for several with one folder).
    pub pid: i32,
    /// The variable: `CLAUDE_CONFIG_DIR` or `CODEX_HOME`.
    pub var: &'static str,
    /// The agent's folder.
    pub agent: String,
    /// bach's.
    pub own: String,
}

/// The agents in `procs` whose folder is not bach's, one per folder. An
/// agent whose environment cannot be read shares bach's (that is what
/// discovery takes then).
pub fn other_folders(procs: &[Proc]) -> Vec<OtherFolder> {
    let mut out: Vec<OtherFolder> = Vec::new();
    for c in candidates(procs, &[Agent::Claude, Agent::Codex]) {
        let (var, default) = match c.agent {
            Agent::Claude => ("CLAUDE_CONFIG_DIR", ".claude"),
            _ => ("CODEX_HOME", ".codex"),
        };
        let own = find::own_dir(var, default).to_string_lossy().trim_end_matches('/').to_string();
        let Ok(agent) = find::agent_dir(c.pid(), var, default) else { continue };
        if agent != own && !out.iter().any(|o| o.var == var && o.agent == agent) {
            out.push(OtherFolder { pid: c.pid(), var, agent, own });
        }
    }
    out
}

/// The processes of this user, not zombies, whose command line is Claude
/// Code or Codex (read from the kernel: `ps` joins and mangles arguments),
/// for the agents in `wanted`; their start ticks read where the kernel has
/// them.
fn candidates(procs: &[Proc], wanted: &[Agent]) -> Vec<Cand> {
    let me = sys::getuid();
    let mentions = |p: &&Proc| p.command.contains("claude") || p.command.contains("codex");
    let mut out = Vec::new();
    for p in procs.iter().filter(|p| p.uid == me && !p.zombie && p.pid > 1).filter(mentions) {
        let argv = sys::proc_argv(p.pid).ok().filter(|a| !a.is_empty());
        let argv = argv.unwrap_or_else(|| p.command.split_whitespace().map(String::from).collect());
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        let agent = match (claude::is_claude(&args), codex::is_codex(&args)) {
            (true, _) => Agent::Claude,
            (false, true) => Agent::Codex,
            (false, false) => continue,
        };
        if wanted.contains(&agent) {
            let mut proc_ = p.clone();
            proc_.ticks = proc_.ticks.or_else(|| procs::start_ticks(p.pid));
            out.push(Cand { proc_, agent });
        }
    }
    out
}

/// One pass's state.
struct Pass<'a> {
    st: &'a Store,
    config: &'a Config,
    records: (&'a [Session], &'a [Task]),
    dry: bool,
    now: u64,
    report: Report,
    /// Session ids registered in this pass: one agent session, one process.
    taken: BTreeSet<String>,
}

impl Pass<'_> {
    /// Notes that agent `pid` is left alone, and why.
    fn skip(&mut self, pid: i32, why: impl Into<String>) {
        self.report.skipped.push(Skipped { pid, why: why.into() });
    }

    /// An unregistered Claude Code process.
    fn claude(&mut self, c: &Cand) {
        match find::claude(c, self.records.0) {
            Ok(f) => self.register(c.pid(), f),
            Err(why) => self.skip(c.pid(), why),
        }
    }

    /// An unregistered Codex agent: its processes, outermost first.
    fn codex(&mut self, members: &[&Cand], agents: &[Vec<&Cand>]) {
        let Some(root) = members.first() else { return };
        match find::codex(members, agents, self.records.0, self.now) {
            Ok(f) => self.register(root.pid(), f),
            Err(why) => self.skip(root.pid(), why),
        }
    }

    /// A registered Claude Code process whose registry now names a session
    /// no record knows: a `/clear` (hooks see it too; whichever is first,
    /// the other finds the record).
    fn follow_claude(&mut self, c: &Cand) {
        if let Some(f) = find::claude_registry(c).ok().flatten() {
            self.follow(c, f);
        }
    }

    /// A registered Codex agent whose open rollout is a session no record
    /// knows (`/new`).
    fn follow_codex(&mut self, members: &[&Cand]) {
        if let Some(f) = find::codex_held(members).ok().flatten() {
            self.follow(members[0], f);
        }
    }

    fn follow(&mut self, c: &Cand, f: Found) {
        let known = self.records.0.iter().any(|s| s.id == f.id);
        let ident = c.ident();
        let old: Vec<&Session> =
            self.records.0.iter().filter(|s| !s.ended && ident.is_of(s)).collect();
        let moved = old.iter().any(|s| s.agent == Some(c.agent) && s.agent_session.is_some());
        let same = old.iter().any(|s| s.agent_session.as_deref() == Some(&f.agent_session));
        if known || same || !moved {
            return;
        }
        for s in old.into_iter().filter(|s| s.agent == Some(c.agent)) {
            self.report.ended.push(s.id.clone());
            if self.dry {
                continue;
            }
            if let Err(e) = register::end(self.st, s, "clear", self.now) {
                return self.skip(c.pid(), format!("cannot end session {}: {e}", s.id));
            }
        }
        self.register(c.pid(), f);
    }

    /// Records `f` for the agent `pid` (or says what it would record).
    fn register(&mut self, pid: i32, f: Found) {
        if !self.taken.insert(f.id.clone()) {
            return self.skip(pid, format!("session {} is another process's", f.id));
        }
        let done = match self.dry {
            true => Ok(Some(self.would(&f))),
            false => self.write(&f),
        };
        match done {
            Ok(Some((artifact, task))) => {
                let (id, agent) = (f.id, f.agent);
                self.report.registered.push(Registered { id, agent, pid, artifact, task });
            }
            Ok(None) => {}
            Err(why) => self.skip(pid, why),
        }
    }

    /// The artifact and task that [`register::record`] would store.
    fn would(&self, f: &Found) -> (String, Option<String>) {
        let (sessions, tasks) = self.records;
        let known = f.task.clone().filter(|t| tasks.iter().any(|k| k.id == *t));
        let auto = self.config.auto_task;
        let rules =
            register::choose_task(known.as_deref(), f.cwd.as_deref(), tasks, auto, self.now);
        let task = rules.0.id().map(String::from);
        match sessions.iter().find(|s| s.id == f.id) {
            Some(s) => (s.artifact.clone(), s.task.clone().or(task)),
            None => {
                (register::same_file(sessions, &f.artifact).unwrap_or(f.artifact.clone()), task)
            }
        }
    }

    /// Records `f`: its artifact and task when it is now this process's
    /// session, `None` when another writer had already said it all, the
    /// reason when it is another's or the store refused.
    fn write(&self, f: &Found) -> std::result::Result<Option<(String, Option<String>)>, String> {
        let ours = |s: &Session| f.ident.as_ref().is_some_and(|i| i.is_of(s));
        let done = register::record(self.st, self.config, f, self.records, self.now);
        match done.map_err(|e| e.to_string())? {
            Some((Outcome::Added | Outcome::Updated, s)) if ours(&s) => {
                Ok(Some((s.artifact, s.task)))
            }
            Some((Outcome::Unchanged, s)) if ours(&s) => Ok(None),
            Some((_, s)) => {
                let other = s.pid.map_or("no process".into(), |p| format!("pid {p}"));
                Err(format!("session {} belongs to {other}", f.id))
            }
            None => Err(format!("{} is another agent session's id", f.id)),
        }
    }
}

/// Discovery as the daemon runs it: after every `ps` read, with each
/// skip said once in its log, and the stamps of the folders whose change
/// means an agent may have started.
#[derive(Default)]
pub struct Daemon {
    noted: BTreeSet<(i32, String)>,
    stamps: Vec<Option<(i64, i64, u64)>>,
}

impl Daemon {
    /// A pass over `procs`; what it did goes to `log` (a skip once per
    /// process and reason).
    pub fn after_ps(
        &mut self,
        st: &Store,
        config: &Config,
        procs: &[Proc],
        records: (&[Session], &[Task]),
        log: &mut Log,
    ) {
        let report = pass(st, config, procs, records, false, crate::time::now());
        for id in &report.ended {
            log.line(&format!("discovery: ended session {id}: its agent moved on to a new one"));
        }
        for r in &report.registered {
            let task = crate::text::or_dash(r.task.as_deref());
            log.line(&format!(
                "discovery: registered session {} ({} pid {}, task {task}) for {}",
                r.id,
                r.agent.as_str(),
                r.pid,
                r.artifact
            ));
        }
        let live: BTreeSet<i32> = procs.iter().map(|p| p.pid).collect();
        self.noted.retain(|(pid, _)| live.contains(pid));
        for s in report.skipped {
            if self.noted.insert((s.pid, s.why.clone())) {
                log.line(&format!("discovery: skipped pid {}: {}", s.pid, s.why));
            }
        }
    }

    /// Whether any of `folders` (discovery's, where no change notification
    /// covers them) changed since the last call: one `stat` of each, none
    /// of a folder inside one found missing.
    pub fn folders_changed(&mut self, folders: &[PathBuf]) -> bool {
        use std::os::unix::fs::MetadataExt;
        let stamp =
            |d: &PathBuf| std::fs::metadata(d).ok().map(|m| (m.mtime(), m.mtime_nsec(), m.ino()));
        let mut missing: Vec<&PathBuf> = Vec::new();
        let mut stamps = Vec::with_capacity(folders.len());
        for d in folders {
            let s = match missing.iter().any(|m| d.starts_with(m)) {
                true => None,
                false => stamp(d),
            };
            if s.is_none() {
                missing.push(d);
            }
            stamps.push(s);
        }
        let changed = stamps != self.stamps;
        self.stamps = stamps;
        changed
    }
}

#[cfg(test)]
#[path = "discover_tests.rs"]
mod tests;
