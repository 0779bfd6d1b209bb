//! `bach hook claude`: one Claude Code hook event, JSON on stdin.
//! `SessionStart` records (or revives) the session with the pid of the
//! Claude Code that ran the hook, `SessionEnd` ends it, `Notification` and
//! `Stop` leave `watch/KEY.hint` for readers; any other event is ignored.
//!
//! Invariants (Claude Code waits for its hooks and feeds a `SessionStart`
//! hook's stdout to the model): nothing is printed, but what `--print-config`
//! asks for; the exit status is 0 for every input, flag and failure; an
//! alarm ends the process with 0 after 2 s whatever it is doing; what could
//! not be done goes to `logs/hook.log` only; the agent is found by walking
//! ancestors in the kernel's tables, never by running `ps`.

use crate::cli::Hook;
use crate::config::Config;
use crate::home::Home;
use crate::register::{self, Found, Ident};
use crate::store::{self, Store, Via};
use crate::{claude, files, kv, log, sys, text, time};
use claude::{HookEvent, HookKind};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// The most stdin may hold; a larger payload is refused whole.
const MAX_INPUT: usize = 1 << 20;
/// How long stdin may take to arrive.
const STDIN_WITHIN: Duration = Duration::from_secs(1);
/// After this the hook ends, whatever it is doing.
const ALARM_SECS: u32 = 2;
/// Ancestors walked at most (a hook runs a few levels below its agent).
const MAX_ANCESTORS: usize = 16;

/// `bach hook claude [--task ID] [--print-config]`: always 0.
pub fn run(args: std::result::Result<Hook, String>) -> u8 {
    let _ = sys::exit_on_alarm(ALARM_SECS);
    let home = Home::open().ok();
    let say = |msg: &str| note(home.as_ref(), msg);
    let hook = match args {
        Ok(h) => h,
        Err(e) => {
            say(&format!("usage: {e}"));
            return 0;
        }
    };
    if hook.print_config {
        match this_bach() {
            Some(bach) => log::stdout(&claude::hooks_config(&bach)),
            None => say("--print-config: cannot find the absolute path of this bach"),
        }
        return 0;
    }
    // Without a home of this user there is nowhere to write, not even a note.
    let Some(home) = home.clone() else { return 0 };
    let config = Config::load(home.path()).unwrap_or_else(|e| {
        say(&format!("{e}; using the defaults"));
        Config::default()
    });
    let event =
        read_stdin().and_then(|b| claude::parse_hook(&b).map_err(|e| format!("payload: {e}")));
    let event = match event {
        Ok(ev) => ev,
        Err(e) => {
            say(&e);
            return 0;
        }
    };
    let st = Store { home };
    if let Err(e) = handle(&st, &config, &hook, &event, &say) {
        say(&format!("{} of {}: {e}", kind(&event.kind), event.session_id));
    }
    0
}

fn kind(k: &HookKind) -> &str {
    match k {
        HookKind::SessionStart => "SessionStart",
        HookKind::SessionEnd => "SessionEnd",
        HookKind::Notification => "Notification",
        HookKind::Stop => "Stop",
        HookKind::Other(name) => name,
    }
}

/// One event; what went wrong is the error, what is worth a note is `say`n.
fn handle(
    st: &Store,
    config: &Config,
    hook: &Hook,
    ev: &HookEvent,
    say: &dyn Fn(&str),
) -> Result<(), String> {
    let id = claude::session_id(&ev.session_id).ok_or("no session id")?;
    let now = time::now();
    let hint = |what| write_hint(st, &id, ev, what, now).map_err(|e| e.to_string());
    match &ev.kind {
        HookKind::SessionStart => start(st, config, hook, ev, id, now, say),
        HookKind::SessionEnd => end(st, &id, ev, now),
        HookKind::Notification => hint("needs_you"),
        HookKind::Stop => hint("turn_done"),
        HookKind::Other(_) => Ok(()),
    }
}

fn start(
    st: &Store,
    config: &Config,
    hook: &Hook,
    ev: &HookEvent,
    id: String,
    now: u64,
    say: &dyn Fn(&str),
) -> Result<(), String> {
    let transcript = ev.transcript_path.as_deref().ok_or("no transcript_path")?;
    let artifact = store::normalize_artifact(Path::new("/"), transcript)?;
    let ident = agent().and_then(Ident::of);
    if ident.is_none() {
        say(&format!("{id}: no Claude Code among the hook's ancestors; the session has no pid"));
    }
    let explicit = hook.task.clone().or_else(bach_task);
    let sessions = st.sessions().map(|l| l.0).map_err(|p| p.to_string())?;
    let tasks = st.tasks().map(|l| l.0).map_err(|p| p.to_string())?;
    if let Some(t) = explicit.as_deref().filter(|t| !tasks.iter().any(|k| k.id == *t)) {
        say(&format!("{id}: unknown task '{t}'; the folder rules decide"));
    }
    let found = Found {
        id,
        agent: crate::attention::Agent::Claude,
        agent_session: ev.session_id.clone(),
        artifact,
        cwd: ev.cwd.clone(),
        ident,
        task: explicit,
        via: Via::Hook,
    };
    register::record(st, config, &found, (&sessions, &tasks), now).map_err(|e| e.to_string())?;
    Ok(())
}

