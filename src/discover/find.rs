//! Which transcript a running agent writes (DESIGN, "Sessions that
//! register themselves", Settled). Claude Code: the registry file
//! `sessions/PID.json` that matches the process names it, even before it
//! exists; without one, the one `*.jsonl` of the project folder written
//! since the process started that no session owns. Codex: the rollout the
//! process holds open; else the newest unowned rollout whose first line has
//! the process's folder and a later time, when it fits no other Codex.
//!
//! Invariant: every file read here is opened without following a symlink,
//! never blocks, and is read at most 64 KiB deep; what cannot be read that
//! way is a reason to skip, never a guess.

use super::Cand;
use crate::error::reason;
use crate::register::Found;
use crate::store::{Session, Via};
use crate::{claude, codex, files, store, sys, text, time};
use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The most of a rollout's first line that is read (Codex's is ~21 KiB).
const FIRST_LINE_MAX: u64 = 64 * 1024;

/// A folder of bach's own environment: `$VAR`, else `$HOME/DEFAULT`.
pub fn own_dir(var: &str, default: &str) -> PathBuf {
    let set = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    set(var).unwrap_or_else(|| set("HOME").unwrap_or_default().join(default))
}

/// Where agent `pid` keeps its files: `VAR` in its environment, else its
/// `HOME` and `DEFAULT`; where its environment cannot be read, bach's own.
pub fn agent_dir(pid: i32, var: &str, default: &str) -> Result<String, String> {
    let dir = match sys::proc_env_var(pid, var) {
        Ok(Some(v)) if !v.is_empty() => PathBuf::from(v),
        Ok(_) => match sys::proc_env_var(pid, "HOME") {
            Ok(Some(h)) if !h.is_empty() => Path::new(&h).join(default),
            _ => own_dir(var, default),
        },
        Err(_) => own_dir(var, default),
    };
    let dir = dir.to_str().map(|d| d.trim_end_matches('/').to_string());
    let usable = |d: &String| d.starts_with('/') && !text::has_control(d);
    dir.filter(usable).ok_or_else(|| format!("{var} of the agent is not an absolute path"))
}

/// A path bach may store: UTF-8, absolute, no control characters.
fn storable(p: &Path) -> Option<String> {
    p.to_str()
        .filter(|s| s.starts_with('/') && !text::has_control(s) && s.trim() == *s)
        .map(String::from)
}

/// The agent's working folder.
fn cwd_of(pid: i32) -> Result<String, String> {
    let cwd = sys::proc_cwd(pid).map_err(|e| format!("cannot read its folder: {}", reason(&e)))?;
    storable(&cwd)
        .filter(|c| !c.ends_with(" (deleted)"))
        .ok_or("its folder is gone or not a plain path".into())
}

/// `$BACH_TASK` in the agent's environment, when it is an id.
fn task_of(pid: i32) -> Option<String> {
    sys::proc_env_var(pid, "BACH_TASK").ok().flatten().filter(|t| store::valid_id(t))
}

fn start_secs(c: &Cand) -> Result<u64, String> {
    time::lstart_secs(&c.proc_.start).ok_or_else(|| format!("no start time in '{}'", c.proc_.start))
}

/// The transcripts that sessions already own, by path and by file.
struct Owned {
    paths: BTreeSet<String>,
    files: BTreeSet<(u64, u64)>,
}

impl Owned {
    fn of(sessions: &[Session]) -> Owned {
        let paths: BTreeSet<String> = sessions.iter().map(|s| s.artifact.clone()).collect();
        let files = paths
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| (m.dev(), m.ino()))
            .collect();
        Owned { paths, files }
    }

    fn owns(&self, path: &str, m: &std::fs::Metadata) -> bool {
        self.paths.contains(path) || self.files.contains(&(m.dev(), m.ino()))
    }
}

