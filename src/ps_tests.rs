use super::*;

/// A build of bach not named `bach`, as `ps` would show it.
const OWN: &str = "/opt/my tools/bach-dev";

/// Captured on Linux (procps-ng 4.0.2) with the exact command the daemon runs, lines
/// selected (a few with private arguments left out). Fake `bach` binaries were started
/// with the arguments shown: a path with a space, bare `bach` found on PATH, `./bach`,
/// malformed keys, a `sh -c` string, another user (65534), a real unreaped child
/// (`[bach] <defunct>`), and the artifact `/home/bo/agent  runs/ü.jsonl`, whose two
/// bytes of `ü` the C locale shows as `??`. The leading newline is a blank line 1.
const LINUX: &str = r"
    0     1     0     0 S<Ll Wed Nov 25 05:30:09 2026 /process_api --firecracker-init --addr 0.0.0.0:2024 --max-ws-buffer-size 32768 --block-local-connections --log-vsock-port 5002 --control-vsock-port 5001 --listen-vsock-port 2024 --tcp-readiness-only --auth-required
    0     2     0     0 S    Wed Nov 25 05:30:09 2026 [kthreadd]
    0     3     2     0 S    Wed Nov 25 05:30:09 2026 [pool_workqueue_release]
    0     4     2     0 I<   Wed Nov 25 05:30:09 2026 [kworker/R-rcu_gp]
    0     9     2     0 I    Wed Nov 25 05:30:09 2026 [kworker/0:0-events]
    0    14     2     0 S    Wed Nov 25 05:30:09 2026 [ksoftirqd/0]
    0    37     2     0 SN   Wed Nov 25 05:30:09 2026 [ksmd]
    0  1038     1  1038 Ss   Wed Nov 25 05:30:37 2026 bash /dev/fd/3
    0  5054     2     0 I    Wed Nov 25 05:43:30 2026 [kworker/1:2]
    0 10407     2     0 I    Wed Nov 25 05:48:32 2026 [kworker/u8:3-events_unbound]
    0 10920  1038  1974 S    Wed Nov 25 05:49:09 2026 bash /dev/fd/3
    0 10921 10920 10921 S    Wed Nov 25 05:49:09 2026 bash /dev/fd/3
    0 10924 10921 10921 S    Wed Nov 25 05:49:09 2026 /tmp/psfx/bin/bach internal session-watch --key 63507df7e5e672cf /Users/ana/work/s1.jsonl
    0 10925 10921 10921 S    Wed Nov 25 05:49:09 2026 /tmp/psfx/My Tools/bach internal session-watch --key 8ab3445f8e224274 /home/bo/agent  runs/??.jsonl
    0 10926 10921 10921 S    Wed Nov 25 05:49:09 2026 bach internal session-watch --key 0123456789abcdef /tmp/x y.jsonl
    0 10927 10921 10921 S    Wed Nov 25 05:49:09 2026 ./bach internal session-watch --key 0123456789abcdef /tmp/rel.jsonl
    0 10928 10921 10921 S    Wed Nov 25 05:49:09 2026 /tmp/psfx/bin/bach internal session-watch /a.jsonl
    0 10929 10921 10921 S    Wed Nov 25 05:49:09 2026 /tmp/psfx/bin/bach internal session-watch --key 0123456789ABCDEF /a.jsonl
    0 10930 10921 10921 S    Wed Nov 25 05:49:09 2026 /tmp/psfx/bin/bach internal session-watch --key 0123456789abcde /a.jsonl
    0 10931 10921 10921 S    Wed Nov 25 05:49:09 2026 /tmp/psfx/bin/bach internal session-watch --verbose --key 0123456789abcdef /a.jsonl
    0 10932 10921 10921 S    Wed Nov 25 05:49:09 2026 /tmp/psfx/bin/bach zombie-parent
    0 10933 10921 10921 S    Wed Nov 25 05:49:09 2026 /bin/sh -c /tmp/psfx/bin/bach internal session-watch --key 63507df7e5e672cf /a.jsonl; exit 0
