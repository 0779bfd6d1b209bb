//! What readers (`sessions list`, `show`, `wait`) show: the watcher's
//! attention, refined with what only a reader knows at the moment it looks
//! (the store, the process table, Claude's registry, hook hints).
//!
//! Invariant: pure and total. The same facts give the same answer, time is
//! a parameter, and every refined state takes `since` from its cause, so a
//! state that lasts keeps its age from look to look.
//!
//! Precedence, first match wins, and why:
//! 1. ended: the store's word is final (a `/clear` rotation shows nothing,
//!    so it wakes nobody);
//! 2. agent gone: no process, nothing can be going on;
//! 3. the watcher's own `needs_you`: the transcript names the question or
//!    plan, which says more than the registry's "permission prompt";
//! 4. the registry's `waiting`: the live word of the agent itself, the only
//!    sign of a permission dialog;
//! 5. a hook hint no older than the watcher's state (and not overtaken by a
//!    newer registry status): an event the transcript does not record;
//! 6. an open shell call with nothing started under the agent since it
//!    opened, for `permission_seconds`: probably an approval dialog, and
//!    more pressing than 7, which it would otherwise become;
//! 7. working or tool without growth and with nothing running for
//!    `stall_seconds`: stalled (never while a Claude subagent runs, which
//!    writes elsewhere);
//! 8. otherwise the watcher's view.
//!
//! The process rules (4, 6, 7) need the agent's pid; without one the
//! watcher's view (and a hint) is all there is.

use crate::attention::{Agent, Attention};

/// The Claude registry file that matched the agent (pid and start checked
/// by the reader).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Registry<'a> {
    /// `busy`, `idle`, `waiting`, `shell`.
    pub status: &'a str,
    /// What it waits for: "permission prompt".
    pub waiting_for: &'a str,
    /// `statusUpdatedAt`, Unix milliseconds.
    pub updated_ms: Option<u64>,
}

/// A hook's word that the agent needs the user or finished its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    /// `needs_you` or `turn_done` (others are ignored).
    pub attention: Attention,
    /// When the hook ran (Unix seconds).
    pub at: u64,
}

/// Everything a reader knows about one session. Times are Unix seconds.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    /// The watcher's attention (its status file).
    pub attention: Option<Attention>,
    /// The watcher's reason.
    pub reason: &'a str,
    /// When the watcher's attention (or tool) last changed.
    pub attention_since: Option<u64>,
    /// The open tool's name, per the watcher.
    pub tool: &'a str,
    /// The watcher's agent, else the record's.
    pub agent: Option<Agent>,
    /// The last growth of the transcript (bookkeeping aside).
    pub last_activity: Option<u64>,
    /// The session was ended.
    pub ended: bool,
    /// How it ended (`end_reason`).
    pub end_reason: &'a str,
    /// When it ended.
    pub ended_at: Option<u64>,
    /// It ended by a `/clear` rotation (a new transcript took over).
    pub cleared: bool,
    /// The session has an agent pid, so the process rules apply.
    pub agent_pid: bool,
    /// The agent is gone: the first look that saw it gone.
    pub gone_since: Option<u64>,
    /// Claude's registry, when one matched the agent.
    pub registry: Option<Registry<'a>>,
    /// The newest hook hint for the session.
    pub hint: Option<Hint>,
    /// Start times of the agent's live descendants.
    pub descendants: &'a [u64],
    /// The time of this look.
    pub now: u64,
    /// Config `permission_seconds`.
    pub permission_seconds: u64,
    /// Config `stall_seconds`.
    pub stall_seconds: u64,
}

/// Which rule decided (the numbers of the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rule {
    /// 1: the session was ended.
    Ended,
    /// 2: the agent's process is gone.
    Gone,
    /// 3 and 8: the watcher's own view.
    #[default]
    Watcher,
    /// 4: Claude's registry says `waiting`.
    Registry,
    /// 5: a hook's hint.
    Hint,
    /// 6: an open shell call with nothing started under the agent.
    Approval,
    /// 7: working without growth or children.
    Stalled,
}

impl Rule {
    /// Its name for people (`sessions show`).
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Ended => "ended",
            Rule::Gone => "agent gone",
            Rule::Watcher => "watcher",
            Rule::Registry => "registry",
            Rule::Hint => "hook hint",
            Rule::Approval => "approval",
            Rule::Stalled => "stalled",
        }
    }
}

/// What to show.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Refined {
    /// `None`: nothing to show (no attention known, or a `/clear` rotation).
    pub attention: Option<Attention>,
    /// Why, for people (the rule, or the watcher's reason).
    pub reason: String,
    /// Since when, taken from the cause.
    pub since: Option<u64>,
    /// When a timed rule (6 or 7) would change the answer if nothing else
    /// changes: a reader's next deadline.
    pub due: Option<u64>,
    /// The rule that decided.
    pub rule: Rule,
}

/// Tools that run a shell command, whose approval dialog leaves no trace
/// but an idle process tree.
fn shell(agent: Option<Agent>, tool: &str) -> bool {
    match agent {
        Some(Agent::Claude) => tool == "Bash",
        Some(Agent::Codex) => {
            matches!(tool, "exec_command" | "shell" | "local_shell_call" | "exec")
        }
        Some(Agent::Other) | None => false,
    }
}

