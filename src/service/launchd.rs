//! launchd: a LaunchAgent plist and the `launchctl` sequence that loads it
//! in the GUI domain, or, when there is no GUI session (as over SSH), in the
//! user domain, where it lasts until reboot. Invariant: the job is loaded in
//! one domain at most, since both are booted out before it is loaded.

use super::{Ran, Runner, Setup};
use crate::error::{Error, Result};
use plist::{Dictionary, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The job's label.
pub const LABEL: &str = "com.bach.daemon";
/// The plist's file name in `~/Library/LaunchAgents`.
pub const FILE: &str = "com.bach.daemon.plist";
const LAUNCHCTL: &str = "launchctl";
/// `bootstrap` exits 125 when the GUI domain does not exist (no GUI login).
const NO_GUI: i32 = 125;
/// `bootstrap` exits 5 (I/O error) while a bootout is still under way.
const BUSY: i32 = 5;

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
        ("ProgramArguments", [s.exe.as_str(), "daemon", "run"].map(Value::from).to_vec().into()),
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

fn job(domain: &str) -> String {
    format!("{domain}/{LABEL}")
}

/// The GUI domain and the user domain.
fn domains(s: &Setup) -> [String; 2] {
    [format!("gui/{}", s.uid), format!("user/{}", s.uid)]
}

/// Boots the job out of both domains. Not loaded there (non-zero) is fine;
/// failing to run `launchctl` at all is an error only when `strict`.
fn bootout(run: &Runner, s: &Setup, strict: bool) -> Result<()> {
    for domain in domains(s) {
        let ran = run.run(LAUNCHCTL, &["bootout", &job(&domain)]);
        if strict {
            ran?;
        }
    }
    Ok(())
}

/// Loads the written plist: unloads an old job from both domains, stops a
/// running daemon, enables and bootstraps in `gui/UID` (or `user/UID`
/// without a GUI session), and checks that launchd knows the job. Returns
/// what to tell the user beyond "installed".
pub fn load(run: &Runner, s: &Setup, plist: &Path) -> Result<String> {
    let plist = plist.to_string_lossy();
    bootout(run, s, true)?;
    let [gui, user] = domains(s);
    run.stop_daemon(&s.home)?;
    run.note(&format!(
        "if bootstrap exits {NO_GUI} (no GUI session, as over SSH): enable and \
         bootstrap in {user} instead; if it exits {BUSY}: once more after 1 s"
    ));
    let mut domain = gui;
    let mut ran = bootstrap(run, &domain, &plist)?;
    if ran.code == NO_GUI {
        domain = user;
        ran = bootstrap(run, &domain, &plist)?;
    }
    ran.ok()?;
    run.run(LAUNCHCTL, &["print", &job(&domain)])?.ok()?;
    Ok(match domain.starts_with("user/") {
        true => format!(
            "note: there is no GUI session (as over SSH), so the job runs in {domain} \
             until reboot; the next GUI login loads it from the plist"
        ),
        false => String::new(),
    })
}

/// `enable` (clears a disabled override), then `bootstrap`, retried once
/// after 1 s when it exits 5.
fn bootstrap(run: &Runner, domain: &str, plist: &str) -> Result<Ran> {
    run.run(LAUNCHCTL, &["enable", &job(domain)])?.ok()?;
    let ran = run.run(LAUNCHCTL, &["bootstrap", domain, plist])?;
    if ran.code != BUSY {
        return Ok(ran);
    }
    std::thread::sleep(Duration::from_secs(1));
    run.run(LAUNCHCTL, &["bootstrap", domain, plist])
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
        assert_eq!(args[0].as_string(), Some("/opt/b & <c>/bach"));
        let env = d["EnvironmentVariables"].as_dictionary().unwrap();
        assert_eq!(env["BACH_HOME"].as_string(), Some("/h/.bach"));
        let plain = render(&super::super::tests::setup("/b", false)).unwrap();
        assert!(!plain.contains("BACH_HOME"));
    }
}
