//! The hourly sweep, a step of its own in the loop: removes the `watch/`
//! and `logs/` files of a key that has been neither desired nor locked for a
//! day (holding the key's lock meanwhile, so a watcher starting then finds
//! its lock file replaced and starts over), temporary files a process left
//! when it died between writing and renaming, sessions `gone` or `ended`
//! for `session_keep_days` and the auto tasks left without sessions. It
//! also rotates `logs/hook.log`, which the hook only appends to (hourly:
//! a stat on every tick was a tenth of an idle tick's cost).
//!
//! Invariant: a session is removed only on a known process table (unknown
//! is never gone), and only after reading its record again just before.

use crate::config::Config;
use crate::home::{Home, Records};
use crate::lock;
use crate::log::Log;
use crate::ps::Proc;
use crate::store::{self, Life, Session, Store};
use crate::supervisor::Desired;
use std::time::{Duration, SystemTime};

/// How often the sweep looks (monotonic ms).
const EVERY_MS: u64 = 3_600_000;
/// How long unused files are kept.
const DAY: Duration = Duration::from_secs(86_400);

/// When the sweep next looks.
#[derive(Default)]
pub struct Sweep {
    next: u64,
}

impl Sweep {
    /// Sweeps if an hour passed since the last time (or never swept);
    /// `procs` is the process table, `None` while unknown.
    pub fn run(
        &mut self,
        st: &Store,
        desired: &Desired,
        now: u64,
        ctx: (&Config, Option<&[Proc]>),
        log: &mut Log,
    ) {
        let (home, (config, procs)) = (&st.home, ctx);
        if now < self.next {
            return;
        }
        self.next = now + EVERY_MS;
        if crate::log::rotate_if_larger(&home.hook_log(), config.log_max_bytes) {
            log.line("rotated logs/hook.log");
        }
        let day_ago = SystemTime::now() - DAY;
        unused_keys(home, desired, day_ago, log);
        if let Some(procs) = procs {
            old_sessions(st, config.session_keep_days, procs, crate::time::now(), log);
        }
        let folders = [home.path().to_path_buf(), home.watch()];
        let records = [Records::Sessions, Records::Tasks].map(|k| home.records(k));
        for dir in folders.iter().chain(&records) {
            let n = crate::files::remove_stale_temps(dir, day_ago);
            if n > 0 {
                log.line(&format!("removed {n} stale temporary files in {}", dir.display()));
            }
        }
    }
}

/// When session `s` last showed life, for the sweep: the end for an ended
/// one; for a gone one the latest of its start, its record's and its
/// artifact's last change; `None` while it is live.
fn last_life(s: &Session, life: Life, record: &std::path::Path) -> Option<u64> {
    let mtime = |p: &std::path::Path| {
        let m = std::fs::metadata(p).and_then(|m| m.modified()).ok()?;
        m.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs())
    };
    match life {
        Life::Live => None,
        Life::Ended => Some(s.ended_at.unwrap_or(s.started)),
        Life::Gone => {
            let changes = [mtime(record), mtime(std::path::Path::new(&s.artifact))];
            Some(changes.into_iter().flatten().fold(s.started, u64::max))
        }
    }
}

/// Removes the sessions gone or ended for `keep_days`, then the auto tasks
/// (older than a day, so one just created for a session being linked is
/// safe) that no session names any more.
fn old_sessions(st: &Store, keep_days: u64, procs: &[Proc], now: u64, log: &mut Log) {
    let (Ok((sessions, _)), Ok((tasks, _))) = (st.sessions(), st.tasks()) else { return };
    let dir = st.home.records(Records::Sessions);
    let keep = keep_days.saturating_mul(86_400);
    let mut left: Vec<&Session> = Vec::new();
    for s in &sessions {
        let path = dir.join(&s.id);
        let old = |s: &Session| {
            last_life(s, store::life(s, Some(procs)), &path)
                .is_some_and(|t| t.saturating_add(keep) <= now)
        };
        // Read again: a hook may have revived it since the listing.
        let again = st.session(&s.id).ok().flatten();
        if old(s) && again.as_ref().is_some_and(old) && std::fs::remove_file(&path).is_ok() {
            log.line(&format!("removed session {}: gone or ended for {keep_days} days", s.id));
        } else {
            left.push(s);
        }
    }
    let tdir = st.home.records(Records::Tasks);
    for t in tasks.iter().filter(|t| t.auto && t.created.saturating_add(86_400) <= now) {
        if !left.iter().any(|s| s.task.as_deref() == Some(&t.id))
            && std::fs::remove_file(tdir.join(&t.id)).is_ok()
        {
            log.line(&format!("removed auto task {}: no session left", t.id));
        }
    }
}

/// The keys that have a lock file in `watch/`.
pub fn lock_keys(home: &Home) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(home.watch()) else { return Vec::new() };
    let names = dir.flatten().filter_map(|e| e.file_name().into_string().ok());
    names
        .filter_map(|n| Some(n.strip_suffix(".lock")?.to_string()))
        .filter(|k| crate::key::valid(k))
        .collect()
}

