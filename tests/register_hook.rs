//! `bach hook claude`, fed the payloads the real Claude Code 2.1.197 sent
//! (`hook-payloads.jsonl`, paths moved into the test's folder), run as
//! Claude Code runs a hook: `/bin/sh -c COMMAND`, a child of the agent.

use super::*;
use std::io::Write;

/// The real payloads, their `/home/dev` moved to `root`, by event name.
fn payload(r: &Reg, event: &str) -> String {
    let text =
        fs::read_to_string(format!("{FIXTURES}claude/real-2.1.197/hook-payloads.jsonl")).unwrap();
    let line =
        text.lines().find(|l| l.contains(&format!("\"hook_event_name\":\"{event}\""))).unwrap();
    line.replace("/home/dev", r.env.root.to_str().unwrap())
}

/// Runs the hook as this test's uid (not under an agent) with `input` on
/// stdin and `args`; returns its exit code, stdout and stderr.
fn hook(r: &Reg, args: &[&str], input: &[u8]) -> (Option<i32>, Vec<u8>, Vec<u8>) {
    let mut c = r.cmd(&[&["hook", "claude"], args].concat());
    let mut child =
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A hook that stops reading early closes the pipe: that is fine.
    let _ = stdin.write_all(input);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (out.status.code(), out.stdout, out.stderr)
}

fn hook_log(r: &Reg) -> String {
    fs::read_to_string(r.env.home.join("logs/hook.log")).unwrap_or_default()
}

/// A fake Claude Code that runs the hook (`ARGS` after `hook claude`) with
/// `payload` on stdin the way Claude Code does, then sleeps as `claude`;
/// returns its pid once the hook finished, with what the hook printed.
fn claude_running_hook(r: &mut Reg, args: &str, payload: &str) -> (i32, String) {
    let input = r.env.root.join("payload.json");
    fs::write(&input, payload).unwrap();
    let (out, rc) = (r.env.root.join("hook.out"), r.env.root.join("hook.rc"));
    let _ = (fs::remove_file(&out), fs::remove_file(&rc));
    let hook = format!("[ -x {BIN} ] && {BIN} hook claude {args} || true");
    let then = format!(
        "/bin/sh -c '{hook}' < '{}' > '{}' 2>&1; echo $? > '{}.tmp'; mv '{}.tmp' '{}'",
        input.display(),
        out.display(),
        rc.display(),
        rc.display(),
        rc.display()
    );
    let proj = r.path("proj");
    let pid = r.claude(&proj, None, &then);
    let rc = wait_until("the hook to finish", Duration::from_secs(10), || {
        fs::read_to_string(&rc).map_err(|e| e.to_string())
    });
    assert_eq!(rc.trim(), "0", "the hook's exit status");
    (pid, fs::read_to_string(&out).unwrap())
}

