//! The watcher, `bach internal session-watch --key KEY ARTIFACT`: holds the
//! artifact's lock for life, follows the artifact, publishes what it sees
//! (and what the agent is doing) in `watch/KEY.status`, and runs the judge
//! when the agent's attention enters a state of `judge_on`.
//!
//! Invariants: at most one watcher per key (the lock is taken before
//! anything is read or written); the status file is always a consistent
//! checkpoint (see `follow`); a change of attention is published at once;
//! a judge, a broken config, an unreadable artifact or an unwritable log
//! never ends the watcher; every exit path kills the judge's group (by
//! dropping it).

mod follow;
mod judge;
mod notify;
mod own_log;
pub mod status;

use crate::attention::Attention;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::home::Home;
use crate::lock::{self, Held, Taken};
use crate::signals::SelfPipe;
use crate::store::{self, Store};
use crate::{files, log, procs, sys};
use follow::{Follower, Resume, Sight};
use judge::Judge;
use notify::Notify;
pub use notify::ARM_DELAY;
use own_log::OwnLog;
use status::{Status, WatchState};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Without change notification: sleep between ticks while something
/// happens (growth, a judge).
const BUSY_TICK: Duration = Duration::from_millis(250);
/// Without change notification: sleep between ticks while nothing happens.
const IDLE_TICK: Duration = Duration::from_secs(1);
/// The status is rewritten at most this often (a new state at once).
const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// Quiet this long without a daemon: ask the store whether we are wanted.
const ORPHAN_SECS: u64 = 600;

/// Runs the watcher of `artifact`; without `key`, re-execs itself with it.
pub fn run(key: Option<String>, artifact: &str) -> Result<u8> {
    sys::close_inherited();
    let home = Home::open()?;
    let artifact =
        store::normalize_artifact(&crate::home::cwd()?, artifact).map_err(Error::usage)?;
    let want = home.key(&artifact);
    let Some(key) = key else {
        // Replaces this process by the watcher with its key (same pid;
        // argv[0] the absolute path, which `ps` readers recognize).
        let exe = crate::home::exe()?;
        let args = ["internal", "session-watch", "--key", want.as_str(), artifact.as_str()];
        return Err(Error::io("run", &exe, &Command::new(&exe).args(args).exec()));
    };
    if key != want {
        let home = home.as_str();
        let msg = format!("--key {key} does not match {artifact} in {home}: its key is {want}");
        return Err(Error::usage(msg));
    }
    let pipe = SelfPipe::install().map_err(|e| Error::fail(format!("signals: {e}")))?;
    let lock = take_lock(&home, &want)?; // `None`: watched already, exit 0
    Ok(lock.map_or(0, |lock| Watcher::new(home, want, artifact, lock).run(&pipe)))
}

/// Takes `watch/KEY.lock`; `None` when another watcher holds it.
fn take_lock(home: &Home, key: &str) -> Result<Option<Held>> {
    files::ensure_dir(&home.watch())?;
    let path = home.lock(key);
    for _ in 0..5 {
        match lock::acquire(&path)? {
            Taken::Busy(pid) => {
                let pid = pid.map_or("another process".into(), |p| format!("pid {p}"));
                log::stamped(&format!("already watched by {pid}"));
                return Ok(None);
            }
            // A cleaner removed the file between our open and our lock.
            Taken::Held(held) if !held.still_at_path() => continue,
            Taken::Held(mut held) => {
                let _ = held.write_pid();
                return Ok(Some(held));
            }
        }
    }
    Err(Error::fail(format!("cannot lock {}: it keeps being replaced", path.display())))
}

/// A running watcher: everything it owns.
struct Watcher {
    home: Home,
    key: String,
    config: Config,
    config_error: Option<String>,
    follow: Follower,
    judge: Option<Judge>,
    /// The attention and its `attention_since` whose period was judged.
    judged: Option<(Attention, u64)>,
    /// For `other` agents, attention from growth and since when.
    other: Option<(Attention, u64)>,
    judges: u64,
    /// pid, artifact, and the last judge run's fields.
    base: Status,
    published: Option<Status>,
    published_at: Instant,
    publish_failing: bool,
    /// Its log, rotated by size.
    log: OwnLog,
    /// What wakes it: the artifact, its folder and its log changing.
    notify: Notify,
    started: u64,
    /// The quiet period in which the store was asked whether we are wanted.
    orphan_checked: Option<u64>,
    _lock: Held,
}

