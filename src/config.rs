//! The configuration: every key of DESIGN.md's table with its default and
//! range. Parsing is pure; an unknown key (with a hint), a duplicate, a bad
//! or out-of-range value is an error naming the file, line and key.

use crate::kv;
use crate::text::escape;
use std::path::Path;

/// The settings in force. Durations are in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Time between reconcile ticks.
    pub reconcile_seconds: u64,
    /// Delay before the first restart of a crashed watcher.
    pub backoff_base_seconds: u64,
    /// Cap of the exponential delay.
    pub backoff_max_seconds: u64,
    /// A watcher alive this long has its crash count reset.
    pub backoff_reset_seconds: u64,
    /// A watcher whose artifact is not desired this long is retired.
    pub stray_grace_seconds: u64,
    /// `sessions start` spawns the watcher at once.
    pub watch_on_launch: bool,
    /// No growth this long: the session is idle.
    pub idle_seconds: u64,
    /// Run when a session turns idle.
    pub judge_command: Option<String>,
    /// The judge is killed after this.
    pub judge_timeout_seconds: u64,
    /// A log larger than this is rotated.
    pub log_max_bytes: u64,
    /// `ps` is read at least this often even when no event asks for it.
    pub audit_seconds: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            reconcile_seconds: 5,
            backoff_base_seconds: 1,
            backoff_max_seconds: 300,
            backoff_reset_seconds: 120,
            stray_grace_seconds: 30,
            watch_on_launch: true,
            idle_seconds: 120,
            judge_command: None,
            judge_timeout_seconds: 60,
            log_max_bytes: 1 << 20,
            audit_seconds: 300,
        }
    }
}

const DAY: u64 = 86400;
/// Every key with its range (`bool` and text keys have none).
const KEYS: &[(&str, u64, u64)] = &[
    ("daemon_reconcile_seconds", 1, 3600),
    ("backoff_base_seconds", 1, 3600),
    ("backoff_max_seconds", 1, DAY),
    ("backoff_reset_seconds", 1, DAY),
    ("stray_grace_seconds", 0, DAY),
    ("watch_on_launch", 0, 1),
    ("idle_seconds", 1, DAY),
    ("judge_command", 0, 0),
    ("judge_timeout_seconds", 1, 3600),
    ("log_max_bytes", 4096, 1 << 40),
    ("audit_seconds", 10, DAY),
];

impl Config {
    /// Parses a config text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Config, String> {
        let file = file.display();
        let fields = kv::parse(text).map_err(|e| format!("{file}:{}: {}", e.line, e.reason))?;
        let mut c = Config::default();
        let mut base_line = 0;
        for f in &fields {
            let (key, value) = (f.key, escape(f.value));
            let err = |what: String| format!("{file}:{}: {what}", f.line);
            let Some(&(_, lo, hi)) = KEYS.iter().find(|k| k.0 == key) else {
                return Err(err(unknown_key(key)));
            };
            let num = || match f.value.parse::<u64>() {
                Ok(n) if (lo..=hi).contains(&n) => Ok(n),
                Ok(_) => Err(err(format!("'{key}' must be between {lo} and {hi}, not {value}"))),
                Err(_) => Err(err(format!("'{key}' must be a whole number, not '{value}'"))),
            };
            match key {
                "daemon_reconcile_seconds" => c.reconcile_seconds = num()?,
                "backoff_base_seconds" => (c.backoff_base_seconds, base_line) = (num()?, f.line),
                "backoff_max_seconds" => c.backoff_max_seconds = num()?,
                "backoff_reset_seconds" => c.backoff_reset_seconds = num()?,
                "stray_grace_seconds" => c.stray_grace_seconds = num()?,
                "idle_seconds" => c.idle_seconds = num()?,
                "judge_timeout_seconds" => c.judge_timeout_seconds = num()?,
                "log_max_bytes" => c.log_max_bytes = num()?,
                "audit_seconds" => c.audit_seconds = num()?,
                "judge_command" => c.judge_command = Some(f.value.to_string()),
                // The one key left in KEYS is the bool `watch_on_launch`.
                _ => match f.value {
                    "true" | "false" => c.watch_on_launch = f.value == "true",
                    _ => return Err(err(format!("'{key}' must be true or false, not '{value}'"))),
                },
            }
        }
        if c.backoff_max_seconds < c.backoff_base_seconds {
            let max = fields.iter().find(|f| f.key == "backoff_max_seconds");
            let line = max.map_or(base_line, |f| f.line);
            return Err(format!(
                "{file}:{line}: 'backoff_max_seconds' ({}) must not be below backoff_base_seconds ({})",
                c.backoff_max_seconds, c.backoff_base_seconds
            ));
        }
        Ok(c)
    }

    /// Reads `config` in the home; a missing file gives the defaults.
    pub fn load(home: &Path) -> Result<Config, String> {
        let path = home.join("config");
        match crate::files::read_small(&path, crate::files::RECORD_MAX) {
            Ok(Some(text)) => Config::parse(&text, &path),
            Ok(None) => Ok(Config::default()),
            Err(e) => Err(format!("{}: {}", path.display(), crate::error::reason(&e))),
        }
    }

    /// The config, or the defaults after one warning on stderr (every
    /// command but `daemon run` tolerates a broken config).
    pub fn load_or_warn(home: &Path) -> Config {
        Config::load(home).unwrap_or_else(|e| {
            crate::log::warn(&format!("{e}; using the defaults"));
            Config::default()
        })
    }
}

