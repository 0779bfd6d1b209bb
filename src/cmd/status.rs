//! `bach daemon status`: what the daemon is doing, pulled from the lock
//! (`F_GETLK` names the running daemon), `daemon.state` and `ps`, so it works
//! over plain SSH and when the daemon is down. Exit 0 running, 3 not.
//! Invariant: whether the daemon runs comes from the lock alone; a missing,
//! stale or unwritable `daemon.state` only makes the details unknown.

use super::{open, records, table};
use crate::error::Result;
use crate::json::Json;
use crate::ledger::{self, Header, Stored};
use crate::ps::{self, WatcherProc};
use crate::store::{self, Want};
use crate::targets::Me;
use crate::{files, lock, log, text, time};

/// The daemon as the lock and its state file show it.
struct Daemon {
    /// The holder of `daemon.lock`: it runs.
    pid: Option<i32>,
    /// Its header, when `daemon.state` is the running daemon's.
    header: Option<Header>,
}

/// One desired artifact as the status shows it.
struct Line<'a> {
    key: &'a str,
    want: &'a Want,
    watcher: Option<i32>,
    up: Option<u64>,
    /// What the daemon remembers of the key (nothing, by default).
    entry: Stored,
}

impl Line<'_> {
    fn state(&self, now: u64) -> &'static str {
        match (&self.watcher, self.entry.next_retry) {
            (Some(_), _) => "supervised",
            (None, Some(t)) if t > now => "backoff",
            _ => "pending",
        }
    }

    fn describe(&self, now: u64) -> String {
        let e = &self.entry;
        match self.state(now) {
            "supervised" => format!(
                "supervised (pid {}, up {})",
                text::or_dash(self.watcher),
                self.up.map_or("?".into(), text::duration)
            ),
            "backoff" => format!(
                "waiting: crashed {} times, last {}, retry in {}",
                e.crashes,
                e.last_exit.as_ref().map_or("exit unknown".into(), |x| x.to_string()),
                text::duration(e.next_retry.unwrap_or(0).saturating_sub(now))
            ),
            _ => "pending: no watcher yet".into(),
        }
    }
}

/// `bach daemon status [--json]`
pub fn status(json: bool) -> Result<u8> {
    let (st, _) = open()?;
    let now = time::now();
    let pid = lock::holder(&st.home.daemon_lock()).ok().flatten();
    let text = files::read_small(&st.home.daemon_state(), ledger::MAX).ok().flatten();
    let (header, led) = text.as_deref().map(ledger::parse).unwrap_or_default();
    let daemon = Daemon { pid, header: header.filter(|h| pid == Some(h.pid)) };
    // What the daemon is doing is worth saying even when the store is not.
    let (sessions, tasks) = records(&st).unwrap_or_else(|e| {
        log::warn(&e.to_string());
        (Vec::new(), Vec::new())
    });
    let procs = table(&sessions);
    let desired = store::desired(st.home.as_str(), &sessions, &tasks, procs.as_deref());
    let me = Me::new()?;
    let watchers = procs.as_deref().map(|p| ps::watchers(p, me.uid, &me.shown)).unwrap_or_default();
    let lines: Vec<Line> = desired
        .iter()
        .filter(|(_, w)| !w.all_gone)
        .map(|(key, want)| {
            let watcher = lock::holder(&st.home.lock(key)).ok().flatten();
            let start = watcher
                .and_then(|pid| ps::find(procs.as_deref()?, pid))
                .and_then(|p| time::lstart_secs(&p.start));
            let up = start.map(|s| now.saturating_sub(s));
            Line { key, want, watcher, up, entry: led.get(key).cloned().unwrap_or_default() }
        })
        .collect();
    let strays: Vec<&WatcherProc> = watchers
        .iter()
        .filter(|w| {
            desired.get(&w.key).map_or(true, |d| d.all_gone) && st.home.lock(&w.key).exists()
        })
        .collect();
    match json {
        true => print_json(&daemon, &lines, &strays, now),
        false => print_text(&daemon, &lines, &strays, now),
    }
    Ok(if daemon.pid.is_some() { 0 } else { 3 })
}

fn print_text(d: &Daemon, lines: &[Line], strays: &[&WatcherProc], now: u64) {
    match (d.pid, &d.header) {
        (Some(_), Some(h)) => say!(
            "daemon: running (pid {}, up {}, every {}s)",
            h.pid,
            text::duration(now.saturating_sub(h.started)),
            h.reconcile_seconds
        ),
        (Some(pid), None) => say!("daemon: running (pid {pid}; its daemon.state is not readable)"),
        (None, _) => say!("daemon: not running"),
    }
    if let Some(p) = d.header.as_ref().and_then(|h| h.problem.as_deref()) {
        say!("problem: {}", text::escape(p));
    }
    if let Some(e) = d.header.as_ref().and_then(|h| h.events.as_deref()) {
        say!("events: {}", text::escape(e));
    }
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| vec![l.want.artifact.clone(), l.want.sessions.join(","), l.describe(now)])
        .collect();
    log::stdout(&text::table("ARTIFACT SESSIONS STATE", &rows));
    if !strays.is_empty() {
        let rows: Vec<Vec<String>> = strays
            .iter()
            .map(|w| vec![w.artifact.clone(), w.key.clone(), w.pid.to_string()])
            .collect();
        log::stdout(&format!("strays:\n{}", text::table("ARTIFACT KEY PID", &rows)));
    }
}

fn print_json(d: &Daemon, lines: &[Line], strays: &[&WatcherProc], now: u64) {
    let int = |v: Option<u64>| Json::opt_int(v.map(|v| v as i64));
    let artifacts = lines.iter().map(|l| {
        let e = &l.entry;
        Json::Obj(vec![
            ("artifact", Json::Str(l.want.artifact.clone())),
            ("key", Json::Str(l.key.into())),
            ("sessions", Json::Arr(l.want.sessions.iter().cloned().map(Json::Str).collect())),
            ("state", Json::Str(l.state(now).into())),
            ("watcher_pid", Json::opt_int(l.watcher)),
            ("crashes", Json::Int(i64::from(e.crashes))),
            ("last_exit", Json::opt_str(e.last_exit.as_ref().map(|x| x.to_string()))),
            ("next_retry", int(e.next_retry)),
        ])
    });
    let strays = strays.iter().map(|w| {
        Json::Obj(vec![
            ("artifact", Json::Str(w.artifact.clone())),
            ("key", Json::Str(w.key.clone())),
            ("pid", Json::Int(i64::from(w.pid))),
        ])
    });
    let h = d.header.as_ref();
    let doc = Json::document(vec![
        ("running", Json::Bool(d.pid.is_some())),
        ("pid", Json::opt_int(d.pid)),
        ("started", int(h.map(|h| h.started))),
        ("reconcile_seconds", int(h.map(|h| h.reconcile_seconds))),
        ("problem", Json::opt_str(h.and_then(|h| h.problem.clone()))),
        ("events", Json::opt_str(h.and_then(|h| h.events.clone()))),
        ("artifacts", Json::Arr(artifacts.collect())),
        ("strays", Json::Arr(strays.collect())),
    ]);
    say!("{}", doc.render());
}
