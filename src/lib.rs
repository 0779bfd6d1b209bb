//! bach keeps one watcher process alive for every AI-coding session that
//! still matters, and never two.
//!
//! # Architecture in one screen
//!
//! - **The tick** is [`supervisor::Supervisor::tick`]: bring the supervised
//!   set up to date (`ps`, or the table kept current by reaped children),
//!   then the desired set (the store), ask the pure [`reconcile::reconcile`]
//!   for a plan (spawn, wait out a backoff, retire a stray), carry it out,
//!   publish. [`supervisor::Supervisor::run`] is the loop around it: tick,
//!   sweep, wait in one `poll()` until the next tick or deadline.
//! - **The store** ([`store`]) holds tasks and sessions as small `key =
//!   value` files ([`kv`]), written atomically ([`files`]) in the home
//!   ([`home`], which names every path). Its join decides the *desired set*:
//!   the artifacts of sessions that are live, linked to a task that exists
//!   and is not done or cancelled ([`store::desired`]).
//! - **The process table is the truth** for what runs: [`ps`] parses `ps`
//!   output into processes and picks out watchers by their exact command
//!   line and key ([`key`]). Nothing is remembered about a watcher that `ps`
//!   cannot confirm, so a daemon that restarts adopts what runs.
//! - **Locks are the guard.** Each watcher holds the `fcntl` lock
//!   `watch/KEY.lock` for life ([`lock`]); a second watcher of the same
//!   artifact finds it taken and exits at once, and every spawner probes it
//!   first. One daemon per home holds `daemon.lock`. Whom bach signals is
//!   decided in one place ([`targets`]): lock holders only, never pid 1 or
//!   less.
//! - **The ledger** ([`reconcile::Entry`]: one [`reconcile::Phase`] per key)
//!   counts crashes and drives the backoff; [`ledger`] publishes it in
//!   `daemon.state` so it survives a restart. Deadlines in memory are
//!   monotonic ([`time`]); wall-clock seconds are only stored and printed.
//! - **The seam**: every side effect of the loop sits behind the
//!   [`supervisor::Host`] trait (now, read supervised, read desired, spawn,
//!   retire, clean up after a crash, publish, sweep, wait). [`daemon`] is the real host; tests and
//!   embedding hosts bring their own.
//! - **Events, not polling**: the real host sleeps until a child exits, a
//!   pid handle fires (a watcher it did not fork, a session's agent) or the
//!   store changes ([`events`]); `ps` is an audit every `audit_seconds`.
//! - **The watcher** ([`watcher`]) follows one artifact, publishes what it
//!   sees in `watch/KEY.status`, and runs the judge; [`spawn`] starts it.
//! - **Sessions that register themselves**: the Claude Code hook
//!   (`bach hook claude`) and [`discover`] (run by hand and by the daemon
//!   after every `ps` read) find agents' sessions ([`claude`], [`codex`],
//!   [`flatjson`]) and put them in the store through one path,
//!   [`register`] (first writer's `link` wins, the other fills in), with
//!   the task of their folder ([`taskdir`]).
//! - **What the agent is doing**: the watcher feeds every complete line
//!   ([`lines`]) to the pure [`attention`] classifier and publishes its
//!   checkpoint in the status; readers take one [`look`] at the store, `ps`
//!   ([`proctree`]), the status files and Claude's registry and [`refine`]
//!   it; `sessions wait` compares looks with [`cursor`].
//! - **The commands** ([`cmd`], parsed by [`cli`]) read the same files.
//!
//! # Driving the loop yourself
//!
//! ```
//! use bach::config::Config;
//! use bach::reconcile::{Ledger, Policy, Watcher};
//! use bach::store::Want;
//! use bach::supervisor::{self, Desired, Host, Signal, Spawned, Supervised, Supervisor, Table, Wake};
//!
//! /// A fake process table and a fake clock.
//! struct Fake { now: u64, table: Supervised, spawns: u32 }
//!
//! impl Host for Fake {
//!     fn now(&mut self) -> u64 { self.now }
//!     fn read_supervised(&mut self, _: Table, s: &mut Supervised) -> Result<(), String> {
//!         s.clone_from(&self.table);
//!         Ok(())
//!     }
//!     fn read_desired(&mut self, _: supervisor::Store, desired: &mut Desired) -> bool {
//!         let want = Want { artifact: "/runs/a.jsonl".into(), sessions: vec!["s1".into()], all_gone: false };
//!         *desired = Desired::from([("0123456789abcdef".to_string(), want)]);
//!         true // this host cannot tell what changed
//!     }
//!     fn spawn(&mut self, key: &str, artifact: &str) -> Result<Spawned, String> {
//!         self.spawns += 1;
//!         let w = Watcher { pid: 4242, holds_lock: None, artifact: artifact.into() };
//!         self.table.insert(key.into(), vec![w]);
//!         Ok(Spawned::Started(4242))
//!     }
//!     fn retire(&mut self, _key: &str, _pid: i32, _signal: Signal) {}
//!     fn publish(&mut self, _events: &[String], _ledger: &Ledger, _problem: Option<&str>) {}
//!     fn sweep(&mut self, _desired: &Desired) {}
//!     fn clean_up(&mut self, _key: &str) {}
//!     fn wait(&mut self, deadline: u64) -> Wake { self.now = deadline; Wake::default() }
//! }
//!
//! let mut host = Fake { now: 1_000, table: Supervised::new(), spawns: 0 };
//! let mut sup = Supervisor::new(Policy::new(&Config::default()), Ledger::new());
//! let first = sup.tick(&mut host, Table::Read);
//! assert_eq!(first.spawn, vec![("0123456789abcdef".to_string(), "/runs/a.jsonl".to_string())]);
//! for _ in 0..2 {
//!     host.now += 5_000;
//!     let plan = sup.tick(&mut host, Table::Read);
//!     assert!(plan.spawn.is_empty(), "a supervised artifact is never spawned again");
//! }
//! assert_eq!(host.spawns, 1);
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

