//! What one transcript line says, read from its kept bytes by key-and-value
//! markers, without a JSON parser.
//!
//! Invariant: only a structural key counts. The scanner takes a key where an
//! unescaped `"` is followed by `:`. Inside a JSON string every `"` is
//! escaped as `\"`, so a marker quoted in a prompt, a tool output or a file
//! body (`\"stop_reason\":\"end_turn\"`) never matches, wherever the kept
//! bytes start or end: the rule needs no knowledge of where strings begin.

use crate::lines::{find_byte, Line};

/// The longest key looked at; a longer run without `"` is no key we know.
const MAX_KEY: usize = 32;

/// `(key, rest)` for every structural key in `part`, where `rest` is what
/// follows its colon (to the end of the part).
pub(crate) fn keys(part: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || loop {
        let colon = at + find_byte(part.get(at..)?, b':')?;
        at = colon + 1;
        if colon == 0 || part[colon - 1] != b'"' || escaped(part, colon - 1) {
            continue;
        }
        let close = colon - 1;
        let from = close.saturating_sub(MAX_KEY + 1);
        if let Some(open) = part[from..close].iter().rposition(|&b| b == b'"') {
            return Some((&part[from + open + 1..close], &part[at..]));
        }
    })
}

/// Whether the quote at `i` is escaped: an odd run of backslashes before it.
fn escaped(part: &[u8], i: usize) -> bool {
    part[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

/// The raw bytes of the JSON string `rest` starts with (escapes left in),
/// and whether its closing quote was kept; `None` if `rest` is no string.
pub(crate) fn string(rest: &[u8]) -> Option<(&[u8], bool)> {
    let body = rest.strip_prefix(b"\"")?;
    let mut i = 0;
    while let Some(q) = find_byte(&body[i..], b'"') {
        if !escaped(body, i + q) {
            return Some((&body[..i + q], true));
        }
        i += q + 1;
    }
    Some((body, false))
}

/// A complete string value, such as an id.
fn complete(rest: &[u8]) -> Option<&[u8]> {
    string(rest).and_then(|(s, closed)| closed.then_some(s))
}

/// The markers a classifier decides on, gathered in one pass over a line.
/// Flags say "the line holds this key with this value"; values are the
/// first of their key unless said otherwise.
#[derive(Debug, Default)]
pub(crate) struct Marks<'a> {
    /// The line starts `{"timestamp":` (Codex's shape).
    pub timestamp_first: bool,
    /// The first `"type"` value: the top-level type for Codex.
    pub first_type: Option<&'a [u8]>,
    /// `"payload":{` somewhere (Codex's shape).
    pub payload_object: bool,
    /// `"type":"user"`, `"assistant"`, `"system"`, `"progress"` anywhere.
    pub user: bool,
    pub assistant: bool,
    pub system: bool,
    pub progress: bool,
    /// A `"type"` of Claude's skip list (`"last-prompt"`, `"attachment"`…).
    pub skip_type: bool,
    /// `"isSidechain":true`, `"isMeta":true`, `"isCompactSummary":true`.
    pub sidechain: bool,
    pub meta: bool,
    pub compact_summary: bool,
    pub subtype: Option<&'a [u8]>,
    pub trigger: Option<&'a [u8]>,
    /// `"stop_reason"`: `Some(None)` for `null`, `Some(Some(v))` for a string.
    pub stop_reason: Option<Option<&'a [u8]>>,
    /// `"text":"[Request interrupted by user` (or `"content":"…`).
    pub interrupted: bool,
    /// `"content":"<command-name>` or `"content":"<local-command-stdout>`.
    pub command: bool,
    /// `"hookEvent":"SessionStart"`.
    pub session_start: bool,
    /// `"sessionId"` (Claude).
    pub session_id: Option<&'a [u8]>,
    /// The first text block's string (`"type":"text"` or `"output_text"`
    /// then `"text"`), escapes left in, perhaps cut short.
    pub text: Option<&'a [u8]>,
    /// Every `"type":"tool_use"` block's `(id, name)`, as far as kept.
    pub tool_uses: Vec<(&'a [u8], &'a [u8])>,
    /// How many `"type":"tool_result"` blocks, and every `"tool_use_id"`.
    pub tool_results: usize,
    pub result_ids: Vec<&'a [u8]>,
    /// Codex: `"payload":{"type":"X"` gives X.
    pub payload: Option<&'a [u8]>,
    pub call_id: Option<&'a [u8]>,
    pub name: Option<&'a [u8]>,
    /// Codex: the first `"id"` or `"session_id"` (the session in `session_meta`).
    pub first_id: Option<&'a [u8]>,
    /// `"role":"assistant"`.
    pub role_assistant: bool,
}

/// Claude's bookkeeping types (fixtures README §3).
const SKIP_TYPES: [&[u8]; 15] = [
    b"last-prompt",
    b"ai-title",
    b"permission-mode",
    b"mode",
    b"file-history-snapshot",
    b"queue-operation",
    b"attachment",
    b"custom-title",
    b"agent-name",
    b"atis-latch",
    b"worktree-state",
    b"bridge-session",
    b"pr-link",
    b"agent-setting",
    b"summary",
];

/// A `"type":"tool_use"` block still waiting for its id and name.
#[derive(Debug, Default, Clone, Copy)]
struct Pending<'a> {
    id: Option<&'a [u8]>,
    name: Option<&'a [u8]>,
}

