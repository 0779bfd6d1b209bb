//! Readers through the real binary: `sessions wait` end to end with real
//! watchers, `sessions show` and `sessions list`, and what only a reader
//! knows: Claude Code's registry, the approval rule, hints, `gone_at`.
//! Linux only: fake agents are told apart by `/proc` (their start ticks,
//! whether the wait sleeps in `poll()`).
#![cfg(target_os = "linux")]

use crate::attention::{append, fixture_lines, CLAUDE_REAL};
use crate::util::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn now() -> u64 {
    bach::time::now()
}

/// A `sessions wait` running in the background, its stdout in a file.
struct Waiting {
    child: Child,
    out: PathBuf,
}

impl Waiting {
    fn start(env: &Env, args: &[&str]) -> Waiting {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = env.root.join(format!("wait-{n}.out"));
        let file = fs::File::create(&out).unwrap();
        let err = fs::File::create(env.root.join(format!("wait-{n}.err"))).unwrap();
        let args = [&["sessions", "wait"][..], args].concat();
        let child = env.cmd(&args).stdout(file).stderr(err).spawn().unwrap();
        first_look_over(child.id() as i32);
        Waiting { child, out }
    }

    /// Its exit code and output, waiting at most `limit`.
    fn end(&mut self, limit: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + limit;
        let code = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st.code();
            }
            let out = fs::read_to_string(&self.out).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "the wait did not end in {limit:?}; it printed {out:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        (code, fs::read_to_string(&self.out).unwrap())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let _ = bach::sys::kill(self.child.id() as i32, libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Waits until the wait `pid` is past its first looks and asleep: it
/// sleeps in `poll()` between looks (at least 250 ms), and briefly while it
/// reads `ps`, which is its child until reaped (the short pause between two
/// looks is a plain sleep). Two samples of /proc are not one instant, so it
/// must be seen asleep without a child five times in a row (some 50 ms,
/// longer than a `ps` read).
fn first_look_over(pid: i32) {
    let mut asleep = 0;
    wait_until("the wait to sleep in poll()", secs(10), || {
        let kids = children(pid);
        let wchan = fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
        asleep = match kids.is_empty() && wchan.contains("poll") && children(pid).is_empty() {
            true => asleep + 1,
            false => 0,
        };
        match asleep >= 5 {
            true => Ok(()),
            false => Err((wchan, kids)),
        }
    });
}

/// Kills a pid when the test ends, however it ends.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = bach::sys::kill(self.0, libc::SIGKILL);
    }
}

/// The pids whose parent is `pid` (zombies included), from `/proc`.
fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        if after.split(' ').nth(1).and_then(|x| x.parse::<i32>().ok()) == Some(pid) {
            out.push(p);
        }
    }
    out
}

/// A task `t`, and session `id` on a new artifact holding `lines`, with a
/// watcher (and `--pid` when given); waits for the watcher's status.
fn session(env: &Env, id: &str, lines: &[Vec<u8>], pid: Option<u32>) -> String {
    let _ = env.run(&["tasks", "add", "--id", "t", "work"]);
    let a = env.artifact(&format!("{id}.jsonl"));
    fs::write(&a, lines.concat()).unwrap();
    let pid = pid.map(|p| p.to_string());
    let mut args = vec!["sessions", "start", "--task", "t", "--id", id, "--artifact", &a];
    if let Some(p) = &pid {
        args.extend(["--pid", p]);
    }
    env.ok(&args);
    wait_until("the watcher's status", secs(10), || match status(env, &a) {
        Some(s) if s.lines == lines.len() as u64 => Ok(()),
        other => Err(other.map(|s| s.lines)),
    });
    a
}

/// The document of `sessions list --json` and the session `id` in it.
fn listed(env: &Env, id: &str) -> (Json, Json) {
    let doc = env.json(&["sessions", "list", "--json"]);
    let s = doc.get("sessions").arr().iter().find(|s| s.get("id").str() == id).cloned();
    let s = s.unwrap_or_else(|| panic!("{id} not listed: {doc:?}"));
    (doc, s)
}

