//! The `tasks` and `sessions` commands: thin layers over the store, the
//! process table and the watchers' status files.

use crate::config::Config;
use crate::error::{reason, Error, Result};
use crate::files::{self, now};
use crate::json::Json;
use crate::ps::Proc;
use crate::status::Status;
use crate::store::{self, Life, Session, Store, Task, TaskState};
use crate::{lock, procs, spawn, text};
use std::collections::BTreeMap;
use std::time::Duration;

/// Says on stderr which records were skipped and why.
pub fn warn_problems(problems: &[store::Problem]) {
    for p in problems {
        eprintln!("bach: warning: skipped {p}");
    }
}

/// The store and the config for a command (a broken config is warned
/// about once and replaced by the defaults: only `daemon run` refuses it).
pub fn open() -> Result<(Store, Config)> {
    let st = Store::open()?;
    let config = Config::load_or_warn(&st.home);
    Ok((st, config))
}

/// The process table for a command, or `None` (with a warning) if `ps` fails.
pub fn table() -> Option<Vec<Proc>> {
    procs::snapshot(Duration::from_secs(5)).map_err(|e| eprintln!("bach: warning: {e}")).ok()
}

/// `tasks add`
pub fn task_add(id: Option<&str>, title: &str) -> Result<()> {
    let (st, _) = open()?;
    println!("{}", st.add_task(id, title, now())?);
    Ok(())
}

/// `tasks done|cancel|reopen`
pub fn task_set(id: &str, verb: &str) -> Result<()> {
    let (st, _) = open()?;
    let mut task = st.task(id)?.ok_or_else(|| Error::fail(format!("unknown task '{id}'")))?;
    let state = match verb {
        "done" => TaskState::Done,
        "cancel" => TaskState::Cancelled,
        _ => TaskState::Open,
    };
    if task.state == state {
        eprintln!("bach: note: task '{id}' is already {}", state.as_str());
        return Ok(());
    }
    task.state = state;
    st.put_task(&task)?;
    if state.terminal() {
        let (sessions, _) = st.sessions();
        let ours = sessions.iter().filter(|s| s.task.as_deref() == Some(id));
        stop_undesired(&st, ours.map(|s| store::key(st.home_str(), &s.artifact)).collect());
    }
    Ok(())
}

/// SIGTERM to the watcher of each of `keys` that is no longer desired.
fn stop_undesired(st: &Store, keys: Vec<String>) {
    if keys.is_empty() {
        return;
    }
    let Some(procs) = table() else { return };
    let (sessions, _) = st.sessions();
    let (tasks, _) = st.tasks();
    let desired = store::desired(st.home_str(), &sessions, &tasks, Some(&procs));
    for key in keys.iter().filter(|k| desired.get(*k).map_or(true, |w| w.all_gone)) {
        spawn::signal_watcher(&st.home, key, &procs, libc::SIGTERM);
    }
}

/// `tasks list`
pub fn task_list(json: bool) -> Result<()> {
    let (st, _) = open()?;
    let (tasks, problems) = st.tasks();
    warn_problems(&problems);
    if json {
        let items = tasks.iter().map(|t| {
            Json::Obj(vec![
                ("id", Json::Str(t.id.clone())),
                ("title", Json::Str(t.title.clone())),
                ("state", Json::Str(t.state.as_str().into())),
                ("created", Json::Int(t.created as i64)),
            ])
        });
        println!("{}", Json::Obj(vec![("tasks", Json::Arr(items.collect()))]).render());
        return Ok(());
    }
    let t = now();
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|k| {
            vec![
                k.id.clone(),
                k.state.as_str().into(),
                text::ago(Some(k.created), t),
                k.title.clone(),
            ]
        })
        .collect();
    print!("{}", text::table("ID STATE CREATED TITLE", &rows));
    Ok(())
}

/// `sessions start`
pub fn session_start(
    artifact: &str,
    task: Option<&str>,
    pid: Option<i32>,
    id: Option<&str>,
    no_watch: bool,
) -> Result<()> {
    let artifact = store::normalize_artifact(&files::cwd()?, artifact).map_err(Error::usage)?;
    let (st, config) = open()?;
    let task = task.map(|t| st.task(t)?.ok_or_else(|| Error::fail(format!("unknown task '{t}'"))));
    let task = task.transpose()?;
    let (mut procs, mut pid_uid, mut pid_start) = (None, None, None);
    if let Some(pid) = pid {
        let table = procs::snapshot(Duration::from_secs(5))
            .map_err(|e| Error::fail(format!("cannot check --pid {pid}: {e}")))?;
        let p = crate::ps::find(&table, pid).filter(|p| !p.zombie && p.uid == crate::sys::getuid());
        let p = p.ok_or_else(|| {
            Error::fail(format!("--pid {pid} names no running process of this user"))
        })?;
        (pid_uid, pid_start) = (Some(p.uid), Some(p.start.clone()));
        procs = Some(table);
    }
    // Live, not ended; `add_session` gives it its id.
    let s = Session {
        artifact,
        task: task.as_ref().map(|t| t.id.clone()),
        pid,
        pid_uid,
        pid_start,
        started: now(),
        ..Default::default()
    };
    let id = st.add_session(id, &s)?;
    println!("{id}");
    let supervisable = store::supervisable(&s, task.as_slice(), store::life(&s, procs.as_deref()));
    if config.watch_on_launch && !no_watch && supervisable {
        let exe = std::env::current_exe()
            .map_err(|e| Error::fail(format!("cannot find bach's own path: {}", reason(&e))))?;
        let key = store::key(st.home_str(), &s.artifact);
        if let Err(e) =
            spawn::spawn_watcher(&exe, &st.home, &key, &s.artifact, config.log_max_bytes)
        {
            eprintln!("bach: warning: cannot start the watcher: {}; the daemon will", reason(&e));
        }
    }
    Ok(())
}

