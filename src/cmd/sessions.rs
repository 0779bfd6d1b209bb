//! `bach sessions start|end` (`list` and `show` are in `show`, `wait` in `wait`).

use super::{open, stop_undesired};
use crate::error::{reason, Error, Result};
use crate::store::{self, Session, Task};
use crate::{lock, log, spawn, time};

/// What `sessions start` was given.
pub struct Start<'a> {
    /// `--artifact`, as given.
    pub artifact: &'a str,
    /// `--task`
    pub task: Option<&'a str>,
    /// `--pid`
    pub pid: Option<i32>,
    /// `--id`
    pub id: Option<&'a str>,
    /// `--no-watch`
    pub no_watch: bool,
}

/// `sessions start`
pub fn start(a: &Start) -> Result<()> {
    let artifact =
        store::normalize_artifact(&crate::home::cwd()?, a.artifact).map_err(Error::usage)?;
    let (st, config) = open()?;
    let task =
        a.task.map(|t| st.task(t)?.ok_or_else(|| Error::fail(format!("unknown task '{t}'"))));
    let task = match task.transpose()? {
        Some(t) => Some(t),
        None => task_of_folder(&st, a.pid),
    };
    let mut s = Session {
        artifact,
        task: task.as_ref().map(|t| t.id.clone()),
        pid: a.pid,
        started: time::now(),
        ..Session::default()
    };
    let mut procs = None;
    if let Some(pid) = a.pid {
        let mut table = crate::procs::snapshot()
            .map_err(|e| Error::fail(format!("cannot check --pid {pid}: {e}")))?;
        crate::procs::add_ticks(&mut table, &[pid].into());
        let p = crate::ps::find(&table, pid).filter(|p| !p.zombie && p.uid == crate::sys::getuid());
        let p = p.ok_or_else(|| {
            Error::fail(format!("--pid {pid} names no running process of this user"))
        })?;
        (s.pid_uid, s.pid_start, s.pid_ticks) = (Some(p.uid), Some(p.start.clone()), p.ticks);
        procs = Some(table);
    }
    let id = st.add_session(a.id, &s)?;
    say!("{id}");
    let supervisable = store::supervisable(&s, task.as_slice(), store::life(&s, procs.as_deref()));
    // With a daemon running, the record is all it needs: it sees it at once
    // and spawns the watcher as its own child, in the service.
    let daemon = matches!(lock::holder(&st.home.daemon_lock()), Ok(Some(_)));
    if config.watch_on_launch && !a.no_watch && supervisable && !daemon {
        let key = st.home.key(&s.artifact);
        let spawned = crate::home::exe().map_err(|e| e.to_string()).and_then(|exe| {
            spawn::watcher(&exe, &st.home, &key, &s.artifact, config.log_max_bytes)
                .map_err(|e| reason(&e))
        });
        if let Err(e) = spawned {
            log::warn(&format!("cannot start the watcher: {e}; the daemon will"));
        }
    }
    Ok(())
}

/// Without `--task`: the task whose `dir` holds the folder of the `--pid`
/// process (else our own), by the folder rule alone, never an auto task.
fn task_of_folder(st: &store::Store, pid: Option<i32>) -> Option<Task> {
    let cwd = pid.and_then(|p| crate::sys::proc_cwd(p).ok()).or_else(|| crate::home::cwd().ok())?;
    let tasks = st.tasks().map(|l| l.0).unwrap_or_default();
    let id = crate::register::by_dir(&tasks, cwd.to_str()?)?;
    tasks.into_iter().find(|t| t.id == id)
}

/// `sessions end`
pub fn end(id: &str) -> Result<()> {
    let (st, _) = open()?;
    let mut s = st.session(id)?.ok_or_else(|| Error::fail(format!("unknown session '{id}'")))?;
    if s.ended {
        log::note(&format!("session '{id}' has already ended"));
        return Ok(());
    }
    (s.ended, s.ended_at) = (true, Some(time::now()));
    st.put_session(&s)?;
    stop_undesired(&st, vec![st.home.key(&s.artifact)])
}