fn unused_keys(home: &Home, desired: &Desired, day_ago: SystemTime, log: &mut Log) {
    let Ok(dir) = std::fs::read_dir(home.watch()) else { return };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(key) = name.strip_suffix(".lock").filter(|k| !desired.contains_key(*k)) else {
            continue;
        };
        let files = [home.lock(key), home.status(key), home.watch_log(key)];
        let fresh = files
            .iter()
            .any(|f| std::fs::metadata(f).and_then(|m| m.modified()).is_ok_and(|t| t > day_ago));
        if fresh {
            continue;
        }
        let Ok(lock::Taken::Held(_held)) = lock::acquire(&files[0]) else { continue };
        for f in &files[1..] {
            let _ = std::fs::remove_file(f);
        }
        for n in 1..=3 {
            let _ = std::fs::remove_file(format!("{}.{n}", files[2].display()));
        }
        let _ = std::fs::remove_file(&files[0]);
        log.line(&format!("removed the files of key {key}: neither desired nor watched for a day"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Task, TaskState};

    const DAY_S: u64 = 86_400;

    fn proc_(pid: i32, start: &str) -> Proc {
        let (start, command) = (start.into(), "claude".into());
        Proc { uid: 501, pid, ppid: 1, pgid: pid, zombie: false, start, command, ticks: None }
    }

    #[test]
    fn sessions_gone_or_ended_for_the_keep_days_go_and_so_do_their_auto_tasks() {
        let d = std::env::temp_dir().join(format!("bach-sweep-old-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let st = Store { home: Home::at(d.clone()) };
        let now = crate::time::now();
        let old = now - 8 * DAY_S;
        let start = "Tue Dec 1 08:41:46 2026";
        let session = |task: &str, pid: Option<i32>, ended_at: Option<u64>| crate::store::Session {
            artifact: d.join("missing.jsonl").to_str().unwrap().into(),
            task: Some(task.into()),
            pid,
            pid_uid: pid.map(|_| 501),
            pid_start: pid.map(|_| start.into()),
            ended: ended_at.is_some(),
            ended_at,
            started: old,
            ..Default::default()
        };
        let auto = |id: &str, created| Task {
            id: id.into(),
            auto: true,
            created,
            ..Task::new(id, created)
        };
        for (id, t) in [
            ("a1", auto("a1", old)),
            ("a2", auto("a2", old)),
            ("a3", auto("a3", now)),
            ("m", Task::new("m", old)),
        ] {
            st.add_task(Some(id), &Task { state: TaskState::Open, ..t }).unwrap();
        }
        st.add_session(Some("ended-old"), &session("a1", None, Some(old))).unwrap();
        st.add_session(Some("ended-new"), &session("a2", None, Some(now - DAY_S))).unwrap();
        st.add_session(Some("gone"), &session("m", Some(4242), None)).unwrap();
        st.add_session(Some("live"), &session("m", Some(4343), None)).unwrap();
        st.add_session(Some("no-pid"), &session("m", None, None)).unwrap();
        // The records were just written: their files say so, which counts
        // as a sign of life of a gone session; age them.
        for id in ["gone", "live", "no-pid"] {
            let f = std::fs::File::options().write(true).open(d.join("sessions").join(id)).unwrap();
            f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(old)).unwrap();
        }
        let mut log = Log::new(d.join("logs/daemon.log"), 1 << 20);
        let procs = [proc_(4343, start)];
        old_sessions(&st, 7, &procs, now, &mut log);
        let mut left: Vec<String> = st.sessions().unwrap().0.into_iter().map(|s| s.id).collect();
        left.sort();
        assert_eq!(left, ["ended-new", "live", "no-pid"]);
        let mut tasks: Vec<String> = st.tasks().unwrap().0.into_iter().map(|t| t.id).collect();
        tasks.sort();
        assert_eq!(tasks, ["a2", "a3", "m"], "a1 lost its last session; a3 is too young to go");
        let text = std::fs::read_to_string(d.join("logs/daemon.log")).unwrap();
        assert!(text.contains("removed session gone: gone or ended for 7 days"), "{text}");
        assert!(text.contains("removed auto task a1: no session left"), "{text}");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn the_hook_log_is_rotated_by_the_hourly_sweep() {
        let d = std::env::temp_dir().join(format!("bach-sweep-hook-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("logs")).unwrap();
        let st = Store { home: Home::at(d.clone()) };
        std::fs::write(st.home.hook_log(), vec![b'x'; 5000]).unwrap();
        let config = Config { log_max_bytes: 4096, ..Config::default() };
        let mut log = Log::new(d.join("logs/daemon.log"), 1 << 20);
        let mut sweep = Sweep { next: 1 };
        sweep.run(&st, &Desired::new(), 0, (&config, None), &mut log);
        assert!(st.home.hook_log().exists(), "not before the sweep is due");
        sweep.run(&st, &Desired::new(), 1, (&config, None), &mut log);
        assert!(!st.home.hook_log().exists() && d.join("logs/hook.log.1").exists());
        std::fs::remove_dir_all(d).unwrap();
    }
}
