//! `daemon install` and `daemon uninstall` against fake `launchctl` and
//! `systemctl`, first on PATH, and the standby daemon that launchd runs.
//! Like the real ones, the fakes start the daemon when the job is loaded
//! and stop it (by the pid they recorded) when it is unloaded; they log
//! their arguments and exit with the codes a test queues (a line "bootstrap
//! gui 125" makes the next `bootstrap gui/…` exit 125; "bootstrap gui lie"
//! makes it exit 0 and load nothing).
//!
//! The fake `launchctl` answers as the real one is reported to (no Mac runs
//! these tests; the texts come from published transcripts of real runs):
//! `print gui/UID` fails (125) unless the test says a GUI session exists;
//! `bootstrap` into a missing GUI domain is 125, into a domain that already
//! has the job, or with a plist whose `LimitLoadToSessionType` lacks the
//! session (Aqua for gui, Background for user; none means Aqua), is 5
//! ("Input/output error": the real reason, 134, is only in the system log);
//! `bootout` of a job that is not loaded is 3; `print` of a missing job is
//! 113 "Could not find service". A loaded job runs its ProgramArguments with
//! its EnvironmentVariables and log paths, as launchd does: the real
//! `bach daemon run --standby`.

use crate::lifecycle::{FakeBach, Running};
use crate::util::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What both fakes share: the state folder, the queued exit code of this
/// call (used up), and stopping the daemon whose pid is in a file.
const COMMON: &str = r#"
s=@STATE@
queued() {
  [ -f "$s/codes" ] || return 0
  awk -v k="$1 " 'index($0, k) == 1 && !d { print $NF; d = 1 }' "$s/codes"
  awk -v k="$1 " 'index($0, k) == 1 && !d { d = 1; next } { print }' "$s/codes" > "$s/codes.new"
  mv "$s/codes.new" "$s/codes"
}
running() {
  [ -f "$1" ] && ps -o stat= -p "$(cat "$1")" 2>/dev/null | grep -qv Z
}
stop() {
  [ -f "$1" ] || return 0
  kill "$(cat "$1")" 2>/dev/null
  i=0; while running "$1" && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
  rm -f "$1"
}
"#;

const LAUNCHCTL: &str = r#"
echo "$*" >> "$s/launchctl.log"
py=@PYTHON@
verb=$1
case $verb in bootstrap) target=$2 ;; *) target=${2%/com.bach.daemon} ;; esac
kind=${target%%/*}
uid=${target#*/}
job="$s/job.$kind"
said() {
  case $1:$2 in
    bootstrap:5) printf '%s\n' "Bootstrap failed: 5: Input/output error" \
      "Try re-running the command as root for richer errors." ;;
    bootstrap:125) echo "Bootstrap failed: 125: Domain does not support specified action" ;;
    bootout:3) echo "Boot-out failed: 3: No such process" ;;
    bootout:36) echo "Boot-out failed: 36: Operation now in progress" ;;
    bootout:125) echo "Boot-out failed: 125: Domain does not support specified action" ;;
    print:113) [ "$kind" = gui ] && in="user gui: $uid" || in="uid: $uid"
      printf '%s\n' "Bad request." "Could not find service \"com.bach.daemon\" in domain for $in" ;;
    *) echo "$1 failed: $2" ;;
  esac
}
fail() { said "$verb" "$1" >&2; exit "$1"; }
if [ "$verb" = print ] && [ "$2" = "$target" ]; then
  [ "$kind" = user ] || [ -f "$s/gui-session" ] || {
    echo "Could not print domain: 125: Domain does not support specified action" >&2; exit 125; }
  printf '%s = {\n}\n' "$target"; exit 0
fi
code=$(queued "$verb $kind")
case $code in
  '' | 0) ;;
  lie) exit 0 ;;
  *) fail "$code" ;;
