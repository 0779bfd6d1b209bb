use super::*;
use Attention::*;

const T: u64 = 1_000;

/// A Claude agent with a Bash call open since `T`, nothing running, at `T`.
fn base() -> Facts<'static> {
    Facts {
        attention: Some(Tool),
        reason: "tool Bash open",
        attention_since: Some(T),
        tool: "Bash",
        agent: Some(Agent::Claude),
        last_activity: Some(T),
        agent_pid: true,
        now: T,
        permission_seconds: 20,
        stall_seconds: 900,
        ..Facts::default()
    }
}

/// The expected answer; the rule follows from the reason each rule gives.
fn want(
    attention: Option<Attention>,
    reason: &str,
    since: Option<u64>,
    due: Option<u64>,
) -> Refined {
    let rule = match reason {
        "agent exited" => Rule::Gone,
        "permission prompt" | "waiting" => Rule::Registry,
        APPROVAL => Rule::Approval,
        r if r.starts_with("hook: ") => Rule::Hint,
        r if r.starts_with("no growth and nothing running") => Rule::Stalled,
        "tasks done" | "ended" | "clear" | "x" => Rule::Ended,
        _ => Rule::Watcher,
    };
    Refined { attention, reason: reason.into(), since, due, rule }
}

const WAITING: Registry = Registry {
    status: "waiting",
    waiting_for: "permission prompt",
    updated_ms: Some(T * 1000 + 500),
};
const BUSY_LATER: Registry =
    Registry { status: "busy", waiting_for: "", updated_ms: Some((T + 5) * 1000) };
const APPROVAL: &str = "tool Bash open, nothing running: approval?";

