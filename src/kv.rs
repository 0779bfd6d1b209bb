//! The `key = value` format shared by records, status files, `daemon.state`
//! and the config: one pair per line, the value is the rest of the line,
//! trimmed, no escapes; a line whose first non-blank character is `#` is a
//! comment. Parsing is pure and reports the first bad line.

use crate::text::escape;

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    /// 1-based line number.
    pub line: usize,
    /// The key, trimmed.
    pub key: &'a str,
    /// The value, trimmed.
    pub value: &'a str,
}

/// Why a line does not parse: its number and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong, naming the key where there is one.
    pub reason: String,
}

/// Parses a whole text: blank and comment lines are skipped; a line without
/// `=`, with an empty key or value, or a key given twice is an error.
pub fn parse(text: &str) -> Result<Vec<Field<'_>>, LineError> {
    let mut fields: Vec<Field> = Vec::new();
    for f in lines(text) {
        let f = f?;
        if let Some(first) = fields.iter().find(|g| g.key == f.key) {
            let reason = format!("key '{}' given twice (first on line {})", f.key, first.line);
            return Err(LineError { line: f.line, reason });
        }
        fields.push(f);
    }
    Ok(fields)
}

/// Each line that is not blank or a comment, parsed on its own (for readers
/// that skip a bad line instead of refusing the text; duplicates are left
/// to them).
pub fn lines(text: &str) -> impl Iterator<Item = Result<Field<'_>, LineError>> {
    text.lines().enumerate().filter_map(|(i, raw)| {
        let trimmed = raw.trim();
        (!trimmed.is_empty() && !trimmed.starts_with('#')).then(|| field(i + 1, trimmed))
    })
}

fn field(line: usize, trimmed: &str) -> Result<Field<'_>, LineError> {
    let err = |reason: String| Err(LineError { line, reason });
    if trimmed.chars().any(|c| c.is_control() && c != '\t') {
        return err(format!("control character in '{}'", escape(trimmed)));
    }
    let Some((key, value)) = trimmed.split_once('=') else {
        return err(format!("no '=' in '{}'", escape(trimmed)));
    };
    let (key, value) = (key.trim(), value.trim());
    if key.is_empty() {
        return err("empty key".into());
    }
    if value.is_empty() {
        return err(format!("empty value for '{}'", escape(key)));
    }
    Ok(Field { line, key, value })
}

/// Whether `v` survives a round trip as a value: not empty, no control
/// character, no blank at either end (values are trimmed when read).
pub fn storable(v: &str) -> bool {
    !v.is_empty() && v.trim() == v && !crate::text::has_control(v)
}

/// The value of `key`, if present.
pub fn get<'a>(fields: &[Field<'a>], key: &str) -> Option<&'a str> {
    fields.iter().find(|f| f.key == key).map(|f| f.value)
}

/// Renders pairs as lines. A pair whose value is `None`, or could not be
/// read back as it is (see [`storable`]), is left out: what is written
/// always parses.
pub fn render<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<String>)>) -> String {
    let ok = |v: &String| storable(v);
    pairs.into_iter().filter_map(|(k, v)| Some(format!("{k} = {}\n", v.filter(ok)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values_with_spaces_hashes_and_equals() {
        let f = parse("# c\n\n  a = x # not a comment \nb=c=d\n   # indented comment\n").unwrap();
        assert_eq!(
            f,
            vec![
                Field { line: 3, key: "a", value: "x # not a comment" },
                Field { line: 4, key: "b", value: "c=d" },
            ]
        );
        assert_eq!(get(&f, "b"), Some("c=d"));
        assert_eq!(get(&f, "z"), None);
    }

    #[test]
    fn bad_lines_are_reported_with_number_and_key() {
        let e = |t| parse(t).unwrap_err();
        assert_eq!(
            e("a = 1\nnonsense\n"),
            LineError { line: 2, reason: "no '=' in 'nonsense'".into() }
        );
        assert_eq!(e(" = 1").reason, "empty key");
        assert_eq!(e("k =  ").reason, "empty value for 'k'");
        assert_eq!(e("k = 1\nk = 2").reason, "key 'k' given twice (first on line 1)");
        assert_eq!(e("a = b\x1bc").reason, "control character in 'a = b\\x1bc'");
        assert!(parse("a\t=\tb c").is_ok(), "tabs are blanks");
    }

    #[test]
    fn render_leaves_out_absent_values_and_round_trips() {
        let pairs = [("a", Some("1".into())), ("b", None), ("c", Some("x y".into()))];
        let unreadable = [("d", Some(String::new())), ("e", Some(" pad ".into()))];
        let text = render(pairs.into_iter().chain(unreadable).chain([("f", Some("a\x1b".into()))]));
        assert_eq!(text, "a = 1\nc = x y\n", "unreadable values are left out");
        let f = parse(&text).unwrap();
        assert_eq!((f[1].key, f[1].value), ("c", "x y"));
    }
}
