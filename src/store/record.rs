//! Task and session records: their fields, and how they are written and
//! read back. Pure: text in, records out. Invariant: a record that does not
//! parse is a `Problem` naming its path, line and reason, never a panic and
//! never a record half understood.

use crate::attention::Agent;
use crate::kv;
use crate::text::{escape, has_control};
use std::fmt;
use std::path::{Path, PathBuf};

/// A record, or why it could not be read.
pub type Parsed<T> = std::result::Result<T, Problem>;

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
    /// Sessions started in this folder or below it belong to this task.
    pub dir: Option<String>,
    /// `dir` resolved (`realpath`), when that differs.
    pub dir_real: Option<String>,
    /// Created by bach for a folder (`auto_task`): holds only that folder.
    pub auto: bool,
}

/// How a session got into the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Via {
    /// `bach sessions start`.
    #[default]
    Cli,
    /// A Claude Code hook (`bach hook claude`).
    Hook,
    /// Discovery of a running agent.
    Discover,
}

impl Via {
    /// Its name in records and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Cli => "cli",
            Via::Hook => "hook",
            Via::Discover => "discover",
        }
    }

    /// The way named `s`.
    pub fn parse(s: &str) -> Option<Via> {
        [Via::Cli, Via::Hook, Via::Discover].into_iter().find(|v| v.as_str() == s)
    }
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
    /// The agent's start in clock ticks since boot (Linux, field 22 of
    /// `/proc/PID/stat`): unlike `lstart`, no clock step moves it.
    pub pid_ticks: Option<u64>,
    /// Ended by `sessions end`.
    pub ended: bool,
    /// When it started (Unix seconds).
    pub started: u64,
    /// When it was ended.
    pub ended_at: Option<u64>,
    /// How it ended (Claude Code's `reason`, `clear` for a `/clear` rotation).
    pub end_reason: Option<String>,
    /// The agent that writes the artifact, where known.
    pub agent: Option<Agent>,
    /// The agent's own id of the session (Claude `session_id`, Codex id).
    pub agent_session: Option<String>,
    /// The agent's working folder, where known.
    pub cwd: Option<String>,
    /// How it got into the store.
    pub via: Via,
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

/// Makes a path given on the command line absolute against `cwd`, removing
/// `.` components and repeated `/` (`..` and symlinks are left to the kernel).
pub fn normalize_artifact(cwd: &Path, given: &str) -> std::result::Result<String, String> {
    match normalize(cwd, given, "artifact path")? {
        root if root == "/" => Err(format!("artifact path '{given}' names no file")),
        path => Ok(path),
    }
}

/// A folder given on the command line (`tasks add --dir`), made absolute
/// as an artifact is; `/` stays `/`.
pub fn normalize_dir(cwd: &Path, given: &str) -> std::result::Result<String, String> {
    normalize(cwd, given, "--dir")
}

fn normalize(cwd: &Path, given: &str, what: &str) -> std::result::Result<String, String> {
    if given.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if has_control(given) {
        return Err(format!("{what} contains a control character: '{}'", escape(given)));
    }
    // Repeated `/` are dropped below, so an absolute path may take a "" prefix.
    let cwd = match given.starts_with('/') {
        true => "",
        false => cwd.to_str().ok_or("the working directory is not UTF-8")?,
    };
    let joined = format!("{cwd}/{given}");
    let parts: Vec<&str> = joined.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    Ok(format!("/{}", parts.join("/")))
}

impl Task {
    /// A new open task titled `title`, created `now`, without a folder.
    pub fn new(title: &str, now: u64) -> Task {
        let (id, title, state) = (String::new(), title.into(), TaskState::Open);
        Task { id, title, state, created: now, dir: None, dir_real: None, auto: false }
    }
}

impl Problem {
    /// A problem with the record at `path`, on `line` (0: as a whole).
    pub fn new(path: &Path, line: usize, reason: impl Into<String>) -> Problem {
        Problem { path: path.to_path_buf(), line, reason: reason.into() }
    }
}

