//! systemd: a user unit and the `systemctl --user` sequence that enables and
//! starts it. `KillMode=process`: stopping the unit stops only the daemon,
//! and the watchers (in their own sessions) outlive it.

use super::{Ran, Runner, Setup};
use crate::error::Result;
use std::path::{Path, PathBuf};

/// The unit's name, which is also its file name.
pub const FILE: &str = "bach-daemon.service";
const SYSTEMCTL: &str = "systemctl";

/// Where the unit goes.
pub fn dir(s: &Setup) -> PathBuf {
    Path::new(&s.user_home).join(".config/systemd/user")
}

/// The unit file.
pub fn render(s: &Setup) -> String {
    let mut env = format!("Environment={}\n", quote(&format!("PATH={}", s.path), false));
    if let Some(home) = &s.bach_home {
        env += &format!("Environment={}\n", quote(&format!("BACH_HOME={home}"), false));
    }
    format!(
        "[Unit]\n\
         Description=bach daemon: keeps a watcher alive for every AI-coding session\n\
         StartLimitIntervalSec=0\n\
         \n\
         [Service]\n\
         ExecStart={} daemon run\n\
         {env}\
         Restart=on-failure\n\
         RestartSec=10\n\
         UMask=0077\n\
         KillMode=process\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        quote(&s.exe, true)
    )
}

/// A value as systemd reads it: in double quotes with `\` and `"` escaped,
/// `%` written `%%` (specifiers), and in a command line `$` written `$$`
/// (variable expansion). In `Environment=` a `$` has no special meaning
/// (systemd.exec(5)), so there it stays single: `$$` would stay `$$`.
pub fn quote(v: &str, command: bool) -> String {
    // `\` first, so that the `\` added before `"` is not doubled.
    let v = v.replace('\\', r"\\").replace('"', r#"\""#).replace('%', "%%");
    let v = if command { v.replace('$', "$$") } else { v };
    format!("\"{v}\"")
}

/// Loads the written unit: reloads systemd, stops a running daemon, enables
/// and starts the unit, and checks that systemd has it enabled. Returns
/// what to tell the user beyond "installed".
pub fn load(run: &Runner, s: &Setup) -> Result<String> {
    run.run(SYSTEMCTL, &["--user", "daemon-reload"])?.ok()?;
    run.stop_daemon(&s.home)?;
    run.run(SYSTEMCTL, &["--user", "enable", "--now", FILE])?.ok()?;
    run.run(SYSTEMCTL, &["--user", "is-enabled", FILE])?.ok()?;
    Ok("hint: to keep it running while you are logged out, and start it at boot: \
        loginctl enable-linger $USER"
        .into())
}

/// Disables and stops the unit, removes it and reloads systemd. Returns the
/// unit's path and whether it was there.
pub fn uninstall(run: &Runner, s: &Setup) -> Result<(PathBuf, bool)> {
    let unit = dir(s).join(FILE);
    let present = unit.symlink_metadata().is_ok();
    // With nothing installed, a failing or missing systemctl changes nothing.
    let needed = |r: Result<()>| if present { r } else { Ok(()) };
    needed(run.run(SYSTEMCTL, &["--user", "disable", "--now", FILE]).and_then(Ran::ok))?;
    super::remove(&unit)?;
    needed(run.run(SYSTEMCTL, &["--user", "daemon-reload"]).and_then(Ran::ok))?;
    Ok((unit, present))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_quotes_and_escapes_every_value() {
        let mut s = super::super::tests::setup("/opt/my 100% $bin/\"b\"\\bach", true);
        s.path = "/usr/bin:/x 50%/$p".into();
        let unit = render(&s);
        assert!(
            unit.contains("\nExecStart=\"/opt/my 100%% $$bin/\\\"b\\\"\\\\bach\" daemon run\n"),
            "{unit}"
        );
        assert!(unit.contains("\nEnvironment=\"PATH=/usr/bin:/x 50%%/$p\"\n"), "{unit}");
        assert!(unit.contains("\nEnvironment=\"BACH_HOME=/h/.bach\"\n"), "{unit}");
        for line in [
            "Restart=on-failure",
            "RestartSec=10",
            "StartLimitIntervalSec=0",
            "UMask=0077",
            "KillMode=process",
            "[Install]\nWantedBy=default.target",
        ] {
            assert!(unit.contains(&format!("\n{line}\n")), "{line} in {unit}");
        }
        let plain = render(&super::super::tests::setup("/b", false));
        assert!(!plain.contains("BACH_HOME"));
    }
}