impl Watcher {
    /// Starts from the checkpoint and verdict a previous watcher of this
    /// key left, if it followed the same artifact.
    fn new(home: Home, key: String, artifact: String, lock: Held) -> Watcher {
        log::stamped(&format!("watching {artifact} (key {key})"));
        let text = files::read_small(&home.status(&key), files::RECORD_MAX);
        let saved = text.ok().flatten().and_then(|t| Status::parse(&t));
        let saved = saved.filter(|s| s.artifact == artifact).unwrap_or_default();
        let follow = Follower::new(PathBuf::from(&artifact), Resume::of(&saved));
        let other = (!saved.content()).then(|| saved.saved.attention.zip(saved.attention_since));
        let log = OwnLog::new(home.watch_log(&key));
        let mut w = Watcher {
            home,
            key,
            config: Config::default(),
            config_error: None,
            follow,
            judge: None,
            judged: None,
            other: other.flatten(),
            judges: 0,
            // The judge a previous watcher ran is not ours to claim.
            base: Status {
                pid: sys::getpid(),
                artifact,
                judge_pgid: None,
                judge_start: None,
                ..saved
            },
            published: None,
            published_at: Instant::now(),
            publish_failing: false,
            log,
            notify: Notify::new(),
            started: crate::time::now(),
            orphan_checked: None,
            _lock: lock,
        };
        w.load_config("using the defaults");
        w
    }

    /// The loop: drain signals first, then act on them; follow, judge,
    /// publish; sleep in `poll`.
    fn run(&mut self, pipe: &SelfPipe) -> u8 {
        loop {
            let caught = pipe.drain();
            if caught.hup && self.load_config("keeping the config in force") {
                log::stamped("config reloaded");
            }
            let now = crate::time::now();
            let more = self.follow.tick(now);
            self.track_other(now);
            self.tend_judge(now, more);
            if caught.stop {
                // Read what is left (for two seconds at most), then go.
                let limit = Instant::now() + Duration::from_secs(2);
                while self.follow.tick(crate::time::now()) && Instant::now() < limit {}
                return self.finish("stopped by a signal");
            }
            self.publish(false);
            self.log.rotate(self.config.log_max_bytes, self.notify.watches_log());
            if self.orphaned(now) {
                return self.finish("no session wants this artifact watched any more");
            }
            self.sleep(pipe, now, more);
        }
    }

    /// Reads the config; a broken one is said and the one in force kept
    /// (at start, the defaults). Returns whether it was read.
    fn load_config(&mut self, broken: &str) -> bool {
        match Config::load(self.home.path()) {
            Ok(c) => (self.config, self.config_error) = (c, None),
            Err(e) => self.config_error = Some(format!("{e}; {broken}")),
        }
        if let Some(e) = &self.config_error {
            log::stamped(e);
        }
        self.config_error.is_none()
    }

    /// What the artifact looks like now.
    fn state(&self, now: u64) -> WatchState {
        let quiet = now.saturating_sub(self.follow.last_activity.unwrap_or(now));
        match self.follow.sight {
            Sight::Absent => WatchState::Absent,
            Sight::Unreadable(_) => WatchState::Unreadable,
            Sight::Open if quiet >= self.config.idle_seconds => WatchState::Idle,
            Sight::Open => WatchState::Active,
        }
    }

    /// For `other` agents: `working` while growing within `idle_seconds`,
    /// `turn_done` after (today's idle), each since its period began.
    fn track_other(&mut self, now: u64) {
        let want = match self.state(now) {
            WatchState::Active => Some(Attention::Working),
            WatchState::Idle => Some(Attention::TurnDone),
            WatchState::Absent | WatchState::Unreadable => None,
        };
        if want == self.other.map(|o| o.0) {
            return;
        }
        let last = self.follow.last_activity.unwrap_or(now);
        self.other = want.map(|a| match a {
            Attention::TurnDone => (a, last.saturating_add(self.config.idle_seconds).min(now)),
            _ => (a, last),
        });
    }