/// A record's fields and its path, so that each problem names its line.
struct Fields<'a> {
    path: &'a Path,
    fields: Vec<kv::Field<'a>>,
}

impl<'a> Fields<'a> {
    fn parse(path: &'a Path, text: &'a str) -> Parsed<Fields<'a>> {
        let fields = kv::parse(text).map_err(|e| Problem::new(path, e.line, e.reason))?;
        Ok(Fields { path, fields })
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        kv::get(&self.fields, key)
    }

    /// A problem on the line of `key` (0 when it is absent).
    fn bad(&self, key: &str, reason: impl Into<String>) -> Problem {
        let line = self.fields.iter().find(|f| f.key == key).map_or(0, |f| f.line);
        Problem::new(self.path, line, reason)
    }

    fn need(&self, key: &str) -> Parsed<&'a str> {
        self.get(key).ok_or_else(|| Problem::new(self.path, 0, format!("missing '{key}'")))
    }

    fn number<T: std::str::FromStr>(&self, key: &str) -> Parsed<Option<T>> {
        let Some(v) = self.get(key) else { return Ok(None) };
        let msg = format!("'{key}' is not a valid number: '{}'", escape(v));
        v.parse().map(Some).map_err(|_| self.bad(key, msg))
    }

    /// An absolute path, when given.
    fn path(&self, key: &str) -> Parsed<Option<String>> {
        match self.get(key) {
            Some(v) if !v.starts_with('/') => {
                Err(self.bad(key, format!("'{key}' is not an absolute path")))
            }
            v => Ok(v.map(String::from)),
        }
    }

    /// `true` or `false`; absent is `false`.
    fn flag(&self, key: &str) -> Parsed<bool> {
        match self.get(key) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(v) => {
                Err(self.bad(key, format!("'{key}' must be true or false, not '{}'", escape(v))))
            }
        }
    }

    /// One of a set of names, when given.
    fn named<T>(&self, key: &str, parse: fn(&str) -> Option<T>) -> Parsed<Option<T>> {
        let Some(v) = self.get(key) else { return Ok(None) };
        parse(v).map(Some).ok_or_else(|| self.bad(key, format!("unknown {key} '{}'", escape(v))))
    }

    fn need_number<T: std::str::FromStr>(&self, key: &str) -> Parsed<T> {
        self.number(key)?.ok_or_else(|| Problem::new(self.path, 0, format!("missing '{key}'")))
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
        dir: f.path("dir")?,
        dir_real: f.path("dir_real")?,
        auto: f.flag("auto")?,
    })
}

/// A task as record text.
pub fn render_task(t: &Task) -> String {
    kv::render([
        ("title", Some(t.title.clone())),
        ("state", Some(t.state.as_str().into())),
        ("created", Some(t.created.to_string())),
        ("dir", t.dir.clone()),
        ("dir_real", t.dir_real.clone()),
        ("auto", t.auto.then(|| "true".into())),
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
        pid_ticks: f.number("pid_ticks")?,
        ended,
        started: f.need_number("started")?,
        ended_at: f.number("ended")?,
        end_reason: f.get("end_reason").map(String::from),
        agent: f.named("agent", Agent::parse)?,
        agent_session: f.get("agent_session").map(String::from),
        cwd: f.path("cwd")?,
        via: f.named("via", Via::parse)?.unwrap_or_default(),
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
        ("pid_ticks", s.pid_ticks.map(|t| t.to_string())),
        ("state", Some(if s.ended { "ended" } else { "live" }.into())),
        ("started", Some(s.started.to_string())),
        ("ended", s.ended_at.map(|t| t.to_string())),
        ("end_reason", s.end_reason.clone()),
        ("agent", s.agent.map(|a| a.as_str().into())),
        ("agent_session", s.agent_session.clone()),
        ("cwd", s.cwd.clone()),
        ("via", Some(s.via.as_str().into())),
    ])
}
