//! launchd: a LaunchAgent plist and the `launchctl` sequence that loads it.
//! The domain is chosen up front: `gui/UID` when `launchctl print gui/UID`
//! exits 0 (a GUI session exists), else `user/UID` (as over SSH); a GUI step
//! that fails, or a bootstrap that `print` then does not find, falls back to
//! `user/UID`.
//!
//! Invariant: bach loads the job in one domain, after booting it out of
//! both. launchd may load the same plist in the other domain as well (the
//! plist allows both sessions); the daemon lock and `--standby` make that
//! second daemon wait rather than exit for good.
//!
//! Apple's behaviour is inferred (no Mac runs these tests) from launchctl(1),
//! launchd.plist(5) and reports of real runs, as each constant says; the
//! checks on a real Mac are listed in bach-daemon(1).

use super::{Ran, Runner, Setup};
use crate::error::{Error, Result};
use plist::{Dictionary, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The job's label.
pub const LABEL: &str = "com.bach.daemon";
/// The plist's file name in `~/Library/LaunchAgents`.
pub const FILE: &str = "com.bach.daemon.plist";
const LAUNCHCTL: &str = "launchctl";
/// `bootstrap` exits 5 ("Input/output error") while the old instance of the
/// job is still being torn down, and also when launchd refuses the plist
/// for that session (reported: the reason, 134 "Service cannot load in
/// requested session", shows only in the system log).
const BUSY: i32 = 5;
/// `bootout` exits 36 ("Operation now in progress") while the job stops.
const IN_PROGRESS: i32 = 36;
/// How long `BUSY` and `IN_PROGRESS` are retried, once a second.
const RETRY_FOR: Duration = Duration::from_secs(10);
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Where the plist goes.
pub fn dir(s: &Setup) -> PathBuf {
    Path::new(&s.user_home).join("Library").join("LaunchAgents")
}

/// The plist, as XML.
pub fn render(s: &Setup) -> Result<String> {
    let mut env = Dictionary::from_iter([("PATH", s.path.as_str())]);
    if let Some(home) = &s.bach_home {
        env.insert("BACH_HOME".into(), home.as_str().into());
    }
    let log = |name: &str| Value::from(format!("{}/logs/{name}", s.home));
    let job = Value::from(Dictionary::from_iter([
        ("Label", Value::from(LABEL)),
        ("ProgramArguments", args(&[&s.exe, "daemon", "run", "--standby"])),
        // Aqua is gui/UID, Background is user/UID. Without the key a
        // LaunchAgent is Aqua-only, and user/UID refuses it (reported).
        ("LimitLoadToSessionType", args(&["Aqua", "Background"])),
        ("RunAtLoad", true.into()),
        // Restarted after a crash or a broken config, never after a clean stop.
        ("KeepAlive", Dictionary::from_iter([("SuccessfulExit", false)]).into()),
        ("ThrottleInterval", 10.into()),
        // Watchers live in their own sessions and outlive the daemon.
        ("AbandonProcessGroup", true.into()),
        ("Umask", 0o077.into()),
        ("StandardOutPath", log("launchd.out")),
        ("StandardErrorPath", log("launchd.err")),
        ("EnvironmentVariables", env.into()),
    ]));
    let mut xml = Vec::new();
    job.to_writer_xml(&mut xml).map_err(|e| Error::fail(format!("cannot write the plist: {e}")))?;
    xml.push(b'\n');
    String::from_utf8(xml).map_err(|_| Error::fail("the plist is not UTF-8"))
}

fn args(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|&a| Value::from(a)).collect())
}

fn job(domain: &str) -> String {
    format!("{domain}/{LABEL}")
}

/// The GUI domain and the user domain.
fn domains(s: &Setup) -> [String; 2] {
    [format!("gui/{}", s.uid), format!("user/{}", s.uid)]
}

/// Runs `launchctl args`, and again every second while it exits `code`,
/// for at most `RETRY_FOR` (a monotonic deadline); returns the last answer.
fn retry(run: &Runner, args: &[&str], code: i32) -> Result<Ran> {
    let deadline = Instant::now() + RETRY_FOR;
    loop {
        let mut ran = run.run(LAUNCHCTL, args)?;
        let left = deadline.saturating_duration_since(Instant::now());
        if ran.code != code {
            return Ok(ran);
        }
        if left.is_zero() {
            ran.failure += &format!(" (every second for {}s)", RETRY_FOR.as_secs());
            return Ok(ran);
        }
        std::thread::sleep(left.min(RETRY_EVERY));
    }
}

