//! The store as the daemon keeps it: the records as last read, re-read when
//! a change notification or the folders' stamp says they changed, when
//! asked for a fresh read (before any stray is retired, since a stamp can
//! miss a change), and fully every `audit_seconds` while notification works
//! (once a minute otherwise). A folder that cannot be read as a whole keeps
//! the last records and says why, instead of meaning "nothing desired".

use crate::home::{Home, Records};
use crate::log::Log;
use crate::store::{self, Life, Session, Store, Task};
use crate::supervisor::{self, Desired};
use std::os::unix::fs::MetadataExt;

/// Without change notification, the store is read again at least this
/// often even if nothing changed.
pub const FULL_READ_MS: u64 = 60_000;

/// A folder's mtime, size and inode: they change when a record is written.
type Stamp = Option<(i64, i64, u64, u64)>;

/// The records as last read.
#[derive(Default)]
pub struct Cache {
    sessions: Vec<Session>,
    tasks: Vec<Task>,
    stamp: (Stamp, Stamp),
    read_at: Option<u64>,
    /// Each record's file as last parsed: a full read parses only changes.
    memo: (store::Memo<Session>, store::Memo<Task>),
    /// Why the records could not be read as a whole, while that lasts.
    pub problem: Option<String>,
}

impl Cache {
    /// Re-reads the records if `how`, a change notification (`notified`)
    /// or their stamp asks for it, or `every` ms passed since the last full
    /// read (`now`, monotonic ms). Returns whether it did.
    pub fn refresh(
        &mut self,
        st: &Store,
        (how, notified): (supervisor::Store, bool),
        (now, every): (u64, u64),
        log: &mut Log,
    ) -> bool {
        let stamp = (stamp(&st.home, Records::Sessions), stamp(&st.home, Records::Tasks));
        // While the folders fail, every look reads them: their stamp may be
        // back to the last good one's when they are fixed.
        let due = self.read_at.map_or(true, |t| now >= t.saturating_add(every))
            || self.problem.is_some()
            || notified;
        if how == supervisor::Store::Changed && stamp == self.stamp && !due {
            return false;
        }
        let (sessions, tasks) = match st.records_memo(&mut self.memo) {
            Ok(both) => both,
            Err(p) => {
                if self.problem.is_none() {
                    log.line(&format!("cannot read {p}; keeping the sessions last read"));
                }
                self.problem = Some(format!("cannot read the store: {p}"));
                return false;
            }
        };
        if self.problem.take().is_some() {
            log.line("the store can be read again");
        }
        for p in sessions.1.iter().chain(&tasks.1) {
            log.line(&format!("skipped record {p}"));
        }
        (self.sessions, self.tasks, self.stamp, self.read_at) =
            (sessions.0, tasks.0, stamp, Some(now));
        true
    }

    /// The desired set, each session's life told by `life`.
    pub fn desired(&self, home: &Home, life: &dyn Fn(&Session) -> Life) -> Desired {
        store::desired_by(home.as_str(), &self.sessions, &self.tasks, life)
    }

    /// The sessions and tasks as last read.
    pub fn records(&self) -> (&[Session], &[Task]) {
        (&self.sessions, &self.tasks)
    }

    /// The sessions as last read.
    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }
}

fn stamp(home: &Home, kind: Records) -> Stamp {
    let m = std::fs::metadata(home.records(kind)).ok()?;
    Some((m.mtime(), m.mtime_nsec(), m.size(), m.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::Store as How;

    fn home(tag: &str) -> Store {
        let d = std::env::temp_dir().join(format!("bach-cache-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Store { home: Home::at(d) }
    }

    fn session(st: &Store, id: &str) {
        let s =
            Session { artifact: format!("/a/{id}"), task: Some("t".into()), ..Session::default() };
        st.add_session(Some(id), &s).unwrap();
    }

    #[test]
    fn reads_when_the_stamp_changes_when_asked_and_once_a_minute() {
        let st = home("stamp");
        let mut log = Log::new(st.home.logs().join("d.log"), 1 << 20);
        let t = Task::new("x", 0);
        st.add_task(Some("t"), &t).unwrap();
        let mut c = Cache::default();
        let mut look =
            |how, notified, now| c.refresh(&st, (how, notified), (now, 60_000), &mut log);
        assert!(look(How::Changed, false, 0), "the first read");
        assert!(!look(How::Changed, false, 1), "nothing changed");
        assert!(look(How::Fresh, false, 2), "a fresh read is never skipped");
        assert!(look(How::Changed, true, 3), "nor one a change notification asks for");
        session(&st, "s1");
        assert!(look(How::Changed, false, 4), "a new record changes the stamp");
        assert!(!look(How::Changed, false, 5));
        assert!(look(How::Changed, false, 4 + 60_000), "a minute passed");
        assert_eq!(c.desired(&st.home, &|_| Life::Live).len(), 1);
        std::fs::remove_dir_all(st.home.path()).unwrap();
    }

    #[test]
    fn a_folder_that_cannot_be_read_keeps_the_last_records() {
        let st = home("unreadable");
        let mut log = Log::new(st.home.logs().join("d.log"), 1 << 20);
        let t = Task::new("x", 0);
        st.add_task(Some("t"), &t).unwrap();
        session(&st, "s1");
        let mut c = Cache::default();
        let every = (0, FULL_READ_MS);
        c.refresh(&st, (How::Changed, false), every, &mut log);
        let sessions = st.home.records(Records::Sessions);
        std::fs::rename(&sessions, st.home.path().join("moved")).unwrap();
        std::fs::write(&sessions, b"a file where the folder was").unwrap();
        assert!(!c.refresh(&st, (How::Fresh, false), every, &mut log));
        assert_eq!(c.desired(&st.home, &|_| Life::Live).len(), 1, "still desired");
        assert!(c.problem.as_deref().is_some_and(|p| p.contains("sessions")), "{:?}", c.problem);
        std::fs::remove_file(&sessions).unwrap();
        std::fs::rename(st.home.path().join("moved"), &sessions).unwrap();
        assert!(c.refresh(&st, (How::Fresh, false), every, &mut log));
        assert_eq!(c.problem, None);
        std::fs::remove_dir_all(st.home.path()).unwrap();
    }
}
