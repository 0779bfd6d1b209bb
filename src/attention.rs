//! What the agent is doing, read from its transcript alone: the pure
//! classifier the watcher feeds every complete line (DESIGN, "What the agent
//! is doing"; fixtures README §3).
//!
//! Invariant: the classifier's whole state is its [`Saved`] checkpoint, and
//! every value in it is already in the form a status file stores (no
//! control characters, trimmed, capped). So a classifier restored from the
//! checkpoint after line N and fed lines N+1… ends exactly where one fed
//! the whole file ends; and the same lines always give the same state.

#[path = "markers.rs"]
mod markers;
#[path = "attention_rules.rs"]
mod rules;
#[path = "attention_saved.rs"]
mod saved;

use crate::lines::Line;
use markers::{clean, Marks};

/// Which agent writes the transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Agent {
    /// Claude Code.
    Claude,
    /// The Codex CLI.
    Codex,
    /// Anything else: attention comes from growth, not content.
    Other,
}

/// What the agent is doing. The classifier gives only the first four.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attention {
    /// The model is thinking or writing.
    Working,
    /// A tool call is open.
    Tool,
    /// The agent waits for a person: a question, a plan, a permission.
    NeedsYou,
    /// The turn is over; back at the prompt.
    TurnDone,
    /// Working, but nothing grows and nothing runs (readers only).
    Stalled,
    /// The agent or its session is gone (readers only).
    Gone,
}

impl Agent {
    /// The name in status files and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
            Agent::Other => "other",
        }
    }

    /// The agent named `s`, if any.
    pub fn parse(s: &str) -> Option<Agent> {
        [Agent::Claude, Agent::Codex, Agent::Other].into_iter().find(|a| a.as_str() == s)
    }
}

impl Attention {
    /// Every state, most urgent first.
    pub const ALL: [Attention; 6] = [
        Attention::NeedsYou,
        Attention::Stalled,
        Attention::TurnDone,
        Attention::Working,
        Attention::Tool,
        Attention::Gone,
    ];

    /// The name in status files, JSON and `sessions wait`.
    pub fn as_str(self) -> &'static str {
        match self {
            Attention::Working => "working",
            Attention::Tool => "tool",
            Attention::NeedsYou => "needs_you",
            Attention::TurnDone => "turn_done",
            Attention::Stalled => "stalled",
            Attention::Gone => "gone",
        }
    }

    /// The state named `s`, if any.
    pub fn parse(s: &str) -> Option<Attention> {
        Attention::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// The agent is decided by a line starting within this many bytes.
pub const AGENT_WINDOW: u64 = 64 * 1024;
/// The most open calls remembered; the oldest is dropped first.
pub const MAX_CALLS: usize = 16;
/// How many deciding events `evidence` keeps.
pub const MAX_EVIDENCE: usize = 5;
/// The longest `reason` and `last_text`, in characters.
pub const MAX_TEXT: usize = 120;

/// An open tool call: its id and the tool's name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Call {
    /// `toolu_…` (Claude) or `call_…` (Codex).
    pub id: String,
    /// `Bash`, `exec_command`, …
    pub name: String,
}

/// The classifier's checkpoint: everything it knows, as the watcher writes
/// it into its status file (see [`Saved::to_pairs`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Saved {
    /// `None` while undecided.
    pub agent: Option<Agent>,
    /// Bytes seen while the agent was undecided (0 once decided).
    pub scanned: u64,
    /// `None` until a line decides.
    pub attention: Option<Attention>,
    /// The rule that matched (≤ 120 characters).
    pub reason: String,
    /// The open tool's name when attention is `tool` or `needs_you`.
    pub tool: String,
    /// First line of the last assistant text (≤ 120 characters).
    pub last_text: String,
    /// Entries into `turn_done`.
    pub turns: u64,
    /// Claude's `sessionId` or Codex's session id.
    pub agent_session: String,
    /// Calls with no result yet, oldest first (at most [`MAX_CALLS`]).
    pub open_calls: Vec<Call>,
    /// A turn began and has not ended.
    pub turn_open: bool,
    /// The last deciding events, oldest first (at most [`MAX_EVIDENCE`]).
    pub evidence: Vec<String>,
}

/// What one line did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// The agent did something (not bookkeeping, garbage or an unknown
    /// type): the watcher moves `last_activity`.
    pub activity: bool,
    /// `attention` or `tool` changed: publish at once and restart
    /// `attention_since` (a new tool is a new wait).
    pub changed: bool,
    /// Anything in the checkpoint changed (reason, text, turns, calls…).
    pub updated: bool,
}

/// Reads a transcript line by line; see the module comment.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    s: Saved,
}

/// Tools that wait for the user's answer (Claude).
const ASKS: [&str; 2] = ["AskUserQuestion", "ExitPlanMode"];

impl Classifier {
    /// A classifier that has seen nothing.
    pub fn new() -> Classifier {
        Classifier::default()
    }

    /// Continues from a checkpoint.
    pub fn restore(saved: &Saved) -> Classifier {
        Classifier { s: saved.clone() }
    }

    /// The checkpoint to continue from after the last line fed.
    pub fn save(&self) -> Saved {
        self.s.clone()
    }

    /// The state so far, without copying.
    pub fn state(&self) -> &Saved {
        &self.s
    }

    /// Feeds line number `n` (1-based); lines must come in order.
    pub fn line(&mut self, line: &Line, n: u64) -> Outcome {
        let before = self.s.clone();
        let activity = match self.s.agent {
            None => self.undecided(line, n),
            Some(Agent::Other) => true,
            // Garbage, binary, a torn write: no JSON object, no event.
            Some(Agent::Claude | Agent::Codex) if !object(line) => false,
            Some(Agent::Claude) => self.claude(&Marks::of(line), n),
            Some(Agent::Codex) => self.codex(&Marks::of(line), n),
        };
        let changed = before.attention != self.s.attention || before.tool != self.s.tool;
        Outcome { activity, changed, updated: before != self.s }
    }

