//! The judge: `/bin/sh -c judge_command`, run when the agent's attention
//! enters a state of `judge_on` (for `other` agents: when the artifact turns
//! idle), in its own process group, with the artifact's tail on stdin.
//!
//! Invariant: a judge never blocks or kills the watcher. Its stdin is a
//! file (a judge that does not read cannot block us); its stdout is read
//! without blocking and only its start is kept (a flooding judge is drained
//! and forgotten); its whole group is killed at the timeout and when the
//! `Judge` is dropped, which every exit path of the watcher does.

use crate::home::Home;
use crate::store::{self, Store};
use crate::sys;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The most characters a verdict keeps.
const VERDICT_CHARS: usize = 200;
/// The most output kept: enough for 200 characters of UTF-8.
const HEAD_BYTES: usize = VERDICT_CHARS * 4;

/// The variables a judge finds in its environment.
pub type Env = Vec<(&'static str, String)>;

/// A running judge.
pub struct Judge {
    /// Its stdout stays in `child.stdout` until end of file.
    child: Child,
    /// When it is to be killed; `None` once it was (it timed out).
    pub deadline: Option<Instant>,
    /// The start of its output.
    head: Vec<u8>,
}

/// A new file at `path` holding `bytes`, unlinked at once (nothing is ever
/// left behind) and rewound: the judge's stdin.
pub fn input(path: &Path, bytes: &[u8]) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    std::fs::remove_file(path)?;
    file.write_all(bytes)?;
    file.rewind()?;
    Ok(file)
}

impl Judge {
    /// Starts `/bin/sh -c command`; its stderr is ours (the watcher's log).
    pub fn start(command: &str, env: &Env, stdin: File, timeout: Duration) -> io::Result<Judge> {
        let child = Command::new("/bin/sh")
            .args(["-c", command])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(stdin)
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let judge = Judge { child, deadline: Some(Instant::now() + timeout), head: Vec::new() };
        judge.fd().map_or(Ok(()), sys::set_nonblock)?; // on failure, drop kills it
        Ok(judge)
    }

    /// Its pid, which is also its process group.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Its stdout, to poll while it is open.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.child.stdout.as_ref().map(|o| o.as_fd())
    }

    /// Reads its output after `poll` said it is ready; keeps the start.
    pub fn read(&mut self) {
        let Some(out) = &self.child.stdout else { return };
        let mut buf = [0u8; 8192];
        // At most 1 MiB per wake-up, so a flood cannot hold the loop.
        for _ in 0..128 {
            match sys::read_ready(out.as_fd(), &mut buf) {
                Ok(sys::Ready::Data(n)) => {
                    self.head.extend_from_slice(&buf[..n.min(HEAD_BYTES - self.head.len())])
                }
                Ok(sys::Ready::Empty) => return,
                Ok(sys::Ready::End) | Err(_) => return self.child.stdout = None,
            }
        }
    }

    /// Kills the judge once past its deadline; once it has exited, reaps
    /// it and returns its verdict and how it ended (`exit N`, `signal N`,
    /// `timeout`). The caller then drops it, which kills what the leader
    /// left running.
    pub fn check(&mut self, now: Instant) -> Option<(Option<String>, String)> {
        if self.deadline.is_some_and(|d| now >= d) {
            self.deadline = None;
            self.kill();
        }
        let exit = match self.child.try_wait() {
            Ok(None) => return None,
            Ok(Some(_)) if self.deadline.is_none() => "timeout".into(),
            Ok(Some(status)) => crate::reconcile::Exit::of_status(status.into_raw()).to_string(),
            // Not ours to wait for any more (nobody else reaps it): gone.
            Err(e) => format!("unknown: {}", crate::error::reason(&e)),
        };
        self.read();
        Some((verdict(&self.head), exit))
    }

    /// Kills its whole group, also once the leader was reaped: its pid
    /// cannot have been reused as a group id while members of the group
    /// remain.
    fn kill(&self) {
        let _ = sys::killpg(self.child.id() as i32, libc::SIGKILL);
    }
}

