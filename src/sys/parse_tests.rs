use super::*;

/// A `/proc/PID/stat` line with this command name, state, ppid and start.
fn stat_line(comm: &str, state: &str, ppid: i32, start: u64) -> String {
    // Fields 5..=21 are filler; 23.. follow the start time.
    let filler: Vec<String> = (5..=21).map(|n| n.to_string()).collect();
    format!("4242 ({comm}) {state} {ppid} {} {start} 23 24 25\n", filler.join(" "))
}

const STATUS: &str = "Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t501\t501\t501\nGid:\t20\t20\t20\t20\n";

#[test]
fn linux_stat_reads_after_the_last_parenthesis() {
    let cases = [
        ("sleep", "S", 1, 5, false),
        ("a b", "R", 2, 6, false),
        ("x) (y", "S", 3, 7, false),
        ("))", "Z", 4, 8, true),
        (") 9 9 9", "X", 5, 9, true),
        ("", "D", 6, 18446744073709551615, false),
    ];
    for (comm, state, ppid, start, zombie) in cases {
        let got = linux_stat(&stat_line(comm, state, ppid, start), STATUS);
        assert_eq!(got, Some(ProcStat { ppid, uid: 501, start, zombie }), "comm {comm:?}");
    }
}

#[test]
fn linux_stat_refuses_what_it_cannot_read() {
    let good = stat_line("sleep", "S", 1, 5);
    let cases = [
        ("no parenthesis", "4242 sleep S 1 2 3".to_string(), STATUS),
        ("too few fields", "4242 (sleep) S 1 2 3 4".to_string(), STATUS),
        ("ppid not a number", good.replace(" S 1 ", " S x "), STATUS),
        ("start not a number", stat_line("sleep", "S", 1, 5).replace(" 5 23", " -5 23"), STATUS),
        ("empty", String::new(), STATUS),
        ("no Uid line", good.clone(), "Name:\tsleep\n"),
        ("Uid line with one number", good.clone(), "Uid:\t501\n"),
        ("Uid not a number", good.clone(), "Uid:\t501\tme\t501\t501\n"),
    ];
    for (what, stat, status) in cases {
        assert_eq!(linux_stat(&stat, status), None, "{what}");
    }
}

#[test]
fn nul_separated_strings_keep_spaces_and_empty_middles() {
    let cases: [(&[u8], Vec<&[u8]>); 6] = [
        (b"", vec![]),
        (b"\0", vec![b""]),
        (b"sleep\x0030\0", vec![b"sleep", b"30"]),
        (b"sh\0-c\0a b\0h\xc3\xa9\0", vec![b"sh", b"-c", b"a b", "hé".as_bytes()]),
        (b"no final nul", vec![b"no final nul"]),
        (b"a\0\0b\0", vec![b"a", b"", b"b"]),
    ];
    for (buf, want) in cases {
        assert_eq!(nul_separated(buf), want, "{buf:?}");
    }
}

#[test]
fn env_value_finds_the_first_exact_name() {
    let env: Vec<&[u8]> =
        vec![b"HOME=/h", b"CODEX_HOME_X=no", b"CODEX_HOME=/c=d", b"CODEX_HOME=/2", b"EMPTY="];
    assert_eq!(env_value(&env, "CODEX_HOME"), Some(&b"/c=d"[..]));
    assert_eq!(env_value(&env, "HOME"), Some(&b"/h"[..]));
    assert_eq!(env_value(&env, "EMPTY"), Some(&b""[..]));
    assert_eq!(env_value(&env, "CODEX"), None);
    assert_eq!(env_value(&env, "MISSING"), None);
    assert_eq!(env_value(&[b"NOEQUALS"], "NOEQUALS"), None);
}

/// A `KERN_PROCARGS2` buffer as the macOS kernel lays it out.
fn procargs(argc: i32, path: &str, pad: usize, strings: &[&str]) -> Vec<u8> {
    let mut buf = argc.to_ne_bytes().to_vec();
    buf.extend(path.as_bytes());
    buf.extend(std::iter::repeat(0).take(pad));
    for s in strings {
        buf.extend(s.as_bytes());
        buf.push(0);
    }
    buf
}

