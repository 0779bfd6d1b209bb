use super::*;

fn parse_args(args: &[&str]) -> Result<Command> {
    parse(args.iter().map(OsString::from))
}

fn err(args: &[&str]) -> (u8, String) {
    let e = parse_args(args).unwrap_err();
    (e.code(), e.to_string())
}

#[test]
fn show_and_wait_refuse_what_they_cannot_use() {
    let cases: [(&[&str], &str); 7] = [
        (&["sessions", "show"], "missing session ID for 'sessions show'"),
        (&["sessions", "show", "a", "b"], "unexpected argument \"b\""),
        (&["sessions", "wait", "--until", "idle"], "--until names unknown state 'idle' (choose from needs_you, stalled, turn_done, working, tool, gone, ended)"),
        (&["sessions", "wait", "--timeout", "31536001"], "--timeout must be at most 31536000 seconds"),
        (&["sessions", "wait", "--now", "--after", "v1"], "--now and --after cannot be given together"),
        (&["sessions", "wait", "--after", "v1,x"], "invalid cursor 'v1,x' (pass one that sessions wait printed)"),
        (&["sessions", "wait", "--all"], "invalid option '--all'"),
    ];
    for (args, want) in cases {
        assert_eq!(err(args), (2, want.to_string()), "{args:?}");
    }
}

#[test]
fn every_command_parses() {
    let ok = |args: &[&str], want: Command| assert_eq!(parse_args(args).unwrap(), want, "{args:?}");
    ok(
        &["tasks", "add", "--id", "t1", "Fix", "it"],
        Command::TaskAdd { id: Some("t1".into()), dir: None, title: "Fix it".into() },
    );
    ok(
        &["tasks", "add", "--dir", "../a b", "Fix"],
        Command::TaskAdd { id: None, dir: Some("../a b".into()), title: "Fix".into() },
    );
    ok(&["sessions", "discover"], Command::SessionDiscover { dry_run: false, json: false });
    ok(
        &["sessions", "discover", "--dry-run", "--json"],
        Command::SessionDiscover { dry_run: true, json: true },
    );
    let hook = |task: Option<&str>, print_config| {
        Command::Hook(Ok(Hook { task: task.map(String::from), print_config }))
    };
    ok(&["hook", "claude"], hook(None, false));
    ok(&["hook", "claude", "--task", "t1", "--print-config"], hook(Some("t1"), true));
    ok(&["hook", "--help"], Command::Help(Topic::Hook));
    ok(&["hook", "claude", "-h"], Command::Help(Topic::Hook));
    ok(&["help", "hook"], Command::Help(Topic::Hook));
    ok(&["tasks", "done", "t1"], Command::TaskSet { id: "t1".into(), verb: TaskVerb::Done });
    ok(&["tasks", "reopen", "t1"], Command::TaskSet { id: "t1".into(), verb: TaskVerb::Reopen });
    ok(&["tasks", "list", "--json"], Command::TaskList { json: true });
    ok(
        &[
            "sessions",
            "start",
            "--artifact",
            "a b.jsonl",
            "--task",
            "t1",
            "--pid",
            "42",
            "--id",
            "s1",
            "--no-watch",
        ],
        Command::SessionStart {
            artifact: "a b.jsonl".into(),
            task: Some("t1".into()),
            pid: Some(42),
            id: Some("s1".into()),
            no_watch: true,
        },
    );
    ok(&["sessions", "end", "s1"], Command::SessionEnd { id: "s1".into() });
    ok(&["sessions", "list"], Command::SessionList { json: false });
    ok(&["sessions", "show", "s1", "--json"], Command::SessionShow { id: "s1".into(), json: true });
    let wait =
        |ids: &[&str], until: &str, timeout, now, after: Option<&str>, json| Command::SessionWait {
            ids: ids.iter().map(|s| s.to_string()).collect(),
            until: crate::cursor::States::parse(until).unwrap(),
            timeout,
            now,
            after: after.map(|c| crate::cursor::parse(c).unwrap()),
            json,
        };
    let default = "needs_you,turn_done,stalled,gone";
    ok(&["sessions", "wait"], wait(&[], default, None, false, None, false));
    ok(
        &[
            "sessions",
            "wait",
            "s1",
            "s2",
            "--until",
            "ended,tool",
            "--timeout",
            "5",
            "--now",
            "--json",
        ],
        wait(&["s1", "s2"], "ended,tool", Some(5), true, None, true),
    );
    ok(
        &["sessions", "wait", "--after", "v1,s1:turn_done:17"],
        wait(&[], default, None, false, Some("v1,s1:turn_done:17"), false),
    );
    ok(&["daemon", "run"], Command::DaemonRun { standby: false });
    ok(&["daemon", "run", "--standby"], Command::DaemonRun { standby: true });
    ok(&["daemon", "status", "--json"], Command::DaemonStatus { json: true });
    ok(
        &["daemon", "stop", "--timeout", "3", "--watchers"],
        Command::DaemonStop { timeout: 3, watchers: true },
    );
    ok(
        &["daemon", "install", "--dry-run", "--service", "systemd"],
        Command::DaemonInstall { dry_run: true, service: Some(Service::Systemd) },
    );
    ok(
        &["daemon", "uninstall", "--service=launchd", "--watchers"],
        Command::DaemonUninstall { service: Some(Service::Launchd), watchers: true },
    );
    ok(&["daemon", "logs", "-n", "5"], Command::DaemonLogs { lines: 5, follow: false });
    ok(&["daemon", "logs"], Command::DaemonLogs { lines: 20, follow: false });
    ok(&["daemon", "logs", "-f", "-n", "3"], Command::DaemonLogs { lines: 3, follow: true });
    ok(&["daemon", "logs", "--follow"], Command::DaemonLogs { lines: 20, follow: true });
    ok(
        &["internal", "session-watch", "--key", "0123456789abcdef", "/a"],
        Command::Watch { key: Some("0123456789abcdef".into()), artifact: "/a".into() },
    );
    ok(&["-V"], Command::Version);
    ok(&["help", "sessions"], Command::Help(Topic::Sessions));
}