/// A Claude Code process no record knows: its session by the registry, else
/// by the project folder.
pub fn claude(c: &Cand, sessions: &[Session]) -> Result<Found, String> {
    if let Some(f) = claude_registry(c)? {
        return Ok(f);
    }
    let dir = agent_dir(c.pid(), "CLAUDE_CONFIG_DIR", ".claude")?;
    let cwd = cwd_of(c.pid())?;
    let folder = format!("{dir}/projects/{}", claude::enc(&cwd));
    let since = start_secs(c)?;
    let owned = Owned::of(sessions);
    let mut fresh = Vec::new();
    for e in std::fs::read_dir(&folder)
        .map_err(|e| format!("no registry, and {folder}: {}", reason(&e)))?
        .flatten()
    {
        let (Ok(m), Some(path)) = (e.metadata(), storable(&e.path())) else { continue };
        let new = m.is_file() && path.ends_with(".jsonl") && m.mtime() >= since as i64;
        if new && !owned.owns(&path, &m) {
            fresh.push(path);
        }
    }
    let [path] = &fresh[..] else {
        return Err(format!(
            "no registry, and {} unowned transcripts written since it started in {folder}",
            fresh.len()
        ));
    };
    let sid = path.rsplit('/').next().unwrap_or_default().trim_end_matches(".jsonl").to_string();
    let id =
        claude::session_id(&sid).ok_or_else(|| format!("{path}: not named by a session id"))?;
    Ok(found(c, id, sid, path.clone(), Some(cwd)))
}

/// The session that the registry of Claude Code process `c` names, when
/// the file exists and matches the process (pid and start); an error when
/// it cannot be read or parsed.
pub fn claude_registry(c: &Cand) -> Result<Option<Found>, String> {
    let dir = agent_dir(c.pid(), "CLAUDE_CONFIG_DIR", ".claude")?;
    let path = format!("{dir}/sessions/{}.json", c.pid());
    let text = files::read_small(Path::new(&path), files::RECORD_MAX)
        .map_err(|e| format!("{path}: {}", reason(&e)))?;
    let Some(text) = text else { return Ok(None) };
    let reg = claude::parse(&text).map_err(|e| format!("{path}: {e}"))?;
    if !claude::registry_matches(&reg, c.pid(), c.proc_.ticks, start_secs(c).ok()) {
        return Ok(None);
    }
    let id = claude::session_id(&reg.session_id)
        .ok_or_else(|| format!("{path}: sessionId is no session id"))?;
    let artifact = claude_transcript(&dir, &reg.cwd, &reg.session_id);
    Ok(Some(found(c, id, reg.session_id, artifact, Some(reg.cwd))))
}

/// `SESSIONID.jsonl` under `projects/*/`, the folder of `cwd` first; that
/// one, before the file exists.
fn claude_transcript(dir: &str, cwd: &str, sid: &str) -> String {
    let first = claude::transcript(dir, cwd, sid);
    if Path::new(&first).exists() {
        return first;
    }
    let Ok(projects) = std::fs::read_dir(format!("{dir}/projects")) else { return first };
    let mut elsewhere: Vec<String> = projects
        .flatten()
        .filter_map(|e| storable(&e.path().join(format!("{sid}.jsonl"))))
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
        .collect();
    elsewhere.sort();
    elsewhere.into_iter().next().unwrap_or(first)
}

fn found(
    c: &Cand,
    id: String,
    agent_session: String,
    artifact: String,
    cwd: Option<String>,
) -> Found {
    let task = task_of(c.pid());
    Found {
        id,
        agent: c.agent,
        agent_session,
        artifact,
        cwd,
        ident: Some(c.ident()),
        task,
        via: Via::Discover,
    }
}

/// The first line of a rollout (at most 64 KiB of it), parsed.
fn meta(path: &str) -> Option<codex::Meta> {
    let file = files::open_regular(Path::new(path)).ok()??;
    let mut head = Vec::new();
    file.take(FIRST_LINE_MAX).read_to_end(&mut head).ok()?;
    let line = head.split(|&b| b == b'\n').next()?;
    codex::parse_meta(line)
}