#[cfg(target_os = "linux")]
#[test]
fn the_hook_records_the_claude_that_ran_it_and_its_end() {
    let mut r = Reg::new("hook");
    let start = payload(&r, "SessionStart");
    let (pid, printed) = claude_running_hook(&mut r, "", &start);
    assert_eq!(printed, "", "nothing on stdout or stderr: Claude would read it");
    let id = cid(REAL_CLAUDE_ID);
    let rec = r.record(&id);
    let transcript = r.path(&format!(".claude/projects/-home-dev-proj/{REAL_CLAUDE_ID}.jsonl"));
    assert_eq!(rec["artifact"], transcript);
    assert_eq!((rec["via"].as_str(), rec["agent"].as_str()), ("hook", "claude"));
    assert_eq!(
        (rec["cwd"].as_str(), rec["agent_session"].as_str()),
        (&*r.path("proj"), REAL_CLAUDE_ID)
    );
    assert_eq!(rec["pid"], pid.to_string(), "the fake claude, above the hook's shell");
    let procs = r.procs();
    let p = bach::ps::find(&procs, pid).expect("the agent runs");
    assert_eq!(rec["pid_start"], p.start, "the start as ps prints it");
    assert_eq!(rec["pid_ticks"], bach::procs::start_ticks(pid).unwrap().to_string());
    assert_eq!(rec["pid_uid"], r.uid.to_string());
    assert!(rec["task"].starts_with("proj-"), "the auto task of its folder: {rec:?}");
    assert_eq!(hook_log(&r), "", "nothing went wrong");
    // The same agent session again (a resume): still one record.
    let (_, printed) = claude_running_hook(&mut r, "", &start);
    assert_eq!(printed, "");
    assert_eq!(r.ids(), std::slice::from_ref(&id));

    let key = r.env.key(&transcript);
    let (code, out, err) = hook(&r, &[], payload(&r, "Stop").as_bytes());
    assert_eq!((code, out.len(), err.len()), (Some(0), 0, 0));
    let hint: std::collections::BTreeMap<String, String> =
        read_kv(&r.env.home.join(format!("watch/{key}.hint"))).into_iter().collect();
    assert_eq!(hint["hint"], "turn_done");
    assert!(hint["hint_at"].parse::<u64>().unwrap() >= bach::time::now() - 5);
    let notification = start
        .replace("\"SessionStart\"", "\"Notification\"")
        .replace(",\"source\":\"startup\"", "");
    hook(&r, &[], notification.as_bytes());
    let hint: std::collections::BTreeMap<String, String> =
        read_kv(&r.env.home.join(format!("watch/{key}.hint"))).into_iter().collect();
    assert_eq!(hint["hint"], "needs_you");

    let (code, out, _) = hook(&r, &[], payload(&r, "SessionEnd").as_bytes());
    assert_eq!((code, out.len()), (Some(0), 0));
    let rec = r.record(&id);
    assert_eq!((rec["state"].as_str(), rec["end_reason"].as_str()), ("ended", "prompt_input_exit"));
    assert_eq!(hook_log(&r), "");
    let doc = r.json(&["sessions", "list", "--json"]);
    assert_eq!(doc.get("sessions").arr()[0].get("state").str(), "ended");
}

#[cfg(target_os = "linux")]
#[test]
fn an_explicit_task_wins_and_replaces_what_discovery_chose() {
    let mut r = Reg::new("hooktask");
    r.ok(&["tasks", "add", "--id", "mine", "Mine"]);
    r.ok(&["tasks", "add", "--id", "env", "From the environment"]);
    let s = sid(0x30);
    let pid = r.claude(&r.path("proj"), Some(&s), "");
    r.ok(&["sessions", "discover"]);
    assert!(r.record(&cid(&s))["task"].starts_with("proj-"), "discovery's auto task");
    let start = payload(&r, "SessionStart").replace(REAL_CLAUDE_ID, &s);
    let (code, out, _) = hook(&r, &["--task", "mine"], start.as_bytes());
    assert_eq!((code, out.len()), (Some(0), 0));
    let rec = r.record(&cid(&s));
    assert_eq!((rec["task"].as_str(), rec["via"].as_str()), ("mine", "discover"));
    assert_eq!(rec["pid"], pid.to_string(), "the first writer's pid stays");
    // $BACH_TASK when there is no --task, for a new session.
    let other = payload(&r, "SessionStart");
    let mut c = r.cmd(&["hook", "claude"]);
    c.env("BACH_TASK", "env").stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(other.as_bytes()).unwrap();
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
    let rec = r.record(&cid(REAL_CLAUDE_ID));
    assert_eq!(rec["task"], "env");
    assert!(!rec.contains_key("pid"), "no Claude Code above it: no pid");
    assert!(hook_log(&r).contains("no Claude Code among the hook's ancestors"), "{}", hook_log(&r));
}

