//! `daemon install` and `daemon uninstall`: the daemon as a launchd agent or
//! a systemd user unit. `--service` picks either on any OS (the default is
//! the platform's own); the files and command sequences live in `launchd`
//! and `systemd`, the flow they share lives here.
//!
//! Invariants: `--dry-run` prints the file and the commands and changes
//! nothing (no file, no folder, no command, no signal); every failure of an
//! install prints the manual fallback and exits 1 naming the failing
//! command (an install refused under sudo exits 1 without it, since it would
//! tell root to run a daemon of its own).

mod launchd;
mod systemd;

use crate::cli::Service;
use crate::cmd::lifecycle;
use crate::error::{reason, Error, Result};
use crate::home::Home;
use crate::text::{self, sh_quote};
use crate::{files, log, sys};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The service manager of this platform.
pub const DEFAULT: Service = match cfg!(target_vendor = "apple") {
    true => Service::Launchd,
    false => Service::Systemd,
};

/// How long a daemon of the new service gets to take `daemon.lock`.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an already running daemon gets to stop before an install.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Folders a Mac user's shell has on `PATH` and sshd's minimal `PATH`
/// (`/usr/bin:/bin:/usr/sbin:/sbin`) lacks: Homebrew on Apple silicon and
/// on Intel. The service's `PATH` gets those that exist.
const USUAL_DIRS: [&str; 2] = ["/opt/homebrew/bin", "/usr/local/bin"];

/// What a service file is made of.
pub struct Setup {
    /// The absolute path of this bach, as found on `PATH` (see `on_path`).
    pub exe: String,
    /// The home, resolved (in a dry run, as it would be).
    pub home: String,
    /// `PATH` now plus the `USUAL_DIRS` that exist, which the service gets
    /// (launchd's default lacks most).
    pub path: String,
    /// `Some(home)` when `BACH_HOME` is set, so the service uses that home.
    pub bach_home: Option<String>,
    /// The user's own home folder (`HOME`).
    pub user_home: String,
    /// Our uid, for launchd's domains.
    pub uid: u32,
}

/// `bach daemon install`
pub fn install(dry_run: bool, service: Option<Service>) -> Result<u8> {
    let sudo = std::env::var_os("SUDO_UID");
    let sudo = sudo.as_ref().map(|v| v.to_string_lossy());
    if let Some(why) = refusal(sys::getuid(), sudo.as_deref(), cfg!(target_vendor = "apple")) {
        // No fallback: it would tell root to run a daemon of root's own.
        return Err(Error::fail(why));
    }
    let s = setup(dry_run).inspect_err(|_| log::stderr(&fallback(None)))?;
    install_as(service.unwrap_or(DEFAULT), &s, &Runner { dry: dry_run })
        .inspect_err(|_| log::stderr(&fallback(Some(&s))))
}

fn install_as(service: Service, s: &Setup, run: &Runner) -> Result<u8> {
    let (dir, name, contents) = match service {
        Service::Launchd => (launchd::dir(s), launchd::FILE, launchd::render(s)?),
        Service::Systemd => (systemd::dir(s), systemd::FILE, systemd::render(s)),
    };
    let file = dir.join(name);
    if run.dry {
        say!("# {} (mode 0644):\n{contents}# commands:", file.display());
    } else {
        files::ensure_dir(&Path::new(&s.home).join("logs"))?;
        files::ensure_dir(&dir)?;
        files::write_atomic_mode(&dir, name, contents.as_bytes(), true, 0o644)?;
    }
    let said = match service {
        Service::Launchd => launchd::load(run, s, &file)?,
        Service::Systemd => systemd::load(run, s)?,
    };
    if run.dry {
        return Ok(0);
    }
    let pid = wait_for_daemon(s, service)?;
    say!("installed {}; daemon pid {pid}", file.display());
    say!("PATH of the daemon and its watchers: {}", s.path);
    if !said.is_empty() {
        say!("{said}");
    }
    Ok(0)
}

