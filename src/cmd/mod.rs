//! The commands people run: thin layers over the store, the process table
//! and the watchers' status files. What they share lives here: opening the
//! store with its config, reading the records and the table with one
//! warning each, and the SIGTERM that `sessions end` and `tasks done`
//! send to watchers no longer desired.

pub mod discover;
pub mod doctor;
pub mod hook;
pub mod lifecycle;
pub mod logs;
pub mod sessions;
pub mod show;
mod show_text;
pub mod status;
pub mod tasks;
pub mod wait;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::log;
use crate::ps::Proc;
use crate::store::{self, Problem, Session, Store, Task};
use crate::targets::{self, Me};

/// The store and the config for a command (a broken config is warned
/// about once and replaced by the defaults: only `daemon run` refuses it).
pub fn open() -> Result<(Store, Config)> {
    let st = Store::open()?;
    let config = Config::load_or_warn(st.home.path());
    Ok((st, config))
}

/// Says on stderr which records were skipped and why.
pub fn warn_problems(problems: &[Problem]) {
    for p in problems {
        log::warn(&format!("skipped {p}"));
    }
}

/// Every session and task that parses (the others are warned about); a
/// folder that cannot be read as a whole is an error.
pub fn records(st: &Store) -> Result<(Vec<Session>, Vec<Task>)> {
    let unreadable = |p: Problem| Error::fail(format!("cannot read {p}"));
    let (sessions, p1) = st.sessions().map_err(unreadable)?;
    let (tasks, p2) = st.tasks().map_err(unreadable)?;
    warn_problems(&p1);
    warn_problems(&p2);
    Ok((sessions, tasks))
}

/// The process table with the start ticks of the agents `sessions` name,
/// or `None` (with a warning) if `ps` fails.
pub fn table(sessions: &[Session]) -> Option<Vec<Proc>> {
    let mut procs = crate::procs::snapshot().map_err(|e| log::warn(&e)).ok()?;
    crate::procs::add_ticks(&mut procs, &sessions.iter().filter_map(|s| s.pid).collect());
    Some(procs)
}

/// SIGTERM to the watcher of each of `keys` that is no longer desired.
pub fn stop_undesired(st: &Store, keys: Vec<String>) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let (sessions, tasks) = records(st)?;
    let Some(procs) = table(&sessions) else { return Ok(()) };
    let desired = store::desired(st.home.as_str(), &sessions, &tasks, Some(&procs));
    let me = Me::new()?;
    for key in keys.iter().filter(|k| desired.get(*k).map_or(true, |w| w.all_gone)) {
        targets::signal_watcher(&st.home, key, &procs, &me, libc::SIGTERM);
    }
    Ok(())
}
