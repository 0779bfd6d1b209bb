//! `daemon install` and `daemon uninstall` against fake `launchctl` and
//! `systemctl`, first on PATH. Like the real ones, the fakes start the
//! daemon when the job is loaded and stop it (by the pid they recorded) when
//! it is unloaded; they log their arguments and exit with the codes a test
//! queues (a line "bootstrap gui 125" makes the next `bootstrap gui/…` exit
//! 125).

use crate::lifecycle::{FakeBach, Running};
use crate::util::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// What both fakes share: the state folder, the queued exit code of this
/// call (used up), and starting and stopping the daemon.
const COMMON: &str = r#"
s=@STATE@
queued() {
  [ -f "$s/codes" ] || return 0
  awk -v k="$1 " 'index($0, k) == 1 && !d { print $NF; d = 1 }' "$s/codes"
  awk -v k="$1 " 'index($0, k) == 1 && !d { d = 1; next } { print }' "$s/codes" > "$s/codes.new"
  mv "$s/codes.new" "$s/codes"
}
running() {
  [ -f "$s/daemon.pid" ] && ps -o stat= -p "$(cat "$s/daemon.pid")" 2>/dev/null | grep -qv Z
}
start() {
  sh -c "${BACH_DAEMON_CMD:-exec bach daemon run}" </dev/null >/dev/null 2>&1 &
  echo $! > "$s/daemon.pid"
}
stop() {
  [ -f "$s/daemon.pid" ] || return 0
  kill "$(cat "$s/daemon.pid")" 2>/dev/null
  i=0; while running && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
  rm -f "$s/daemon.pid"
}
"#;

const LAUNCHCTL: &str = r#"
echo "$*" >> "$s/launchctl.log"
verb=$1
case $verb in bootstrap) target=$2 ;; *) target=${2%/com.bach.daemon} ;; esac
code=$(queued "$verb ${target%%/*}")
[ -z "$code" ] || [ "$code" = 0 ] || exit "$code"
loaded=$(cat "$s/loaded" 2>/dev/null)
case $verb in
  enable) ;;
  bootstrap) [ -z "$loaded" ] || exit 5; start; echo "$target" > "$s/loaded" ;;
  bootout) [ "$loaded" = "$target" ] || exit 3; stop; rm -f "$s/loaded" ;;
  print) [ "$loaded" = "$target" ] || exit 113 ;;
  *) exit 64 ;;
esac
"#;

const SYSTEMCTL: &str = r#"
echo "$*" >> "$s/systemctl.log"
[ "$1" = --user ] || exit 64
code=$(queued "$2")
[ -z "$code" ] || [ "$code" = 0 ] || exit "$code"
unit="$HOME/.config/systemd/user/bach-daemon.service"
case $2 in
  daemon-reload) ;;
  enable) [ -f "$unit" ] || exit 1; running || start; touch "$s/enabled" ;;
  is-enabled) [ -f "$s/enabled" ] || exit 1 ;;
  disable) [ -f "$unit" ] || [ -f "$s/enabled" ] || exit 1; stop; rm -f "$s/enabled" ;;
  *) exit 64 ;;
esac
"#;

/// A test's home with the fake service managers and a stand-in daemon.
struct Svc {
    env: Env,
    state: PathBuf,
    fake: FakeBach,
}

impl Svc {
    fn new(tag: &str) -> Svc {
        let env = Env::new(tag);
        let state = env.root.join("svc");
        fs::create_dir_all(&state).unwrap();
        let common = COMMON.replace("@STATE@", state.to_str().unwrap());
        env.script("launchctl", &format!("{common}{LAUNCHCTL}"));
        env.script("systemctl", &format!("{common}{SYSTEMCTL}"));
        let fake = FakeBach::new(&env);
        Svc { env, state, fake }
    }

