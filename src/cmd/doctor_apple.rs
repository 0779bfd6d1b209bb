//! The macOS checks of `bach doctor`: the LaunchAgent plist (present, naming
//! this bach, loadable in both the GUI and the SSH session) and which launchd
//! domain runs the job, and whether its instance is the running daemon.
//! Inferred from launchctl(1) and launchd.plist(5); no Mac ran it here.

use super::{ask, same_file, Check, Setup};
use std::path::{Path, PathBuf};

/// What to do when `ps` cannot be read.
pub const PS_FIX: &str = "/bin/ps is part of macOS: check PATH in the plist (bach daemon install)";

/// The macOS checks.
pub fn checks(s: &Setup) -> Vec<Check> {
    vec![plist(), domain(s)]
}

fn plist_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    Some(Path::new(&home).join("Library/LaunchAgents/com.bach.daemon.plist"))
}

/// The plist exists, names this bach, and lets launchd load it in the SSH
/// (Background) session as well as the GUI (Aqua) one.
fn plist() -> Check {
    let Some(path) = plist_path().filter(|p| p.exists()) else {
        return Check::warn("plist", "no LaunchAgent is installed", "bach daemon install");
    };
    let Ok(v) = plist::Value::from_file(&path) else {
        return Check::fail(
            "plist",
            format!("{} does not parse", path.display()),
            "bach daemon install",
        );
    };
    let d = v.as_dictionary();
    let program = d.and_then(|d| d.get("ProgramArguments")?.as_array()?.first()?.as_string());
    let sessions: Vec<&str> = d
        .and_then(|d| d.get("LimitLoadToSessionType")?.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_string()).collect())
        .unwrap_or_default();
    match super::plist_verdict(program, &sessions, crate::home::exe().ok().as_deref(), same_file) {
        None => {
            Check::ok("plist", format!("{} runs this bach in GUI and SSH sessions", path.display()))
        }
        Some(why) => Check::fail("plist", why, "bach daemon install"),
    }
}

/// Which domain has the job, and whether its pid is the running daemon's.
fn domain(s: &Setup) -> Check {
    let uid = crate::sys::getuid();
    let found: Vec<(String, Option<i32>)> = [format!("gui/{uid}"), format!("user/{uid}")]
        .into_iter()
        .filter_map(|d| {
            let (code, out) = ask("launchctl", &["print", &format!("{d}/com.bach.daemon")])?;
            (code == 0).then(|| (d, super::launchctl_pid(&out)))
        })
        .collect();
    match (found.as_slice(), s.daemon) {
        ([], _) => {
            Check::warn("launchd", "launchd runs no com.bach.daemon job", "bach daemon install")
        }
        (jobs, Some(d)) if jobs.iter().any(|(_, p)| *p == Some(d)) => {
            let domain = jobs.iter().find(|(_, p)| *p == Some(d)).map_or("", |(d, _)| d.as_str());
            Check::ok("launchd", format!("the job in {domain} is the running daemon (pid {d})"))
        }
        (_, Some(d)) => Check::warn(
            "launchd",
            format!("the daemon (pid {d}) was started by hand, not by launchd"),
            "bach daemon stop && bach daemon install",
        ),
        (jobs, None) => Check::fail(
            "launchd",
            format!("the job is loaded in {} but no daemon runs", jobs[0].0),
            "bach daemon logs; cat ~/.bach/logs/launchd.err",
        ),
    }
}