#[test]
fn each_rule_and_its_precedence() {
    let hint = |attention, at| Some(Hint { attention, at });
    let running_since_open: &[u64] = &[T + 1];
    let read_early: &[u64] = &[T - START_SLACK];
    let just_before: &[u64] = &[T - START_SLACK - 1];
    let running_before: &[u64] = &[T - 100];
    let cases: Vec<(&str, Facts, Refined)> = vec![
        ("watcher's view", base(), want(Some(Tool), "tool Bash open", Some(T), Some(T + 20))),
        (
            "ended: gone, how",
            Facts { ended: true, end_reason: "tasks done", ended_at: Some(5), ..base() },
            want(Some(Gone), "tasks done", Some(5), None),
        ),
        (
            "ended without reason",
            Facts { ended: true, ..base() },
            want(Some(Gone), "ended", None, None),
        ),
        (
            "/clear rotation: nothing",
            Facts { ended: true, cleared: true, end_reason: "clear", ..base() },
            want(None, "clear", None, None),
        ),
        (
            "ended beats gone and the registry",
            Facts {
                ended: true,
                end_reason: "x",
                gone_since: Some(9),
                registry: Some(WAITING),
                ..base()
            },
            want(Some(Gone), "x", None, None),
        ),
        (
            "agent gone",
            Facts { gone_since: Some(T + 7), ..base() },
            want(Some(Gone), "agent exited", Some(T + 7), None),
        ),
        (
            "gone beats the registry",
            Facts { gone_since: Some(T + 7), registry: Some(WAITING), ..base() },
            want(Some(Gone), "agent exited", Some(T + 7), None),
        ),
        (
            "registry waiting",
            Facts { registry: Some(WAITING), ..base() },
            want(Some(NeedsYou), "permission prompt", Some(T), None),
        ),
        (
            "registry without a time or a reason",
            Facts {
                registry: Some(Registry { status: "waiting", ..Registry::default() }),
                attention_since: Some(44),
                ..base()
            },
            want(Some(NeedsYou), "waiting", Some(44), None),
        ),
        (
            "registry needs a pid",
            Facts { registry: Some(WAITING), agent_pid: false, ..base() },
            want(Some(Tool), "tool Bash open", Some(T), None),
        ),
        (
            "registry busy says nothing",
            Facts { registry: Some(BUSY_LATER), ..base() },
            want(Some(Tool), "tool Bash open", Some(T), Some(T + 20)),
        ),
        (
            "the transcript's needs_you beats the registry",
            Facts {
                attention: Some(NeedsYou),
                reason: "AskUserQuestion open: a question for you",
                registry: Some(WAITING),
                ..base()
            },
            want(Some(NeedsYou), "AskUserQuestion open: a question for you", Some(T), None),
        ),
        (
            "registry beats a hint",
            Facts { registry: Some(WAITING), hint: hint(TurnDone, T + 3), ..base() },
            want(Some(NeedsYou), "permission prompt", Some(T), None),
        ),
        (
            "hint in the same second",
            Facts { hint: hint(NeedsYou, T), ..base() },
            want(Some(NeedsYou), "hook: the agent needs you", Some(T), None),
        ),
        (
            "hint turn_done",
            Facts { hint: hint(TurnDone, T + 2), ..base() },
            want(Some(TurnDone), "hook: the turn is done", Some(T + 2), None),
        ),
        (
            "hint older than the state",
            Facts { hint: hint(NeedsYou, T - 1), ..base() },
            want(Some(Tool), "tool Bash open", Some(T), Some(T + 20)),
        ),
        (
            "hint overtaken by a newer registry status",
            Facts { hint: hint(NeedsYou, T + 1), registry: Some(BUSY_LATER), ..base() },
            want(Some(Tool), "tool Bash open", Some(T), Some(T + 20)),
        ),
        (
            "hint of another state",
            Facts { hint: hint(Working, T + 1), ..base() },
            want(Some(Tool), "tool Bash open", Some(T), Some(T + 20)),
        ),
        (
            "hint without a pid or a state",
            Facts {
                hint: hint(NeedsYou, 3),
                agent_pid: false,
                attention: None,
                attention_since: None,
                ..base()
            },
            want(Some(NeedsYou), "hook: the agent needs you", Some(3), None),
        ),
        (
            "hint beats the approval rule",
            Facts { hint: hint(TurnDone, T + 30), now: T + 60, ..base() },
            want(Some(TurnDone), "hook: the turn is done", Some(T + 30), None),
        ),
        (
            "shell open, nothing running",
            Facts { now: T + 20, ..base() },
            want(Some(NeedsYou), APPROVAL, Some(T + 20), None),
        ),
        (
            "shell open, not yet",
            Facts { now: T + 19, ..base() },
            want(Some(Tool), "tool Bash open", Some(T), Some(T + 20)),
        ),
        (
            "shell open, a child started after it opened",
            Facts { now: T + 600, descendants: running_since_open, ..base() },
            want(Some(Tool), "tool Bash open", Some(T), None),
        ),
        (
            "shell open, a child whose start reads a little early",
            Facts { now: T + 600, descendants: read_early, ..base() },
            want(Some(Tool), "tool Bash open", Some(T), None),
        ),
        (
            "shell open, a child started just before it opened",
            Facts { now: T + 20, descendants: just_before, ..base() },
            want(Some(NeedsYou), APPROVAL, Some(T + 20), None),
        ),
        (
            "shell open, only an older child runs",
            Facts { now: T + 20, descendants: running_before, ..base() },
            want(Some(NeedsYou), APPROVAL, Some(T + 20), None),
        ),
        (
            "approval needs a pid",
            Facts { now: T + 99, agent_pid: false, ..base() },
            want(Some(Tool), "tool Bash open", Some(T), None),
        ),
        (
            "approval beats stalled",
            Facts { now: T + 5000, ..base() },
            want(Some(NeedsYou), APPROVAL, Some(T + 20), None),
        ),
        (
            "other tools wait for the registry, then stall",
            Facts { tool: "Read", reason: "tool Read open", now: T + 899, ..base() },
            want(Some(Tool), "tool Read open", Some(T), Some(T + 900)),
        ),
        (
            "a stalled tool",
            Facts { tool: "Read", reason: "tool Read open", now: T + 900, ..base() },
            want(Some(Stalled), "no growth and nothing running for 15m", Some(T + 900), None),
        ),
        (
            "stalled working",
            Facts {
                attention: Some(Working),
                tool: "",
                reason: "model writing",
                last_activity: Some(T + 10),
                now: T + 2000,
                ..base()
            },
            want(Some(Stalled), "no growth and nothing running for 15m", Some(T + 910), None),
        ),
        (
            "no growth known: since counts",
            Facts {
                attention: Some(Working),
                tool: "",
                last_activity: None,
                now: T + 900,
                ..base()
            },
            want(Some(Stalled), "no growth and nothing running for 15m", Some(T + 900), None),
        ),
        (
            "working with a live child is not stalled",
            Facts {
                attention: Some(Working),
                tool: "",
                reason: "w",
                now: T + 9000,
                descendants: running_before,
                ..base()
            },
            want(Some(Working), "w", Some(T), None),
        ),
        (
            "a subagent (Task) is never stalled",
            Facts { tool: "Task", reason: "tool Task open", now: T + 9000, ..base() },
            want(Some(Tool), "tool Task open", Some(T), None),
        ),
        (
            "nor under its newer name (Agent)",
            Facts { tool: "Agent", reason: "tool Agent open", now: T + 9000, ..base() },
            want(Some(Tool), "tool Agent open", Some(T), None),
        ),
        (
            "turn_done never stalls",
            Facts {
                attention: Some(TurnDone),
                tool: "",
                reason: "turn ended",
                now: T + 9000,
                ..base()
            },
            want(Some(TurnDone), "turn ended", Some(T), None),
        ),
        (
            "nothing known",
            Facts { attention: None, attention_since: None, reason: "", ..base() },
            want(None, "", None, None),
        ),
    ];
    for (what, facts, expected) in cases {
        assert_eq!(refine(&facts), expected, "{what}");
    }
}