65534 10934 10921 10921 S    Wed Nov 25 05:49:09 2026 /tmp/psfx/bin/bach internal session-watch --key 63507df7e5e672cf /Users/ana/work/s1.jsonl
    0 10935 10932 10921 Z    Wed Nov 25 05:49:09 2026 [bach] <defunct>
    0 10936 10921 10921 S    Wed Nov 25 05:49:09 2026 /tmp/psfx/bin/bach internal session-watch --key 63507df7e5e672cf /a.jsonl
    0 10937 10921 10921 S    Wed Nov 25 05:49:09 2026 tail -f /dev/null
    0 10938 10921 10921 S    Wed Nov 25 05:49:09 2026 grep session-watch
    0 10940 10921 10921 R    Wed Nov 25 05:49:09 2026 ps -axww -o uid=,pid=,ppid=,pgid=,stat=,lstart=,command=
";

/// Written by hand after macOS ps(1) (adv_cmds): uid, pid, ppid and pgid right-aligned in 5 columns,
/// `stat` left-aligned in 4, `lstart` left-aligned in 28 (so 5 blanks before the
/// command), `kernel_task` as pid 0, zombies shown as `(bach)` or `<defunct>`, a process
/// it cannot inspect as `?E`, and non-ASCII bytes as `vis(3)` escapes (`M-C`).
const MACOS: &str = r"    0     0     0     0 Rs   Wed Nov 25 04:01:00 2026     kernel_task
    0     1     0     1 Ss   Wed Nov 25 04:01:02 2026     /sbin/launchd
   88   120     1   120 Ss   Wed Nov 25 04:01:10 2026     /System/Library/Frameworks/CoreServices.framework/Versions/A/Frameworks/Metadata.framework/Versions/A/Support/mds
  501   702     1   702 S    Wed Nov 25 04:02:41 2026     /Applications/Some App.app/Contents/MacOS/Some App -psn_0_1
  501   900     1   900 SN   Thu Nov  5 04:31:14 2026     /System/Library/Frameworks/CoreServices.framework/Frameworks/Metadata.framework/Versions/A/Support/mdworker_shared -s mdworker -c MDSImporterWorker -m com.apple.mdworker.shared
    0  1201     1  1201 Ss   Wed Nov 25 04:31:14 2026     login -pf ana
  501  1202  1201  1202 S+   Wed Nov 25 04:31:14 2026     -zsh
  501  1300     1  1300 Ss   Wed Nov 25 04:31:20 2026     /Users/ana/.cargo/bin/bach internal session-watch --key 63507df7e5e672cf /Users/ana/work/s1.jsonl
  501  1301     1  1301 Ss   Wed Nov 25 04:31:22 2026     /Users/ana/Library/Application Support/bach/bach internal session-watch --key 8ab3445f8e224274 /Users/ana/agent  runs/M-CM-<.jsonl
  501  1302  1300  1300 Z    Wed Nov 25 04:31:23 2026     (bach)
  501  1303     1  1303 Z    Wed Nov 25 04:31:24 2026     <defunct>
    0  1304     1  1304 U    Wed Nov 25 04:31:25 2026     /usr/sbin/spindump
  501  1400  1202  1202 R+   Wed Nov 25 04:40:00 2026     ps -axww -o uid=,pid=,ppid=,pgid=,stat=,lstart=,command=
  501  4242     1  4242 ?E   Wed Nov 25 04:31:14 2026     (cc1)
";

const START: &str = "Wed Nov 25 05:49:09 2026";

fn proc(ids: (u32, i32, i32, i32), zombie: bool, start: &str, command: &str) -> Proc {
    let (uid, pid, ppid, pgid) = ids;
    let (start, command) = (start.into(), command.into());
    Proc { uid, pid, ppid, pgid, zombie, start, command, ticks: None }
}

fn watcher(pid: i32, pgid: i32, key: &str, artifact: &str) -> WatcherProc {
    WatcherProc { pid, pgid, key: key.into(), artifact: artifact.into() }
}

fn linux() -> Vec<Proc> {
    parse(LINUX).expect("the real Linux fixture parses")
}

#[test]
fn real_linux_output_parses_every_line_in_order() {
    let procs = linux();
    assert_eq!(procs.len(), 28);
    let pids: Vec<i32> = procs.iter().map(|p| p.pid).collect();
    assert_eq!(pids[..4], [1, 2, 3, 4]);
    assert_eq!(pids[27], 10940);
}

