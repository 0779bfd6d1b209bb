use super::*;
use crate::key::of as key;
use crate::ps::Proc;
use std::path::Path;

#[test]
fn ids_follow_the_pattern() {
    for good in ["a", "t1", "A.b_c-d", &"x".repeat(64)] {
        assert!(valid_id(good), "{good}");
    }
    for bad in ["", "-a", ".a", "_a", "a/b", "a b", "ü", "a\n", &"x".repeat(65)] {
        assert!(!valid_id(bad), "{bad:?}");
    }
    let a = generate_id('s', 0);
    assert!(valid_id(&a) && a.len() == 7 && a.starts_with('s'), "{a}");
}

#[test]
fn artifacts_are_made_absolute_and_tidied() {
    let cwd = Path::new("/w/d");
    let ok = |given: &str| normalize_artifact(cwd, given).unwrap();
    assert_eq!(ok("s.jsonl"), "/w/d/s.jsonl");
    assert_eq!(ok("./a//b/./c"), "/w/d/a/b/c");
    assert_eq!(ok("/x/../y/"), "/x/../y", "'..' is left to the kernel");
    assert_eq!(ok("/a b/ü.jsonl"), "/a b/ü.jsonl");
    assert_eq!(normalize_artifact(cwd, "").unwrap_err(), "artifact path is empty");
    assert_eq!(normalize_artifact(cwd, "/").unwrap_err(), "artifact path '/' names no file");
    assert_eq!(
        normalize_artifact(cwd, "a\tb").unwrap_err(),
        "artifact path contains a control character: 'a\\x09b'"
    );
}

#[test]
fn records_round_trip() {
    let p = Path::new("/h/sessions/s1");
    let s = Session {
        id: "s1".into(),
        artifact: "/a b/c".into(),
        task: Some("t1".into()),
        pid: Some(42),
        pid_uid: Some(501),
        pid_start: Some("Wed Nov 25 04:31:14 2026".into()),
        pid_ticks: Some(264623),
        ended: true,
        started: 5,
        ended_at: Some(6),
        end_reason: Some("prompt_input_exit".into()),
        agent: Some(crate::attention::Agent::Claude),
        agent_session: Some("417c4de5-1034-474f-b13d-6e737d47b966".into()),
        cwd: Some("/home/dev/proj".into()),
        via: Via::Hook,
    };
    assert_eq!(parse_session(p, "s1", &render_session(&s)).unwrap(), s);
    let t = Task {
        id: "t1".into(),
        title: "Fix = things # now".into(),
        state: TaskState::Blocked,
        created: 9,
        dir: Some("/home/dev/proj".into()),
        dir_real: Some("/data/proj".into()),
        auto: true,
    };
    assert_eq!(parse_task(p, "t1", &render_task(&t)).unwrap(), t);
    let plain = Task { id: "t2".into(), ..Task::new("plain", 1) };
    assert_eq!(
        render_task(&plain),
        "title = plain\nstate = open\ncreated = 1\n",
        "optional fields left out"
    );
}

#[test]
fn new_record_fields_are_checked_like_the_others() {
    let p = Path::new("/h/sessions/s1");
    let base = "artifact = /a\nstate = live\nstarted = 1\n";
    let bad =
        |extra: &str| parse_session(p, "s1", &format!("{base}{extra}")).unwrap_err().to_string();
    assert_eq!(bad("via = email"), "/h/sessions/s1:4: unknown via 'email'");
    assert_eq!(bad("agent = gemini"), "/h/sessions/s1:4: unknown agent 'gemini'");
    assert_eq!(bad("cwd = proj"), "/h/sessions/s1:4: 'cwd' is not an absolute path");
    let old = parse_session(p, "s1", base).unwrap();
    assert_eq!(
        (old.via, old.agent, old.cwd),
        (Via::Cli, None, None),
        "records from before read as they were"
    );
    let t = |extra: &str| {
        parse_task(
            Path::new("/h/tasks/t"),
            "t",
            &format!("title = x\nstate = open\ncreated = 1\n{extra}"),
        )
    };
    assert_eq!(
        t("auto = yes").unwrap_err().to_string(),
        "/h/tasks/t:4: 'auto' must be true or false, not 'yes'"
    );
    assert_eq!(
        t("dir = rel").unwrap_err().to_string(),
        "/h/tasks/t:4: 'dir' is not an absolute path"
    );
}