/// `bach daemon uninstall`
pub fn uninstall(service: Option<Service>, watchers: bool) -> Result<u8> {
    let s = setup(false)?;
    let run = Runner { dry: false };
    let (file, present) = match service.unwrap_or(DEFAULT) {
        Service::Launchd => launchd::uninstall(&run, &s)?,
        Service::Systemd => systemd::uninstall(&run, &s)?,
    };
    match present {
        true => say!("uninstalled {}", file.display()),
        false => say!("not installed ({} does not exist)", file.display()),
    }
    let home = Home::at(s.home.clone().into());
    if watchers {
        // A daemon still running would start the watchers again.
        if let lifecycle::StopOutcome::Stopped(pid) = run.stop_daemon(&s.home)? {
            say!("stopped the daemon started by hand (pid {pid})");
        }
        let n = lifecycle::retire_watchers(&home)?;
        say!("stopped {n} watcher{}", if n == 1 { "" } else { "s" });
    } else if let Some(pid) = lifecycle::daemon_pid(&home) {
        say!("note: a daemon started by hand still runs (pid {pid}); bach daemon stop stops it");
    }
    Ok(0)
}

/// Gathers what the service files need. A dry run neither creates nor
/// resolves the home (it must change nothing).
fn setup(dry: bool) -> Result<Setup> {
    let home = match dry {
        true => crate::home::locate().map(|p| std::fs::canonicalize(&p).unwrap_or(p))?,
        false => Home::open()?.path().to_path_buf(),
    };
    let exe = crate::home::exe()?;
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let user_home = var("HOME").ok_or_else(|| Error::fail("HOME is not set"))?;
    let path = var("PATH").unwrap_or_else(|| "/usr/bin:/bin:/usr/sbin:/sbin".into());
    let path = plain("PATH", &path)?;
    let exe = crate::home::named_on(&path, exe);
    let usual = USUAL_DIRS.into_iter().filter(|d| Path::new(d).is_dir());
    let home = plain("the home", home.as_os_str())?;
    Ok(Setup {
        exe: plain("the path of bach", exe.as_os_str())?,
        bach_home: var("BACH_HOME").map(|_| home.clone()),
        home,
        path: with_dirs(&path, &usual.collect::<Vec<_>>()),
        user_home: plain("HOME", &user_home)?,
        uid: sys::getuid(),
    })
}

/// Why `install` refuses, if it does. A LaunchAgent and a systemd user unit
/// belong to one user and are installed by that user: under `sudo` (which
/// sets `SUDO_UID` to the caller) the service would be root's, with root's
/// home, so any `SUDO_UID` other than our own uid is refused. On macOS uid 0
/// is refused outright: root has no login session (`gui/0`) for an agent.
/// Root on Linux without sudo (a root login, `su -`, a container) may
/// install root's own user unit.
fn refusal(uid: u32, sudo_uid: Option<&str>, apple: bool) -> Option<String> {
    let fix = "run 'bach daemon install' as that user, without sudo";
    match sudo_uid {
        Some(caller) if caller != uid.to_string() => Some(format!(
            "refusing to install under sudo (uid {uid}, SUDO_UID {}): the service runs \
             as the user who installs it; {fix}",
            text::escape(caller)
        )),
        _ if apple && uid == 0 => Some(format!(
            "refusing to install as root: a LaunchAgent runs in a user's own login session, \
             and root has none; {fix}"
        )),
        _ => None,
    }
}

/// `path` with each of `dirs` that it lacks appended, in order.
fn with_dirs(path: &str, dirs: &[&str]) -> String {
    let mut all: Vec<&str> = path.split(':').collect();
    for d in dirs {
        if !all.contains(d) {
            all.push(d);
        }
    }
    all.join(":")
}

/// A value for a service file: UTF-8 without control characters, which
/// neither a plist nor a unit file can carry as they are.
fn plain(what: &str, v: &std::ffi::OsStr) -> Result<String> {
    match v.to_str() {
        Some(s) if !text::has_control(s) => Ok(s.to_string()),
        _ => Err(Error::fail(format!(
            "{what} ({}) must be UTF-8 without control characters",
            text::escape(&v.to_string_lossy())
        ))),
    }
}

