//! The store: `tasks/<id>` and `sessions/<id>` records, and the join the
//! whole product turns on (which sessions are supervisable, which artifacts
//! are desired). Invariant: a record that cannot be read or parsed is
//! reported with its path, line and reason and skipped; it never hides the
//! others, and nothing bach writes is ever seen half-written.

use crate::error::{reason, Error, Result};
use crate::files;
use crate::kv;
use crate::ps::Proc;
use crate::text::{escape, has_control};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The state of a task; `done` and `cancelled` are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Not started.
    Open,
    /// Being worked on.
    Doing,
    /// Waiting on something.
    Blocked,
    /// Finished (terminal).
    Done,
    /// Abandoned (terminal).
    Cancelled,
}

impl TaskState {
    /// The state named `s`.
    pub fn parse(s: &str) -> Option<TaskState> {
        use TaskState::*;
        [Open, Doing, Blocked, Done, Cancelled].into_iter().find(|t| t.as_str() == s)
    }

    /// Its name in records and output.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Open => "open",
            TaskState::Doing => "doing",
            TaskState::Blocked => "blocked",
            TaskState::Done => "done",
            TaskState::Cancelled => "cancelled",
        }
    }

    /// Whether the task is over (`done` or `cancelled`).
    pub fn terminal(self) -> bool {
        matches!(self, TaskState::Done | TaskState::Cancelled)
    }
}

/// A task record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Its id (the file name).
    pub id: String,
    /// What it is.
    pub title: String,
    /// Where it stands.
    pub state: TaskState,
    /// When it was added (Unix seconds).
    pub created: u64,
}

/// A session record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// Its id (the file name).
    pub id: String,
    /// The absolute path of its transcript.
    pub artifact: String,
    /// The task it works on.
    pub task: Option<String>,
    /// The agent's pid.
    pub pid: Option<i32>,
    /// The agent's uid, as `ps` showed it at start.
    pub pid_uid: Option<u32>,
    /// The agent's start time, as `ps` printed it (`lstart`).
    pub pid_start: Option<String>,
    /// Ended by `sessions end`.
    pub ended: bool,
    /// When it started (Unix seconds).
    pub started: u64,
    /// When it was ended.
    pub ended_at: Option<u64>,
}

/// A record that could not be read or parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The record's path.
    pub path: PathBuf,
    /// The offending line (0: the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let path = escape(&self.path.to_string_lossy()).into_owned();
        match self.line {
            0 => write!(f, "{path}: {}", self.reason),
            n => write!(f, "{path}:{n}: {}", self.reason),
        }
    }
}

/// Whether `s` is a valid id: `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`.
pub fn valid_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
}

/// FNV-1a 64 over `bytes`, continuing from `hash`.
pub fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// The FNV-1a 64 offset basis.
pub const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// A watcher's key: FNV-1a 64 over the home, a zero byte and the artifact.
pub fn key(home: &str, artifact: &str) -> String {
    let h = fnv1a(fnv1a(fnv1a(FNV_BASIS, home.as_bytes()), &[0]), artifact.as_bytes());
    format!("{h:016x}")
}

/// Makes a path given on the command line absolute against `cwd`, removing
/// `.` components and repeated `/` (`..` and symlinks are left to the kernel).
pub fn normalize_artifact(cwd: &Path, given: &str) -> std::result::Result<String, String> {
    if given.is_empty() {
        return Err("artifact path is empty".into());
    }
    if has_control(given) {
        return Err(format!("artifact path contains a control character: '{}'", escape(given)));
    }
    // Repeated `/` are dropped below, so an absolute path may take a "" prefix.
    let cwd = match given.starts_with('/') {
        true => "",
        false => cwd.to_str().ok_or("the working directory is not UTF-8")?,
    };
    let joined = format!("{cwd}/{given}");
    let parts: Vec<&str> = joined.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if parts.is_empty() {
        return Err(format!("artifact path '{given}' names no file"));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// A record, or why it could not be read.
pub type Parsed<T> = std::result::Result<T, Problem>;

/// A record parser: the path (for problems), the id (the file name), the text.
type Parser<T> = fn(&Path, &str, &str) -> Parsed<T>;

fn problem(path: &Path, line: usize, reason: impl Into<String>) -> Problem {
    Problem { path: path.to_path_buf(), line, reason: reason.into() }
}

/// A record's fields and its path, so that each problem names its line.
struct Fields<'a> {
    path: &'a Path,
    fields: Vec<kv::Field<'a>>,
}

impl<'a> Fields<'a> {
    fn parse(path: &'a Path, text: &'a str) -> Parsed<Fields<'a>> {
        let fields = kv::parse(text).map_err(|e| problem(path, e.line, e.reason))?;
        Ok(Fields { path, fields })
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        kv::get(&self.fields, key)
    }

    /// A problem on the line of `key` (0 when it is absent).
    fn bad(&self, key: &str, reason: impl Into<String>) -> Problem {
        let line = self.fields.iter().find(|f| f.key == key).map_or(0, |f| f.line);
        problem(self.path, line, reason)
    }

    fn need(&self, key: &str) -> Parsed<&'a str> {
        self.get(key).ok_or_else(|| problem(self.path, 0, format!("missing '{key}'")))
    }

    fn number<T: std::str::FromStr>(&self, key: &str) -> Parsed<Option<T>> {
        let Some(v) = self.get(key) else { return Ok(None) };
        let msg = format!("'{key}' is not a valid number: '{}'", escape(v));
        v.parse().map(Some).map_err(|_| self.bad(key, msg))
    }

    fn need_number<T: std::str::FromStr>(&self, key: &str) -> Parsed<T> {
        self.number(key)?.ok_or_else(|| problem(self.path, 0, format!("missing '{key}'")))
    }
}

