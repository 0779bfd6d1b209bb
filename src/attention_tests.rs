use super::*;
use crate::lines::{Splitter, HEAD, TAIL};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/");
const CLAUDE_REAL: &str = "claude/real-2.1.197/transcript.jsonl";
const CODEX_REAL: &str =
    "codex/real-0.171/rollout-2026-12-01T08-41-46-01a230c4-6346-7413-8eed-79165b9fbcd9.jsonl";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// The complete lines of `bytes` (a piece after the last newline is none).
fn lines_of(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    lines.pop();
    lines
}

/// A classifier fed `bytes` through a splitter, `chunk` bytes at a time.
fn run_chunks(bytes: &[u8], chunk: usize) -> Classifier {
    let (mut s, mut c, mut n) = (Splitter::new(), Classifier::new(), 0);
    for piece in bytes.chunks(chunk) {
        s.feed(piece, |l| {
            n += 1;
            c.line(l, n);
        });
    }
    c
}

/// Feeds lines one by one, numbering them.
struct Feed {
    c: Classifier,
    n: u64,
}

impl Feed {
    fn new() -> Feed {
        Feed { c: Classifier::new(), n: 0 }
    }
    fn line(&mut self, bytes: &[u8]) -> Outcome {
        self.n += 1;
        self.c.line(&Line::of(bytes), self.n)
    }
    fn all(&mut self, bytes: &[u8]) -> &Saved {
        lines_of(bytes).into_iter().for_each(|l| {
            self.line(l);
        });
        self.c.state()
    }
    fn attention(&self) -> Option<Attention> {
        self.c.state().attention
    }
}

