use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/");

fn fixture(rel: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}{rel}")).expect(rel)
}

/// Every line of every fixture transcript, payload and registry file.
fn fixture_lines() -> Vec<(String, String)> {
    let mut files = vec![
        "claude/real-2.1.197/hook-payloads.jsonl".to_string(),
        "claude/real-2.1.197/registry-busy.json".into(),
        "claude/real-2.1.197/registry-idle.json".into(),
        "claude/real-2.1.197/registry-waiting.json".into(),
        "claude/real-2.1.197/transcript.jsonl".into(),
        "claude/sessions/48213.json".into(),
        "codex/real-0.171/rollout-2026-12-01T08-41-46-01a230c4-6346-7413-8eed-79165b9fbcd9.jsonl"
            .into(),
    ];
    for dir in ["claude", "codex"] {
        for e in std::fs::read_dir(format!("{FIXTURES}{dir}")).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".jsonl") {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    let mut out = Vec::new();
    for f in files {
        for (n, line) in fixture(&f).lines().enumerate() {
            out.push((format!("{f}:{}", n + 1), line.to_string()));
        }
    }
    out
}

fn ok(input: &str) -> Vec<(String, Value)> {
    parse(input.as_bytes()).unwrap_or_else(|e| panic!("{input:?}: {e}"))
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

#[test]
fn every_fixture_line_parses() {
    let lines = fixture_lines();
    assert!(lines.len() > 100, "only {} fixture lines", lines.len());
    for (at, line) in &lines {
        let members = parse(line.as_bytes()).unwrap_or_else(|e| panic!("{at}: {e}"));
        assert!(!members.is_empty(), "{at}: no members");
    }
}

#[test]
fn every_strict_prefix_of_a_fixture_line_is_an_error() {
    for (at, line) in fixture_lines().iter().take(60) {
        let b = line.as_bytes();
        // Every cut of a short line; a spread of cuts of a long one.
        let step = 1 + b.len() / 2000;
        for cut in (0..b.len()).step_by(step).chain(b.len().saturating_sub(50)..b.len()) {
            assert!(parse(&b[..cut]).is_err(), "{at}: prefix of {cut} bytes parsed");
        }
    }
}

#[test]
fn hook_payloads_give_their_members_in_order() {
    let text = fixture("claude/real-2.1.197/hook-payloads.jsonl");
    let first = parse(text.lines().next().unwrap().as_bytes()).unwrap();
    let t = "/home/dev/.claude/projects/-home-dev-proj/417c4de5-1034-474f-b13d-6e737d47b966.jsonl";
    assert_eq!(
        first,
        vec![
            ("session_id".into(), s("417c4de5-1034-474f-b13d-6e737d47b966")),
            ("transcript_path".into(), s(t)),
            ("cwd".into(), s("/home/dev/proj")),
            ("hook_event_name".into(), s("SessionStart")),
            ("source".into(), s("startup")),
            ("model".into(), s("claude-opus-4-8[1m]")),
        ]
    );
    let stop = parse(text.lines().nth(1).unwrap().as_bytes()).unwrap();
    let keys: Vec<&str> = stop.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "session_id",
            "transcript_path",
            "cwd",
            "prompt_id",
            "permission_mode",
            "effort",
            "hook_event_name",
            "stop_hook_active",
            "last_assistant_message",
            "background_tasks",
            "session_crons"
        ]
    );
    let line = text.lines().nth(1).unwrap();
    let nested = |v: &Value| match v {
        Value::Nested(r) => line[r.clone()].to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(nested(&stop[5].1), r#"{"level":"high"}"#);
    assert_eq!(stop[7].1, Value::Bool(false));
    assert_eq!(nested(&stop[9].1), "[]");
}

#[test]
fn registry_numbers_are_kept_as_written() {
    let m = ok(&fixture("claude/sessions/48213.json"));
    assert_eq!(m[0], ("pid".into(), Value::Num("48213".into())));
    assert_eq!(m[3], ("startedAt".into(), Value::Num("1779180015743".into())));
    assert_eq!(m[4], ("procStart".into(), s("3180552")));
    assert_eq!(m.len(), 11);
}

#[test]
fn scalars() {
    let m = ok(r#" { "a" : -0.5e+3 , "b":true,"c":false,"d":null,"e":"","f":0,"g":12E-0,"h":-0 }
"#);
    let want = [
        ("a", Value::Num("-0.5e+3".into())),
        ("b", Value::Bool(true)),
        ("c", Value::Bool(false)),
        ("d", Value::Null),
        ("e", s("")),
        ("f", Value::Num("0".into())),
        ("g", Value::Num("12E-0".into())),
        ("h", Value::Num("-0".into())),
    ];
    assert_eq!(m, want.map(|(k, v)| (k.to_string(), v)));
    assert_eq!(ok("{}"), vec![]);
    assert_eq!(ok("\t\r\n{\t\r\n}\t\r\n"), vec![]);
}

#[test]
fn escapes_are_unescaped() {
    let cases = [
        (r#""\"""#, "\""),
        (r#""\\""#, "\\"),
        (r#""\/""#, "/"),
        (r#""\b\f\n\r\t""#, "\u{8}\u{c}\n\r\t"),
        (r#""\u0041\u00fc\u20AC""#, "Aü€"),
        (r#""\u0000\u001b""#, "\0\x1b"),
        (r#""\ud83d\ude00""#, "😀"),
        (r#""\uD834\uDD1E!""#, "𝄞!"),
        (r#""raw ü 😀 [{]}""#, "raw ü 😀 [{]}"),
    ];
    for (lit, want) in cases {
        assert_eq!(ok(&format!("{{\"k\":{lit}}}")), vec![("k".into(), s(want))], "{lit}");
        assert_eq!(ok(&format!("{{{lit}:1}}"))[0].0, want, "key {lit}");
    }
}

#[test]
fn nested_values_are_checked_and_given_by_their_bytes() {
    let text = r#"{"a":{"b":"}]\"{[","c":[1,{"d":[]}]},"e":[ ],"f":{},"g":"after","h":[["\\"]]}"#;
    let m = ok(text);
    let shown: Vec<(&str, &str)> = m
        .iter()
        .map(|(k, v)| match v {
            Value::Nested(r) => (k.as_str(), &text[r.clone()]),
            Value::Str(s) => (k.as_str(), s.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("a", r#"{"b":"}]\"{[","c":[1,{"d":[]}]}"#),
            ("e", "[ ]"),
            ("f", "{}"),
            ("g", "after"),
            ("h", r#"[["\\"]]"#)
        ]
    );
    // Inside, the grammar is the same: a key twice in any object is refused.
    for (bad, want) in [
        (r#"{"a":{"x":1,"x":2}}"#, "duplicate key \"x\" at byte 12"),
        (r#"{"a":[1 2]}"#, "expected ',' at byte 8"),
        (r#"{"a":[1,]}"#, "no value at byte 8"),
        (r#"{"a":{"b"}}"#, "expected ':' at byte 9"),
        (r#"{"a":{1:2}}"#, "expected '\"' at byte 6"),
        (r#"{"a":[tru]}"#, "no value at byte 6"),
    ] {
        assert_eq!(parse(bad.as_bytes()), Err(want.into()), "{bad}");
    }
}

#[test]
fn malformed_input_is_refused_with_its_offset() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "expected '{' at byte 0"),
        (b"   ", "expected '{' at byte 3"),
        (b"[]", "expected '{' at byte 0"),
        (b"\"a\"", "expected '{' at byte 0"),
        (b"null", "expected '{' at byte 0"),
        (b"\x0c{}", "expected '{' at byte 0"),
        (b"\xef\xbb\xbf{}", "expected '{' at byte 0"),
        (b"{", "expected '\"' at byte 1"),
        (b"{\"a\"", "expected ':' at byte 4"),
        (b"{\"a\":", "no value at byte 5"),
        (b"{\"a\":1", "expected ',' at byte 6"),
        (b"{\"a\":}", "no value at byte 5"),
        (b"{\"a\":\"\x01\"}", "control character in string at byte 6"),
        (b"{\"a\":\"\n\"}", "control character in string at byte 6"),
        (b"{\"a\":\"\t\"}", "control character in string at byte 6"),
        (b"{\"a\x1f\":1}", "control character in string at byte 3"),
        (b"{\"a\":1,}", "expected '\"' at byte 7"),
        (b"{,}", "expected '\"' at byte 1"),
        (b"{\"a\" 1}", "expected ':' at byte 5"),
        (b"{\"a\":1 \"b\":2}", "expected ',' at byte 7"),
        (b"{\"a\":1}x", "trailing data at byte 7"),
        (b"{\"a\":1} {}", "trailing data at byte 8"),
        (b"{}\n{}", "trailing data at byte 3"),
        (b"{a:1}", "expected '\"' at byte 1"),
        (b"{'a':1}", "expected '\"' at byte 1"),
        (b"{\"a\":tru}", "no value at byte 5"),
        (b"{\"a\":1_000}", "no value at byte 5"),
        (b"{\"a\":True}", "no value at byte 5"),
        (b"{\"a\":nulll}", "no value at byte 5"),
        (b"{\"a\":undefined}", "no value at byte 5"),
        (b"{\"a\":'x'}", "no value at byte 5"),
        (b"{\"a\":[}", "no value at byte 6"),
        (b"{\"a\":{]}", "expected '\"' at byte 6"),
        (b"{\"a\":[1}", "expected ',' at byte 7"),
        (b"{\"a\":[1", "expected ',' at byte 7"),
        (b"{\"a\":[\"]\"", "expected ',' at byte 9"),
        (b"{\"a\":[\"]", "expected ',' at byte 8"),
        (b"{\"a\":[\"\x02\"]}", "control character in string at byte 7"),
        (b"{\"a\":[1,2]]}", "expected ',' at byte 10"),
        (b"{\"a\":\"abc", "expected ',' at byte 9"),
        (b"{\"a\":\"abc\\", "bad escape at byte 9"),
        (b"{\"a\":\"\\x\"}", "bad escape at byte 6"),
        (b"{\"a\":\"\\U0041\"}", "bad escape at byte 6"),
        (b"{\"a\":\"\\u12\"}", "bad escape at byte 6"),
        (b"{\"a\":\"\\u+041\"}", "bad escape at byte 6"),
        (b"{\"a\":\"\\ud800\"}", "lone surrogate in the string ending at byte 13"),
        (b"{\"a\":\"x\\udbff\"}", "lone surrogate in the string ending at byte 14"),
        (b"{\"a\":\"\\udc00\"}", "lone surrogate in the string ending at byte 13"),
        (b"{\"a\":\"\\ud800\\u0041\"}", "lone surrogate in the string ending at byte 19"),
        (b"{\"a\":\"\\ud800\\ud800\"}", "lone surrogate in the string ending at byte 19"),
        (b"{\"a\":\"\\ud800dc00\"}", "lone surrogate in the string ending at byte 17"),
        (b"{\"a\":\"\\ud800\\n\"}", "lone surrogate in the string ending at byte 15"),
        (b"{\"a\":\"\xff\"}", "not UTF-8 at byte 6"),
        (b"{\"a\xc3\":1}", "not UTF-8 at byte 3"),
        (b"{\"a\":\"\xc0\xaf\"}", "not UTF-8 at byte 6"),
        (b"{\"a\":\"\xed\xa0\x80\"}", "not UTF-8 at byte 6"),
        (b"\xff", "not UTF-8 at byte 0"),
        (b"{\"a\":1,\"a\":2}", "duplicate key \"a\" at byte 7"),
        (b"{\"a\":1, \"\\u0061\":2}", "duplicate key \"a\" at byte 8"),
        (b"{\"\\u001b\":1,\"\\u001b\":2}", "duplicate key \"\\u{1b}\" at byte 12"),
    ];
    for (input, want) in cases {
        assert_eq!(parse(input), Err(want.to_string()), "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn numbers_follow_the_json_grammar() {
    for good in [
        "0",
        "-0",
        "7",
        "-12",
        "0.5",
        "1.25",
        "1e5",
        "1E+5",
        "1e-05",
        "-0.0e0",
        "123456789012345678901234567890",
    ] {
        assert_eq!(ok(&format!("{{\"n\":{good}}}")), vec![("n".into(), Value::Num(good.into()))]);
    }
    for bad in [
        "-", "01", "-01", "1.", ".5", "-.5", "+1", "1e", "1e+", "1.2.3", "1e5e5", "0x10", "--1",
        "-inf", "NaN", "Infinity", "1f", "1-2",
    ] {
        let want = Err("no value at byte 5".into());
        assert_eq!(parse(format!("{{\"n\":{bad}}}").as_bytes()), want, "{bad}");
    }
}

#[test]
fn nesting_is_capped() {
    let deep = |n: usize| format!("{{\"a\":{}{}}}", "[".repeat(n - 1), "]".repeat(n - 1));
    let at_most = deep(MAX_DEPTH);
    assert_eq!(ok(&at_most), vec![("a".into(), Value::Nested(5..at_most.len() - 1))]);
    assert_eq!(parse(deep(MAX_DEPTH + 1).as_bytes()), Err("too deep at byte 68".into()));
    let objects = format!("{{\"a\":{}1{}}}", "{\"b\":".repeat(63), "}".repeat(63));
    assert_eq!(ok(&objects).len(), 1);
    let mib = 1 << 20;
    assert_eq!(parse(&vec![b'['; mib]), Err("expected '{' at byte 0".into()));
    let mut open = b"{\"a\":".to_vec();
    open.resize(mib, b'[');
    assert_eq!(parse(&open), Err("too deep at byte 68".into()));
    let mut braces = b"{\"a\":".to_vec();
    braces.resize(mib, b'{');
    assert_eq!(parse(&braces), Err("expected '\"' at byte 6".into()), "a key comes first");
    let mut objects = b"{\"a\":".to_vec();
    while objects.len() < mib {
        objects.extend_from_slice(b"{\"b\":");
    }
    assert_eq!(parse(&objects), Err("too deep at byte 320".into()));
    assert_eq!(parse(&vec![b'{'; mib]), Err("expected '\"' at byte 1".into()));
}

#[test]
fn large_inputs_stay_fast() {
    // 1 MiB of distinct keys: duplicate detection is hashed, not quadratic.
    let mut text = String::from("{");
    let mut n = 0;
    while text.len() < 1 << 20 {
        text.push_str(&format!("\"k{n}\":{n},"));
        n += 1;
    }
    text.push_str("\"end\":\"x\"}");
    let started = std::time::Instant::now();
    assert_eq!(ok(&text).len(), n + 1);
    assert!(started.elapsed().as_secs() < 5, "took {:?}", started.elapsed());
    let long = format!("{{\"s\":\"{}\"}}", "\\n".repeat(1 << 19));
    assert_eq!(ok(&long)[0].1, s(&"\n".repeat(1 << 19)));
}

#[test]
fn mutated_fixture_lines_never_panic() {
    // A fixed pseudo-random walk: flip, drop and insert structural bytes.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let alphabet = b"{}[]\":,\\u0dD8eE-+. \n\x01\xff\xc3";
    let (mut parsed, mut refused) = (0, 0);
    for (_, line) in fixture_lines().iter().take(80) {
        for _ in 0..40 {
            let mut b = line.clone().into_bytes();
            for _ in 0..1 + next(3) {
                let at = next(b.len() + 1);
                match next(3) {
                    0 if at < b.len() => b[at] = alphabet[next(alphabet.len())],
                    1 if at < b.len() => drop(b.remove(at)),
                    _ => b.insert(at, alphabet[next(alphabet.len())]),
                }
            }
            match parse(&b) {
                Ok(_) => parsed += 1,
                Err(e) => {
                    assert!(e.contains(" at byte "), "{e}");
                    refused += 1;
                }
            }
        }
    }
    assert!(parsed > 0 && refused > 0, "parsed {parsed}, refused {refused}");
}
