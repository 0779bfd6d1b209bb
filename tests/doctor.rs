//! `bach doctor` against each failing condition, built in a temporary home
//! with fake `loginctl` and `systemctl` first on PATH, a stand-in for
//! logind's configuration (`BACH_TEST_ETC`) and a home without locks
//! (`BACH_TEST_FS_LACKS`); its JSON is parsed, never matched as text.

use crate::util::*;
use std::fs;
#[cfg(target_os = "linux")]
use std::path::Path;
use std::process::Output;

/// The fakes: `loginctl show-user` answers `Linger=$LINGER`, `systemctl
/// --user show` answers with `$MAINPID`; both exit 0 like the real ones.
fn fakes(env: &Env, linger: &str, main_pid: i32) {
    env.script("loginctl", &format!("[ \"$1\" = show-user ] && echo Linger={linger}"));
    env.script("systemctl", &format!("echo MainPID={main_pid}; echo ActiveState=active"));
}

fn doctor(env: &Env, vars: &[(&str, &str)]) -> (Output, Json) {
    let etc = env.root.join("etc");
    fs::create_dir_all(&etc).unwrap();
    let mut c = env.cmd(["doctor", "--json"]);
    c.env("BACH_TEST_ETC", &etc).envs(vars.iter().copied());
    let out = c.output().unwrap();
    let doc = json(&String::from_utf8_lossy(&out.stdout));
    (out, doc)
}

fn check<'a>(doc: &'a Json, name: &str) -> (&'a str, &'a str, &'a str) {
    let all = doc.get("checks").arr();
    let c = all
        .iter()
        .find(|c| c.get("name").str() == name)
        .unwrap_or_else(|| panic!("{name}: {doc:?}"));
    (c.get("result").str(), c.get("detail").str(), c.get("fix").str())
}

/// The unit `daemon install` would write, naming `exe`.
#[cfg(target_os = "linux")]
fn unit(env: &Env, exe: &str) {
    let dir = env.user_home.join(".config/systemd/user");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("bach-daemon.service"),
        format!("[Service]\nExecStart=\"{exe}\" daemon run\n"),
    )
    .unwrap();
}

#[cfg(target_os = "linux")]
fn claude_hooks(env: &Env) {
    let dir = env.user_home.join(".claude");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("settings.json"),
        format!("{{\"hooks\": \"[ -x {BIN} ] && {BIN} hook claude || true\"}}"),
    )
    .unwrap();
}

#[cfg(target_os = "linux")]
#[test]
fn a_healthy_setup_is_all_ok_and_exit_0() {
    let mut env = Env::new("doc-ok");
    env.write_config("");
    sessions(&env, 0);
    let pid = start_daemon(&mut env);
    fakes(&env, "yes", pid);
    unit(&env, BIN);
    claude_hooks(&env);
    let (out, doc) = doctor(&env, &[]);
    let bad: Vec<_> =
        doc.get("checks").arr().iter().filter(|c| c.get("result").str() == "fail").collect();
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(out.status.code(), Some(0), "{}", dump(&["doctor"], &out));
    assert_eq!(doc.get("schema").int(), 1);
    assert!(doc.get("generated_at").int() > 1_700_000_000 && !doc.get("host").str().is_empty());
    assert_eq!(check(&doc, "service").0, "ok");
    assert_eq!(check(&doc, "linger").0, "ok");
    assert_eq!(check(&doc, "cgroup").0, "ok");
    assert_eq!(check(&doc, "agents").0, "ok");
}

