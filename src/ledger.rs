//! `daemon.state`: the daemon's header (pid, start, the settings in force,
//! any problem) and the crash ledger, so backoff survives a restart and
//! `daemon status` can show it. Rebuilt from observation and written
//! atomically when it changes; readers trust the header only while that pid
//! holds `daemon.lock`. Times are Unix seconds on disk, milliseconds inside.

use crate::config::Config;
use crate::kv;
use crate::reconcile::{Entry, Ledger};

/// The most `daemon.state` may hold.
pub const MAX: u64 = 8 << 20;

/// The header of `daemon.state`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// The daemon's pid.
    pub pid: i32,
    /// When it started (Unix seconds).
    pub started: u64,
    /// The reconcile interval in force.
    pub reconcile_seconds: u64,
    /// What keeps it from supervising now.
    pub problem: Option<String>,
}

/// Renders the state file: header, settings, then the entries worth keeping
/// (a crash count or a stray timer).
pub fn render(h: &Header, c: &Config, ledger: &Ledger) -> String {
    let n = |v: u64| Some(v.to_string());
    let mut out = kv::render([
        ("pid", Some(h.pid.to_string())),
        ("started", n(h.started)),
        ("reconcile_seconds", n(h.reconcile_seconds)),
        ("backoff_base_seconds", n(c.backoff_base_seconds)),
        ("backoff_max_seconds", n(c.backoff_max_seconds)),
        ("backoff_reset_seconds", n(c.backoff_reset_seconds)),
        ("stray_grace_seconds", n(c.stray_grace_seconds)),
        ("problem", h.problem.clone()),
    ]);
    let secs = |ms: Option<u64>| ms.map(|t| t.div_ceil(1000).to_string());
    for (key, e) in ledger.iter().filter(|(_, e)| e.crashes > 0 || e.stray_since.is_some()) {
        let names = ["artifact", "crashes", "last_exit", "since", "next_retry", "stray_since"]
            .map(|f| format!("{key}.{f}"));
        let values = [
            Some(e.artifact.clone()),
            n(u64::from(e.crashes)),
            e.last_exit.clone(),
            secs(e.since),
            secs(e.next_retry),
            secs(e.stray_since),
        ];
        out.push_str(&kv::render(names.iter().map(String::as_str).zip(values)));
    }
    out
}

/// Parses a state file: its header and ledger (entries not `running`).
/// Lines it does not understand are ignored: the file is rebuilt anyway.
pub fn parse(text: &str) -> Option<(Header, Ledger)> {
    let fields = kv::parse(text).ok()?;
    let num = |k: &str| kv::get(&fields, k).and_then(|v| v.parse::<u64>().ok());
    let header = Header {
        pid: kv::get(&fields, "pid")?.parse().ok()?,
        started: num("started")?,
        reconcile_seconds: num("reconcile_seconds").unwrap_or(0),
        problem: kv::get(&fields, "problem").map(String::from),
    };
    let mut ledger = Ledger::new();
    for f in &fields {
        let Some((key, field)) = f.key.split_once('.') else { continue };
        let e: &mut Entry = ledger.entry(key.to_string()).or_default();
        let ms = || f.value.parse::<u64>().ok().map(|s| s * 1000);
        match field {
            "artifact" => e.artifact = f.value.to_string(),
            "crashes" => e.crashes = f.value.parse().unwrap_or(0),
            "last_exit" => e.last_exit = Some(f.value.to_string()),
            "since" => e.since = ms(),
            "next_retry" => e.next_retry = ms(),
            "stray_since" => e.stray_since = ms(),
            _ => {}
        }
    }
    ledger.retain(|k, e| k.len() == 16 && e.artifact.starts_with('/'));
    Some((header, ledger))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_round_trips_in_whole_seconds() {
        let mut led = Ledger::new();
        let e = Entry {
            artifact: "/a b/ü".into(),
            crashes: 3,
            last_exit: Some("exit 1".into()),
            since: None,
            next_retry: Some(12_000),
            ..Entry::default()
        };
        led.insert("0123456789abcdef".into(), e.clone());
        led.insert(
            "fedcba9876543210".into(),
            Entry { artifact: "/quiet".into(), running: true, ..Entry::default() },
        );
        let h =
            Header { pid: 42, started: 7, reconcile_seconds: 5, problem: Some("ps failed".into()) };
        let text = render(&h, &Config::default(), &led);
        assert!(text.contains("0123456789abcdef.next_retry = 12\n"));
        assert!(
            !text.contains("fedcba9876543210"),
            "entries without crashes or stray timer are left out"
        );
        let (h2, led2) = parse(&text).unwrap();
        assert_eq!(h2, h);
        assert_eq!(led2.len(), 1);
        assert_eq!(led2["0123456789abcdef"], e);
    }

    #[test]
    fn garbage_is_no_state() {
        assert_eq!(parse("nonsense"), None);
        assert_eq!(parse("pid = x\nstarted = 1"), None);
        let (_, led) =
            parse("pid = 1\nstarted = 2\nbad.artifact = /x\n0123456789abcdef.crashes = 2\n")
                .unwrap();
        assert!(led.is_empty(), "entries without a valid key and artifact are dropped");
    }
}