#[test]
fn usage_errors_name_the_culprit() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "missing command (try 'bach help')"),
        (&["frobnicate"], "unknown command 'frobnicate' (try 'bach help')"),
        (&["tasks"], "missing command after 'tasks' (try 'bach help tasks')"),
        (&["tasks", "remove", "x"], "unknown command 'tasks remove' (try 'bach help tasks')"),
        (&["tasks", "add"], "missing TITLE for 'tasks add'"),
        (&["tasks", "add", "--id"], "missing argument for option '--id'"),
        (
            &["tasks", "add", "--id", "-bad", "x"],
            "invalid id '-bad' (ids are letters, digits, '.', '_' and '-', at most 64)",
        ),
        (
            &["tasks", "add", "--id", "", "x"],
            "invalid id '' (ids are letters, digits, '.', '_' and '-', at most 64)",
        ),
        (&["tasks", "add", "a\x1bb"], "title contains a control character: 'a\\x1bb'"),
        (&["tasks", "add", "--color", "x"], "invalid option '--color'"),
        (&["tasks", "done"], "missing task ID for 'tasks done'"),
        (&["tasks", "done", "a", "b"], "unexpected argument \"b\""),
        (&["tasks", "list", "--id", "x"], "invalid option '--id'"),
        (&["sessions", "start"], "missing --artifact PATH for 'sessions start'"),
        (
            &["sessions", "start", "--artifact", "/a", "--pid", "0"],
            "--pid must be a positive process id",
        ),
        (
            &["sessions", "start", "--artifact", "/a", "--pid", "-1"],
            "--pid must be a positive process id",
        ),
        (
            &["sessions", "start", "--artifact", "/a", "--pid", "x1"],
            "--pid must be a number, not 'x1'",
        ),
        (
            &["sessions", "start", "--artifact", "/a", "--pid", "99999999999"],
            "--pid must be a positive process id",
        ),
        (
            &["sessions", "start", "--artifact", "/a\nb"],
            "artifact path contains a control character: '/a\\x0ab'",
        ),
        (&["sessions", "end"], "missing session ID for 'sessions end'"),
        (&["daemon", "stop", "--timeout", "soon"], "--timeout must be a number, not 'soon'"),
        (
            &["daemon", "stop", "--timeout", "18446744073709551615"],
            "--timeout must be at most 31536000 seconds",
        ),
        (
            &["daemon", "stop", "--timeout", "18446744073709551616"],
            "--timeout must be a number, not '18446744073709551616'",
        ),
        (&["tasks", "add", "  padded"], "title '  padded' has a blank at its start or end"),
        (
            &["sessions", "start", "--artifact", "/a.jsonl "],
            "artifact path '/a.jsonl ' has a blank at its start or end",
        ),
        (&["daemon", "status", "--standby"], "invalid option '--standby'"),
        (
            &["daemon", "install", "--service", "upstart"],
            "--service must be launchd or systemd, not 'upstart'",
        ),
        (&["daemon", "status", "--watchers"], "invalid option '--watchers'"),
        (&["daemon", "stop", "--standby"], "invalid option '--standby'"),
        (
            &["daemon", "run", "--standby=yes"],
            "unexpected argument for option '--standby': \"yes\"",
        ),
        (&["daemon", "logs", "-n"], "missing argument for option '-n'"),
        (&["daemon", "reboot"], "unknown command 'daemon reboot' (try 'bach help daemon')"),
        (&["internal", "session-watch"], "missing ARTIFACT for 'internal session-watch'"),
        (
            &["internal", "session-watch", "--key", "ABC", "/a"],
            "--key must be 16 lowercase hex digits, not 'ABC'",
        ),
        (&["help", "nope"], "no help for unknown command 'nope'"),
        (&["tasks", "add", "--dir", " /a", "x"], "--dir ' /a' has a blank at its start or end"),
        (&["sessions", "discover", "--pid", "1"], "invalid option '--pid'"),
        (&["sessions", "list", "--dry-run"], "invalid option '--dry-run'"),
    ];
    for (args, want) in cases {
        assert_eq!(err(args), (2, want.to_string()), "{args:?}");
    }
}