/// Waits until a daemon holds `daemon.lock`: the service really runs.
fn wait_for_daemon(s: &Setup, service: Service) -> Result<i32> {
    let home = Home::at(s.home.clone().into());
    let deadline = Instant::now() + START_TIMEOUT;
    while lifecycle::daemon_pid(&home).is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    lifecycle::daemon_pid(&home).ok_or_else(|| {
        let see = match service {
            Service::Launchd => format!("{}/logs/launchd.err", s.home),
            Service::Systemd => "journalctl --user -u bach-daemon.service".into(),
        };
        Error::fail(format!(
            "the service is loaded but no daemon holds {}/daemon.lock after {}s (see {see})",
            s.home,
            START_TIMEOUT.as_secs()
        ))
    })
}

/// What to do by hand when the service cannot be installed.
fn fallback(s: Option<&Setup>) -> String {
    let exe = s.map_or("bach".into(), |s| sh_quote(&s.exe));
    let env = match s.and_then(|s| s.bach_home.as_deref()) {
        Some(h) => format!("BACH_HOME={} ", sh_quote(h)),
        None => String::new(),
    };
    format!(
        "bach: run the daemon yourself instead, in the foreground:\n  \
         {env}{exe} daemon run\n\
         bach: or in the background, to keep it running after you log out:\n  \
         {env}nohup {exe} daemon run >/dev/null 2>&1 &\n"
    )
}

/// Runs the service manager's commands; in a dry run only prints them, as
/// if each exited 0.
pub struct Runner {
    dry: bool,
}

/// A command that ran to its exit.
pub struct Ran {
    /// Its exit status.
    pub code: i32,
    /// What to say unless it is 0: "'COMMAND' exited N: its first lines of output".
    failure: String,
}

impl Ran {
    /// Ok when it exited 0, else its failure.
    pub fn ok(self) -> Result<()> {
        match self.code {
            0 => Ok(()),
            _ => Err(Error::fail(self.failure)),
        }
    }
}

impl Runner {
    /// Runs `tool args` (found on PATH) to its exit, whatever its status,
    /// with stdin from /dev/null so that it never waits for us.
    pub fn run(&self, tool: &str, args: &[&str]) -> Result<Ran> {
        let line = args.iter().fold(sh_quote(tool).into_owned(), |l, a| l + " " + &sh_quote(a));
        if self.dry {
            say!("{line}");
            return Ok(Ran { code: 0, failure: String::new() });
        }
        let out = Command::new(tool).args(args).stdin(Stdio::null()).output().map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => format!("{tool} is not on PATH"),
                _ => reason(&e),
            };
            Error::fail(format!("cannot run '{line}': {why}"))
        })?;
        let Some(code) = out.status.code() else {
            return Err(Error::fail(format!("'{line}' was killed by a signal")));
        };
        // launchctl's first line can be a bare "Bad request.": keep three.
        let output = String::from_utf8_lossy(&[out.stderr, out.stdout].concat()).into_owned();
        let lines: Vec<_> = output.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let said = match lines.len() {
            0 => String::new(),
            n => format!(": {}", text::escape(&lines[..n.min(3)].join(" "))),
        };
        Ok(Ran { code, failure: format!("'{line}' exited {code}{said}") })
    }

    /// Says what happens between commands; in a dry run as a `#` comment.
    pub fn note(&self, what: &str) {
        if self.dry {
            say!("# {what}");
        }
    }

    /// Stops a daemon that runs already (by hand, or the old service's),
    /// between unloading and loading: a hand-started one would keep the
    /// service's instance from starting.
    pub fn stop_daemon(&self, home: &str) -> Result<lifecycle::StopOutcome> {
        self.note(&format!("stop the daemon holding {home}/daemon.lock, if one runs"));
        if self.dry {
            return Ok(lifecycle::StopOutcome::NotRunning);
        }
        match lifecycle::stop_daemon(&Home::at(home.into()), STOP_TIMEOUT)? {
            lifecycle::StopOutcome::TimedOut(pid) => Err(Error::fail(format!(
                "the running daemon (pid {pid}) did not stop within {}s; \
                 stop it (kill -KILL {pid}) and install again",
                STOP_TIMEOUT.as_secs()
            ))),
            done => Ok(done),
        }
    }
}

/// Removes a service file; none there is fine.
fn remove(file: &Path) -> Result<()> {
    match std::fs::remove_file(file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", file, &e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
