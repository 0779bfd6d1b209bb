use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/codex/");
const ROLLOUT: &str =
    "real-0.171/rollout-2026-12-01T08-41-46-01a230c4-6346-7413-8eed-79165b9fbcd9.jsonl";

fn first_line(rel: &str) -> Vec<u8> {
    let text = std::fs::read(format!("{FIXTURES}{rel}")).expect(rel);
    let end = text.iter().position(|&c| c == b'\n').unwrap();
    text[..=end].to_vec()
}

#[test]
fn codex_is_recognised_by_its_command_line() {
    let native =
        "/usr/lib/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex";
    let cases: &[(&[&str], bool)] = &[
        (&["codex"], true),
        (&["codex", "fix the failing test"], true),
        (&["codex", "login please"], true),
        (&["codex", "-m", "o3", "--full-auto", "fix it"], true),
        (&["codex", "-p", "login"], true),
        (&["codex", "--model=o3"], true),
        (&["codex", "--", "login"], true),
        (&["codex", "exec", "run the tests"], true),
        (&["codex", "e", "run the tests"], true),
        (&["codex", "exec", "--skip-git-repo-check", "run the tests"], true),
        (&["codex", "exec", "resume", "--last"], true),
        (&["codex", "-c", "model=\"o3\"", "resume", "--last"], true),
        (&["codex", "exec", "--", "--help"], true),
        (&[native, "exec", "--skip-git-repo-check", "run the tests"], true),
        (
            &[
                "node",
                "/home/dev/proj/node_modules/.bin/codex",
                "exec",
                "--skip-git-repo-check",
                "run the tests",
            ],
            true,
        ),
        (&["/usr/bin/node", "/usr/lib/node_modules/@openai/codex/bin/codex.js"], true),
        (&["node", "--no-warnings", "/usr/bin/codex", "resume"], true),
        (&["codex", "login"], false),
        (&["codex", "logout"], false),
        (&["codex", "mcp", "list"], false),
        (&["codex", "mcp-server"], false),
        (&["codex", "app-server"], false),
        (&["codex", "completion", "zsh"], false),
        (&["codex", "sandbox", "linux", "ls"], false),
        (&["codex", "debug", "seatbelt"], false),
        (&["codex", "apply"], false),
        (&["codex", "a"], false),
        (&["codex", "review"], false),
        (&["codex", "fork", "--last"], false),
        (&["codex", "cloud"], false),
        (&["codex", "features", "list"], false),
        (&["codex", "help"], false),
        (&["codex", "--version"], false),
        (&["codex", "-V"], false),
        (&["codex", "--help"], false),
        (&["codex", "-m", "o3", "login"], false),
        (&["codex", "exec", "--help"], false),
        (&["codex", "resume", "-h"], false),
        (&["node", "/x/.bin/codex", "login"], false),
        (&["codex-linux-sandbox", "--", "bash"], false),
        (&["vim", "codex"], false),
        (&["less", "/x/codex"], false),
        (&["grep", "codex"], false),
        (&["python", "codex.py"], false),
        (&["/bin/sh", "-c", "codex"], false),
        (&["node", "/x/codex-helper.js"], false),
        (&["node", "-e", "require('/x/codex')"], false),
        (&["node"], false),
        (&[], false),
    ];
    for (argv, want) in cases {
        assert_eq!(is_codex(argv), *want, "{argv:?}");
    }
}