#[cfg(target_os = "linux")]
#[test]
fn each_failing_condition_has_its_line_and_its_fix() {
    let env = Env::new("doc-bad");
    fakes(&env, "no", 0);
    fs::create_dir_all(env.root.join("etc")).unwrap();
    fs::write(env.root.join("etc/logind.conf"), "[Login]\nKillUserProcesses=yes\n").unwrap();
    env.write_config("idle_seconds = soon\n");
    unit(&env, "/somewhere/else/bach");
    let before = listing(&env.home);
    let (out, doc) = doctor(&env, &[("BACH_TEST_FS_LACKS", "locks")]);
    assert_eq!(out.status.code(), Some(1), "{}", dump(&["doctor"], &out));
    let (r, detail, fix) = check(&doc, "daemon");
    assert_eq!((r, fix), ("fail", "bach daemon install (or: bach daemon run)"), "{detail}");
    let (r, detail, fix) = check(&doc, "linger");
    assert_eq!(r, "fail", "linger off while logind kills: {detail}");
    assert!(
        detail.contains("Linger=no") && fix.starts_with("loginctl enable-linger"),
        "{detail} / {fix}"
    );
    assert_eq!(check(&doc, "logind").0, "warn");
    let (r, detail, _) = check(&doc, "config");
    assert!(r == "fail" && detail.contains("'idle_seconds' must be a whole number"), "{detail}");
    let (r, detail, _) = check(&doc, "file system");
    assert!(r == "fail" && detail.contains("without fcntl locks"), "{detail}");
    let (r, detail, _) = check(&doc, "service");
    assert!(r == "warn" && detail.contains("/somewhere/else/bach"), "{detail}");
    assert_eq!(check(&doc, "agents").0, "warn");
    assert_eq!(listing(&env.home), before, "doctor changes nothing");
}

#[cfg(target_os = "linux")]
#[test]
fn a_hand_started_daemon_is_told_from_the_services_instance() {
    let mut env = Env::new("doc-hand");
    env.write_config("");
    sessions(&env, 0);
    let pid = start_daemon(&mut env);
    fakes(&env, "yes", pid + 100_000);
    unit(&env, BIN);
    let (_, doc) = doctor(&env, &[]);
    let (r, detail, fix) = check(&doc, "service");
    assert!(
        r == "warn" && detail.contains(&format!("(pid {pid}) was started by hand")),
        "{detail}"
    );
    assert_eq!(fix, "bach daemon stop && systemctl --user start bach-daemon.service");
}

#[cfg(target_os = "linux")]
#[test]
fn a_missing_tool_is_a_warning_saying_what_could_not_be_checked() {
    let env = Env::new("doc-notools");
    unit(&env, BIN);
    // No fakes, and a PATH without loginctl or systemctl at all.
    let mut c = env.cmd(["doctor", "--json"]);
    c.env("PATH", env.bin.as_os_str()).env("BACH_TEST_ETC", env.root.join("etc"));
    let out = c.output().unwrap();
    let doc = json(&String::from_utf8_lossy(&out.stdout));
    let (r, detail, _) = check(&doc, "linger");
    assert!(r == "warn" && detail.contains("loginctl is missing"), "{detail}");
    let (r, detail, _) = check(&doc, "service");
    assert!(r == "warn" && detail.contains("systemctl is missing"), "{detail}");
    assert_eq!(check(&doc, "ps").0, "fail", "no ps on this PATH either");
}

#[test]
fn a_watcher_refused_by_macos_privacy_is_named_with_its_fix() {
    let env = Env::new("doc-tcc");
    fakes(&env, "yes", 0);
    fs::create_dir_all(env.home.join("watch")).unwrap();
    let status = "pid = 2147483000\nartifact = /Users/ana/Documents/run.jsonl\nstate = unreadable\n\
                  error = cannot open the artifact: operation not permitted: macOS privacy (TCC) denies it\n";
    fs::write(env.home.join("watch/0123456789abcdef.status"), status).unwrap();
    let (_, doc) = doctor(&env, &[]);
    let (r, detail, fix) = check(&doc, "privacy");
    assert!(r == "fail" && detail.contains("/Users/ana/Documents/run.jsonl"), "{detail}");
    assert!(fix.contains("Full Disk Access"), "{fix}");
}

#[test]
fn the_human_output_has_one_line_per_check_and_one_fix_per_problem() {
    let env = Env::new("doc-text");
    fakes(&env, "no", 0);
    let out = env.cmd(["doctor"]).env("BACH_TEST_ETC", env.root.join("etc")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("RESULT  CHECK"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("fail    daemon ")), "{text}");
    assert!(text.contains("\nfix daemon: bach daemon install"), "{text}");
}

#[cfg(target_os = "linux")]
fn listing(dir: &Path) -> Vec<String> {
    let mut all: Vec<String> = walk(dir).into_iter().map(|p| p.display().to_string()).collect();
    all.sort();
    all
}

#[cfg(target_os = "linux")]
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return vec![] };
    entries.flatten().flat_map(|e| [vec![e.path()], walk(&e.path())].concat()).collect()
}
