//! How the watcher learns that something happened, so it sleeps until then:
//! change notification on the artifact it reads (writes, truncation), on the
//! artifact's folder for entries created, moved or deleted only (so other
//! files' writes in that folder never wake it, but a replacement or the
//! artifact's first appearance does), and on its own log (rotated once it
//! grows too large). Where notification is missing (no inotify or kqueue,
//! the folder not there, an artifact that cannot be opened), the watcher
//! polls as before, and says so once.
//!
//! Invariant: after [`Notify::arm`], each watch is on the inode now at its
//! path; a replaced file or folder is watched anew, so no change is missed
//! for long as the watch follows the old one.

use crate::error::reason;
use crate::events::{Events, Fired, Watch};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

/// The longest sleep: with change notification, nothing but an event or a
/// deadline wakes the watcher.
const FOREVER: Duration = Duration::from_secs(86_400);

/// Tests only: milliseconds to wait before the first arming. A write in
/// that window, after the first read and before any watch, fires nothing
/// and must still be read.
pub const ARM_DELAY: &str = "BACH_TEST_ARM_DELAY_MS";

/// One watch, on the inode that was at its path when it was armed.
#[derive(Debug, Clone, Copy)]
struct Armed {
    watch: Watch,
    inode: (u64, u64),
}

/// What a drain found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Woke {
    /// The artifact or its folder changed (or events were lost).
    pub artifact: bool,
    /// The log was written to.
    pub log: bool,
}

/// The watcher's watches.
pub struct Notify {
    events: Option<Events>,
    /// Why it polls instead, when it must.
    pub polling: Option<String>,
    dir: Option<Armed>,
    file: Option<Armed>,
    log: Option<Armed>,
    /// Why it polls, as last said in the log.
    said: Option<String>,
    /// The wait before the first arming ([`ARM_DELAY`]).
    delay: Option<Duration>,
}

impl Notify {
    /// Opens the mechanism, or notes why it polls.
    pub fn new() -> Notify {
        let (events, polling) = match Events::new() {
            Ok(e) => (Some(e), None),
            Err(e) => (None, Some(reason(&e))),
        };
        let delay = std::env::var(ARM_DELAY).ok().and_then(|ms| ms.parse().ok());
        let delay = delay.map(Duration::from_millis);
        Notify { events, polling, dir: None, file: None, log: None, said: None, delay }
    }

    /// Watches the artifact's folder, the artifact while it is being read
    /// (`reading`), and the log when it is the watcher's own; each as the
    /// inode now at its path. Nothing changes when nothing was replaced.
    /// Returns whether a watch on the artifact or its folder is new: what
    /// was written before it was armed fired nothing, so the watcher must
    /// look once more before it sleeps.
    pub fn arm(&mut self, artifact: &Path, reading: bool, log: Option<&Path>) -> bool {
        if let Some(delay) = self.delay.take() {
            std::thread::sleep(delay);
        }
        let Some(events) = &mut self.events else { return false };
        let folder = artifact.parent().unwrap_or(Path::new("/"));
        let watch = |a: Option<Armed>| a.map(|a| a.watch);
        let was = [watch(self.dir), watch(self.file)];
        self.dir = rearm(events, self.dir.take(), Some(folder), true);
        self.file = rearm(events, self.file.take(), reading.then_some(artifact), false);
        self.log = rearm(events, self.log.take(), log, false);
        let now = [watch(self.dir), watch(self.file)];
        now.iter().zip(was).any(|(now, was)| now.is_some() && *now != was)
    }

    /// Whether a change to the artifact wakes the watcher now, so it need
    /// not look on a timer: its folder is watched, and the file too while
    /// it is being read. `Err`: it must poll, and why.
    pub fn follows(&self, reading: bool) -> Result<(), &str> {
        match (&self.events, self.dir, self.file) {
            (None, _, _) => Err(self.polling.as_deref().unwrap_or("no change notification")),
            (Some(_), None, _) => Err("its folder cannot be watched"),
            (Some(_), Some(_), None) if reading => Err("it cannot be watched"),
            (Some(_), Some(_), _) => Ok(()),
        }
    }

    /// Whether the watcher must look on a timer now (its artifact is being
    /// `read`, or it could not be opened: `unreadable`); says so in its log
    /// when that changes.
    pub fn must_poll(&mut self, reading: bool, unreadable: bool) -> bool {
        let why = match self.follows(reading) {
            Ok(()) if unreadable => Some("it cannot be opened".to_string()),
            Ok(()) => None,
            Err(why) => Some(why.to_string()),
        };
        if why != self.said {
            let how =
                why.as_ref().map_or("change notification".into(), |w| format!("polling: {w}"));
            crate::log::stamped(&format!("following the artifact by {how}"));
            self.said = why;
        }
        self.said.is_some()
    }

    /// Whether the watcher's own log is watched (then its size is looked at
    /// only when it was written to).
    pub fn watches_log(&self) -> bool {
        self.log.is_some()
    }

    /// The descriptors for the watcher's one `poll()`.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.events.as_ref().map_or_else(Vec::new, Events::fds)
    }

    /// What fired since the last look.
    pub fn drain(&mut self) -> Woke {
        let mut woke = Woke::default();
        let Some(events) = &mut self.events else { return woke };
        let fired = events.drain().unwrap_or_else(|_| vec![Fired::Overflow]);
        let is = |a: Option<Armed>, w: Watch| a.is_some_and(|a| a.watch == w);
        for f in fired {
            match f {
                Fired::Changed(w) if is(self.log, w) => woke.log = true,
                Fired::Changed(w) if is(self.dir, w) || is(self.file, w) => woke.artifact = true,
                // A watch forgotten since: its last word changes nothing.
                Fired::Changed(_) | Fired::Exited(_) => {}
                Fired::Overflow => woke = Woke { artifact: true, log: true },
            }
        }
        woke
    }
}

