//! `daemon.state`: the daemon's header (pid, start, the settings in force,
//! any problem) and the crash ledger, so backoff survives a restart and
//! `daemon status` can show it. Rebuilt from observation and written
//! atomically when it changes; readers trust the header only while that pid
//! holds `daemon.lock`.
//!
//! Invariants: every entry written parses back (a value that could not is
//! left out, never written empty); a line that does not parse is skipped,
//! not the whole file; times are wall-clock seconds on disk and monotonic
//! milliseconds inside, and a stored time that lies in the future is
//! clamped on load so a clock that ran ahead cannot stall respawns.

use crate::config::Config;
use crate::kv;
use crate::reconcile::{Entry, Exit, Key, Ledger, Phase};
use crate::time::Clock;
use std::collections::BTreeMap;

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
    /// How it learns of changes: `pidfd+inotify`, `kqueue` or
    /// `polling: REASON`.
    pub events: Option<String>,
}

/// One ledger entry as `daemon.state` stores it (wall-clock seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// The artifact.
    pub artifact: String,
    /// Consecutive crashes.
    pub crashes: u32,
    /// How its last watcher ended.
    pub last_exit: Option<Exit>,
    /// When its watcher started running.
    pub since: Option<u64>,
    /// No spawn before this.
    pub next_retry: Option<u64>,
    /// When it was first seen running while not desired.
    pub stray_since: Option<u64>,
    /// When every session of the key was first seen gone.
    pub gone_at: Option<u64>,
}

/// What `daemon.state` says, as stored.
pub type State = (Header, BTreeMap<Key, Stored>);

/// An entry as it is stored, its times converted with `clock`.
pub fn store(e: &Entry, clock: Clock) -> Stored {
    let at = |t: u64| Some(clock.wall_secs(t));
    let (since, next_retry, stray_since) = match e.phase {
        Phase::Pending => (None, None, None),
        Phase::Spawned { at: t } | Phase::Running { since: t } => (at(t), None, None),
        Phase::Backoff { until } => (None, at(until), None),
        Phase::Stray { since } | Phase::Retiring { since, .. } | Phase::Killed { since, .. } => {
            (None, None, at(since))
        }
    };
    let (artifact, crashes, last_exit) = (e.artifact.clone(), e.crashes, e.last_exit.clone());
    let gone_at = e.gone_at.and_then(at);
    Stored { artifact, crashes, last_exit, since, next_retry, stray_since, gone_at }
}

/// A stored entry brought back: a retry at most `max` (ms) away, a stray
/// timer and a gone time no later than now. A watcher's running time is not restored: the
/// table says at the first tick whether it still runs.
pub fn restore(s: &Stored, clock: Clock, max: u64) -> Entry {
    let mono = |t: Option<u64>| t.and_then(|t| clock.mono_of(t));
    let phase = match (mono(s.next_retry), mono(s.stray_since)) {
        (Some(until), _) => Phase::Backoff { until: until.min(clock.mono.saturating_add(max)) },
        (None, Some(since)) => Phase::Stray { since: since.min(clock.mono) },
        (None, None) => Phase::Pending,
    };
    Entry {
        artifact: s.artifact.clone(),
        crashes: s.crashes,
        last_exit: s.last_exit.clone(),
        phase,
        gone_at: mono(s.gone_at).map(|t| t.min(clock.mono)),
    }
}

