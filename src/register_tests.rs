use super::*;
use crate::home::Home;
use std::path::PathBuf;

const SID: &str = "417c4de5-1034-474f-b13d-6e737d47b966";

fn ident(pid: i32, ticks: u64) -> Ident {
    Ident { pid, uid: 501, start: "Tue Dec 1 08:41:46 2026".into(), ticks: Some(ticks) }
}

fn found(via: Via) -> Found {
    Found {
        id: "c-417c4de51034".into(),
        agent: Agent::Claude,
        agent_session: SID.into(),
        artifact: "/h/.claude/projects/-p/417c4de5-1034-474f-b13d-6e737d47b966.jsonl".into(),
        cwd: Some("/p".into()),
        ident: Some(ident(7486, 264_623)),
        task: None,
        via,
    }
}

fn old(via: Via) -> Session {
    let mut s = Session {
        id: "c-417c4de51034".into(),
        artifact: "/first/writer.jsonl".into(),
        task: Some("chosen".into()),
        started: 5,
        agent: Some(Agent::Claude),
        agent_session: Some(SID.into()),
        cwd: Some("/p".into()),
        via,
        ..Session::default()
    };
    ident(7486, 264_623).write(&mut s);
    s
}

#[test]
fn the_second_writer_only_fills_what_is_absent() {
    let bare =
        Session { pid: None, pid_uid: None, pid_start: None, pid_ticks: None, ..old(Via::Cli) };
    let s = merge(&Session { task: None, ..bare }, &found(Via::Discover), false).unwrap();
    assert_eq!(s.artifact, "/first/writer.jsonl", "the first writer's artifact stays");
    assert_eq!((s.pid, s.pid_ticks, s.pid_uid), (Some(7486), Some(264_623), Some(501)));
    assert_eq!((s.cwd.as_deref(), s.agent), (Some("/p"), Some(Agent::Claude)));
    assert_eq!(s.agent_session.as_deref(), Some(SID));
    assert_eq!(s.task, None, "the task rules are the caller's");
    assert_eq!(s.via, Via::Cli, "via is the first writer's");

    let o = Session { cwd: Some("/elsewhere".into()), ..old(Via::Hook) };
    let s = merge(&o, &found(Via::Discover), true).unwrap();
    assert_eq!(s, o, "nothing absent, nothing changes");
}

#[test]
fn an_explicit_task_replaces_only_what_discovery_chose() {
    let with_task = Found { task: Some("mine".into()), ..found(Via::Hook) };
    let cases = [
        (old(Via::Discover), Some("mine")),
        (old(Via::Hook), Some("chosen")),
        (old(Via::Cli), Some("chosen")),
        (Session { task: None, ..old(Via::Cli) }, Some("mine")),
    ];
    for (o, want) in cases {
        let s = merge(&o, &with_task, true).unwrap();
        assert_eq!(s.task.as_deref(), want, "{:?}", o.via);
    }
}

#[test]
fn a_session_is_revived_by_its_hook_or_by_a_new_process() {
    let ended =
        Session { ended: true, ended_at: Some(9), end_reason: Some("x".into()), ..old(Via::Hook) };
    let revived = |s: &Session| (!s.ended, s.ended_at, s.end_reason.clone()) == (true, None, None);
    // SessionStart of the same process (a /resume inside it).
    assert!(revived(&merge(&ended, &found(Via::Hook), true).unwrap()));
    // Discovery of the process that ended it: the end stands.
    assert_eq!(merge(&ended, &found(Via::Discover), false).unwrap(), ended);
    // A resume in a new process, the old one gone: its identity, live again.
    let new = Found { ident: Some(ident(9000, 999)), ..found(Via::Discover) };
    let s = merge(&ended, &new, false).unwrap();
    assert!(revived(&s));
    assert_eq!((s.pid, s.pid_ticks), (Some(9000), Some(999)));
    // While the recorded process still runs, another one does not take over.
    let live = old(Via::Hook);
    assert_eq!(merge(&live, &new, true).unwrap(), live);
    assert_eq!(merge(&live, &new, false).unwrap().pid, Some(9000));
    // Without a pid of its own a finder changes no identity.
    let none = Found { ident: None, ..found(Via::Hook) };
    assert_eq!(merge(&live, &none, false).unwrap().pid, Some(7486));
}