#[test]
fn bad_records_name_path_line_and_reason() {
    let p = Path::new("/h/sessions/s1");
    let bad = |text: &str| parse_session(p, "s1", text).unwrap_err().to_string();
    let base = "artifact = /a\nstate = live\nstarted = 1\n";
    assert_eq!(bad(""), "/h/sessions/s1: missing 'artifact'");
    assert_eq!(
        bad("artifact = a\nstate = live\nstarted = 1"),
        "/h/sessions/s1:1: artifact is not an absolute path"
    );
    assert_eq!(
        bad("artifact = /a\nstate = zombie\nstarted = 1"),
        "/h/sessions/s1:2: unknown session state 'zombie'"
    );
    assert_eq!(bad(&format!("{base}pid = -3")), "/h/sessions/s1:4: 'pid' must be positive, not -3");
    assert_eq!(
        bad(&format!("{base}pid = x")),
        "/h/sessions/s1:4: 'pid' is not a valid number: 'x'"
    );
    assert_eq!(bad("artifact = /a\nstate = live"), "/h/sessions/s1: missing 'started'");
    assert_eq!(bad(&format!("{base}garbage line")), "/h/sessions/s1:4: no '=' in 'garbage line'");
    assert_eq!(
        bad(&format!("{base}state = ended")),
        "/h/sessions/s1:4: key 'state' given twice (first on line 2)"
    );
    let t = |text: &str| parse_task(Path::new("/h/tasks/t"), "t", text).unwrap_err().to_string();
    assert_eq!(
        t("title = x\nstate = finished\ncreated = 1"),
        "/h/tasks/t:2: unknown task state 'finished'"
    );
    assert_eq!(t("state = open\ncreated = 1"), "/h/tasks/t: missing 'title'");
    assert_eq!(
        t("title = x\nstate = open\ncreated = yesterday"),
        "/h/tasks/t:3: 'created' is not a valid number: 'yesterday'"
    );
    assert!(
        parse_session(p, "s1", &format!("{base}future_field = 1")).is_ok(),
        "unknown record keys are ignored"
    );
}

fn task(id: &str, state: TaskState) -> Task {
    Task { id: id.into(), state, ..Task::new(id, 0) }
}

fn session(id: &str, artifact: &str, task: Option<&str>) -> Session {
    Session {
        id: id.into(),
        artifact: artifact.into(),
        task: task.map(String::from),
        pid: None,
        pid_uid: None,
        pid_start: None,
        pid_ticks: None,
        ended: false,
        started: 0,
        ended_at: None,
        ..Session::default()
    }
}

fn proc_(pid: i32, uid: u32, start: &str, zombie: bool) -> Proc {
    let (start, command) = (start.into(), "agent".into());
    Proc { uid, pid, ppid: 1, pgid: pid, zombie, start, command, ticks: None }
}

#[test]
fn join_table_decides_supervisable_and_desired() {
    let tasks = [
        task("open", TaskState::Open),
        task("doing", TaskState::Doing),
        task("blocked", TaskState::Blocked),
        task("done", TaskState::Done),
        task("cancelled", TaskState::Cancelled),
    ];
    let t0 = "Wed Nov 25 04:31:14 2026";
    let procs = [proc_(100, 501, t0, false), proc_(101, 501, t0, true), proc_(102, 502, t0, false)];
    let with_pid = |id, art, pid: i32, uid: u32, start: &str| Session {
        pid: Some(pid),
        pid_uid: Some(uid),
        pid_start: Some(start.into()),
        ..session(id, art, Some("open"))
    };
    // (session, supervisable, desired as (all_gone))
    let cases: Vec<(Session, bool, Option<bool>)> = vec![
        (session("open", "/a/1", Some("open")), true, Some(false)),
        (session("doing", "/a/2", Some("doing")), true, Some(false)),
        (session("blocked", "/a/3", Some("blocked")), true, Some(false)),
        (session("done", "/a/4", Some("done")), false, None),
        (session("cancelled", "/a/5", Some("cancelled")), false, None),
        (session("no-task", "/a/6", None), false, None),
        (session("missing-task", "/a/7", Some("nope")), false, None),
        (Session { ended: true, ..session("ended", "/a/8", Some("open")) }, false, None),
        (with_pid("alive", "/a/9", 100, 501, t0), true, Some(false)),
        (with_pid("zombie-agent", "/a/10", 101, 501, t0), false, Some(true)),
        (with_pid("dead-pid", "/a/11", 999, 501, t0), false, Some(true)),
        (with_pid("reused-pid-other-uid", "/a/12", 102, 501, t0), false, Some(true)),
        (
            with_pid("reused-pid-other-start", "/a/13", 100, 501, "Wed Nov 25 04:31:15 2026"),
            false,
            Some(true),
        ),
    ];
    let sessions: Vec<Session> = cases.iter().map(|c| c.0.clone()).collect();
    let desired = desired("/h", &sessions, &tasks, Some(&procs));
    for (s, sup, want) in &cases {
        let life = life(s, Some(&procs));
        assert_eq!(supervisable(s, &tasks, life), *sup, "supervisable({})", s.id);
        assert_eq!(
            desired.get(&key("/h", &s.artifact)).map(|w| w.all_gone),
            *want,
            "desired({})",
            s.id
        );
    }
    // Without a process table, a recorded agent counts as running.
    assert_eq!(life(&cases[10].0, None), Life::Live);
}