    /// Before the agent is known every line counts as growth, as for
    /// `other`; the first line with an agent's shape decides, and is then
    /// read as that agent's.
    fn undecided(&mut self, line: &Line, n: u64) -> bool {
        let m = Marks::of(line);
        let codex = matches!(m.first_type, Some(b"session_meta" | b"response_item" | b"event_msg"));
        let claude = m.session_id.is_some() && (m.user || m.assistant || m.system);
        let agent = if !object(line) {
            None
        } else if m.timestamp_first && m.payload_object && codex {
            Some(Agent::Codex)
        } else if claude {
            Some(Agent::Claude)
        } else {
            None
        };
        self.s.scanned = self.s.scanned.saturating_add(line.len + 1);
        match agent {
            Some(Agent::Claude) => self.decided(Agent::Claude).claude(&m, n),
            Some(Agent::Codex) => self.decided(Agent::Codex).codex(&m, n),
            Some(Agent::Other) | None => {
                if self.s.scanned >= AGENT_WINDOW {
                    self.decided(Agent::Other);
                }
                true
            }
        }
    }

    fn decided(&mut self, agent: Agent) -> &mut Classifier {
        self.s.agent = Some(agent);
        self.s.scanned = 0;
        self
    }

    /// Records a call; past [`MAX_CALLS`] the oldest is forgotten.
    fn open(&mut self, id: &[u8], name: &[u8]) {
        if self.s.open_calls.len() == MAX_CALLS {
            self.s.open_calls.remove(0);
        }
        self.s.open_calls.push(Call { id: token(id), name: token(name) });
    }

    /// Closes the calls `ids` name, or the oldest when no id was kept;
    /// returns what was closed, for the evidence.
    fn close(&mut self, ids: &[&[u8]]) -> String {
        if ids.is_empty() {
            return match self.s.open_calls.is_empty() {
                true => "no call open".into(),
                false => {
                    format!("oldest call {}", short(self.s.open_calls.remove(0).id.as_bytes()))
                }
            };
        }
        let ids: Vec<String> = ids.iter().map(|id| token(id)).collect();
        self.s.open_calls.retain(|c| !ids.contains(&c.id));
        ids.iter().map(|id| short(id.as_bytes())).collect::<Vec<_>>().join(" ")
    }

    fn after_result(&mut self, n: u64, event: String) {
        match self.s.open_calls.is_empty() {
            true => self.decide(n, event, Attention::Working, "tool result back"),
            false => self.decide_calls(n, event),
        }
    }

    /// Decides from the open calls: one that asks the user wins, else the
    /// newest; with none open, the model is working.
    fn decide_calls(&mut self, n: u64, event: String) {
        let claude = self.s.agent == Some(Agent::Claude);
        let calls = &self.s.open_calls;
        let asking = calls.iter().rev().find(|c| claude && ASKS.contains(&c.name.as_str()));
        let asks = asking.is_some();
        let Some(call) = asking.or(calls.last()).cloned() else {
            return self.decide(n, event, Attention::Working, "model writing");
        };
        let (attention, reason) = match (asks, call.name.as_str()) {
            (true, "ExitPlanMode") => {
                (Attention::NeedsYou, format!("{} open: a plan to approve", call.name))
            }
            (true, _) => (Attention::NeedsYou, format!("{} open: a question for you", call.name)),
            (false, _) => (Attention::Tool, format!("tool {} open", call.name)),
        };
        self.decide(n, event, attention, &reason);
        self.s.tool = call.name;
    }

    /// Sets the state a deciding line gives and remembers the line.
    fn decide(&mut self, n: u64, event: String, attention: Attention, reason: &str) {
        if attention == Attention::TurnDone {
            if self.s.attention != Some(Attention::TurnDone) {
                self.s.turns += 1;
            }
            self.s.open_calls.clear();
            self.s.turn_open = false;
        } else if self.s.agent == Some(Agent::Claude) {
            self.s.turn_open = true;
        }
        self.s.attention = Some(attention);
        self.s.reason = clean(reason, MAX_TEXT);
        self.s.tool.clear();
        if self.s.evidence.len() == MAX_EVIDENCE {
            self.s.evidence.remove(0);
        }
        self.s.evidence.push(clean(&format!("line {n}: {event}"), saved::MAX_EVIDENCE_TEXT));
    }
}

/// Whether the line is a JSON object: `{` first and `}` last, as both
/// agents write every line.
fn object(line: &Line) -> bool {
    let end = if line.tail.is_empty() { line.head } else { line.tail };
    let end = end.strip_suffix(b"\r").unwrap_or(end);
    line.head.first() == Some(&b'{') && end.last() == Some(&b'}')
}

/// An id or name as stored: ASCII letters, digits and `_-.@+/=` only, at
/// most 64 of them (so `id:name` pairs and spaces between them split back).
fn token(raw: &[u8]) -> String {
    let ok = |b: &u8| b.is_ascii_alphanumeric() || b"_-.@+/=".contains(b);
    let kept: Vec<u8> = raw.iter().copied().filter(ok).take(64).collect();
    // Only ASCII is kept, so this never fails.
    String::from_utf8(kept).unwrap_or_default()
}

/// An id shortened for people: `toolu_01…`.
fn short(id: &[u8]) -> String {
    let t = token(id);
    match t.len() > 8 {
        true => format!("{}…", &t[..8]),
        false if t.is_empty() => "no id".into(),
        false => t,
    }
}

#[cfg(test)]
#[path = "attention_tests.rs"]
mod tests;