#[test]
fn real_linux_init_keeps_its_whole_long_command() {
    let p = &linux()[0];
    assert_eq!((p.uid, p.pid, p.pgid, p.zombie), (0, 1, 0, false));
    assert_eq!(p.start, "Wed Nov 25 05:30:09 2026");
    assert!(p.command.starts_with("/process_api --firecracker-init --addr 0.0.0.0:2024"));
    assert!(p.command.ends_with("--tcp-readiness-only --auth-required"));
}

#[test]
fn kernel_threads_keep_their_brackets_and_group_zero() {
    let procs = linux();
    assert_eq!(procs[1], proc((0, 2, 0, 0), false, "Wed Nov 25 05:30:09 2026", "[kthreadd]"));
    assert_eq!(
        procs[3],
        proc((0, 4, 2, 0), false, "Wed Nov 25 05:30:09 2026", "[kworker/R-rcu_gp]")
    );
    assert_eq!(procs[6], proc((0, 37, 2, 0), false, "Wed Nov 25 05:30:09 2026", "[ksmd]"));
}

#[test]
fn real_linux_watchers_are_exactly_the_well_formed_ones_of_this_user() {
    assert_eq!(
        watchers(&linux(), 0, OWN),
        [
            watcher(10924, 10921, "63507df7e5e672cf", "/Users/ana/work/s1.jsonl"),
            watcher(10925, 10921, "8ab3445f8e224274", "/home/bo/agent  runs/??.jsonl"),
            watcher(10926, 10921, "0123456789abcdef", "/tmp/x y.jsonl"),
            // The child that `sh -c` started is a watcher; the shell (10933) is not.
            watcher(10936, 10921, "63507df7e5e672cf", "/a.jsonl"),
        ]
    );
}

#[test]
fn another_users_watcher_belongs_to_that_user_only() {
    let key = "63507df7e5e672cf";
    assert_eq!(
        watchers(&linux(), 65534, OWN),
        [watcher(10934, 10921, key, "/Users/ana/work/s1.jsonl")]
    );
    assert_eq!(watchers(&linux(), 501, OWN), []);
}

#[test]
fn mangled_non_ascii_and_double_spaces_stay_in_the_artifact() {
    let p = find(&linux(), 10925).cloned().expect("listed");
    let want = "/tmp/psfx/My Tools/bach internal session-watch --key 8ab3445f8e224274 /home/bo/agent  runs/??.jsonl";
    assert_eq!(p, proc((0, 10925, 10921, 10921), false, START, want));
}

#[test]
fn real_zombie_is_listed_and_found_but_never_a_watcher() {
    let procs = linux();
    assert_eq!(
        find(&procs, 10935),
        Some(&proc((0, 10935, 10932, 10921), true, START, "[bach] <defunct>"))
    );
    assert!(watchers(&procs, 0, OWN).iter().all(|w| w.pid != 10935));
}

#[test]
fn zombie_with_a_watcher_command_is_not_a_watcher() {
    let text = "  501 7 1 7 Z    Wed Nov 25 04:31:14 2026 bach internal session-watch --key 63507df7e5e672cf /a\n\
                \x20 501 8 1 8 S    Wed Nov 25 04:31:14 2026 bach internal session-watch --key 63507df7e5e672cf /a\n";
    let procs = parse(text).expect("parses");
    assert!(procs[0].zombie);
    assert_eq!(watchers(&procs, 501, OWN), [watcher(8, 8, "63507df7e5e672cf", "/a")]);
}

#[test]
fn zombie_flag_comes_from_z_in_stat_whatever_flags_follow() {
    let text = "0 5 1 5 Z+ Wed Nov 25 04:31:14 2026 x\n0 6 1 6 Ss Wed Nov 25 04:31:14 2026 x\n";
    let zombies: Vec<bool> = parse(text).expect("parses").iter().map(|p| p.zombie).collect();
    assert_eq!(zombies, [true, false]);
}

