//! `bach doctor [--json]`: checks the setup and says, for each problem, one
//! line of detail and one fix. The traps it looks for are the ones that
//! lose sessions: logind killing what an SSH login started, linger off, a
//! job in the wrong launchd domain, a hand-started daemon blocking the
//! service, a home without locks, macOS privacy denying a folder.
//!
//! Invariant: it changes nothing (it only reads files and asks tools), and
//! it ends within about a second: every tool it runs is killed after 1 s. A
//! tool that is missing is a warning saying what could not be checked.

use super::open;
use crate::config::Config;
use crate::error::Result;
use crate::home::Home;
use crate::json::Json;
use crate::{files, lock, log, text};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[cfg(target_os = "linux")]
#[path = "doctor_linux.rs"]
mod platform;
#[cfg(not(target_os = "linux"))]
#[path = "doctor_apple.rs"]
mod platform;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do.
    Ok,
    /// Worth fixing, or could not be checked.
    Warn,
    /// Sessions are at risk until it is fixed.
    Fail,
}

impl Verdict {
    /// Its name in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

/// One check: its name, verdict, one line of detail and one fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// How it came out.
    pub result: Verdict,
    /// What was found.
    pub detail: String,
    /// What to do (empty when nothing).
    pub fix: String,
}

impl Check {
    /// A check that passed.
    pub fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, result: Verdict::Ok, detail: detail.into(), fix: String::new() }
    }

    /// A check that found something worth fixing.
    pub fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name, result: Verdict::Warn, detail: detail.into(), fix: fix.into() }
    }

    /// A check that failed.
    pub fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name, result: Verdict::Fail, detail: detail.into(), fix: fix.into() }
    }
}

/// What the checks share: the home, the config (as loaded) and the daemon.
pub struct Setup {
    /// The home.
    pub home: Home,
    /// The config, or why it does not parse.
    pub config: std::result::Result<Config, String>,
    /// The holder of `daemon.lock`.
    pub daemon: Option<i32>,
}

/// `bach doctor [--json]`: exit 0 when nothing failed, 1 otherwise.
pub fn doctor(json: bool) -> Result<u8> {
    let (st, _) = open()?;
    let config = Config::load(st.home.path());
    let daemon = lock::holder(&st.home.daemon_lock()).ok().flatten();
    let s = Setup { home: st.home, config, daemon };
    let mut checks = vec![daemon_check(&s), config_check(&s), fs_check(&s), ps_check()];
    checks.extend(platform::checks(&s));
    checks.push(events_check(&s));
    checks.push(privacy_check(&s));
    checks.push(agents_check(&s));
    checks.push(folders_check());
    match json {
        true => print_json(&checks),
        false => print_text(&checks),
    }
    Ok(u8::from(checks.iter().any(|c| c.result == Verdict::Fail)))
}

fn daemon_check(s: &Setup) -> Check {
    match s.daemon {
        Some(pid) => Check::ok("daemon", format!("running (pid {pid} holds daemon.lock)")),
        None => Check::fail(
            "daemon",
            "no daemon runs: crashed watchers are not restarted",
            "bach daemon install (or: bach daemon run)",
        ),
    }
}

fn config_check(s: &Setup) -> Check {
    match &s.config {
        Ok(_) => Check::ok("config", format!("{} parses", s.home.config().display())),
        Err(e) => {
            Check::fail("config", e.clone(), "fix the line it names; bach daemon run refuses it")
        }
    }
}

fn fs_check(s: &Setup) -> Check {
    match s.home.probe() {
        Ok(()) => Check::ok("file system", "fcntl locks, hard links and fsync work in the home"),
        Err(why) => {
            Check::fail("file system", why, "export BACH_HOME=~/.bach-local (a local disk)")
        }
    }
}

fn ps_check() -> Check {
    match crate::procs::snapshot() {
        Ok(p) => Check::ok("ps", format!("reads the process table ({} processes)", p.len())),
        Err(e) => Check::fail("ps", e, platform::PS_FIX),
    }
}

/// Change notification and pid handles here, and what the running daemon
/// uses (from its `daemon.state`).
fn events_check(s: &Setup) -> Check {
    let state = files::read_small(&s.home.daemon_state(), crate::ledger::MAX).ok().flatten();
    let used = state.as_deref().and_then(|t| {
        crate::kv::lines(t)
            .filter_map(|f| f.ok())
            .find(|f| f.key == "events")
            .map(|f| f.value.to_string())
    });
    match (crate::events::Events::new(), used) {
        (_, Some(u)) if u.starts_with("polling") => Check::warn(
            "events",
            format!("the daemon falls back to {u}"),
            "nothing to do for correctness; on Linux a kernel of 5.3 or newer gives pid handles",
        ),
        (Ok(e), _) => Check::ok("events", format!("{} available", e.mechanism())),
        (Err(e), _) => Check::warn(
            "events",
            format!("no change notification here ({}): bach polls", crate::error::reason(&e)),
            "nothing to do for correctness",
        ),
    }
}