/// Boots the job out of both domains. Not loaded there (3, 113, or no such
/// domain) is fine, and waited out while still stopping (36). Failing to run
/// `launchctl` at all, or a job that is still stopping after `RETRY_FOR`, is
/// an error only when `strict`.
fn bootout(run: &Runner, s: &Setup, strict: bool) -> Result<()> {
    for domain in domains(s) {
        let ran = retry(run, &["bootout", &job(&domain)], IN_PROGRESS);
        if strict {
            let ran = ran?;
            if ran.code == IN_PROGRESS {
                ran.ok()?;
            }
        }
    }
    Ok(())
}

/// Loads the written plist: unloads an old job from both domains, stops a
/// running daemon, picks the domain, and loads the job there (falling back
/// from `gui/UID` to `user/UID`). Returns what to tell the user beyond
/// "installed".
pub fn load(run: &Runner, s: &Setup, plist: &Path) -> Result<String> {
    let plist = plist.to_string_lossy();
    let [gui, user] = domains(s);
    run.note(&format!(
        "bootout exit {IN_PROGRESS} and bootstrap exit {BUSY} are retried every second \
         for up to {}s",
        RETRY_FOR.as_secs()
    ));
    bootout(run, s, true)?;
    run.stop_daemon(&s.home)?;
    run.note(&format!("the job goes to {gui} if this exits 0, else to {user} (as over SSH)"));
    let why = match run.run(LAUNCHCTL, &["print", &gui])?.code {
        0 => {
            run.note(&format!(
                "if a step fails in {gui}, or print does not find the job there: \
                 the same steps in {user}"
            ));
            match load_in(run, &gui, &plist) {
                Ok(()) => return Ok(String::new()),
                Err(e) => format!("{gui} did not take the job ({e})"),
            }
        }
        _ => "there is no GUI session (as over SSH)".to_string(),
    };
    load_in(run, &user, &plist)?;
    Ok(format!(
        "note: {why}, so the job runs in {user} until reboot; the next GUI login loads it \
         from the plist too (that second daemon stands by)"
    ))
}

/// `enable` (clears a disabled override), `bootstrap` (retried while
/// `BUSY`), and `print`, since a headless Mac can answer 0 to `bootstrap`
/// in `gui/UID` without loading anything (reported).
fn load_in(run: &Runner, domain: &str, plist: &str) -> Result<()> {
    run.run(LAUNCHCTL, &["enable", &job(domain)])?.ok()?;
    retry(run, &["bootstrap", domain, plist], BUSY)?.ok()?;
    run.run(LAUNCHCTL, &["print", &job(domain)])?.ok()
}

/// Boots the job out of both domains and removes the plist. Returns the
/// plist's path and whether it was there.
pub fn uninstall(run: &Runner, s: &Setup) -> Result<(PathBuf, bool)> {
    let plist = dir(s).join(FILE);
    let present = plist.symlink_metadata().is_ok();
    // No launchctl is fine only when nothing is installed.
    bootout(run, s, present)?;
    super::remove(&plist)?;
    Ok((plist, present))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Every key and value is checked on the installed file (tests/service.rs).
    #[test]
    fn plist_escapes_xml_and_has_bach_home_only_when_set() {
        let xml = render(&super::super::tests::setup("/opt/b & <c>/bach", true)).unwrap();
        assert!(xml.contains("<string>/opt/b &amp; &lt;c&gt;/bach</string>"), "{xml}");
        let v = Value::from_reader_xml(xml.as_bytes()).unwrap();
        let d = v.as_dictionary().unwrap();
        let args = d["ProgramArguments"].as_array().unwrap();
        let args: Vec<_> = args.iter().map(|a| a.as_string().unwrap()).collect();
        assert_eq!(args, ["/opt/b & <c>/bach", "daemon", "run", "--standby"]);
        let sessions = d["LimitLoadToSessionType"].as_array().unwrap();
        let sessions: Vec<_> = sessions.iter().map(|a| a.as_string().unwrap()).collect();
        assert_eq!(sessions, ["Aqua", "Background"]);
        let env = d["EnvironmentVariables"].as_dictionary().unwrap();
        assert_eq!(env["BACH_HOME"].as_string(), Some("/h/.bach"));
        let plain = render(&super::super::tests::setup("/b", false)).unwrap();
        assert!(!plain.contains("BACH_HOME"));
    }
}