impl<'a> Marks<'a> {
    /// Reads every kept part of `line`.
    pub fn of(line: &Line<'a>) -> Marks<'a> {
        let mut m = Marks {
            timestamp_first: line.head.starts_with(b"{\"timestamp\":"),
            ..Marks::default()
        };
        for part in line.parts() {
            let mut block = None;
            // Whether the last key was a text block's type.
            let mut text_next = false;
            for (key, rest) in keys(part) {
                let was_text = std::mem::take(&mut text_next);
                match key {
                    b"type" => text_next = m.on_type(rest, &mut block),
                    b"id" | b"name" => m.on_id_or_name(key, rest, &mut block),
                    b"text" if was_text && m.text.is_none() => m.text = string(rest).map(|s| s.0),
                    _ => m.on_other(key, rest),
                }
                if let Some(Pending { id: Some(id), name: Some(name) }) = block {
                    m.tool_uses.push((id, name));
                    block = None;
                }
                if key == b"text" || key == b"content" {
                    m.interrupted |= rest.starts_with(b"\"[Request interrupted by user");
                }
            }
        }
        m
    }

    /// A `"type"` key; returns whether a text block starts here.
    fn on_type(&mut self, rest: &'a [u8], block: &mut Option<Pending<'a>>) -> bool {
        let Some(v) = complete(rest) else { return false };
        self.first_type.get_or_insert(v);
        match v {
            b"user" => self.user = true,
            b"assistant" => self.assistant = true,
            b"system" => self.system = true,
            b"progress" => self.progress = true,
            b"tool_use" => *block = Some(Pending::default()),
            b"tool_result" => self.tool_results += 1,
            v => self.skip_type |= SKIP_TYPES.contains(&v),
        }
        v == b"text" || v == b"output_text"
    }

    fn on_id_or_name(&mut self, key: &[u8], rest: &'a [u8], block: &mut Option<Pending<'a>>) {
        let v = complete(rest);
        match (key, block) {
            (b"id", Some(p)) => p.id = p.id.or(v),
            (_, Some(p)) => p.name = p.name.or(v),
            (_, None) => {}
        }
        match key {
            b"id" => self.first_id = self.first_id.or(v),
            _ => self.name = self.name.or(v),
        }
    }

    fn on_other(&mut self, key: &[u8], rest: &'a [u8]) {
        let v = || complete(rest);
        match key {
            b"isSidechain" => self.sidechain |= rest.starts_with(b"true"),
            b"isMeta" => self.meta |= rest.starts_with(b"true"),
            b"isCompactSummary" => self.compact_summary |= rest.starts_with(b"true"),
            b"subtype" => self.subtype = self.subtype.or_else(v),
            b"trigger" => self.trigger = self.trigger.or_else(v),
            b"stop_reason" if self.stop_reason.is_none() => {
                self.stop_reason =
                    if rest.starts_with(b"null") { Some(None) } else { v().map(Some) }
            }
            b"content" => {
                self.command |= rest.starts_with(b"\"<command-name>")
                    || rest.starts_with(b"\"<local-command-stdout>")
            }
            b"hookEvent" => self.session_start |= rest.starts_with(b"\"SessionStart\""),
            b"sessionId" => self.session_id = self.session_id.or_else(v),
            b"session_id" => self.first_id = self.first_id.or_else(v),
            b"tool_use_id" => self.result_ids.extend(v()),
            b"payload" => {
                self.payload_object |= rest.starts_with(b"{");
                let inner = rest.strip_prefix(b"{\"type\":");
                self.payload = self.payload.or_else(|| inner.and_then(complete))
            }
            b"call_id" => self.call_id = self.call_id.or_else(v),
            b"role" => self.role_assistant |= rest.starts_with(b"\"assistant\""),
            _ => {}
        }
    }
}

/// The first line of a JSON string's raw bytes as readable text: escapes
/// decoded, control characters dropped, blank lines skipped, at most `max`
/// characters, trimmed. Decoding stops at the end of that line.
pub(crate) fn first_line(raw: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(raw);
    let blank = |c: &char| c.is_whitespace() || c.is_control();
    let chars = Unescape(text.chars()).skip_while(blank);
    // Room for the control characters `clean` drops.
    let line: String = chars.take_while(|&c| c != '\n').take(4 * max).collect();
    clean(&line, max)
}

/// `s` without control characters (a tab or a newline becomes a space),
/// trimmed and cut to `max` characters: a value bach may store.
pub(crate) fn clean(s: &str, max: usize) -> String {
    // Nearly every value bach makes is short printable ASCII already.
    let plain = |b: u8| (b' '..=b'~').contains(&b);
    if s.len() <= max && s.bytes().all(plain) && s.trim() == s {
        return s.to_string();
    }
    let spaced = s.chars().map(|c| if c == '\t' || c == '\n' || c == '\r' { ' ' } else { c });
    let kept: String = spaced.filter(|c| !c.is_control() && *c != '\u{fffd}').collect();
    kept.trim().chars().take(max).collect::<String>().trim_end().to_string()
}

/// The characters of a JSON string's body with escapes (`\n`, `\"`, `\\`,
/// `\uXXXX` with surrogate pairs) decoded well enough to read; anything
/// malformed or cut short is dropped.
struct Unescape<'a>(std::str::Chars<'a>);

