//! The daemon's one wait: `poll()` on the self-pipe (and, while `ps` runs,
//! its output), then signals drained and children reaped before anything
//! acts on them. Every sleep of the daemon process goes through
//! [`Waiter::poll`], so a signal is handled whatever the daemon waits for.
//!
//! All reaping happens here, after a SIGCHLD: `waitpid(-1, WNOHANG)` until nothing is left,
//! each pid matched to what the daemon spawned (the running `ps`, whose
//! status is kept for its reader, or else a watcher).

use crate::reconcile::Exit;
use crate::signals::SelfPipe;
use crate::sys;
use crate::time::Monotonic;
use std::os::fd::BorrowedFd;

/// The self-pipe, the clock, and what was caught since the last look.
pub struct Waiter {
    pipe: SelfPipe,
    /// The daemon's monotonic clock.
    pub clock: Monotonic,
    /// The running `ps`: its pid, and its exit once reaped.
    pub ps: Option<(i32, Option<Exit>)>,
    /// Children reaped that were not `ps`.
    pub exits: Vec<(i32, Exit)>,
    /// SIGTERM or SIGINT arrived.
    pub stop: bool,
    /// SIGHUP arrived.
    pub reload: bool,
}

impl Waiter {
    /// A waiter on an installed self-pipe.
    pub fn new(pipe: SelfPipe) -> Waiter {
        let clock = Monotonic::default();
        Waiter { pipe, clock, ps: None, exits: Vec::new(), stop: false, reload: false }
    }

    /// Sleeps until the self-pipe or one of `extra` (the running `ps`'s
    /// output, or the event descriptors) is ready or the monotonic time
    /// `until` comes, then drains the pipe and reaps. Returns whether one of
    /// `extra` is ready.
    pub fn poll(&mut self, extra: &[BorrowedFd], until: u64) -> bool {
        let fds: Vec<BorrowedFd> = [self.pipe.fd()].iter().chain(extra).copied().collect();
        let ready = sys::poll(&fds, sys::poll_ms(self.clock.until(until)));
        self.drain();
        match ready {
            Ok(r) => r.iter().skip(1).any(|&r| r),
            // EINVAL or ENOMEM: nothing to do but to look again, later.
            Err(_) => false,
        }
    }

    /// Empties the self-pipe and, after a SIGCHLD, reaps every exited
    /// child (with a hundred children, `waitpid` on every wake-up was most
    /// of an idle tick's cost). A child that exits after the drain leaves
    /// its SIGCHLD in the pipe, so the next `poll()` returns at once.
    pub fn drain(&mut self) {
        let caught = self.pipe.drain();
        self.stop |= caught.stop;
        self.reload |= caught.hup;
        if !caught.chld {
            return;
        }
        while let Ok(Some((pid, status))) = sys::reap_any() {
            let exit = Exit::of_status(status);
            match &mut self.ps {
                Some((ps, done)) if *ps == pid => *done = Some(exit),
                _ => self.exits.push((pid, exit)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::zombie_processes)] // the Waiter reaps them: that is the test
    fn a_child_exit_is_reaped_with_its_status_and_ps_is_told_apart() {
        let _reaping = crate::testing::children();
        let mut w = Waiter::new(SelfPipe::install().unwrap());
        let a = std::process::Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let b = std::process::Command::new("sh").args(["-c", "exit 4"]).spawn().unwrap();
        w.ps = Some((b.id() as i32, None));
        let deadline = w.clock.ms() + 5_000;
        while (w.exits.is_empty() || w.ps.as_ref().is_some_and(|p| p.1.is_none()))
            && w.clock.ms() < deadline
        {
            w.poll(&[], (w.clock.ms() + 50).min(deadline));
        }
        assert!(w.exits.contains(&(a.id() as i32, Exit::Code(3))), "{:?}", w.exits);
        assert_eq!(w.ps, Some((b.id() as i32, Some(Exit::Code(4)))));
    }

    #[test]
    fn poll_returns_at_its_deadline_when_nothing_happens() {
        let _reaping = crate::testing::children();
        let mut w = Waiter::new(SelfPipe::install().unwrap());
        let start = w.clock.ms();
        // Another test's child may end meanwhile: its SIGCHLD wakes the poll early.
        while w.clock.ms() < start + 30 {
            assert!(!w.poll(&[], start + 30), "nothing else was polled");
        }
        assert!(w.clock.ms() < start + 1000, "returned at the deadline, not long after");
        assert!(!w.stop && !w.reload);
    }
}