/// How long to sleep: until the `tick` (while polling; else a day), the
/// nearest of the durations `within`, or the nearest of the Unix seconds
/// `at`, whichever comes first (`wall_ms`: now). Pure, so its cases are
/// tested below.
pub fn sleep_for(
    tick: Option<Duration>,
    within: [Option<Duration>; 2],
    at: [Option<u64>; 2],
    wall_ms: u64,
) -> Duration {
    let until =
        |secs: u64| Duration::from_millis(secs.saturating_mul(1000).saturating_sub(wall_ms));
    let deadlines = within.into_iter().flatten().chain(at.into_iter().flatten().map(until));
    deadlines.chain(tick).min().unwrap_or(FOREVER)
}

/// The watch of `path` (`None`: no longer wanted) as the inode there now:
/// the old one kept while it is that inode, else forgotten and a new one
/// armed (none while the path is missing or cannot be watched).
fn rearm(events: &mut Events, old: Option<Armed>, path: Option<&Path>, dir: bool) -> Option<Armed> {
    let inode = path.and_then(|p| std::fs::metadata(p).ok()).map(|m| (m.dev(), m.ino()));
    match old {
        Some(a) if inode == Some(a.inode) => return Some(a),
        Some(a) => events.forget(a.watch),
        None => {}
    }
    let (path, inode) = (path?, inode?);
    let watch = match dir {
        true => events.watch_dir(path),
        false => events.watch_file(path),
    };
    watch.ok().map(|watch| Armed { watch, inode })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::{Duration, Instant};

    /// Sleeps in `poll()` on the watches until `want` fired or 2 s passed.
    fn woke_within(n: &mut Notify, ms: u64) -> Woke {
        let deadline = Instant::now() + Duration::from_millis(ms);
        let mut all = Woke::default();
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if crate::sys::poll(&n.fds(), crate::sys::poll_ms(left)).unwrap().contains(&true) {
                let w = n.drain();
                all = Woke { artifact: all.artifact | w.artifact, log: all.log | w.log };
                if w != Woke::default() {
                    return all;
                }
            }
        }
        all
    }

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new().append(true).create(true).open(path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn writes_to_the_artifact_wake_it_and_other_files_writes_do_not() {
        let d = std::env::temp_dir().join(format!("bach-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let (art, other, log) = (d.join("a.jsonl"), d.join("b.jsonl"), d.join("w.log"));
        append(&other, "x\n");
        append(&log, "");
        let mut n = Notify::new();
        assert!(n.arm(&art, false, Some(&log)), "the folder's watch is new");
        assert!(!n.arm(&art, false, Some(&log)), "armed already");
        assert_eq!(n.follows(false), Ok(()), "absent: the folder is enough");
        append(&other, "another agent's line\n");
        assert_eq!(woke_within(&mut n, 200), Woke::default(), "another file's write");
        append(&art, "first\n");
        assert!(woke_within(&mut n, 2000).artifact, "the artifact appeared");
        assert!(n.arm(&art, true, Some(&log)), "the file's watch is new");
        assert!(!n.arm(&art, true, Some(&log)));
        append(&art, "second\n");
        assert_eq!(woke_within(&mut n, 2000), Woke { artifact: true, log: false });
        append(&log, "a log line\n");
        assert_eq!(woke_within(&mut n, 2000), Woke { artifact: false, log: true });
        // Replaced: the new file is watched once armed again.
        std::fs::write(d.join("new"), "n\n").unwrap();
        std::fs::rename(d.join("new"), &art).unwrap();
        assert!(woke_within(&mut n, 2000).artifact, "a replacement");
        assert!(n.arm(&art, true, Some(&log)), "the new file is watched anew");
        while n.drain() != Woke::default() {}
        append(&art, "third\n");
        assert!(woke_within(&mut n, 2000).artifact, "a write to the new file");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn it_sleeps_until_the_nearest_deadline_and_a_day_without_one() {
        let ms = Duration::from_millis;
        let now = 1_700_000_000_000;
        assert_eq!(sleep_for(None, [None, None], [None, None], now), FOREVER);
        assert_eq!(sleep_for(Some(ms(250)), [None, None], [None, None], now), ms(250));
        assert_eq!(sleep_for(None, [Some(ms(900)), Some(ms(40))], [None, None], now), ms(40));
        let idle_at = Some(1_700_000_002);
        assert_eq!(sleep_for(None, [Some(ms(5000)), None], [idle_at, None], now), ms(2000));
        assert_eq!(sleep_for(Some(ms(1000)), [None, None], [idle_at, None], now), ms(1000));
        assert_eq!(sleep_for(None, [None, None], [Some(1), None], now), ms(0), "past: at once");
    }

    #[test]
    fn without_a_folder_or_events_it_polls_and_says_why() {
        let mut n = Notify::new();
        n.arm(Path::new("/nonexistent-bach-folder/a.jsonl"), false, None);
        assert_eq!(n.follows(false), Err("its folder cannot be watched"));
        assert!(n.must_poll(false, false));
        let mut off = Notify { events: None, polling: Some("disabled".into()), ..n };
        assert_eq!(off.follows(true), Err("disabled"));
        assert!(off.fds().is_empty() && off.must_poll(true, false));
        let d = std::env::temp_dir();
        let mut on = Notify::new();
        on.arm(&d.join("bach-notify-absent.jsonl"), false, None);
        assert!(!on.must_poll(false, false), "absent in a folder it watches");
        assert!(on.must_poll(false, true), "unreadable: it looks on a timer");
    }
}
