use super::*;
use crate::attention::Saved;
use crate::refine::Refined;
use crate::store::Session;
use crate::watcher::status::Status;

const NOW: u64 = 1_000_000;

fn view(id: &str, attention: Option<Attention>, since: Option<u64>, reason: &str) -> View {
    View {
        session: Session { id: id.into(), task: Some("t".into()), ..Session::default() },
        task: None,
        life: Life::Live,
        supervisable: true,
        key: "k".into(),
        watcher: Some(7),
        status: None,
        observed: None,
        agent: Some(Agent::Claude),
        cwd: None,
        registry_path: None,
        registry: None,
        hint: None,
        refined: Refined { attention, reason: reason.into(), since, ..Refined::default() },
        why: None,
    }
}

fn with_status(mut v: View, tool: &str, last_text: &str) -> View {
    let saved = Saved { tool: tool.into(), last_text: last_text.into(), ..Saved::default() };
    v.status = Some(Status { last_activity: Some(NOW - 30), saved, ..Status::default() });
    v
}

#[test]
fn attention_reads_with_its_age() {
    let cases = [
        (view("a", Some(Attention::NeedsYou), Some(NOW - 180), "x"), "needs you 3m"),
        (
            with_status(view("b", Some(Attention::Tool), Some(NOW - 40), "x"), "Bash", ""),
            "tool Bash 40s",
        ),
        (view("c", Some(Attention::TurnDone), None, "x"), "turn done"),
        (view("d", Some(Attention::Stalled), Some(NOW - 7200), "x"), "stalled 2h"),
        (view("e", None, None, ""), "-"),
    ];
    for (v, want) in cases {
        assert_eq!(attention_cell(&v, NOW), want, "{}", v.session.id);
    }
    let mut lone = view("f", None, None, "not supervised: no task");
    lone.why = Some("not supervised: no task".into());
    assert_eq!(attention_cell(&lone, NOW), "not supervised: no task");
    let mut waiting = view("g", None, None, "");
    waiting.watcher = None;
    assert_eq!(attention_cell(&waiting, NOW), "no watcher yet");
}

#[test]
fn the_list_is_most_urgent_first_and_fits_120_columns() {
    let long = "ü".repeat(300);
    let mut views = vec![
        with_status(
            view("working", Some(Attention::Working), Some(NOW - 5), "model writing"),
            "",
            &long,
        ),
        view("gone", Some(Attention::Gone), Some(NOW - 9), "agent exited"),
        view("needs-old", Some(Attention::NeedsYou), Some(NOW - 600), "permission prompt"),
        with_status(
            view("tool", Some(Attention::Tool), Some(NOW - 3), "tool Bash open"),
            "Bash",
            "Running",
        ),
        view(
            "needs-new",
            Some(Attention::NeedsYou),
            Some(NOW - 60),
            "AskUserQuestion open: a question for you",
        ),
        view("done", Some(Attention::TurnDone), Some(NOW - 1), "turn ended"),
        view(&"x".repeat(64), Some(Attention::Stalled), Some(NOW), &long),
        view("none", None, None, ""),
    ];
    views[1].session.task = Some("a-task-with-a-very-long-name-indeed".into());
    crate::look::sort(&mut views);
    let order: Vec<&str> = views.iter().map(|v| v.session.id.as_str()).collect();
    let x = "x".repeat(64);
    assert_eq!(order, ["needs-old", "needs-new", &x, "done", "working", "tool", "gone", "none"]);
    let text = lines(&views, NOW);
    for line in text.lines() {
        assert!(line.chars().count() <= WIDTH, "{} columns: {line}", line.chars().count());
    }
    let rows: Vec<&str> = text.lines().collect();
    assert!(rows[0].starts_with("ID ") && rows[0].ends_with("DOING"), "{}", rows[0]);
    assert!(rows[1].starts_with("needs-old ") && rows[1].contains("needs you 10m"), "{}", rows[1]);
    assert!(rows[1].ends_with("permission prompt"), "the reason of a wait: {}", rows[1]);
    assert!(
        rows[5].contains("working 5s") && rows[5].contains("üüü") && rows[5].ends_with('…'),
        "{}",
        rows[5]
    );
    assert!(rows[6].contains("tool Bash 3s") && rows[6].ends_with("Running"), "{}", rows[6]);
    assert!(rows[3].starts_with("xxxxxxxxxxxxxxx… "), "ids are cut: {}", rows[3]);
}

#[test]
fn cells_are_escaped_before_they_are_cut() {
    assert_eq!(cut("a\x1b[31mb", 20), "a\\x1b[31mb");
    assert_eq!(cut("abcdef", 4), "abc…");
    assert_eq!(cut("abcd", 4), "abcd");
}
