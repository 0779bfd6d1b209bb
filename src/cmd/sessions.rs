//! `bach sessions start|end|list`.

use super::{open, records, stop_undesired, table};
use crate::error::{reason, Error, Result};
use crate::home::Home;
use crate::json::Json;
use crate::store::{self, Life, Session, Task};
use crate::watcher::status::{Status, WatchState};
use crate::{files, lock, log, spawn, text, time};
use std::collections::BTreeMap;

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
    let task = task.transpose()?;
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

/// One row of `sessions list`.
struct Row<'a> {
    s: &'a Session,
    task: Option<&'a Task>,
    life: Life,
    supervisable: bool,
    watcher: Option<i32>,
    status: Option<Status>,
    /// The watcher's state, when a live watcher (the lock holder) wrote it.
    observed: Option<WatchState>,
}

/// `sessions list`
pub fn list(json: bool) -> Result<()> {
    let (st, _) = open()?;
    let (sessions, tasks) = records(&st)?;
    let procs = table(&sessions);
    let mut watchers: BTreeMap<String, (Option<i32>, Option<Status>)> = BTreeMap::new();
    let rows: Vec<Row> = sessions
        .iter()
        .map(|s| {
            let life = store::life(s, procs.as_deref());
            let key = st.home.key(&s.artifact);
            let (watcher, status) =
                watchers.entry(key.clone()).or_insert_with(|| watcher_of(&st.home, &key)).clone();
            let task = s.task.as_deref().and_then(|id| tasks.iter().find(|t| t.id == id));
            let supervisable = store::supervisable(s, &tasks, life);
            let observed = status.as_ref().filter(|x| Some(x.pid) == watcher).map(|x| x.state);
            Row { s, task, life, supervisable, watcher, status, observed }
        })
        .collect();
    if json {
        let doc =
            Json::document(vec![("sessions", Json::Arr(rows.iter().map(row_json).collect()))]);
        say!("{}", doc.render());
        return Ok(());
    }
    let now = time::now();
    let cells: Vec<Vec<String>> = rows.iter().map(|r| row_cells(r, now)).collect();
    let headers = "ID TASK STATE SUPERVISED WATCHER OBSERVED ACTIVITY LINES VERDICT ARTIFACT";
    log::stdout(&text::table(headers, &cells));
    Ok(())
}

fn row_cells(r: &Row, now: u64) -> Vec<String> {
    let st = r.status.as_ref();
    vec![
        r.s.id.clone(),
        r.task.map_or_else(
            || text::or_dash(r.s.task.as_deref()),
            |k| format!("{} ({})", k.id, k.state.as_str()),
        ),
        r.life.as_str().into(),
        if r.supervisable { "yes" } else { "no" }.into(),
        text::or_dash(r.watcher),
        text::or_dash(r.observed.map(WatchState::as_str)),
        text::ago(st.and_then(|s| s.last_activity), now),
        text::or_dash(st.map(|s| s.lines)),
        text::or_dash(st.and_then(|s| s.verdict.clone())),
        r.s.artifact.clone(),
    ]
}

/// The lock holder of a key and the status file it wrote.
fn watcher_of(home: &Home, key: &str) -> (Option<i32>, Option<Status>) {
    let holder = lock::holder(&home.lock(key)).ok().flatten();
    let text = files::read_small(&home.status(key), files::RECORD_MAX);
    (holder, text.ok().flatten().and_then(|t| Status::parse(&t)))
}

fn row_json(r: &Row) -> Json {
    let st = r.status.as_ref();
    let time = |t: Option<u64>| Json::opt_int(t.map(|t| t as i64));
    Json::Obj(vec![
        ("id", Json::Str(r.s.id.clone())),
        ("task", Json::opt_str(r.task.map(|t| t.id.clone()))),
        ("task_state", Json::opt_str(r.task.map(|t| t.state.as_str()))),
        ("artifact", Json::Str(r.s.artifact.clone())),
        ("state", Json::Str(r.life.as_str().into())),
        ("pid", Json::opt_int(r.s.pid)),
        ("supervisable", Json::Bool(r.supervisable)),
        ("watcher_pid", Json::opt_int(r.watcher)),
        ("observed", Json::opt_str(r.observed.map(WatchState::as_str))),
        ("lines", Json::Int(st.map_or(0, |s| s.lines as i64))),
        ("bytes", Json::Int(st.map_or(0, |s| s.bytes as i64))),
        ("last_activity", time(st.and_then(|s| s.last_activity))),
        ("verdict", Json::opt_str(st.and_then(|s| s.verdict.clone()))),
        ("verdict_at", time(st.and_then(|s| s.verdict_at))),
        ("started", Json::Int(r.s.started as i64)),
    ])
}
