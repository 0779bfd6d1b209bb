//! `sessions wait`'s arithmetic: which sessions *enter* a state between two
//! looks, and the cursor that carries one look to the next call.
//!
//! A session is in a state of STATES with a pair (attention,
//! attention_since). The wait keeps a snapshot of the pairs of the sessions
//! in STATES at its first look; a later look's session *enters* when it is
//! in STATES with a pair the snapshot does not have for it (a session
//! missing from the snapshot compares as nothing). A session outside STATES
//! needs no pair: it can only enter by coming into STATES, and then it is
//! missing or different either way.
//!
//! The cursor is that snapshot as text, printable and without blanks so it
//! survives a shell and an SSH round trip: `v1` then, for each session in
//! STATES, `,ID:ATTENTION:SINCE` (SINCE in Unix seconds, `-` unknown), e.g.
//! `v1,s1:turn_done:1764578506,c-417c4de51034:needs_you:1764578510`. Ids
//! hold neither `,` nor `:`. `--after CURSOR` starts from it, so what
//! entered between two calls is reported by the second.
//!
//! Invariant: pure; the same looks give the same answer, and a cursor
//! printed by [`render`] reads back by [`parse`] to the same snapshot.

use crate::attention::Attention;
use crate::refine::urgency;
use crate::store::valid_id;
use std::collections::BTreeMap;

/// What `--until` may name: an attention state, or `ended`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// A refined attention state.
    State(Attention),
    /// The session was ended (`sessions end`, a `SessionEnd` hook).
    Ended,
}

/// The states `--until` named (default `needs_you,turn_done,stalled,gone`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct States(pub Vec<Until>);

impl Default for States {
    fn default() -> States {
        use Attention::*;
        States([NeedsYou, TurnDone, Stalled, Gone].map(Until::State).to_vec())
    }
}

impl States {
    /// A comma list of attention states and `ended`.
    pub fn parse(list: &str) -> Result<States, String> {
        let mut out = Vec::new();
        for word in list.split(',') {
            let until = match word {
                "ended" => Until::Ended,
                w => Until::State(Attention::parse(w).ok_or_else(|| {
                    format!(
                        "--until names unknown state '{}' (choose from needs_you, stalled, \
                         turn_done, working, tool, gone, ended)",
                        crate::text::escape(w)
                    )
                })?),
            };
            if !out.contains(&until) {
                out.push(until);
            }
        }
        Ok(States(out))
    }
}

/// A session as the wait sees it at one look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Its id.
    pub id: String,
    /// Its refined attention (`gone` once ended; none after a `/clear`).
    pub attention: Option<Attention>,
    /// Since when (its cause's time).
    pub since: Option<u64>,
    /// Why, for people.
    pub reason: String,
    /// It was ended.
    pub ended: bool,
}

/// One session that entered a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The session's id.
    pub id: String,
    /// The state it entered: an attention state, or `ended`.
    pub state: &'static str,
    /// Why.
    pub reason: String,
    /// When (its attention_since; the look's time when unknown).
    pub at: u64,
}

/// Session id → its pair (attention, attention_since).
pub type Snapshot = BTreeMap<String, (Attention, Option<u64>)>;

/// The name of the state of STATES a session is in, if any: `ended` when
/// that was asked for and it was ended, else its attention.
fn state_in(states: &States, s: &Seen) -> Option<&'static str> {
    let a = s.attention?;
    if s.ended && states.0.contains(&Until::Ended) {
        return Some("ended");
    }
    states.0.contains(&Until::State(a)).then_some(a.as_str())
}

/// The pairs of the sessions in STATES: what a look leaves to compare with.
pub fn snapshot(states: &States, seen: &[Seen]) -> Snapshot {
    let pair = |s: &Seen| Some((s.id.clone(), (s.attention?, s.since)));
    seen.iter().filter(|s| state_in(states, s).is_some()).filter_map(pair).collect()
}

/// The sessions that entered a state of STATES since `before`, most urgent
/// first (then the longest waiting, then by id); `now` stands in for an
/// unknown time.
pub fn entered(before: &Snapshot, states: &States, seen: &[Seen], now: u64) -> Vec<Event> {
    let mut out: Vec<(u8, Event)> = seen
        .iter()
        .filter_map(|s| {
            let state = state_in(states, s)?;
            let a = s.attention?;
            if before.get(&s.id) == Some(&(a, s.since)) {
                return None;
            }
            let at = s.since.unwrap_or(now);
            Some((
                urgency(Some(a)),
                Event { id: s.id.clone(), state, reason: s.reason.clone(), at },
            ))
        })
        .collect();
    out.sort_by(|(ua, a), (ub, b)| (ua, a.at, &a.id).cmp(&(ub, b.at, &b.id)));
    out.into_iter().map(|(_, e)| e).collect()
}

/// The cursor of a snapshot (see the module comment).
pub fn render(snapshot: &Snapshot) -> String {
    let mut out = String::from("v1");
    for (id, (a, since)) in snapshot {
        let since = since.map_or("-".to_string(), |t| t.to_string());
        out.push_str(&format!(",{id}:{}:{since}", a.as_str()));
    }
    out
}

/// Reads a cursor back; anything [`render`] did not print is an error.
pub fn parse(cursor: &str) -> Result<Snapshot, String> {
    let bad = || {
        format!(
            "invalid cursor '{}' (pass one that sessions wait printed)",
            crate::text::escape(cursor)
        )
    };
    let mut parts = cursor.split(',');
    if parts.next() != Some("v1") {
        return Err(bad());
    }
    let mut out = Snapshot::new();
    for entry in parts {
        let mut f = entry.split(':');
        let (Some(id), Some(a), Some(since), None) = (f.next(), f.next(), f.next(), f.next())
        else {
            return Err(bad());
        };
        let a = Attention::parse(a).ok_or_else(bad)?;
        let since = match since {
            "-" => None,
            t => Some(
                t.parse::<u64>()
                    .ok()
                    .filter(|_| t.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(bad)?,
            ),
        };
        if !valid_id(id) || out.insert(id.to_string(), (a, since)).is_some() {
            return Err(bad());
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "cursor_tests.rs"]
mod tests;
