//! The rules of each agent's transcript, line by line (DESIGN, "What the
//! agent is doing", and its Settled list; fixtures README §3).
//!
//! Invariant: a rule matches key-and-value markers only (see `markers`),
//! and each returns whether the line was activity; only `decide` and the
//! call bookkeeping in the parent module change attention.

use super::markers::{first_line, Marks};
use super::{short, token, Attention, Classifier, MAX_TEXT};

impl Classifier {
    /// Claude Code's rules, in the order of the fixtures README §3.
    pub(super) fn claude(&mut self, m: &Marks, n: u64) -> bool {
        // A progress line (2.1.2x-2.1.7x) may quote a subagent's whole
        // message, nested user/assistant types and tool_use blocks with it,
        // so `"type":"progress"` decides first.
        let event = !m.progress && (m.user || m.assistant || m.system);
        // A skip type counts only on a line that is no event: a tool's
        // structured result may hold such a type, but a user line with one
        // is still a user line.
        let bookkeeping = m.meta
            || matches!(m.subtype, Some(b"away_summary" | b"local_command"))
            || (m.skip_type && !event)
            || (m.progress && m.session_start);
        if bookkeeping {
            return false;
        }
        if m.sidechain || m.progress {
            // A subagent's line, or an old version's tool progress: the
            // agent is busy, but its own state stays as it is.
            return true;
        }
        // Every line repeats the session; keep the stored copy when equal.
        if let Some(id) = m.session_id.filter(|&id| event && id != self.s.agent_session.as_bytes())
        {
            self.s.agent_session = token(id);
        }
        if m.system {
            self.claude_system(m, n)
        } else if m.assistant {
            self.claude_assistant(m, n);
            true
        } else if m.user {
            self.claude_user(m, n);
            true
        } else {
            false
        }
    }

    fn claude_system(&mut self, m: &Marks, n: u64) -> bool {
        let sub = m.subtype.map(token).unwrap_or_default();
        let (attention, reason) = match (m.subtype, m.trigger) {
            (Some(b"turn_duration"), _) => (Attention::TurnDone, "turn ended (turn_duration)"),
            (Some(b"stop_hook_summary"), _) => {
                (Attention::TurnDone, "turn ended (stop_hook_summary)")
            }
            (Some(b"compact_boundary"), Some(b"manual")) => {
                (Attention::TurnDone, "manual compaction")
            }
            (Some(b"compact_boundary"), _) => (Attention::Working, "automatic compaction"),
            (Some(b"api_error"), _) => (Attention::Working, "API error, retrying"),
            _ => return false,
        };
        self.decide(n, format!("system {sub}"), attention, reason);
        true
    }

    fn claude_assistant(&mut self, m: &Marks, n: u64) {
        if let Some(text) = m.text.map(|t| first_line(t, MAX_TEXT)).filter(|t| !t.is_empty()) {
            self.s.last_text = text;
        }
        let stop = match m.stop_reason {
            Some(Some(v)) => token(v),
            Some(None) | None => "null".to_string(),
        };
        if !m.tool_uses.is_empty() {
            for (id, name) in &m.tool_uses {
                self.open(id, name);
            }
            let (id, name) = m.tool_uses[m.tool_uses.len() - 1];
            self.decide_calls(n, format!("assistant tool_use {} ({})", token(name), short(id)));
        } else if matches!(stop.as_str(), "end_turn" | "stop_sequence" | "refusal") {
            self.decide(
                n,
                format!("assistant stop_reason {stop}"),
                Attention::TurnDone,
                &format!("turn ended (stop_reason {stop})"),
            );
        } else if self.s.open_calls.is_empty() {
            self.decide(
                n,
                format!("assistant stop_reason {stop}"),
                Attention::Working,
                "model writing",
            );
        } else {
            self.decide_calls(n, format!("assistant stop_reason {stop}"));
        }
    }

    fn claude_user(&mut self, m: &Marks, n: u64) {
        if m.interrupted {
            self.decide(
                n,
                "user [Request interrupted by user…]".into(),
                Attention::TurnDone,
                "interrupted by the user",
            );
        } else if m.command {
            self.decide(
                n,
                "user slash command output".into(),
                Attention::TurnDone,
                "slash command ran",
            );
        } else if m.tool_results > 0 || !m.result_ids.is_empty() {
            let closed = self.close(&m.result_ids);
            self.after_result(n, format!("user tool_result ({closed})"));
        } else if m.compact_summary {
            // After a manual /compact the turn is over already; the summary
            // continues a turn only when compaction was automatic.
            if self.s.turn_open {
                self.decide(
                    n,
                    "user compact summary".into(),
                    Attention::Working,
                    "continuing after compaction",
                );
            }
        } else {
            self.s.open_calls.clear();
            self.decide(n, "user prompt".into(), Attention::Working, "user prompt");
        }
    }

    /// The Codex CLI's rules: turns are `task_started` … `task_complete` or
    /// `turn_aborted`; a call is open until an output names its `call_id`.
    pub(super) fn codex(&mut self, m: &Marks, n: u64) -> bool {
        match m.first_type {
            Some(
                b"session_meta" | b"response_item" | b"event_msg" | b"turn_context" | b"compacted",
            ) => {}
            // world_state, token_usage_record and unknown types.
            _ => return false,
        }
        let payload = m.payload.unwrap_or_default();
        let kind = token(payload);
        match payload {
            b"token_count" | b"patch_apply_end" => return false,
            b"task_started" => {
                self.s.turn_open = true;
                self.decide(n, "event_msg task_started".into(), Attention::Working, "task started");
            }
            b"task_complete" | b"turn_aborted" => {
                let reason =
                    if payload == b"turn_aborted" { "turn aborted" } else { "task complete" };
                self.decide(n, format!("event_msg {kind}"), Attention::TurnDone, reason);
            }
            b"function_call" | b"custom_tool_call" | b"local_shell_call" => {
                let id = m.call_id.unwrap_or_default();
                self.open(id, m.name.unwrap_or(payload));
                self.decide_calls(
                    n,
                    format!(
                        "response_item {kind} {} ({})",
                        token(m.name.unwrap_or(payload)),
                        short(id)
                    ),
                );
            }
            b"function_call_output" | b"custom_tool_call_output" => {
                let closed = self.close(m.call_id.as_slice());
                self.after_result(n, format!("response_item {kind} ({closed})"));
            }
            _ if m.first_type == Some(b"session_meta") => {
                if let Some(id) = m.first_id {
                    self.s.agent_session = token(id);
                }
            }
            _ => {
                let text = m.text.filter(|_| m.role_assistant).map(|t| first_line(t, MAX_TEXT));
                if let Some(text) = text.filter(|t| !t.is_empty()) {
                    self.s.last_text = text;
                }
            }
        }
        true
    }
}