#[test]
fn macos_output_parses_with_the_padding_after_the_start() {
    let procs = parse(MACOS).expect("the macOS fixture parses");
    assert_eq!(procs.len(), 14);
    assert_eq!(procs[0], proc((0, 0, 0, 0), false, "Wed Nov 25 04:01:00 2026", "kernel_task"));
    let app = "/Applications/Some App.app/Contents/MacOS/Some App -psn_0_1";
    assert_eq!(procs[3], proc((501, 702, 1, 702), false, "Wed Nov 25 04:02:41 2026", app));
    assert_eq!(procs[4].start, "Thu Nov 5 04:31:14 2026");
    assert_eq!(procs[6], proc((501, 1202, 1201, 1202), false, "Wed Nov 25 04:31:14 2026", "-zsh"));
    assert_eq!(procs[9], proc((501, 1302, 1300, 1300), true, "Wed Nov 25 04:31:23 2026", "(bach)"));
    assert_eq!(procs[10].command, "<defunct>");
    assert_eq!((procs[11].command.as_str(), procs[11].zombie), ("/usr/sbin/spindump", false));
}

#[test]
fn macos_watchers_include_an_install_path_with_a_space() {
    let procs = parse(MACOS).expect("parses");
    assert_eq!(
        watchers(&procs, 501, OWN),
        [
            watcher(1300, 1300, "63507df7e5e672cf", "/Users/ana/work/s1.jsonl"),
            // Under the C locale macOS `ps` shows the bytes of `ü` as `M-C` `M-<`.
            watcher(1301, 1301, "8ab3445f8e224274", "/Users/ana/agent  runs/M-CM-<.jsonl"),
        ]
    );
    assert_eq!(watchers(&procs, 0, OWN), []);
}

#[test]
fn find_returns_pid_zero_zombies_and_none_for_an_absent_pid() {
    let procs = parse(MACOS).expect("parses");
    assert_eq!(find(&procs, 0).map(|p| p.command.as_str()), Some("kernel_task"));
    assert_eq!(find(&procs, 1303).map(|p| p.zombie), Some(true));
    assert_eq!(find(&procs, 4243), None);
    assert_eq!(find(&[], 1), None);
}

#[test]
fn linux_padded_day_is_joined_with_single_spaces() {
    let procs =
        parse("    0  4242     1  4242 S    Thu Nov  5 04:31:14 2026 sleep 9\n").expect("parses");
    assert_eq!(procs, [proc((0, 4242, 1, 4242), false, "Thu Nov 5 04:31:14 2026", "sleep 9")]);
}

#[test]
fn command_keeps_inner_runs_of_blanks_and_loses_trailing_ones() {
    let procs = parse("0 9 1 9 S Wed Nov 25 04:31:14 2026   /a  b\tc   d   \t \n").expect("parses");
    assert_eq!(procs[0].command, "/a  b\tc   d");
}

#[test]
fn trailing_blanks_of_a_watcher_line_do_not_reach_the_artifact() {
    let text = "501 9 1 9 Ss Wed Nov 25 04:31:14 2026 bach internal session-watch --key 63507df7e5e672cf /x y  \n";
    assert_eq!(
        watchers(&parse(text).expect("parses"), 501, OWN),
        [watcher(9, 9, "63507df7e5e672cf", "/x y")]
    );
}

#[test]
fn empty_command_is_allowed() {
    let procs =
        parse("0 9 1 9 S Wed Nov 25 04:31:14 2026\n0 10 1 10 S Wed Nov 25 04:31:14 2026     \n")
            .expect("parses");
    assert_eq!(procs[0].command, "");
    assert_eq!(procs[1].command, "");
}

#[test]
fn tabs_separate_fields_like_spaces() {
    let procs = parse("0\t9\t1\t9\tS\tWed\tNov\t25\t04:31:14\t2026\tcat\n").expect("parses");
    assert_eq!(procs, [proc((0, 9, 1, 9), false, "Wed Nov 25 04:31:14 2026", "cat")]);
}

#[test]
fn large_uid_and_pid_parse_to_their_limits() {
    let procs = parse("4294967295 2147483647 2147483647 2147483647 S Wed Nov 25 04:31:14 2026 x")
        .expect("parses");
    let p = &procs[0];
    assert_eq!((p.uid, p.pid, p.ppid, p.pgid), (u32::MAX, i32::MAX, i32::MAX, i32::MAX));
}