    /// What the agent is doing, its reason and since when: from the
    /// transcript's content, or for `other` agents from its growth.
    fn attention(&self) -> (Option<Attention>, String, Option<u64>) {
        if self.follow.content() {
            let s = self.follow.saved();
            return (s.attention, s.reason.clone(), self.follow.attention_since());
        }
        let idle = crate::text::duration(self.config.idle_seconds);
        match self.other {
            Some((a @ Attention::TurnDone, since)) => {
                (Some(a), format!("no growth for {idle}"), Some(since))
            }
            Some((a, since)) => (Some(a), "growing".into(), Some(since)),
            None => (None, String::new(), None),
        }
    }

    fn status(&self, now: u64) -> Status {
        let m = self.follow.mark;
        let (attention, reason, attention_since) = self.attention();
        let mut saved = self.follow.saved().clone();
        (saved.attention, saved.reason) = (attention, reason);
        let mut errors = Vec::new();
        if let Sight::Unreadable(why) = &self.follow.sight {
            errors.push(why.as_str());
        }
        errors.extend(self.config_error.as_deref());
        Status {
            state: self.state(now),
            bytes: self.follow.pos,
            lines: m.lines,
            last_activity: self.follow.last_activity,
            offset: m.offset,
            check: format!("{:016x}", m.check),
            dev: m.dev,
            ino: m.ino,
            error: Some(errors.join("; ")).filter(|e| !e.is_empty()),
            saved,
            attention_since,
            classified: true,
            ..self.base.clone()
        }
    }

    /// Writes the status if it changed: a new state or error at once (or
    /// anything when `force`d), the rest at most once a second.
    fn publish(&mut self, force: bool) {
        let status = self.status(crate::time::now());
        let old = self.published.as_ref();
        let new_state = old.map_or(true, |o| o.state != status.state);
        let judge = old.is_some_and(|o| o.judge_pgid != status.judge_pgid);
        let (a, tool) = (status.saved.attention, &status.saved.tool);
        let moved = old.is_some_and(|o| (o.saved.attention, &o.saved.tool) != (a, tool));
        let new_attention = old.map_or(a.is_some(), |o| o.saved.attention != a);
        let urgent = new_state || judge || moved || old.is_some_and(|o| o.error != status.error);
        let due = urgent || force || self.published_at.elapsed() >= PUBLISH_EVERY;
        if old == Some(&status) || !due {
            return;
        }
        self.published_at = Instant::now();
        let (dir, name) = (self.home.watch(), format!("{}.status", self.key));
        match files::write_atomic(&dir, &name, status.render().as_bytes(), false) {
            Ok(()) => {
                if new_state {
                    log::stamped(&format!("now {}", status.state.as_str()));
                }
                if let Some(a) = a.filter(|_| new_attention) {
                    log::stamped(&format!("attention {}: {}", a.as_str(), status.saved.reason));
                }
                (self.published, self.publish_failing) = (Some(status), false);
            }
            // Retried within a second; said once per streak.
            Err(e) if !self.publish_failing => {
                log::stamped(&e.to_string());
                self.publish_failing = true;
            }
            Err(_) => {}
        }
    }

    /// Sleeps in `poll` on the self-pipe, the judge's output and the
    /// change notification of the artifact, its folder and the log: not at
    /// all when `more` is left to read or a watch was just armed (a write
    /// since the last read fired nothing), else until the next deadline.
    fn sleep(&mut self, pipe: &SelfPipe, now: u64, more: bool) {
        let log = self.log.is_ours().then_some(self.log.path());
        let armed = self.notify.arm(self.follow.path(), self.follow.reading(), log);
        let t = if more || armed { Duration::ZERO } else { self.next_wake(now) };
        let mut fds = vec![pipe.fd()];
        fds.extend(self.judge.as_ref().and_then(Judge::fd));
        let judged = fds.len() == 2;
        fds.extend(self.notify.fds());
        match sys::poll(&fds, sys::poll_ms(t)) {
            Ok(ready) => {
                if judged && ready[1] {
                    self.judge.iter_mut().for_each(Judge::read);
                }
                if ready.iter().skip(1 + usize::from(judged)).any(|&r| r) {
                    self.log.written |= self.notify.drain().log;
                }
            }
            Err(e) => {
                log::stamped(&format!("poll: {e}"));
                std::thread::sleep(IDLE_TICK); // never a busy loop
            }
        }
    }

