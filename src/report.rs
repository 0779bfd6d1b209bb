//! `bach daemon status`: what the daemon is doing, pulled from the lock
//! (`F_GETLK` names the running daemon), `daemon.state` and `ps`, so it works
//! over plain SSH and when the daemon is down. Exit 0 running, 3 not.

use crate::error::Result;
use crate::json::Json;
use crate::ledger::Header;
use crate::ps::WatcherProc;
use crate::reconcile::Entry;
use crate::store::{self, Want};
use crate::{commands, files, ledger, lock, ps, spawn, sys, text};

/// One desired artifact as the status shows it.
struct Line<'a> {
    key: &'a str,
    want: &'a Want,
    watcher: Option<i32>,
    up: Option<u64>,
    /// What the daemon remembers of the key (the default when nothing).
    entry: Entry,
}

impl Line<'_> {
    fn state(&self, now: u64) -> &'static str {
        match (&self.watcher, self.entry.next_retry) {
            (Some(_), _) => "supervised",
            (None, Some(t)) if t > now * 1000 => "backoff",
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
                e.last_exit.as_deref().unwrap_or("exit unknown"),
                text::duration(e.next_retry.unwrap_or(0).div_ceil(1000).saturating_sub(now))
            ),
            _ => "pending: no watcher yet".into(),
        }
    }
}

/// Seconds since the epoch of a `ps` start time printed under `TZ=UTC`:
/// `Wed Nov 25 04:31:14 2026`.
pub fn lstart_secs(s: &str) -> Option<u64> {
    let w: Vec<&str> = s.split_whitespace().collect();
    let [_, mon, day, time, year] = w[..] else { return None };
    let months =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let m = months.iter().position(|&x| x == mon)? as i64 + 1;
    let (d, y): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<u64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, mi, se] = hms[..] else { return None };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    Some(days * 86400 + h * 3600 + mi * 60 + se)
}

/// `bach daemon status [--json]`
pub fn status(json: bool) -> Result<u8> {
    let (st, _) = commands::open()?;
    let now = files::now();
    let holder = lock::holder(&st.home.join("daemon.lock")).ok().flatten();
    let state = files::read_small(&st.home.join("daemon.state"), ledger::MAX).ok().flatten();
    let (header, led) = state.and_then(|t| ledger::parse(&t)).unwrap_or_default();
    let header = Some(header).filter(|h| Some(h.pid) == holder);
    let procs = commands::table();
    let (sessions, p1) = st.sessions();
    let (tasks, p2) = st.tasks();
    commands::warn_problems(&p1);
    commands::warn_problems(&p2);
    let desired = store::desired(st.home_str(), &sessions, &tasks, procs.as_deref());
    let watchers = procs.as_deref().map(|p| ps::watchers(p, sys::getuid())).unwrap_or_default();
    let lines: Vec<Line> = desired
        .iter()
        .filter(|(_, w)| !w.all_gone)
        .map(|(key, want)| {
            let watcher = lock::holder(&spawn::lock_path(&st.home, key)).ok().flatten();
            let start = watcher
                .and_then(|pid| ps::find(procs.as_deref()?, pid))
                .and_then(|p| lstart_secs(&p.start));
            let up = start.map(|s| now.saturating_sub(s));
            Line { key, want, watcher, up, entry: led.get(key).cloned().unwrap_or_default() }
        })
        .collect();
    let strays: Vec<&WatcherProc> = watchers
        .iter()
        .filter(|w| {
            desired.get(&w.key).map_or(true, |d| d.all_gone)
                && spawn::lock_path(&st.home, &w.key).exists()
        })
        .collect();
    if json {
        print_json(header.as_ref(), &lines, &strays, now);
    } else {
        print_text(header.as_ref(), &lines, &strays, now);
    }
    Ok(if header.is_some() { 0 } else { 3 })
}

fn print_text(header: Option<&Header>, lines: &[Line], strays: &[&WatcherProc], now: u64) {
    match header {
        Some(h) => println!(
            "daemon: running (pid {}, up {}, every {}s)",
            h.pid,
            text::duration(now.saturating_sub(h.started)),
            h.reconcile_seconds
        ),
        None => println!("daemon: not running"),
    }
    if let Some(p) = header.and_then(|h| h.problem.as_deref()) {
        println!("problem: {}", text::escape(p));
    }
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| vec![l.want.artifact.clone(), l.want.sessions.join(","), l.describe(now)])
        .collect();
    print!("{}", text::table("ARTIFACT SESSIONS STATE", &rows));
    if !strays.is_empty() {
        let rows: Vec<Vec<String>> = strays
            .iter()
            .map(|w| vec![w.artifact.clone(), w.key.clone(), w.pid.to_string()])
            .collect();
        print!("strays:\n{}", text::table("ARTIFACT KEY PID", &rows));
    }
}

fn print_json(header: Option<&Header>, lines: &[Line], strays: &[&WatcherProc], now: u64) {
    let artifacts = lines.iter().map(|l| {
        let e = &l.entry;
        Json::Obj(vec![
            ("artifact", Json::Str(l.want.artifact.clone())),
            ("key", Json::Str(l.key.into())),
            ("sessions", Json::Arr(l.want.sessions.iter().cloned().map(Json::Str).collect())),
            ("state", Json::Str(l.state(now).into())),
            ("watcher_pid", Json::opt_int(l.watcher)),
            ("crashes", Json::Int(i64::from(e.crashes))),
            ("last_exit", Json::opt_str(e.last_exit.clone())),
            ("next_retry", Json::opt_int(e.next_retry.map(|t| t.div_ceil(1000) as i64))),
        ])
    });
    let strays = strays.iter().map(|w| {
        Json::Obj(vec![
            ("artifact", Json::Str(w.artifact.clone())),
            ("key", Json::Str(w.key.clone())),
            ("pid", Json::Int(i64::from(w.pid))),
        ])
    });
    let doc = Json::Obj(vec![
        ("running", Json::Bool(header.is_some())),
        ("pid", Json::opt_int(header.map(|h| h.pid))),
        ("started", Json::opt_int(header.map(|h| h.started as i64))),
        ("reconcile_seconds", Json::opt_int(header.map(|h| h.reconcile_seconds as i64))),
        ("problem", Json::opt_str(header.and_then(|h| h.problem.clone()))),
        ("artifacts", Json::Arr(artifacts.collect())),
        ("strays", Json::Arr(strays.collect())),
    ]);
    println!("{}", doc.render());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_start_times_convert_to_epoch_seconds() {
        assert_eq!(lstart_secs("Thu Jan  1 00:00:00 1970"), Some(0));
        assert_eq!(lstart_secs("Wed Nov 25 04:31:14 2026"), Some(1_795_581_074));
        assert_eq!(lstart_secs("Tue Feb 29 12:00:00 2000"), Some(951_825_600));
        for bad in [
            "",
            "Wed Nov 25 04:31 2026",
            "Wed Foo 25 04:31:14 2026",
            "Wed Nov xx 04:31:14 2026",
            "a b c d e f",
        ] {
            assert_eq!(lstart_secs(bad), None, "{bad:?}");
        }
    }
}