/// Renders the state file: header, settings, then the entries worth keeping
/// (a crash count, a stray timer or sessions gone).
pub fn render(h: &Header, c: &Config, ledger: &Ledger, clock: Clock) -> String {
    let n = |v: u64| Some(v.to_string());
    let mut out = kv::render([
        ("pid", Some(h.pid.to_string())),
        ("started", n(h.started)),
        ("reconcile_seconds", n(h.reconcile_seconds)),
        ("backoff_base_seconds", n(c.backoff_base_seconds)),
        ("backoff_max_seconds", n(c.backoff_max_seconds)),
        ("backoff_reset_seconds", n(c.backoff_reset_seconds)),
        ("stray_grace_seconds", n(c.stray_grace_seconds)),
        ("audit_seconds", n(c.audit_seconds)),
        ("events", h.events.clone()),
        ("problem", h.problem.clone()),
    ]);
    let stray = |e: &Entry| {
        matches!(e.phase, Phase::Stray { .. } | Phase::Retiring { .. } | Phase::Killed { .. })
    };
    let kept = |e: &&Entry| e.crashes > 0 || stray(e) || e.gone_at.is_some();
    for (key, e) in ledger.iter().filter(|(_, e)| kept(e)) {
        let s = store(e, clock);
        let names =
            ["artifact", "crashes", "last_exit", "since", "next_retry", "stray_since", "gone_at"]
                .map(|f| format!("{key}.{f}"));
        let values = [
            Some(s.artifact),
            n(u64::from(s.crashes)),
            s.last_exit.map(|x| x.to_string()),
            s.since.map(|t| t.to_string()),
            s.next_retry.map(|t| t.to_string()),
            s.stray_since.map(|t| t.to_string()),
            s.gone_at.map(|t| t.to_string()),
        ];
        out.push_str(&kv::render(names.iter().map(String::as_str).zip(values)));
    }
    out
}

