//! The classifier's checkpoint as `key = value` pairs for the watcher's
//! status file, and back.
//!
//! Invariant: `from_pairs(to_pairs(s)) == s` for every checkpoint a
//! classifier makes, and any pairs at all (missing, garbled, hostile) give
//! a sane checkpoint whose values hold no control character and no
//! leading or trailing whitespace.

use super::markers::clean;
use super::{token, Agent, Attention, Call, Saved, MAX_CALLS, MAX_EVIDENCE, MAX_TEXT};

/// The longest evidence entry, in characters.
pub(super) const MAX_EVIDENCE_TEXT: usize = 200;

impl Saved {
    /// The pairs to write, in a stable order; empty values are left out
    /// (the status format has none). `agent_scanned` appears only while the
    /// agent is undecided, `evidence.1` is the oldest entry.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut put = |key: &str, value: String| {
            if !value.is_empty() {
                out.push((key.to_string(), value));
            }
        };
        put("agent", self.agent.map_or("", Agent::as_str).into());
        if self.agent.is_none() {
            put("agent_scanned", self.scanned.to_string());
        }
        put("attention", self.attention.map_or("", Attention::as_str).into());
        put("reason", self.reason.clone());
        put("tool", self.tool.clone());
        put("last_text", self.last_text.clone());
        put("turns", self.turns.to_string());
        put("agent_session", self.agent_session.clone());
        let calls: Vec<String> =
            self.open_calls.iter().map(|c| format!("{}:{}", c.id, c.name)).collect();
        put("open_calls", calls.join(" "));
        put("turn_open", self.turn_open.to_string());
        for (i, e) in self.evidence.iter().enumerate() {
            put(&format!("evidence.{}", i + 1), e.clone());
        }
        out
    }

    /// Reads pairs back; a missing or bad field takes its default (nothing
    /// known, zero, false), never a panic. The first of a repeated key wins.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Saved {
        let get =
            |key: &str| pairs.iter().find(|(k, _)| k.trim() == key).map_or("", |(_, v)| v.trim());
        let agent = Agent::parse(get("agent"));
        let classified =
            [Attention::Working, Attention::Tool, Attention::NeedsYou, Attention::TurnDone];
        let calls: Vec<Call> = get("open_calls")
            .split_whitespace()
            .map(|c| {
                let (id, name) = c.split_once(':').unwrap_or((c, ""));
                Call { id: token(id.as_bytes()), name: token(name.as_bytes()) }
            })
            .collect();
        let evidence = (1..=MAX_EVIDENCE)
            .map(|i| clean(get(&format!("evidence.{i}")), MAX_EVIDENCE_TEXT))
            .filter(|e| !e.is_empty())
            .collect();
        Saved {
            agent,
            scanned: if agent.is_none() { get("agent_scanned").parse().unwrap_or(0) } else { 0 },
            attention: Attention::parse(get("attention")).filter(|a| classified.contains(a)),
            reason: clean(get("reason"), MAX_TEXT),
            tool: token(get("tool").as_bytes()),
            last_text: clean(get("last_text"), MAX_TEXT),
            turns: get("turns").parse().unwrap_or(0),
            agent_session: token(get("agent_session").as_bytes()),
            open_calls: calls[calls.len().saturating_sub(MAX_CALLS)..].to_vec(),
            turn_open: get("turn_open") == "true",
            evidence,
        }
    }
}