fn unknown_key(key: &str) -> String {
    let key = escape(key);
    let lower = key.to_lowercase();
    let best = KEYS.iter().map(|k| (distance(&lower, k.0), k.0)).min();
    match best {
        Some((d, k)) if d <= 4 || k.contains(&*lower) && key.len() >= 4 => {
            format!("unknown key '{key}' (did you mean '{k}'?)")
        }
        _ => format!("unknown key '{key}'"),
    }
}

/// Levenshtein distance between two short strings.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/h/config"))
    }

    #[test]
    fn empty_config_is_the_defaults() {
        assert_eq!(parse("# nothing\n").unwrap(), Config::default());
    }

    #[test]
    fn every_key_is_read() {
        let c = parse(
            "daemon_reconcile_seconds = 1\nbackoff_base_seconds = 2\nbackoff_max_seconds = 8\n\
             backoff_reset_seconds = 9\nstray_grace_seconds = 0\nwatch_on_launch = false\nidle_seconds = 3\n\
             judge_command = echo done # really\njudge_timeout_seconds = 4\nlog_max_bytes = 4096\n\
             audit_seconds = 10\n",
        )
        .unwrap();
        assert_eq!(
            c,
            Config {
                reconcile_seconds: 1,
                backoff_base_seconds: 2,
                backoff_max_seconds: 8,
                backoff_reset_seconds: 9,
                stray_grace_seconds: 0,
                watch_on_launch: false,
                idle_seconds: 3,
                judge_command: Some("echo done # really".into()),
                judge_timeout_seconds: 4,
                log_max_bytes: 4096,
                audit_seconds: 10,
            }
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            ("daemon_reconcile_second = 5", "/h/config:1: unknown key 'daemon_reconcile_second' (did you mean 'daemon_reconcile_seconds'?)"),
            ("\nzzz = 1", "/h/config:2: unknown key 'zzz'"),
            ("idle_seconds = 5\nidle_seconds = 6", "/h/config:2: key 'idle_seconds' given twice (first on line 1)"),
            ("idle_seconds", "/h/config:1: no '=' in 'idle_seconds'"),
            ("= 5", "/h/config:1: empty key"),
            ("idle_seconds =", "/h/config:1: empty value for 'idle_seconds'"),
            ("idle_seconds = soon", "/h/config:1: 'idle_seconds' must be a whole number, not 'soon'"),
            ("idle_seconds = -1", "/h/config:1: 'idle_seconds' must be a whole number, not '-1'"),
            ("idle_seconds = 0", "/h/config:1: 'idle_seconds' must be between 1 and 86400, not 0"),
            ("daemon_reconcile_seconds = 3601", "/h/config:1: 'daemon_reconcile_seconds' must be between 1 and 3600, not 3601"),
            ("log_max_bytes = 4095", "/h/config:1: 'log_max_bytes' must be between 4096 and 1099511627776, not 4095"),
            ("audit_seconds = 9", "/h/config:1: 'audit_seconds' must be between 10 and 86400, not 9"),
            ("log_max_bytes = 99999999999999999999999", "/h/config:1: 'log_max_bytes' must be a whole number, not '99999999999999999999999'"),
            ("watch_on_launch = yes", "/h/config:1: 'watch_on_launch' must be true or false, not 'yes'"),
            ("backoff_base_seconds = 10\nbackoff_max_seconds = 5", "/h/config:2: 'backoff_max_seconds' (5) must not be below backoff_base_seconds (10)"),
            ("backoff_base_seconds = 400", "/h/config:1: 'backoff_max_seconds' (300) must not be below backoff_base_seconds (400)"),
            ("WATCH_ON_LAUNCH = true", "/h/config:1: unknown key 'WATCH_ON_LAUNCH' (did you mean 'watch_on_launch'?)"),
            ("judge = x", "/h/config:1: unknown key 'judge' (did you mean 'judge_command'?)"),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).unwrap_err(), want, "for {text:?}");
        }
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("same", "same"), 0);
    }
}
