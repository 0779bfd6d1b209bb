//! Sessions that register themselves: the Claude Code hook and discovery
//! of Claude Code and Codex, against fake agents (bash and sleep under the
//! agents' names, writing a registry, a transcript or a rollout in the real
//! formats, the real ones read from the fixtures). No real agent runs.
//!
//! Each test runs bach and its fakes under a uid of its own: discovery
//! looks at the processes of its user, so no other test (nor a real agent
//! on this machine) can show up in it, and no other test's daemon can
//! discover these fakes. That takes root (a uid to switch to) and Linux
//! (the fakes read `/proc`), as the tests here do.
#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use crate::util::*;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/");
const ROLLOUT: &str =
    "codex/real-0.171/rollout-2026-12-01T08-41-46-01a230c4-6346-7413-8eed-79165b9fbcd9.jsonl";
const REAL_CODEX_ID: &str = "01a230c4-6346-7413-8eed-79165b9fbcd9";
const REAL_CLAUDE_ID: &str = "417c4de5-1034-474f-b13d-6e737d47b966";

/// What a fake Claude Code does before it becomes `claude` for good: its
/// registry (as 2.1.197 writes it, `procStart` its start ticks), a
/// transcript from the fixture, then `$THEN`.
const FAKE_CLAUDE: &str = r#"
read -r stat < /proc/$$/stat; rest=${stat##*) }; set -- $rest; ticks=${20}
enc=$(printf %s "$PWD" | sed 's/[^A-Za-z0-9]/-/g')
mkdir -p "$CLAUDE_CONFIG_DIR/sessions" "$CLAUDE_CONFIG_DIR/projects/$enc"
[ -n "$TRANSCRIPT" ] && sed "s/417c4de5-1034-474f-b13d-6e737d47b966/$SID/g" "$TRANSCRIPT" \
  > "$CLAUDE_CONFIG_DIR/projects/$enc/$SID.jsonl"
if [ -n "$SID" ]; then
  now=$(date +%s)
  printf '{"pid":%s,"sessionId":"%s","cwd":"%s","startedAt":%s000,"procStart":"%s","version":"2.1.197","peerProtocol":1,"kind":"interactive","entrypoint":"cli","name":"proj-76","nameSource":"derived","status":"idle","updatedAt":%s000,"statusUpdatedAt":%s000}' \
    $$ "$SID" "$PWD" $now "$ticks" $now $now > "$CLAUDE_CONFIG_DIR/sessions/.$$.tmp"
  mv "$CLAUDE_CONFIG_DIR/sessions/.$$.tmp" "$CLAUDE_CONFIG_DIR/sessions/$$.json"
fi
eval "$THEN"
exec -a claude /bin/sleep 1000
"#;

/// The npm wrapper of Codex (run as `node WRAPPER exec ...`): it starts the
/// native `codex`, which holds `$ROLLOUT` open when there is one.
const FAKE_CODEX_WRAPPER: &str = r#"
( [ -n "$ROLLOUT" ] && exec 3>>"$ROLLOUT"; exec -a "$VENDOR/codex" /bin/sleep 1000 ) &
wait
"#;

static UIDS: AtomicU32 = AtomicU32::new(0);

/// A test's world: its `Env`, and the uid bach and its fakes run as.
pub struct Reg {
    pub env: Env,
    pub uid: u32,
}

impl Reg {
    pub fn new(tag: &str) -> Reg {
        let env = Env::new(tag);
        let uid = 60_000 + (std::process::id() % 400) * 12 + UIDS.fetch_add(1, Ordering::Relaxed);
        for d in ["proj", "claude", "codex", "bh"] {
            fs::create_dir_all(env.root.join(d)).unwrap();
        }
        let reg = Reg { env, uid };
        reg.own(&reg.env.root.clone());
        reg
    }

    /// Gives `path` and what lies below it to this test's uid.
    pub fn own(&self, path: &Path) {
        std::os::unix::fs::lchown(path, Some(self.uid), Some(self.uid)).unwrap();
        if path.is_dir() && !path.is_symlink() {
            for e in fs::read_dir(path).unwrap() {
                self.own(&e.unwrap().path());
            }
        }
    }

    pub fn path(&self, rel: &str) -> String {
        self.env.root.join(rel).to_str().unwrap().to_string()
    }

    /// `bach ARGS` as this test's uid.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(args);
        c.uid(self.uid).gid(self.uid);
        c
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.cmd(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{}", dump(args, &out));
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn json(&self, args: &[&str]) -> Json {
        json(&self.ok(args))
    }

    /// The environment of this test's agents, as their uid, in `cwd`.
    fn agent(&self, program: &str, cwd: &str) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("HOME", &self.env.user_home)
            .env("CLAUDE_CONFIG_DIR", self.path("claude"))
            .env("CODEX_HOME", self.path("codex"))
            .current_dir(cwd)
            .uid(self.uid)
            .gid(self.uid);
        c
    }

    /// A fake Claude Code in `cwd`; with a `sid`, it writes its registry
    /// and transcript first, and runs `then` (shell) before it sleeps as
    /// `claude`. Returns once its registry is there (or at once).
    pub fn claude(&mut self, cwd: &str, sid: Option<&str>, then: &str) -> i32 {
        let transcript = format!("{FIXTURES}claude/real-2.1.197/transcript.jsonl");
        let mut c = self.agent("/bin/bash", cwd);
        c.arg0("claude").args(["-c", FAKE_CLAUDE]).env("SID", sid.unwrap_or_default());
        c.env("THEN", then).env("TRANSCRIPT", if sid.is_some() { &transcript } else { "" });
        c.env("BACH_HOME", &self.env.home);
        let pid = self.env.spawn_cmd(c) as i32;
        if sid.is_some() {
            let registry = self.env.root.join(format!("claude/sessions/{pid}.json"));
            wait_until("the fake claude's registry", Duration::from_secs(5), || {
                registry.exists().then_some(()).ok_or(())
            });
        }
        pid
    }

    /// A fake Codex from npm in `cwd` (the wrapper's pid), the native one
    /// holding `rollout` open when given.
    pub fn codex(&mut self, cwd: &str, rollout: Option<&str>) -> i32 {
        fs::create_dir_all(self.env.root.join("npm/.bin")).unwrap();
        let wrapper = self.env.root.join("npm/.bin/codex");
        fs::write(&wrapper, FAKE_CODEX_WRAPPER).unwrap();
        let mut c = self.agent("/bin/bash", cwd);
        c.arg0("node").arg(&wrapper).args(["exec", "--skip-git-repo-check", "run the tests"]);
        c.env("ROLLOUT", rollout.unwrap_or_default()).env("VENDOR", self.path("vendor"));
        let pid = self.env.spawn_cmd(c) as i32;
        wait_until("the native codex under its wrapper", Duration::from_secs(5), || {
            let procs = bach::procs::snapshot().unwrap();
            procs
                .iter()
                .any(|p| p.ppid == pid && p.command.contains("/vendor/codex"))
                .then_some(())
                .ok_or(())
        });
        pid
    }

    /// A rollout of session `id` in `cwd`, as Codex 0.171 writes it (the
    /// fixture with its folder, id and times replaced) `age` seconds ago,
    /// in today's folder.
    pub fn rollout(&self, id: &str, cwd: &str, age: u64) -> String {
        let now = bach::time::utc(bach::time::now() - age);
        let day = now[..10].replace('-', "/");
        let stamp = now.replace(':', "-").trim_end_matches('Z').to_string();
        let dir = self.env.root.join(format!("codex/sessions/{day}"));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("rollout-{stamp}-{id}.jsonl"));
        let text = fs::read_to_string(format!("{FIXTURES}{ROLLOUT}")).unwrap();
        let text = text.replace(REAL_CODEX_ID, id).replace("/home/dev/proj", cwd);
        let text = text
            .replace("2026-12-01T08:41:46.595Z", &now)
            .replace("2026-12-01T08:41:46.569Z", &now);
        fs::write(&path, text).unwrap();
        self.own(&self.env.root.join("codex"));
        path.to_str().unwrap().to_string()
    }

    /// The pids of this uid's live processes.
    pub fn procs(&self) -> Vec<bach::ps::Proc> {
        let procs = bach::procs::snapshot().unwrap();
        procs.into_iter().filter(|p| p.uid == self.uid && !p.zombie).collect()
    }

    /// The record of session `id` as key/value pairs.
    pub fn record(&self, id: &str) -> std::collections::BTreeMap<String, String> {
        read_kv(&self.env.home.join("sessions").join(id)).into_iter().collect()
    }

    /// The session ids on disk.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = fs::read_dir(self.env.home.join("sessions"))
            .map(|d| d.flatten().filter_map(|e| e.file_name().into_string().ok()).collect())
            .unwrap_or_default();
        ids.retain(|n| !n.starts_with('.'));
        ids.sort();
        ids
    }
}

