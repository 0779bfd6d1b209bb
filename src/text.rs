//! What bach prints for people: escaped strings, aligned tables, ages.
//! Invariant: a control character read from a file or a process is never
//! printed raw; it shows as `\xNN` (or `\u{NN}` past ASCII).

use std::borrow::Cow;
use std::fmt::Write;

/// `s` with every control character escaped; borrowed when there is none.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !has_control(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            c if (c as u32) < 0x80 && c.is_control() => write!(out, "\\x{:02x}", c as u32).unwrap(),
            c if c.is_control() => write!(out, "\\u{{{:x}}}", c as u32).unwrap(),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether `s` holds a control character (which no stored value may).
pub fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Rows aligned under their headers (`headers` names the columns, one word
/// each, separated by spaces), two spaces apart; cells are escaped.
pub fn table(headers: &str, rows: &[Vec<String>]) -> String {
    let cells: Vec<Vec<String>> = std::iter::once(headers.split(' ').map(String::from).collect())
        .chain(rows.iter().map(|r| r.iter().map(|c| escape(c).into_owned()).collect()))
        .collect();
    let width = |i: usize| cells.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cells[0].len()).map(width).collect();
    let mut out = String::new();
    for row in &cells {
        // `{:<w$}` pads by characters, like the widths above.
        let line: String = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}  ")).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A duration in seconds as people say it: "42s", "3m", "5h", "2d".
pub fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// How long ago `then` was: "3m ago", or "-" when unknown.
pub fn ago(then: Option<u64>, now: u64) -> String {
    or_dash(then.map(|t| format!("{} ago", duration(now.saturating_sub(t)))))
}

/// `Some(v)` shown as text, `None` as "-".
pub fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// `s` as one shell word, quoted only when it needs to be.
pub fn sh_quote(s: &str) -> Cow<'_, str> {
    let safe = |b: u8| b.is_ascii_alphanumeric() || b"/._-+=:,@%".contains(&b);
    match !s.is_empty() && s.bytes().all(safe) {
        true => Cow::Borrowed(s),
        false => Cow::Owned(format!("'{}'", s.replace('\'', r"'\''"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain ü"), "plain ü");
        assert_eq!(escape("a\x1b[31mb\n"), "a\\x1b[31mb\\x0a");
        assert_eq!(escape("del\x7f c1\u{9b}"), "del\\x7f c1\\u{9b}");
        assert!(matches!(escape("x"), Cow::Borrowed(_)));
    }

    #[test]
    fn table_aligns_columns_by_characters() {
        let t = table(
            "ID TITLE",
            &[vec!["a".into(), "ü x".into()], vec!["long".into(), "\x07".into()]],
        );
        assert_eq!(t, "ID    TITLE\na     ü x\nlong  \\x07\n");
    }

    #[test]
    fn ages_read_like_people_say_them() {
        assert_eq!(ago(Some(100), 142), "42s ago");
        assert_eq!(ago(Some(0), 180), "3m ago");
        assert_eq!(ago(Some(0), 7200), "2h ago");
        assert_eq!(ago(Some(0), 200_000), "2d ago");
        assert_eq!(ago(Some(50), 10), "0s ago");
        assert_eq!(ago(None, 10), "-");
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(sh_quote("/usr/bin/bach"), "/usr/bin/bach");
        assert_eq!(sh_quote("/a b/it's"), r"'/a b/it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }
}
