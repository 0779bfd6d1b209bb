//! Whether each session's agent still runs, as the daemon knows it between
//! `ps` reads. Every read judges each session's agent by the table (pid,
//! uid and start, see `store::life`) and opens a pid handle on each live
//! one, so its exit makes the session `gone` at once. A session that
//! appears between reads is judged by the identity its record carries (the
//! handle opened, then confirmed), or else taken to be live until `ps`.
//!
//! Invariant: an agent's handle names only sessions that still exist and
//! have not ended; the others' handles are closed.

use super::handles::{Handles, Opened, Whose};
use crate::procs;
use crate::ps::{self, Proc};
use crate::store::{self, Life, Session};
use std::collections::BTreeSet;
/// Each judged session's agent: alive or not.
#[derive(Default)]
pub struct Agents {
    /// By session id, sorted: a list, not a map (a map per type costs
    /// binary size).
    alive: Vec<(String, bool)>,
}

impl Agents {
    /// A session's life: ended, gone (its agent was seen to exit), or live
    /// (running, without an agent, or not judged yet).
    pub fn life(&self, s: &Session) -> Life {
        match (s.ended, self.get(&s.id)) {
            (true, _) => Life::Ended,
            (false, Some(false)) if s.pid.is_some() => Life::Gone,
            (false, _) => Life::Live,
        }
    }

    fn find(&self, id: &str) -> Result<usize, usize> {
        self.alive.binary_search_by(|(k, _)| k.as_str().cmp(id))
    }

    fn get(&self, id: &str) -> Option<bool> {
        self.find(id).ok().map(|i| self.alive[i].1)
    }

    /// Sets a judgement; returns whether it changed.
    fn set(&mut self, id: &str, alive: bool) -> bool {
        match self.find(id) {
            Ok(i) => std::mem::replace(&mut self.alive[i].1, alive) != alive,
            Err(i) => {
                self.alive.insert(i, (id.to_string(), alive));
                true
            }
        }
    }

    /// After a `ps` read: judges every session's agent by the table and
    /// watches the live ones. Returns whether any judgement changed.
    pub fn judge_all(&mut self, sessions: &[Session], procs: &[Proc], h: &mut Handles) -> bool {
        let mut changed = false;
        for s in sessions.iter().filter(|s| !s.ended) {
            let Some(pid) = s.pid else { continue };
            if self.settled(s, h) {
                continue; // its handle, confirmed when opened, has not fired
            }
            let mut alive = store::life(s, Some(procs)) == Life::Live;
            if alive {
                let p = ps::find(procs, pid).map(|p| (p.uid, procs::start_of(p)));
                let who = p.and_then(|(uid, start)| Some((uid, start?)));
                let ids = vec![s.id.clone()];
                alive = match who.map(|who| h.open(pid, Whose::Agent(ids), Some(who))) {
                    Some(Opened::Gone) => false,
                    Some(Opened::Watched | Opened::Polled) | None => true,
                };
            }
            changed |= self.set(&s.id, alive);
        }
        changed | self.forget_others(sessions, h)
    }

    /// Whether a session's agent is known alive by a handle of its own.
    fn settled(&self, s: &Session, h: &Handles) -> bool {
        self.get(&s.id) == Some(true) && s.pid.is_some_and(|pid| watched(h, pid, &s.id))
    }

    /// The agents that [`Agents::judge_all`] will look up in the table
    /// (whose start ticks it needs): those no handle settles.
    pub fn unsettled(&self, sessions: &[Session], h: &Handles) -> BTreeSet<i32> {
        let open = sessions.iter().filter(|s| !s.ended && !self.settled(s, h));
        open.filter_map(|s| s.pid).collect()
    }

    /// After the store was read: drops what is no longer there and judges
    /// the sessions not judged yet by their record's identity. Returns
    /// whether any judgement changed, and whether only `ps` can judge one.
    pub fn judge_new(&mut self, sessions: &[Session], h: &mut Handles) -> (bool, bool) {
        let (mut changed, mut doubt) = (self.forget_others(sessions, h), false);
        let new = sessions.iter().filter(|s| !s.ended && self.get(&s.id).is_none());
        for s in new.collect::<Vec<_>>() {
            let Some(pid) = s.pid else { continue };
            let who = s.pid_uid.zip(procs::recorded_start(s));
            let ids = vec![s.id.clone()];
            match who.map(|who| h.open(pid, Whose::Agent(ids), Some(who))) {
                Some(Opened::Watched) => drop(self.set(&s.id, true)),
                Some(Opened::Gone) => changed |= self.set(&s.id, false),
                // Live until `ps` says.
                Some(Opened::Polled) | None => doubt = true,
            }
        }
        (changed, doubt)
    }

