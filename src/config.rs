//! The configuration: every key of DESIGN.md's table with its default and
//! range. Parsing is pure; an unknown key (with a hint), a duplicate, a bad
//! or out-of-range value is an error naming the file, line and key.

use crate::attention::{Agent, Attention};
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
    /// The agents whose running sessions the daemon registers by itself.
    pub discover: Vec<Agent>,
    /// A registered session with no task gets its folder's task.
    pub auto_task: bool,
    /// The sweep removes sessions gone or ended this many days.
    pub session_keep_days: u64,
    /// The watcher's attention states that start the judge.
    pub judge_on: Vec<Attention>,
    /// An open shell call with nothing running this long: `needs_you`.
    pub permission_seconds: u64,
    /// Working with no growth and nothing running this long: `stalled`.
    pub stall_seconds: u64,
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
            discover: vec![Agent::Claude, Agent::Codex],
            auto_task: true,
            session_keep_days: 7,
            judge_on: vec![Attention::TurnDone, Attention::NeedsYou],
            permission_seconds: 20,
            stall_seconds: 900,
            audit_seconds: 300,
        }
    }
}

const DAY: u64 = 86400;

/// Every key of the config, named once; each is set by its own arm of
/// [`Config::set`], so a new key cannot take another's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    ReconcileSeconds,
    BackoffBaseSeconds,
    BackoffMaxSeconds,
    BackoffResetSeconds,
    StrayGraceSeconds,
    WatchOnLaunch,
    IdleSeconds,
    JudgeCommand,
    JudgeTimeoutSeconds,
    LogMaxBytes,
    AuditSeconds,
    JudgeOn,
    PermissionSeconds,
    StallSeconds,
    Discover,
    AutoTask,
    SessionKeepDays,
}

/// The keys by name, in DESIGN's order.
const KEYS: &[(&str, Key)] = &[
    ("daemon_reconcile_seconds", Key::ReconcileSeconds),
    ("backoff_base_seconds", Key::BackoffBaseSeconds),
    ("backoff_max_seconds", Key::BackoffMaxSeconds),
    ("backoff_reset_seconds", Key::BackoffResetSeconds),
    ("stray_grace_seconds", Key::StrayGraceSeconds),
    ("watch_on_launch", Key::WatchOnLaunch),
    ("idle_seconds", Key::IdleSeconds),
    ("judge_command", Key::JudgeCommand),
    ("judge_timeout_seconds", Key::JudgeTimeoutSeconds),
    ("log_max_bytes", Key::LogMaxBytes),
    ("audit_seconds", Key::AuditSeconds),
    ("judge_on", Key::JudgeOn),
    ("permission_seconds", Key::PermissionSeconds),
    ("stall_seconds", Key::StallSeconds),
    ("discover", Key::Discover),
    ("auto_task", Key::AutoTask),
    ("session_keep_days", Key::SessionKeepDays),
];

/// One value as written, for its key's parser.
struct Value<'a> {
    key: &'a str,
    text: &'a str,
}

impl Value<'_> {
    /// A whole number in `lo..=hi`.
    fn num(&self, lo: u64, hi: u64) -> Result<u64, String> {
        let (key, shown) = (self.key, escape(self.text));
        match self.text.parse::<u64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(n),
            Ok(_) => Err(format!("'{key}' must be between {lo} and {hi}, not {shown}")),
            Err(_) => Err(format!("'{key}' must be a whole number, not '{shown}'")),
        }
    }

    /// `true` or `false`.
    fn flag(&self) -> Result<bool, String> {
        match self.text {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("'{}' must be true or false, not '{}'", self.key, escape(self.text))),
        }
    }
}

impl Config {
    /// Parses a config text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Config, String> {
        let file = file.display();
        let fields = kv::parse(text).map_err(|e| format!("{file}:{}: {}", e.line, e.reason))?;
        let mut c = Config::default();
        for f in &fields {
            let at = |what: String| format!("{file}:{}: {what}", f.line);
            let Some(&(_, key)) = KEYS.iter().find(|k| k.0 == f.key) else {
                return Err(at(unknown_key(f.key)));
            };
            c.set(key, &Value { key: f.key, text: f.value }).map_err(at)?;
        }
        let base_line =
            fields.iter().find(|f| f.key == "backoff_base_seconds").map_or(0, |f| f.line);
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