/// Waits until `sessions list --json` shows `id` as `ok` says.
fn wait_listed(env: &Env, id: &str, what: &str, ok: impl Fn(&Json) -> bool) -> Json {
    wait_until(what, secs(10), || {
        let (_, s) = listed(env, id);
        if ok(&s) {
            Ok(s)
        } else {
            Err(Box::new(s))
        }
    })
}

fn attention(s: &Json) -> &str {
    match s.get("attention") {
        Json::Null => "-",
        a => a.str(),
    }
}

/// A fake agent: `sleep` under the name `claude` (no children), or a bash
/// named `claude` with one `sleep` child (`child`), its environment
/// holding `CLAUDE_CONFIG_DIR`. Killed with the test.
fn fake_agent(env: &mut Env, child: bool, config_dir: &Path) -> u32 {
    let dir = env.root.join("agents");
    fs::create_dir_all(&dir).unwrap();
    let claude = dir.join("claude");
    let tool = dir.join("tool-sleep");
    for link in [&claude, &tool] {
        if !link.exists() {
            std::os::unix::fs::symlink("/bin/sleep", link).unwrap();
        }
    }
    let mut cmd = match child {
        false => {
            let mut c = Command::new(&claude);
            c.arg("300");
            c
        }
        true => {
            let mut c = Command::new("/bin/bash");
            // Once its tool ends it goes on as itself (exec keeps the pid
            // and the start), with no child.
            let script = format!(
                "exec -a claude /bin/bash -c '{} 300 & wait; exec -a claude /bin/sleep 300'",
                tool.display()
            );
            c.args(["-c", &script]);
            c
        }
    };
    cmd.env_clear().env("CLAUDE_CONFIG_DIR", config_dir).env("PATH", "/usr/bin:/bin");
    let pid = env.spawn_cmd(cmd);
    wait_until("the fake agent to run as claude", secs(5), || {
        let argv = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let kids = children(pid as i32);
        let arg0 = argv.split(|&b| b == 0).next().unwrap_or_default().to_vec();
        match arg0.ends_with(b"claude") && (!child || !kids.is_empty()) {
            true => Ok(()),
            false => Err((String::from_utf8_lossy(&arg0).into_owned(), kids)),
        }
    });
    pid
}

