//! The self-pipe: signal handlers write the signal's number as one byte to a
//! non-blocking pipe, and the loop sleeps in `poll()` on its read end.
//!
//! Order that loses no signal: drain the pipe first, then act on what was
//! drained (reap, reload, stop). A signal that arrives after the drain
//! leaves a byte in the pipe, so the next `poll()` returns at once.

use crate::sys;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// The signals a loop acts on, as drained from the pipe.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Caught {
    /// SIGTERM or SIGINT: stop.
    pub stop: bool,
    /// SIGHUP: reload the configuration.
    pub hup: bool,
    /// SIGCHLD, or so many signals that one may have found the pipe full
    /// (its byte lost): reap.
    pub chld: bool,
}

/// Drained at once, this many bytes mean the pipe may have been full.
const CROWDED: usize = 4096;

/// The installed self-pipe. Keep it for the life of the process.
pub struct SelfPipe {
    read: OwnedFd,
    _write: OwnedFd,
}

impl SelfPipe {
    /// Routes SIGTERM, SIGINT, SIGHUP and SIGCHLD to a new pipe and ignores
    /// SIGPIPE.
    pub fn install() -> io::Result<SelfPipe> {
        let (read, write) = sys::pipe()?;
        let signals = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGCHLD];
        sys::route_signals(write.as_fd(), &signals)?;
        Ok(SelfPipe { read, _write: write })
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Empties the pipe and says which signals arrived.
    pub fn drain(&self) -> Caught {
        let (mut caught, mut total) = (Caught::default(), 0);
        let mut buf = [0u8; 64];
        while let Ok(sys::Ready::Data(n)) = sys::read_ready(self.read.as_fd(), &mut buf) {
            for sig in buf[..n].iter().map(|&b| i32::from(b)) {
                caught.stop |= sig == libc::SIGTERM || sig == libc::SIGINT;
                caught.hup |= sig == libc::SIGHUP;
                caught.chld |= sig == libc::SIGCHLD;
            }
            total += n;
        }
        caught.chld |= total >= CROWDED;
        caught
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drains until `want` is caught (another thread may take a signal's
    /// handler a moment after `kill` returns), within five seconds.
    fn drain_until(pipe: &SelfPipe, want: Caught) -> Caught {
        let mut got = Caught::default();
        for _ in 0..500 {
            let _ = sys::poll(&[pipe.fd()], 10);
            let c = pipe.drain();
            (got.stop, got.hup, got.chld) = (got.stop | c.stop, got.hup | c.hup, got.chld | c.chld);
            if got == want {
                break;
            }
        }
        got
    }

    #[test]
    fn signals_arrive_as_bytes_and_are_drained_before_acting() {
        // Signal routing is process-wide: no other test may install its pipe meanwhile.
        let _serial = crate::testing::children();
        let pipe = SelfPipe::install().unwrap();
        let _ = pipe.drain();
        for sig in [libc::SIGHUP, libc::SIGHUP, libc::SIGTERM] {
            sys::kill(sys::getpid(), sig).unwrap();
        }
        assert_eq!(sys::poll(&[pipe.fd()], 1000).unwrap(), [true], "a signal wakes the poll");
        let both = Caught { stop: true, hup: true, chld: false };
        assert_eq!(drain_until(&pipe, both), both);
        sys::kill(sys::getpid(), libc::SIGINT).unwrap();
        let stop = Caught { stop: true, ..Caught::default() };
        assert_eq!(drain_until(&pipe, stop), stop);
        // A flood fills the pipe without blocking a handler: one byte waiting
        // is wake-up enough, and SIGCHLD asks for a reap.
        for _ in 0..100_000 {
            sys::kill(sys::getpid(), libc::SIGCHLD).unwrap();
        }
        assert_eq!(sys::poll(&[pipe.fd()], 1000).unwrap(), [true]);
        let chld = Caught { chld: true, ..Caught::default() };
        assert_eq!(drain_until(&pipe, chld), chld);
    }
}
