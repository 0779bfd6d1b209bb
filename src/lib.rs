//! bach keeps one watcher process alive for every AI-coding session that
//! still matters, and never two.
//!
//! # Architecture in one screen
//!
//! - **The store** ([`store`]) holds tasks and sessions as small `key = value`
//!   files ([`kv`]), written atomically ([`files`]). Its join decides the
//!   *desired set*: the artifacts of sessions that are live, linked to a task
//!   that exists and is not done or cancelled ([`store::desired`]).
//! - **The process table is the truth** for what runs: [`ps`] parses
//!   `ps -axww -o uid=,pid=,pgid=,stat=,lstart=,command=` into processes and
//!   picks out watchers by their exact command line and key. Nothing is
//!   remembered about a watcher that `ps` cannot confirm, so a daemon that
//!   restarts adopts what runs instead of doubling it.
//! - **Locks are the guard.** Each watcher holds the `fcntl` lock
//!   `watch/KEY.lock` for life ([`lock`]); a second watcher of the same
//!   artifact finds it taken and exits at once, and every spawner probes it
//!   first. One daemon per home holds `daemon.lock`. Only lock holders are
//!   ever signalled, and never pid 1 or less ([`sys::signal_target`]).
//! - **The tick** ([`supervisor::Supervisor::tick`]): read the supervised set
//!   (`ps`), then the desired set (the store), ask the pure
//!   [`reconcile::reconcile`] for a plan (spawn, wait out a backoff, retire a
//!   stray), carry it out, report. `reconcile` takes `now` as a parameter and
//!   does no I/O, so its invariants are tested over thousands of inputs.
//! - **The seam**: every side effect of the loop sits behind the
//!   [`supervisor::Host`] trait (read supervised, read desired, spawn,
//!   retire, now, wait, report). [`daemon`] is the real host; tests and
//!   embedding hosts bring their own.
//! - **One wait, one reaper**: the loop sleeps in `poll()` on a self-pipe
//!   ([`signals`]) until the next tick or deadline; a child's exit wakes it
//!   and the crash is recorded at once in the ledger ([`ledger`]), which is
//!   published in `daemon.state` so backoff survives a restart.
//!
//! # Driving the loop yourself
//!
//! ```
//! use bach::config::Config;
//! use bach::reconcile::{Key, Ledger, Watcher};
//! use bach::store::Want;
//! use bach::supervisor::{Host, Spawned, Supervised, Supervisor, Wake};
//! use std::collections::BTreeMap;
//!
//! /// A fake process table and a fake clock.
//! struct Fake { now: u64, table: Supervised, spawns: u32 }
//!
//! impl Host for Fake {
//!     fn now(&mut self) -> u64 { self.now }
//!     fn read_supervised(&mut self) -> Result<Supervised, String> { Ok(self.table.clone()) }
//!     fn read_desired(&mut self, desired: &mut BTreeMap<Key, Want>) {
//!         let want = Want { artifact: "/runs/a.jsonl".into(), sessions: vec!["s1".into()], all_gone: false };
//!         *desired = BTreeMap::from([("0123456789abcdef".to_string(), want)]);
//!     }
//!     fn spawn(&mut self, key: &str, _artifact: &str) -> Result<Spawned, String> {
//!         self.spawns += 1;
//!         self.table.insert(key.into(), vec![Watcher { pid: 4242, pgid: 4242, holds_lock: None }]);
//!         Ok(Spawned::Started(4242))
//!     }
//!     fn retire(&mut self, _key: &str, _pid: i32, _pgid: i32, _signal: i32) {}
//!     fn wait(&mut self, deadline: u64) -> Wake { self.now = deadline; Wake::default() }
//!     fn report(&mut self, _events: &[String], _ledger: &Ledger, _problem: Option<&str>) {}
//! }
//!
//! let mut host = Fake { now: 1_000, table: Supervised::new(), spawns: 0 };
//! let mut sup = Supervisor::new(Config::default(), Ledger::new());
//! let first = sup.tick(&mut host, true);
//! assert_eq!(first.spawn, vec![("0123456789abcdef".to_string(), "/runs/a.jsonl".to_string())]);
//! for _ in 0..2 {
//!     host.now += 5_000;
//!     let plan = sup.tick(&mut host, true);
//!     assert!(plan.spawn.is_empty(), "a supervised artifact is never spawned again");
//! }
//! assert_eq!(host.spawns, 1);
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod agent;
pub mod claude;
pub mod cli;
pub mod codex;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod error;
pub mod files;
pub mod flatjson;
mod follow;
pub mod json;
mod judge;
pub mod kv;
pub mod ledger;
pub mod lifecycle;
pub mod lock;
pub mod log;
pub mod procs;
pub mod ps;
pub mod reconcile;
pub mod report;
pub mod service;
pub mod signals;
pub mod spawn;
pub mod status;
pub mod store;
pub mod supervisor;
pub mod sys;
pub mod taskdir;
pub mod text;
pub mod watcher;
