use super::*;

#[test]
fn a_folder_holds_itself_and_what_lies_below_it() {
    let cases = [
        ("/a/b", "/a/b", true),
        ("/a/b", "/a/b/c", true),
        ("/a/b", "/a/b/c/d", true),
        ("/a/b/", "/a/b", true),
        ("/a/b", "/a/b/", true),
        ("/a/b/", "/a/b/c", true),
        ("/a/b", "/a/bc", false),
        ("/a/b", "/a/b.c", false),
        ("/a/b", "/a", false),
        ("/a/b", "/", false),
        ("/a/b", "/x/a/b", false),
        ("/a/b/c", "/a/b", false),
        ("/", "/", true),
        ("/", "/a", true),
        ("/", "/a/b", true),
        ("//", "/a", true),
        ("/a b", "/a b/c", true),
        ("/ü", "/ü/x", true),
        ("/ü", "/üx", false),
        ("a/b", "a/b/c", false),
        ("a/b", "a/b", false),
        ("", "/a", false),
        ("", "", false),
        ("/a", "", false),
        ("/a", "a", false),
        ("/a/b", "/A/B", false),
    ];
    for (dir, cwd, want) in cases {
        assert_eq!(holds(dir, cwd), want, "{dir:?} holds {cwd:?}");
    }
}

fn task<'a>(id: &'a str, state: TaskState, created: u64, dir: &'a str) -> DirTask<'a> {
    DirTask { id, state, created, dir: Some(dir), dir_real: None, auto: false }
}

#[test]
fn the_longest_holding_folder_wins_then_the_oldest() {
    use TaskState::*;
    let tasks = [
        task("root", Open, 1, "/"),
        task("work", Open, 5, "/home/ana/work"),
        task("proj", Doing, 9, "/home/ana/work/proj"),
        task("proj-old", Blocked, 3, "/home/ana/work/proj"),
        task("proj-done", Done, 1, "/home/ana/work/proj/sub"),
        task("proj-gone", Cancelled, 1, "/home/ana/work/proj/sub"),
        task("projx", Open, 1, "/home/ana/work/projx"),
        DirTask { dir: None, ..task("nodir", Open, 0, "") },
    ];
    let cases = [
        ("/home/ana/work/proj/sub/deep", Some("proj-old")),
        ("/home/ana/work/proj", Some("proj-old")),
        ("/home/ana/work/projx/y", Some("projx")),
        ("/home/ana/work/projy", Some("work")),
        ("/home/ana/work", Some("work")),
        ("/home/ana", Some("root")),
        ("/", Some("root")),
        ("relative/dir", None),
    ];
    for (cwd, want) in cases {
        assert_eq!(choose(&tasks, cwd, None), want, "{cwd}");
    }
    let none: [DirTask; 0] = [];
    assert_eq!(choose(&none, "/a", None), None);
    assert_eq!(
        choose(&tasks[4..6], "/home/ana/work/proj/sub", None),
        None,
        "terminal tasks take nothing"
    );
}

#[test]
fn ties_do_not_depend_on_the_order_of_tasks() {
    use TaskState::*;
    let a = task("a", Open, 7, "/p");
    let b = task("b", Open, 7, "/p/");
    let c = task("c", Open, 8, "/p");
    for tasks in [[a, b, c], [c, b, a], [b, c, a]] {
        assert_eq!(choose(&tasks, "/p/x", None), Some("a"));
    }
}

#[test]
fn realpaths_hold_too() {
    use TaskState::*;
    // `/home/ana/w` is a symlink to `/data/w`.
    let linked = DirTask { dir_real: Some("/data/w"), ..task("linked", Open, 1, "/home/ana/w") };
    let deeper = task("deeper", Open, 2, "/data/w/sub");
    let tasks = [linked, deeper];
    assert_eq!(choose(&tasks, "/data/w/x", None), Some("linked"), "dir_real holds the cwd");
    assert_eq!(choose(&tasks, "/home/ana/w/x", Some("/data/w/x")), Some("linked"));
    assert_eq!(choose(&tasks, "/home/ana/w/sub", Some("/data/w/sub")), Some("deeper"));
    assert_eq!(
        choose(&tasks, "/elsewhere", Some("/data/w/sub/y")),
        Some("deeper"),
        "cwd_real counts"
    );
    assert_eq!(choose(&tasks, "/elsewhere", None), None);
}

#[test]
fn an_auto_task_holds_only_its_folder() {
    use TaskState::*;
    let auto = DirTask {
        auto: true,
        dir_real: Some("/real/p"),
        ..task("p-eaa327", Open, 1, "/home/dev/proj")
    };
    let tasks = [auto, task("home", Open, 5, "/home/dev")];
    let cases = [
        ("/home/dev/proj", None, Some("p-eaa327")),
        ("/home/dev/proj/", None, Some("p-eaa327")),
        ("/home/dev/proj/sub", None, Some("home")),
        ("/elsewhere", Some("/real/p"), Some("p-eaa327")),
        ("/elsewhere", Some("/real/p/sub"), None),
        ("/home/dev", None, Some("home")),
    ];
    for (cwd, real, want) in cases {
        assert_eq!(choose(&tasks, cwd, real), want, "{cwd} {real:?}");
    }
}

#[test]
fn auto_ids_come_from_the_folder() {
    let long = format!("/x/{}", "a".repeat(70));
    let cases = [
        ("/home/dev/proj", Some("proj-eaa327")),
        ("/home/dev/proj/", Some("proj-eaa327")),
        ("/home/dev/my proj", Some("my-proj-ae8740")),
        ("/home/dev/.config", Some("config-77345e")),
        ("/home/dev/проект", Some("task-da1b99")),
        ("/srv/__init__", Some("init__-ca2502")),
        ("/a/b.c-d_e", Some("b.c-d_e-86277b")),
        ("/home/dev/😀x", Some("x-fd21ab")),
        ("/-", Some("task-07d69b")),
        (long.as_str(), Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-e18284")),
        ("/", None),
        ("//", None),
        ("", None),
        ("proj", None),
        ("./proj", None),
        ("/home/dev", None),
        ("/home/dev/", None),
        ("/tmp", None),
        ("/tmp/", None),
        ("/home/dev/a\nb", None),
        ("/home/dev/\x1b[2J", None),
    ];
    for (dir, want) in cases {
        let id = auto_id(dir, Some("/home/dev/"), Some("/tmp"));
        assert_eq!(id.as_deref(), want, "{dir:?}");
        if let Some(id) = id {
            assert!(valid_id(&id) && id.len() <= 57, "{id}");
        }
    }
    assert_eq!(auto_id("/tmp/x", None, None).as_deref(), Some("x-6cc122"));
    assert_eq!(auto_id("/home/dev", None, None).as_deref(), Some("dev-fdf4c7"));
}