#[cfg(target_os = "linux")]
#[test]
fn bad_input_is_logged_and_changes_nothing() {
    let r = Reg::new("hookbad");
    let start = payload(&r, "SessionStart");
    let root = r.env.root.to_str().unwrap().to_string();
    let mut huge = start.clone().into_bytes();
    huge.truncate(huge.len() - 1);
    huge.extend_from_slice(b",\"pad\":\"");
    huge.resize(2 << 20, b'x');
    huge.extend_from_slice(b"\"}");
    let cases: Vec<(&str, Vec<u8>, Vec<&str>, &str)> = vec![
        ("malformed", b"{\"session_id\":".to_vec(), vec![], "payload: no value at byte 14"),
        ("2 MiB", huge, vec![], "stdin: more than 1048576 bytes"),
        ("empty", Vec::new(), vec![], "payload: expected '{' at byte 0"),
        ("no transcript", start.replace(&format!("\"transcript_path\":\"{root}/.claude/projects/-home-dev-proj/{REAL_CLAUDE_ID}.jsonl\","), "").into_bytes(), vec![], "SessionStart without transcript_path"),
        ("no session id", start.replace(&format!("\"session_id\":\"{REAL_CLAUDE_ID}\","), "").into_bytes(), vec![], "no session_id"),
        ("control character", start.replace("/proj\"", "/pr\\u001boj\"").into_bytes(), vec![], "cwd: control character"),
        ("relative path", start.replace(&format!("\"{root}/.claude"), "\".claude").into_bytes(), vec![], "transcript_path: not an absolute path"),
        ("padded path", start.replace(&format!("\"{root}/.claude"), &format!("\" {root}/.claude")).into_bytes(), vec![], "transcript_path: leading or trailing whitespace"),
        ("usage", start.clone().into_bytes(), vec!["--bogus"], "usage: invalid option '--bogus'"),
        ("bad task id", start.clone().into_bytes(), vec!["--task", "../x"], "usage: invalid task id '../x'"),
        ("SessionEnd of nothing", payload(&r, "SessionEnd").into_bytes(), vec![], "no session c-417c4de51034 to end"),
    ];
    for (what, input, args, want) in cases {
        let before = hook_log(&r).lines().count();
        let (code, out, err) = hook(&r, &args, &input);
        assert_eq!(
            (code, out.len(), err.len()),
            (Some(0), 0, 0),
            "{what}: {}",
            String::from_utf8_lossy(&err)
        );
        let log = hook_log(&r);
        let new: Vec<&str> = log.lines().skip(before).collect();
        assert_eq!(new.len(), 1, "{what}: one line in hook.log: {log}");
        assert!(new[0].contains(want), "{what}: {}", new[0]);
        assert!(r.ids().is_empty(), "{what}: nothing written: {:?}", r.ids());
        assert!(
            !r.env.home.join("tasks").exists()
                || fs::read_dir(r.env.home.join("tasks")).unwrap().count() == 0
        );
    }
    // A broken config is said, and the defaults serve.
    fs::write(r.env.home.join("config"), "discover = vim\n").unwrap();
    let (code, out, _) = hook(&r, &[], start.as_bytes());
    assert_eq!((code, out.len()), (Some(0), 0));
    assert!(hook_log(&r).contains("'discover' takes claude, codex or none"), "{}", hook_log(&r));
    assert_eq!(r.ids(), [cid(REAL_CLAUDE_ID)]);
}