/// `sessions end`
pub fn session_end(id: &str) -> Result<()> {
    let (st, _) = open()?;
    let mut s = st.session(id)?.ok_or_else(|| Error::fail(format!("unknown session '{id}'")))?;
    if s.ended {
        eprintln!("bach: note: session '{id}' has already ended");
        return Ok(());
    }
    (s.ended, s.ended_at) = (true, Some(now()));
    st.put_session(&s)?;
    stop_undesired(&st, vec![store::key(st.home_str(), &s.artifact)]);
    Ok(())
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
    observed: Option<String>,
}

/// `sessions list`
pub fn session_list(json: bool) -> Result<()> {
    let (st, _) = open()?;
    let (sessions, p1) = st.sessions();
    let (tasks, p2) = st.tasks();
    warn_problems(&p1);
    warn_problems(&p2);
    let procs = table();
    let mut watchers: BTreeMap<String, (Option<i32>, Option<Status>)> = BTreeMap::new();
    let rows: Vec<Row> = sessions
        .iter()
        .map(|s| {
            let life = store::life(s, procs.as_deref());
            let key = store::key(st.home_str(), &s.artifact);
            let (watcher, status) =
                watchers.entry(key.clone()).or_insert_with(|| watcher_of(&st, &key)).clone();
            let task = s.task.as_deref().and_then(|id| tasks.iter().find(|t| t.id == id));
            let supervisable = store::supervisable(s, &tasks, life);
            let observed =
                status.as_ref().filter(|x| Some(x.pid) == watcher).map(|x| x.state.clone());
            Row { s, task, life, supervisable, watcher, status, observed }
        })
        .collect();
    if json {
        let doc = Json::Obj(vec![("sessions", Json::Arr(rows.iter().map(row_json).collect()))]);
        println!("{}", doc.render());
        return Ok(());
    }
    let t = now();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
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
                text::or_dash(r.observed.clone()),
                text::ago(st.and_then(|s| s.last_activity), t),
                text::or_dash(st.map(|s| s.lines)),
                text::or_dash(st.and_then(|s| s.verdict.clone())),
                r.s.artifact.clone(),
            ]
        })
        .collect();
    let headers = "ID TASK STATE SUPERVISED WATCHER OBSERVED ACTIVITY LINES VERDICT ARTIFACT";
    print!("{}", text::table(headers, &cells));
    Ok(())
}

/// The lock holder of a key and the status file it wrote.
fn watcher_of(st: &Store, key: &str) -> (Option<i32>, Option<Status>) {
    let holder = lock::holder(&spawn::lock_path(&st.home, key)).ok().flatten();
    let text = files::read_small(&spawn::status_path(&st.home, key), files::RECORD_MAX);
    (holder, text.ok().flatten().and_then(|t| Status::parse(&t)))
}

fn row_json(r: &Row) -> Json {
    let st = r.status.as_ref();
    Json::Obj(vec![
        ("id", Json::Str(r.s.id.clone())),
        ("task", Json::opt_str(r.task.map(|t| t.id.clone()))),
        ("task_state", Json::opt_str(r.task.map(|t| t.state.as_str()))),
        ("artifact", Json::Str(r.s.artifact.clone())),
        ("state", Json::Str(r.life.as_str().into())),
        ("pid", Json::opt_int(r.s.pid)),
        ("supervisable", Json::Bool(r.supervisable)),
        ("watcher_pid", Json::opt_int(r.watcher)),
        ("observed", Json::opt_str(r.observed.clone())),
        ("lines", Json::Int(st.map_or(0, |s| s.lines as i64))),
        ("bytes", Json::Int(st.map_or(0, |s| s.bytes as i64))),
        ("last_activity", Json::opt_int(st.and_then(|s| s.last_activity).map(|t| t as i64))),
        ("verdict", Json::opt_str(st.and_then(|s| s.verdict.clone()))),
        ("verdict_at", Json::opt_int(st.and_then(|s| s.verdict_at).map(|t| t as i64))),
        ("started", Json::Int(r.s.started as i64)),
    ])
}