#[test]
fn procargs2_splits_argv_environment_and_apple_strings() {
    let strings = ["node", "/opt/claude code/cli.js", "héllo ✓", "HOME=/Users/me", "A=b c", ""];
    let mut buf = procargs(3, "/usr/local/bin/node", 7, &strings);
    buf.extend(b"executable_path=/usr/local/bin/node\0ptr_munge=\0\0\0");
    let got = procargs2(&buf).expect("a well-formed buffer");
    let argv: Vec<&[u8]> = vec![b"node", b"/opt/claude code/cli.js", "héllo ✓".as_bytes()];
    assert_eq!(got.argv, argv);
    assert_eq!(got.env, vec![&b"HOME=/Users/me"[..], b"A=b c"]);
}

#[test]
fn procargs2_without_environment_or_arguments() {
    let buf = procargs(1, "/bin/sleep", 1, &["sleep"]);
    assert_eq!(procargs2(&buf), Some(ProcArgs { argv: vec![b"sleep"], env: vec![] }));
    let buf = procargs(0, "/bin/x", 4, &[]);
    assert_eq!(procargs2(&buf), Some(ProcArgs { argv: vec![], env: vec![] }));
    let buf = procargs(0, "/bin/x", 1, &["A=1"]);
    assert_eq!(procargs2(&buf), Some(ProcArgs { argv: vec![], env: vec![b"A=1"] }));
}

#[test]
fn procargs2_refuses_truncated_buffers() {
    let cases: [(&str, Vec<u8>); 6] = [
        ("empty", vec![]),
        ("short argc", vec![1, 0]),
        ("negative argc", procargs(-1, "/bin/x", 1, &["x"])),
        ("path without its NUL", procargs(1, "/bin/x", 0, &[])),
        ("argc larger than the strings", procargs(3, "/bin/x", 1, &["x", "y"])),
        ("only padding after the path", procargs(1, "/bin/x", 8, &[])),
    ];
    for (what, buf) in cases {
        assert_eq!(procargs2(&buf), None, "{what}");
    }
}

/// One inotify record as the kernel writes it, its name padded to `len`.
fn record(wd: i32, mask: u32, name: &str, len: u32) -> Vec<u8> {
    let mut buf = Vec::new();
    for word in [wd as u32, mask, 0, len] {
        buf.extend(word.to_ne_bytes());
    }
    buf.extend(name.as_bytes());
    buf.resize(buf.len() + len as usize - name.len(), 0);
    buf
}

#[test]
fn inotify_records_with_padded_names_and_an_overflow() {
    let mut buf = vec![0xAA]; // parsed from offset 1: the bytes need not be aligned
    buf.extend(record(1, 0x100, "new file.jsonl", 16));
    buf.extend(record(1, 0x200, "héllo", 32));
    buf.extend(record(2, 0x2, "", 0));
    buf.extend(record(-1, 0x4000, "", 0));
    buf.extend(record(3, 0x8000, "x", 1)); // a name that fills len: no NUL at all
    let got = inotify_events(&buf[1..]);
    let want = [
        InotifyEvent { wd: 1, mask: 0x100, name: b"new file.jsonl" },
        InotifyEvent { wd: 1, mask: 0x200, name: "héllo".as_bytes() },
        InotifyEvent { wd: 2, mask: 0x2, name: b"" },
        InotifyEvent { wd: -1, mask: 0x4000, name: b"" },
        InotifyEvent { wd: 3, mask: 0x8000, name: b"x" },
    ];
    assert_eq!(got, want);
}

#[test]
fn inotify_truncated_record_ends_the_list() {
    let mut buf = record(1, 0x100, "a", 16);
    let whole = buf.len();
    buf.extend(record(1, 0x200, "b", 16));
    for cut in [whole + 1, whole + 15, whole + 16, whole + 31] {
        let got = inotify_events(&buf[..cut]);
        assert_eq!(got, [InotifyEvent { wd: 1, mask: 0x100, name: b"a" }], "cut at {cut}");
    }
    assert_eq!(inotify_events(&buf[..5]), []);
    assert_eq!(inotify_events(&[]), []);
    let huge = record(1, 0x100, "", 0).into_iter().take(12).chain(u32::MAX.to_ne_bytes());
    assert_eq!(inotify_events(&huge.collect::<Vec<u8>>()), []);
}

#[test]
fn btime_is_the_boot_time_line_of_proc_stat() {
    let stat = "cpu  1 2 3\nintr 5\nbtime 1796116721\nprocesses 9\n";
    assert_eq!(btime(stat), Some(1_796_116_721));
    assert_eq!(btime("cpu 1\nbtimex 5\n"), None);
    assert_eq!(btime("btime -1\n"), None);
    assert_eq!(btime(""), None);
}