#[cfg(target_os = "linux")]
#[test]
fn a_hook_waits_for_its_input_one_second_at_most() {
    let r = Reg::new("hookslow");
    let mut child =
        r.cmd(&["hook", "claude"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let started = std::time::Instant::now();
    let stdin = child.stdin.take().unwrap();
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    drop(stdin);
    assert_eq!((out.status.code(), out.stdout.len()), (Some(0), 0));
    assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(1900), "{took:?}");
    assert!(hook_log(&r).contains("stdin: no end of input within 1s"), "{}", hook_log(&r));
}

#[cfg(target_os = "linux")]
#[test]
fn print_config_gives_the_hooks_block_with_this_bach() {
    let r = Reg::new("hookconfig");
    let (code, out, err) = hook(&r, &["--print-config"], b"");
    assert_eq!((code, err.len()), (Some(0), 0));
    let doc = json(&String::from_utf8(out).unwrap());
    let hooks = doc.get("hooks");
    assert_eq!(hooks.keys(), ["SessionStart", "SessionEnd", "Notification", "Stop"]);
    let command = hooks.get("SessionStart").arr()[0].get("hooks").arr()[0].get("command").str();
    assert_eq!(command, format!("[ -x {BIN} ] && {BIN} hook claude || true"));
    assert!(r.ids().is_empty());
}

#[cfg(target_os = "linux")]
#[test]
fn a_hook_and_discovery_racing_for_one_session_make_one_record() {
    let mut r = Reg::new("race");
    r.ok(&["tasks", "add", "--id", "mine", "Mine"]);
    for n in 0..8 {
        let s = sid(0x40 + n);
        let go = r.env.root.join(format!("go{n}"));
        crate::faults::mkfifo(&go);
        r.own(&go);
        let input = r.env.root.join(format!("start{n}.json"));
        fs::write(&input, payload(&r, "SessionStart").replace(REAL_CLAUDE_ID, &s)).unwrap();
        let then = format!(
            "read _ < '{}'; /bin/sh -c '{BIN} hook claude --task mine' < '{}'",
            go.display(),
            input.display()
        );
        let pid = r.claude(&r.path("proj"), Some(&s), &then);
        let discover = r.cmd(&["sessions", "discover"]).stdout(Stdio::null()).spawn().unwrap();
        fs::OpenOptions::new().write(true).open(&go).unwrap().write_all(b"go\n").unwrap();
        assert!(discover.wait_with_output().unwrap().status.success());
        wait_until("the hook to have run", Duration::from_secs(10), || {
            let procs = r.procs();
            let p = bach::ps::find(&procs, pid).map(|p| p.command.clone()).unwrap_or_default();
            (p == "claude 1000").then_some(()).ok_or(p)
        });
        let mine: Vec<String> = r.ids().into_iter().filter(|i| *i == cid(&s)).collect();
        assert_eq!(mine.len(), 1);
        let rec = r.record(&cid(&s));
        assert_eq!(rec["pid"], pid.to_string(), "round {n}: {rec:?}");
        assert_eq!(rec["task"], "mine", "round {n}: the hook's task, whoever was first: {rec:?}");
    }
    assert_eq!(r.ids().len(), 8, "one record per agent session: {:?}", r.ids());
    let tasks = r.json(&["tasks", "list", "--json"]);
    let n = tasks.get("tasks").arr().len();
    assert!(n <= 2, "at most one auto task (discovery's, met by every writer): {tasks:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn the_alarm_ends_a_hook_held_up_past_two_seconds() {
    let r = Reg::new("hookalarm");
    let child =
        r.cmd(&["hook", "claude"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let pid = child.id() as i32;
    let proc_file =
        |what: &str| fs::read_to_string(format!("/proc/{pid}/{what}")).unwrap_or_default();
    wait_until("the hook to wait for stdin", Duration::from_secs(5), || {
        let wchan = proc_file("wchan");
        wchan.contains("poll").then_some(()).ok_or(wchan)
    });
    // Stopped, it cannot run out its one second of stdin; its alarm comes
    // meanwhile (pending: SIGALRM, 14, is bit 13 of ShdPnd) and is the
    // first thing it meets when it goes on.
    bach::sys::kill(pid, libc::SIGSTOP).unwrap();
    wait_until("SIGALRM to be pending", Duration::from_secs(5), || {
        let status = proc_file("status");
        let pending = status.lines().find_map(|l| l.strip_prefix("ShdPnd:")).unwrap_or("0");
        let bits = u64::from_str_radix(pending.trim(), 16).unwrap_or(0);
        (bits & (1 << 13) != 0).then_some(()).ok_or(status)
    });
    bach::sys::kill(pid, libc::SIGCONT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!((out.status.code(), out.stdout.len()), (Some(0), 0));
    assert_eq!(hook_log(&r), "", "ended by the alarm, before it could say why");
}