/// Prints one line on stdout, like `println!` but never panicking when the
/// reader is gone (see [`log::stdout`]).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::log::stdout(&format!("{}\n", format_args!($($arg)*)))
    };
}

pub mod agent;
pub mod attention;
pub mod claude;
pub mod cli;
pub mod cmd;
pub mod codex;
pub mod config;
pub mod cursor;
pub mod daemon;
pub mod discover;
pub mod error;
pub mod events;
pub mod files;
pub mod flatjson;
pub mod help;
pub mod home;
pub mod json;
pub mod key;
pub mod kv;
pub mod ledger;
pub mod lines;
pub mod lock;
pub mod log;
pub mod look;
pub mod procs;
pub mod proctree;
pub mod ps;
pub mod reconcile;
pub mod refine;
pub mod register;
pub mod service;
pub mod signals;
pub mod spawn;
pub mod store;
pub mod supervisor;
pub mod sys;
pub mod targets;
pub mod taskdir;
pub mod text;
pub mod time;
pub mod watcher;

/// What unit tests share: a lock for those that start and reap children,
/// since the reaper waits for any child of the (test) process.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::{Mutex, MutexGuard};

    static CHILDREN: Mutex<()> = Mutex::new(());

    /// Held while a test has children that something may reap.
    pub fn children() -> MutexGuard<'static, ()> {
        CHILDREN.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A child that lives until dropped, then is killed by pid and reaped
    /// (the tests that need one read `/proc`).
    #[cfg(target_os = "linux")]
    pub struct Kid(pub std::process::Child);

    #[cfg(target_os = "linux")]
    impl Kid {
        /// `sleep 60`.
        pub fn sleep() -> Kid {
            Kid(std::process::Command::new("sleep").arg("60").spawn().expect("spawn sleep"))
        }

        pub fn pid(&self) -> i32 {
            self.0.id() as i32
        }
    }

    #[cfg(target_os = "linux")]
    impl Drop for Kid {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