/// Parses a state file: its header (`None` without a valid `pid` and
/// `started`) and its entries. Lines that do not parse, unknown fields,
/// bad numbers and entries without a valid key or absolute artifact are
/// skipped one by one: the file is rebuilt from observation anyway.
pub fn parse(text: &str) -> (Option<Header>, BTreeMap<Key, Stored>) {
    let fields: Vec<kv::Field> = kv::lines(text).filter_map(Result::ok).collect();
    let get = |k: &str| kv::get(&fields, k);
    let num = |k: &str| get(k).and_then(|v| v.parse::<u64>().ok());
    let header =
        get("pid").and_then(|p| p.parse().ok()).zip(num("started")).map(|(pid, started)| {
            let reconcile_seconds = num("reconcile_seconds").unwrap_or(0);
            let text = |k: &str| get(k).map(String::from);
            Header {
                pid,
                started,
                reconcile_seconds,
                problem: text("problem"),
                events: text("events"),
            }
        });
    let mut entries: BTreeMap<Key, Stored> = BTreeMap::new();
    for (i, f) in fields.iter().enumerate() {
        // Of a key given twice, the first counts.
        if fields[..i].iter().any(|g| g.key == f.key) {
            continue;
        }
        let Some((key, field)) = f.key.split_once('.') else { continue };
        let e = entries.entry(key.to_string()).or_default();
        let secs = || f.value.parse::<u64>().ok();
        match field {
            "artifact" => e.artifact = f.value.to_string(),
            "crashes" => e.crashes = f.value.parse().unwrap_or(0),
            "last_exit" => e.last_exit = Exit::parse(f.value),
            "since" => e.since = secs(),
            "next_retry" => e.next_retry = secs(),
            "stray_since" => e.stray_since = secs(),
            "gone_at" => e.gone_at = secs(),
            _ => {}
        }
    }
    entries.retain(|k, e| crate::key::valid(k) && e.artifact.starts_with('/'));
    (header, entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOCK: Clock = Clock { mono: 400_000_000_000, wall: 1_700_000_000_000 };

    fn entry(artifact: &str, crashes: u32, phase: Phase) -> Entry {
        let last_exit = Some(Exit::Code(1));
        Entry { artifact: artifact.into(), crashes, last_exit, phase, gone_at: None }
    }

    #[test]
    fn ledger_round_trips_in_whole_seconds() {
        let mut led = Ledger::new();
        let backoff = Phase::Backoff { until: CLOCK.mono + 12_000 };
        led.insert("0123456789abcdef".into(), entry("/a b/ü", 3, backoff));
        led.insert("fedcba9876543210".into(), entry("/quiet", 0, Phase::Pending));
        let stray = Phase::Stray { since: CLOCK.mono - 5_000 };
        led.insert("00000000000000aa".into(), entry("/stray", 0, stray));
        let gone = Entry { gone_at: Some(CLOCK.mono - 3_000), ..entry("/gone", 0, stray) };
        led.insert("00000000000000bb".into(), gone);
        let h = Header {
            pid: 42,
            started: 7,
            reconcile_seconds: 5,
            problem: Some("ps failed".into()),
            events: Some("pidfd+inotify".into()),
        };
        let text = render(&h, &Config::default(), &led, CLOCK);
        assert!(text.contains("0123456789abcdef.next_retry = 1700000012\n"), "{text}");
        assert!(text.contains("00000000000000bb.gone_at = 1699999997\n"), "{text}");
        assert!(text.contains("audit_seconds = 300\nevents = pidfd+inotify\n"), "{text}");
        assert!(!text.contains("fedcba9876543210"), "nothing to keep of a quiet key");
        let (h2, stored) = parse(&text);
        assert_eq!(h2, Some(h));
        assert_eq!(stored.len(), 3);
        let back = |k: &str| restore(&stored[k], CLOCK, 300_000);
        for k in ["0123456789abcdef", "00000000000000aa", "00000000000000bb"] {
            assert_eq!(back(k), led[k], "{k}");
        }
    }

    #[test]
    fn every_entry_written_parses_back_even_a_stray_never_desired() {
        let mut led = Ledger::new();
        // A hand-started watcher nobody desired: its artifact comes from `ps`.
        led.insert("0123456789abcdef".into(), entry("", 0, Phase::Stray { since: CLOCK.mono }));
        let text = render(&Header::default(), &Config::default(), &led, CLOCK);
        assert!(!text.lines().any(|l| l.trim_end().ends_with('=')), "no empty value: {text}");
        assert!(crate::kv::parse(&text).is_ok(), "{text}");
    }

    #[test]
    fn a_line_that_does_not_parse_is_skipped_not_the_file() {
        let text = "pid = 9\nstarted = 2\ngarbage\n0123456789abcdef.artifact = /a\n\
                    0123456789abcdef.crashes = 2\n0123456789abcdef.crashes = 3\nbad.artifact = /x\n\
                    fedcba9876543210.crashes = 1\n";
        let (h, stored) = parse(text);
        assert_eq!(h.map(|h| h.pid), Some(9));
        assert_eq!(stored.keys().collect::<Vec<_>>(), ["0123456789abcdef"]);
        assert_eq!(stored["0123456789abcdef"].crashes, 2, "the first of a duplicate counts");
        assert_eq!(parse("nonsense").0, None);
        assert_eq!(parse("pid = x\nstarted = 1").0, None);
    }

    #[test]
    fn times_from_a_clock_that_ran_ahead_are_clamped_on_load() {
        let far = Stored {
            artifact: "/a".into(),
            crashes: 4,
            next_retry: Some(4_102_444_800), // 2100
            ..Stored::default()
        };
        let e = restore(&far, CLOCK, 300_000);
        assert_eq!(e.phase, Phase::Backoff { until: CLOCK.mono + 300_000 });
        let stray = Stored { stray_since: Some(4_102_444_800), ..far.clone() };
        let stray = Stored { next_retry: None, gone_at: Some(4_102_444_800), ..stray };
        let back = restore(&stray, CLOCK, 300_000);
        assert_eq!(
            (back.phase, back.gone_at),
            (Phase::Stray { since: CLOCK.mono }, Some(CLOCK.mono))
        );
        let absurd = Stored { next_retry: Some(u64::MAX), ..far };
        assert_eq!(restore(&absurd, CLOCK, 300_000).phase, Phase::Pending, "absent, no wrap");
    }
}
