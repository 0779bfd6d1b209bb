use super::*;

const REAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/claude/real-2.1.197/");
const SID: &str = "417c4de5-1034-474f-b13d-6e737d47b966";

fn real(name: &str) -> String {
    std::fs::read_to_string(format!("{REAL}{name}")).expect(name)
}

fn payloads() -> Vec<String> {
    real("hook-payloads.jsonl").lines().map(String::from).collect()
}

#[test]
fn project_folders_are_encoded_per_utf16_unit() {
    let cases = [
        ("/home/dev/proj", "-home-dev-proj"),
        ("/Users/ana/my proj.v2_x", "-Users-ana-my-proj-v2-x"),
        ("/a/ü", "-a--"),
        ("/a/😀", "-a---"),
        ("/プロ", "---"),
        ("/", "-"),
        ("", ""),
        ("AZaz09", "AZaz09"),
    ];
    for (cwd, want) in cases {
        assert_eq!(enc(cwd), want, "{cwd}");
    }
}

#[test]
fn transcript_is_where_the_real_claude_wrote_it() {
    let want = format!("/home/dev/.claude/projects/-home-dev-proj/{SID}.jsonl");
    assert_eq!(transcript("/home/dev/.claude", "/home/dev/proj", SID), want);
    assert_eq!(transcript("/home/dev/.claude/", "/home/dev/proj", SID), want);
    let hook = parse_hook(payloads()[0].as_bytes()).unwrap();
    assert_eq!(hook.transcript_path, Some(want));
}

#[test]
fn session_ids_come_from_claudes() {
    assert_eq!(session_id(SID).as_deref(), Some("c-417c4de51034"));
    assert_eq!(session_id("417c4de5-10").as_deref(), None);
}

fn busy() -> Registry {
    Registry {
        pid: Some(7486),
        session_id: SID.into(),
        cwd: "/home/dev/proj".into(),
        started_at_ms: Some(1796114375879),
        proc_start: Some("264623".into()),
        status: Some("busy".into()),
        waiting_for: None,
        status_updated_at_ms: Some(1796114387313),
        updated_at_ms: Some(1796114387313),
    }
}

#[test]
fn real_registry_files_parse() {
    assert_eq!(parse(&real("registry-busy.json")), Ok(busy()));
    let idle = Registry {
        status: Some("idle".into()),
        status_updated_at_ms: Some(1796114375819),
        updated_at_ms: Some(1796114375819),
        ..busy()
    };
    assert_eq!(parse(&real("registry-idle.json")), Ok(idle));
    let waiting = Registry {
        status: Some("waiting".into()),
        waiting_for: Some("permission prompt".into()),
        status_updated_at_ms: Some(1796114416502),
        updated_at_ms: Some(1796114416502),
        ..busy()
    };
    assert_eq!(parse(&real("registry-waiting.json")), Ok(waiting));
    let old = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/claude/sessions/48213.json"
    ))
    .unwrap();
    let want = Registry {
        pid: Some(48213),
        session_id: "5bb58492-9daf-46be-ad21-914625ee8c4c".into(),
        cwd: "/home/dev/proj".into(),
        started_at_ms: Some(1779180015743),
        proc_start: Some("3180552".into()),
        status: Some("busy".into()),
        updated_at_ms: Some(1779180075273),
        ..Registry::default()
    };
    assert_eq!(parse(&old), Ok(want));
}