/// A Claude event line around `body` (keys in 2.1.x order, compact JSON).
fn claude(body: &str) -> Vec<u8> {
    format!(r#"{{"parentUuid":"p","isSidechain":false,{body},"uuid":"u","sessionId":"s-1","version":"2.1.197"}}"#).into_bytes()
}

fn prompt(text: &str) -> Vec<u8> {
    claude(&format!(r#""type":"user","message":{{"role":"user","content":"{text}"}}"#))
}

fn tool_use(id: &str, name: &str) -> Vec<u8> {
    claude(&format!(
        r#""message":{{"role":"assistant","content":[{{"type":"tool_use","id":"{id}","name":"{name}","input":{{}}}}],"stop_reason":"tool_use"}},"type":"assistant""#
    ))
}

fn result(id: &str) -> Vec<u8> {
    claude(&format!(
        r#""type":"user","message":{{"role":"user","content":[{{"tool_use_id":"{id}","type":"tool_result","content":"ok"}}]}}"#
    ))
}

fn assistant(text: &str, stop: &str) -> Vec<u8> {
    claude(&format!(
        r#""message":{{"role":"assistant","content":[{{"type":"text","text":"{text}"}}],"stop_reason":{stop}}},"type":"assistant""#
    ))
}

fn codex(payload: &str) -> Vec<u8> {
    format!(r#"{{"timestamp":"2026-05-21T10:00:00.000Z","type":"event_msg","payload":{{"type":"{payload}"}}}}"#).into_bytes()
}

fn codex_item(body: &str) -> Vec<u8> {
    format!(
        r#"{{"timestamp":"2026-05-21T10:00:00.000Z","type":"response_item","payload":{{{body}}}}}"#
    )
    .into_bytes()
}

/// A Claude feed already working on a prompt.
fn claude_working() -> Feed {
    let mut f = Feed::new();
    f.line(&prompt("fix it"));
    assert_eq!(f.attention(), Some(Attention::Working));
    f
}

/// A Codex feed inside a turn.
fn codex_working() -> Feed {
    let mut f = Feed::new();
    f.line(br#"{"timestamp":"t","type":"session_meta","payload":{"id":"sess-9","cwd":"/x"}}"#);
    f.line(&codex("task_started"));
    assert_eq!(f.attention(), Some(Attention::Working));
    f
}

#[test]
fn names_round_trip() {
    for a in [Agent::Claude, Agent::Codex, Agent::Other] {
        assert_eq!(Agent::parse(a.as_str()), Some(a));
    }
    let names: Vec<&str> = Attention::ALL.iter().map(|a| a.as_str()).collect();
    assert_eq!(names, ["needs_you", "stalled", "turn_done", "working", "tool", "gone"]);
    for a in Attention::ALL {
        assert_eq!(Attention::parse(a.as_str()), Some(a));
    }
    assert_eq!((Agent::parse("Claude"), Attention::parse(" working")), (None, None));
}

/// (fixture, attention, tool, turns, agent, session)
const EXPECTED: [(&str, Attention, &str, u64, Agent, &str); 14] = [
    (
        "claude/working-model.jsonl",
        Attention::Working,
        "",
        1,
        Agent::Claude,
        "e88b7591-31db-4e32-98dc-b35f94c662cd",
    ),
    (
        "claude/working-tool.jsonl",
        Attention::Tool,
        "Bash",
        0,
        Agent::Claude,
        "5bb58492-9daf-46be-ad21-914625ee8c4c",
    ),
    (
        "claude/needs-you-permission.jsonl",
        Attention::Tool,
        "Bash",
        0,
        Agent::Claude,
        "ef2843ff-74cf-46a6-b6dc-0914faa30751",
    ),
    (
        "claude/needs-you-question.jsonl",
        Attention::NeedsYou,
        "AskUserQuestion",
        0,
        Agent::Claude,
        "32a7cae9-df32-4560-8500-2635f5bffffb",
    ),
    (
        "claude/needs-you-plan.jsonl",
        Attention::NeedsYou,
        "ExitPlanMode",
        0,
        Agent::Claude,
        "c42e1ca0-94cf-4aba-9eab-cba13f19711e",
    ),
    (
        "claude/turn-done.jsonl",
        Attention::TurnDone,
        "",
        1,
        Agent::Claude,
        "94aa3bff-595f-46ff-9761-1f4ee0cb1e6b",
    ),
    (
        "claude/turn-done-with-away-summary.jsonl",
        Attention::TurnDone,
        "",
        3,
        Agent::Claude,
        "7aaf4542-e6ae-4c3c-ba6b-b9c4b5ef5e70",
    ),
    (
        "claude/compacted.jsonl",
        Attention::TurnDone,
        "",
        2,
        Agent::Claude,
        "15bf60ec-d0cd-49f3-b71e-45122169c619",
    ),
    (
        CLAUDE_REAL,
        Attention::TurnDone,
        "",
        4,
        Agent::Claude,
        "417c4de5-1034-474f-b13d-6e737d47b966",
    ),
    (
        "codex/working.jsonl",
        Attention::Working,
        "",
        1,
        Agent::Codex,
        "019e49ff-0f46-70ad-9f7e-9f09d7946374",
    ),
    (
        "codex/tool.jsonl",
        Attention::Tool,
        "exec_command",
        0,
        Agent::Codex,
        "019e49e8-7522-7a51-9a34-3bc7780c4b16",
    ),
    (
        "codex/turn-done.jsonl",
        Attention::TurnDone,
        "",
        1,
        Agent::Codex,
        "019e49ce-6716-7b6d-9ae6-ecbd535a7e07",
    ),
    (
        "codex/aborted.jsonl",
        Attention::TurnDone,
        "",
        2,
        Agent::Codex,
        "019e4a19-37cf-7dc3-bb35-1dc615e09c75",
    ),
    (CODEX_REAL, Attention::TurnDone, "", 1, Agent::Codex, "01a230c4-6346-7413-8eed-79165b9fbcd9"),
];

#[test]
fn every_fixture_gives_its_state_whole_and_in_any_chunks() {
    for (name, attention, tool, turns, agent, session) in EXPECTED {
        let bytes = fixture(name);
        let whole = Feed::new().all(&bytes).clone();
        assert_eq!(whole.attention, Some(attention), "{name}: {whole:#?}");
        assert_eq!((whole.tool.as_str(), whole.turns), (tool, turns), "{name}: tool and turns");
        assert_eq!(
            (whole.agent, whole.agent_session.as_str()),
            (Some(agent), session),
            "{name}: agent"
        );
        assert_eq!(
            whole.open_calls.is_empty(),
            tool.is_empty(),
            "{name}: open calls {:?}",
            whole.open_calls
        );
        assert_eq!(whole.turn_open, attention != Attention::TurnDone, "{name}: turn_open");
        for chunk in [1, 7, 4096, 65536, bytes.len()] {
            assert_eq!(
                run_chunks(&bytes, chunk).save(),
                whole,
                "{name} fed in {chunk}-byte chunks"
            );
        }
    }
}

#[test]
fn the_real_claude_session_gives_each_moment_of_its_readme() {
    use Attention::*;
    let bytes = fixture(CLAUDE_REAL);
    let mut f = Feed::new();
    // (line, attention, tool, turns): line 7 Bash runs, 11 turn over, 14 the
    // permission dialog (tool from the file alone; the registry makes it
    // needs_you, see refine), 16 after "No", 24 the question, 29 /exit.
    let moments: [(u64, Option<Attention>, &str, u64); 16] = [
        (3, None, "", 0),
        (4, Some(Working), "", 0),
        (7, Some(Tool), "Bash", 0),
        (8, Some(Working), "", 0),
        (9, Some(TurnDone), "", 1),
        (10, Some(TurnDone), "", 1),
        (11, Some(TurnDone), "", 1),
        (13, Some(Working), "", 1),
        (14, Some(Tool), "Bash", 1),
        (15, Some(Working), "", 1),
        (16, Some(TurnDone), "", 2),
        (19, Some(TurnDone), "", 3),
        (24, Some(NeedsYou), "AskUserQuestion", 3),
        (25, Some(Working), "", 3),
        (26, Some(TurnDone), "", 4),
        (29, Some(TurnDone), "", 4),
    ];
    let lines = lines_of(&bytes);
    assert_eq!(lines.len(), 29);
    let mut at = moments.iter().peekable();
    for (i, l) in lines.iter().enumerate() {
        let out = f.line(l);
        let s = f.c.state();
        if i < 3 {
            assert_eq!(
                s.agent,
                None,
                "line {}: mode/permission-mode/snapshot do not decide",
                i + 1
            );
        }
        if i + 1 == 29 {
            assert!(
                !out.activity && !out.changed && !out.updated,
                "last-prompt is bookkeeping: {out:?}"
            );
        }
        if let Some((_, att, tool, turns)) = at.next_if(|m| m.0 == i as u64 + 1) {
            assert_eq!(
                (s.attention, s.tool.as_str(), s.turns),
                (*att, *tool, *turns),
                "after line {}",
                i + 1
            );
        }
    }
    let s = f.c.state();
    assert_eq!(s.last_text, "Done: the tests pass.");
    assert_eq!(s.evidence.last().map(String::as_str), Some("line 28: system turn_duration"));
    assert_eq!(s.evidence.len(), MAX_EVIDENCE);
}

#[test]
fn the_real_codex_run_gives_each_moment_of_its_readme() {
    use Attention::*;
    let bytes = fixture(CODEX_REAL);
    let lines = lines_of(&bytes);
    assert_eq!(lines.len(), 19);
    assert!(lines[0].len() > 21_000, "line 1 is the 21 KiB session_meta");
    let mut f = Feed::new();
    // 1 session_meta, 2 task_started, 10 exec_command called, 11
    // token_usage_record (bookkeeping), 13 its output, 16 the answer, 19
    // task_complete.
    let moments: [(u64, Option<Attention>, &str); 7] = [
        (1, None, ""),
        (2, Some(Working), ""),
        (10, Some(Tool), "exec_command"),
        (12, Some(Tool), "exec_command"),
        (13, Some(Working), ""),
        (16, Some(Working), ""),
        (19, Some(TurnDone), ""),
    ];
    for (i, l) in lines.iter().enumerate() {
        let n = i as u64 + 1;
        let out = f.line(l);
        if n == 1 {
            assert_eq!(f.c.state().agent, Some(Agent::Codex), "decided by its first line");
        }
        if matches!(n, 5 | 11 | 14 | 17 | 18) {
            assert!(
                !out.activity && !out.updated,
                "line {n} is bookkeeping (world_state, token_*)"
            );
        }
        if let Some((_, att, tool)) = moments.iter().find(|m| m.0 == n) {
            assert_eq!((f.attention(), f.c.state().tool.as_str()), (*att, *tool), "after line {n}");
        }
        if n == 16 {
            assert_eq!(f.c.state().last_text, "Done: the tests pass.");
        }
    }
    assert!(f
        .c
        .state()
        .evidence
        .iter()
        .any(|e| e.starts_with("line 10: response_item function_call exec_command (call_179…)")));
}

#[test]
fn the_needs_you_plan_fixture_keeps_needs_you_through_its_metadata() {
    let bytes = fixture("claude/needs-you-plan.jsonl");
    let mut f = Feed::new();
    for (i, l) in lines_of(&bytes).into_iter().enumerate() {
        let out = f.line(l);
        if i + 1 > 20 {
            assert!(!out.activity && !out.updated, "line {} is a skip line", i + 1);
        }
    }
    assert_eq!(f.c.state().reason, "ExitPlanMode open: a plan to approve");
}

#[test]
fn claude_rules_each_give_their_state() {
    use Attention::*;
    let sys =
        |sub: &str, more: &str| claude(&format!(r#""type":"system","subtype":"{sub}"{more}"#));
    let cases: Vec<(&str, Vec<u8>, Option<Attention>)> = vec![
        ("turn_duration", sys("turn_duration", r#","durationMs":5"#), Some(TurnDone)),
        ("stop_hook_summary", sys("stop_hook_summary", ""), Some(TurnDone)),
        (
            "manual compaction",
            sys("compact_boundary", r#","compactMetadata":{"trigger":"manual"}"#),
            Some(TurnDone),
        ),
        (
            "auto compaction",
            sys("compact_boundary", r#","compactMetadata":{"trigger":"auto"}"#),
            Some(Working),
        ),
        ("api_error", sys("api_error", r#","retryAttempt":1"#), Some(Working)),
        ("unknown subtype", sys("informational", ""), None),
        ("end_turn", assistant("ok", r#""end_turn""#), Some(TurnDone)),
        ("stop_sequence", assistant("API Error", r#""stop_sequence""#), Some(TurnDone)),
        ("refusal", assistant("no", r#""refusal""#), Some(TurnDone)),
        ("max_tokens", assistant("long", r#""max_tokens""#), Some(Working)),
        ("pause_turn", assistant("hm", r#""pause_turn""#), Some(Working)),
        ("null", assistant("hm", "null"), Some(Working)),
        ("tool_use", tool_use("toolu_1", "Bash"), Some(Tool)),
        ("question", tool_use("toolu_1", "AskUserQuestion"), Some(NeedsYou)),
        ("plan", tool_use("toolu_1", "ExitPlanMode"), Some(NeedsYou)),
        ("interrupt", prompt("[Request interrupted by user]"), Some(TurnDone)),
        (
            "interrupt block",
            claude(
                r#""type":"user","message":{"role":"user","content":[{"type":"text","text":"[Request interrupted by user for tool use]"}]}"#,
            ),
            Some(TurnDone),
        ),
        ("command", prompt("<command-name>/clear</command-name>"), Some(TurnDone)),
        (
            "command output",
            prompt("<local-command-stdout>Compacted</local-command-stdout>"),
            Some(TurnDone),
        ),
        ("custom command", prompt("<command-message>review</command-message>"), Some(Working)),
        ("prompt", prompt("go on"), Some(Working)),
    ];
    for (what, line, want) in cases {
        // From a turn that is over, so working and turn_done both show.
        let mut f = Feed::new();
        f.line(&assistant("done", r#""end_turn""#));
        let out = f.line(&line);
        assert_eq!(f.attention(), want.or(Some(TurnDone)), "{what}");
        assert_eq!(out.activity, want.is_some(), "{what}: an unknown subtype is no activity");
    }
}

#[test]
fn bookkeeping_changes_nothing_but_counts_as_a_line() {
    let skips: Vec<Vec<u8>> = [
        "last-prompt",
        "ai-title",
        "permission-mode",
        "mode",
        "file-history-snapshot",
        "queue-operation",
        "attachment",
        "custom-title",
        "agent-name",
        "atis-latch",
        "worktree-state",
        "bridge-session",
        "pr-link",
        "agent-setting",
        "summary",
    ]
    .iter()
    .map(|t| format!(r#"{{"type":"{t}","sessionId":"s-1"}}"#).into_bytes())
    .chain([
        claude(r#""type":"system","subtype":"away_summary","content":"recap""#),
        claude(r#""type":"system","subtype":"local_command","content":"x""#),
        claude(r#""type":"user","message":{"role":"user","content":"<local-command-caveat>"},"isMeta":true"#),
        br#"{"type":"progress","data":{"type":"hook_progress","hookEvent":"SessionStart"},"sessionId":"s-1"}"#.to_vec(),
    ])
    .collect();
    for line in &skips {
        let mut f = claude_working();
        let before = f.c.save();
        let out = f.line(line);
        assert_eq!(out, Outcome::default(), "{}", String::from_utf8_lossy(line));
        assert_eq!(f.c.save(), before);
    }
}

#[test]
fn sidechain_and_progress_lines_are_activity_that_decides_nothing() {
    let side = claude(r#""type":"user","message":{"role":"user","content":"sub"}"#);
    let side =
        String::from_utf8(side).unwrap().replace(r#""isSidechain":false"#, r#""isSidechain":true"#);
    let ask =
        String::from_utf8(tool_use("toolu_s", "AskUserQuestion")).unwrap().replace("false", "true");
    let progress = br#"{"type":"progress","data":{"type":"bash_progress"},"toolUseID":"toolu_1","sessionId":"s-1"}"#;
    // 2.1.2x subagent progress quotes the subagent's messages as objects.
    let agent_progress = br#"{"parentUuid":"p","isSidechain":false,"type":"progress","data":{"message":{"type":"assistant","message":{"role":"assistant","content":[{"type":"tool_use","id":"toolu_sub","name":"AskUserQuestion","input":{}}],"stop_reason":"end_turn"}},"type":"agent_progress"},"parentToolUseID":"toolu_1","sessionId":"s-1"}"#;
    for line in [side.as_bytes(), ask.as_bytes(), progress, agent_progress] {
        let mut f = Feed::new();
        f.line(&tool_use("toolu_1", "Bash"));
        let before = f.c.save();
        let out = f.line(line);
        assert_eq!(
            out,
            Outcome { activity: true, changed: false, updated: false },
            "{}",
            String::from_utf8_lossy(line)
        );
        assert_eq!(f.c.save(), before);
    }
}

#[test]
fn codex_rules_each_give_their_state() {
    use Attention::*;
    let mut f = codex_working();
    assert_eq!(f.c.state().agent_session, "sess-9");
    let call = codex_item(
        r#""type":"function_call","name":"exec_command","arguments":"{}","call_id":"call_a""#,
    );
    assert!(f.line(&call).changed);
    assert_eq!((f.attention(), f.c.state().tool.as_str()), (Some(Tool), "exec_command"));
    for bookkeeping in [codex("token_count"), codex("patch_apply_end")] {
        assert_eq!(f.line(&bookkeeping), Outcome::default());
    }
    for top in ["world_state", "token_usage_record", "brand_new_type"] {
        let line =
            format!(r#"{{"timestamp":"t","type":"{top}","payload":{{"type":"task_complete"}}}}"#);
        assert_eq!(f.line(line.as_bytes()), Outcome::default(), "{top}");
    }
    let custom = codex_item(
        r#""type":"custom_tool_call","status":"completed","call_id":"call_b","name":"exec","input":"x""#,
    );
    f.line(&custom);
    assert_eq!(f.c.state().tool, "exec");
    f.line(&codex_item(r#""type":"custom_tool_call_output","call_id":"call_b","output":"ok""#));
    assert_eq!(
        (f.attention(), f.c.state().tool.as_str()),
        (Some(Tool), "exec_command"),
        "call_a still open"
    );
    f.line(&codex_item(r#""type":"function_call_output","call_id":"call_a","output":"ok""#));
    assert_eq!(f.attention(), Some(Working));
    f.line(&codex_item(r#""type":"local_shell_call","call_id":"call_c","status":"in_progress","action":{"type":"exec"}"#));
    assert_eq!(f.c.state().tool, "local_shell_call");
    f.line(&codex_item(r#""type":"function_call_output","call_id":"call_c","output":"ok""#));
    f.line(&codex_item(r#""type":"message","role":"assistant","content":[{"type":"output_text","text":"All green.\nDetails"}]"#));
    assert_eq!((f.attention(), f.c.state().last_text.as_str()), (Some(Working), "All green."));
    f.line(&codex("task_complete"));
    assert_eq!(
        (f.attention(), f.c.state().turns, f.c.state().turn_open),
        (Some(TurnDone), 1, false)
    );
    f.line(&codex("task_started"));
    f.line(&codex("turn_aborted"));
    assert_eq!((f.attention(), f.c.state().turns), (Some(TurnDone), 2));
    let late = codex_item(r#""type":"reasoning","summary":[]"#);
    let out = f.line(&late);
    assert!(out.activity && !out.updated, "a late item is activity but opens no turn");
}

#[test]
fn turns_count_entries_into_turn_done_not_lines() {
    let mut f = claude_working();
    for line in [
        assistant("done", r#""end_turn""#),
        claude(r#""type":"system","subtype":"stop_hook_summary""#),
        claude(r#""type":"system","subtype":"turn_duration""#),
    ] {
        f.line(&line);
    }
    assert_eq!(f.c.state().turns, 1);
    f.line(&prompt("more"));
    f.line(&prompt("[Request interrupted by user]"));
    assert_eq!(f.c.state().turns, 2);
}

#[test]
fn a_manual_compact_summary_does_not_reopen_the_turn() {
    let mut f = claude_working();
    f.line(&claude(
        r#""type":"system","subtype":"compact_boundary","compactMetadata":{"trigger":"manual"}"#,
    ));
    let summary = claude(
        r#""type":"user","message":{"role":"user","content":"This session is being continued"},"isCompactSummary":true"#,
    );
    assert!(!f.line(&summary).changed);
    f.line(&prompt("<local-command-stdout>Compacted</local-command-stdout>"));
    assert_eq!((f.attention(), f.c.state().turns), (Some(Attention::TurnDone), 1));
    // After an automatic compaction the summary continues the turn.
    let mut f = claude_working();
    f.line(&claude(
        r#""type":"system","subtype":"compact_boundary","compactMetadata":{"trigger":"auto"}"#,
    ));
    f.line(&summary);
    assert_eq!(
        (f.attention(), f.c.state().reason.as_str()),
        (Some(Attention::Working), "continuing after compaction")
    );
}

#[test]
fn a_quoted_marker_in_a_prompt_or_output_stays_working() {
    let quoting = [
        prompt(
            r#"what does \"stop_reason\":\"end_turn\" mean next to \"type\":\"tool_use\",\"id\":\"toolu_9\",\"name\":\"AskUserQuestion\"?"#,
        ),
        prompt(
            r#"grep for \"subtype\":\"turn_duration\" and \"payload\":{\"type\":\"task_complete\"}"#,
        ),
        claude(
            r#""type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_1","type":"tool_result","content":"{\"stop_reason\":\"end_turn\",\"name\":\"ExitPlanMode\",\"isMeta\":true}"}]}"#,
        ),
        assistant(
            r#"I will set \"stop_reason\":\"end_turn\" and call \"name\":\"AskUserQuestion\""#,
            r#""tool_use""#,
        ),
    ];
    for (i, line) in quoting.iter().enumerate() {
        let mut f = claude_working();
        if i == 2 {
            f.line(&tool_use("toolu_1", "Bash"));
        }
        let out = f.line(line);
        assert!(out.activity);
        assert_eq!(f.attention(), Some(Attention::Working), "{}", String::from_utf8_lossy(line));
        assert!(f.c.state().open_calls.is_empty() && f.c.state().turns == 0);
    }
}

#[test]
fn garbage_binary_and_unknown_lines_change_nothing() {
    let binary: Vec<u8> = (0..=255u8).filter(|&b| b != b'\n').cycle().take(20_000).collect();
    let garbage: [&[u8]; 10] = [
        b"garbage",
        b"",
        b"   ",
        b"\0\0\0\0",
        &binary,
        b"{}",
        br#"{"type":"nonsense","sessionId":"s-1"}"#,
        br#"not json "type":"user","sessionId":"s-2" "stop_reason":"end_turn""#,
        br#"{"type":"user","message":{"role":"user","content":"torn wri"#,
        b"\xff\xfe{\"type\":\"assistant\"}",
    ];
    for make in [claude_working as fn() -> Feed, codex_working] {
        for line in garbage {
            let mut f = make();
            let before = f.c.save();
            assert_eq!(
                f.line(line),
                Outcome::default(),
                "{:?}",
                String::from_utf8_lossy(&line[..line.len().min(60)])
            );
            assert_eq!(f.c.save(), before);
        }
    }
}

#[test]
fn a_result_names_its_call_or_else_closes_the_oldest() {
    let mut f = claude_working();
    f.line(&tool_use("toolu_A", "Read"));
    f.line(&tool_use("toolu_B", "Bash"));
    assert_eq!(f.c.state().tool, "Bash", "the newest open call shows");
    // Named in the kept bytes: that call closes, though it is not the oldest.
    f.line(&result("toolu_B"));
    assert_eq!((f.attention(), f.c.state().tool.as_str()), (Some(Attention::Tool), "Read"));
    f.line(&tool_use("toolu_C", "Bash"));
    // A long output: `tool_use_id` comes after 30 KiB of content and a
    // 30 KiB `toolUseResult`, so it lies in the dropped middle.
    let big = "x".repeat(30_000);
    let long = claude(&format!(
        r#""type":"user","message":{{"role":"user","content":[{{"type":"tool_result","content":"{big}","tool_use_id":"toolu_C"}}]}},"toolUseResult":{{"stdout":"{big}"}}"#
    ));
    assert!(long.len() > HEAD + TAIL);
    let mut s = Splitter::new();
    let n = f.n + 1;
    s.feed(&[&long[..], b"\n"].concat(), |l| {
        f.c.line(l, n);
    });
    f.n = n;
    let st = f.c.state();
    assert_eq!(
        st.open_calls,
        [Call { id: "toolu_C".into(), name: "Bash".into() }],
        "the oldest (A) closed"
    );
    assert!(
        st.evidence.last().is_some_and(|e| e.ends_with("user tool_result (oldest call toolu_A)")),
        "{:?}",
        st.evidence
    );
    // The same id at the very end (no toolUseResult) lies in the tail.
    let tail_id = claude(&format!(
        r#""type":"user","message":{{"role":"user","content":[{{"type":"tool_result","content":"{big}","tool_use_id":"toolu_C"}}]}}"#
    ));
    let n = f.n + 1;
    s.feed(&[&tail_id[..], b"\n"].concat(), |l| {
        f.c.line(l, n);
    });
    assert_eq!(f.attention(), Some(Attention::Working));
}

#[test]
fn at_most_16_calls_are_remembered_oldest_dropped() {
    let mut f = claude_working();
    for i in 0..20 {
        f.line(&tool_use(&format!("toolu_{i:02}"), "Read"));
    }
    let ids: Vec<&str> = f.c.state().open_calls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), MAX_CALLS);
    assert_eq!((ids[0], ids[15]), ("toolu_04", "toolu_19"));
    f.line(&result("toolu_00"));
    assert_eq!(f.c.state().open_calls.len(), 16, "a forgotten id closes nothing");
    for i in 4..20 {
        f.line(&result(&format!("toolu_{i:02}")));
    }
    assert_eq!(f.attention(), Some(Attention::Working));
}

#[test]
fn a_marker_across_the_8_kib_boundary_is_found_in_a_short_line() {
    // `"stop_reason":"end_turn"` starts 10 bytes before byte 8192.
    let body = |pad: usize| {
        claude(&format!(
            r#""message":{{"role":"assistant","content":[{{"type":"text","text":"{}"}}],"stop_reason":"end_turn"}},"type":"assistant""#,
            "y".repeat(pad)
        ))
    };
    let probe = body(0);
    let at = probe.windows(13).position(|w| w == b"\"stop_reason\"").unwrap();
    let line = body(HEAD - 10 - at);
    assert_eq!(line.windows(13).position(|w| w == b"\"stop_reason\""), Some(HEAD - 10));
    assert!(line.len() <= HEAD + TAIL);
    let file = [&prompt("go")[..], b"\n", &line, b"\n"].concat();
    for chunk in [1, 7, 4096, 65536] {
        assert_eq!(
            run_chunks(&file, chunk).state().attention,
            Some(Attention::TurnDone),
            "{chunk}-byte chunks"
        );
    }
}

#[test]
fn a_64_mib_line_is_classified_with_flat_memory() {
    let mut s = Splitter::new();
    let mut f = claude_working();
    f.line(&tool_use("toolu_big", "Bash"));
    let head = br#"{"parentUuid":"p","isSidechain":false,"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_big","type":"tool_result","content":""#;
    let end = br#""}]},"sessionId":"s-1"}"#;
    let cap = s.capacity();
    let mut n = f.n;
    let mut feed = |s: &mut Splitter, bytes: &[u8]| {
        s.feed(bytes, |l| {
            n += 1;
            f.c.line(l, n);
        })
    };
    feed(&mut s, head);
    let chunk = vec![b'z'; 64 * 1024];
    for _ in 0..(64 << 20) / chunk.len() {
        feed(&mut s, &chunk);
        assert_eq!(s.capacity(), cap);
    }
    feed(&mut s, end);
    feed(&mut s, b"\n");
    assert_eq!(f.c.state().attention, Some(Attention::Working), "the result closed the call");
    assert!(f.c.state().open_calls.is_empty());
}

#[test]
fn a_truncated_last_line_is_not_classified() {
    let bytes = fixture("claude/working-tool.jsonl");
    let cut = &bytes[..bytes.len() - 1];
    assert_eq!(
        run_chunks(cut, 4096).state().attention,
        Some(Attention::Working),
        "the open Bash line has no newline yet"
    );
    assert_eq!(run_chunks(&bytes, 4096).state().attention, Some(Attention::Tool));
}

#[test]
fn a_file_replaced_mid_turn_starts_over_cleanly() {
    let old = fixture("codex/tool.jsonl");
    let new = fixture("claude/turn-done.jsonl");
    let (mut s, mut c, mut n) = (Splitter::new(), Classifier::new(), 0);
    s.feed(&old[..old.len() - 100], |l| {
        n += 1;
        c.line(l, n);
    });
    assert_eq!(c.state().agent, Some(Agent::Codex));
    // The watcher saw a new inode: drop the partial line, begin again.
    s.reset();
    let (mut c, mut n) = (Classifier::new(), 0);
    s.feed(&new, |l| {
        n += 1;
        c.line(l, n);
    });
    assert_eq!(c.save(), Feed::new().all(&new).clone());
}

#[test]
fn a_plain_text_file_becomes_other_after_64_kib() {
    let mut f = Feed::new();
    let text = "a line of a build log, nothing like a transcript\n".repeat(1400);
    let mut seen = 0;
    for (i, l) in lines_of(text.as_bytes()).into_iter().enumerate() {
        assert!(f.line(l).activity, "every line of an undecided file is growth");
        seen += l.len() as u64 + 1;
        let want = if seen >= AGENT_WINDOW { Some(Agent::Other) } else { None };
        assert_eq!(f.c.state().agent, want, "line {} ends at byte {seen}", i + 1);
    }
    assert!(seen > AGENT_WINDOW);
    let out = f.line(&prompt("looks like Claude, too late"));
    assert!(out.activity && !out.changed);
    let s = f.c.state();
    assert_eq!((s.agent, s.attention, s.scanned), (Some(Agent::Other), None, 0));
}

#[test]
fn the_agent_is_decided_within_the_first_64_kib_whatever_the_line_sizes() {
    // Codex: a first line far beyond 21 KiB still shows its shape in the head.
    let meta = format!(
        r#"{{"timestamp":"t","type":"session_meta","payload":{{"id":"s-big","instructions":"{}"}}}}"#,
        "i".repeat(100_000)
    );
    let mut f = Feed::new();
    f.line(meta.as_bytes());
    assert_eq!(
        (f.c.state().agent, f.c.state().agent_session.as_str()),
        (Some(Agent::Codex), "s-big")
    );
    // Claude: three bookkeeping lines first; the user line decides while it
    // starts within 64 KiB.
    let snap =
        |size: usize| format!(r#"{{"type":"file-history-snapshot","pad":"{}"}}"#, "p".repeat(size));
    for (size, want) in [(20_000, Some(Agent::Claude)), (22_000, Some(Agent::Other))] {
        let mut f = Feed::new();
        for _ in 0..3 {
            f.line(snap(size).as_bytes());
        }
        f.line(&prompt("hi"));
        assert_eq!(f.c.state().agent, want, "three {size}-byte lines first");
        assert_eq!(f.attention().is_some(), want == Some(Agent::Claude));
    }
}

#[test]
fn checkpoints_restore_to_the_same_end_at_every_line_of_every_fixture() {
    for (name, ..) in EXPECTED {
        let bytes = fixture(name);
        let lines = lines_of(&bytes);
        let end = Feed::new().all(&bytes).clone();
        let mut f = Feed::new();
        for cut in 0..=lines.len() {
            if cut > 0 {
                f.line(lines[cut - 1]);
            }
            let pairs = f.c.save().to_pairs();
            for (k, v) in &pairs {
                assert!(
                    !v.is_empty() && v.trim() == v && !v.chars().any(char::is_control),
                    "{name}:{cut}: {k} = {v:?}"
                );
            }
            let borrowed: Vec<(&str, &str)> =
                pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let saved = Saved::from_pairs(&borrowed);
            assert_eq!(saved, f.c.save(), "{name}: the checkpoint after line {cut} round-trips");
            let mut r = Feed { c: Classifier::restore(&saved), n: cut as u64 };
            lines[cut..].iter().for_each(|l| {
                r.line(l);
            });
            assert_eq!(r.c.save(), end, "{name}: restored after line {cut}");
        }
    }
}

#[test]
fn checkpoint_pairs_read_back_tolerantly() {
    let calls: String = (0..20).map(|i| format!("id{i}:Read ")).collect();
    let pairs = [
        ("agent", "claude"),
        ("attention", "stalled"),
        ("reason", "  bell\u{7} and\ttab  "),
        ("tool", "Ba sh\u{1b}"),
        ("last_text", &*"é".repeat(300)),
        ("turns", "-3"),
        ("agent_session", "s\"1\\"),
        ("open_calls", &*calls),
        ("turn_open", "yes"),
        ("evidence.2", "line 2: x"),
        ("evidence.9", "ignored"),
        ("agent", "codex"),
    ];
    let s = Saved::from_pairs(&pairs);
    assert_eq!(s.agent, Some(Agent::Claude), "the first of a repeated key wins");
    assert_eq!(s.attention, None, "the classifier never gives stalled");
    assert_eq!((s.reason.as_str(), s.tool.as_str()), ("bell and tab", "Bash"));
    assert_eq!(s.last_text.chars().count(), MAX_TEXT);
    assert_eq!((s.turns, s.agent_session.as_str(), s.turn_open), (0, "s1", false));
    assert_eq!(s.open_calls.len(), MAX_CALLS);
    assert_eq!(s.open_calls[0], Call { id: "id4".into(), name: "Read".into() });
    assert_eq!(s.evidence, ["line 2: x"]);
    assert_eq!(Saved::from_pairs(&[]), Saved::default());
    let undecided = Saved::from_pairs(&[("agent", "x"), ("agent_scanned", "1234")]);
    assert_eq!((undecided.agent, undecided.scanned), (None, 1234));
    assert_eq!(Saved::from_pairs(&[("agent", "other"), ("agent_scanned", "9")]).scanned, 0);
}

#[test]
fn outcomes_say_what_a_line_did() {
    let mut f = claude_working();
    let o = f.line(&tool_use("toolu_1", "Read"));
    assert_eq!(o, Outcome { activity: true, changed: true, updated: true });
    let o = f.line(&tool_use("toolu_2", "Bash"));
    assert!(o.changed, "another tool is a new wait, though attention stays tool");
    f.line(&result("toolu_1"));
    f.line(&result("toolu_2"));
    f.line(&assistant("Done.", r#""end_turn""#));
    let o = f.line(&claude(r#""type":"system","subtype":"turn_duration""#));
    assert_eq!(
        o,
        Outcome { activity: true, changed: false, updated: true },
        "same state, new evidence"
    );
    assert_eq!(f.c.state().last_text, "Done.");
}

#[test]
#[ignore = "a measurement: cargo test --release --lib attention -- --ignored --nocapture"]
fn measure_classifying_a_4_mib_transcript() {
    let names = [
        "claude/compacted.jsonl",
        "claude/turn-done-with-away-summary.jsonl",
        "claude/needs-you-plan.jsonl",
        "claude/working-model.jsonl",
        CLAUDE_REAL,
    ];
    let all: Vec<Vec<u8>> = names.iter().map(|n| fixture(n)).collect();
    let pool: Vec<&[u8]> = all.iter().flat_map(|b| lines_of(b)).collect();
    let (small, big): (Vec<&[u8]>, Vec<&[u8]>) = pool.iter().partition(|l| l.len() <= HEAD + TAIL);
    // Mostly ordinary lines, and enough 100 KiB tool results to make 4 MiB.
    let mut file = Vec::new();
    let mut count = 0;
    while count < 2000 {
        let room = (4 << 20) as usize - file.len().min(4 << 20);
        let line = match count % 50 == 0 && room > (2000 - count) * 2000 {
            true => big[count / 50 % big.len()],
            false => small[count % small.len()],
        };
        file.extend_from_slice(line);
        file.push(b'\n');
        count += 1;
    }
    let mut best = std::time::Duration::MAX;
    let mut end = None;
    for _ in 0..7 {
        let t = std::time::Instant::now();
        let c = run_chunks(&file, 64 * 1024);
        best = best.min(t.elapsed());
        end = Some(c.save());
    }
    let end = end.unwrap();
    println!(
        "classified {} lines, {:.2} MiB ({:?}, {:?}) in {:.2} ms (best of 7, splitter included)",
        count,
        file.len() as f64 / (1 << 20) as f64,
        end.agent,
        end.attention,
        best.as_secs_f64() * 1000.0
    );
    assert_eq!(end.agent, Some(Agent::Claude));
}
