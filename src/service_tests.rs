//! Unit tests of `service`: the pure decisions of an install.

use super::*;

/// A setup for the pure renderers (also used by `launchd` and `systemd`).
pub fn setup(exe: &str, bach_home: bool) -> Setup {
    Setup {
        exe: exe.into(),
        home: "/h/.bach".into(),
        path: "/usr/bin:/bin".into(),
        bach_home: bach_home.then(|| "/h/.bach".into()),
        user_home: "/h".into(),
        uid: 501,
    }
}

#[test]
fn fallback_names_the_absolute_path_and_the_home() {
    let s = setup("/opt/my bin/bach", true);
    let text = fallback(Some(&s));
    assert!(text.contains("\n  BACH_HOME=/h/.bach '/opt/my bin/bach' daemon run\n"));
    assert!(text.contains(
        "\n  BACH_HOME=/h/.bach nohup '/opt/my bin/bach' daemon run >/dev/null 2>&1 &\n"
    ));
    assert!(fallback(None).contains("\n  bach daemon run\n"));
}

#[test]
fn install_under_sudo_or_as_root_on_a_mac_is_refused() {
    let sudo = "refusing to install under sudo (uid 0, SUDO_UID 501): the service runs as the \
                user who installs it; run 'bach daemon install' as that user, without sudo";
    let root = "refusing to install as root: a LaunchAgent runs in a user's own login session, \
                and root has none; run 'bach daemon install' as that user, without sudo";
    let cases: &[(u32, Option<&str>, bool, Option<&str>)] = &[
        (501, None, true, None),
        (501, Some("501"), true, None),
        (0, Some("501"), true, Some(sudo)),
        (0, Some("501"), false, Some(sudo)),
        (0, None, true, Some(root)),
        (0, Some("0"), true, Some(root)),
        // Root on Linux installs root's own user unit; sudo from root too.
        (0, None, false, None),
        (0, Some("0"), false, None),
        // `sudo -u bob` from alice: still not bob's own login.
        (
            1001,
            Some("1000"),
            false,
            Some("refusing to install under sudo (uid 1001, SUDO_UID 1000)"),
        ),
        (0, Some(""), false, Some("refusing to install under sudo (uid 0, SUDO_UID )")),
    ];
    for &(uid, sudo_uid, apple, want) in cases {
        let got = refusal(uid, sudo_uid, apple);
        match want {
            Some(w) => assert!(got.as_deref().is_some_and(|g| g.starts_with(w)), "{got:?}"),
            None => assert_eq!(got, None, "{uid} {sudo_uid:?} {apple}"),
        }
    }
}

#[test]
fn the_path_of_bach_is_the_first_path_entry_that_is_this_bach() {
    let this = ["/opt/homebrew/bin/bach", "/usr/local/bin/bach", "/x/bach"];
    let is_this = |p: &Path| this.contains(&p.to_str().unwrap());
    let cases: &[(&str, Option<&str>)] = &[
        ("/usr/bin:/opt/homebrew/bin:/usr/local/bin", Some("/opt/homebrew/bin/bach")),
        ("/usr/local/bin/:/opt/homebrew/bin", Some("/usr/local/bin/bach")),
        // Relative entries would write a path that depends on the folder.
        ("x:.::/x", Some("/x/bach")),
        ("/usr/bin:/bin", None),
        ("", None),
    ];
    for &(path, want) in cases {
        let got = crate::home::on_path(path, is_this);
        assert_eq!(got.as_deref().map(|p| p.to_str().unwrap()), want, "{path}");
    }
}

#[test]
fn the_usual_folders_are_appended_once_in_order() {
    let dirs = ["/opt/homebrew/bin", "/usr/local/bin"];
    let cases = [
        (
            "/usr/bin:/bin:/usr/sbin:/sbin",
            "/usr/bin:/bin:/usr/sbin:/sbin:/opt/homebrew/bin:/usr/local/bin",
        ),
        ("/usr/local/bin:/usr/bin", "/usr/local/bin:/usr/bin:/opt/homebrew/bin"),
        ("/opt/homebrew/bin:/usr/local/bin", "/opt/homebrew/bin:/usr/local/bin"),
        // A trailing slash is another spelling, left as the user wrote it.
        ("/usr/local/bin/", "/usr/local/bin/:/opt/homebrew/bin:/usr/local/bin"),
    ];
    for (path, want) in cases {
        assert_eq!(with_dirs(path, &dirs), want, "{path}");
    }
    assert_eq!(with_dirs("/usr/bin", &[]), "/usr/bin");
}
