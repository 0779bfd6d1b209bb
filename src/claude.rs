//! Claude Code as bach sees it: which processes are Claude, its per-process
//! registry file (`${CLAUDE_CONFIG_DIR}/sessions/PID.json`), its hook
//! events, where it keeps a transcript, and the hooks bach asks the user to
//! install. Pure: every input is a value. Invariant: a registry or payload is
//! believed only after each value bach keeps passed [`agent::text`], and a
//! registry names a process only when its start matches that process's.

use crate::agent::{self, basename, member};
use crate::flatjson;
use crate::json::Json;

/// The folder name Claude Code gives a project under `projects/`: every
/// UTF-16 code unit outside `[A-Za-z0-9]` becomes `-`, as Claude's
/// JavaScript `replace(/[^a-zA-Z0-9]/g, "-")` does, so a character beyond
/// the BMP becomes `--`.
pub fn enc(cwd: &str) -> String {
    let mut out = String::with_capacity(cwd.len());
    for c in cwd.chars() {
        match c.is_ascii_alphanumeric() {
            true => out.push(c),
            false => out.extend(std::iter::repeat('-').take(c.len_utf16())),
        }
    }
    out
}

/// Where Claude Code writes the transcript of `session_id` started in `cwd`.
pub fn transcript(config_dir: &str, cwd: &str, session_id: &str) -> String {
    format!("{}/projects/{}/{session_id}.jsonl", config_dir.trim_end_matches('/'), enc(cwd))
}

/// bach's id for a Claude session: `c-` and the first 12 hex digits of
/// Claude's `session_id`.
pub fn session_id(agent_session: &str) -> Option<String> {
    agent::short_id("c", agent_session)
}

/// A registry file `sessions/PID.json`, as far as bach reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    /// `pid`; absent in the legacy `pid-N.json` shape.
    pub pid: Option<i32>,
    /// `sessionId` (legacy: `session_id`).
    pub session_id: String,
    /// `cwd`, absolute.
    pub cwd: String,
    /// `startedAt`, Unix milliseconds.
    pub started_at_ms: Option<u64>,
    /// `procStart`: start ticks on Linux, a date on macOS.
    pub proc_start: Option<String>,
    /// `status`: `busy`, `idle`, `waiting`, `shell`...
    pub status: Option<String>,
    /// `waitingFor`, e.g. `permission prompt`.
    pub waiting_for: Option<String>,
    /// `statusUpdatedAt`, Unix milliseconds.
    pub status_updated_at_ms: Option<u64>,
    /// `updatedAt`, Unix milliseconds.
    pub updated_at_ms: Option<u64>,
}

/// Reads a registry file. Unknown members are ignored; the legacy shape
/// (`session_id` and `cwd` only) reads with `pid` and every time absent, so
/// it never matches a process (see [`registry_matches`]).
pub fn parse(text: &str) -> Result<Registry, String> {
    let m = flatjson::parse(text.as_bytes())?;
    let get = |key| member(&m, key);
    let (current, legacy) = (agent::text("sessionId", get("sessionId"))?, get("session_id"));
    if current.is_some() && legacy.is_some() {
        return Err("both sessionId and session_id".into());
    }
    let pid = agent::integer("pid", get("pid"))?
        .map(|p| i32::try_from(p).ok().filter(|&p| p > 0).ok_or(format!("pid: out of range: {p}")))
        .transpose()?;
    let proc_start = match get("procStart") {
        Some(flatjson::Value::Num(n)) => Some(n.clone()),
        v => agent::text("procStart", v)?,
    };
    Ok(Registry {
        pid,
        session_id: match current {
            Some(id) => id,
            None => agent::text("session_id", legacy)?.ok_or("no sessionId")?,
        },
        cwd: agent::path("cwd", get("cwd"))?.ok_or("no cwd")?,
        started_at_ms: agent::integer("startedAt", get("startedAt"))?,
        proc_start,
        status: agent::text("status", get("status"))?,
        waiting_for: agent::text("waitingFor", get("waitingFor"))?,
        status_updated_at_ms: agent::integer("statusUpdatedAt", get("statusUpdatedAt"))?,
        updated_at_ms: agent::integer("updatedAt", get("updatedAt"))?,
    })
}

/// Whether `reg` describes the running process `pid`, not a dead one whose
/// file lingers or whose pid was reused. With the process's start ticks
/// (Linux) and a `procStart`, they must be equal; otherwise, with its start
/// in whole seconds (macOS, whose `procStart` is a date), `startedAt` must
/// lie within 10 s after it. With neither, nothing is proven: no match.
pub fn registry_matches(
    reg: &Registry,
    pid: i32,
    start_ticks: Option<u64>,
    start_secs: Option<u64>,
) -> bool {
    if reg.pid != Some(pid) {
        return false;
    }
    match (start_ticks, &reg.proc_start, start_secs.and_then(|s| s.checked_mul(1000))) {
        (Some(ticks), Some(p), _) => p.parse::<u64>() == Ok(ticks),
        (_, _, Some(start)) => {
            reg.started_at_ms.is_some_and(|ms| (start..=start.saturating_add(10_000)).contains(&ms))
        }
        (_, _, None) => false,
    }
}

/// A hook event's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookKind {
    /// A session began, was resumed, cleared or compacted.
    SessionStart,
    /// A session ended.
    SessionEnd,
    /// Claude tells the user something (a permission prompt, idleness).
    Notification,
    /// A turn ended.
    Stop,
    /// Any other event (bach ignores it).
    Other(String),
}

