//! A strict reader for one JSON object (RFC 8259) that returns its top-level
//! members in order. Objects and arrays inside it are skipped (brackets
//! paired, strings checked) and reported as `Nested`. Invariant: any input
//! gives the members or an error naming a byte offset, never a panic; nesting
//! is counted, not recursed, so no input can exhaust the stack.

use crate::text::escape;
use std::collections::HashSet;
use std::ops::Range;

/// A top-level member's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string, unescaped.
    Str(String),
    /// A number, as written.
    Num(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An object or an array.
    Nested,
}

/// Objects and arrays nest at most this deep (the top-level object is 1).
pub const MAX_DEPTH: usize = 64;

/// The members of the one object in `bytes`. A key twice in that object is
/// an error (readers differ on which one wins); nested keys are not compared.
pub fn parse(bytes: &[u8]) -> Result<Vec<(String, Value)>, String> {
    Ok(spans(bytes)?.into_iter().map(|(k, v, _)| (k, v)).collect())
}

/// The members of the object that is the value of the top-level `key` (read
/// the same way), or `None` when there is no such member or it is no object.
pub fn nested(bytes: &[u8], key: &str) -> Result<Option<Vec<(String, Value)>>, String> {
    let Some((_, _, span)) = spans(bytes)?.into_iter().find(|(k, _, _)| k == key) else {
        return Ok(None);
    };
    let at = span.start;
    match bytes.get(at) {
        Some(b'{') => parse(&bytes[span])
            .map(Some)
            .map_err(|e| format!("{} (from byte {at}): {e}", escape(key))),
        _ => Ok(None),
    }
}

/// The members, each with the bytes of its value.
fn spans(bytes: &[u8]) -> Result<Vec<(String, Value, Range<usize>)>, String> {
    std::str::from_utf8(bytes).map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to()))?;
    let (mut c, mut out, mut seen) = (Cursor(bytes, 0), Vec::new(), HashSet::new());
    c.expect(b'{')?;
    while c.expect(b'}').is_err() {
        if !out.is_empty() {
            c.expect(b',')?;
        }
        c.peek();
        let at = c.1;
        let key = c.string()?;
        if !seen.insert(key.clone()) {
            return Err(format!("duplicate key \"{}\" at byte {at}", escape(&key)));
        }
        c.expect(b':')?;
        c.peek();
        let start = c.1;
        let value = c.value()?;
        out.push((key, value, start..c.1));
    }
    c.peek().map_or(Ok(out), |_| Err(c.err("trailing data")))
}

/// Whether `w` is a JSON number: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn number(w: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    let (m, e) = w.split_once(['e', 'E']).unwrap_or((w, "0"));
    let m = m.strip_prefix('-').unwrap_or(m);
    let (int, frac) = m.split_once('.').unwrap_or((m, "0"));
    let e = e.strip_prefix(['+', '-']).unwrap_or(e);
    digits(int) && (int == "0" || !int.starts_with('0')) && digits(frac) && digits(e)
}

/// The input and the offset of the next byte, never past the end.
struct Cursor<'a>(&'a [u8], usize);

impl Cursor<'_> {
    fn err(&self, what: &str) -> String {
        let end = if self.1 < self.0.len() { "" } else { " (end of input)" };
        format!("{what}{end} at byte {}", self.1)
    }

    /// The next byte after blanks.
    fn peek(&mut self) -> Option<u8> {
        while matches!(self.0.get(self.1), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.1 += 1;
        }
        self.0.get(self.1).copied()
    }

    /// Takes `c`, the next byte after blanks.
    fn expect(&mut self, c: u8) -> Result<(), String> {
        let hit = self.peek() == Some(c);
        self.1 += usize::from(hit);
        hit.then_some(()).ok_or_else(|| self.err(&format!("expected '{}'", char::from(c))))
    }

    fn value(&mut self) -> Result<Value, String> {
        let first = self.peek();
        let (b, i) = (self.0, self.1);
        let len =
            b[i..].iter().take_while(|c| c.is_ascii_alphanumeric() || b"+-.".contains(c)).count();
        let word = std::str::from_utf8(&b[i..i + len]).unwrap_or_default();
        let value = match (first, word) {
            (Some(b'"'), _) => return self.string().map(Value::Str),
            (Some(b'{' | b'['), _) => return self.skip().map(|()| Value::Nested),
            (_, "true") => Value::Bool(true),
            (_, "false") => Value::Bool(false),
            (_, "null") => Value::Null,
            (_, w) if number(w) => Value::Num(w.into()),
            (Some(b'-' | b'0'..=b'9'), _) => return Err(self.err("bad number")),
            _ => return Err(self.err("expected a value")),
        };
        self.1 += len;
        Ok(value)
    }

    /// Skips one object or array: pairs its brackets, checks its strings.
    fn skip(&mut self) -> Result<(), String> {
        let mut open = Vec::new();
        loop {
            match self.0.get(self.1) {
                Some(b'"') => {
                    self.string()?;
                    continue;
                }
                Some(b'{' | b'[') if open.len() + 1 == MAX_DEPTH => {
                    return Err(self.err("nesting deeper than 64"))
                }
                // `{` + 2 is `}`, and `[` + 2 is `]`.
                Some(&c @ (b'{' | b'[')) => open.push(c + 2),
                Some(&c @ (b'}' | b']')) if open.last() == Some(&c) => drop(open.pop()),
                Some(b'}' | b']') => return Err(self.err("unpaired bracket")),
                Some(_) => {}
                None => return Err(self.err("unterminated value")),
            }
            self.1 += 1;
            if open.is_empty() {
                return Ok(());
            }
        }
    }

    /// A string, from its opening quote (after blanks), unescaped.
    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let at = self.1;
            let c = *self.0.get(at).ok_or_else(|| self.err("unterminated string"))?;
            self.1 += 1;
            match c {
                b'"' => return String::from_utf8(out).map_err(|_| self.err("invalid UTF-8")),
                b'\\' => {
                    let c = self
                        .escape()
                        .ok_or_else(|| format!("bad escape or lone surrogate at byte {at}"))?;
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                0..=0x1f => return Err(format!("control character in string at byte {at}")),
                _ => out.push(c),
            }
        }
    }

    /// The character of the escape after a `\`; `None` for a bad one,
    /// a surrogate that is not half of a pair included.
    fn escape(&mut self) -> Option<char> {
        let c = *self.0.get(self.1)?;
        self.1 += 1;
        if let Some(n) = b"\"\\/bfnrt".iter().position(|&e| e == c) {
            return Some(char::from(b"\"\\/\x08\x0c\n\r\t"[n]));
        }
        let hi = (c == b'u').then(|| self.hex4()).flatten()?;
        if !(0xD800..0xDC00).contains(&hi) {
            return char::from_u32(hi);
        }
        let pair = self.0[self.1..].starts_with(b"\\u");
        self.1 += 2 * usize::from(pair);
        let lo = pair.then(|| self.hex4()).flatten().filter(|lo| (0xDC00..0xE000).contains(lo))?;
        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.0.get(self.1..self.1 + 4).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
        self.1 += 4;
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    }
}

#[cfg(test)]
#[path = "flatjson_tests.rs"]
mod tests;