#[test]
fn blank_lines_are_skipped_but_still_count_in_line_numbers() {
    let good =
        "0 9 1 9 S Wed Nov 25 04:31:14 2026 a\n\n   \n\t\n0 10 1 10 S Wed Nov 25 04:31:14 2026 b\n";
    assert_eq!(parse(good).expect("parses").len(), 2);
    let bad = "\n0 9 1 9 S Wed Nov 25 04:31:14 2026 a\n\n0 10 1 10 S Wed Nov 25 04:31:14\n";
    assert_eq!(
        parse(bad),
        Err("line 4: start time is incomplete: 0 10 1 10 S Wed Nov 25 04:31:14".into())
    );
}

#[test]
fn output_with_no_process_is_an_error() {
    for text in ["", "\n", "   \n\n\t\n"] {
        assert_eq!(parse(text), Err("ps listed no process".into()), "{text:?}");
    }
}

#[test]
fn one_bad_line_makes_the_whole_output_unknown() {
    let text = format!("{LINUX}garbage\n{MACOS}");
    assert_eq!(parse(&text), Err("line 30: uid is not a number: garbage".into()));
}

#[test]
fn truncated_lines_name_their_number_and_the_missing_field() {
    let cases = [
        ("    0", "line 1: pid is missing: 0"),
        ("    0  1234", "line 1: ppid is missing: 0  1234"),
        ("    0  1234     1", "line 1: pgid is missing: 0  1234     1"),
        ("    0  1234     1  1234  ", "line 1: stat is missing: 0  1234     1  1234"),
        ("    0  1234     1  1234 S", "line 1: start time is incomplete: 0  1234     1  1234 S"),
        ("0 1234 1 1234 S Wed Nov", "line 1: start time is incomplete: 0 1234 1 1234 S Wed Nov"),
    ];
    for (line, want) in cases {
        assert_eq!(parse(line), Err(want.to_string()), "{line:?}");
    }
}

#[test]
fn numbers_that_are_not_plain_digits_are_rejected_by_name() {
    let cases = [
        ("PID   USER     TIME  COMMAND", "uid is not a number"),
        ("  PID USER       TIME  COMMAND", "uid is not a number"),
        ("ps: unrecognized option: o", "uid is not a number"),
        ("-1 5 1 5 S Wed Nov 25 04:31:14 2026 x", "uid is negative"),
        ("4294967296 5 1 5 S Wed Nov 25 04:31:14 2026 x", "uid is out of range"),
        ("0 abc 1 5 S Wed Nov 25 04:31:14 2026 x", "pid is not a number"),
        ("0 -5 1 5 S Wed Nov 25 04:31:14 2026 x", "pid is negative"),
        ("0 +5 1 5 S Wed Nov 25 04:31:14 2026 x", "pid is not a number"),
        ("0 - 1 5 S Wed Nov 25 04:31:14 2026 x", "pid is not a number"),
        ("0 2147483648 1 5 S Wed Nov 25 04:31:14 2026 x", "pid is out of range"),
        ("0 5 -1 5 S Wed Nov 25 04:31:14 2026 x", "ppid is negative"),
        ("0 5 x 5 S Wed Nov 25 04:31:14 2026 x", "ppid is not a number"),
        ("0 5 1 -1 S Wed Nov 25 04:31:14 2026 x", "pgid is negative"),
        ("0 5 1 0x5 S Wed Nov 25 04:31:14 2026 x", "pgid is not a number"),
    ];
    for (line, why) in cases {
        let shown = line.trim();
        assert_eq!(parse(line), Err(format!("line 1: {why}: {shown}")), "{line:?}");
    }
}

#[test]
fn any_printable_state_is_accepted_and_only_a_leading_z_is_a_zombie() {
    // macOS prints `?` for a process it cannot inspect (one that is exiting).
    for (stat, zombie) in [
        ("?E", false),
        ("?", false),
        ("12", false),
        ("<s", false),
        ("tN", false),
        ("SZ", false),
        ("Z", true),
        ("Zs+", true),
    ] {
        let procs = parse(&format!("0 5 1 5 {stat} Wed Nov 25 04:31:14 2026 x")).expect(stat);
        assert_eq!(procs[0].zombie, zombie, "{stat}");
    }
    let line = "0 5 1 5 S\u{e9} Wed Nov 25 04:31:14 2026 x";
    assert_eq!(parse(line), Err(format!("line 1: stat is not printable: {line}")));
}

