use super::*;

#[test]
fn key_value_lines_of_systemctl_and_loginctl_are_read() {
    let p = pairs("MainPID=4242\nActiveState=active\nnonsense\n Linger = yes \n");
    assert_eq!(value(&p, "MainPID"), Some("4242"));
    assert_eq!(value(&p, "Linger"), Some("yes"));
    assert_eq!(value(&p, "FragmentPath"), None);
}

#[test]
fn a_plist_is_judged_by_its_sessions_and_its_program() {
    let always = |_: &std::path::Path, _: &std::path::Path| true;
    let never = |_: &std::path::Path, _: &std::path::Path| false;
    let me = Some(std::path::Path::new("/opt/homebrew/bin/bach"));
    let both = ["Aqua", "Background"];
    assert_eq!(plist_verdict(Some("/opt/homebrew/bin/bach"), &both, me, always), None);
    let gui_only = plist_verdict(Some("/x/bach"), &["Aqua"], me, always).unwrap();
    assert!(gui_only.contains("not [Aqua, Background]"), "{gui_only}");
    assert!(plist_verdict(Some("/x/bach"), &[], me, always).is_some(), "no key: GUI only");
    let other = plist_verdict(Some("/old/bach"), &both, me, never).unwrap();
    assert_eq!(other, "the plist runs /old/bach, not this bach (/opt/homebrew/bin/bach)");
    assert!(plist_verdict(None, &both, me, always).is_some());
}

#[test]
fn launchctl_print_gives_the_jobs_pid() {
    let out = "gui/501/com.bach.daemon = {\n\tactive count = 1\n\tstate = running\n\tpid = 812\n}";
    assert_eq!(launchctl_pid(out), Some(812));
    assert_eq!(launchctl_pid("state = not running\n"), None);
}

#[cfg(target_os = "linux")]
#[test]
fn the_units_program_is_read_back_as_bach_quotes_it() {
    let unit = "[Service]\nExecStart=\"/opt/my 100%% $$bin/\\\"b\\\"\\\\bach\" daemon run\n";
    assert_eq!(platform::exec_start(unit).as_deref(), Some("/opt/my 100% $bin/\"b\"\\bach"));
    assert_eq!(platform::exec_start("[Service]\n"), None);
}

#[cfg(target_os = "linux")]
#[test]
fn kill_user_processes_takes_the_last_setting_of_conf_and_drop_ins() {
    let d = std::env::temp_dir().join(format!("bach-logind-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("logind.conf.d")).unwrap();
    let roots = [d.clone()];
    assert!(!platform::kill_user_processes(&roots), "nothing said: systemd's default, no");
    std::fs::write(
        d.join("logind.conf"),
        "[Login]\n#KillUserProcesses=yes\nKillUserProcesses=yes\n",
    )
    .unwrap();
    assert!(platform::kill_user_processes(&roots));
    std::fs::write(d.join("logind.conf.d/10-keep.conf"), "[Login]\nKillUserProcesses=no\n")
        .unwrap();
    assert!(!platform::kill_user_processes(&roots), "a drop-in overrides");
    std::fs::write(d.join("logind.conf.d/20-kill.conf"), "[Login]\nKillUserProcesses=yes\n")
        .unwrap();
    std::fs::write(d.join("logind.conf.d/30-ignored.txt"), "KillUserProcesses=no\n").unwrap();
    assert!(platform::kill_user_processes(&roots), "the last by name wins; only .conf counts");
    std::fs::remove_dir_all(d).unwrap();
}