/// One hook event from stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEvent {
    /// `hook_event_name`.
    pub kind: HookKind,
    /// `session_id`: Claude's id, with at least 12 hex digits up front.
    pub session_id: String,
    /// `transcript_path`, absolute (required by `SessionStart`).
    pub transcript_path: Option<String>,
    /// `cwd`, absolute (required by `SessionStart`).
    pub cwd: Option<String>,
    /// `source` of a `SessionStart`: `startup`, `resume`, `clear`, `compact`.
    pub source: Option<String>,
    /// `reason` of a `SessionEnd`, e.g. `prompt_input_exit`.
    pub reason: Option<String>,
    /// `notification_type` of a `Notification`, e.g. `permission_prompt`.
    pub notification_type: Option<String>,
    /// `message` of a `Notification`; dropped (`None`) rather than refused
    /// when it is not a storable value, as it is prose for people only.
    pub message: Option<String>,
}

/// Reads one hook payload. Every member kept is checked (strings without
/// control characters or padding, paths absolute); `hook_event_name` and a
/// `session_id` that gives a bach id are required by every event, and a
/// `SessionStart` needs `transcript_path` and `cwd` too.
pub fn parse_hook(bytes: &[u8]) -> Result<HookEvent, String> {
    let m = flatjson::parse(bytes)?;
    let get = |key| member(&m, key);
    let name = agent::text("hook_event_name", get("hook_event_name"))?;
    let kind = match name.ok_or("no hook_event_name")?.as_str() {
        "SessionStart" => HookKind::SessionStart,
        "SessionEnd" => HookKind::SessionEnd,
        "Notification" => HookKind::Notification,
        "Stop" => HookKind::Stop,
        other => HookKind::Other(other.into()),
    };
    let sid = agent::text("session_id", get("session_id"))?.ok_or("no session_id")?;
    if session_id(&sid).is_none() {
        return Err(format!("session_id: fewer than 12 hex digits: \"{sid}\""));
    }
    let event = HookEvent {
        transcript_path: agent::path("transcript_path", get("transcript_path"))?,
        cwd: agent::path("cwd", get("cwd"))?,
        source: agent::text("source", get("source"))?,
        reason: agent::text("reason", get("reason"))?,
        notification_type: agent::text("notification_type", get("notification_type"))?,
        message: agent::text("message", get("message")).ok().flatten(),
        kind,
        session_id: sid,
    };
    match (&event.kind, &event.transcript_path, &event.cwd) {
        (HookKind::SessionStart, None, _) => Err("SessionStart without transcript_path".into()),
        (HookKind::SessionStart, _, None) => Err("SessionStart without cwd".into()),
        _ => Ok(event),
    }
}

/// Whether a command line is Claude Code: `argv[0]`'s basename is `claude`,
/// or node or bun runs a script under `/@anthropic-ai/claude-code/`.
pub fn is_claude(argv: &[&str]) -> bool {
    match argv.split_first() {
        Some((&arg0, args)) => match basename(arg0) {
            "claude" => true,
            "node" | "nodejs" | "bun" => {
                agent::script(args).is_some_and(|(s, _)| s.contains("/@anthropic-ai/claude-code/"))
            }
            _ => false,
        },
        None => false,
    }
}

/// Whether a hook's ancestor only passes the hook on: the shell Claude runs
/// hooks with, and wrappers a user may put in front of `bach hook`. Most
/// wrappers exec their command and never show up; these may fork.
fn passes_on(argv: &[String]) -> bool {
    let arg0 = argv.first().map_or("", |a| basename(a).trim_start_matches('-'));
    match arg0 {
        "sh" | "bash" | "dash" | "zsh" | "fish" | "env" => true,
        "timeout" | "nice" | "nohup" | "stdbuf" | "ionice" | "chrt" | "taskset" | "setsid"
        | "flock" | "time" | "caffeinate" => true,
        "direnv" => argv.get(1).is_some_and(|a| a == "exec"),
        _ => false,
    }
}

/// The pid of the Claude Code a hook runs for, given the hook's ancestors
/// nearest first: the nearest that [`is_claude`], walking over shells and
/// wrappers only. Any other process on the way (or pid 1 and below) ends
/// the walk with `None`: past a program bach does not know, a Claude further
/// up is not the one that ran this hook.
pub fn hook_agent(chain: &[(i32, Vec<String>)]) -> Option<i32> {
    for (pid, argv) in chain {
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        if *pid <= 1 {
            return None;
        }
        if is_claude(&args) {
            return Some(*pid);
        }
        if !passes_on(argv) {
            return None;
        }
    }
    None
}

/// `s` as one shell word: bare when it holds only safe bytes, else in
/// single quotes (a `'` inside becomes `'\''`).
fn shell_word(s: &str) -> String {
    let safe = |c: u8| c.is_ascii_alphanumeric() || b"/._-+,:@%".contains(&c);
    match !s.is_empty() && s.bytes().all(safe) {
        true => s.into(),
        false => format!("'{}'", s.replace('\'', r"'\''")),
    }
}

/// The `hooks` block for `~/.claude/settings.json` that runs `bach hook
/// claude` at `SessionStart`, `SessionEnd`, `Notification` and `Stop`. Each
/// command stays silent and succeeds once `bach` is gone.
pub fn hooks_config(bach: &str) -> String {
    let b = shell_word(bach);
    let command = Json::Str(format!("[ -x {b} ] && {b} hook claude || true")).render();
    let events: Vec<String> = ["SessionStart", "SessionEnd", "Notification", "Stop"]
        .iter()
        .map(|e| {
            format!(
                "    \"{e}\": [{{\"hooks\": [{{\"type\": \"command\", \"command\": {command}}}]}}]"
            )
        })
        .collect();
    format!("{{\n  \"hooks\": {{\n{}\n  }}\n}}\n", events.join(",\n"))
}

#[cfg(test)]
#[path = "claude_tests.rs"]
mod tests;
