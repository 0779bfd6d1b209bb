//! What wakes the daemon instead of a timer: one [`Events`] with a pid
//! handle for every watcher it did not fork and every live session's agent,
//! and a watch on each folder it follows. Each handle knows whose it is, so
//! what fired is told apart: a watcher vanished (a crash, recorded at
//! once), an agent gone, a folder changed.
//!
//! Invariants: a handle is open only while its process is of interest, and
//! closed when it fires or when [`Handles::keep`] no longer names it, so the
//! descriptor count stays bounded. A handle is confirmed after it is opened
//! (uid and start, [`Events::watch_pid_checked`]); one opened on a lock
//! holder found by a probe counts only once `ps` showed it as that watcher.
//! Where a mechanism is missing, [`Handles::mechanism`] says why and that
//! part polls.

use crate::config::Config;
use crate::error::reason;
use crate::events::{Events, Fired, PidWatch, Watch};
use crate::reconcile::{Key, Policy};
use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;

/// Whose process a pid handle watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whose {
    /// The watcher of a key; `confirmed` once `ps` showed it as that watcher.
    Watcher {
        /// Its key.
        key: Key,
        /// Whether `ps` confirmed it.
        confirmed: bool,
    },
    /// The agent of these sessions.
    Agent(Vec<String>),
}

/// What a folder is followed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `sessions/` or `tasks/`: a change re-reads the store.
    Store,
    /// An agent's folder: a change runs discovery.
    Discovery,
    /// The nearest folder above a missing discovery folder: a change arms
    /// the watches again (the missing one may be there now).
    Above,
}

/// What an open attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// A handle is open (or was already).
    Watched,
    /// The process is gone, or is not the one named.
    Gone,
    /// No handle could be opened: this process is followed by `ps`.
    Polled,
}

/// What fired since the loop last looked; each part clears what it used.
#[derive(Debug, Default)]
pub struct News {
    /// A store folder changed (or events were lost).
    pub store: bool,
    /// A discovery folder changed.
    pub discovery: bool,
    /// Confirmed watchers whose handle fired.
    pub vanished: Vec<i32>,
    /// Sessions whose agent exited.
    pub gone: Vec<String>,
    /// Only `ps` can settle it: a probed lock holder ended unconfirmed, or
    /// events were lost.
    pub doubt: bool,
    /// A watched folder changed: its watch may need arming again.
    pub rearm: bool,
}

impl News {
    /// Whether the loop has something to tick for.
    pub fn pending(&self) -> bool {
        self.store
            || self.discovery
            || self.doubt
            || !self.vanished.is_empty()
            || !self.gone.is_empty()
    }
}

/// Every handle of the daemon.
pub struct Handles {
    events: Option<Events>,
    /// Why processes are not watched at all (no events, no pidfd).
    unwatched: Option<String>,
    /// Why a handle could not be opened lately (out of descriptors).
    trouble: Option<String>,
    /// A few hundred at most: plain lists (a map per type costs binary size).
    pids: Vec<(i32, Whose)>,
    folders: Vec<(Watch, Role)>,
    /// What fired.
    pub news: News,
}

impl Handles {
    /// Opens the mechanism; without one, everything polls and says why.
    pub fn new() -> Handles {
        let (events, unwatched) = match Events::new() {
            Ok(e) if e.mechanism() == "inotify" => {
                (Some(e), Some("no pid handles (Linux before 5.3)".to_string()))
            }
            Ok(e) => (Some(e), None),
            Err(e) => (None, Some(reason(&e))),
        };
        let (trouble, pids, folders) = (None, Vec::new(), Vec::new());
        Handles { events, unwatched, trouble, pids, folders, news: News::default() }
    }

    /// A handle set as a machine without change notification has it.
    #[cfg(test)]
    pub fn polling() -> Handles {
        Handles {
            events: None,
            unwatched: Some("disabled by BACH_TEST_NO_EVENTS".into()),
            trouble: None,
            pids: Vec::new(),
            folders: Vec::new(),
            news: News::default(),
        }
    }

    /// How the daemon learns of changes: `pidfd+inotify`, `kqueue`, or
    /// `polling: REASON` while any part polls (`store_watched`: whether the
    /// store's folders could be watched).
    pub fn mechanism(&self, store_watched: bool) -> String {
        let why = self.unwatched.as_deref().or(self.trouble.as_deref());
        match (&self.events, why) {
            (None, why) => format!("polling: {}", why.unwrap_or("no change notification")),
            (Some(_), Some(why)) => format!("polling: {why}"),
            (Some(_), None) if !store_watched => {
                "polling: the store's folders cannot be watched".to_string()
            }
            (Some(e), None) => e.mechanism().to_string(),
        }
    }

    /// Whether processes must be followed by reading `ps` every tick.
    pub fn pids_polled(&self) -> bool {
        self.unwatched.is_some() || self.trouble.is_some()
    }

    /// The rules a config sets here: without pid handles, every tick reads
    /// `ps` (the audit is the tick), as before events.
    pub fn policy(&self, config: &Config) -> Policy {
        let mut p = Policy::new(config);
        if self.pids_polled() {
            p.audit = p.tick;
        }
        p
    }

    /// Whether folders can be watched at all.
    pub fn has_events(&self) -> bool {
        self.events.is_some()
    }

