//! The store through the binary: happy paths, conflicts that write nothing,
//! records that cannot be parsed, atomic writes, the supervisable join.

use crate::util::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

/// The session `id` of a `sessions list --json` document.
fn session<'a>(doc: &'a Json, id: &str) -> &'a Json {
    let all = doc.get("sessions").arr();
    all.iter().find(|s| s.get("id").str() == id).unwrap_or_else(|| panic!("{id} missing: {doc:?}"))
}

#[test]
fn tasks_and_sessions_happy_path() {
    let env = Env::new("happy");
    let t = env.ok(&["tasks", "add", "Ship", "the", "parser"]).trim().to_string();
    assert!(t.starts_with('t') && t.len() == 7, "generated id {t:?}");
    env.ok(&["tasks", "add", "--id", "t2", "Second"]);
    let list = env.ok(&["tasks", "list"]);
    assert!(
        list.starts_with("ID ")
            && list.contains(&format!("{t}  open   "))
            && list.contains("Ship the parser"),
        "{list}"
    );
    let s = env.ok(&[
        "sessions",
        "start",
        "--artifact",
        "run.jsonl",
        "--task",
        "t2",
        "--id",
        "s1",
        "--no-watch",
    ]);
    assert_eq!(s, "s1\n");
    let doc = env.json(&["sessions", "list", "--json"]);
    let s1 = session(&doc, "s1");
    let art = env.artifact("run.jsonl");
    for (field, want) in [
        ("task", Json::Str("t2".into())),
        ("task_state", Json::Str("open".into())),
        ("artifact", Json::Str(art)),
        ("state", Json::Str("live".into())),
        ("pid", Json::Null),
        ("supervisable", Json::Bool(true)),
        ("watcher_pid", Json::Null),
        ("observed", Json::Null),
        ("lines", Json::Num(0.0)),
    ] {
        assert_eq!(s1.get(field), &want, "{field} in {s1:?}");
    }
    env.ok(&["tasks", "done", "t2"]);
    let tasks = env.json(&["tasks", "list", "--json"]);
    let t2 = tasks.get("tasks").arr().iter().find(|t| t.get("id").str() == "t2").unwrap();
    assert_eq!((t2.get("title").str(), t2.get("state").str()), ("Second", "done"));
    assert!(t2.get("created").int() > 0);
    let doc = env.json(&["sessions", "list", "--json"]);
    assert_eq!(session(&doc, "s1").get("task_state").str(), "done");
    assert!(env.fails(&["tasks", "done", "t2"], 0).contains("note: task 't2' is already done"));
    env.ok(&["tasks", "reopen", "t2"]);
    env.ok(&["tasks", "cancel", "t2"]);
    env.ok(&["sessions", "end", "s1"]);
    let doc = env.json(&["sessions", "list", "--json"]);
    let s1 = session(&doc, "s1");
    assert_eq!(s1.get("state").str(), "ended");
    assert_eq!((s1.get("pid"), s1.get("supervisable")), (&Json::Null, &Json::Bool(false)));
    assert!(env
        .fails(&["sessions", "end", "s1"], 0)
        .contains("note: session 's1' has already ended"));
    let rec = fs::read_to_string(env.home.join("sessions/s1")).unwrap();
    assert!(rec.contains("state = ended\n") && rec.contains("ended = "), "{rec}");
}

#[test]
fn home_and_files_are_private() {
    let env = Env::new("modes");
    env.ok(&["tasks", "add", "--id", "t1", "x"]);
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.home), 0o700);
    assert_eq!(mode(&env.home.join("tasks")), 0o700);
    assert_eq!(mode(&env.home.join("tasks/t1")), 0o600);
    // Default home: $HOME/.bach.
    let out = env.cmd(["tasks", "list"]).env_remove("BACH_HOME").output().unwrap();
    assert!(out.status.success());
    assert!(env.user_home.join(".bach/tasks").exists() || env.user_home.join(".bach").exists());
    let out =
        env.cmd(["tasks", "list"]).env_remove("BACH_HOME").env_remove("HOME").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "bach: error: neither BACH_HOME nor HOME is set\n"
    );
}