/// Parses a task record read from `path`.
pub fn parse_task(path: &Path, id: &str, text: &str) -> Parsed<Task> {
    let f = Fields::parse(path, text)?;
    let state = f.need("state")?;
    Ok(Task {
        id: id.into(),
        title: f.need("title")?.into(),
        state: TaskState::parse(state)
            .ok_or_else(|| f.bad("state", format!("unknown task state '{}'", escape(state))))?,
        created: f.need_number("created")?,
    })
}

/// A task as record text.
pub fn render_task(t: &Task) -> String {
    kv::render([
        ("title", Some(t.title.clone())),
        ("state", Some(t.state.as_str().into())),
        ("created", Some(t.created.to_string())),
    ])
}

/// Parses a session record read from `path`.
pub fn parse_session(path: &Path, id: &str, text: &str) -> Parsed<Session> {
    let f = Fields::parse(path, text)?;
    let artifact = f.need("artifact")?;
    if !artifact.starts_with('/') {
        return Err(f.bad("artifact", "artifact is not an absolute path"));
    }
    let ended = match f.need("state")? {
        "live" => false,
        "ended" => true,
        s => {
            let s = escape(s);
            return Err(f.bad("state", format!("unknown session state '{s}'")));
        }
    };
    let pid: Option<i32> = f.number("pid")?;
    if let Some(p) = pid.filter(|&p| p <= 0) {
        return Err(f.bad("pid", format!("'pid' must be positive, not {p}")));
    }
    Ok(Session {
        id: id.into(),
        artifact: artifact.into(),
        task: f.get("task").map(String::from),
        pid,
        pid_uid: f.number("pid_uid")?,
        pid_start: f.get("pid_start").map(String::from),
        ended,
        started: f.need_number("started")?,
        ended_at: f.number("ended")?,
    })
}

/// A session as record text.
pub fn render_session(s: &Session) -> String {
    kv::render([
        ("artifact", Some(s.artifact.clone())),
        ("task", s.task.clone()),
        ("pid", s.pid.map(|p| p.to_string())),
        ("pid_uid", s.pid_uid.map(|u| u.to_string())),
        ("pid_start", s.pid_start.clone()),
        ("state", Some(if s.ended { "ended" } else { "live" }.into())),
        ("started", Some(s.started.to_string())),
        ("ended", s.ended_at.map(|t| t.to_string())),
    ])
}

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
    let running = procs.iter().any(|p| {
        p.pid == pid
            && !p.zombie
            && s.pid_uid.map_or(true, |u| u == p.uid)
            && s.pid_start.as_deref().map_or(true, |t| t == p.start)
    });
    if running {
        Life::Live
    } else {
        Life::Gone
    }
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
    let mut out: BTreeMap<String, Want> = BTreeMap::new();
    let mut sorted: Vec<&Session> = sessions.iter().collect();
    sorted.sort_by(|a, b| (a.started, &a.id).cmp(&(b.started, &b.id)));
    for s in sorted {
        let l = life(s, procs);
        if l == Life::Ended || open_task(s, tasks).is_none() {
            continue;
        }
        let want = out.entry(key(home, &s.artifact)).or_insert_with(|| Want {
            artifact: s.artifact.clone(),
            sessions: Vec::new(),
            all_gone: true,
        });
        want.sessions.push(s.id.clone());
        want.all_gone &= l == Life::Gone;
    }
    out
}

/// The store in one home.
pub struct Store {
    /// The home, resolved.
    pub home: PathBuf,
}