    /// How long it may sleep: until the next deadline (turning idle, a
    /// publication held back by the once-a-second pace, the judge's
    /// timeout, the quiet-period check), and while change notification
    /// cannot follow the artifact, until the next tick as before.
    fn next_wake(&mut self, now: u64) -> Duration {
        let (state, unreadable) =
            (self.state(now), matches!(self.follow.sight, Sight::Unreadable(_)));
        let busy = self.judge.is_some() || matches!(state, WatchState::Active | WatchState::Absent);
        let tick = self.notify.must_poll(self.follow.reading(), unreadable);
        let tick = tick.then_some(if busy { BUSY_TICK } else { IDLE_TICK });
        let unpublished = self.published.as_ref() != Some(&self.status(now));
        let publish =
            unpublished.then(|| PUBLISH_EVERY.saturating_sub(self.published_at.elapsed()));
        let judge = self.judge.as_ref().and_then(|j| j.deadline);
        let judge = judge.map(|d| d.saturating_duration_since(Instant::now()));
        let idle = self.follow.last_activity.filter(|_| state == WatchState::Active);
        let idle = idle.map(|last| last + self.config.idle_seconds);
        let orphan = self.orphan_check_at().filter(|&at| at > now);
        notify::sleep_for(tick, [publish, judge], [idle, orphan], crate::time::wall_ms())
    }

    /// The quiet period: since the last growth (or the start).
    fn quiet_since(&self) -> u64 {
        let open = self.follow.sight == Sight::Open;
        self.follow.last_activity.filter(|_| open).unwrap_or(self.started)
    }

    /// When this quiet period's store check falls due (Unix seconds), if it
    /// is still to come.
    fn orphan_check_at(&self) -> Option<u64> {
        let since = self.quiet_since();
        (self.orphan_checked != Some(since)).then_some(since + ORPHAN_SECS)
    }

    /// Without a daemon, once per quiet period of ten minutes (no judge
    /// running): whether the store no longer wants this artifact watched.
    fn orphaned(&mut self, now: u64) -> bool {
        let since = self.quiet_since();
        let due = now >= since + ORPHAN_SECS && self.state(now) != WatchState::Active;
        if !due || self.judge.is_some() || self.orphan_checked == Some(since) {
            return false;
        }
        self.orphan_checked = Some(since);
        if !matches!(lock::holder(&self.home.daemon_lock()), Ok(None)) {
            return false; // a daemon retires what is not wanted
        }
        let st = Store { home: self.home.clone() };
        let (Ok((sessions, p1)), Ok((tasks, p2))) = (st.sessions(), st.tasks()) else {
            return false; // unsure: stay
        };
        if !p1.is_empty() || !p2.is_empty() {
            return false; // unsure: stay
        }
        let mut procs = procs::snapshot().ok();
        if let Some(p) = &mut procs {
            procs::add_ticks(p, &sessions.iter().filter_map(|s| s.pid).collect());
        }
        let desired = store::desired(self.home.as_str(), &sessions, &tasks, procs.as_deref());
        desired.get(&self.key).map_or(true, |w| w.all_gone)
    }

