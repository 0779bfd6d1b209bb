//! A watcher's status file, `watch/KEY.status`: what it last observed.
//! Published atomically by the watcher, read by `sessions list` and the
//! watcher itself (its checkpoint after a restart).
//!
//! Invariant: the classifier's checkpoint (`saved`) is the one at `offset`,
//! so a watcher resuming there restores exactly what it had read.

use crate::attention::{Agent, Saved};
use crate::kv;

/// What a watcher sees of its artifact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WatchState {
    /// The artifact does not exist yet.
    #[default]
    Absent,
    /// It grew within `idle_seconds`.
    Active,
    /// It did not.
    Idle,
    /// Something is there that cannot be followed (see `error`).
    Unreadable,
}

impl WatchState {
    /// Its name in the status file and in output.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchState::Absent => "absent",
            WatchState::Active => "active",
            WatchState::Idle => "idle",
            WatchState::Unreadable => "unreadable",
        }
    }

    /// The state named `s`.
    pub fn parse(s: &str) -> Option<WatchState> {
        use WatchState::*;
        [Absent, Active, Idle, Unreadable].into_iter().find(|w| w.as_str() == s)
    }
}

/// What a watcher publishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// The watcher's pid.
    pub pid: i32,
    /// The artifact it follows.
    pub artifact: String,
    /// What it sees.
    pub state: WatchState,
    /// Size of the current file as read so far.
    pub bytes: u64,
    /// Complete lines counted in the current file.
    pub lines: u64,
    /// The last growth (Unix seconds).
    pub last_activity: Option<u64>,
    /// Just past the last counted newline.
    pub offset: u64,
    /// FNV-1a 64 of the up to 64 bytes before `offset`, as hex.
    pub check: String,
    /// Device of the file followed.
    pub dev: u64,
    /// Inode of the file followed.
    pub ino: u64,
    /// The judge's last verdict.
    pub verdict: Option<String>,
    /// When the verdict was given.
    pub verdict_at: Option<u64>,
    /// How the judge ended: `exit N`, `signal N`, `timeout`, `spawn failed`.
    pub judge_exit: Option<String>,
    /// The process group of the judge running now (its shell leads it).
    pub judge_pgid: Option<i32>,
    /// That shell's start: ticks since boot on Linux, Unix seconds on macOS,
    /// so the daemon can tell it from a later process with its pid.
    pub judge_start: Option<u64>,
    /// Why the artifact is unreadable, or a config problem.
    pub error: Option<String>,
    /// What the agent is doing, as the classifier left it at `offset`
    /// (for `other` agents, `attention` and `reason` come from growth).
    pub saved: Saved,
    /// When `attention` (or the open tool) last changed.
    pub attention_since: Option<u64>,
    /// The file held the classifier's checkpoint (`turn_open`, which every
    /// watcher that reads transcripts writes); not itself a field.
    pub classified: bool,
}

impl Status {
    /// Parses a status file; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Status> {
        let f = kv::parse(text).ok()?;
        let num = |k: &str| kv::get(&f, k).and_then(|v| v.parse::<u64>().ok());
        let text = |k: &str| kv::get(&f, k).map(String::from);
        Some(Status {
            pid: kv::get(&f, "pid")?.parse().ok()?,
            artifact: text("artifact")?,
            state: WatchState::parse(kv::get(&f, "state")?)?,
            bytes: num("bytes").unwrap_or(0),
            lines: num("lines").unwrap_or(0),
            last_activity: num("last_activity"),
            offset: num("offset").unwrap_or(0),
            check: text("check").unwrap_or_default(),
            dev: num("dev").unwrap_or(0),
            ino: num("ino").unwrap_or(0),
            verdict: text("verdict"),
            verdict_at: num("verdict_at"),
            judge_exit: text("judge_exit"),
            judge_pgid: kv::get(&f, "judge_pgid").and_then(|v| v.parse().ok()),
            judge_start: num("judge_start"),
            error: text("error"),
            saved: Saved::from_pairs(&f.iter().map(|f| (f.key, f.value)).collect::<Vec<_>>()),
            attention_since: num("attention_since"),
            classified: kv::get(&f, "turn_open").is_some(),
        })
    }

    /// Whether the transcript's content decides attention (Claude Code,
    /// Codex), rather than its growth.
    pub fn content(&self) -> bool {
        matches!(self.saved.agent, Some(Agent::Claude | Agent::Codex))
    }

    /// The status as file text.
    pub fn render(&self) -> String {
        let some = |v: u64| Some(v.to_string());
        kv::render([
            ("pid", Some(self.pid.to_string())),
            ("artifact", Some(self.artifact.clone())),
            ("state", Some(self.state.as_str().into())),
            ("bytes", some(self.bytes)),
            ("lines", some(self.lines)),
            ("last_activity", self.last_activity.map(|t| t.to_string())),
            ("offset", some(self.offset)),
            ("check", Some(self.check.clone()).filter(|c| !c.is_empty())),
            ("dev", some(self.dev)),
            ("ino", some(self.ino)),
            ("verdict", self.verdict.clone().filter(|v| !v.is_empty())),
            ("verdict_at", self.verdict_at.map(|t| t.to_string())),
            ("judge_exit", self.judge_exit.clone()),
            ("judge_pgid", self.judge_pgid.map(|p| p.to_string())),
            ("judge_start", self.judge_start.map(|t| t.to_string())),
            ("error", self.error.clone()),
            ("attention_since", self.attention_since.map(|t| t.to_string())),
        ]) + &kv::render(self.saved.to_pairs().iter().map(|(k, v)| (k.as_str(), Some(v.clone()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips() {
        let s = Status {
            pid: 42,
            artifact: "/a b/ü.jsonl".into(),
            state: WatchState::Idle,
            bytes: 10,
            lines: 2,
            last_activity: Some(1700000000),
            offset: 10,
            check: "00ff00ff00ff00ff".into(),
            dev: 1,
            ino: 2,
            verdict: Some("done = yes".into()),
            verdict_at: Some(1700000001),
            judge_exit: Some("exit 0".into()),
            judge_pgid: Some(4321),
            judge_start: Some(264623),
            error: None,
            saved: Saved {
                agent: Some(Agent::Claude),
                attention: Some(crate::attention::Attention::Tool),
                reason: "tool Bash open".into(),
                tool: "Bash".into(),
                last_text: "Running the tests = ok # not a comment".into(),
                turns: 3,
                agent_session: "5bb58492-9daf".into(),
                open_calls: vec![crate::attention::Call {
                    id: "toolu_1".into(),
                    name: "Bash".into(),
                }],
                turn_open: true,
                evidence: vec!["line 7: assistant tool_use Bash (toolu_1)".into()],
                ..Saved::default()
            },
            attention_since: Some(1700000002),
            classified: true,
        };
        assert!(s.content());
        assert_eq!(Status::parse(&s.render()), Some(s));
        let plain = Status { pid: 1, artifact: "/a".into(), classified: true, ..Status::default() };
        assert_eq!(Status::parse(&plain.render()), Some(plain.clone()));
        assert!(!plain.content());
        let old = Status::parse("pid = 1\nartifact = /a\nstate = idle\noffset = 5\n").unwrap();
        assert!(!old.classified, "written before the classifier");
        assert_eq!(Status::parse("garbage"), None);
        assert_eq!(Status::parse("pid = x\nartifact = /a\nstate = idle"), None);
    }
}