esac
[ "$kind" = user ] || [ -f "$s/gui-session" ] || fail 125
case $verb in
  enable) ;;
  bootstrap) [ ! -f "$job" ] || fail 5
    "$py" "$s/launchd.py" allows "$3" "$kind" || fail 5
    "$py" "$s/launchd.py" start "$3" "$job" ;;
  bootout) [ -f "$job" ] || fail 3; stop "$job" ;;
  print) [ -f "$job" ] || fail 113; printf '%s = {\n}\n' "$2" ;;
  *) exit 64 ;;
esac
"#;

/// What the fake `launchctl` asks of the plist: whether it may load in a
/// session (launchd.plist(5): without the key, an agent is Aqua only), and
/// starting its ProgramArguments the way launchd does.
const LAUNCHD_PY: &str = r#"
import os, plistlib, subprocess, sys
verb, path = sys.argv[1], sys.argv[2]
with open(path, 'rb') as f:
    job = plistlib.load(f)
if verb == 'allows':
    kinds = job.get('LimitLoadToSessionType', 'Aqua')
    kinds = [kinds] if isinstance(kinds, str) else kinds
    sys.exit(0 if {'gui': 'Aqua', 'user': 'Background'}[sys.argv[3]] in kinds else 1)
env = {'HOME': os.environ['HOME']}
env.update(job.get('EnvironmentVariables', {}))
out = lambda key: open(job.get(key, '/dev/null'), 'ab')
p = subprocess.Popen(job['ProgramArguments'], env=env, cwd='/', stdin=subprocess.DEVNULL,
                     stdout=out('StandardOutPath'), stderr=out('StandardErrorPath'),
                     umask=job.get('Umask', -1), start_new_session=True)
with open(sys.argv[3], 'w') as f:
    f.write(str(p.pid))
"#;

const SYSTEMCTL: &str = r#"
echo "$*" >> "$s/systemctl.log"
[ "$1" = --user ] || exit 64
code=$(queued "$2")
[ -z "$code" ] || [ "$code" = 0 ] || exit "$code"
unit="$HOME/.config/systemd/user/bach-daemon.service"
pid="$s/daemon.pid"
start() {
  sh -c "${BACH_DAEMON_CMD:-exec bach daemon run}" </dev/null >/dev/null 2>&1 &
  echo $! > "$pid"
}
case $2 in
  daemon-reload) ;;
  enable) [ -f "$unit" ] || exit 1; running "$pid" || start; touch "$s/enabled" ;;
  is-enabled) [ -f "$s/enabled" ] || exit 1 ;;
  disable) [ -f "$unit" ] || [ -f "$s/enabled" ] || exit 1; stop "$pid"; rm -f "$s/enabled" ;;
  *) exit 64 ;;
esac
"#;

/// The python3 the fakes run, by its absolute path (a test may give bach
/// a PATH as short as sshd's).
fn python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import os, sys; print(os.path.realpath(sys.executable))"])
        .output()
        .expect("python3 is on PATH");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A test's home with the fake service managers and a stand-in daemon.