impl Iterator for Unescape<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        loop {
            let c = self.0.next()?;
            if c != '\\' {
                return Some(c);
            }
            let decoded = match self.0.next() {
                Some('n') => Some('\n'),
                Some('t') => Some('\t'),
                Some('u') => self.code_point(),
                Some(c @ ('"' | '\\' | '/')) => Some(c),
                // \b, \f, \r and anything unknown: nothing readable.
                Some(_) => None,
                None => return None,
            };
            if decoded.is_some() {
                return decoded;
            }
        }
    }
}

impl Unescape<'_> {
    /// After `\u`: one code point, joining a surrogate pair.
    fn code_point(&mut self) -> Option<char> {
        match hex4(&mut self.0)? {
            hi @ 0xd800..=0xdbff => {
                // Take the low half only if it is there, so a lone high
                // half drops alone.
                let mut ahead = self.0.clone();
                let pair = ahead.next() == Some('\\') && ahead.next() == Some('u');
                let lo = pair
                    .then(|| hex4(&mut ahead))
                    .flatten()
                    .filter(|lo| (0xdc00..=0xdfff).contains(lo))?;
                self.0 = ahead;
                char::from_u32(0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00))
            }
            code => char::from_u32(code),
        }
    }
}

/// Four hex digits, consumed whether or not they are valid.
fn hex4(chars: &mut std::str::Chars) -> Option<u32> {
    let digits: String = chars.by_ref().take(4).collect();
    let hex = digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| u32::from_str_radix(&digits, 16).ok()).flatten()
}

#[cfg(test)]
#[path = "markers_tests.rs"]
mod tests;