#[test]
fn another_agent_session_under_the_same_id_is_left_alone() {
    let o = Session { agent_session: Some("417c4de5-1034-ffff".into()), ..old(Via::Hook) };
    assert_eq!(merge(&o, &found(Via::Discover), false), None);
}

#[test]
fn identities_compare_by_ticks_where_known() {
    let s = old(Via::Hook);
    assert!(ident(7486, 264_623).is_of(&s));
    assert!(!ident(7486, 264_624).is_of(&s), "a reused pid");
    assert!(!ident(7487, 264_623).is_of(&s));
    let other_clock = Ident { start: "Wed Dec 2 00:00:00 2026".into(), ..ident(7486, 264_623) };
    assert!(other_clock.is_of(&s), "ticks decide, a clock step does not");
    let no_ticks = Ident { ticks: None, ..other_clock };
    assert!(!no_ticks.is_of(&s), "without ticks the start time decides");
}

#[cfg(target_os = "linux")]
#[test]
fn our_own_identity_from_the_kernel_matches_ps() {
    let _reaping = crate::testing::children();
    let me = Ident::of(sys::getpid()).expect("this process");
    let procs = crate::procs::snapshot().unwrap();
    let p = crate::ps::find(&procs, sys::getpid()).unwrap();
    assert_eq!((me.uid, me.start.as_str()), (p.uid, p.start.as_str()));
    assert_eq!(me.ticks, crate::procs::start_ticks(me.pid));
    assert_eq!(Ident::of(i32::MAX), None);
}

struct Temp(PathBuf);

