//! What the agent is doing, through the real binary: every fixture copied
//! line by line into an artifact that a real watcher follows, its status
//! checked at each step the fixtures' READMEs name; a watcher killed and
//! restarted mid-session; bookkeeping lines and the judge; bad input.

use crate::util::*;
use bach::attention::{Classifier, Saved};
use bach::lines::Splitter;
use std::fs;
use std::io::Write;
use std::time::Duration;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/");
pub const CLAUDE_REAL: &str = "claude/real-2.1.197/transcript.jsonl";
const CODEX_REAL: &str =
    "codex/real-0.171/rollout-2026-12-01T08-41-46-01a230c4-6346-7413-8eed-79165b9fbcd9.jsonl";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The lines of a fixture, each with its newline.
pub fn fixture_lines(name: &str) -> Vec<Vec<u8>> {
    let bytes = fs::read(format!("{FIXTURES}{name}")).unwrap();
    bytes.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
}

pub fn append(path: &str, bytes: &[u8]) {
    let mut f = fs::OpenOptions::new().append(true).create(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

/// Starts a watcher by hand and waits until it holds the lock.
pub fn start_watcher(env: &mut Env, artifact: &str) -> i32 {
    let pid = env.spawn(&["internal", "session-watch", artifact]) as i32;
    let lock = env.h().lock(&env.key(artifact));
    wait_until("the watcher to hold its lock", secs(5), || match bach::lock::holder(&lock) {
        Ok(Some(p)) if p == pid => Ok(()),
        other => Err(format!("{other:?}")),
    });
    pid
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// What the library's classifier says after the first `n` lines.
fn classified(lines: &[Vec<u8>], n: usize) -> Saved {
    let (mut c, mut i) = (Classifier::new(), 0);
    Splitter::new().feed(&lines[..n].concat(), |l| {
        i += 1;
        c.line(l, i);
    });
    c.save()
}

/// A step to check: after line N, attention and tool.
type Step = (usize, &'static str, &'static str);

/// One fixture being copied: its lines, the steps to check, and how far it is.
struct Copy {
    name: &'static str,
    lines: Vec<Vec<u8>>,
    steps: Vec<Step>,
    artifact: String,
    pid: i32,
    written: usize,
}

/// The steps each fixture's README names: the synthetic ones' final
/// states (fixtures README, "Expected attention"), with the moments their
/// notes mention, and each moment of the two real recordings.
fn steps() -> Vec<(&'static str, Vec<Step>)> {
    let compact = fixture_lines("claude/compacted.jsonl")
        .iter()
        .position(|l| contains(l, br#""subtype":"compact_boundary""#))
        .expect("compacted.jsonl has a compact_boundary")
        + 1;
    vec![
        ("claude/working-model.jsonl", vec![(25, "working", "")]),
        ("claude/working-tool.jsonl", vec![(20, "tool", "Bash")]),
        ("claude/needs-you-permission.jsonl", vec![(20, "tool", "Bash")]),
        ("claude/needs-you-question.jsonl", vec![(20, "needs_you", "AskUserQuestion")]),
        (
            "claude/needs-you-plan.jsonl",
            vec![(20, "needs_you", "ExitPlanMode"), (23, "needs_you", "ExitPlanMode")],
        ),
        ("claude/turn-done.jsonl", vec![(23, "turn_done", "")]),
        (
            "claude/turn-done-with-away-summary.jsonl",
            vec![(44, "turn_done", ""), (45, "turn_done", "")],
        ),
        ("claude/compacted.jsonl", vec![(compact, "working", ""), (56, "turn_done", "")]),
        (
            CLAUDE_REAL,
            vec![
                (4, "working", ""),
                (7, "tool", "Bash"),
                (8, "working", ""),
                (9, "turn_done", ""),
                (11, "turn_done", ""),
                (13, "working", ""),
                (14, "tool", "Bash"),
                (15, "working", ""),
                (16, "turn_done", ""),
                (19, "turn_done", ""),
                (24, "needs_you", "AskUserQuestion"),
                (25, "working", ""),
                (26, "turn_done", ""),
                (29, "turn_done", ""),
            ],
        ),
        ("codex/working.jsonl", vec![(41, "working", "")]),
        ("codex/tool.jsonl", vec![(27, "tool", "exec_command")]),
        ("codex/turn-done.jsonl", vec![(32, "turn_done", "")]),
        ("codex/aborted.jsonl", vec![(39, "turn_done", "")]),
        (
            CODEX_REAL,
            vec![
                (1, "", ""),
                (2, "working", ""),
                (10, "tool", "exec_command"),
                (12, "tool", "exec_command"),
                (13, "working", ""),
                (16, "working", ""),
                (19, "turn_done", ""),
            ],
        ),
    ]
}

#[test]
fn every_fixture_gives_its_states_through_a_real_watcher() {
    let mut env = Env::new("fixtures");
    env.write_config("idle_seconds = 3600\n");
    let mut copies: Vec<Copy> = steps()
        .into_iter()
        .enumerate()
        .map(|(i, (name, steps))| {
            let artifact = env.artifact(&format!("f{i}.jsonl"));
            fs::write(&artifact, b"").unwrap();
            let lines = fixture_lines(name);
            assert_eq!(steps.last().unwrap().0, lines.len(), "{name}: the last step is its end");
            Copy { name, lines, steps, artifact, pid: 0, written: 0 }
        })
        .collect();
    for c in &mut copies {
        c.pid = start_watcher(&mut env, &c.artifact);
    }
    // In lock step: every fixture's next step written line by line, then
    // every status checked, so the watchers work at the same time.
    let most = copies.iter().map(|c| c.steps.len()).max().unwrap();
    for step in 0..most {
        for c in copies.iter_mut().filter(|c| step < c.steps.len()) {
            for line in &c.lines[c.written..c.steps[step].0] {
                append(&c.artifact, line);
            }
            c.written = c.steps[step].0;
        }
        for c in copies.iter().filter(|c| step < c.steps.len()) {
            let (n, attention, tool) = c.steps[step];
            let bytes: usize = c.lines[..n].iter().map(Vec::len).sum();
            let what = format!("{} after line {n}: {attention} {tool}", c.name);
            let s = wait_status(&env, &c.artifact, c.pid, &what, |s| {
                s.lines == n as u64 && s.offset == bytes as u64
            });
            let got = s.saved.attention.map_or("", |a| a.as_str());
            assert_eq!((got, s.saved.tool.as_str()), (attention, tool), "{what}: {s:#?}");
            // Everything else is what the classifier itself says.
            assert_eq!(s.saved, classified(&c.lines, n), "{what}");
            if !attention.is_empty() {
                assert!(s.attention_since.is_some(), "{what}: a since");
            }
        }
    }
    // The away_summary changed nothing: neither since nor last activity.
    let away = copies.iter().find(|c| c.name.contains("away-summary")).unwrap();
    let s = status(&env, &away.artifact).unwrap();
    assert_eq!(s.saved.evidence.last().map(String::as_str), Some("line 44: system turn_duration"));
}

#[test]
fn a_watcher_killed_mid_session_comes_back_with_the_same_attention_and_since() {
    let mut env = Env::new("sigkill-attention");
    env.write_config("idle_seconds = 3600\n");
    let a = env.artifact("s.jsonl");
    let lines = fixture_lines(CLAUDE_REAL);
    fs::write(&a, b"").unwrap();
    let first = start_watcher(&mut env, &a);
    for line in &lines[..24] {
        append(&a, line);
    }
    let before = wait_status(&env, &a, first, "the question open", |s| s.lines == 24);
    assert_eq!(before.saved.attention.map(|a| a.as_str()), Some("needs_you"));
    // Killed with half a line unread, a second later (so the file's time
    // is not the question's).
    let since = before.attention_since.unwrap();
    wait_until("a new second", secs(3), || match bach::time::now() {
        t if t > since => Ok(()),
        t => Err(t),
    });
    append(&a, &lines[24][..50]);
    wait_status(&env, &a, first, "the partial line read", |s| s.bytes == before.bytes + 50);
    bach::sys::kill(first, libc::SIGKILL).unwrap();
    assert_eq!(env.wait_child(first as u32, secs(5)), None, "killed by a signal");
    let second = start_watcher(&mut env, &a);
    let again = wait_status(&env, &a, second, "the resumed status", |s| s.bytes > 0);
    assert_eq!(
        (again.saved.clone(), again.attention_since, again.lines, again.last_activity),
        (before.saved.clone(), before.attention_since, 24, before.last_activity),
        "resumed at the checkpoint, classifier and since included"
    );
    // The rest, live: it ends where one that read the whole file does.
    append(&a, &lines[24][50..]);
    for line in &lines[25..] {
        append(&a, line);
    }
    let end = wait_status(&env, &a, second, "all 29 lines", |s| s.lines == 29);
    assert_eq!(end.saved, classified(&lines, 29));
    let whole = env.artifact("whole.jsonl");
    fs::write(&whole, lines.concat()).unwrap();
    let third = start_watcher(&mut env, &whole);
    let fresh = wait_status(&env, &whole, third, "the whole file", |s| s.lines == 29);
    assert_eq!(fresh.saved, end.saved);
    // Killed while lines arrive: caught up, with since from the file's time.
    bach::sys::kill(second, libc::SIGKILL).unwrap();
    assert_eq!(env.wait_child(second as u32, secs(5)), None);
    for line in &fixture_lines("claude/working-tool.jsonl")[19..] {
        append(&a, line);
    }
    let mtime = fs::metadata(&a).unwrap().modified().unwrap();
    let mtime = mtime.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let fourth = start_watcher(&mut env, &a);
    let caught = wait_status(&env, &a, fourth, "30 lines", |s| s.lines == 30);
    assert_eq!(caught.saved.tool, "Bash");
    assert_eq!(caught.attention_since, Some(mtime), "a change caught up: the file's time");
}

#[test]
fn bookkeeping_moves_nothing_and_the_judge_runs_once_per_turn() {
    let mut env = Env::new("judge-once");
    let log = env.root.join("judged.txt");
    env.write_config(&format!(
        "idle_seconds = 3600\njudge_command = echo \"$BACH_ATTENTION|$BACH_REASON\" >> {}; echo verdict\n",
        log.display()
    ));
    let a = env.artifact("s.jsonl");
    let lines = fixture_lines("claude/turn-done-with-away-summary.jsonl");
    fs::write(&a, b"").unwrap();
    let pid = start_watcher(&mut env, &a);
    for line in &lines[..44] {
        append(&a, line);
    }
    let done = wait_status(&env, &a, pid, "the turn judged", |s| s.judge_exit.is_some());
    assert_eq!(done.judge_exit.as_deref(), Some("exit 0"));
    let judged = || fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(judged(), "turn_done|turn ended (turn_duration)\n");
    // The recap minutes later: counted, and nothing else.
    append(&a, &lines[44]);
    let after = wait_status(&env, &a, pid, "the away_summary counted", |s| s.lines == 45);
    assert_eq!(
        (after.saved.attention, after.attention_since, after.last_activity),
        (done.saved.attention, done.attention_since, done.last_activity)
    );
    // The judge would have started in the loop turn that read the line, and
    // shown its group in the status published with it.
    assert_eq!((after.judge_pgid, judged().lines().count()), (None, 1), "no second judge");
    // A new turn is judged again.
    let more = fixture_lines("claude/turn-done.jsonl");
    let prompt = more.iter().position(|l| contains(l, br#""role":"user","#)).unwrap();
    for line in &more[prompt..] {
        append(&a, line);
    }
    let total = 45 + more.len() - prompt;
    wait_status(&env, &a, pid, "the second turn judged", |s| {
        s.lines == total as u64
            && s.verdict_at.is_some()
            && s.judge_pgid.is_none()
            && s.saved.turns == 4
    });
    wait_until("two judges", secs(5), || match judged().lines().count() {
        2 => Ok(()),
        n => Err(n),
    });
}

#[test]
fn judge_on_names_the_states_that_start_the_judge() {
    let mut env = Env::new("judge-on");
    let log = env.root.join("judged.txt");
    env.write_config(&format!(
        "idle_seconds = 3600\njudge_on = needs_you\njudge_command = echo $BACH_ATTENTION >> {}\n",
        log.display()
    ));
    let a = env.artifact("q.jsonl");
    fs::write(&a, b"").unwrap();
    let pid = start_watcher(&mut env, &a);
    for line in &fixture_lines(CLAUDE_REAL) {
        append(&a, line);
    }
    wait_status(&env, &a, pid, "all read, the judge done", |s| {
        s.lines == 29 && s.judge_pgid.is_none()
    });
    // A file read in one go shows only its end (turn_done): not a state of
    // judge_on. The question comes next, live.
    for line in &fixture_lines("claude/needs-you-question.jsonl")[19..] {
        append(&a, line);
    }
    wait_status(&env, &a, pid, "the question judged", |s| s.judge_exit.is_some());
    assert_eq!(fs::read_to_string(&log).unwrap(), "needs_you\n");
    let bad = Env::new("judge-on-bad");
    bad.write_config("judge_on = idle\n");
    let err = bad.fails(&["daemon", "run"], 2);
    assert!(err.contains("'judge_on' names unknown state 'idle'"), "{err}");
}

#[test]
fn a_long_catch_up_is_not_judged_on_the_way() {
    let mut env = Env::new("catch-up");
    let log = env.root.join("judged.txt");
    env.write_config(&format!(
        "idle_seconds = 3600\njudge_command = echo x >> {}\n",
        log.display()
    ));
    let a = env.artifact("s.jsonl");
    // A finished turn, then 20 MiB of bookkeeping (more than one read's
    // budget): turn_done all the way, until a prompt at the very end.
    let mut f = std::io::BufWriter::new(fs::File::create(&a).unwrap());
    f.write_all(&fixture_lines("claude/turn-done.jsonl").concat()).unwrap();
    let noise = format!(
        "{{\"type\":\"last-prompt\",\"lastPrompt\":\"{}\",\"sessionId\":\"x\"}}\n",
        "n".repeat(1000)
    );
    for _ in 0..(20 << 20) / noise.len() {
        f.write_all(noise.as_bytes()).unwrap();
    }
    f.write_all(fixture_lines("claude/working-model.jsonl").last().unwrap()).unwrap();
    drop(f);
    let size = fs::metadata(&a).unwrap().len();
    let pid = start_watcher(&mut env, &a);
    let s = wait_status(&env, &a, pid, "all read", |s| s.bytes == size);
    assert_eq!(s.saved.attention.map(|a| a.as_str()), Some("working"));
    assert_eq!((s.judge_pgid, s.judge_exit.as_deref(), fs::read(&log).ok()), (None, None, None));
}

#[test]
fn bad_input_never_gives_a_wrong_state() {
    let mut env = Env::new("bad-input");
    env.write_config("idle_seconds = 1\n");
    let tool = fixture_lines("claude/working-tool.jsonl");
    // A plain file is `other`: working while it grows, turn_done when idle.
    let plain = env.artifact("plain.log");
    append(&plain, b"compiling...\n");
    let p = start_watcher(&mut env, &plain);
    let s = wait_status(&env, &plain, p, "plain: idle", |s| s.state.as_str() == "idle");
    assert_eq!(s.saved.agent, None, "undecided below 64 KiB: growth decides");
    assert_eq!(s.saved.attention.map(|a| a.as_str()), Some("turn_done"));
    assert_eq!(s.saved.reason, "no growth for 1s");
    append(&plain, b"more\n");
    wait_status(&env, &plain, p, "plain: working again", |s| {
        s.saved.attention.map(|a| a.as_str()) == Some("working")
    });
    // Past 64 KiB without an agent's line: `other` for good.
    append(&plain, "build step\n".repeat(7000).as_bytes());
    let s = wait_status(&env, &plain, p, "plain: other", |s| s.lines == 7002);
    assert_eq!((s.saved.agent.map(|a| a.as_str()), s.saved.turns), (Some("other"), 0));
    // A quoted marker, an unterminated line, NUL bytes, garbage.
    let odd = env.artifact("odd.jsonl");
    fs::write(&odd, tool[..19].concat()).unwrap();
    let quoted = br#"{"parentUuid":"x","isSidechain":false,"type":"user","message":{"role":"user","content":"paste: {\"type\":\"system\",\"subtype\":\"turn_duration\"} and \"stop_reason\":\"end_turn\""},"sessionId":"ef2843ff"}"#;
    append(&odd, quoted);
    append(&odd, b"\n");
    append(&odd, b"\0\0\0\0\0\0\n{not json\n\xff\xfe garbage\n");
    append(&odd, &tool[19][..200]);
    let o = start_watcher(&mut env, &odd);
    let s = wait_status(&env, &odd, o, "odd: read", |s| s.lines == 23);
    assert_eq!(s.saved.attention.map(|a| a.as_str()), Some("working"), "{s:#?}");
    assert_eq!(s.saved.reason, "user prompt", "the quoted marker decided nothing");
    append(&odd, &tool[19][200..]);
    let s = wait_status(&env, &odd, o, "odd: the tool line ends", |s| s.lines == 24);
    assert_eq!(
        (s.saved.attention.map(|a| a.as_str()), s.saved.tool.as_str()),
        (Some("tool"), "Bash")
    );
    // A file that shrinks starts over on what it holds now.
    let real = fixture_lines(CLAUDE_REAL).concat();
    assert!(real.len() < fs::metadata(&odd).unwrap().len() as usize);
    fs::write(&odd, &real).unwrap();
    let s = wait_status(&env, &odd, o, "odd: the new content", |s| s.lines == 29);
    assert_eq!(
        (s.saved.attention.map(|a| a.as_str()), s.saved.turns, s.saved.open_calls.len()),
        (Some("turn_done"), 4, 0)
    );
    // Emptied, then written again.
    fs::write(&odd, b"").unwrap();
    wait_status(&env, &odd, o, "odd: empty", |s| s.bytes == 0);
    append(&odd, &tool.concat());
    let s = wait_status(&env, &odd, o, "odd: the tool fixture", |s| s.lines == 20);
    assert_eq!(s.saved.tool, "Bash");
}

/// Peak memory of its own of a watcher that read all of `artifact`, in KiB
/// (Linux): its peak RSS less the pages of the binary and the libraries it
/// maps at the end. Those only grow, so what is left never exceeds the peak
/// of its anonymous memory; they also vary by a few hundred KiB with the page
/// cache (fault-around maps whole blocks of a cached file), which made peak
/// RSS alone too noisy to compare.
#[cfg(target_os = "linux")]
fn peak_after_reading(env: &mut Env, artifact: &str) -> u64 {
    let size = fs::metadata(artifact).unwrap().len();
    let pid = start_watcher(env, artifact);
    wait_until("the whole file read", secs(120), || match status(env, artifact) {
        Some(s) if s.pid == pid && s.bytes == size => Ok(()),
        other => Err(other.map(|s| s.bytes)),
    });
    let st = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |field: &str| -> u64 {
        let line = st.lines().find_map(|l| l.strip_prefix(field)).unwrap();
        line.trim().trim_end_matches("kB").trim().parse().unwrap()
    };
    let own = kib("VmHWM:").saturating_sub(kib("RssFile:") + kib("RssShmem:"));
    bach::sys::kill(pid, libc::SIGKILL).unwrap();
    own
}

#[cfg(target_os = "linux")]
#[test]
fn memory_stays_flat_for_a_256_mib_transcript_and_a_64_mib_line() {
    let mut env = Env::new("flat");
    env.write_config("idle_seconds = 3600\n");
    let lines = fixture_lines(CLAUDE_REAL).concat();
    let small = env.artifact("small.jsonl");
    fs::write(&small, &lines).unwrap();
    let base = peak_after_reading(&mut env, &small);
    let big = env.artifact("big.jsonl");
    let mut f = std::io::BufWriter::new(fs::File::create(&big).unwrap());
    while f.get_ref().metadata().unwrap().len() < 256 << 20 {
        f.write_all(&lines).unwrap();
    }
    drop(f);
    let many = peak_after_reading(&mut env, &big);
    fs::remove_file(&big).unwrap();
    let long = env.artifact("long.jsonl");
    let head = br#"{"parentUuid":null,"isSidechain":false,"type":"user","message":{"role":"user","content":""#;
    let mut f = std::io::BufWriter::new(fs::File::create(&long).unwrap());
    f.write_all(head).unwrap();
    let chunk = vec![b'y'; 1 << 20];
    for _ in 0..64 {
        f.write_all(&chunk).unwrap();
    }
    f.write_all(b"\"},\"sessionId\":\"abc\"}\n").unwrap();
    drop(f);
    let one = peak_after_reading(&mut env, &long);
    assert!(
        many <= base + 256 && one <= base + 256,
        "peak memory of its own {base} / {many} / {one} KiB"
    );
}