    /// The descriptors for the daemon's one `poll()`.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.events.as_ref().map_or_else(Vec::new, Events::fds)
    }

    /// How many pid handles are open.
    #[cfg(all(test, target_os = "linux"))]
    pub fn pid_handles(&self) -> usize {
        self.events.as_ref().map_or(0, Events::watched_pids)
    }

    /// Whose handle `pid` has, if any.
    pub fn whose(&self, pid: i32) -> Option<&Whose> {
        self.pids.iter().find(|(p, _)| *p == pid).map(|(_, w)| w)
    }

    /// Forgets `pid` (its handle closed already, or about to be).
    fn remove(&mut self, pid: i32) -> Option<Whose> {
        let i = self.pids.iter().position(|(p, _)| *p == pid)?;
        Some(self.pids.swap_remove(i).1)
    }

    /// A new `ps` read begins: handles that could not be opened are tried
    /// again, so the trouble lasts only while it is real.
    pub fn retry(&mut self) {
        self.trouble = None;
    }

    /// Opens a handle on `pid` for `whose`, confirmed by `uid` and `start`
    /// (`None`: open it unconfirmed, for a lock holder `ps` will confirm).
    /// A pid watched already keeps its one handle, which a mismatch here
    /// never closes (the other claim on it may be right).
    pub fn open(&mut self, pid: i32, whose: Whose, who: Option<(u32, u64)>) -> Opened {
        if self.unwatched.is_some() {
            return Opened::Polled;
        }
        let Some(events) = &mut self.events else { return Opened::Polled };
        if let Some((_, old)) = self.pids.iter_mut().find(|(p, _)| *p == pid) {
            let same = |(uid, start)| {
                crate::sys::proc_stat(pid).is_ok_and(|st| st.uid == uid && st.start == start)
            };
            if !who.map_or(true, same) {
                return Opened::Gone;
            }
            merge(old, whose);
            return Opened::Watched;
        }
        let opened = match who {
            Some((uid, start)) => events.watch_pid_checked(pid, uid, start),
            None => events.watch_pid(pid),
        };
        match opened {
            Ok(PidWatch::Watched) => {
                self.pids.push((pid, whose));
                Opened::Watched
            }
            Ok(PidWatch::Gone) => Opened::Gone,
            Err(e) => {
                self.trouble.get_or_insert(format!("cannot open a pid handle: {}", reason(&e)));
                Opened::Polled
            }
        }
    }

    /// Keeps the handles `f` keeps (it may also change whose they are) and
    /// closes the others.
    pub fn keep(&mut self, mut f: impl FnMut(i32, &mut Whose) -> bool) {
        let events = &mut self.events;
        self.pids.retain_mut(|(pid, whose)| {
            let keep = f(*pid, whose);
            if let (false, Some(e)) = (keep, events.as_mut()) {
                e.forget_pid(*pid);
            }
            keep
        });
    }

    /// Watches folder `path` for entries created, moved or deleted.
    pub fn watch_folder(&mut self, path: &Path, role: Role) -> io::Result<Watch> {
        let Some(events) = &mut self.events else {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "no change notification"));
        };
        let watch = events.watch_dir(path)?;
        self.folders.push((watch, role));
        Ok(watch)
    }

    /// Stops watching a folder.
    pub fn forget_folder(&mut self, watch: Watch) {
        self.folders.retain(|(w, _)| *w != watch);
        if let Some(e) = &mut self.events {
            e.forget(watch);
        }
    }

    /// Reads everything that fired into [`Handles::news`]. Pid handles are
    /// read before folders, so a record written before a watcher ended is
    /// always seen with its exit.
    pub fn drain(&mut self) {
        let Some(events) = &mut self.events else { return };
        let fired = match events.drain() {
            Ok(fired) => fired,
            // Cannot tell what happened: look at everything.
            Err(_) => vec![Fired::Overflow],
        };
        for f in fired {
            match f {
                Fired::Exited(pid) => self.exited(pid),
                Fired::Changed(w) => {
                    match self.folders.iter().find(|(f, _)| *f == w).map(|(_, r)| r) {
                        Some(Role::Store) => self.news.store = true,
                        Some(Role::Discovery) => self.news.discovery = true,
                        Some(Role::Above) | None => {}
                    }
                    self.news.rearm = true;
                }
                Fired::Overflow => {
                    let n = &mut self.news;
                    (n.store, n.discovery, n.doubt, n.rearm) = (true, true, true, true);
                }
            }
        }
    }

    fn exited(&mut self, pid: i32) {
        match self.remove(pid) {
            Some(Whose::Watcher { confirmed: true, .. }) => self.news.vanished.push(pid),
            Some(Whose::Watcher { confirmed: false, .. }) => self.news.doubt = true,
            Some(Whose::Agent(ids)) => self.news.gone.extend(ids),
            None => {}
        }
    }
}

/// One process claimed twice: the agent of more sessions, or the watcher
/// of the key last named (confirmed by either claim of that key).
fn merge(old: &mut Whose, new: Whose) {
    match (old, new) {
        (Whose::Agent(ids), Whose::Agent(more)) => {
            for id in more {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        (Whose::Watcher { key, confirmed }, Whose::Watcher { key: k, confirmed: c }) => {
            *confirmed = c || (*confirmed && *key == k);
            *key = k;
        }
        (old, new) => *old = new,
    }
}

#[cfg(test)]
#[path = "handles_tests.rs"]
mod tests;