#[test]
fn the_wrapper_and_the_native_binary_are_one_agent() {
    type Agents<'a> = &'a [(i32, &'a [i32])];
    let cases: &[(&[(i32, i32)], Agents)] = &[
        // The real tree: node wrapper 9100 (under a shell), native 9101.
        (&[(9100, 900), (9101, 9100)], &[(9100, &[9100, 9101])]),
        (&[(9101, 9100), (9100, 900)], &[(9100, &[9100, 9101])]),
        // Two independent agents, one with a wrapper.
        (&[(10, 1), (11, 10), (20, 2)], &[(10, &[10, 11]), (20, &[20])]),
        // A codex run by a tool of a codex (through a shell) is its own agent.
        (&[(10, 1), (11, 10), (30, 12)], &[(10, &[10, 11]), (30, &[30])]),
        // Deeper chains and siblings all belong to the outermost.
        (&[(10, 1), (11, 10), (12, 11), (13, 10)], &[(10, &[10, 11, 13, 12])]),
        // Duplicates are counted once; cycles have no outermost.
        (&[(10, 1), (10, 1), (11, 10)], &[(10, &[10, 11])]),
        (&[(5, 6), (6, 5)], &[]),
        (&[(7, 7)], &[]),
        (&[], &[]),
    ];
    for (procs, want) in cases {
        let want: Vec<(i32, Vec<i32>)> = want.iter().map(|(p, m)| (*p, m.to_vec())).collect();
        assert_eq!(outermost(procs), want, "{procs:?}");
    }
}

#[test]
fn the_real_rollout_opens_with_its_meta() {
    let line = first_line(ROLLOUT);
    assert!(line.len() > 20_000, "the first line is {} bytes", line.len());
    let want = Meta {
        id: "01a230c4-6346-7413-8eed-79165b9fbcd9".into(),
        cwd: "/home/dev/proj".into(),
        timestamp_secs: 1796114506,
        originator: Some("codex_exec".into()),
    };
    assert_eq!(parse_meta(&line), Some(want.clone()));
    assert_eq!(parse_meta(&line[..line.len() - 1]), Some(want.clone()), "without its newline");
    assert_eq!(session_id(&want.id).as_deref(), Some("x-01a230c46346"));
    let older = parse_meta(&first_line("turn-done.jsonl")).unwrap();
    assert_eq!(
        (older.id.as_str(), older.timestamp_secs),
        ("019e49ce-6716-7b6d-9ae6-ecbd535a7e07", 1779354724)
    );
    assert_eq!(older.originator.as_deref(), Some("codex-tui"));
}

#[test]
fn other_first_lines_give_no_meta() {
    let line = String::from_utf8(first_line(ROLLOUT)).unwrap();
    let cut = line.len() / 2;
    let cases = [
        String::new(),
        line[..cut].to_string(),
        line.replacen(r#""type":"session_meta""#, r#""type":"event_msg""#, 1),
        line.replacen(r#""cwd":"/home/dev/proj""#, r#""cwd":"home/dev/proj""#, 1),
        line.replacen(r#""cwd":"/home/dev/proj""#, r#""cwd":"/home/dev/proj\n""#, 1),
        line.replacen(r#""cwd":"/home/dev/proj""#, r#""cwd":7"#, 1),
        line.replacen(r#""id":"01a230c4"#, r#""id":" 01a230c4"#, 1),
        line.replacen(r#""originator":"codex_exec""#, r#""originator":"\u001b[31m""#, 1),
        line.replacen(r#""timestamp":"2026-12-01T08:41:46.569Z""#, r#""timestamp":"yesterday""#, 1),
        r#"{"type":"session_meta","payload":[{"id":"01a2","cwd":"/p","timestamp":"2026-12-01T08:41:46Z"}]}"#.into(),
        r#"{"type":"session_meta","payload":"{}","timestamp":"2026-12-01T08:41:46Z"}"#.into(),
        format!("{line}{line}"),
        r#"{"timestamp":"2026-12-01T08:41:46.595Z","type":"session_meta"}"#.into(),
        r#"{"timestamp":"2026-12-01T08:41:46.595Z","type":"session_meta","payload":{"cwd":"/p"}}"#
            .into(),
        r#"{"id":"0199","timestamp":"2025-06-01T10:00:00.000Z","instructions":null}"#.into(),
        r#"{"record_type":"state"}"#.into(),
    ];
    for (n, text) in cases.iter().enumerate() {
        assert_eq!(parse_meta(text.as_bytes()), None, "case {n}: {}", &text[..text.len().min(200)]);
    }
    let fallback = r#"{"timestamp":"2026-12-01T08:41:47.000Z","type":"session_meta","payload":{"id":"01a2","cwd":"/p"}}"#;
    let meta = parse_meta(fallback.as_bytes()).unwrap();
    assert_eq!((meta.timestamp_secs, meta.originator), (1796114507, None), "the line's time");
}

#[test]
fn a_rollout_fits_a_process_in_its_folder_started_before_it() {
    let meta = Meta {
        id: "x".into(),
        cwd: "/home/dev/proj".into(),
        timestamp_secs: 1000,
        originator: None,
    };
    let cases = [
        ("/home/dev/proj", 990, true),
        ("/home/dev/proj", 1000, true),
        ("/home/dev/proj", 1001, true),
        ("/home/dev/proj", 1002, false),
        ("/home/dev/proj/", 990, false),
        ("/home/dev", 990, false),
        ("/home/dev/proj2", 990, false),
    ];
    for (cwd, start, want) in cases {
        assert_eq!(meta_fits(&meta, cwd, start), want, "{cwd} {start}");
    }
}

#[test]
fn utc_times() {
    let cases = [
        ("2026-12-01T08:41:46.569Z", Some(1796114506)),
        ("2026-12-01T08:41:46Z", Some(1796114506)),
        ("2026-12-01T08:41:46.123456789Z", Some(1796114506)),
        ("1970-01-01T00:00:00.000Z", Some(0)),
        ("2000-02-29T23:59:59Z", Some(951868799)),
        ("2028-02-29T00:00:00Z", Some(1835395200)),
        ("2100-03-01T00:00:00Z", Some(4107542400)),
        ("2026-12-31T23:59:60Z", Some(1798761600)),
        ("1969-12-31T23:59:59Z", None),
        ("2026-02-29T00:00:00Z", None),
        ("2100-02-29T00:00:00Z", None),
        ("2026-13-01T00:00:00Z", None),
        ("2026-00-01T00:00:00Z", None),
        ("2026-04-31T00:00:00Z", None),
        ("2026-12-00T00:00:00Z", None),
        ("2026-12-01T24:00:00Z", None),
        ("2026-12-01T23:60:00Z", None),
        ("2026-12-01T23:59:61Z", None),
        ("2026-12-01T08:41:46.Z", None),
        ("2026-12-01T08:41:46.5x", None),
        ("2026-12-01T08:41:46", None),
        ("2026-12-01T08:41:46+00:00", None),
        ("2026-12-01 08:41:46Z", None),
        ("2026-12-1T08:41:46Z", None),
        ("+026-12-01T08:41:46Z", None),
        ("2026-12-01T08:41:46:00Z", None),
        ("2026-12-01T8:41:46Z", None),
        ("２026-12-01T08:41:46Z", None),
        ("", None),
        ("Z", None),
    ];
    for (s, want) in cases {
        assert_eq!(utc_secs(s), want, "{s}");
    }
}

#[test]
fn rollouts_of_the_last_two_days() {
    assert_eq!(rollout_dirs(1796114506), ["2026/12/01".to_string(), "2026/11/30".into()]);
    assert_eq!(rollout_dirs(1772323200), ["2026/03/01".to_string(), "2026/02/28".into()]);
    assert_eq!(rollout_dirs(0), ["1970/01/01".to_string(), "1970/01/01".into()]);
    let name = "rollout-2026-12-01T08-41-46-01a230c4-6346-7413-8eed-79165b9fbcd9.jsonl";
    assert_eq!(
        rollout_name(name),
        Some(("2026-12-01T08-41-46", "01a230c4-6346-7413-8eed-79165b9fbcd9"))
    );
    for bad in [
        "rollout-2026-12-01T08-41-46.jsonl",
        "rollout-2026-12-01T08-41-46-.jsonl",
        "rollout-2026-12-01T08:41:46-01a2.jsonl",
        "rollout-2026-12-1T08-41-46-01a2.jsonl",
        "rollout-2026-12-01T08-41-46-01a2.json",
        "rollout-2026-12-01T08-41-46-01a2.jsonl.tmp",
        ".rollout-2026-12-01T08-41-46-01a2.jsonl",
        "rollout-2026-12-01T08-41-46-01a2/x.jsonl",
        "rollout-2026-12-01T08-41-46-ü.jsonl",
        "rollout-２026-12-01T08-41-46-01a2.jsonl",
        "rollout-",
        "",
    ] {
        assert_eq!(rollout_name(bad), None, "{bad}");
    }
    let names = [
        "rollout-2026-12-01T08-41-46-01a230c4.jsonl",
        "notes.txt",
        "rollout-2026-12-01T09-00-00-01a230c5.jsonl",
        "rollout-2026-11-30T23-59-59-ffffffff.jsonl",
        "rollout-2026-12-01T09-00-00-01a230c6.jsonl",
        "rollout-2026-12-01T09-00-00-01a230c6.jsonl",
    ];
    assert_eq!(
        newest_first(&names),
        [
            "rollout-2026-12-01T09-00-00-01a230c6.jsonl",
            "rollout-2026-12-01T09-00-00-01a230c5.jsonl",
            "rollout-2026-12-01T08-41-46-01a230c4.jsonl",
            "rollout-2026-11-30T23-59-59-ffffffff.jsonl",
        ]
    );
}