#[test]
fn a_bad_hook_command_line_is_no_error_but_what_the_hook_logs() {
    let cases: &[(&[&str], &str)] = &[
        (&["hook"], "missing command after 'hook' (try 'bach help hook')"),
        (&["hook", "codex"], "unknown command 'hook codex' (try 'bach help hook')"),
        (&["hook", "claude", "--task"], "missing argument for option '--task'"),
        (
            &["hook", "claude", "--task", "a/b"],
            "invalid task id 'a/b' (ids are letters, digits, '.', '_' and '-', at most 64)",
        ),
        (&["hook", "claude", "--verbose"], "invalid option '--verbose'"),
        (&["hook", "claude", "extra"], "unexpected argument \"extra\""),
    ];
    for (args, want) in cases {
        assert_eq!(parse_args(args).unwrap(), Command::Hook(Err(want.to_string())), "{args:?}");
    }
}

#[test]
fn non_utf8_arguments_are_usage_errors() {
    use std::os::unix::ffi::OsStringExt;
    let bad = OsString::from_vec(vec![b'/', 0xff, b'x']);
    let args = ["tasks", "add"].map(OsString::from).into_iter().chain([bad.clone()]);
    let e = parse(args).unwrap_err();
    assert_eq!((e.code(), e.to_string()), (2, "title is not valid UTF-8: /\u{fffd}x".to_string()));
    let args = ["sessions", "start", "--artifact"].map(OsString::from).into_iter().chain([bad]);
    assert_eq!(
        parse(args).unwrap_err().to_string(),
        "artifact path is not valid UTF-8: /\u{fffd}x"
    );
}