/// Claude's subagent tool (`Task`, called `Agent` from about 2.1.19x).
fn subagent(agent: Option<Agent>, tool: &str) -> bool {
    agent == Some(Agent::Claude) && matches!(tool, "Task" | "Agent")
}

fn shown(
    rule: Rule,
    attention: Attention,
    reason: impl Into<String>,
    since: Option<u64>,
) -> Refined {
    Refined { attention: Some(attention), reason: reason.into(), since, due: None, rule }
}

/// The attention to show; see the module comment for the order.
pub fn refine(f: &Facts) -> Refined {
    if f.ended {
        let reason = if f.end_reason.is_empty() { "ended" } else { f.end_reason };
        let attention = (!f.cleared).then_some(Attention::Gone);
        let (since, rule) = (f.ended_at, Rule::Ended);
        return Refined { attention, reason: reason.into(), since, due: None, rule };
    }
    if let Some(since) = f.gone_since {
        return shown(Rule::Gone, Attention::Gone, "agent exited", Some(since));
    }
    let watcher = Refined {
        attention: f.attention,
        reason: f.reason.into(),
        since: f.attention_since,
        due: None,
        rule: Rule::Watcher,
    };
    if f.attention == Some(Attention::NeedsYou) {
        return watcher;
    }
    if let Some(r) = registry(f).or_else(|| hint(f)) {
        return r;
    }
    let mut due = None;
    for rule in [approval(f), stalled(f)] {
        match rule {
            Ok(r) => return r,
            Err(at) => due = due.into_iter().chain(at).min(),
        }
    }
    Refined { due, ..watcher }
}

fn registry(f: &Facts) -> Option<Refined> {
    let r = f.registry.filter(|r| f.agent_pid && r.status == "waiting")?;
    let reason = if r.waiting_for.is_empty() { "waiting" } else { r.waiting_for };
    let since = r.updated_ms.map(|ms| ms / 1000).or(f.attention_since);
    Some(shown(Rule::Registry, Attention::NeedsYou, reason, since))
}

/// A hook at or after the watcher's state began: in the same second the
/// hook is the later event (it fires after the line that caused it lands).
fn hint(f: &Facts) -> Option<Refined> {
    let h = f.hint.filter(|h| f.attention_since.map_or(true, |since| h.at >= since))?;
    let overtaken =
        f.registry.is_some_and(|r| f.agent_pid && r.updated_ms.is_some_and(|ms| ms / 1000 > h.at));
    match h.attention {
        _ if overtaken => None,
        Attention::NeedsYou => {
            Some(shown(Rule::Hint, Attention::NeedsYou, "hook: the agent needs you", Some(h.at)))
        }
        Attention::TurnDone => {
            Some(shown(Rule::Hint, Attention::TurnDone, "hook: the turn is done", Some(h.at)))
        }
        Attention::Working | Attention::Tool | Attention::Stalled | Attention::Gone => None,
    }
}

/// How much earlier than the call's opening a descendant's start may read
/// and still count as started for it: `ps` derives start times from a boot
/// time in whole seconds (so they can read up to a second early), and the
/// watcher dates the call when it reads the line, up to a tick after the
/// agent wrote it and started the command.
pub const START_SLACK: u64 = 2;

/// Rule 6: `Ok` when it applies, `Err(Some(t))` when it would at `t`.
fn approval(f: &Facts) -> Result<Refined, Option<u64>> {
    let opened = f.attention_since.filter(|_| f.agent_pid && f.attention == Some(Attention::Tool));
    let opened = opened.filter(|_| shell(f.agent, f.tool)).ok_or(None)?;
    if f.descendants.iter().any(|&start| start.saturating_add(START_SLACK) >= opened) {
        return Err(None);
    }
    let at = opened.saturating_add(f.permission_seconds);
    let reason = format!("tool {} open, nothing running: approval?", f.tool);
    match f.now >= at {
        true => Ok(shown(Rule::Approval, Attention::NeedsYou, reason, Some(at))),
        false => Err(Some(at)),
    }
}

/// Rule 7, shaped like [`approval`].
fn stalled(f: &Facts) -> Result<Refined, Option<u64>> {
    let busy = matches!(f.attention, Some(Attention::Working | Attention::Tool));
    if !f.agent_pid || !busy || !f.descendants.is_empty() {
        return Err(None);
    }
    if f.attention == Some(Attention::Tool) && subagent(f.agent, f.tool) {
        return Err(None);
    }
    let last = f.last_activity.or(f.attention_since).ok_or(None)?;
    let at = last.saturating_add(f.stall_seconds);
    let reason =
        format!("no growth and nothing running for {}", crate::text::duration(f.stall_seconds));
    match f.now >= at {
        true => Ok(shown(Rule::Stalled, Attention::Stalled, reason, Some(at))),
        false => Err(Some(at)),
    }
}

/// Sort key, most urgent first: `needs_you`, `stalled`, `turn_done`,
/// `working`, `tool`, then `gone`, then nothing.
pub fn urgency(a: Option<Attention>) -> u8 {
    match a {
        Some(Attention::NeedsYou) => 0,
        Some(Attention::Stalled) => 1,
        Some(Attention::TurnDone) => 2,
        Some(Attention::Working) => 3,
        Some(Attention::Tool) => 4,
        Some(Attention::Gone) => 5,
        None => 6,
    }
}

#[cfg(test)]
#[path = "refine_tests.rs"]
mod tests;
