//! What the wait sleeps on: the watches and pid handles it arms before
//! each look, and the one `poll()` it sleeps in between looks.

use super::{Waiter, MISSING_EVERY, POLL_EVERY};
use crate::events::{Events, Fired, PidWatch};
use crate::home::Records;
use crate::look::View;
use crate::ps::{self, Proc};
use crate::store::Life;
use crate::{log, sys, time};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

impl Waiter {
    /// Watches what the next look reads: `watch/`, `sessions/`, each
    /// agent's registry folder and file, and each live agent by a pid
    /// handle. Returns whether the next look must come at once (something
    /// new is watched, so what changed before it was must be read; or an
    /// agent was found gone).
    pub(super) fn arm(&mut self, views: &[View]) -> bool {
        if !std::mem::replace(&mut self.events_tried, true) {
            self.events = Events::new()
                .map_err(|e| {
                    let why = crate::error::reason(&e);
                    log::warn(&format!("no change notification ({why}); looking every 250 ms"));
                })
                .ok();
        }
        let Some(events) = &mut self.events else {
            self.unwatched = true;
            return false;
        };
        let home = &self.st.home;
        let mut want = vec![(home.watch(), true), (home.records(Records::Sessions), true)];
        for path in views.iter().filter_map(|v| v.registry_path.as_ref()) {
            want.extend(path.parent().map(|dir| (dir.to_path_buf(), true)));
            want.push((path.clone(), false));
        }
        self.paths.retain(|path, (w, ..)| {
            let keep = want.iter().any(|(p, _)| p == path);
            if !keep {
                events.forget(*w);
            }
            keep
        });
        let (mut added, mut missing) = (false, false);
        for (path, dir) in want {
            let Ok(meta) = std::fs::metadata(&path) else {
                missing = true;
                continue;
            };
            let id = (meta.dev(), meta.ino());
            match self.paths.get(&path) {
                Some(&(_, dev, ino)) if (dev, ino) == id => continue,
                Some(&(w, ..)) => events.forget(w),
                None => {}
            }
            self.paths.remove(&path);
            let watched = if dir { events.watch_dir(&path) } else { events.watch_file(&path) };
            if let Ok(w) = watched {
                self.paths.insert(path, (w, id.0, id.1));
                added = true;
            }
        }
        self.missing = missing;
        added | self.arm_pids(views)
    }

    /// A pid handle on every live agent, confirmed by its uid and start;
    /// one found gone asks for `ps` at once.
    fn arm_pids(&mut self, views: &[View]) -> bool {
        let (Some(events), Some(procs)) = (&mut self.events, &self.procs) else { return false };
        let live: BTreeMap<i32, &Proc> = views
            .iter()
            .filter(|v| v.life == Life::Live)
            .filter_map(|v| ps::find(procs, v.session.pid?).filter(|p| !p.zombie))
            .map(|p| (p.pid, p))
            .collect();
        for pid in self.pids.iter().filter(|pid| !live.contains_key(pid)) {
            events.forget_pid(*pid);
        }
        self.pids.retain(|pid| live.contains_key(pid));
        self.refused.retain(|pid| live.contains_key(pid));
        self.unwatched = !self.refused.is_empty();
        let new: Vec<(i32, &Proc)> = live
            .iter()
            .filter(|(pid, _)| !self.pids.contains(pid) && !self.refused.contains(pid))
            .map(|(&k, &p)| (k, p))
            .collect();
        for (pid, p) in new {
            // What `sys::proc_stat` calls the start: ticks on Linux,
            // seconds on macOS.
            let start =
                if cfg!(target_os = "linux") { p.ticks } else { time::lstart_secs(&p.start) };
            match start.map(|s| events.watch_pid_checked(pid, p.uid, s)) {
                Some(Ok(PidWatch::Watched)) => _ = self.pids.insert(pid),
                // Gone meanwhile, or not the process `ps` showed: `ps` again
                // at once, and then on its short timer.
                Some(Ok(PidWatch::Gone)) => {
                    self.refused.insert(pid);
                    (self.ps_now, self.unwatched) = (true, true);
                }
                Some(Err(_)) | None => self.unwatched = true,
            }
        }
        self.ps_now
    }

    /// Sleeps in `poll()` until an event, a deadline (the timeout, a
    /// refined state's timer, the next audit) or the reader of stdout going
    /// away; returns whether it went away.
    pub(super) fn sleep(&mut self, deadline: Option<Instant>) -> bool {
        let since_ps = self.ps_at.map_or(Duration::ZERO, |t| t.elapsed());
        let mut t = self.ps_every().saturating_sub(since_ps);
        if self.events.is_none() {
            t = t.min(POLL_EVERY);
        }
        if self.missing {
            t = t.min(MISSING_EVERY);
        }
        if let Some(d) = deadline {
            t = t.min(d.saturating_duration_since(Instant::now()));
        }
        if let Some(due) = self.pending_due() {
            let ms = due.saturating_mul(1000).saturating_sub(time::wall_ms());
            t = t.min(Duration::from_millis(ms));
        }
        let fds = self.events.as_ref().map_or(Vec::new(), Events::fds);
        let polled = sys::poll_or_reader_gone(&fds, sys::poll_ms(t));
        drop(fds);
        match polled {
            Ok((_, true)) => return true,
            Ok((ready, false)) if ready.contains(&true) => self.drain(),
            Ok(_) => {}
            Err(e) => {
                log::warn(&format!("poll: {e}"));
                let _ = sys::poll(&[], sys::poll_ms(POLL_EVERY)); // never a busy loop
            }
        }
        false
    }

    /// What fired: an agent's exit asks for `ps`; a changed file only for
    /// the look that follows every wake-up.
    fn drain(&mut self) {
        let Some(events) = &mut self.events else { return };
        for fired in events.drain().unwrap_or_default() {
            match fired {
                Fired::Exited(pid) => {
                    self.pids.remove(&pid);
                    self.ps_now = true;
                }
                Fired::Changed(_) | Fired::Overflow => {}
            }
        }
    }
}