#[test]
fn one_live_session_keeps_a_shared_artifact_desired() {
    let tasks = [task("t", TaskState::Open)];
    let gone = Session { pid: Some(999), started: 1, ..session("old", "/a", Some("t")) };
    let live = Session { started: 2, ..session("new", "/a", Some("t")) };
    let d = desired("/h", &[live, gone], &tasks, Some(&[]));
    let w = &d[&key("/h", "/a")];
    assert_eq!(
        (w.sessions.clone(), w.all_gone),
        (vec!["old".to_string(), "new".to_string()], false)
    );
}

#[test]
fn on_linux_an_agent_is_known_by_its_start_ticks_whatever_the_clock_did() {
    let tasks = [task("t", TaskState::Open)];
    let before = "Wed Nov 25 04:31:14 2026";
    let s = Session {
        pid: Some(100),
        pid_uid: Some(501),
        pid_start: Some(before.into()),
        pid_ticks: Some(777),
        ..session("s", "/a", Some("t"))
    };
    // The wall clock was stepped: `ps` now prints another start for the same process.
    let stepped = Proc { ticks: Some(777), ..proc_(100, 501, "Wed Nov 25 04:31:15 2026", false) };
    assert_eq!(life(&s, Some(std::slice::from_ref(&stepped))), Life::Live);
    let reused = Proc { ticks: Some(778), ..stepped.clone() };
    assert_eq!(life(&s, Some(&[reused])), Life::Gone, "another process with that pid");
    // Ticks unknown (not Linux, or /proc unreadable): the start time decides.
    let unknown = Proc { ticks: None, ..stepped };
    assert_eq!(life(&s, Some(&[unknown])), Life::Gone);
    let old = Session { pid_ticks: None, ..s };
    assert_eq!(life(&old, Some(&[proc_(100, 501, before, false)])), Life::Live);
    let d = desired("/h", &[old], &tasks, Some(&[proc_(100, 501, before, false)]));
    assert_eq!(d.len(), 1);
}

#[test]
fn values_that_would_not_read_back_are_refused_before_anything_is_written() {
    let d = std::env::temp_dir().join(format!("bach-store-pad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let st = Store { home: crate::home::Home::at(d.clone()) };
    let padded = Session { artifact: "/a.jsonl ".into(), ..session("", "", None) };
    let e = st.add_session(Some("s1"), &padded).unwrap_err();
    assert_eq!(e.code(), 2, "{e}");
    let t = Task { title: " x".into(), ..task("", TaskState::Open) };
    assert_eq!(st.add_task(Some("t1"), &t).unwrap_err().code(), 2);
    assert!(std::fs::read_dir(d.join("sessions")).map_or(true, |mut r| r.next().is_none()));
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn an_id_is_found_only_by_its_exact_name() {
    // What a case-insensitive file system lists when `FOO` opened `foo`.
    let listed = || ["foo", "bar"].map(std::ffi::OsString::from).into_iter();
    assert!(named_exactly(listed(), "foo"));
    assert!(!named_exactly(listed(), "FOO"), "a case-only difference is another id");
    assert!(!named_exactly(listed(), "Foo"));
    assert!(!named_exactly(std::iter::empty(), "foo"));
}

#[test]
fn a_memo_read_sees_every_change_and_reparses_only_changed_files() {
    let d = std::env::temp_dir().join(format!("bach-store-memo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("sessions")).unwrap();
    let st = Store { home: crate::home::Home::at(d.clone()) };
    let rec = |a: &str| format!("artifact = {a}\ntask = t\nstate = live\nstarted = 1\n");
    let put = |name: &str, text: &str| {
        let tmp = d.join("sessions").join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(tmp, d.join("sessions").join(name)).unwrap();
    };
    put("s1", &rec("/a"));
    put("s2", &rec("/b"));
    put("bad", "garbage\n");
    let mut memo = (Memo::default(), Memo::default());
    let arts = |memo: &mut (Memo<Session>, Memo<Task>)| {
        let ((sessions, problems), _) = st.records_memo(memo).unwrap();
        let arts: Vec<String> = sessions.into_iter().map(|s| s.artifact).collect();
        (arts, problems.len())
    };
    assert_eq!(arts(&mut memo), (vec!["/a".into(), "/b".into()], 1));
    assert_eq!(memo.0.seen.len(), 3, "each file remembered with its stamp");
    put("s2", &rec("/b2")); // rewritten: a new inode
    std::fs::remove_file(d.join("sessions/s1")).unwrap();
    put("s3", &rec("/c"));
    assert_eq!(arts(&mut memo), (vec!["/b2".into(), "/c".into()], 1), "the same as a plain read");
    let plain: Vec<String> = st.sessions().unwrap().0.into_iter().map(|s| s.artifact).collect();
    assert_eq!(arts(&mut memo).0, plain);
    // A change in place (same inode, same size) is seen by its times.
    std::fs::write(d.join("sessions/s3"), rec("/d")).unwrap();
    assert_eq!(arts(&mut memo).0, ["/b2", "/d"]);
    std::fs::remove_dir_all(d).unwrap();
}