    fn bach(&self, args: &[&str]) -> Output {
        let mut cmd = self.env.cmd(args);
        cmd.env("BACH_DAEMON_CMD", self.fake.daemon_cmd());
        cmd.output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.bach(args);
        assert_eq!(out.status.code(), Some(0), "{}", dump(args, &out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `args`, asserts exit 1 with the manual fallback; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.bach(args);
        assert_eq!(out.status.code(), Some(1), "{}", dump(args, &out));
        let err = String::from_utf8(out.stderr).unwrap();
        let home = self.env.home.display();
        assert!(
            err.contains(&format!(
                "\n  BACH_HOME={home} {BIN} daemon run\n\
                 bach: or in the background, to keep it running after you log out:\n  \
                 BACH_HOME={home} nohup {BIN} daemon run >/dev/null 2>&1 &\n"
            )),
            "no fallback in: {err}"
        );
        err
    }

    /// The next call `key` (e.g. "bootstrap gui") exits `code`.
    fn queue(&self, line: &str) {
        let path = self.state.join("codes");
        let mut text = fs::read_to_string(&path).unwrap_or_default();
        text.push_str(line);
        text.push('\n');
        fs::write(path, text).unwrap();
    }

    /// The arguments of every call of `tool`, one line per call.
    fn log(&self, tool: &str) -> Vec<String> {
        let text = fs::read_to_string(self.state.join(format!("{tool}.log")));
        text.unwrap_or_default().lines().map(String::from).collect()
    }

    fn forget_log(&self, tool: &str) {
        let _ = fs::remove_file(self.state.join(format!("{tool}.log")));
    }

    fn holder(&self) -> Option<i32> {
        bach::lock::holder(&self.env.home.join("daemon.lock")).unwrap()
    }

    fn plist(&self) -> PathBuf {
        self.env.user_home.join("Library/LaunchAgents/com.bach.daemon.plist")
    }

    fn unit(&self) -> PathBuf {
        self.env.user_home.join(".config/systemd/user/bach-daemon.service")
    }

    /// PATH as bach sees it in these tests.
    fn path(&self) -> String {
        let rest = std::env::var("PATH").unwrap_or_default();
        format!("{}:{rest}", self.env.bin.display())
    }
}

fn uid() -> u32 {
    bach::sys::getuid()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Whether `pid` is gone or a zombie (orphans may never be reaped here).
fn gone(pid: i32) -> bool {
    let out = std::process::Command::new("ps")
        .args(["-o", "stat=", "-p", &pid.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().starts_with('Z') || out.stdout.is_empty()
}

fn launchd_calls(domain: &str, plist: &Path) -> Vec<String> {
    vec![
        format!("enable {domain}/com.bach.daemon"),
        format!("bootstrap {domain} {}", plist.display()),
    ]
}

fn bootouts() -> Vec<String> {
    let u = uid();
    vec![format!("bootout gui/{u}/com.bach.daemon"), format!("bootout user/{u}/com.bach.daemon")]
}

const LAUNCHD: &[&str] = &["daemon", "install", "--service", "launchd"];
const SYSTEMD: &[&str] = &["daemon", "install", "--service", "systemd"];

#[test]
fn launchd_fresh_install_runs_the_exact_commands_and_starts_a_daemon() {
    let t = Svc::new("ld-fresh");
    let out = t.ok(LAUNCHD);
    let gui = format!("gui/{}", uid());
    let mut want = bootouts();
    want.extend(launchd_calls(&gui, &t.plist()));
    want.push(format!("print {gui}/com.bach.daemon"));
    assert_eq!(t.log("launchctl"), want);
    let pid = t.holder().expect("a daemon holds daemon.lock");
    assert_eq!(out, format!("installed {}; daemon pid {pid}\n", t.plist().display()));
    assert!(t.env.home.join("logs").is_dir());
    assert_eq!(mode(&t.plist()), 0o644);
}

#[test]
fn plist_parses_back_with_the_plist_crate_and_python_plistlib() {
    let t = Svc::new("ld-plist");
    t.ok(LAUNCHD);
    let home = t.env.home.display().to_string();
    let v = plist::Value::from_file(t.plist()).unwrap();
    let d = v.as_dictionary().unwrap();
    let s = |k: &str| d[k].as_string().unwrap().to_string();
    let args: Vec<_> =
        d["ProgramArguments"].as_array().unwrap().iter().map(|a| a.as_string().unwrap()).collect();
    assert_eq!(args, [BIN, "daemon", "run"]);
    assert_eq!(s("Label"), "com.bach.daemon");
    assert_eq!(d["RunAtLoad"].as_boolean(), Some(true));
    let keep = d["KeepAlive"].as_dictionary().unwrap();
    assert_eq!(keep["SuccessfulExit"].as_boolean(), Some(false));
    assert_eq!(d["ThrottleInterval"].as_signed_integer(), Some(10));
    assert_eq!(d["AbandonProcessGroup"].as_boolean(), Some(true));
    assert_eq!(d["Umask"].as_signed_integer(), Some(63));
    assert_eq!(s("StandardOutPath"), format!("{home}/logs/launchd.out"));
    assert_eq!(s("StandardErrorPath"), format!("{home}/logs/launchd.err"));
    let env = d["EnvironmentVariables"].as_dictionary().unwrap();
    assert_eq!(env["PATH"].as_string(), Some(t.path().as_str()));
    assert_eq!(env["BACH_HOME"].as_string(), Some(home.as_str()));
    assert_eq!(d.len(), 10);

    let prog = "import json, plistlib, sys\n\
                print(json.dumps(plistlib.load(open(sys.argv[1], 'rb')), sort_keys=True))";
    let out = std::process::Command::new("python3")
        .args(["-c", prog, t.plist().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want = format!(
        "{{\"AbandonProcessGroup\": true, \"EnvironmentVariables\": {{\"BACH_HOME\": \"{home}\", \
         \"PATH\": \"{}\"}}, \"KeepAlive\": {{\"SuccessfulExit\": false}}, \"Label\": \
         \"com.bach.daemon\", \"ProgramArguments\": [\"{BIN}\", \"daemon\", \"run\"], \
         \"RunAtLoad\": true, \"StandardErrorPath\": \"{home}/logs/launchd.err\", \
         \"StandardOutPath\": \"{home}/logs/launchd.out\", \"ThrottleInterval\": 10, \
         \"Umask\": 63}}\n",
        t.path()
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
}

#[test]
fn launchd_reinstall_gives_one_service_and_stops_the_old_daemon_first() {
    let t = Svc::new("ld-again");
    t.ok(LAUNCHD);
    let first = t.holder().unwrap();
    t.forget_log("launchctl");
    t.ok(LAUNCHD);
    let second = t.holder().unwrap();
    assert_ne!(first, second);
    assert!(gone(first), "the first daemon still runs");
    let gui = format!("gui/{}", uid());
    let mut want = bootouts();
    want.extend(launchd_calls(&gui, &t.plist()));
    want.push(format!("print {gui}/com.bach.daemon"));
    assert_eq!(t.log("launchctl"), want);
    let agents: Vec<_> = fs::read_dir(t.plist().parent().unwrap()).unwrap().collect();
    assert_eq!(agents.len(), 1, "one plist, no temporary file left");
}

#[test]
fn install_stops_a_daemon_started_by_hand_first() {
    let t = Svc::new("hand");
    let mut old = t.fake.daemon(&t.env, false);
    t.ok(SYSTEMD);
    assert_eq!(old.wait_exit(), Some(libc::SIGTERM));
    let new = t.holder().expect("the service's daemon holds the lock");
    assert_ne!(new, old.pid());
}

#[test]
fn install_never_signals_a_lock_holder_that_is_not_bach() {
    let t = Svc::new("hand-stranger");
    fs::create_dir_all(&t.env.home).unwrap();
    let mut other = crate::lifecycle::stranger(&t.env, &t.env.home.join("daemon.lock"));
    let err = t.fails(SYSTEMD);
    assert!(err.contains("not signalling it"), "{err}");
    assert!(other.alive());
    assert_eq!(t.log("systemctl"), ["--user daemon-reload"]);
}

#[test]
fn launchd_without_a_gui_session_loads_into_the_user_domain() {
    let t = Svc::new("ld-ssh");
    t.queue("bootstrap gui 125");
    let out = t.ok(LAUNCHD);
    let (gui, user) = (format!("gui/{}", uid()), format!("user/{}", uid()));
    let mut want = bootouts();
    want.extend(launchd_calls(&gui, &t.plist()));
    want.extend(launchd_calls(&user, &t.plist()));
    want.push(format!("print {user}/com.bach.daemon"));
    assert_eq!(t.log("launchctl"), want);
    assert!(out.contains(&format!("runs in {user} until reboot")), "{out}");
    assert!(out.contains("the next GUI login loads it"), "{out}");
    assert!(t.holder().is_some());
}

#[test]
fn launchd_bootstrap_error_5_is_retried_once_after_a_second() {
    let t = Svc::new("ld-busy");
    t.queue("bootstrap gui 5");
    let started = Instant::now();
    t.ok(LAUNCHD);
    assert!(started.elapsed() >= Duration::from_secs(1));
    let gui = format!("gui/{}", uid());
    let bootstrap = format!("bootstrap {gui} {}", t.plist().display());
    let calls = t.log("launchctl");
    assert_eq!(calls.iter().filter(|c| **c == bootstrap).count(), 2, "{calls:?}");
    assert_eq!(calls.last().unwrap(), &format!("print {gui}/com.bach.daemon"));
    assert!(t.holder().is_some());
}

#[test]
fn every_failed_install_names_the_command_and_prints_the_fallback() {
    let u = uid();
    let cases: &[(&[&str], &str, String)] = &[
        (LAUNCHD, "enable gui 1", format!("'launchctl enable gui/{u}/com.bach.daemon' exited 1")),
        (LAUNCHD, "bootstrap gui 5\nbootstrap gui 5", format!("'launchctl bootstrap gui/{u} ")),
        (
            LAUNCHD,
            "bootstrap gui 125\nbootstrap user 78",
            format!("'launchctl bootstrap user/{u} "),
        ),
        (LAUNCHD, "print gui 113", format!("'launchctl print gui/{u}/com.bach.daemon' exited 113")),
        (SYSTEMD, "daemon-reload 1", "'systemctl --user daemon-reload' exited 1".into()),
        (
            SYSTEMD,
            "enable 1",
            "'systemctl --user enable --now bach-daemon.service' exited 1".into(),
        ),
        (
            SYSTEMD,
            "is-enabled 1",
            "'systemctl --user is-enabled bach-daemon.service' exited 1".into(),
        ),
    ];
    for (args, codes, reason) in cases {
        let t = Svc::new("fails");
        t.queue(codes);
        let err = t.fails(args);
        let last = err.lines().last().unwrap();
        assert!(last.starts_with("bach: error: "), "{err}");
        assert!(last.contains(reason.as_str()), "{codes}: {err}");
    }
}

#[test]
fn install_without_the_tool_on_path_prints_the_fallback() {
    let t = Svc::new("no-tool");
    for (args, tool, first) in [
        (LAUNCHD, "launchctl", format!("launchctl bootout gui/{}/com.bach.daemon", uid())),
        (SYSTEMD, "systemctl", "systemctl --user daemon-reload".into()),
    ] {
        fs::remove_file(t.env.bin.join(tool)).unwrap();
        let out = t.env.cmd(args).env("PATH", &t.env.bin).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", dump(args, &out));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("nohup"), "{err}");
        let reason = format!("bach: error: cannot run '{first}': {tool} is not on PATH\n");
        assert!(err.ends_with(&reason), "{err}");
    }
}

#[test]
fn install_fails_when_no_daemon_takes_the_lock() {
    let t = Svc::new("no-daemon");
    let out = t.env.cmd(SYSTEMD).env("BACH_DAEMON_CMD", "exit 0").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", dump(SYSTEMD, &out));
    let err = String::from_utf8(out.stderr).unwrap();
    let lock = t.env.home.join("daemon.lock");
    assert!(err.contains(&format!("no daemon holds {} after 5s", lock.display())), "{err}");
    assert!(err.contains("nohup"), "{err}");
}

#[test]
fn systemd_install_writes_the_unit_enables_it_and_hints_at_linger() {
    let t = Svc::new("sd-fresh");
    let out = t.ok(SYSTEMD);
    assert_eq!(
        t.log("systemctl"),
        [
            "--user daemon-reload",
            "--user enable --now bach-daemon.service",
            "--user is-enabled bach-daemon.service"
        ]
    );
    let unit = fs::read_to_string(t.unit()).unwrap();
    let want = format!(
        "[Unit]\n\
         Description=bach daemon: keeps a watcher alive for every AI-coding session\n\
         StartLimitIntervalSec=0\n\n\
         [Service]\n\
         ExecStart=\"{BIN}\" daemon run\n\
         Environment=\"PATH={}\"\n\
         Environment=\"BACH_HOME={}\"\n\
         Restart=on-failure\nRestartSec=10\nUMask=0077\nKillMode=process\n\n\
         [Install]\nWantedBy=default.target\n",
        t.path(),
        t.env.home.display()
    );
    assert_eq!(unit, want);
    assert_eq!(mode(&t.unit()), 0o644);
    let pid = t.holder().expect("a daemon holds daemon.lock");
    assert!(out.contains(&format!("daemon pid {pid}")), "{out}");
    assert!(out.contains("loginctl enable-linger $USER"), "{out}");
}

/// Every path under `dir` with its size.
fn listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut all = Vec::new();
    for e in fs::read_dir(dir).unwrap().flatten() {
        let meta = fs::symlink_metadata(e.path()).unwrap();
        all.push((e.path(), meta.len()));
        if meta.is_dir() {
            all.extend(listing(&e.path()));
        }
    }
    all.sort();
    all
}

#[test]
fn dry_run_prints_the_file_and_the_commands_and_changes_nothing() {
    let t = Svc::new("dry");
    let mut daemon = t.fake.daemon(&t.env, false);
    let before = listing(&t.env.root);
    let out = t.ok(&["daemon", "install", "--dry-run", "--service", "launchd"]);
    assert!(out.contains("<key>ProgramArguments</key>"), "{out}");
    let bootstrap = format!("\nlaunchctl bootstrap gui/{} {}\n", uid(), t.plist().display());
    assert!(out.contains(&bootstrap), "{out}");
    let out = t.ok(&["daemon", "install", "--dry-run", "--service", "systemd"]);
    assert!(out.contains(&format!("\nExecStart=\"{BIN}\" daemon run\n")), "{out}");
    assert!(out.contains("\nsystemctl --user enable --now bach-daemon.service\n"), "{out}");
    assert_eq!(listing(&t.env.root), before);
    assert!(t.log("launchctl").is_empty() && t.log("systemctl").is_empty());
    assert!(daemon.alive(), "a dry run stopped the daemon");
}

#[test]
fn dry_run_creates_no_home_and_defaults_to_the_platforms_manager() {
    let t = Svc::new("dry-home");
    let out = t.ok(&["daemon", "install", "--dry-run"]);
    let tool = if cfg!(target_vendor = "apple") { "\nlaunchctl " } else { "\nsystemctl " };
    assert!(out.contains(tool), "{out}");
    assert!(!t.env.home.exists() && !t.env.user_home.join(".config").exists());
}

#[test]
fn launchd_uninstall_boots_out_both_domains_and_twice_is_fine() {
    let t = Svc::new("ld-uninstall");
    t.ok(LAUNCHD);
    t.forget_log("launchctl");
    let out = t.ok(&["daemon", "uninstall", "--service", "launchd"]);
    assert!(out.starts_with(&format!("uninstalled {}\n", t.plist().display())), "{out}");
    assert_eq!(t.log("launchctl"), bootouts());
    assert!(!t.plist().exists());
    assert_eq!(t.holder(), None);
    let out = t.ok(&["daemon", "uninstall", "--service", "launchd"]);
    assert!(out.starts_with("not installed"), "{out}");
}

#[test]
fn systemd_uninstall_disables_removes_reloads_and_twice_is_fine() {
    let t = Svc::new("sd-uninstall");
    t.ok(SYSTEMD);
    t.forget_log("systemctl");
    let out = t.ok(&["daemon", "uninstall", "--service", "systemd"]);
    assert!(out.starts_with(&format!("uninstalled {}\n", t.unit().display())), "{out}");
    assert_eq!(
        t.log("systemctl"),
        ["--user disable --now bach-daemon.service", "--user daemon-reload"]
    );
    assert!(!t.unit().exists());
    assert_eq!(t.holder(), None);
    let out = t.ok(&["daemon", "uninstall", "--service", "systemd"]);
    assert!(out.starts_with("not installed"), "{out}");
}

#[test]
fn uninstall_leaves_watchers_running_unless_asked() {
    let t = Svc::new("uninstall-watchers");
    let mut daemon = t.fake.daemon(&t.env, false);
    let artifact = t.env.artifact("s.jsonl");
    let key = t.env.key(&artifact);
    let lock = t.env.home.join("watch").join(format!("{key}.lock"));
    let args = ["internal", "session-watch", "--key", &key, &artifact];
    let mut watcher: Running = t.fake.start(&t.env, &args, &lock, false);
    let out = t.ok(&["daemon", "uninstall", "--service", "systemd"]);
    let pid = daemon.pid();
    assert!(out.contains(&format!("a daemon started by hand still runs (pid {pid})")), "{out}");
    assert!(watcher.alive() && daemon.alive());
    let out = t.ok(&["daemon", "uninstall", "--service", "systemd", "--watchers"]);
    assert!(out.contains(&format!("stopped the daemon started by hand (pid {pid})")), "{out}");
    assert!(out.contains("stopped 1 watcher\n"), "{out}");
    assert_eq!(watcher.wait_exit(), Some(libc::SIGTERM));
    assert_eq!(daemon.wait_exit(), Some(libc::SIGTERM));
}
