use super::*;

fn keys_of(part: &[u8]) -> Vec<String> {
    keys(part).map(|(k, _)| String::from_utf8_lossy(k).into_owned()).collect()
}

#[test]
fn only_structural_keys_are_found() {
    let line =
        br#"{"type":"user","message":{"content":"say \"type\":\"assistant\" a:b","n":1},"x\\":2}"#;
    assert_eq!(keys_of(line), ["type", "message", "content", "n", "x\\\\"]);
    // The tail of a long line may start inside a string: still no false key.
    let tail = br#"quoted \"stop_reason\":\"end_turn\" here","stop_reason":"tool_use"}"#;
    assert_eq!(keys_of(tail), ["stop_reason"]);
    assert_eq!(
        keys_of(b"::\":\"\\\":"),
        Vec::<String>::new(),
        "a quote at the start or escaped is no key end"
    );
    assert_eq!(keys_of(b""), Vec::<String>::new());
}

#[test]
fn strings_end_at_the_first_unescaped_quote() {
    assert_eq!(string(br#""a\"b\\",1"#), Some((&br#"a\"b\\"#[..], true)));
    assert_eq!(string(br#""cut sho"#), Some((&b"cut sho"[..], false)));
    assert_eq!(string(b"null"), None);
}

#[test]
fn a_quoted_marker_is_no_marker() {
    let line = br#"{"type":"user","message":{"role":"user","content":"why does \"stop_reason\":\"end_turn\" and \"type\":\"tool_use\",\"id\":\"toolu_x\",\"name\":\"AskUserQuestion\" show up?"},"sessionId":"s1"}"#;
    let m = Marks::of(&Line::of(line));
    assert!(m.user && !m.assistant);
    assert_eq!(m.stop_reason, None);
    assert!(m.tool_uses.is_empty());
    assert_eq!(m.name, None);
    assert_eq!(m.session_id, Some(&b"s1"[..]));
}

#[test]
fn tool_uses_results_and_payloads_are_read() {
    let a = br#"{"message":{"content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"name":"x","id":"y"}},{"type":"tool_use","name":"Read","id":"toolu_2","input":{}}],"stop_reason":"tool_use"},"type":"assistant"}"#;
    let m = Marks::of(&Line::of(a));
    assert_eq!(m.tool_uses, [(&b"toolu_1"[..], &b"Bash"[..]), (&b"toolu_2"[..], &b"Read"[..])]);
    assert_eq!(m.stop_reason, Some(Some(&b"tool_use"[..])));
    let u = br#"{"type":"user","message":{"content":[{"tool_use_id":"toolu_1","type":"tool_result","content":"ok"},{"type":"tool_result","content":"x","tool_use_id":"toolu_2"}]}}"#;
    let m = Marks::of(&Line::of(u));
    assert_eq!((m.tool_results, m.result_ids.len()), (2, 2));
    let c = br#"{"timestamp":"t","ordinal":9,"type":"response_item","payload":{"type":"function_call","id":"fc_1","name":"exec_command","arguments":"{\"name\":\"no\"}","call_id":"call_1"}}"#;
    let m = Marks::of(&Line::of(c));
    assert!(m.timestamp_first && m.payload_object);
    assert_eq!(m.first_type, Some(&b"response_item"[..]));
    assert_eq!(
        (m.payload, m.name, m.call_id),
        (Some(&b"function_call"[..]), Some(&b"exec_command"[..]), Some(&b"call_1"[..]))
    );
}

#[test]
fn the_first_line_of_a_text_is_made_readable() {
    let cases: [(&[u8], &str); 10] = [
        (br"\u0007\n\tthen text", "then text"),
        (br"Done: the tests pass.", "Done: the tests pass."),
        (br"\n\n  First line\nsecond", "First line"),
        (br#"say \"hi\" \\ back\/slash"#, r#"say "hi" \ back/slash"#),
        (br"caf\u00e9 \ud83d\ude00", "café 😀"),
        (br"bell\u0007 esc\u001b[31m tab\tend", "bell esc[31m tab end"),
        (br"lone \ud83d high, bad \uZZZZ, cut \u00", "lone  high, bad , cut"),
        ("raw ü \u{7}".as_bytes(), "raw ü"),
        (b"cut in a char \xc3", "cut in a char"),
        (br"ends in a backslash \", "ends in a backslash"),
    ];
    for (raw, want) in cases {
        assert_eq!(first_line(raw, MAX), want, "from {:?}", String::from_utf8_lossy(raw));
    }
    let long = "é".repeat(200);
    assert_eq!(first_line(long.as_bytes(), MAX).chars().count(), MAX);
    assert_eq!(first_line(br"\n\n", MAX), "");
}

const MAX: usize = 120;

#[test]
fn clean_values_hold_no_control_or_outer_space() {
    assert_eq!(clean("  a\tb\r\nc\u{0}\u{9b}  ", 120), "a b  c");
    assert_eq!(clean("abc   def", 4), "abc", "cut, then trimmed again");
    assert_eq!(clean("\u{7}", 5), "");
}