/// Writes Claude Code's registry file for `pid`, as 2.1.197 does.
fn registry(dir: &Path, pid: u32, status: &str, updated_ms: u64, ticks: Option<u64>) {
    fs::create_dir_all(dir.join("sessions")).unwrap();
    let ticks = ticks.or_else(|| bach::procs::start_ticks(pid as i32)).unwrap();
    let waiting = if status == "waiting" { r#","waitingFor":"permission prompt""# } else { "" };
    let text = format!(
        r#"{{"pid":{pid},"sessionId":"417c4de5-1034-474f-b13d-6e737d47b966","cwd":"/home/dev/proj","startedAt":{updated_ms},"procStart":"{ticks}","version":"2.1.197","kind":"interactive","entrypoint":"cli","status":"{status}","updatedAt":{updated_ms},"statusUpdatedAt":{updated_ms}{waiting}}}"#
    );
    // In place, as a plain write: the wait must notice a file rewritten,
    // not only one renamed into the folder.
    fs::write(dir.join(format!("sessions/{pid}.json")), text).unwrap();
}

#[test]
fn wait_reports_what_enters_and_its_cursor_loses_nothing_between_calls() {
    let env = Env::new("wait-enters");
    env.write_config("idle_seconds = 3600\n");
    let lines = fixture_lines(CLAUDE_REAL);
    let a = session(&env, "s1", &lines[..13], None);
    assert_eq!(status(&env, &a).unwrap().saved.attention.unwrap().as_str(), "working");
    let mut w = Waiting::start(&env, &[]);
    for line in &lines[13..16] {
        append(&a, line);
    }
    let t = Instant::now();
    wait_until("the watcher to see turn_done", secs(10), || match status(&env, &a) {
        Some(s) if s.lines == 16 => Ok(()),
        other => Err(other.map(|s| s.lines)),
    });
    let seen = t.elapsed();
    let (code, out) = w.end(secs(5));
    let since = status(&env, &a).unwrap().attention_since.unwrap();
    assert_eq!(code, Some(0), "{out}");
    let cursor = format!("v1,s1:turn_done:{since}");
    assert_eq!(out, format!("s1 turn_done interrupted by the user\ncursor {cursor}\n"));
    assert!(t.elapsed() < seen + secs(2), "noticed {:?} after the status", t.elapsed() - seen);
    // Nothing waits while another turn ends: the cursor remembers.
    wait_until("a new second", secs(3), || if now() > since { Ok(()) } else { Err(now()) });
    for line in &lines[16..19] {
        append(&a, line);
    }
    wait_until("turn 3 done", secs(10), || match status(&env, &a) {
        Some(s) if s.lines == 19 => Ok(()),
        other => Err(other.map(|s| s.lines)),
    });
    let out = env.ok(&["sessions", "wait", "--after", &cursor, "--timeout", "5"]);
    let next = status(&env, &a).unwrap().attention_since.unwrap();
    assert_ne!(next, since);
    assert!(out.starts_with("s1 turn_done "), "{out}");
    let again = format!("v1,s1:turn_done:{next}");
    assert!(out.ends_with(&format!("\ncursor {again}\n")), "{out}");
    // With that cursor nothing is new: the timeout, the cursor unchanged.
    let quiet = env.run(&["sessions", "wait", "--after", &again, "--timeout", "1"]);
    assert_eq!(quiet.status.code(), Some(124), "{}", dump(&[], &quiet));
    assert_eq!(String::from_utf8_lossy(&quiet.stdout), format!("cursor {again}\n"));
    let doc = json(&String::from_utf8_lossy(
        &env.run(&["sessions", "wait", "--after", &again, "--timeout", "0", "--json"]).stdout,
    ));
    assert_eq!((doc.get("events").arr().len(), doc.get("cursor").str()), (0, again.as_str()));
    assert_eq!(doc.get("schema").int(), 1);
}

#[test]
fn wait_now_until_timeout_unknown_and_ended_ids() {
    let env = Env::new("wait-flags");
    env.write_config("idle_seconds = 3600\n");
    let done = fixture_lines("claude/turn-done.jsonl");
    let a = session(&env, "s1", &done, None);
    let since = status(&env, &a).unwrap().attention_since.unwrap();
    let out = env.ok(&["sessions", "wait", "--now", "--json", "--timeout", "5"]);
    let doc = json(&out);
    let events = doc.get("events").arr();
    assert_eq!(events.len(), 1, "{out}");
    let e = &events[0];
    assert_eq!(
        (e.get("id").str(), e.get("attention").str(), e.get("reason").str(), e.get("at").int()),
        ("s1", "turn_done", "turn ended (turn_duration)", since as i64)
    );
    assert_eq!(doc.get("cursor").str(), format!("v1,s1:turn_done:{since}"));
    let t = Instant::now();
    let timed_out = env.run(&["sessions", "wait", "--timeout", "1"]);
    assert_eq!(timed_out.status.code(), Some(124));
    assert!(t.elapsed() >= secs(1) && t.elapsed() < secs(4), "{:?}", t.elapsed());
    assert_eq!(
        String::from_utf8_lossy(&timed_out.stdout),
        format!("cursor v1,s1:turn_done:{since}\n")
    );
    let err = env.fails(&["sessions", "wait", "nope", "x.y", "--timeout", "5"], 1);
    assert_eq!(err, "bach: error: nothing to wait for: nope is unknown, x.y is unknown\n");
    // --until: a state that is not in the default list.
    let mut w = Waiting::start(&env, &["s1", "nope", "--until", "working,tool"]);
    append(&a, &fixture_lines("claude/working-model.jsonl")[24]);
    let (code, out) = w.end(secs(10));
    assert_eq!((code, out.lines().next()), (Some(0), Some("s1 working user prompt")), "{out}");
    // Ended: named, nothing left to wait for; `ended` may be asked for.
    let mut w = Waiting::start(&env, &["s1", "--until", "ended"]);
    env.ok(&["sessions", "end", "s1"]);
    let (code, out) = w.end(secs(10));
    assert_eq!((code, out.lines().next()), (Some(0), Some("s1 ended ended")), "{out}");
    let err = env.fails(&["sessions", "wait", "s1", "--timeout", "5"], 1);
    assert_eq!(err, "bach: error: nothing to wait for: s1 has ended\n");
    // Without a watcher only its record changes: sessions/ is watched too.
    let art = env.artifact("lone.jsonl");
    env.ok(&["sessions", "start", "--no-watch", "--id", "lone", "--artifact", &art]);
    let mut w = Waiting::start(&env, &["lone", "--until", "ended"]);
    env.ok(&["sessions", "end", "lone"]);
    let (code, out) = w.end(secs(10));
    assert_eq!((code, out.lines().next()), (Some(0), Some("lone ended ended")), "{out}");
    for (args, want) in [
        (&["--until", "idle"][..], "--until names unknown state 'idle'"),
        (&["--now", "--after", "v1"], "--now and --after cannot be given together"),
        (&["--after", "v1,s1"], "invalid cursor 'v1,s1'"),
        (&["--timeout", "soon"], "--timeout must be a number, not 'soon'"),
        (&["bad id!"], "invalid session id 'bad id!'"),
    ] {
        let err = env.fails(&[&["sessions", "wait"][..], args].concat(), 2);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn a_dropped_reader_ends_the_wait_and_leaves_nothing_behind() {
    let env = Env::new("wait-hangup");
    session(&env, "s1", &fixture_lines("claude/working-model.jsonl"), None);
    let mut child =
        env.cmd(["sessions", "wait"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let pid = child.id() as i32;
    let _guard = KillOnDrop(pid);
    first_look_over(pid);
    drop(child.stdout.take());
    let t = Instant::now();
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        assert!(t.elapsed() < secs(5), "the wait outlived its reader");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(code, Some(1));
    assert!(t.elapsed() < secs(1), "noticed after {:?}", t.elapsed());
    assert_eq!(children(pid), Vec::<i32>::new(), "nothing left behind");
}

#[test]
fn sessions_that_start_while_it_waits_count() {
    let env = Env::new("wait-new");
    env.write_config("idle_seconds = 3600\n");
    let mut w = Waiting::start(&env, &["--timeout", "20"]);
    session(&env, "late", &fixture_lines("claude/needs-you-question.jsonl"), None);
    let (code, out) = w.end(secs(10));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.lines().next(), Some("late needs_you AskUserQuestion open: a question for you"));
}

#[test]
fn the_registry_saying_waiting_is_needs_you_and_wakes_the_wait() {
    let mut env = Env::new("registry");
    env.write_config("idle_seconds = 3600\npermission_seconds = 3600\n");
    let cc = env.root.join("claude-config");
    let agent = fake_agent(&mut env, false, &cc);
    let a = session(&env, "s1", &fixture_lines("claude/needs-you-permission.jsonl"), Some(agent));
    let t0 = now() * 1000;
    registry(&cc, agent, "busy", t0, None);
    let s = wait_listed(&env, "s1", "tool from the file alone", |s| attention(s) == "tool");
    assert_eq!((s.get("tool").str(), s.get("agent").str()), ("Bash", "claude"));
    // A registry of another process (its start differs) is not believed.
    registry(&cc, agent, "waiting", t0, Some(1));
    let (_, s) = listed(&env, "s1");
    assert_eq!(attention(&s), "tool", "{s:?}");
    registry(&cc, agent, "busy", t0, None);
    let mut w = Waiting::start(&env, &["s1"]);
    let shown = (now() + 1) * 1000 + 234;
    registry(&cc, agent, "waiting", shown, None);
    let t = Instant::now();
    let (code, out) = w.end(secs(10));
    assert_eq!(code, Some(0), "{out}");
    assert!(t.elapsed() < secs(2), "noticed after {:?}", t.elapsed());
    assert_eq!(out.lines().next(), Some("s1 needs_you permission prompt"));
    let (_, s) = listed(&env, "s1");
    assert_eq!(
        (attention(&s), s.get("reason").str(), s.get("attention_since").int()),
        ("needs_you", "permission prompt", (shown / 1000) as i64)
    );
    // The agent exits: its pid handle fires, the session is gone.
    let mut w = Waiting::start(&env, &["s1", "--until", "gone"]);
    bach::sys::kill(agent as i32, libc::SIGKILL).unwrap();
    assert_eq!(env.wait_child(agent, secs(5)), None);
    let t = Instant::now();
    let (code, out) = w.end(secs(10));
    assert_eq!((code, out.lines().next()), (Some(0), Some("s1 gone agent exited")), "{out}");
    assert!(t.elapsed() < secs(1), "noticed after {:?}", t.elapsed());
    let (_, s) = listed(&env, "s1");
    assert_eq!((s.get("state").str(), attention(&s)), ("gone", "gone"));
    assert_eq!(status(&env, &a).unwrap().saved.tool, "Bash", "the watcher's view stays");
}

#[test]
fn an_open_shell_call_with_nothing_running_asks_for_approval() {
    let mut env = Env::new("approval");
    env.write_config("idle_seconds = 3600\npermission_seconds = 1\n");
    let cc = env.root.join("claude-config");
    let lines = fixture_lines("claude/working-tool.jsonl");
    // No child at all: after permission_seconds, needs_you.
    let idle = fake_agent(&mut env, false, &cc);
    session(&env, "idle", &lines, Some(idle));
    let s = wait_listed(&env, "idle", "the approval rule", |s| attention(s) == "needs_you");
    assert_eq!(s.get("reason").str(), "tool Bash open, nothing running: approval?");
    // A child started after the call opened: the tool runs.
    let a = session(&env, "busy", &lines, None);
    let opened = status(&env, &a).unwrap().attention_since.unwrap();
    let busy = fake_agent(&mut env, true, &cc);
    let mut rec = fs::read_to_string(env.home.join("sessions/busy")).unwrap();
    let procs = bach::procs::snapshot().unwrap();
    let p = bach::ps::find(&procs, busy as i32).unwrap();
    let ticks = bach::procs::start_ticks(busy as i32).unwrap();
    rec.push_str(&format!(
        "pid = {busy}\npid_uid = {}\npid_start = {}\npid_ticks = {ticks}\n",
        p.uid, p.start
    ));
    fs::write(env.home.join("sessions/busy"), rec).unwrap();
    wait_listed(&env, "busy", "a look past permission_seconds", |s| {
        s.get("pid").int() == busy as i64 && now() >= opened + 2
    });
    let (doc, s) = listed(&env, "busy");
    assert!(doc.get("generated_at").int() as u64 >= opened + 2);
    assert_eq!((attention(&s), s.get("reason").str()), ("tool", "tool Bash open"), "{s:?}");
    // Its child ends (the command ran): nothing runs, the call is still open.
    let kids = children(busy as i32);
    assert_eq!(kids.len(), 1, "one tool under the agent");
    bach::sys::kill(kids[0], libc::SIGKILL).unwrap();
    wait_listed(&env, "busy", "needs_you once nothing runs", |s| attention(s) == "needs_you");
}

#[test]
fn hints_gone_at_and_a_clear_rotation() {
    let env = Env::new("hints");
    env.write_config("idle_seconds = 3600\n");
    let a = session(&env, "h1", &fixture_lines("claude/working-model.jsonl"), None);
    let since = status(&env, &a).unwrap().attention_since.unwrap();
    let key = env.key(&a);
    fs::write(env.h().hint(&key), format!("hint = needs_you\nhint_at = {}\n", since + 1)).unwrap();
    let (_, s) = listed(&env, "h1");
    assert_eq!(
        (attention(&s), s.get("reason").str(), s.get("attention_since").int()),
        ("needs_you", "hook: the agent needs you", since as i64 + 1)
    );
    fs::write(env.h().hint(&key), format!("hint = needs_you\nhint_at = {}\n", since - 5)).unwrap();
    assert_eq!(attention(&listed(&env, "h1").1), "working", "a hint older than the state");
    // A dead agent: gone since the daemon saw it gone.
    let dead = format!(
        "artifact = {}\ntask = t\npid = 2147483000\npid_uid = 0\npid_start = Wed Nov 25 04:31:14 2026\nstate = live\nstarted = 100\n",
        env.artifact("dead.jsonl")
    );
    fs::write(env.home.join("sessions/dead"), dead).unwrap();
    let dead_key = env.key(&env.artifact("dead.jsonl"));
    fs::write(
        env.home.join("daemon.state"),
        format!("pid = 1\nstarted = 1\n{dead_key}.gone_at = 4242\n"),
    )
    .unwrap();
    let (_, s) = listed(&env, "dead");
    assert_eq!((attention(&s), s.get("attention_since").int()), ("gone", 4242));
    // An ended session shows gone with how it ended; a /clear shows nothing.
    let ended = |id: &str, why: &str| {
        let rec = format!(
            "artifact = {}\ntask = t\nstate = ended\nstarted = 100\nended = 200\nend_reason = {why}\n",
            env.artifact(&format!("{id}.jsonl"))
        );
        fs::write(env.home.join(format!("sessions/{id}")), rec).unwrap();
    };
    ended("exited", "prompt_input_exit");
    ended("cleared", "clear");
    let (_, s) = listed(&env, "exited");
    assert_eq!(
        (attention(&s), s.get("reason").str(), s.get("end_reason").str()),
        ("gone", "prompt_input_exit", "prompt_input_exit")
    );
    let (_, s) = listed(&env, "cleared");
    assert_eq!((attention(&s), s.get("state").str()), ("-", "ended"));
    let out = env.ok(&["sessions", "wait", "cleared", "exited", "--now", "--timeout", "0"]);
    assert_eq!(out.lines().next(), Some("exited gone prompt_input_exit"), "a /clear wakes nobody");
}

#[test]
fn list_is_most_urgent_first_in_120_columns_and_says_why() {
    let env = Env::new("list");
    env.write_config("idle_seconds = 3600\n");
    session(&env, "w", &fixture_lines("claude/working-model.jsonl"), None);
    session(&env, "d", &fixture_lines("codex/turn-done.jsonl"), None);
    session(&env, "q", &fixture_lines("claude/needs-you-question.jsonl"), None);
    session(&env, "tl", &fixture_lines("codex/tool.jsonl"), None);
    env.ok(&[
        "sessions",
        "start",
        "--no-watch",
        "--id",
        "lone",
        "--artifact",
        &env.artifact(&"x".repeat(150)),
    ]);
    env.ok(&["tasks", "add", "--id", "fin", "finished"]);
    env.ok(&[
        "sessions",
        "start",
        "--no-watch",
        "--task",
        "fin",
        "--id",
        "late",
        "--artifact",
        "late.jsonl",
    ]);
    env.ok(&["tasks", "done", "fin"]);
    let out = env.ok(&["sessions", "list"]);
    let rows: Vec<&str> = out.lines().collect();
    for r in &rows {
        assert!(r.chars().count() <= 120, "{} columns: {r}", r.chars().count());
    }
    let ids: Vec<&str> = rows[1..].iter().map(|r| r.split(' ').next().unwrap()).collect();
    assert_eq!(&ids[..4], ["q", "d", "w", "tl"], "{out}");
    assert!(rows[1].contains("needs you ") && rows[1].contains("a question for you"), "{out}");
    assert!(rows[4].contains("tool exec_command "), "{out}");
    let lone = rows.iter().find(|r| r.starts_with("lone ")).unwrap();
    assert!(lone.contains("not supervised: no task"), "{lone}");
    let late = rows.iter().find(|r| r.starts_with("late ")).unwrap();
    assert!(late.contains("not supervised: task done"), "{late}");
    // JSON: every field DESIGN lists, with its type.
    let doc = env.json(&["sessions", "list", "--json"]);
    let want = [
        "id",
        "task",
        "task_state",
        "artifact",
        "state",
        "pid",
        "supervisable",
        "watcher_pid",
        "observed",
        "lines",
        "bytes",
        "last_activity",
        "verdict",
        "verdict_at",
        "agent",
        "attention",
        "attention_since",
        "reason",
        "tool",
        "last_text",
        "turns",
        "cwd",
        "agent_session",
        "via",
        "started",
        "end_reason",
    ];
    for s in doc.get("sessions").arr() {
        assert_eq!(s.keys(), want, "{s:?}");
    }
    let (_, q) = listed(&env, "q");
    assert_eq!(
        (q.get("agent").str(), q.get("tool").str(), q.get("turns").int(), q.get("via").str()),
        ("claude", "AskUserQuestion", 0, "cli")
    );
    assert_eq!(q.get("agent_session").str(), "32a7cae9-df32-4560-8500-2635f5bffffb");
    let (_, d) = listed(&env, "d");
    assert_eq!((d.get("agent").str(), d.get("turns").int()), ("codex", 1));
    assert!(d.get("last_text").str().len() > 3);
    let (_, lone) = listed(&env, "lone");
    assert_eq!(
        (lone.get("attention"), lone.get("reason").str()),
        (&Json::Null, "not supervised: no task")
    );
}

#[test]
fn show_tells_everything_in_words_and_in_json() {
    let mut env = Env::new("show");
    env.write_config("idle_seconds = 3600\n");
    let cc = env.root.join("claude-config");
    let agent = fake_agent(&mut env, false, &cc);
    let a = session(&env, "s1", &fixture_lines(CLAUDE_REAL)[..24], Some(agent));
    registry(&cc, agent, "waiting", now() * 1000, None);
    let key = env.key(&a);
    fs::write(env.home.join("daemon.state"), format!("pid = 1\nstarted = 1\n{key}.artifact = {a}\n{key}.crashes = 2\n{key}.last_exit = exit 1\n")).unwrap();
    let text = env.ok(&["sessions", "show", "s1"]);
    let line = |label: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{label:<12}")))
            .unwrap_or_else(|| panic!("no {label}: {text}"))
            .to_string()
    };
    assert!(line("session").contains("s1 (live, via cli, started "), "{text}");
    assert!(line("artifact").ends_with(&a));
    assert!(line("task").contains("t (open): work"));
    assert!(
        line("agent").contains(&format!("claude, pid {agent}"))
            && line("agent").contains("registry waiting"),
        "{text}"
    );
    let watcher = bach::lock::holder(&env.h().lock(&key)).unwrap().unwrap();
    assert!(line("watcher").starts_with(&format!("watcher     pid {watcher}, up ")), "{text}");
    assert!(line("status").contains("active: 24 lines"), "{text}");
    assert!(
        line("attention").contains("needs you")
            && line("attention").ends_with("AskUserQuestion open: a question for you"),
        "{text}"
    );
    assert!(line("rule").ends_with("the watcher's reading of the transcript"), "{text}");
    assert!(line("evidence").starts_with("evidence    line 19: "), "oldest first: {text}");
    let newest = "\n            line 24: assistant tool_use AskUserQuestion (toolu_01…)\nledger";
    assert!(text.contains(newest), "newest last: {text}");
    assert!(line("ledger").contains("crashes 2, last_exit exit 1"), "{text}");
    assert!(line("log").ends_with(&format!("logs/watch-{key}.log")));
    assert!(line("status file").ends_with(&format!("watch/{key}.status")));
    let doc = env.json(&["sessions", "show", "s1", "--json"]);
    let (list, _) = listed(&env, "s1");
    let row = list.get("sessions").arr()[0].keys();
    let want: Vec<&str> = ["schema", "host", "generated_at"]
        .into_iter()
        .chain(row)
        .chain(["rule", "evidence", "ledger", "status_file"])
        .collect();
    assert_eq!(doc.keys(), want, "one element of sessions list, and more");
    let s = &doc;
    assert_eq!(
        (s.get("id").str(), attention(s), s.get("rule").str()),
        ("s1", "needs_you", "watcher")
    );
    let evidence = s.get("evidence").arr();
    assert_eq!(evidence.len(), 5);
    assert_eq!(evidence[4].str(), "line 24: assistant tool_use AskUserQuestion (toolu_01…)");
    assert_eq!(s.get("ledger").get("crashes").int(), 2);
    assert_eq!(s.get("ledger").get("last_exit").str(), "exit 1");
    let file = s.get("status_file");
    assert_eq!((file.get("pid").int(), file.get("attention").str()), (watcher as i64, "needs_you"));
    assert_eq!(file.get("open_calls").str().split(':').nth(1), Some("AskUserQuestion"));
    // The question answered: the registry's waiting now decides.
    append(&a, &fixture_lines(CLAUDE_REAL)[24]);
    wait_until("the answer read", secs(10), || match status(&env, &a) {
        Some(st) if st.lines == 25 => Ok(()),
        other => Err(other.map(|s| s.lines)),
    });
    let doc = env.json(&["sessions", "show", "s1", "--json"]);
    let s = &doc;
    assert_eq!(
        (attention(s), s.get("rule").str(), s.get("reason").str()),
        ("needs_you", "registry", "permission prompt")
    );
    assert!(env.ok(&["sessions", "show", "s1"]).contains("Claude Code's registry "));
    let err = env.fails(&["sessions", "show", "nope"], 1);
    assert_eq!(err, "bach: error: unknown session 'nope'\n");
    fs::remove_file(env.home.join("daemon.state")).unwrap();
    let doc = env.json(&["sessions", "show", "s1", "--json"]);
    assert_eq!(doc.get("ledger"), &Json::Null);
}

#[test]
fn wait_reads_ps_only_at_its_first_look_while_every_agent_has_a_handle() {
    let mut env = Env::new("wait-ps");
    env.write_config("idle_seconds = 3600\n");
    env.count_ps();
    let cc = env.root.join("claude-config");
    let agent = fake_agent(&mut env, false, &cc);
    session(&env, "s1", &fixture_lines("claude/working-model.jsonl"), Some(agent));
    registry(&cc, agent, "busy", now() * 1000, None);
    let before = env.ps_runs();
    let out = env.run(&["sessions", "wait", "s1", "--timeout", "2"]);
    assert_eq!(out.status.code(), Some(124), "{}", dump(&[], &out));
    let runs = env.ps_runs() - before;
    // Another program may hold every inotify instance this user may have
    // (fs.inotify.max_user_instances): then the wait says so and polls.
    let err = String::from_utf8_lossy(&out.stderr);
    match err.contains("no change notification") {
        false => assert_eq!((runs, err.as_ref()), (1, ""), "one ps, at the first look"),
        true => assert!(runs >= 3, "polling reads ps every 500 ms: {runs} runs; {err}"),
    }
}