/// Watchers that cannot read their artifact because macOS privacy (TCC)
/// refused it (their status says so).
fn privacy_check(s: &Setup) -> Check {
    let denied: Vec<String> = std::fs::read_dir(s.home.watch())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".status"))
        .filter_map(|e| files::read_small(&e.path(), files::RECORD_MAX).ok().flatten())
        .filter_map(|t| crate::watcher::status::Status::parse(&t))
        .filter(|st| st.error.as_deref().is_some_and(|e| e.contains("TCC")))
        .map(|st| st.artifact)
        .collect();
    match denied.first() {
        None => Check::ok("privacy", "no watcher is refused its artifact"),
        Some(a) => Check::fail(
            "privacy",
            format!("macOS privacy (TCC) denies {} artifact(s), e.g. {a}", denied.len()),
            "give the installed bach Full Disk Access (System Settings > Privacy & Security), \
             or keep artifacts outside Documents, Desktop, Downloads and iCloud",
        ),
    }
}

/// Claude Code hooks installed, or discovery on: some way in for sessions.
fn agents_check(s: &Setup) -> Check {
    let settings = crate::discover::own_dir("CLAUDE_CONFIG_DIR", ".claude").join("settings.json");
    let text = files::read_small(&settings, 4 << 20).ok().flatten();
    let hooks = text.is_some_and(|t| t.contains("hook claude"));
    let discover = s.config.as_ref().is_ok_and(|c| !c.discover.is_empty());
    match (hooks, discover) {
        (true, _) => Check::ok("agents", "Claude Code hooks call bach"),
        (false, true) => {
            Check::ok("agents", "the daemon discovers running agents (config discover)")
        }
        (false, false) => Check::warn(
            "agents",
            "no hooks and discover = none: sessions get in only by 'bach sessions start'",
            "bach hook claude --print-config (merge it into ~/.claude/settings.json)",
        ),
    }
}

/// Running agents that keep their files where bach does not look.
fn folders_check() -> Check {
    const NAME: &str = "agent folders";
    let procs = match crate::procs::snapshot() {
        Ok(p) => p,
        Err(e) => return Check::warn(NAME, format!("not checked: {e}"), "see the ps check"),
    };
    let other = crate::discover::other_folders(&procs);
    let Some(first) = other.first() else {
        return Check::ok(NAME, "running agents use bach's CLAUDE_CONFIG_DIR and CODEX_HOME");
    };
    let more = match other.len() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    Check::warn(
        NAME,
        format!(
            "agent pid {} uses {}={}, bach {}{more}",
            first.pid, first.var, first.agent, first.own
        ),
        format!(
            "run bach with {}={} (the daemon too: it watches its own folder for new sessions)",
            first.var,
            crate::text::sh_quote(&first.agent)
        ),
    )
}

/// Runs `tool args` for at most a second; its exit code and stdout, or
/// `None` when it is missing or hangs (it is killed then).
pub fn ask(tool: &str, args: &[&str]) -> Option<(i32, String)> {
    let mut cmd = Command::new(tool);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().ok()?;
    let deadline = Instant::now() + Duration::from_secs(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(child.stdout.as_mut()?, &mut text);
    Some((status.code().unwrap_or(-1), text))
}

fn print_text(checks: &[Check]) {
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| vec![c.result.as_str().into(), c.name.into(), c.detail.clone()])
        .collect();
    log::stdout(&text::table("RESULT CHECK DETAIL", &rows));
    for c in checks.iter().filter(|c| !c.fix.is_empty()) {
        crate::say!("fix {}: {}", c.name, text::escape(&c.fix));
    }
}

fn print_json(checks: &[Check]) {
    let items = checks.iter().map(|c| {
        Json::Obj(vec![
            ("name", Json::Str(c.name.into())),
            ("result", Json::Str(c.result.as_str().into())),
            ("detail", Json::Str(c.detail.clone())),
            ("fix", Json::Str(c.fix.clone())),
        ])
    });
    crate::say!("{}", Json::document(vec![("checks", Json::Arr(items.collect()))]).render());
}

/// `KEY=value` lines (`systemctl show`, `loginctl show-user`) as pairs.
pub fn pairs(text: &str) -> Vec<(&str, &str)> {
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.trim(), v.trim())).collect()
}

/// The value of `key` in such pairs.
pub fn value<'a>(pairs: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Whether two paths name the same file (a service may name bach by a link).
pub fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// What is wrong with a plist whose first program argument is `program` and
/// whose `LimitLoadToSessionType` is `sessions`, for this bach at `me`.
pub fn plist_verdict(
    program: Option<&str>,
    sessions: &[&str],
    me: Option<&std::path::Path>,
    same: fn(&std::path::Path, &std::path::Path) -> bool,
) -> Option<String> {
    if !(sessions.contains(&"Aqua") && sessions.contains(&"Background")) {
        return Some(format!(
            "LimitLoadToSessionType is {sessions:?}, not [Aqua, Background]: launchd will not \
             load the job over SSH"
        ));
    }
    match (program, me) {
        (Some(p), Some(m)) if !same(std::path::Path::new(p), m) => {
            Some(format!("the plist runs {p}, not this bach ({})", m.display()))
        }
        (None, _) => Some("the plist names no program".into()),
        _ => None,
    }
}

/// The `pid = N` of a `launchctl print` of a running job.
pub fn launchctl_pid(out: &str) -> Option<i32> {
    out.lines().find_map(|l| l.trim().strip_prefix("pid = ")?.trim().parse().ok())
}

#[cfg(test)]
#[path = "doctor_tests.rs"]
mod tests;
