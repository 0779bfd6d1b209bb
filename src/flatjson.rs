//! A strict reader for one JSON object (RFC 8259), enough for what bach
//! reads from agents: a hook payload, a registry file, a rollout's first
//! line. It returns the top-level members in order; an object or array
//! inside is checked like the rest and reported by where its bytes are, so
//! a caller may read it in turn. Invariant: any input gives the members or
//! an error naming a byte offset, never a panic; objects and arrays nest at
//! most [`MAX_DEPTH`] deep, so no input can exhaust the stack.

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
    /// An object or an array: its bytes in the input, brackets included.
    Nested(std::ops::Range<usize>),
}

/// Objects and arrays nest at most this deep (the top-level object is 1).
pub const MAX_DEPTH: usize = 64;

/// The members of an object, in order (an array's items have empty keys).
type Members = Vec<(String, Value)>;

/// What JSON allows between tokens.
const BLANKS: [char; 4] = [' ', '\t', '\n', '\r'];

/// The members of the one object in `b`. A key twice in one object is an
/// error (readers differ on which one wins). Inside, an error is a reason
/// and the length of the input left where it was found.
pub fn parse(b: &[u8]) -> Result<Members, String> {
    let mut s =
        std::str::from_utf8(b).map_err(|e| format!("not UTF-8 at byte {}", e.valid_up_to()))?;
    let at = |(what, left): (String, usize)| format!("{what} at byte {}", b.len() - left);
    let members = eat(&mut s, '{').and_then(|()| items(&mut s, b.len(), 1, '}')).map_err(at)?;
    s.is_empty().then_some(members).ok_or_else(|| at(("trailing data".into(), s.len())))
}

/// The items of an object (`close` is `}`) or array (`]`) just opened, at
/// `depth` in an input of `len` bytes, through its close.
fn items(s: &mut &str, len: usize, depth: usize, close: char) -> Result<Members, (String, usize)> {
    let (mut out, mut seen) = (Vec::new(), std::collections::HashSet::new());
    let key = |s: &mut &str| string(s).and_then(|k| eat(s, ':').map(|()| k));
    // Until the close, with a comma before each item but the first.
    while eat(s, close).is_err() && (out.is_empty() || eat(s, ',').map(|()| true)?) {
        let (left, key) = (s.len(), if close == '}' { key(s)? } else { String::new() });
        if close == '}' && !seen.insert(key.clone()) {
            return Err((format!("duplicate key {key:?}"), left));
        }
        out.push((key, value(s, len, depth)?));
    }
    Ok(out)
}

/// Takes `c`, the next character after blanks, and the blanks after it.
fn eat(s: &mut &str, c: char) -> Result<(), (String, usize)> {
    *s = s.trim_start_matches(BLANKS);
    *s = s.strip_prefix(c).ok_or_else(|| (format!("expected '{c}'"), s.len()))?;
    *s = s.trim_start_matches(BLANKS);
    Ok(())
}

/// Whether `w` is a JSON number: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn number(w: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    let (m, e) = w.split_once(['e', 'E']).unwrap_or((w, "0"));
    let (m, e) = (m.strip_prefix('-').unwrap_or(m), e.strip_prefix(['+', '-']).unwrap_or(e));
    let (int, frac) = m.split_once('.').unwrap_or((m, "0"));
    digits(int) && (int == "0" || !int.starts_with('0')) && digits(frac) && digits(e)
}

/// A value in a container at `depth` (blanks before it taken); a scalar is
/// the word up to the next delimiter (an empty one before a string, object
/// or array, so that no value is scanned twice).
fn value(s: &mut &str, len: usize, depth: usize) -> Result<Value, (String, usize)> {
    let word = s.split(|c: char| "{}[]\",: \t\n\r".contains(c)).next().unwrap_or_default();
    let scalar = match word {
        "true" | "false" => Value::Bool(word == "true"),
        "null" => Value::Null,
        w if number(w) => Value::Num(w.into()),
        _ if s.starts_with('"') => return string(s).map(Value::Str),
        _ if s.starts_with(['{', '[']) && depth < MAX_DEPTH => {
            let (start, close) = (len - s.len(), if s.starts_with('{') { '}' } else { ']' });
            *s = &s[1..];
            return items(s, len, depth + 1, close).map(|_| Value::Nested(start..len - s.len()));
        }
        // Past the depth, an object or array is no value either.
        _ => return Err((if depth < MAX_DEPTH { "no value" } else { "too deep" }.into(), s.len())),
    };
    *s = &s[word.len()..];
    Ok(scalar)
}

/// A string from its opening quote, unescaped, up to its closing quote (one
/// missing fails whoever reads on). It is gathered in UTF-16 units, so an
/// escaped surrogate pair joins and a lone surrogate is refused.
fn string(s: &mut &str) -> Result<String, (String, usize)> {
    *s = s.strip_prefix('"').ok_or_else(|| ("expected '\"'".into(), s.len()))?;
    let (mut units, mut chars) = (Vec::new(), s.chars());
    while let Some(c) = chars.next().filter(|&c| c != '"') {
        let at = chars.as_str().len() + c.len_utf8();
        match c {
            '\\' => units.push(escape(&mut chars).ok_or_else(|| ("bad escape".into(), at))?),
            ' '.. => units.extend_from_slice(c.encode_utf16(&mut [0; 2])),
            _ => return Err(("control character in string".into(), at)),
        }
    }
    *s = chars.as_str();
    String::from_utf16(&units).map_err(|_| ("lone surrogate in the string ending".into(), s.len()))
}

/// The UTF-16 unit of the escape whose `\` `chars` just passed.
fn escape(chars: &mut std::str::Chars) -> Option<u16> {
    match chars.next()? {
        'u' => (0..4).try_fold(0, |u, _| Some(u * 16 + chars.next()?.to_digit(16)? as u16)),
        e => "\"\\/bfnrt".find(e).map(|n| u16::from(b"\"\\/\x08\x0c\n\r\t"[n])),
    }
}

#[cfg(test)]
#[path = "flatjson_tests.rs"]
mod tests;
