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
    /// An object whose names come from data (a status file's keys).
    Map(Vec<(String, Json)>),
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

    /// A `--json` document: `fields` after the three every document has,
    /// `schema` (1), `host` (the node name) and `generated_at` (Unix seconds),
    /// so a fleet is one loop over `ssh HOST bach ... --json`.
    pub fn document(fields: Vec<(&'static str, Json)>) -> Json {
        let head = [
            ("schema", Json::Int(1)),
            ("host", Json::opt_str(crate::sys::nodename())),
            ("generated_at", Json::Int(crate::time::now() as i64)),
        ];
        Json::Obj(head.into_iter().chain(fields).collect())
    }

    /// The document as one line of text.
    pub fn render(&self) -> String {
        match self {
            Json::Null => "null".into(),
            Json::Bool(b) => b.to_string(),
            Json::Int(n) => n.to_string(),
            Json::Str(s) => quote(s),
            Json::Arr(items) => {
                let items: Vec<String> = items.iter().map(Json::render).collect();
                format!("[{}]", items.join(","))
            }
            Json::Obj(fields) => {
                let fields: Vec<String> =
                    fields.iter().map(|(k, v)| format!("{}:{}", quote(k), v.render())).collect();
                format!("{{{}}}", fields.join(","))
            }
            Json::Map(fields) => {
                let fields: Vec<String> =
                    fields.iter().map(|(k, v)| format!("{}:{}", quote(k), v.render())).collect();
                format!("{{{}}}", fields.join(","))
            }
        }
    }
}

fn quote(s: &str) -> String {
    let mut out = String::from('"');
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
    out
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
    fn every_document_says_its_schema_host_and_time() {
        let d = Json::document(vec![("tasks", Json::Arr(vec![]))]).render();
        let host = crate::sys::nodename().unwrap();
        assert!(d.starts_with(&format!(r#"{{"schema":1,"host":"{host}","generated_at":"#)), "{d}");
        assert!(d.ends_with(r#","tasks":[]}"#), "{d}");
    }

    #[test]
    fn documents_nest_in_order() {
        let v = Json::Obj(vec![
            ("a", Json::Arr(vec![Json::Int(-1), Json::Null, Json::Bool(true)])),
            ("b", Json::opt_str(None::<String>)),
            ("c", Json::opt_int(Some(7u32))),
            ("d", Json::Map(vec![("k\"1".into(), Json::Str("v".into()))])),
        ]);
        assert_eq!(v.render(), r#"{"a":[-1,null,true],"b":null,"c":7,"d":{"k\"1":"v"}}"#);
    }
}