impl Temp {
    fn new(tag: &str) -> Temp {
        let d = std::env::temp_dir().join(format!("bach-register-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Temp(std::fs::canonicalize(d).unwrap())
    }

    fn path(&self, rel: &str) -> String {
        self.0.join(rel).to_str().unwrap().to_string()
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn task(id: &str, dir: &str, state: TaskState, created: u64) -> Task {
    Task { id: id.into(), state, created, dir: Some(dir.into()), ..Task::new("t", created) }
}

use crate::store::TaskState;

#[test]
fn tasks_are_chosen_by_the_rules_in_order() {
    let t = Temp::new("choose");
    let proj = t.path("work/proj");
    std::fs::create_dir_all(&proj).unwrap();
    let tasks = [
        task("wide", &t.path("work"), TaskState::Open, 1),
        task("near", &proj, TaskState::Doing, 2),
        task("done", &format!("{proj}/sub"), TaskState::Done, 3),
    ];
    let choose = |explicit, cwd: &str, auto| choose_task(explicit, Some(cwd), &tasks, auto, 100);
    assert_eq!(choose(Some("wide"), &proj, true), (Choice::Existing("wide".into()), None));
    let (c, note) = choose(Some("nope"), &proj, true);
    assert_eq!(
        (c, note.as_deref()),
        (Choice::Existing("near".into()), Some("unknown task 'nope'"))
    );
    assert_eq!(choose(None, &format!("{proj}/sub"), true).0, Choice::Existing("near".into()));
    let elsewhere = t.path("other/repo");
    let Choice::Auto(auto) = choose(None, &elsewhere, true).0 else { panic!("an auto task") };
    assert_eq!(Some(auto.id.clone()), taskdir::auto_id(&elsewhere, None, None));
    assert!(auto.id.starts_with("repo-"), "{}", auto.id);
    assert_eq!(
        (auto.title.as_str(), auto.dir.as_deref(), auto.auto),
        ("repo", Some(&*elsewhere), true)
    );
    assert_eq!(auto.state, TaskState::Open);
    assert_eq!(choose(None, &elsewhere, false).0, Choice::Nothing, "auto_task off");
    assert_eq!(choose_task(None, None, &tasks, true, 100).0, Choice::Nothing, "no folder");
    assert_eq!(choose(None, "/", true).0, Choice::Nothing, "never for /");
}

#[test]
fn a_realpath_holds_what_the_dir_does() {
    let t = Temp::new("real");
    std::fs::create_dir_all(t.path("real/proj")).unwrap();
    std::os::unix::fs::symlink(t.path("real"), t.path("link")).unwrap();
    let via_link = [task("t", &t.path("link"), TaskState::Open, 1)];
    assert_eq!(by_dir(&via_link, &t.path("real/proj")), None, "dir_real absent");
    let with_real = [Task {
        dir_real: real_dir(&t.path("link")),
        ..task("t", &t.path("link"), TaskState::Open, 1)
    }];
    assert_eq!(with_real[0].dir_real.as_deref(), Some(&*t.path("real")));
    assert_eq!(by_dir(&with_real, &t.path("real/proj")).as_deref(), Some("t"));
    assert_eq!(by_dir(&via_link, &t.path("link/proj")).as_deref(), Some("t"));
}

fn store(t: &Temp) -> Store {
    std::fs::create_dir_all(t.0.join("bh")).unwrap();
    Store { home: Home::at(t.0.join("bh")) }
}

fn all(st: &Store) -> (Vec<Session>, Vec<Task>) {
    (st.sessions().unwrap().0, st.tasks().unwrap().0)
}

#[test]
fn the_first_writer_links_the_second_fills_and_a_third_changes_nothing() {
    let t = Temp::new("record");
    let st = store(&t);
    let cwd = t.path("proj");
    std::fs::create_dir_all(&cwd).unwrap();
    let f = Found { cwd: Some(cwd.clone()), ident: None, ..found(Via::Hook) };
    let (s, k) = all(&st);
    let (outcome, first) = record(&st, &Config::default(), &f, (&s, &k), 50).unwrap().unwrap();
    assert_eq!(outcome, Outcome::Added);
    let auto = first.task.clone().expect("an auto task");
    assert_eq!(st.task(&auto).unwrap().map(|t| t.auto), Some(true));
    assert_eq!((first.via, first.pid, first.started), (Via::Hook, None, 50));
    let later = Found { ident: Some(ident(7486, 1)), via: Via::Discover, ..f.clone() };
    let (s, k) = all(&st);
    let (outcome, filled) = record(&st, &Config::default(), &later, (&s, &k), 60).unwrap().unwrap();
    assert_eq!(
        (outcome, filled.pid, filled.via, filled.started),
        (Outcome::Updated, Some(7486), Via::Hook, 50)
    );
    let (s, k) = all(&st);
    let (outcome, _) = record(&st, &Config::default(), &later, (&s, &k), 70).unwrap().unwrap();
    assert_eq!(outcome, Outcome::Unchanged);
    let (sessions, tasks) = all(&st);
    assert_eq!((sessions.len(), tasks.len()), (1, 1), "one session, one auto task");
}

#[test]
fn a_transcript_already_watched_under_another_path_keeps_that_path() {
    let t = Temp::new("samefile");
    let st = store(&t);
    std::fs::write(t.path("real.jsonl"), b"").unwrap();
    std::os::unix::fs::symlink(t.path("real.jsonl"), t.path("alias.jsonl")).unwrap();
    let cli = Session { artifact: t.path("real.jsonl"), started: 1, ..Session::default() };
    st.add_session(Some("s1"), &cli).unwrap();
    let f = Found { artifact: t.path("alias.jsonl"), ..found(Via::Discover) };
    let (s, k) = all(&st);
    let (_, s) = record(&st, &Config::default(), &f, (&s, &k), 5).unwrap().unwrap();
    assert_eq!(s.artifact, t.path("real.jsonl"));
    let ended = Session { ended: true, ..cli };
    assert_eq!(same_file(&[ended], &t.path("alias.jsonl")), None, "only a live session's");
}