impl Drop for Reg {
    fn drop(&mut self) {
        // Every process of this test's uid is this test's: the fakes, the
        // native codex, a daemon and its watchers.
        for _ in 0..3 {
            for p in self.procs() {
                let _ = bach::sys::kill(p.pid, libc::SIGKILL);
            }
        }
    }
}

/// The id bach gives a Claude session.
pub fn cid(sid: &str) -> String {
    bach::claude::session_id(sid).unwrap()
}

/// A session id of Claude's shape, the nth of a test.
pub fn sid(n: u32) -> String {
    format!("{n:08x}-1034-474f-b13d-6e737d47b966")
}

/// The ids of `registered` in a discover document.
fn registered(doc: &Json) -> Vec<(String, i64)> {
    let r = doc.get("registered").arr();
    r.iter().map(|s| (s.get("id").str().to_string(), s.get("pid").int())).collect()
}

#[path = "register_hook.rs"]
mod hook;

#[test]
fn tasks_take_a_dir_made_absolute_like_an_artifact() {
    let env = Env::new("taskdir");
    fs::create_dir_all(env.root.join("real/proj")).unwrap();
    std::os::unix::fs::symlink(env.root.join("real"), env.root.join("link")).unwrap();
    let id = env.ok(&["tasks", "add", "--dir", "./link//proj/.", "Fix", "it"]).trim().to_string();
    let rec: std::collections::BTreeMap<String, String> =
        read_kv(&env.home.join("tasks").join(&id)).into_iter().collect();
    assert_eq!(rec["dir"], env.artifact("link/proj"));
    assert_eq!(rec["dir_real"], env.artifact("real/proj"), "the realpath, as it differs");
    env.ok(&["tasks", "add", "--id", "plain", "--dir", &env.artifact("real"), "Plain"]);
    let plain: std::collections::BTreeMap<String, String> =
        read_kv(&env.home.join("tasks/plain")).into_iter().collect();
    assert!(!plain.contains_key("dir_real"), "no realpath where it says nothing more");
    let list = env.ok(&["tasks", "list"]);
    assert!(list.starts_with("ID ") && list.lines().next().unwrap().contains(" DIR "), "{list}");
    assert!(list.contains(&env.artifact("link/proj")), "{list}");
    let doc = env.json(&["tasks", "list", "--json"]);
    let dirs: Vec<&Json> = doc.get("tasks").arr().iter().map(|t| t.get("dir")).collect();
    assert!(dirs.contains(&&Json::Str(env.artifact("real"))), "{doc:?}");
    for (bad, want) in [
        (" /a", "--dir ' /a' has a blank at its start or end"),
        ("", "--dir is empty"),
        ("/a\x07", "--dir contains a control character: '/a\\x07'"),
    ] {
        let err = env.fails(&["tasks", "add", "--dir", bad, "x"], 2);
        assert!(err.contains(want), "{bad:?}: {err}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn discovery_registers_each_agent_once_and_leaves_what_only_mentions_one() {
    let mut r = Reg::new("discover");
    let proj = r.path("proj");
    let (a, b) = (sid(1), sid(2));
    let pa = r.claude(&proj, Some(&a), "");
    let pb = r.claude(&proj, Some(&b), "");
    // b's transcript lies in another project folder: the registry still
    // names it, wherever under projects/ it is.
    let enc = bach::claude::enc(&proj);
    let elsewhere = r.env.root.join(format!("claude/projects/-elsewhere/{b}.jsonl"));
    fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    fs::rename(r.path(&format!("claude/projects/{enc}/{b}.jsonl")), &elsewhere).unwrap();
    // An agent started with `sessions start --pid` is known already.
    let known = sid(3);
    let pk = r.claude(&proj, Some(&known), "");
    let art = r.path(&format!("claude/projects/{enc}/{known}.jsonl"));
    r.ok(&[
        "sessions",
        "start",
        "--no-watch",
        "--id",
        "by-hand",
        "--artifact",
        &art,
        "--pid",
        &pk.to_string(),
    ]);
    // Begun an hour ago: only the open file tells whose it is.
    let rollout = r.rollout("019a0000-0000-7000-8000-00000000c0de", &proj, 3600);
    let px = r.codex(&proj, Some(&rollout));
    // An editor on claude.md and `codex login`: they only mention agents.
    let mut vim = r.agent("/bin/bash", &proj);
    vim.arg0("vim").args(["-c", "sleep 1000; :", "claude.md"]);
    let vim = r.env.spawn_cmd(vim) as i32;
    let mut login = r.agent("/bin/bash", &proj);
    login.arg0("codex").args(["-c", "sleep 1000; :", "login"]);
    let login = r.env.spawn_cmd(login) as i32;

    let doc = r.json(&["sessions", "discover", "--dry-run", "--json"]);
    assert_eq!(doc.get("registered").arr().len(), 3, "{doc:?}");
    assert_eq!(r.ids(), ["by-hand"], "a dry run writes nothing");

    let doc = r.json(&["sessions", "discover", "--json"]);
    assert_eq!(doc.get("schema").int(), 1);
    let mut got = registered(&doc);
    got.sort();
    let x = bach::codex::session_id("019a0000-0000-7000-8000-00000000c0de").unwrap();
    let mut want = vec![(cid(&a), pa as i64), (cid(&b), pb as i64), (x.clone(), px as i64)];
    want.sort();
    assert_eq!(got, want, "{doc:?}");
    assert!(doc.get("skipped").arr().is_empty(), "nothing else is an agent: {doc:?}");
    for s in doc.get("registered").arr() {
        let agent = if s.get("id").str().starts_with("c-") { "claude" } else { "codex" };
        assert_eq!(s.get("agent").str(), agent);
        assert!(s.get("task").str().starts_with("proj-"), "the auto task of the folder: {s:?}");
    }
    let rec = r.record(&cid(&a));
    assert_eq!(rec["artifact"], r.path(&format!("claude/projects/{enc}/{a}.jsonl")));
    assert_eq!(r.record(&cid(&b))["artifact"], elsewhere.to_str().unwrap());
    assert_eq!(
        (rec["via"].as_str(), rec["agent"].as_str(), rec["cwd"].as_str()),
        ("discover", "claude", &*proj)
    );
    assert_eq!(rec["agent_session"], a);
    let procs = r.procs();
    let p = bach::ps::find(&procs, pa).unwrap();
    assert_eq!(rec["pid_start"], p.start);
    assert_eq!(rec["pid_ticks"], bach::procs::start_ticks(pa).unwrap().to_string());
    assert_eq!(r.record(&x)["artifact"], rollout, "the rollout the native codex holds open");
    assert_eq!(r.record(&x)["pid"], px.to_string(), "the npm wrapper: the outermost");
    assert_eq!(r.ids().len(), 4, "the three, and the one started by hand");
    let tasks = r.json(&["tasks", "list", "--json"]);
    assert_eq!(tasks.get("tasks").arr().len(), 1, "one auto task for the folder: {tasks:?}");

    let again = r.json(&["sessions", "discover", "--json"]);
    assert!(again.get("registered").arr().is_empty(), "a second pass changes nothing: {again:?}");
    assert_eq!(r.ids().len(), 4);
    let _ = (vim, login);
}

#[cfg(target_os = "linux")]
#[test]
fn the_daemon_discovers_supervises_and_sees_a_killed_agent_gone() {
    let mut r = Reg::new("daemon");
    r.env.write_config(&format!("{FAST}discover = claude,codex\n"));
    r.own(&r.env.home.clone());
    let proj = r.path("proj");
    let a = sid(7);
    let mut daemon = r.cmd(&["daemon", "run"]);
    daemon.stdout(Stdio::null()).stderr(Stdio::null());
    // The agent's folders, as the user's environment gives them to both.
    daemon.env("CLAUDE_CONFIG_DIR", r.path("claude")).env("CODEX_HOME", r.path("codex"));
    let dpid = r.env.spawn_cmd(daemon);
    // Its first tick done before Claude's registry folder exists: its
    // appearance alone must bring discovery (no `ps` audit for 300 s).
    wait_until("the daemon's first tick", Duration::from_secs(5), || {
        let s = state(&r.env);
        (s.get("pid") == Some(&dpid.to_string())).then_some(()).ok_or(s)
    });
    assert!(!r.env.root.join("claude/sessions").exists());
    let pa = r.claude(&proj, Some(&a), "");
    let art = r.path(&format!("claude/projects/{}/{a}.jsonl", bach::claude::enc(&proj)));
    let key = r.env.key(&art);
    wait_until("the daemon to register the agent and watch it", Duration::from_secs(5), || {
        holder(&r.env, &key).ok_or_else(|| (r.ids(), daemon_log(&r.env)))
    });
    let doc = r.json(&["sessions", "list", "--json"]);
    let s = &doc.get("sessions").arr()[0];
    assert_eq!((s.get("id").str(), s.get("state").str()), (&*cid(&a), "live"));
    assert_eq!((s.get("pid").int(), s.get("supervisable")), (pa as i64, &Json::Bool(true)));
    assert_eq!(r.record(&cid(&a))["via"], "discover");
    bach::sys::kill(pa, libc::SIGKILL).unwrap();
    r.env.wait_child(pa as u32, Duration::from_secs(5));
    wait_until("the killed agent's session to be gone", Duration::from_secs(5), || {
        let doc = r.json(&["sessions", "list", "--json"]);
        let state = doc.get("sessions").arr()[0].get("state").str().to_string();
        (state == "gone").then_some(()).ok_or(state)
    });
    assert_eq!(r.ids(), [cid(&a)], "registered once, through every tick");
    let _ = dpid;
}

#[cfg(target_os = "linux")]
#[test]
fn a_clear_ends_the_old_session_and_records_the_new_one() {
    let mut r = Reg::new("clear");
    let proj = r.path("proj");
    let (old, new) = (sid(0x10), sid(0x11));
    let pa = r.claude(&proj, Some(&old), "");
    r.ok(&["sessions", "discover"]);
    assert_eq!(r.ids(), [cid(&old)]);
    // What Claude Code does on /clear: a new sessionId in the same process.
    let registry = r.env.root.join(format!("claude/sessions/{pa}.json"));
    let text = fs::read_to_string(&registry).unwrap().replace(&old, &new);
    fs::write(&registry, text).unwrap();
    let doc = r.json(&["sessions", "discover", "--json"]);
    assert_eq!(registered(&doc), [(cid(&new), pa as i64)], "{doc:?}");
    assert_eq!(doc.get("ended").arr(), [Json::Str(cid(&old))]);
    let o = r.record(&cid(&old));
    assert_eq!((o["state"].as_str(), o["end_reason"].as_str()), ("ended", "clear"));
    let n = r.record(&cid(&new));
    assert_eq!((n["state"].as_str(), n["pid"].as_str()), ("live", &*pa.to_string()));
    let enc = bach::claude::enc(&proj);
    assert_eq!(
        n["artifact"],
        r.path(&format!("claude/projects/{enc}/{new}.jsonl")),
        "named before it exists"
    );
    assert!(!Path::new(&n["artifact"]).exists());
    // The registry keeping an old id after /clear (a known upstream bug)
    // brings nothing back: that session is known.
    let text = fs::read_to_string(&registry).unwrap().replace(&new, &old);
    fs::write(&registry, text).unwrap();
    let doc = r.json(&["sessions", "discover", "--json"]);
    assert!(registered(&doc).is_empty() && doc.get("ended").arr().is_empty(), "{doc:?}");
    assert_eq!(r.record(&cid(&new))["state"], "live");
}

#[cfg(target_os = "linux")]
#[test]
fn without_a_registry_only_a_single_new_unowned_transcript_is_taken() {
    let mut r = Reg::new("noregistry");
    let proj = r.path("proj");
    let folder = r.env.root.join(format!("claude/projects/{}", bach::claude::enc(&proj)));
    fs::create_dir_all(&folder).unwrap();
    // Older than the process: not its transcript.
    let old = folder.join(format!("{}.jsonl", sid(0x20)));
    fs::write(&old, b"{}\n").unwrap();
    let past = std::time::SystemTime::now() - Duration::from_secs(3600);
    fs::File::options().write(true).open(&old).unwrap().set_modified(past).unwrap();
    r.own(&r.env.root.join("claude"));
    let one = folder.join(format!("{}.jsonl", sid(0x21)));
    let pa = r.claude(&proj, None, &format!("echo '{{}}' > '{}'", one.display()));
    wait_until("the fake's transcript", Duration::from_secs(5), || {
        one.exists().then_some(()).ok_or(())
    });
    // A registry another process left under this pid (its start differs)
    // is no registry of this one.
    let stale =
        fs::read_to_string(format!("{FIXTURES}claude/real-2.1.197/registry-idle.json")).unwrap();
    let stale = stale.replace("7486", &pa.to_string()).replace(REAL_CLAUDE_ID, &sid(0x2f));
    fs::write(r.env.root.join(format!("claude/sessions/{pa}.json")), stale).unwrap();
    let doc = r.json(&["sessions", "discover", "--json"]);
    assert_eq!(registered(&doc), [(cid(&sid(0x21)), pa as i64)], "{doc:?}");
    // A second such process: now two new files, one of them owned.
    let two = folder.join(format!("{}.jsonl", sid(0x22)));
    let three = folder.join(format!("{}.jsonl", sid(0x23)));
    let then = format!("echo '{{}}' > '{}'; echo '{{}}' > '{}'", two.display(), three.display());
    let pb = r.claude(&proj, None, &then);
    wait_until("its transcripts", Duration::from_secs(5), || {
        three.exists().then_some(()).ok_or(())
    });
    let doc = r.json(&["sessions", "discover", "--json"]);
    assert!(registered(&doc).is_empty(), "{doc:?}");
    let skipped = doc.get("skipped").arr();
    assert_eq!(skipped.len(), 1, "{doc:?}");
    assert_eq!(skipped[0].get("pid").int(), pb as i64);
    assert!(
        skipped[0].get("why").str().contains("no registry, and 2 unowned transcripts"),
        "{doc:?}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_registry_that_is_garbage_a_fifo_a_symlink_or_huge_is_skipped_with_a_note() {
    let mut r = Reg::new("badregistry");
    let proj = r.path("proj");
    let outside = r.env.root.join("outside.json");
    fs::write(&outside, b"{}").unwrap();
    type Make<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: Vec<(&str, Make, &str)> = vec![
        ("garbage", Box::new(|p| fs::write(p, b"{\"pid\":").unwrap()), "no value at byte 7"),
        ("fifo", Box::new(crate::faults::mkfifo), "is not a regular file"),
        (
            "symlink",
            Box::new(|p| std::os::unix::fs::symlink(&outside, p).unwrap()),
            "is a symbolic link",
        ),
        (
            "huge",
            Box::new(|p| fs::write(p, vec![b' '; 10 << 20]).unwrap()),
            "is larger than 65536 bytes",
        ),
    ];
    for (what, make, why) in cases {
        let pid = r.claude(&proj, None, "sleep 0.2");
        let registry = r.env.root.join(format!("claude/sessions/{pid}.json"));
        fs::create_dir_all(registry.parent().unwrap()).unwrap();
        make(&registry);
        let doc = r.json(&["sessions", "discover", "--json"]);
        let skipped = doc.get("skipped").arr();
        let mine: Vec<&Json> =
            skipped.iter().filter(|s| s.get("pid").int() == pid as i64).collect();
        assert_eq!(mine.len(), 1, "{what}: {doc:?}");
        let note = mine[0].get("why").str();
        assert!(
            note.contains(&registry.to_str().unwrap().to_string()) && note.contains(why),
            "{what}: {note}"
        );
        assert!(registered(&doc).is_empty() && r.ids().is_empty(), "{what}: {doc:?}");
        bach::sys::kill(pid, libc::SIGKILL).unwrap();
        r.env.wait_child(pid as u32, Duration::from_secs(5));
        let _ = fs::remove_file(&registry);
    }
}

#[cfg(target_os = "linux")]
#[test]
fn codex_by_cwd_and_time_only_when_it_singles_out_one_process() {
    let mut r = Reg::new("codextime");
    let proj = r.path("proj");
    let px = r.codex(&proj, None);
    let rollout = r.rollout("019a0000-0000-7000-8000-0000000000a1", &proj, 0);
    let doc = r.json(&["sessions", "discover", "--dry-run", "--json"]);
    let x = bach::codex::session_id("019a0000-0000-7000-8000-0000000000a1").unwrap();
    assert_eq!(registered(&doc), [(x.clone(), px as i64)], "{doc:?}");
    assert_eq!(doc.get("registered").arr()[0].get("artifact").str(), rollout);
    // A second Codex in the same folder: either could have written it.
    let py = r.codex(&proj, None);
    r.rollout("019a0000-0000-7000-8000-0000000000a1", &proj, 0); // begun after both started
    let doc = r.json(&["sessions", "discover", "--json"]);
    assert!(registered(&doc).is_empty(), "{doc:?}");
    let pids: Vec<i64> = doc.get("skipped").arr().iter().map(|s| s.get("pid").int()).collect();
    assert_eq!(pids.len(), 2, "{doc:?}");
    assert!(pids.contains(&(px as i64)) && pids.contains(&(py as i64)));
    assert!(doc.get("skipped").arr()[0]
        .get("why")
        .str()
        .contains("could be any of 2 Codex processes"));
}

#[test]
fn sessions_start_without_a_task_takes_the_task_of_its_folder_never_an_auto_one() {
    let mut env = Env::new("startdir");
    fs::create_dir_all(env.root.join("work/proj/sub")).unwrap();
    env.ok(&["tasks", "add", "--id", "wide", "--dir", &env.artifact("work"), "Wide"]);
    env.ok(&["tasks", "add", "--id", "near", "--dir", &env.artifact("work/proj"), "Near"]);
    let mut sleeper = Command::new("sleep");
    sleeper.arg("1000").current_dir(env.root.join("work/proj/sub"));
    let pid = env.spawn_cmd(sleeper);
    let id = env.ok(&[
        "sessions",
        "start",
        "--no-watch",
        "--artifact",
        "a.jsonl",
        "--pid",
        &pid.to_string(),
    ]);
    let rec: std::collections::BTreeMap<String, String> =
        read_kv(&env.home.join("sessions").join(id.trim())).into_iter().collect();
    assert_eq!(rec["task"], "near", "the longest dir holding the --pid's folder");
    let mut c = env.cmd(["sessions", "start", "--no-watch", "--artifact", "b.jsonl"]);
    let out = c.current_dir(env.root.join("work")).output().unwrap();
    let rec: std::collections::BTreeMap<String, String> =
        read_kv(&env.home.join("sessions").join(String::from_utf8_lossy(&out.stdout).trim()))
            .into_iter()
            .collect();
    assert_eq!(rec["task"], "wide", "its own folder without --pid");
    let out =
        env.cmd(["sessions", "start", "--no-watch", "--artifact", "c.jsonl"]).output().unwrap();
    let rec: std::collections::BTreeMap<String, String> =
        read_kv(&env.home.join("sessions").join(String::from_utf8_lossy(&out.stdout).trim()))
            .into_iter()
            .collect();
    assert!(!rec.contains_key("task"), "no auto task: {rec:?}");
    assert_eq!(env.json(&["tasks", "list", "--json"]).get("tasks").arr().len(), 2);
}

#[cfg(target_os = "linux")]
#[test]
fn a_home_owned_by_another_uid_is_refused() {
    let env = Env::new("owner");
    env.ok(&["tasks", "add", "--id", "t", "Mine"]);
    std::os::unix::fs::chown(&env.home, Some(65534), Some(65534)).unwrap();
    let err = env.fails(&["tasks", "list"], 1);
    assert!(err.contains("belongs to uid 65534, not to this user (uid 0)"), "{err}");
    env.fails(&["sessions", "start", "--artifact", "/a", "--task", "t"], 1);
    let out = env.cmd(["hook", "claude"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!((out.status.code(), out.stdout.len()), (Some(0), 0), "the hook still exits 0");
    assert!(!env.home.join("logs").exists(), "and writes nothing there");
    std::os::unix::fs::chown(&env.home, Some(0), Some(0)).unwrap();
}

#[test]
fn discover_is_a_failure_when_ps_cannot_be_read() {
    let env = Env::new("discoverps");
    env.script("ps", "echo 'ps: broken' >&2; exit 1");
    let err = env.fails(&["sessions", "discover"], 1);
    assert!(err.contains("cannot read the process table: ps failed (exit 1)"), "{err}");
    assert!(!env.home.join("sessions").exists());
}

#[cfg(target_os = "linux")]
#[test]
fn doctor_warns_when_an_agent_keeps_its_files_where_bach_does_not_look() {
    let mut r = Reg::new("doctor-folders");
    let proj = r.path("proj");
    let pid = r.claude(&proj, Some(&sid(1)), "");
    let folders = |vars: &[(&str, String)]| {
        let mut c = r.cmd(&["doctor", "--json"]);
        c.envs(vars.iter().map(|(k, v)| (k, v)));
        let out = c.output().unwrap();
        let doc = json(&String::from_utf8_lossy(&out.stdout));
        let all = doc.get("checks").arr();
        let c = all.iter().find(|c| c.get("name").str() == "agent folders").expect("the check");
        [c.get("result"), c.get("detail"), c.get("fix")].map(|v| v.str().to_string())
    };
    // bach looks in $HOME/.claude; the agent was started with another.
    let [result, detail, fix] = folders(&[]);
    let want = format!("agent pid {pid} uses CLAUDE_CONFIG_DIR={}, bach ", r.path("claude"));
    assert_eq!(result, "warn");
    assert!(detail.starts_with(&want), "{detail:?} should start with {want:?}");
    assert!(fix.contains(&format!("CLAUDE_CONFIG_DIR={}", r.path("claude"))), "{fix}");
    // The same folder: nothing to say.
    let same = [("CLAUDE_CONFIG_DIR", r.path("claude") + "/"), ("CODEX_HOME", r.path("codex"))];
    assert_eq!(folders(&same)[0], "ok", "{:?}", folders(&same));
}