#[test]
fn the_shell_rule_knows_each_agents_shell_tools() {
    let shells = [
        (Agent::Claude, "Bash", true),
        (Agent::Claude, "exec", false),
        (Agent::Claude, "Read", false),
        (Agent::Codex, "exec_command", true),
        (Agent::Codex, "shell", true),
        (Agent::Codex, "local_shell_call", true),
        (Agent::Codex, "exec", true),
        (Agent::Codex, "apply_patch", false),
        (Agent::Other, "Bash", false),
    ];
    for (agent, tool, is_shell) in shells {
        let f = Facts { agent: Some(agent), tool, now: T + 20, ..base() };
        assert_eq!(refine(&f).attention == Some(NeedsYou), is_shell, "{agent:?} {tool}");
    }
}

/// The value of `"key":` in a one-object JSON file, as its raw text.
fn field<'a>(json: &'a str, key: &str) -> &'a str {
    let at = json
        .find(&format!("\"{key}\":"))
        .map(|i| i + key.len() + 3)
        .unwrap_or_else(|| panic!("no {key}"));
    let rest = &json[at..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim_matches('"')
}

#[test]
fn the_real_claude_session_refines_as_its_readme_says() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/claude/real-2.1.197/");
    let read = |name: &str| {
        std::fs::read_to_string(format!("{dir}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let (busy, waiting) = (read("registry-busy.json"), read("registry-waiting.json"));
    fn registry(json: &str) -> Registry<'_> {
        let waiting_for =
            if json.contains("\"waitingFor\"") { field(json, "waitingFor") } else { "" };
        Registry {
            status: field(json, "status"),
            waiting_for,
            updated_ms: field(json, "statusUpdatedAt").parse().ok(),
        }
    }
    let (busy, waiting) = (registry(&busy), registry(&waiting));
    let t = waiting.updated_ms.unwrap() / 1000;
    // The watcher's view after transcript lines 7, 14 and 24 (see the
    // attention tests), with the process table and registry of the README.
    let tool = Facts {
        attention: Some(Tool),
        tool: "Bash",
        reason: "tool Bash open",
        attention_since: Some(t),
        now: t + 30,
        ..base()
    };
    let children: &[u64] = &[t, t];
    let running = refine(&Facts { registry: Some(busy), descendants: children, ..tool.clone() });
    assert_eq!(running.attention, Some(Tool), "Bash running: bash and sleep under the agent");
    let dialog = refine(&Facts { registry: Some(waiting), ..tool.clone() });
    assert_eq!(
        (dialog.attention, dialog.reason.as_str(), dialog.since),
        (Some(NeedsYou), "permission prompt", Some(t))
    );
    let no_registry = refine(&tool);
    assert_eq!(
        (no_registry.attention, no_registry.reason.as_str()),
        (Some(NeedsYou), APPROVAL),
        "the process table alone"
    );
    let question = Facts {
        attention: Some(NeedsYou),
        tool: "AskUserQuestion",
        reason: "AskUserQuestion open: a question for you",
        ..tool.clone()
    };
    assert_eq!(refine(&Facts { registry: Some(waiting), ..question }).attention, Some(NeedsYou));
    let exited = Facts { attention: Some(TurnDone), gone_since: Some(t + 60), ..tool };
    assert_eq!(refine(&exited).attention, Some(Gone), "after /exit");
}

#[test]
fn urgency_sorts_as_sessions_list_shows() {
    let mut all: Vec<Option<Attention>> = vec![
        None,
        Some(Gone),
        Some(Tool),
        Some(Working),
        Some(TurnDone),
        Some(Stalled),
        Some(NeedsYou),
    ];
    all.reverse();
    all.sort_by_key(|a| urgency(*a));
    assert_eq!(
        all,
        [
            Some(NeedsYou),
            Some(Stalled),
            Some(TurnDone),
            Some(Working),
            Some(Tool),
            Some(Gone),
            None
        ]
    );
    let ordered: Vec<u8> = Attention::ALL.iter().map(|a| urgency(Some(*a))).collect();
    assert_eq!(ordered, [0, 1, 2, 3, 4, 5], "Attention::ALL is in urgency order");
}