impl Drop for Judge {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The judge's environment, read from the store when it starts: the
/// artifact, its supervisable sessions (oldest first, as the desired set
/// lists them; `ps` is not asked) and the newest one's task.
pub fn env(home: &Home, key: &str, artifact: &str) -> Env {
    let st = Store { home: home.clone() };
    let sessions = st.sessions().map(|(s, _)| s).unwrap_or_default();
    let tasks = st.tasks().map(|(t, _)| t).unwrap_or_default();
    let want = store::desired(home.as_str(), &sessions, &tasks, None).remove(key);
    let ids = want.map_or(Vec::new(), |w| w.sessions);
    let newest = ids.last().and_then(|id| sessions.iter().find(|s| &s.id == id));
    vec![
        ("BACH_ARTIFACT", artifact.to_string()),
        ("BACH_SESSION", ids.last().cloned().unwrap_or_default()),
        ("BACH_SESSIONS", ids.join(" ")),
        ("BACH_TASK", newest.and_then(|s| s.task.clone()).unwrap_or_default()),
    ]
}

/// The verdict in a judge's output: its first line, control characters
/// removed, trimmed, at most 200 characters; `None` when nothing is left.
pub fn verdict(output: &[u8]) -> Option<String> {
    let line = output.split(|&b| b == b'\n').next().unwrap_or_default();
    let text: String = String::from_utf8_lossy(line).chars().filter(|c| !c.is_control()).collect();
    let text: String = text.trim().chars().take(VERDICT_CHARS).collect();
    Some(text.trim_end().to_string()).filter(|t| !t.is_empty())
}

impl super::Watcher {
    /// Reaps a finished judge, or starts one when attention enters a state
    /// of `judge_on` (once per such period; never while catching up, when
    /// `more` is left to read and the state is not today's yet).
    pub(super) fn tend_judge(&mut self, now: u64, more: bool) {
        if let Some(j) = &mut self.judge {
            if let Some((verdict, exit)) = j.check(Instant::now()) {
                self.judge = None;
                self.record(verdict, exit, now);
            }
            return;
        }
        let (Some(attention), reason, Some(since)) = self.attention() else { return };
        let period = Some((attention, since));
        if more || !self.config.judge_on.contains(&attention) || self.judged == period {
            return;
        }
        self.judged = period;
        // A previous watcher's verdict given since this period began
        // settled it already: a restart is no news.
        let settled = self.judges == 0 && self.base.verdict_at >= Some(since);
        let Some(command) = self.config.judge_command.clone().filter(|_| !settled) else { return };
        self.judges += 1;
        let mut env = env(&self.home, &self.key, &self.base.artifact);
        env.extend([("BACH_ATTENTION", attention.as_str().to_string()), ("BACH_REASON", reason)]);
        // Unique across runs: a watcher killed between creating and
        // unlinking its judge's input must not block the next one's.
        let name = format!(".{}.judge.{}.{}", self.key, sys::getpid(), self.judges);
        let stdin_path = self.home.watch().join(name);
        let timeout = Duration::from_secs(self.config.judge_timeout_seconds);
        let started = (self.follow.tail().and_then(|tail| input(&stdin_path, tail)))
            .and_then(|stdin| Judge::start(&command, &env, stdin, timeout));
        match started {
            Ok(j) => {
                // Recorded at once: if this watcher is killed outright, the
                // daemon ends the judge's group by these.
                let pgid = j.pid();
                self.base.judge_start = sys::proc_stat(pgid).ok().map(|s| s.start);
                self.base.judge_pgid = Some(pgid);
                self.judge = Some(j);
            }
            Err(e) => {
                crate::log::stamped(&format!("cannot start the judge: {e}"));
                self.record(None, "spawn failed".into(), now);
            }
        }
    }

    fn record(&mut self, verdict: Option<String>, exit: String, now: u64) {
        crate::log::stamped(&format!("judge ended: {exit}"));
        (self.base.verdict, self.base.verdict_at) = (verdict, Some(now));
        (self.base.judge_exit, self.base.judge_pgid, self.base.judge_start) =
            (Some(exit), None, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_is_the_first_line_cleaned_and_cut_at_200_chars() {
        assert_eq!(verdict(b"  done\r\nmore\n"), Some("done".into()));
        assert_eq!(verdict(b"a\x1b[31mred\x07"), Some("a[31mred".into()));
        assert_eq!(verdict(b" \t \nsecond"), None);
        assert_eq!(verdict(b""), None);
        let long = "ü".repeat(300);
        assert_eq!(verdict(long.as_bytes()), Some("ü".repeat(200)));
    }
}