/// The session of the rollout at `path`, held open or found by time.
fn codex_found(root: &Cand, path: String, meta: Option<codex::Meta>) -> Result<Found, String> {
    let name = path.rsplit('/').next().unwrap_or_default();
    let from_name = codex::rollout_name(name).map(|(_, id)| id.to_string());
    let sid = meta.as_ref().map(|m| m.id.clone()).or(from_name).ok_or("no session id")?;
    let id = codex::session_id(&sid).ok_or_else(|| format!("{path}: no session id"))?;
    let cwd = meta.map(|m| m.cwd).or_else(|| cwd_of(root.pid()).ok());
    Ok(found(root, id, sid, path, cwd))
}

/// The newest rollout one of a Codex agent's processes holds open.
pub fn codex_held(members: &[&Cand]) -> Result<Option<Found>, String> {
    let Some(root) = members.first() else { return Ok(None) };
    let mut held: Vec<String> = members
        .iter()
        .flat_map(|m| sys::proc_open_files(m.pid()).unwrap_or_default())
        .filter_map(|p| storable(&p))
        .filter(|p| codex::rollout_name(p.rsplit('/').next().unwrap_or_default()).is_some())
        .collect();
    held.sort_by(|a, b| b.rsplit('/').next().cmp(&a.rsplit('/').next()));
    let Some(path) = held.into_iter().next() else { return Ok(None) };
    let m = meta(&path);
    codex_found(root, path, m).map(Some)
}

/// A Codex agent no record knows (its processes, outermost first): the
/// rollout it holds open, else the newest unowned rollout of the last days
/// whose first line has its folder and a time after its start, when no
/// other Codex agent (of `agents`) could have written it.
pub fn codex(
    members: &[&Cand],
    agents: &[Vec<&Cand>],
    sessions: &[Session],
    now: u64,
) -> Result<Found, String> {
    let root = members.first().ok_or("no process")?;
    if let Some(f) = codex_held(members)? {
        return Ok(f);
    }
    let home = agent_dir(root.pid(), "CODEX_HOME", ".codex")?;
    let (cwd, since) = (cwd_of(root.pid())?, start_secs(root)?);
    let owned = Owned::of(sessions);
    let days: BTreeSet<String> =
        codex::rollout_dirs(now + 86_400).into_iter().chain(codex::rollout_dirs(now)).collect();
    let mut rollouts: Vec<(String, String)> = Vec::new();
    for day in &days {
        let dir = format!("{home}/sessions/{day}");
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let (Ok(m), Some(path)) = (e.metadata(), storable(&e.path())) else { continue };
            let name = path.rsplit('/').next().unwrap_or_default().to_string();
            let fresh = m.is_file() && m.mtime().saturating_add(1) >= since as i64;
            if fresh && codex::rollout_name(&name).is_some() && !owned.owns(&path, &m) {
                rollouts.push((name, path));
            }
        }
    }
    rollouts.sort_unstable_by(|a, b| b.0.cmp(&a.0));
    let fits = rollouts
        .into_iter()
        .find_map(|(_, p)| Some((meta(&p).filter(|m| codex::meta_fits(m, &cwd, since))?, p)));
    let (m, path) = fits
        .ok_or_else(|| format!("no rollout held open, and none in {home}/sessions fits {cwd}"))?;
    let could = |a: &Vec<&Cand>| {
        let root = a[0];
        let started = start_secs(root).ok();
        cwd_of(root.pid()).is_ok_and(|c| started.is_some_and(|s| codex::meta_fits(&m, &c, s)))
    };
    let n = agents.iter().filter(|a| !a.is_empty() && could(a)).count();
    if n != 1 {
        return Err(format!("{path} could be any of {n} Codex processes in {cwd}"));
    }
    codex_found(root, path, Some(m))
}