/// The fake `launchctl` sees a GUI session until `headless`.
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
        env.script("launchctl", &format!("{common}{}", LAUNCHCTL.replace("@PYTHON@", &python())));
        env.script("systemctl", &format!("{common}{SYSTEMCTL}"));
        fs::write(state.join("launchd.py"), LAUNCHD_PY).unwrap();
        fs::write(state.join("gui-session"), "").unwrap();
        let fake = FakeBach::new(&env);
        Svc { env, state, fake }
    }

    /// No GUI session from now on, as over SSH to a Mac nobody logged into.
    fn headless(self) -> Svc {
        fs::remove_file(self.state.join("gui-session")).unwrap();
        self
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

    /// The PATH the service gets in these tests: bach's, plus the usual
    /// folders it lacks that exist on this machine.
    fn path(&self) -> String {
        let rest = std::env::var("PATH").unwrap_or_default();
        service_path(&format!("{}:{rest}", self.env.bin.display()))
    }

    /// Runs the fake `launchctl ARGS` as launchd itself would be asked to.
    fn launchctl(&self, args: &[&str]) -> Output {
        Command::new(self.env.bin.join("launchctl"))
            .args(args)
            .env("HOME", &self.env.user_home)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// The pid of the daemon launchd started for the job in `gui` or `user`.
    fn job_pid(&self, kind: &str) -> Option<i32> {
        let text = fs::read_to_string(self.state.join(format!("job.{kind}"))).ok()?;
        text.trim().parse().ok()
    }

    /// What the launchd jobs' daemons printed.
    fn launchd_out(&self) -> String {
        fs::read_to_string(self.env.home.join("logs/launchd.out")).unwrap_or_default()
    }
}

impl Drop for Svc {
    /// Ends the daemons launchd "started" that hold no lock (a standby one),
    /// by the pid the fake recorded, if `ps` still shows it as a daemon.
    fn drop(&mut self) {
        for kind in ["gui", "user"] {
            if let Some(pid) = self.job_pid(kind).filter(|&p| p > 1) {
                let out = Command::new("ps")
                    .args(["-o", "stat=,command=", "-p", &pid.to_string()])
                    .output()
                    .unwrap();
                let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if !line.starts_with('Z') && line.contains(" daemon run") {
                    let _ = bach::sys::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

/// `path` with the folders a Mac shell usually has appended when they
/// exist here and it lacks them (what `install` writes).
fn service_path(path: &str) -> String {
    let mut all: Vec<String> = path.split(':').map(String::from).collect();
    for dir in ["/opt/homebrew/bin", "/usr/local/bin"] {
        if Path::new(dir).is_dir() && !all.iter().any(|d| d == dir) {
            all.push(dir.into());
        }
    }
    all.join(":")
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

/// The steps that load the job in `domain`.
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

/// Every `launchctl` call of an install that tries `domains` in turn, each
/// with `extra` more bootstraps than one, and verifies with `print` where
/// `printed` says (the last domain always).
fn install_calls(t: &Svc, domains: &[(&str, usize, bool)]) -> Vec<String> {
    let mut want = bootouts();
    want.push(format!("print gui/{}", uid()));
    for &(domain, extra, printed) in domains {
        let domain = format!("{domain}/{}", uid());
        want.extend(launchd_calls(&domain, &t.plist()));
        want.extend(vec![format!("bootstrap {domain} {}", t.plist().display()); extra]);
        if printed {
            want.push(format!("print {domain}/com.bach.daemon"));
        }
    }
    want
}

const LAUNCHD: &[&str] = &["daemon", "install", "--service", "launchd"];
const SYSTEMD: &[&str] = &["daemon", "install", "--service", "systemd"];

#[test]
fn launchd_fresh_install_runs_the_exact_commands_and_starts_a_daemon() {
    let t = Svc::new("ld-fresh");
    let out = t.ok(LAUNCHD);
    assert_eq!(t.log("launchctl"), install_calls(&t, &[("gui", 0, true)]));
    let pid = t.holder().expect("a daemon holds daemon.lock");
    assert_eq!(t.job_pid("gui"), Some(pid), "the daemon is the job's ProgramArguments");
    assert_eq!(
        out,
        format!(
            "installed {}; daemon pid {pid}\nPATH of the daemon and its watchers: {}\n",
            t.plist().display(),
            t.path()
        )
    );
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
    assert_eq!(args, [BIN, "daemon", "run", "--standby"]);
    let sessions: Vec<_> = d["LimitLoadToSessionType"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_string().unwrap())
        .collect();
    assert_eq!(sessions, ["Aqua", "Background"]);
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
    assert_eq!(d.len(), 11);

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
         \"com.bach.daemon\", \"LimitLoadToSessionType\": [\"Aqua\", \"Background\"], \
         \"ProgramArguments\": [\"{BIN}\", \"daemon\", \"run\", \"--standby\"], \
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
    assert_eq!(t.log("launchctl"), install_calls(&t, &[("gui", 0, true)]));
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
fn launchd_without_a_gui_session_goes_straight_to_the_user_domain() {
    let t = Svc::new("ld-ssh").headless();
    let out = t.ok(LAUNCHD);
    // Not one gui step after `print gui/UID` failed: no enable, no bootstrap.
    assert_eq!(t.log("launchctl"), install_calls(&t, &[("user", 0, true)]));
    let user = format!("user/{}", uid());
    assert!(
        out.contains(&format!(
            "note: there is no GUI session (as over SSH), so the job runs in {user} until \
             reboot; the next GUI login loads it from the plist too"
        )),
        "{out}"
    );
    assert_eq!(t.holder(), t.job_pid("user"));
    assert!(t.holder().is_some());
}

#[test]
fn launchd_gui_steps_that_fail_fall_back_to_the_user_domain() {
    let u = uid();
    // The queued answer, how many of the gui steps ran, why gui failed
    // (PLIST stands for the plist's path).
    let cases = [
        // Used to abort the install.
        ("enable gui 1", 1, format!("'launchctl enable gui/{u}/com.bach.daemon' exited 1")),
        (
            "bootstrap gui 125",
            2,
            format!(
                "'launchctl bootstrap gui/{u} PLIST' exited 125: Bootstrap failed: 125: Domain \
                 does not support specified action)"
            ),
        ),
        // A headless Mac can answer 0 and load nothing: print tells.
        (
            "bootstrap gui lie",
            3,
            format!(
                "'launchctl print gui/{u}/com.bach.daemon' exited 113: Bad request. Could not \
                 find service \"com.bach.daemon\" in domain for user gui: {u})"
            ),
        ),
    ];
    for (codes, steps, reason) in cases {
        let t = Svc::new("ld-fallback");
        t.queue(codes);
        let out = t.ok(LAUNCHD);
        let mut want = install_calls(&t, &[("gui", 0, true)]);
        want.truncate(3 + steps);
        want.extend(install_calls(&t, &[("user", 0, true)]).split_off(3));
        assert_eq!(t.log("launchctl"), want, "{codes}");
        let note = format!("note: gui/{u} did not take the job (");
        assert!(out.contains(&note), "{codes}: {out}");
        let reason = reason.replace("PLIST", &t.plist().to_string_lossy());
        assert!(out.contains(&reason), "{codes}: {out}");
        assert!(out.contains(&format!("so the job runs in user/{u} until reboot")), "{out}");
        assert_eq!(t.holder(), t.job_pid("user"), "{codes}");
        assert!(t.holder().is_some(), "{codes}");
    }
}

#[test]
fn launchd_bootstrap_exit_5_is_retried_every_second_until_it_loads() {
    let t = Svc::new("ld-busy");
    for _ in 0..3 {
        t.queue("bootstrap gui 5");
    }
    let started = Instant::now();
    t.ok(LAUNCHD);
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(3) && took < Duration::from_secs(6), "{took:?}");
    assert_eq!(t.log("launchctl"), install_calls(&t, &[("gui", 3, true)]));
    assert_eq!(t.holder(), t.job_pid("gui"));
}

#[test]
fn launchd_bootstrap_exit_5_for_10_seconds_fails_in_the_user_domain() {
    let t = Svc::new("ld-busy-long").headless();
    for _ in 0..20 {
        t.queue("bootstrap user 5");
    }
    let started = Instant::now();
    let err = t.fails(LAUNCHD);
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(10) && took < Duration::from_secs(13), "{took:?}");
    let bootstraps = t.log("launchctl").iter().filter(|c| c.starts_with("bootstrap")).count();
    assert!((10..=12).contains(&bootstraps), "{bootstraps} bootstraps");
    let u = uid();
    assert!(
        err.ends_with(&format!(
            "bach: error: 'launchctl bootstrap user/{u} {}' exited 5: Bootstrap failed: 5: \
             Input/output error Try re-running the command as root for richer errors. \
             (every second for 10s)\n",
            t.plist().display()
        )),
        "{err}"
    );
}

#[test]
fn launchd_bootout_in_progress_is_waited_out() {
    let t = Svc::new("ld-bootout-36");
    t.queue("bootout gui 36");
    let started = Instant::now();
    t.ok(LAUNCHD);
    assert!(started.elapsed() >= Duration::from_secs(1));
    let mut want = install_calls(&t, &[("gui", 0, true)]);
    want.insert(1, want[0].clone());
    assert_eq!(t.log("launchctl"), want);
    assert_eq!(t.holder(), t.job_pid("gui"));
}

#[test]
fn the_fake_launchd_refuses_a_gui_only_plist_in_the_user_domain() {
    // Without this refusal the SSH test above would pass without the key.
    let t = Svc::new("ld-aqua-only").headless();
    fs::create_dir_all(t.env.home.join("logs")).unwrap();
    let user = format!("user/{}", uid());
    for (sessions, loads) in
        [(None, false), (Some(vec!["Aqua"]), false), (Some(vec!["Background"]), true)]
    {
        let home = t.env.home.to_str().unwrap();
        let mut job = plist::Dictionary::new();
        job.insert("Label".into(), "com.bach.daemon".into());
        let args = [BIN, "daemon", "run", "--standby"];
        job.insert("ProgramArguments".into(), args.map(plist::Value::from).to_vec().into());
        let env = plist::Dictionary::from_iter([("BACH_HOME", home)]);
        job.insert("EnvironmentVariables".into(), env.into());
        if let Some(s) = &sessions {
            job.insert(
                "LimitLoadToSessionType".into(),
                s.iter().map(|&k| plist::Value::from(k)).collect::<Vec<_>>().into(),
            );
        }
        let file = t.env.root.join("job.plist");
        plist::Value::from(job).to_file_xml(&file).unwrap();
        let out = t.launchctl(&["bootstrap", &user, file.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        match loads {
            false => {
                assert_eq!(out.status.code(), Some(5), "{sessions:?}: {err}");
                assert!(err.starts_with("Bootstrap failed: 5: Input/output error\n"), "{err}");
                assert_eq!(t.job_pid("user"), None);
            }
            true => {
                assert_eq!(out.status.code(), Some(0), "{sessions:?}: {err}");
                let pid = t.job_pid("user").expect("the job runs");
                wait_until("the job's daemon to take the lock", Duration::from_secs(5), || {
                    t.holder().filter(|&h| h == pid).ok_or(t.holder())
                });
            }
        }
    }
}

#[test]
fn a_job_loaded_in_both_domains_leaves_a_daemon_after_gui_logout() {
    let t = Svc::new("ld-both");
    t.ok(LAUNCHD);
    let first = t.job_pid("gui").unwrap();
    assert_eq!(t.holder(), Some(first));
    // An SSH login: launchd loads the same plist in the Background session.
    let user = format!("user/{}", uid());
    let out = t.launchctl(&["bootstrap", &user, t.plist().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let second = t.job_pid("user").unwrap();
    let standing = format!("bach daemon already running (pid {first}); standing by\n");
    wait_until("the second daemon to stand by", Duration::from_secs(5), || {
        let text = t.launchd_out();
        text.contains(&standing).then_some(()).ok_or(text)
    });
    assert_eq!(t.holder(), Some(first));
    // The GUI logout: launchd boots the gui job out.
    let gui = format!("gui/{}/com.bach.daemon", uid());
    assert!(t.launchctl(&["bootout", &gui]).status.success());
    let stopped = Instant::now();
    wait_until("the standby daemon to take over", Duration::from_secs(7), || {
        t.holder().filter(|&h| h == second).ok_or(t.holder())
    });
    assert!(stopped.elapsed() <= Duration::from_millis(5_500), "{:?}", stopped.elapsed());
}

#[test]
fn every_failed_install_names_the_command_and_prints_the_fallback() {
    let u = uid();
    let cases: &[(&[&str], bool, &str, String)] = &[
        (
            LAUNCHD,
            true,
            "enable user 1",
            format!("'launchctl enable user/{u}/com.bach.daemon' exited 1"),
        ),
        (
            LAUNCHD,
            false,
            "bootstrap gui 125\nbootstrap user 78",
            format!("'launchctl bootstrap user/{u} "),
        ),
        (
            LAUNCHD,
            false,
            "enable gui 1\nenable user 1",
            format!("'launchctl enable user/{u}/com.bach.daemon' exited 1"),
        ),
        (
            LAUNCHD,
            true,
            "print user 113",
            format!(
                "'launchctl print user/{u}/com.bach.daemon' exited 113: Bad request. Could not \
                 find service \"com.bach.daemon\" in domain for uid: {u}"
            ),
        ),
        (SYSTEMD, false, "daemon-reload 1", "'systemctl --user daemon-reload' exited 1".into()),
        (
            SYSTEMD,
            false,
            "enable 1",
            "'systemctl --user enable --now bach-daemon.service' exited 1".into(),
        ),
        (
            SYSTEMD,
            false,
            "is-enabled 1",
            "'systemctl --user is-enabled bach-daemon.service' exited 1".into(),
        ),
    ];
    for (args, headless, codes, reason) in cases {
        let t = Svc::new("fails");
        let t = if *headless { t.headless() } else { t };
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
    let (u, home) = (uid(), t.env.home.display());
    let commands = [
        "# bootout exit 36 and bootstrap exit 5 are retried every second for up to 10s".into(),
        format!("launchctl bootout gui/{u}/com.bach.daemon"),
        format!("launchctl bootout user/{u}/com.bach.daemon"),
        format!("# stop the daemon holding {home}/daemon.lock, if one runs"),
        format!("# the job goes to gui/{u} if this exits 0, else to user/{u} (as over SSH)"),
        format!("launchctl print gui/{u}"),
        format!(
            "# if a step fails in gui/{u}, or print does not find the job there: the same \
             steps in user/{u}"
        ),
        format!("launchctl enable gui/{u}/com.bach.daemon"),
        format!("launchctl bootstrap gui/{u} {}", t.plist().display()),
        format!("launchctl print gui/{u}/com.bach.daemon"),
    ];
    let printed = out.split("\n# commands:\n").nth(1).expect("a command list");
    assert_eq!(printed.lines().collect::<Vec<_>>(), commands, "{out}");
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

#[test]
fn install_under_sudo_is_refused_and_changes_nothing() {
    let t = Svc::new("sudo");
    let (u, caller) = (uid(), (uid() + 1).to_string());
    for args in [LAUNCHD, SYSTEMD] {
        let out = t.env.cmd(args).env("SUDO_UID", &caller).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", dump(args, &out));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "bach: error: refusing to install under sudo (uid {u}, SUDO_UID {caller}): the \
                 service runs as the user who installs it; run 'bach daemon install' as that \
                 user, without sudo\n"
            )
        );
        assert!(out.stdout.is_empty());
    }
    assert!(t.log("launchctl").is_empty() && t.log("systemctl").is_empty());
    assert!(!t.env.home.exists() && !t.plist().exists() && !t.unit().exists());
    // sudo by the same user (root's own sudo) installs as usual.
    let out = t.env.cmd(LAUNCHD).env("SUDO_UID", u.to_string()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", dump(LAUNCHD, &out));
    assert!(t.holder().is_some());
}

#[test]
fn install_over_ssh_adds_the_usual_folders_to_path_and_says_which_path() {
    let usual = ["/opt/homebrew/bin", "/usr/local/bin"];
    assert!(usual.iter().any(|d| Path::new(d).is_dir()), "this test needs one of {usual:?}");
    let t = Svc::new("ssh-path").headless();
    // sshd's PATH, with the fakes first.
    let sshd = format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", t.env.bin.display());
    let want = service_path(&sshd);
    assert_ne!(want, sshd);
    let out = t.env.cmd(LAUNCHD).env("PATH", &sshd).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", dump(LAUNCHD, &out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let said = format!("\nPATH of the daemon and its watchers: {want}\n");
    assert!(stdout.contains(&said), "{stdout}");
    let v = plist::Value::from_file(t.plist()).unwrap();
    let env = v.as_dictionary().unwrap()["EnvironmentVariables"].as_dictionary().unwrap();
    assert_eq!(env["PATH"].as_string(), Some(want.as_str()));
    let dry = SYSTEMD.iter().copied().chain(["--dry-run"]).collect::<Vec<_>>();
    let out = t.env.cmd(&dry).env("PATH", &sshd).output().unwrap();
    let unit = String::from_utf8(out.stdout).unwrap();
    assert!(unit.contains(&format!("\nEnvironment=\"PATH={want}\"\n")), "{unit}");
}

#[test]
fn install_writes_the_bach_found_on_path_not_the_versioned_file() {
    use std::os::unix::fs::symlink;
    let t = Svc::new("exe");
    let root = &t.env.root;
    // Homebrew's layout: bin/bach links to the versioned Cellar file.
    let cellar = root.join("Cellar/bach/0.1.0/bin");
    fs::create_dir_all(&cellar).unwrap();
    symlink(BIN, cellar.join("bach")).unwrap();
    let brew = root.join("brew");
    fs::create_dir_all(&brew).unwrap();
    symlink("../Cellar/bach/0.1.0/bin/bach", brew.join("bach")).unwrap();
    // An earlier `bach` that is another program is not this bach.
    let other = root.join("other");
    fs::create_dir_all(&other).unwrap();
    put_exe(&other.join("bach"), "#!/bin/sh\n");
    let rest = std::env::var("PATH").unwrap_or_default();
    let path =
        format!("{}:relative:{}:{}:{rest}", t.env.bin.display(), other.display(), brew.display());
    let run = |args: &[&str]| {
        let out = Command::new(cellar.join("bach"))
            .args(args)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", &t.env.user_home)
            .env("BACH_HOME", &t.env.home)
            .current_dir(root)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", dump(args, &out));
        String::from_utf8(out.stdout).unwrap()
    };
    run(LAUNCHD);
    let want = brew.join("bach").display().to_string();
    let v = plist::Value::from_file(t.plist()).unwrap();
    let args = v.as_dictionary().unwrap()["ProgramArguments"].as_array().unwrap().clone();
    assert_eq!(args[0].as_string(), Some(want.as_str()));
    assert_eq!(t.holder(), t.job_pid("gui"), "launchd runs that path");
    let unit = run(&["daemon", "install", "--dry-run", "--service", "systemd"]);
    assert!(unit.contains(&format!("\nExecStart=\"{want}\" daemon run\n")), "{unit}");
}

/// Waits until `child` has exited; its exit code.
fn exit_code(child: &mut Running, limit: Duration) -> Option<i32> {
    let status = wait_until("the daemon to exit", limit, || {
        child.0.try_wait().unwrap().ok_or("still running")
    });
    status.code()
}

/// A real `bach daemon run ARGS`, its stdout in `ARGS.out` in the test's folder.
fn daemon(env: &Env, args: &[&str], name: &str) -> (Running, PathBuf) {
    let out = env.root.join(format!("{name}.out"));
    let file = fs::File::create(&out).unwrap();
    let child = env.cmd(args).stdout(file).stderr(Stdio::null()).spawn().unwrap();
    (Running(child), out)
}

/// Starts a daemon and a standby one; returns both once the second waits.
fn daemon_and_standby(env: &Env) -> (Running, Running) {
    let (first, _) = daemon(env, &["daemon", "run"], "first");
    let pid = first.pid();
    let lock = env.home.join("daemon.lock");
    wait_until("the first daemon to take the lock", Duration::from_secs(5), || {
        bach::lock::holder(&lock).ok().flatten().filter(|&h| h == pid).ok_or("no")
    });
    let (second, out) = daemon(env, &["daemon", "run", "--standby"], "second");
    let want = format!("bach daemon already running (pid {pid}); standing by\n");
    wait_until("the second daemon to stand by", Duration::from_secs(5), || {
        let text = fs::read_to_string(&out).unwrap_or_default();
        (text == want).then_some(()).ok_or(text)
    });
    (first, second)
}

#[test]
fn a_standby_daemon_takes_over_within_5_seconds_when_the_other_ends() {
    let env = Env::new("standby");
    let (mut first, mut second) = daemon_and_standby(&env);
    let lock = env.home.join("daemon.lock");
    assert!(second.alive());
    assert_eq!(bach::lock::holder(&lock).unwrap(), Some(first.pid()));
    bach::sys::kill(first.pid(), libc::SIGTERM).unwrap();
    assert_eq!(exit_code(&mut first, Duration::from_secs(10)), Some(0));
    let ended = Instant::now();
    let pid = second.pid();
    wait_until("the standby daemon to take the lock", Duration::from_secs(7), || {
        bach::lock::holder(&lock).unwrap().filter(|&h| h == pid).ok_or("not yet")
    });
    assert!(ended.elapsed() <= Duration::from_secs(6), "took {:?}", ended.elapsed());
    // It logs its start a moment after it takes the lock.
    let started = format!("daemon pid {pid} started");
    wait_until("the standby daemon's start in its log", Duration::from_secs(2), || {
        let log = daemon_log(&env);
        log.contains(&started).then_some(()).ok_or(log)
    });
    bach::sys::kill(pid, libc::SIGTERM).unwrap();
    assert_eq!(exit_code(&mut second, Duration::from_secs(10)), Some(0));
}

#[test]
fn a_standby_daemon_exits_0_on_sigterm_or_sigint_while_it_waits() {
    let env = Env::new("standby-term");
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let (mut first, mut second) = daemon_and_standby(&env);
        bach::sys::kill(second.pid(), sig).unwrap();
        // It wakes at once, not at its next 5 s retry.
        assert_eq!(exit_code(&mut second, Duration::from_secs(2)), Some(0), "signal {sig}");
        assert!(first.alive());
        let lock = env.home.join("daemon.lock");
        assert_eq!(bach::lock::holder(&lock).unwrap(), Some(first.pid()));
        bach::sys::kill(first.pid(), libc::SIGTERM).unwrap();
        assert_eq!(exit_code(&mut first, Duration::from_secs(10)), Some(0));
    }
}

#[test]
fn without_standby_a_second_daemon_exits_0_at_once() {
    let env = Env::new("no-standby");
    let (mut first, _) = daemon(&env, &["daemon", "run"], "first");
    let lock = env.home.join("daemon.lock");
    let pid = first.pid();
    wait_until("the daemon to take the lock", Duration::from_secs(5), || {
        bach::lock::holder(&lock).ok().flatten().filter(|&h| h == pid).ok_or("no")
    });
    let out = env.run(&["daemon", "run"]);
    assert_eq!(out.status.code(), Some(0), "{}", dump(&["daemon", "run"], &out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("bach daemon already running (pid {pid})\n")
    );
    bach::sys::kill(pid, libc::SIGTERM).unwrap();
    assert_eq!(exit_code(&mut first, Duration::from_secs(10)), Some(0));
}