#[test]
fn legacy_and_future_registry_shapes() {
    let legacy = parse(r#"{"session_id":"5bb58492-9daf","cwd":"/p"}"#).unwrap();
    assert_eq!(
        legacy,
        Registry { session_id: "5bb58492-9daf".into(), cwd: "/p".into(), ..Registry::default() }
    );
    assert!(!registry_matches(&legacy, 7, Some(1), Some(1)));
    let future = r#"{"pid":7,"sessionId":"s","cwd":"/p","procStart":264623,"peerFeatures":["a",{"b":[1]}],"pidDomain":{"x":null},"name":"\u0007 is not kept","status":null}"#;
    let r = parse(future).unwrap();
    assert_eq!((r.proc_start.as_deref(), r.status), (Some("264623"), None));
    let mac =
        parse(r#"{"pid":7,"sessionId":"s","cwd":"/p","procStart":"Fri Jul 17 08:33:29 2026"}"#);
    assert_eq!(mac.unwrap().proc_start.as_deref(), Some("Fri Jul 17 08:33:29 2026"));
}

#[test]
fn bad_registries_are_refused() {
    let cases = [
        ("", "expected '{' at byte 0"),
        ("[]", "expected '{' at byte 0"),
        (r#"{"pid":7,"sessionId":"s","cwd":"/p"}x"#, "trailing data at byte 36"),
        (r#"{"pid":7,"cwd":"/p"}"#, "no sessionId"),
        (r#"{"pid":7,"sessionId":"","cwd":"/p"}"#, "no sessionId"),
        (r#"{"pid":7,"sessionId":"s"}"#, "no cwd"),
        (r#"{"sessionId":"s","session_id":"s","cwd":"/p"}"#, "both sessionId and session_id"),
        (r#"{"sessionId":"s\n","cwd":"/p"}"#, r#"sessionId: control character in "s\x0a""#),
        (
            r#"{"sessionId":" s","cwd":"/p"}"#,
            r#"sessionId: leading or trailing whitespace in " s""#,
        ),
        (r#"{"sessionId":7,"cwd":"/p"}"#, "sessionId: not a string"),
        (r#"{"session_id":["s"],"cwd":"/p"}"#, "session_id: not a string"),
        (r#"{"sessionId":"s","cwd":"p"}"#, r#"cwd: not an absolute path: "p""#),
        (r#"{"sessionId":"s","cwd":"/p\u001b[2J"}"#, r#"cwd: control character in "/p\x1b[2J""#),
        (r#"{"sessionId":"s","cwd":"/p "}"#, r#"cwd: leading or trailing whitespace in "/p ""#),
        (r#"{"pid":"7","sessionId":"s","cwd":"/p"}"#, "pid: not a number"),
        (r#"{"pid":0,"sessionId":"s","cwd":"/p"}"#, "pid: out of range: 0"),
        (r#"{"pid":-3,"sessionId":"s","cwd":"/p"}"#, "pid: not a non-negative integer: -3"),
        (r#"{"pid":2147483648,"sessionId":"s","cwd":"/p"}"#, "pid: out of range: 2147483648"),
        (r#"{"pid":7.5,"sessionId":"s","cwd":"/p"}"#, "pid: not a non-negative integer: 7.5"),
        (
            r#"{"sessionId":"s","cwd":"/p","startedAt":1e12}"#,
            "startedAt: not a non-negative integer: 1e12",
        ),
        (r#"{"sessionId":"s","cwd":"/p","updatedAt":"1"}"#, "updatedAt: not a number"),
        (r#"{"sessionId":"s","cwd":"/p","procStart":true}"#, "procStart: not a string"),
        (
            r#"{"sessionId":"s","cwd":"/p","status":"busy\r"}"#,
            r#"status: control character in "busy\x0d""#,
        ),
        (r#"{"sessionId":"s","cwd":"/p","waitingFor":{}}"#, "waitingFor: not a string"),
        (r#"{"sessionId":"s","cwd":"/p","cwd":"/q"}"#, r#"duplicate key "cwd" at byte 28"#),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text), Err(want.to_string()), "{text}");
    }
}

#[test]
fn a_registry_matches_only_its_own_process() {
    let r = busy();
    let secs = 1796114375; // the process started in this second; startedAt is 879 ms in
    type Case<'a> = (&'a Registry, i32, Option<u64>, Option<u64>, bool);
    let cases: &[Case] = &[
        // Linux: procStart against the start ticks decides.
        (&r, 7486, Some(264623), None, true),
        (&r, 7486, Some(264623), Some(0), true),
        (&r, 7486, Some(264624), Some(secs), false),
        (&r, 7487, Some(264623), Some(secs), false),
        // macOS: startedAt within 10 s after the start.
        (&r, 7486, None, Some(secs), true),
        (&r, 7486, None, Some(secs - 9), true),
        (&r, 7486, None, Some(secs - 10), false),
        (&r, 7486, None, Some(secs + 1), false),
        (&r, 7486, None, Some(u64::MAX), false),
        (&r, 7486, None, None, false),
    ];
    for &(reg, pid, ticks, secs, want) in cases {
        assert_eq!(registry_matches(reg, pid, ticks, secs), want, "{pid} {ticks:?} {secs:?}");
    }
    let edge = Registry { started_at_ms: Some(10_000), proc_start: None, ..busy() };
    assert!(registry_matches(&edge, 7486, None, Some(0)), "10 s after is within");
    assert!(!registry_matches(
        &Registry { started_at_ms: Some(10_001), ..edge.clone() },
        7486,
        None,
        Some(0)
    ));
    // Linux without procStart falls back to startedAt.
    assert!(registry_matches(&edge, 7486, Some(5), Some(0)));
    let dated = Registry { proc_start: Some("Fri Jul 17 08:33:29 2026".into()), ..busy() };
    assert!(!registry_matches(&dated, 7486, Some(264623), Some(secs)), "ticks decide on Linux");
    assert!(registry_matches(&dated, 7486, None, Some(secs)));
    let unstarted = Registry { started_at_ms: None, proc_start: None, ..busy() };
    assert!(!registry_matches(&unstarted, 7486, Some(264623), Some(secs)));
}

#[test]
fn real_hook_payloads_parse() {
    let p = payloads();
    assert_eq!(p.len(), 5);
    let t = format!("/home/dev/.claude/projects/-home-dev-proj/{SID}.jsonl");
    let start = HookEvent {
        kind: HookKind::SessionStart,
        session_id: SID.into(),
        transcript_path: Some(t.clone()),
        cwd: Some("/home/dev/proj".into()),
        source: Some("startup".into()),
        reason: None,
        notification_type: None,
        message: None,
    };
    assert_eq!(parse_hook(p[0].as_bytes()), Ok(start.clone()));
    for stop in &p[1..4] {
        let want = HookEvent { kind: HookKind::Stop, source: None, ..start.clone() };
        assert_eq!(parse_hook(stop.as_bytes()), Ok(want));
    }
    let end = HookEvent {
        kind: HookKind::SessionEnd,
        source: None,
        reason: Some("prompt_input_exit".into()),
        ..start.clone()
    };
    assert_eq!(parse_hook(p[4].as_bytes()), Ok(end));
}

#[test]
fn other_hook_events() {
    let n = br#"{"session_id":"417c4de5-1034","hook_event_name":"Notification","message":"Claude needs your permission to use Bash","notification_type":"permission_prompt"}"#;
    let e = parse_hook(n).unwrap();
    assert_eq!(e.kind, HookKind::Notification);
    assert_eq!(e.notification_type.as_deref(), Some("permission_prompt"));
    assert_eq!(e.message.as_deref(), Some("Claude needs your permission to use Bash"));
    let prose = br#"{"session_id":"417c4de5-1034","hook_event_name":"Notification","message":"two\nlines"}"#;
    assert_eq!(parse_hook(prose).unwrap().message, None);
    let padded =
        br#"{"session_id":"417c4de5-1034","hook_event_name":"Notification","message":" x "}"#;
    assert_eq!(parse_hook(padded).unwrap().message, None);
    let pre = br#"{"session_id":"417c4de5-1034","hook_event_name":"PreToolUse","tool_input":{"command":"}"}}"#;
    assert_eq!(parse_hook(pre).unwrap().kind, HookKind::Other("PreToolUse".into()));
    let end = br#"{"session_id":"417c4de5-1034","hook_event_name":"SessionEnd"}"#;
    assert_eq!(parse_hook(end).unwrap().reason, None);
}

#[test]
fn bad_hook_payloads_are_refused() {
    let t = "/h/.claude/projects/-p/417c4de5-1034.jsonl";
    let start = |fields: &str| format!(r#"{{"hook_event_name":"SessionStart",{fields}}}"#);
    let cases = [
        (String::new(), "expected '{' at byte 0".to_string()),
        ("[]".into(), "expected '{' at byte 0".into()),
        (r#"{"session_id":"417c4de5-1034"}"#.into(), "no hook_event_name".into()),
        (
            r#"{"hook_event_name":7,"session_id":"417c4de5-1034"}"#.into(),
            "hook_event_name: not a string".into(),
        ),
        (
            r#"{"hook_event_name":"Stop\u0000","session_id":"417c4de5-1034"}"#.into(),
            r#"hook_event_name: control character in "Stop\x00""#.into(),
        ),
        (r#"{"hook_event_name":"SessionEnd"}"#.into(), "no session_id".into()),
        (
            r#"{"hook_event_name":"SessionEnd","session_id":"417c4de5"}"#.into(),
            r#"session_id: fewer than 12 hex digits: "417c4de5""#.into(),
        ),
        (
            r#"{"hook_event_name":"SessionEnd","session_id":"417c4de5-1034\t"}"#.into(),
            r#"session_id: control character in "417c4de5-1034\x09""#.into(),
        ),
        (
            r#"{"hook_event_name":"SessionEnd","session_id":" 417c4de5-1034"}"#.into(),
            r#"session_id: leading or trailing whitespace in " 417c4de5-1034""#.into(),
        ),
        (
            start(r#""session_id":"417c4de5-1034","cwd":"/p""#),
            "SessionStart without transcript_path".into(),
        ),
        (
            start(&format!(r#""session_id":"417c4de5-1034","transcript_path":"{t}""#)),
            "SessionStart without cwd".into(),
        ),
        (
            start(&format!(r#""session_id":"417c4de5-1034","transcript_path":"{t}","cwd":"p""#)),
            r#"cwd: not an absolute path: "p""#.into(),
        ),
        (
            start(r#""session_id":"417c4de5-1034","transcript_path":"x.jsonl","cwd":"/p""#),
            r#"transcript_path: not an absolute path: "x.jsonl""#.into(),
        ),
        (
            start(&format!(r#""session_id":"417c4de5-1034","transcript_path":"{t} ","cwd":"/p""#)),
            format!(r#"transcript_path: leading or trailing whitespace in "{t} ""#),
        ),
        (
            start(&format!(
                r#""session_id":"417c4de5-1034","transcript_path":"{t}","cwd":"/p","source":"x\u001b""#
            )),
            r#"source: control character in "x\x1b""#.into(),
        ),
        (
            start(&format!(
                r#""session_id":"417c4de5-1034","transcript_path":"{t}","cwd":"/p","cwd":"/p""#
            )),
            "duplicate key \"cwd\" at byte 137".into(),
        ),
        (
            r#"{"hook_event_name":"SessionEnd","session_id":"417c4de5-1034","reason":["x"]}"#
                .into(),
            "reason: not a string".into(),
        ),
        (
            r#"{"hook_event_name":"SessionEnd","session_id":"417c4de5-1034","cwd":"."}"#.into(),
            r#"cwd: not an absolute path: ".""#.into(),
        ),
        (
            "{\"hook_event_name\":\"Stop\",\"session_id\":\"\x01\"}".into(),
            "control character in string at byte 40".into(),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse_hook(text.as_bytes()), Err(want), "{text}");
    }
    assert_eq!(parse_hook(b"{\"a\":\"\xff\"}"), Err("not UTF-8 at byte 6".into()));
}

#[test]
fn claude_is_recognised_by_its_command_line() {
    let cases: &[(&[&str], bool)] = &[
        (&["claude"], true),
        (&["/home/dev/.local/bin/claude", "--resume"], true),
        (&["claude", "-p", "fix it"], true),
        (&["node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"], true),
        (
            &[
                "/usr/bin/node",
                "--no-warnings",
                "/x/node_modules/@anthropic-ai/claude-code/cli.js",
                "-c",
            ],
            true,
        ),
        (&["bun", "run", "/x/@anthropic-ai/claude-code/cli.js"], true),
        (&["nodejs", "/x/@anthropic-ai/claude-code/cli.js"], true),
        (&["vim", "claude.md"], false),
        (&["less", "/x/claude"], false),
        (&["grep", "claude"], false),
        (&["python", "claude.py"], false),
        (&["python3", "/x/@anthropic-ai/claude-code/cli.js"], false),
        (&["/bin/sh", "-c", "claude"], false),
        (&["claude.exe"], false),
        (&["claude-code"], false),
        (&["Claude"], false),
        (&["/usr/bin/claude/"], false),
        (&["node", "/x/other.js", "/x/@anthropic-ai/claude-code/cli.js"], false),
        (&["node", "-e", "require('/x/@anthropic-ai/claude-code/cli.js')"], false),
        (&["node", "/x/@anthropic-ai/claude-code-extra/cli.js"], false),
        (&["node"], false),
        (&[], false),
    ];
    for (argv, want) in cases {
        assert_eq!(is_claude(argv), *want, "{argv:?}");
    }
}

#[test]
fn the_hook_finds_the_claude_that_ran_it() {
    let chain = |procs: &[(i32, &[&str])]| -> Vec<(i32, Vec<String>)> {
        procs.iter().map(|(p, a)| (*p, a.iter().map(|s| s.to_string()).collect())).collect()
    };
    let sh: &[&str] = &["/bin/sh", "-c", "[ -x /b ] && /b hook claude || true"];
    let claude: &[&str] = &["claude"];
    type Chain<'a> = &'a [(i32, &'a [&'a str])];
    let cases: &[(Chain, Option<i32>)] = &[
        (&[(7500, sh), (7486, claude), (100, &["-zsh"])], Some(7486)),
        (&[(7486, claude)], Some(7486)),
        (
            &[
                (7500, sh),
                (7499, &["timeout", "2", "bach"]),
                (7498, &["bash", "-c", "x"]),
                (7486, claude),
            ],
            Some(7486),
        ),
        (
            &[
                (7500, &["direnv", "exec", "/p", "bach"]),
                (7486, &["node", "/n/@anthropic-ai/claude-code/cli.js"]),
            ],
            Some(7486),
        ),
        (&[(7500, &["-zsh"]), (7499, &["/usr/bin/env"]), (7486, claude)], Some(7486)),
        (&[(7500, sh), (7499, &["python3", "wrap.py"]), (7486, claude)], None),
        (&[(7500, &["direnv", "allow"]), (7486, claude)], None),
        (&[(7500, sh), (7499, &[]), (7486, claude)], None),
        (&[(7500, sh), (1, claude)], None),
        (&[(7500, sh), (0, sh), (7486, claude)], None),
        (&[(7500, sh), (7490, &["sudo", "bach"]), (7486, claude)], None),
        (&[(7500, sh), (7499, sh)], None),
        (&[], None),
    ];
    for (procs, want) in cases {
        assert_eq!(hook_agent(&chain(procs)), *want, "{procs:?}");
    }
}

#[test]
fn hooks_config_is_valid_settings_json() {
    let text = hooks_config("/usr/local/bin/bach");
    let top = flatjson::parse(text.as_bytes()).unwrap();
    assert_eq!(top.len(), 1);
    let hooks = nested(&text, "hooks").unwrap();
    let events: Vec<&str> = hooks.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(events, ["SessionStart", "SessionEnd", "Notification", "Stop"]);
    let command =
        r#""command": "[ -x /usr/local/bin/bach ] && /usr/local/bin/bach hook claude || true""#;
    assert_eq!(text.matches(command).count(), 4, "{text}");
    assert_eq!(text.matches(r#"{"hooks": [{"type": "command", "#).count(), 4, "{text}");
}

/// The members of the object that is the value of the top-level `key`.
fn nested(text: &str, key: &str) -> Option<Vec<(String, flatjson::Value)>> {
    let top = flatjson::parse(text.as_bytes()).unwrap();
    match agent::member(&top, key)? {
        flatjson::Value::Nested(r) => flatjson::parse(&text.as_bytes()[r.clone()]).ok(),
        _ => None,
    }
}

/// The command string of the first hook in `config`, unescaped.
fn first_command(config: &str) -> String {
    let at = config.find("\"command\": ").unwrap() + "\"command\": ".len();
    let end = config[at..].find("}]").unwrap() + at;
    let members = flatjson::parse(format!("{{\"c\":{}}}", &config[at..end]).as_bytes()).unwrap();
    match &members[0].1 {
        flatjson::Value::Str(s) => s.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn hooks_config_survives_a_path_with_a_space_and_a_quote() {
    let dir = std::env::temp_dir()
        .join(format!("bach-hooks_config-{}/it's \"a\" dir", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bach = dir.join("bach");
    let out = dir.join("out");
    let script = format!(
        "#!/bin/sh\nprintf '%s|' \"$@\" > '{}'\n",
        out.display().to_string().replace('\'', r"'\''")
    );
    std::fs::write(&bach, script).unwrap();
    std::fs::set_permissions(&bach, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = hooks_config(bach.to_str().unwrap());
    assert!(nested(&config, "hooks").is_some(), "{config}");
    let command = first_command(&config);
    let run = |command: &str| {
        std::process::Command::new("/bin/sh").args(["-c", command]).output().unwrap()
    };
    let done = run(&command);
    assert!(done.status.success() && done.stdout.is_empty() && done.stderr.is_empty(), "{done:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "hook|claude|");
    // Once bach is gone the hook stays silent and succeeds.
    std::fs::remove_file(&bach).unwrap();
    let gone = run(&command);
    assert!(gone.status.success() && gone.stdout.is_empty() && gone.stderr.is_empty(), "{gone:?}");
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

#[test]
fn shell_words() {
    let cases = [
        ("/usr/local/bin/bach", "/usr/local/bin/bach"),
        ("/a b/bach", "'/a b/bach'"),
        ("/it's/bach", r"'/it'\''s/bach'"),
        ("/$(rm -rf ~)/bach", "'/$(rm -rf ~)/bach'"),
        ("/a\nb", "'/a\nb'"),
        ("", "''"),
    ];
    for (s, want) in cases {
        assert_eq!(shell_word(s), want, "{s}");
    }
}