    /// The agents of these sessions exited.
    pub fn gone(&mut self, ids: &[String]) -> bool {
        let mut changed = false;
        for id in ids {
            changed |= self.set(id, false);
        }
        changed
    }

    /// Forgets sessions removed or ended, and closes the handles no live
    /// session needs. Returns whether a judgement was dropped.
    fn forget_others(&mut self, sessions: &[Session], h: &mut Handles) -> bool {
        let mut open = vec![false; self.alive.len()];
        for s in sessions.iter().filter(|s| !s.ended && s.pid.is_some()) {
            if let Ok(i) = self.find(&s.id) {
                open[i] = true;
            }
        }
        let before = self.alive.len();
        let mut open = open.into_iter();
        self.alive.retain(|_| open.next().unwrap_or(false));
        let alive = &*self;
        h.keep(|_, whose| match whose {
            Whose::Agent(ids) => {
                ids.retain(|id| alive.get(id) == Some(true));
                !ids.is_empty()
            }
            Whose::Watcher { .. } => true,
        });
        self.alive.len() != before
    }
}

/// Whether `pid` has a handle that counts session `id` among its agent's.
fn watched(h: &Handles, pid: i32, id: &str) -> bool {
    matches!(h.whose(pid), Some(Whose::Agent(ids)) if ids.iter().any(|i| i == id))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::process::{Child, Command};
    use std::time::{Duration, Instant};

    /// A sleeping child, killed and reaped when dropped.
    struct Kid(Child);

    impl Drop for Kid {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn kid() -> (Kid, i32, crate::sys::ProcStat) {
        let k = Kid(Command::new("sleep").arg("60").spawn().unwrap());
        let pid = k.0.id() as i32;
        (k, pid, crate::sys::proc_stat(pid).unwrap())
    }

    fn session(id: &str, pid: i32, uid: Option<u32>, ticks: Option<u64>) -> Session {
        let (pid_uid, pid_ticks) = (uid, ticks);
        Session { id: id.into(), pid: Some(pid), pid_uid, pid_ticks, ..Session::default() }
    }

    /// A `ps` row for `pid` as the table (with ticks) would show it.
    fn row(pid: i32, st: &crate::sys::ProcStat) -> Proc {
        let start = "Wed Nov 25 04:31:14 2026".into();
        let (uid, ppid, pgid, zombie, command) = (st.uid, 1, pid, false, "sleep 60".into());
        Proc { uid, pid, ppid, pgid, zombie, start, command, ticks: Some(st.start) }
    }

    fn wait_gone(h: &mut Handles) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while h.news.gone.is_empty() {
            assert!(Instant::now() < deadline, "the agent's exit never fired");
            let _ = crate::sys::poll(&h.fds(), 10);
            h.drain();
        }
        std::mem::take(&mut h.news.gone)
    }

    #[test]
    fn a_live_agent_is_watched_and_its_exit_makes_its_session_gone() {
        let _reaping = crate::testing::children();
        let mut h = Handles::new();
        let (k, pid, st) = kid();
        let s = session("s1", pid, Some(st.uid), Some(st.start));
        let mut a = Agents::default();
        assert!(a.judge_all(std::slice::from_ref(&s), &[row(pid, &st)], &mut h));
        assert_eq!(a.life(&s), Life::Live);
        assert!(matches!(h.whose(pid), Some(Whose::Agent(ids)) if ids == &["s1"]));
        assert!(!a.judge_all(std::slice::from_ref(&s), &[row(pid, &st)], &mut h), "no news");
        drop(k);
        let gone = wait_gone(&mut h);
        assert!(a.gone(&gone));
        assert_eq!(a.life(&s), Life::Gone);
        assert_eq!(h.pid_handles(), 0, "its handle is closed");
    }

    #[test]
    fn a_new_session_is_judged_by_its_records_identity_or_left_to_ps() {
        let _reaping = crate::testing::children();
        let mut h = Handles::new();
        let (_k, pid, st) = kid();
        let sessions = [
            session("right", pid, Some(st.uid), Some(st.start)),
            session("stale", pid, Some(st.uid), Some(st.start + 1)),
            session("bare", pid, None, None),
        ];
        let mut a = Agents::default();
        let (changed, doubt) = a.judge_new(&sessions, &mut h);
        assert!(changed && doubt, "the stale one is gone; the bare one needs ps");
        let lives: Vec<Life> = sessions.iter().map(|s| a.life(s)).collect();
        assert_eq!(lives, [Life::Live, Life::Gone, Life::Live]);
        // Removed from the store: the handle no session needs is closed.
        a.judge_new(&sessions[2..], &mut h);
        assert!(h.whose(pid).is_none() && h.pid_handles() == 0);
    }
}