impl Store {
    /// The store of the home that `BACH_HOME` or `HOME` names.
    pub fn open() -> Result<Store> {
        Ok(Store { home: files::home()? })
    }

    /// The home as text (it is UTF-8 by construction).
    pub fn home_str(&self) -> &str {
        self.home.to_str().unwrap_or_default()
    }

    fn dir(&self, kind: &str) -> PathBuf {
        self.home.join(kind)
    }

    fn read_all<T>(&self, kind: &str, parse: Parser<T>) -> (Vec<T>, Vec<Problem>) {
        let (mut items, mut problems) = (Vec::new(), Vec::new());
        let dir = self.dir(kind);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (items, problems),
            Err(e) => return (items, vec![problem(&dir, 0, reason(&e))]),
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| valid_id(n))
            .collect();
        names.sort();
        for name in names {
            let path = dir.join(&name);
            match files::read_small(&path, files::RECORD_MAX) {
                Ok(Some(text)) => match parse(&path, &name, &text) {
                    Ok(item) => items.push(item),
                    Err(p) => problems.push(p),
                },
                Ok(None) => {}
                Err(e) => problems.push(problem(&path, 0, reason(&e))),
            }
        }
        (items, problems)
    }

    /// Every task that parses, and the problems of the others.
    pub fn tasks(&self) -> (Vec<Task>, Vec<Problem>) {
        self.read_all("tasks", parse_task)
    }

    /// Every session that parses, and the problems of the others.
    pub fn sessions(&self) -> (Vec<Session>, Vec<Problem>) {
        self.read_all("sessions", parse_session)
    }

    fn read_one<T>(&self, kind: &str, id: &str, parse: Parser<T>) -> Result<Option<T>> {
        let path = self.dir(kind).join(id);
        let text = files::read_small(&path, files::RECORD_MAX)
            .map_err(|e| Error::io("read", &path, &e))?;
        text.map(|t| parse(&path, id, &t)).transpose().map_err(|p| Error::fail(p.to_string()))
    }

    /// The task `id`, if it exists.
    pub fn task(&self, id: &str) -> Result<Option<Task>> {
        self.read_one("tasks", id, parse_task)
    }

    /// The session `id`, if it exists.
    pub fn session(&self, id: &str) -> Result<Option<Session>> {
        self.read_one("sessions", id, parse_session)
    }

    /// Creates a record under `id`, or under a generated id (prefix `p`).
    fn create(&self, kind: &str, p: char, id: Option<&str>, text: &str) -> Result<String> {
        let dir = self.dir(kind);
        if let Some(id) = id {
            if !files::create_new(&dir, id, text.as_bytes())? {
                let what = &kind[..kind.len() - 1];
                return Err(Error::fail(format!("{what} '{id}' already exists")));
            }
            return Ok(id.into());
        }
        for attempt in 0..32 {
            let id = generate_id(p, attempt);
            if files::create_new(&dir, &id, text.as_bytes())? {
                return Ok(id);
            }
        }
        Err(Error::fail(format!("cannot find a free id in {}", dir.display())))
    }

    /// Adds a task and returns its id.
    pub fn add_task(&self, id: Option<&str>, title: &str, now: u64) -> Result<String> {
        let t =
            Task { id: String::new(), title: title.into(), state: TaskState::Open, created: now };
        self.create("tasks", 't', id, &render_task(&t))
    }

    /// Replaces a task's record.
    pub fn put_task(&self, t: &Task) -> Result<()> {
        files::write_atomic(&self.dir("tasks"), &t.id, render_task(t).as_bytes(), true)
    }

    /// Adds a session (its `id` field is ignored) and returns its id.
    pub fn add_session(&self, id: Option<&str>, s: &Session) -> Result<String> {
        self.create("sessions", 's', id, &render_session(s))
    }

    /// Replaces a session's record.
    pub fn put_session(&self, s: &Session) -> Result<()> {
        files::write_atomic(&self.dir("sessions"), &s.id, render_session(s).as_bytes(), true)
    }
}

/// A short id: the prefix and six base-36 digits from the clock, the pid
/// and the attempt. `link` settles the rare collision; the caller retries.
fn generate_id(prefix: char, attempt: u32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!("{nanos}/{}/{attempt}", std::process::id());
    let mut h = fnv1a(FNV_BASIS, seed.as_bytes());
    let mut id = String::from(prefix);
    for _ in 0..6 {
        id.push(char::from(b"0123456789abcdefghijklmnopqrstuvwxyz"[(h % 36) as usize]));
        h /= 36;
    }
    id
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