    /// Every exit of the loop: kills the judge, publishes, says why.
    fn finish(&mut self, why: &str) -> u8 {
        self.judge = None;
        (self.base.judge_pgid, self.base.judge_start) = (None, None);
        self.publish(true);
        log::stamped(&format!("exiting: {why}"));
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home(tag: &str) -> Home {
        let d = std::env::temp_dir().join(format!("bach-watcher-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("watch")).unwrap();
        Home::at(d)
    }

    #[test]
    fn a_watcher_resumes_its_predecessors_verdict_but_never_its_judge() {
        let h = home("resume");
        let artifact = h.path().join("a.jsonl").to_string_lossy().into_owned();
        let key = h.key(&artifact);
        let saved = Status {
            pid: 7,
            artifact: artifact.clone(),
            verdict: Some("done".into()),
            verdict_at: Some(5),
            judge_pgid: Some(4321),
            judge_start: Some(99),
            ..Status::default()
        };
        std::fs::write(h.status(&key), saved.render()).unwrap();
        let lock = take_lock(&h, &key).unwrap().expect("free");
        let mut w = Watcher::new(h.clone(), key.clone(), artifact.clone(), lock);
        let now = crate::time::now();
        assert_eq!(w.state(now), WatchState::Absent, "no artifact yet");
        let s = w.status(now);
        assert_eq!((s.verdict.as_deref(), s.verdict_at), (Some("done"), Some(5)));
        assert_eq!((s.judge_pgid, s.judge_start, s.pid), (None, None, sys::getpid()));
        std::fs::write(&artifact, b"one\n").unwrap();
        w.follow.tick(now);
        assert_eq!((w.state(now), w.status(now).lines), (WatchState::Active, 1));
        w.publish(true);
        let back = Status::parse(&std::fs::read_to_string(h.status(&key)).unwrap()).unwrap();
        assert_eq!((back.state, back.lines, back.judge_pgid), (WatchState::Active, 1, None));
        std::fs::remove_dir_all(h.path()).unwrap();
    }

    #[test]
    fn a_change_of_attention_is_published_at_once_the_rest_at_the_pace() {
        let h = home("at-once");
        let artifact = h.path().join("a.jsonl").to_string_lossy().into_owned();
        let key = h.key(&artifact);
        let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/claude/");
        let tool = std::fs::read(format!("{fixture}working-tool.jsonl")).unwrap();
        let lines: Vec<&[u8]> = tool.split_inclusive(|&b| b == b'\n').collect();
        std::fs::write(&artifact, lines[..19].concat()).unwrap();
        let lock = take_lock(&h, &key).unwrap().expect("free");
        let mut w = Watcher::new(h.clone(), key.clone(), artifact.clone(), lock);
        let read = || Status::parse(&std::fs::read_to_string(h.status(&key)).unwrap()).unwrap();
        let now = crate::time::now();
        w.follow.tick(now);
        w.publish(false);
        assert_eq!(read().saved.attention, Some(Attention::Working));
        // A bookkeeping line within the second: not yet published.
        let mut f = std::fs::OpenOptions::new().append(true).open(&artifact).unwrap();
        std::io::Write::write_all(&mut f, br#"{"type":"last-prompt","sessionId":"x"}"#).unwrap();
        std::io::Write::write_all(&mut f, b"\n").unwrap();
        w.follow.tick(now);
        w.published_at = Instant::now();
        w.publish(false);
        assert_eq!(read().lines, 19, "the rest waits for the once-a-second pace");
        // The tool call opens: published at once, the new line count with it.
        std::io::Write::write_all(&mut f, lines[19]).unwrap();
        w.follow.tick(now);
        w.publish(false);
        let s = read();
        assert_eq!(
            (s.saved.attention, s.saved.tool.as_str(), s.lines),
            (Some(Attention::Tool), "Bash", 21)
        );
        std::fs::remove_dir_all(h.path()).unwrap();
    }

    #[test]
    fn a_broken_config_is_said_in_the_status_and_the_defaults_used() {
        let h = home("config");
        std::fs::write(h.config(), "idle_seconds = soon\n").unwrap();
        let artifact = h.path().join("a.jsonl").to_string_lossy().into_owned();
        let key = h.key(&artifact);
        let lock = take_lock(&h, &key).unwrap().expect("free");
        let w = Watcher::new(h.clone(), key, artifact, lock);
        assert_eq!(w.config, Config::default());
        let error = w.status(crate::time::now()).error.unwrap();
        assert!(
            error.contains("'idle_seconds' must be a whole number")
                && error.ends_with("using the defaults"),
            "{error}"
        );
        std::fs::remove_dir_all(h.path()).unwrap();
    }
}