    /// Sets the value of one key.
    fn set(&mut self, key: Key, v: &Value) -> Result<(), String> {
        match key {
            Key::ReconcileSeconds => self.reconcile_seconds = v.num(1, 3600)?,
            Key::BackoffBaseSeconds => self.backoff_base_seconds = v.num(1, 3600)?,
            Key::BackoffMaxSeconds => self.backoff_max_seconds = v.num(1, DAY)?,
            Key::BackoffResetSeconds => self.backoff_reset_seconds = v.num(1, DAY)?,
            Key::StrayGraceSeconds => self.stray_grace_seconds = v.num(0, DAY)?,
            Key::WatchOnLaunch => self.watch_on_launch = v.flag()?,
            Key::IdleSeconds => self.idle_seconds = v.num(1, DAY)?,
            Key::JudgeCommand => self.judge_command = Some(v.text.to_string()),
            Key::JudgeTimeoutSeconds => self.judge_timeout_seconds = v.num(1, 3600)?,
            Key::LogMaxBytes => self.log_max_bytes = v.num(4096, 1 << 40)?,
            Key::JudgeOn => self.judge_on = judge_on(v.text)?,
            Key::PermissionSeconds => self.permission_seconds = v.num(1, 3600)?,
            Key::StallSeconds => self.stall_seconds = v.num(60, DAY)?,
            Key::Discover => self.discover = agents(v.text)?,
            Key::AutoTask => self.auto_task = v.flag()?,
            Key::SessionKeepDays => self.session_keep_days = v.num(1, 3650)?,
            Key::AuditSeconds => self.audit_seconds = v.num(10, DAY)?,
        }
        Ok(())
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

/// The value of `discover`: `none`, or a comma list of `claude` and `codex`.
fn agents(value: &str) -> Result<Vec<Agent>, String> {
    if value == "none" {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for name in value.split(',').map(str::trim) {
        let agent = match name {
            "claude" => Agent::Claude,
            "codex" => Agent::Codex,
            _ => {
                return Err(format!(
                    "'discover' takes claude, codex or none, not '{}'",
                    escape(name)
                ))
            }
        };
        if out.contains(&agent) {
            return Err(format!("'discover' names {name} twice"));
        }
        out.push(agent);
    }
    Ok(out)
}

/// The states `judge_on` may name: the watcher's own (a reader's
/// `stalled` and `gone` are never seen by a watcher).
const JUDGE_STATES: [Attention; 4] =
    [Attention::Working, Attention::Tool, Attention::NeedsYou, Attention::TurnDone];

/// A comma list of the watcher's attention states, each once.
fn judge_on(value: &str) -> Result<Vec<Attention>, String> {
    let mut states = Vec::new();
    for word in value.split(',').map(str::trim) {
        let state = Attention::parse(word).filter(|a| JUDGE_STATES.contains(a));
        match state {
            Some(a) if !states.contains(&a) => states.push(a),
            Some(_) => return Err(format!("'judge_on' names '{word}' twice")),
            None => {
                return Err(format!(
                    "'judge_on' names unknown state '{}' (choose from working, tool, needs_you, turn_done)",
                    escape(word)
                ))
            }
        }
    }
    Ok(states)
}

fn unknown_key(key: &str) -> String {
    let key = escape(key);
    let lower = key.to_lowercase();
    // A key that holds what was typed comes first, then the nearest one.
    let holds = |k: &str| k.contains(&*lower) && key.len() >= 4;
    let best = KEYS.iter().map(|k| (!holds(k.0), distance(&lower, k.0), k.0)).min();
    match best {
        Some((missing, d, k)) if d <= 4 || !missing => {
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
             discover = codex\nauto_task = false\nsession_keep_days = 3650\n\
             judge_on = working, tool,needs_you\npermission_seconds = 5\nstall_seconds = 60\n\
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
                discover: vec![Agent::Codex],
                auto_task: false,
                session_keep_days: 3650,
                judge_on: vec![Attention::Working, Attention::Tool, Attention::NeedsYou],
                permission_seconds: 5,
                stall_seconds: 60,
                audit_seconds: 10,
            }
        );
        let agents = |v: &str| parse(&format!("discover = {v}")).map(|c| c.discover);
        assert_eq!(agents("none"), Ok(vec![]));
        assert_eq!(agents("codex, claude"), Ok(vec![Agent::Codex, Agent::Claude]));
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
            ("discover = claude,vim", "/h/config:1: 'discover' takes claude, codex or none, not 'vim'"),
            ("discover = claude,,codex", "/h/config:1: 'discover' takes claude, codex or none, not ''"),
            ("discover = none,claude", "/h/config:1: 'discover' takes claude, codex or none, not 'none'"),
            ("discover = codex,codex", "/h/config:1: 'discover' names codex twice"),
            ("auto_task = 1", "/h/config:1: 'auto_task' must be true or false, not '1'"),
            ("session_keep_days = 0", "/h/config:1: 'session_keep_days' must be between 1 and 3650, not 0"),
            ("session_keep_days = 3651", "/h/config:1: 'session_keep_days' must be between 1 and 3650, not 3651"),
            ("judge = x", "/h/config:1: unknown key 'judge' (did you mean 'judge_on'?)"),
            ("judge_comand = x", "/h/config:1: unknown key 'judge_comand' (did you mean 'judge_command'?)"),
            ("judge_on = turn_done,stalled", "/h/config:1: 'judge_on' names unknown state 'stalled' (choose from working, tool, needs_you, turn_done)"),
            ("judge_on = idle", "/h/config:1: 'judge_on' names unknown state 'idle' (choose from working, tool, needs_you, turn_done)"),
            ("judge_on = gone", "/h/config:1: 'judge_on' names unknown state 'gone' (choose from working, tool, needs_you, turn_done)"),
            ("judge_on = turn_done,,tool", "/h/config:1: 'judge_on' names unknown state '' (choose from working, tool, needs_you, turn_done)"),
            ("judge_on = Tool", "/h/config:1: 'judge_on' names unknown state 'Tool' (choose from working, tool, needs_you, turn_done)"),
            ("judge_on = tool,tool", "/h/config:1: 'judge_on' names 'tool' twice"),
            ("permission_seconds = 0", "/h/config:1: 'permission_seconds' must be between 1 and 3600, not 0"),
            ("permission_seconds = 3601", "/h/config:1: 'permission_seconds' must be between 1 and 3600, not 3601"),
            ("stall_seconds = 59", "/h/config:1: 'stall_seconds' must be between 60 and 86400, not 59"),
            ("stall_seconds = 86401", "/h/config:1: 'stall_seconds' must be between 60 and 86400, not 86401"),
            ("stall_second = 100", "/h/config:1: unknown key 'stall_second' (did you mean 'stall_seconds'?)"),
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