#[test]
fn one_uninspectable_macos_process_keeps_the_whole_table() {
    let procs = parse(MACOS).expect("a `?E` line is a process like any other");
    let cc1 = find(&procs, 4242).expect("listed");
    assert_eq!((cc1.ppid, cc1.zombie, cc1.command.as_str()), (1, false, "(cc1)"));
}

#[test]
fn parents_are_read() {
    let procs = linux();
    assert_eq!(find(&procs, 10924).map(|p| p.ppid), Some(10921));
    assert_eq!(find(&procs, 1).map(|p| p.ppid), Some(0));
}

#[test]
fn a_missing_stat_column_is_caught_by_the_start_time() {
    let line = "0 5 1 5 Wed Nov 25 04:31:14 2026 sleep 9";
    assert_eq!(parse(line), Err(format!("line 1: start time is not a date: {line}")));
}

#[test]
fn start_times_that_are_not_dates_are_rejected() {
    let starts = [
        "Foo Nov 25 04:31:14 2026",
        "wed Nov 25 04:31:14 2026",
        "Wed 11 25 04:31:14 2026",
        "Wed Nov 0 04:31:14 2026",
        "Wed Nov 32 04:31:14 2026",
        "Wed Nov 100 04:31:14 2026",
        "Wed Nov +5 04:31:14 2026",
        "Wed Nov 25 24:00:00 2026",
        "Wed Nov 25 04:60:14 2026",
        "Wed Nov 25 4:31:14 2026",
        "Wed Nov 25 04:31 2026",
        "Wed Nov 25 04:31:14:00 2026",
        "Wed Nov 25 2026 04:31:14",
        "Wed Nov 25 04:31:14 26",
        "Wed Nov 25 04:31:14 2026x",
        "Wed Nov 25 04:31:14 20266",
    ];
    for start in starts {
        let line = format!("0 5 1 5 S {start} x");
        assert_eq!(
            parse(&line),
            Err(format!("line 1: start time is not a date: {line}")),
            "{start}"
        );
    }
}

#[test]
fn odd_but_valid_start_times_are_kept_as_printed() {
    for start in
        ["Sat Feb 29 23:59:60 2028", "Sun Jan 01 00:00:00 1970", "Mon Dec 31 12:00:00 9999"]
    {
        let procs = parse(&format!("0 5 1 5 S {start} x")).expect(start);
        assert_eq!(procs[0].start, start);
    }
}

#[test]
fn error_shows_the_line_escaped_and_cut_at_80_characters() {
    let line = "0 5 1 5 S Wed Nov 25 04:31:14 \x1b[31m2026 x";
    let want = "line 1: start time is not a date: 0 5 1 5 S Wed Nov 25 04:31:14 \\x1b[31m2026 x";
    assert_eq!(parse(line), Err(want.into()));
    let long = format!("x{}", "é".repeat(100));
    let want = format!("line 1: uid is not a number: x{}...", "é".repeat(79));
    assert_eq!(parse(&long), Err(want));
    assert_eq!(parse("\u{85}garbage"), Err("line 1: uid is not a number: \\u{85}garbage".into()));
}

#[test]
fn watcher_command_accepts_the_exact_command_line() {
    let cases = [
        ("bach internal session-watch --key 63507df7e5e672cf /a", "/a"),
        ("/bach internal session-watch --key 63507df7e5e672cf /a", "/a"),
        ("/usr/local/bin/bach internal session-watch --key 63507df7e5e672cf /Users/ana/s1.jsonl", "/Users/ana/s1.jsonl"),
        ("/opt/My Tools/bach internal session-watch --key 63507df7e5e672cf /x  y/ü?.jsonl", "/x  y/ü?.jsonl"),
        // The first occurrence ends the program; the rest is all artifact.
        (
            "bach internal session-watch --key 63507df7e5e672cf /a internal session-watch --key 8ab3445f8e224274 /b",
            "/a internal session-watch --key 8ab3445f8e224274 /b",
        ),
        // A trailing flag cannot be told from a path with a space: it is artifact.
        ("bach internal session-watch --key 63507df7e5e672cf /a --verbose", "/a --verbose"),
    ];
    for (command, artifact) in cases {
        assert_eq!(
            watcher_command(command, OWN),
            Some(("63507df7e5e672cf", artifact)),
            "{command}"
        );
    }
}

