//! The process table as the daemon reads it: `ps` run with its output and
//! the self-pipe polled together (so a signal is handled while `ps` runs),
//! killed with its group at the timeout or a stop, and turned into this
//! home's supervised set. Invariant: the table is all or nothing; a `ps`
//! that fails, times out or prints a line that does not parse leaves the
//! table unknown, never partial.

use super::wait::Waiter;
use crate::home::Home;
use crate::ps::{self, Proc};
use crate::reconcile::Watcher;
use crate::supervisor::Supervised;
use crate::targets::Me;
use crate::{lock, procs};
use std::collections::BTreeSet;
use std::os::fd::AsFd;
use std::process::ChildStdout;
use std::time::Duration;

/// The last process table, while it is known.
#[derive(Default)]
pub struct Table {
    /// The processes, `None` while `ps` fails.
    pub procs: Option<Vec<Proc>>,
    /// A new table was read since the desired set last looked at it.
    pub fresh: bool,
    /// A table was read since the loop last slept.
    pub read_this_tick: bool,
}

impl Table {
    /// Runs `ps` for at most `limit`; on success keeps its table.
    pub fn read(&mut self, wait: &mut Waiter, limit: Duration) -> Result<&[Proc], String> {
        self.procs = None;
        let procs = run(wait, limit)?;
        (self.fresh, self.read_this_tick) = (true, true);
        Ok(self.procs.insert(procs))
    }
}

/// Runs `ps` in the one wait; kills its group unless it ended in time.
fn run(wait: &mut Waiter, limit: Duration) -> Result<Vec<Proc>, String> {
    let mut child = procs::start()?;
    let out = child.stdout.take().ok_or("ps has no output")?;
    wait.ps = Some((child.id() as i32, None));
    let deadline = wait.clock.ms().saturating_add(limit.as_millis() as u64);
    let result = collect(wait, &out, deadline, limit);
    match (result, wait.ps.take().and_then(|(_, exit)| exit)) {
        (Ok(buf), Some(exit)) => procs::finish(&buf, &exit),
        (result, _) => {
            procs::kill(&child);
            Err(result.err().unwrap_or_else(|| "ps did not exit".into()))
        }
    }
}

/// Reads `ps`'s output to its end, then waits for the reaper to hand over
/// its exit; a stop or the deadline ends it early.
fn collect(
    wait: &mut Waiter,
    out: &ChildStdout,
    deadline: u64,
    limit: Duration,
) -> Result<Vec<u8>, String> {
    let (mut buf, mut end) = (Vec::new(), false);
    loop {
        if wait.stop {
            return Err("stopping".into());
        }
        end = end || procs::read_some(out, &mut buf)?;
        if end && wait.ps.as_ref().is_some_and(|(_, exit)| exit.is_some()) {
            return Ok(buf);
        }
        if wait.clock.ms() >= deadline {
            return Err(format!("ps did not finish within {}s", limit.as_secs()));
        }
        wait.poll((!end).then(|| out.as_fd()), deadline);
    }
}

/// This home's watchers in `procs`, by key: a watcher of this uid whose key
/// is desired here or has a lock file here. The lock is asked only where it
/// decides, for a key with more than one process.
pub fn supervised(procs: &[Proc], home: &Home, me: &Me, desired: &BTreeSet<String>) -> Supervised {
    let mut out = Supervised::new();
    for w in ps::watchers(procs, me.uid, &me.shown) {
        if desired.contains(&w.key) || home.lock(&w.key).exists() {
            let watcher = Watcher { pid: w.pid, holds_lock: None, artifact: w.artifact };
            out.entry(w.key).or_default().push(watcher);
        }
    }
    for (key, procs) in out.iter_mut().filter(|(_, p)| p.len() > 1) {
        let holder = lock::holder(&home.lock(key)).ok().flatten();
        for p in procs {
            p.holds_lock = Some(holder == Some(p.pid));
        }
    }
    out
}