fn end(st: &Store, id: &str, ev: &HookEvent, now: u64) -> Result<(), String> {
    let s = st.session(id).map_err(|e| e.to_string())?;
    let s = s.ok_or_else(|| format!("no session {id} to end"))?;
    if s.ended {
        return Ok(());
    }
    let reason = ev.reason.as_deref().unwrap_or("session_end");
    register::end(st, &s, reason, now).map_err(|e| e.to_string())
}

/// `watch/KEY.hint` of the session's artifact (the transcript's, for a
/// session bach does not know): `hint` and `hint_at`, written atomically.
fn write_hint(
    st: &Store,
    id: &str,
    ev: &HookEvent,
    hint: &str,
    now: u64,
) -> crate::error::Result<()> {
    let recorded = st.session(id)?.map(|s| s.artifact);
    let given = ev
        .transcript_path
        .as_deref()
        .and_then(|t| store::normalize_artifact(Path::new("/"), t).ok());
    let artifact =
        recorded.or(given).ok_or_else(|| crate::error::Error::fail("no transcript_path"))?;
    let key = st.home.key(&artifact);
    let body = kv::render([("hint", Some(hint.to_string())), ("hint_at", Some(now.to_string()))]);
    files::ensure_dir(&st.home.watch())?;
    files::write_atomic(&st.home.watch(), &format!("{key}.hint"), body.as_bytes(), false)
}

/// `$BACH_TASK`, when it is a valid id.
fn bach_task() -> Option<String> {
    std::env::var("BACH_TASK").ok().filter(|t| store::valid_id(t))
}

/// The pid of the Claude Code this hook runs for: the nearest ancestor
/// that is Claude Code, over shells and wrappers (see
/// [`claude::hook_agent`]).
fn agent() -> Option<i32> {
    let mut chain = Vec::new();
    let mut pid = sys::proc_stat(sys::getpid()).ok()?.ppid;
    while pid > 1 && chain.len() < MAX_ANCESTORS {
        let argv = sys::proc_argv(pid).unwrap_or_default();
        let next = sys::proc_stat(pid).map(|s| s.ppid).unwrap_or(0);
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        let found = claude::is_claude(&args);
        chain.push((pid, argv));
        if found {
            break;
        }
        pid = next;
    }
    claude::hook_agent(&chain)
}

/// This bach's absolute path, as found on `PATH` where it is there (so an
/// upgrade keeps the hook working), else as the kernel names it.
fn this_bach() -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    let exe = crate::home::named_on(&path, crate::home::exe().ok()?);
    exe.to_str().filter(|p| p.starts_with('/') && !text::has_control(p)).map(String::from)
}

/// Stdin, at most [`MAX_INPUT`] bytes arriving within [`STDIN_WITHIN`].
fn read_stdin() -> Result<Vec<u8>, String> {
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    let (deadline, mut buf, mut chunk) = (Instant::now() + STDIN_WITHIN, Vec::new(), [0u8; 65536]);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("stdin: no end of input within {}s", STDIN_WITHIN.as_secs()));
        }
        let ready = sys::poll(&[fd], sys::poll_ms(left)).map_err(|e| format!("stdin: {e}"))?;
        if !ready.first().copied().unwrap_or(false) {
            continue;
        }
        match sys::read_ready(fd, &mut chunk).map_err(|e| format!("stdin: {e}"))? {
            sys::Ready::Data(n) => buf.extend_from_slice(&chunk[..n]),
            sys::Ready::End => return Ok(buf),
            sys::Ready::Empty => {}
        }
        if buf.len() > MAX_INPUT {
            return Err(format!("stdin: more than {MAX_INPUT} bytes"));
        }
    }
}

/// One line in `logs/hook.log` (timestamped, control characters escaped);
/// a log that cannot be written is let go: the hook tells no one else.
fn note(home: Option<&Home>, msg: &str) {
    use std::io::Write;
    let Some(home) = home else { return };
    let line = format!("{} {}\n", time::utc(time::now()), text::escape(msg));
    if let Ok(mut f) = log::open(&home.hook_log()) {
        let _ = f.write_all(line.as_bytes());
    }
}
