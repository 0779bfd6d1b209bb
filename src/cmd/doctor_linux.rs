//! The Linux checks of `bach doctor`: the systemd user unit and whether its
//! instance is the running daemon, linger and logind's KillUserProcesses
//! (what kills an SSH login's processes at logout), and watchers that run
//! outside the daemon's cgroup (they die with the session that started them).

use super::{ask, pairs, same_file, value, Check, Setup};
use std::path::{Path, PathBuf};

/// What to do when `ps` cannot be read.
pub const PS_FIX: &str =
    "install procps (apt install procps): busybox ps lacks the options bach needs";

/// Where logind's configuration lives, in the order systemd reads it (later
/// wins): `BACH_TEST_ETC` (for tests only) stands in for all three.
fn logind_roots() -> Vec<PathBuf> {
    match std::env::var_os("BACH_TEST_ETC") {
        Some(d) => vec![PathBuf::from(d)],
        None => ["/usr/lib/systemd", "/run/systemd", "/etc/systemd"].map(PathBuf::from).to_vec(),
    }
}

/// The Linux checks.
pub fn checks(s: &Setup) -> Vec<Check> {
    // loginctl takes a uid as well as a name, and a uid is never unset.
    let user = crate::sys::getuid().to_string();
    let kill = kill_user_processes(&logind_roots());
    vec![service(s), linger(&user, kill), logind(kill), cgroup(s)]
}

/// The unit exists, names this bach, and its instance is the running daemon.
fn service(s: &Setup) -> Check {
    let unit = unit_path();
    let Some(text) = unit.as_deref().and_then(|u| std::fs::read_to_string(u).ok()) else {
        return Check::warn("service", "no systemd user unit is installed", "bach daemon install");
    };
    if let (Some(exec), Ok(me)) = (exec_start(&text), crate::home::exe()) {
        if !same_file(Path::new(&exec), &me) {
            let detail = format!("the unit runs {exec}, not this bach ({})", me.display());
            return Check::warn("service", detail, "bach daemon install");
        }
    }
    let args = ["--user", "show", "bach-daemon.service", "-p", "MainPID", "-p", "ActiveState"];
    let Some((_, out)) = ask("systemctl", &args) else {
        return Check::warn(
            "service",
            "systemctl is missing or hangs: the unit's state is unknown",
            "",
        );
    };
    let p = pairs(&out);
    let main: Option<i32> = value(&p, "MainPID").and_then(|v| v.parse().ok()).filter(|&v| v > 0);
    match (s.daemon, main) {
        (Some(d), Some(m)) if d == m => Check::ok("service", format!("the unit's instance (pid {d}) runs")),
        (Some(d), _) => Check::warn(
            "service",
            format!("the daemon (pid {d}) was started by hand: the unit's instance cannot start"),
            "bach daemon stop && systemctl --user start bach-daemon.service",
        ),
        (None, _) => Check::fail(
            "service",
            format!("the unit is {}", value(&p, "ActiveState").unwrap_or("unknown")),
            "systemctl --user restart bach-daemon.service; journalctl --user -u bach-daemon.service",
        ),
    }
}

fn unit_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    Some(Path::new(&home).join(".config/systemd/user/bach-daemon.service"))
}

/// The program of the unit's `ExecStart=` (quoted as bach writes it).
pub fn exec_start(unit: &str) -> Option<String> {
    let line = unit.lines().find_map(|l| l.strip_prefix("ExecStart="))?;
    let quoted = line.strip_prefix('"')?;
    let end = quoted.find("\" ")?;
    Some(
        quoted[..end]
            .replace("\\\"", "\"")
            .replace("\\\\", "\\")
            .replace("%%", "%")
            .replace("$$", "$"),
    )
}

/// Linger: without it, the user's service manager (and the daemon) stops
/// at the last logout.
fn linger(user: &str, kill: bool) -> Check {
    let Some((_, out)) = ask("loginctl", &["show-user", user, "-p", "Linger"]) else {
        return Check::warn(
            "linger",
            "loginctl is missing or hangs: linger could not be checked",
            "",
        );
    };
    match value(&pairs(&out), "Linger") {
        Some("yes") => {
            Check::ok("linger", format!("on for {user}: the daemon outlives your logins"))
        }
        found => {
            let detail = format!(
                "off for {user} (Linger={}): the daemon stops at your last logout",
                found.unwrap_or("?")
            );
            let fix = format!("loginctl enable-linger {user}");
            match kill {
                true => Check::fail("linger", detail, fix),
                false => Check::warn("linger", detail, fix),
            }
        }
    }
}

fn logind(kill: bool) -> Check {
    match kill {
        false => Check::ok("logind", "KillUserProcesses is off"),
        true => Check::warn(
            "logind",
            "KillUserProcesses=yes: logging out kills what your login started, watchers from \
             'sessions start' without a daemon included",
            "let the daemon start watchers (bach daemon install), or KillUserProcesses=no in logind.conf",
        ),
    }
}

/// Whether logind kills a session's processes at logout: the last
/// `KillUserProcesses=` of `logind.conf` and its drop-ins (sorted by name).
pub fn kill_user_processes(roots: &[PathBuf]) -> bool {
    let mut files: Vec<PathBuf> = roots.iter().map(|r| r.join("logind.conf")).collect();
    let mut dropins: Vec<PathBuf> = roots
        .iter()
        .filter_map(|r| std::fs::read_dir(r.join("logind.conf.d")).ok())
        .flat_map(|d| d.flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    dropins.sort_by_key(|p| p.file_name().map(|n| n.to_owned()));
    files.extend(dropins);
    let setting = |t: &str| {
        let lines = t.lines().map(str::trim).filter(|l| !l.starts_with('#'));
        lines
            .filter_map(|l| l.strip_prefix("KillUserProcesses="))
            .next_back()
            .map(|v| v.trim() == "yes")
    };
    // Read in order, the last setting wins.
    let said =
        files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).filter_map(|t| setting(&t));
    said.fold(false, |_, kill| kill)
}

/// Watchers outside the daemon's cgroup die with the login that started them.
fn cgroup(s: &Setup) -> Check {
    let Some(daemon) = s.daemon else {
        return Check::warn(
            "cgroup",
            "no daemon: watchers' cgroups not compared",
            "bach daemon install",
        );
    };
    let group = |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok();
    let Some(ours) = group(daemon) else {
        return Check::warn("cgroup", "the daemon's cgroup cannot be read", "");
    };
    let keys = std::fs::read_dir(s.home.watch()).into_iter().flatten().flatten();
    let holders = keys.filter_map(|e| {
        let name = e.file_name().into_string().ok()?;
        crate::lock::holder(&s.home.lock(name.strip_suffix(".lock")?)).ok().flatten()
    });
    let outside = holders.filter(|&pid| group(pid).is_some_and(|g| g != ours)).count();
    match outside {
        0 => Check::ok("cgroup", "every watcher runs in the daemon's cgroup"),
        n => Check::warn(
            "cgroup",
            format!("{n} watcher(s) run outside the daemon's cgroup: a logout may end them"),
            "bach daemon stop --watchers, then start the daemon again: it starts them inside",
        ),
    }
}