#[test]
fn watcher_command_rejects_anything_else() {
    let key = "63507df7e5e672cf";
    let rejected = [
        format!("/bin/sh -c /x/bach internal session-watch --key {key} /a"),
        format!("sh -c bach internal session-watch --key {key} /a"),
        format!("/bin/sh -c 'bach internal session-watch --key {key} /a'"),
        format!("/x/bach -v internal session-watch --key {key} /a"),
        format!("grep internal session-watch --key {key} /a"),
        "grep session-watch".into(),
        "bach internal session-watch /a".into(),
        "/usr/local/bin/bach internal session-watch /a".into(),
        "bach internal session-watch --key 63507DF7E5E672CF /a".into(),
        "bach internal session-watch --key 63507df7e5e672c /a".into(),
        "bach internal session-watch --key 63507df7e5e672cf0 /a".into(),
        "bach internal session-watch --key 63507df7e5e672cg /a".into(),
        "bach internal session-watch --key 63507df7e5e672cü/a".into(),
        format!("bach internal session-watch --key {key}"),
        format!("bach internal session-watch --key {key} "),
        format!("bach internal session-watch --key {key}  /a"),
        format!("bach internal session-watch --key {key} a.jsonl"),
        format!("bach internal session-watch --key {key} --verbose /a"),
        format!("bach internal session-watch --verbose --key {key} /a"),
        format!("bach internal session-watch --key={key} /a"),
        format!("bach  internal session-watch --key {key} /a"),
        format!("bachx internal session-watch --key {key} /a"),
        format!("/x/notbach internal session-watch --key {key} /a"),
        format!("/x/bach/ internal session-watch --key {key} /a"),
        format!("./bach internal session-watch --key {key} /a"),
        format!("bin/bach internal session-watch --key {key} /a"),
        format!("bach internal watch --key {key} /a"),
        "[bach] <defunct>".into(),
        "(bach)".into(),
        "bach".into(),
        String::new(),
    ];
    for command in &rejected {
        assert_eq!(watcher_command(command, OWN), None, "{command}");
    }
}

#[test]
fn a_wrapper_without_a_dash_flag_looks_like_a_path_with_spaces() {
    // Known limit: `ps` joins argv with spaces, so this reads as the program
    // "/usr/bin/env /x/bach". Harmless: only the key's lock holder is ever signalled.
    let command = "/usr/bin/env /x/bach internal session-watch --key 63507df7e5e672cf /a";
    assert_eq!(watcher_command(command, OWN), Some(("63507df7e5e672cf", "/a")));
}

#[test]
fn args_ask_for_every_process_at_full_width_without_headers() {
    assert_eq!(ARGS.join(" "), "-axww -o uid=,pid=,ppid=,pgid=,stat=,lstart=,command=");
}

#[test]
fn a_build_not_named_bach_knows_its_own_watchers_and_only_those() {
    let ours = "/opt/my tools/bach-dev internal session-watch --key 63507df7e5e672cf /a";
    assert_eq!(watcher_command(ours, OWN), Some(("63507df7e5e672cf", "/a")));
    let other = "/opt/my tools/bach-old internal session-watch --key 63507df7e5e672cf /a";
    assert_eq!(watcher_command(other, OWN), None, "another build with another name");
    let wrapped =
        "/bin/sh -c /opt/my tools/bach-dev internal session-watch --key 63507df7e5e672cf /a";
    assert_eq!(watcher_command(wrapped, OWN), None);
}

#[test]
fn paths_are_shown_as_ps_prints_them_under_the_c_locale() {
    assert_eq!(shown_path("/usr/local/bin/bach"), "/usr/local/bin/bach");
    let (umlaut, tab) = match cfg!(target_vendor = "apple") {
        true => ("/Library/Application Support/bM-CM-<ch/bach", "a^Ib"),
        false => ("/Library/Application Support/b??ch/bach", "a?b"),
    };
    assert_eq!(shown_path("/Library/Application Support/b\u{fc}ch/bach"), umlaut);
    assert_eq!(shown_path("a\tb"), tab);
}