#[test]
fn bad_inputs_exit_with_the_right_code_and_name_the_culprit() {
    let env = Env::new("bad");
    env.ok(&["tasks", "add", "--id", "t1", "x"]);
    env.ok(&["sessions", "start", "--artifact", "/a", "--task", "t1", "--id", "s1", "--no-watch"]);
    let cases: &[(&[&str], i32, &str)] = &[
        (&["nope"], 2, "unknown command 'nope'"),
        (&["tasks", "add", "--id", "t1", "dup"], 1, "task 't1' already exists"),
        (&["tasks", "add", "--id", "bad/id", "x"], 2, "invalid id 'bad/id'"),
        (&["tasks", "add", "--id", "", "x"], 2, "invalid id ''"),
        (&["tasks", "add", ""], 2, "missing TITLE for 'tasks add'"),
        (&["tasks", "done", "ghost"], 1, "unknown task 'ghost'"),
        (&["tasks", "cancel", "../t1"], 2, "invalid task id '../t1'"),
        (&["sessions", "start", "--artifact", "/b", "--task", "ghost"], 1, "unknown task 'ghost'"),
        (
            &["sessions", "start", "--artifact", "/b", "--task", "t1", "--id", "s1", "--no-watch"],
            1,
            "session 's1' already exists",
        ),
        (
            &["sessions", "start", "--artifact", "/b\nc", "--task", "t1"],
            2,
            "artifact path contains a control character: '/b\\x0ac'",
        ),
        (&["sessions", "start", "--artifact", "", "--task", "t1"], 2, "artifact path is empty"),
        (
            &["sessions", "start", "--artifact", "/b", "--pid", "0"],
            2,
            "--pid must be a positive process id",
        ),
        (
            &["sessions", "start", "--artifact", "/b", "--pid", "12abc"],
            2,
            "--pid must be a number, not '12abc'",
        ),
        (
            &["sessions", "start", "--artifact", "/b", "--pid", "2147483646"],
            1,
            "--pid 2147483646 names no running process of this user",
        ),
        (&["sessions", "end", "ghost"], 1, "unknown session 'ghost'"),
        (&["sessions", "list", "--all"], 2, "invalid option '--all'"),
        (&["daemon", "stop", "--timeout"], 2, "missing argument for option '--timeout'"),
        (&["daemon", "logs", "-n", "many"], 2, "-n must be a number, not 'many'"),
        (
            &["internal", "session-watch", "--key", "zz", "/a"],
            2,
            "--key must be 16 lowercase hex digits, not 'zz'",
        ),
    ];
    let before = fs::read_dir(env.home.join("sessions")).unwrap().count()
        + fs::read_dir(env.home.join("tasks")).unwrap().count();
    for (args, code, msg) in cases {
        let err = env.fails(args, *code);
        assert!(err.starts_with("bach: error: ") && err.contains(msg), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    let after = fs::read_dir(env.home.join("sessions")).unwrap().count()
        + fs::read_dir(env.home.join("tasks")).unwrap().count();
    assert_eq!(before, after, "failed commands write nothing");
}

#[test]
fn broken_config_lines_are_refused_by_daemon_run_and_tolerated_elsewhere() {
    let env = Env::new("config");
    let cases = [
        ("daemon_reconcile_second = 5\n", "config:1: unknown key 'daemon_reconcile_second' (did you mean 'daemon_reconcile_seconds'?)"),
        ("idle_seconds = 5\nidle_seconds = 6\n", "config:2: key 'idle_seconds' given twice (first on line 1)"),
        ("idle_seconds\n", "config:1: no '=' in 'idle_seconds'"),
        ("daemon_reconcile_seconds = 0\n", "config:1: 'daemon_reconcile_seconds' must be between 1 and 3600, not 0"),
        ("watch_on_launch = maybe\n", "config:1: 'watch_on_launch' must be true or false, not 'maybe'"),
        ("log_max_bytes = lots\n", "config:1: 'log_max_bytes' must be a whole number, not 'lots'"),
    ];
    for (text, msg) in cases {
        env.write_config(text);
        let err = env.fails(&["daemon", "run"], 2);
        assert!(err.contains(msg) && err.contains(env.home.to_str().unwrap()), "{text:?}: {err}");
        let out = env.run(&["tasks", "list"]);
        assert!(out.status.success(), "other commands use the defaults");
        assert!(String::from_utf8_lossy(&out.stderr).contains("warning:"), "and warn once");
    }
}

#[test]
fn unparsable_records_are_reported_and_skipped_never_hiding_others() {
    let env = Env::new("garbage");
    env.ok(&["tasks", "add", "--id", "good", "fine"]);
    fs::write(env.home.join("tasks/bad1"), "title = x\nstate = exploded\ncreated = 1\n").unwrap();
    fs::write(env.home.join("tasks/bad2"), "\u{1b}[31m no equals here\n").unwrap();
    fs::write(env.home.join("tasks/bad3"), [0xffu8, 0xfe, b'\n']).unwrap();
    fs::write(env.home.join("tasks/big"), "x".repeat(70_000)).unwrap();
    fs::create_dir(env.home.join("tasks/dir")).unwrap();
    std::os::unix::fs::symlink(env.home.join("tasks/good"), env.home.join("tasks/link")).unwrap();
    fs::write(env.home.join("tasks/.hidden.tmp"), "half").unwrap();
    let fifo = env.home.join("tasks/fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = env.run(&["tasks", "list", "--json"]);
    assert!(out.status.success());
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let ids: Vec<String> =
        json(&stdout).get("tasks").arr().iter().map(|t| t.get("id").str().to_string()).collect();
    assert_eq!(ids, ["good"], "only the good task: {stdout}");
    let t = env.home.join("tasks");
    for want in [
        format!("skipped {}:2: unknown task state 'exploded'", t.join("bad1").display()),
        format!(
            "skipped {}:1: control character in '\\x1b[31m no equals here'",
            t.join("bad2").display()
        ),
        format!("skipped {}: is not UTF-8", t.join("bad3").display()),
        format!("skipped {}: is larger than 65536 bytes", t.join("big").display()),
        format!("skipped {}: is not a regular file", t.join("dir").display()),
        format!("skipped {}: is a symbolic link", t.join("link").display()),
        format!("skipped {}: is not a regular file", t.join("fifo").display()),
    ] {
        assert!(stderr.contains(&want), "missing {want:?} in:\n{stderr}");
    }
    assert!(!stderr.contains(".hidden"), "names that are not ids are ignored");
}

#[test]
fn a_crash_between_write_and_rename_leaves_the_old_record() {
    let env = Env::new("crash");
    env.ok(&["tasks", "add", "--id", "t1", "keep me"]);
    // What a writer killed before its rename leaves: a partial temporary file.
    fs::write(env.home.join("tasks/.t1.999.0.tmp"), "title = half").unwrap();
    let doc = env.json(&["tasks", "list", "--json"]);
    let t1 = &doc.get("tasks").arr()[0];
    assert_eq!((t1.get("title").str(), t1.get("state").str()), ("keep me", "open"));
    assert_eq!(doc.get("tasks").arr().len(), 1, "{doc:?}");
    env.ok(&["tasks", "done", "t1"]);
    assert_eq!(
        env.json(&["tasks", "list", "--json"]).get("tasks").arr()[0].get("state").str(),
        "done"
    );
}

#[test]
fn a_record_is_never_seen_half_written() {
    let env = Env::new("atomic");
    env.ok(&["tasks", "add", "--id", "t1", "long title ".repeat(500).trim_end()]);
    let path = env.home.join("tasks/t1");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (stop, path) = (stop.clone(), path.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let text = fs::read_to_string(&path).unwrap();
                assert!(
                    text.ends_with('\n')
                        && text.contains("state = ")
                        && text.contains("created = "),
                    "torn read: {text:?}"
                );
                reads += 1;
            }
            reads
        })
    };
    for i in 0..30 {
        let verb = if i % 2 == 0 { "done" } else { "reopen" };
        env.ok(&["tasks", verb, "t1"]);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
}

#[test]
fn the_join_through_the_binary() {
    let env = Env::new("join");
    env.ok(&["tasks", "add", "--id", "open", "o"]);
    env.ok(&["tasks", "add", "--id", "fin", "f"]);
    env.ok(&["tasks", "done", "fin"]);
    let start = |id: &str, extra: &[&str]| {
        let mut args = vec!["sessions", "start", "--no-watch", "--id", id, "--artifact", id];
        args.extend_from_slice(extra);
        env.ok(&args);
    };
    start("live", &["--task", "open"]);
    start("notask", &[]);
    start("terminal", &["--task", "fin"]);
    start("ended", &["--task", "open"]);
    env.ok(&["sessions", "end", "ended"]);
    start("missing", &["--task", "open"]);
    fs::remove_file(env.home.join("tasks/open")).unwrap();
    env.ok(&["tasks", "add", "--id", "open", "o again"]);
    fs::write(env.home.join("sessions/garbage"), "not a record").unwrap();
    // A dead agent: a session whose recorded pid, uid and start are gone.
    let rec = format!("artifact = {}\ntask = open\npid = 2147483000\npid_uid = 0\npid_start = Wed Nov 25 04:31:14 2026\nstate = live\nstarted = 1\n", env.artifact("dead"));
    fs::write(env.home.join("sessions/dead"), rec).unwrap();
    let out = env.run(&["sessions", "list", "--json"]);
    let doc = json(&String::from_utf8_lossy(&out.stdout));
    let sup = |id: &str| {
        let s = session(&doc, id);
        (s.get("supervisable") == &Json::Bool(true), s.get("state").str() == "gone")
    };
    assert_eq!(sup("live"), (true, false));
    assert_eq!(sup("notask"), (false, false));
    assert_eq!(sup("terminal"), (false, false));
    assert_eq!(sup("ended"), (false, false));
    assert_eq!(
        sup("missing"),
        (true, false),
        "a task record replaced under the same id still counts"
    );
    assert_eq!(sup("dead"), (false, true));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("sessions/garbage:1: no '=' in 'not a record'"));
}

#[test]
fn a_relative_artifact_is_made_absolute_against_pwd_when_it_is_the_same_folder() {
    let env = Env::new("pwd");
    env.ok(&["tasks", "add", "--id", "t", "x"]);
    let real = env.root.join("real");
    fs::create_dir(&real).unwrap();
    let link = env.root.join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let start = |id: &str, pwd: &std::path::Path| {
        let mut c = env.cmd([
            "sessions",
            "start",
            "--no-watch",
            "--task",
            "t",
            "--id",
            id,
            "--artifact",
            "a.jsonl",
        ]);
        c.current_dir(&real).env("PWD", pwd);
        assert!(c.output().unwrap().status.success());
    };
    // As a shell in `link` would say: the user's name for the folder wins.
    start("s1", &link);
    // A stale $PWD (another folder) is not believed.
    start("s2", &env.root);
    let doc = env.json(&["sessions", "list", "--json"]);
    let artifact = |id: &str| {
        let all = doc.get("sessions").arr();
        all.iter().find(|s| s.get("id").str() == id).unwrap().get("artifact").str().to_string()
    };
    assert_eq!(artifact("s1"), format!("{}/a.jsonl", link.display()));
    assert_eq!(artifact("s2"), format!("{}/a.jsonl", real.display()));
}
