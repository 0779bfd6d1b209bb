//! A JSON value and its writer: enough for bach's `--json` documents.
//! Strings are escaped per RFC 8259, and every control character (DEL and
//! C1 included) is written as `\u00XX`, so output is safe on a terminal.

use std::fmt::Write;

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object whose fields keep their order.
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    /// A string, or `null` for `None`.
    pub fn opt_str(v: Option<impl Into<String>>) -> Json {
        v.map_or(Json::Null, |s| Json::Str(s.into()))
    }

    /// An integer, or `null` for `None`.
    pub fn opt_int(v: Option<impl Into<i64>>) -> Json {
        v.map_or(Json::Null, |n| Json::Int(n.into()))
    }

    /// The document as one line of text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => write!(out, "{n}").unwrap(),
            Json::Str(s) => write_str(out, s),
            Json::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, k);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => write!(out, "\\u{:04x}", c as u32).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_and_terminal_safe() {
        let v = Json::Str("q\"b\\n\nt\te\x1bd\x7fc\u{85}ü".into());
        assert_eq!(v.render(), r#""q\"b\\n\nt\te\u001bd\u007fc\u0085ü""#);
    }

    #[test]
    fn documents_nest_in_order() {
        let v = Json::Obj(vec![
            ("a", Json::Arr(vec![Json::Int(-1), Json::Null, Json::Bool(true)])),
            ("b", Json::opt_str(None::<String>)),
            ("c", Json::opt_int(Some(7u32))),
        ]);
        assert_eq!(v.render(), r#"{"a":[-1,null,true],"b":null,"c":7}"#);
    }
}
