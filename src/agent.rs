//! What Claude Code and Codex have in common for registration: reading a
//! command line (the program, the script node runs), the short ids bach
//! gives their sessions, and the check every value read from them passes.
//! Invariant: a value taken from an agent's file or payload is one bach may
//! store: no control characters, no leading or trailing whitespace.

use crate::flatjson::Value;
use crate::text::{escape, has_control};

/// The last component of a path (the whole of it without a `/`).
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The script a `node` (or `bun`) command line runs, and the script's own
/// arguments: the first argument that is not an option. `None` when node
/// runs code from `-e`, `-p` or stdin instead. Options that take a value
/// (`-r x`, `--import x`...) are skipped with it, and so is bun's `run`.
pub fn script<'a, 'b>(args: &'b [&'a str]) -> Option<(&'a str, &'b [&'a str])> {
    let mut i = 0;
    while let Some(&a) = args.get(i) {
        match a {
            "-e" | "--eval" | "-p" | "--print" | "-" => return None,
            "-r"
            | "--require"
            | "--import"
            | "--loader"
            | "--experimental-loader"
            | "-C"
            | "--conditions"
            | "--title"
            | "--input-type" => i += 2,
            "--" => return args.get(i + 1).map(|&s| (s, &args[i + 2..])),
            "run" => i += 1,
            a if a.starts_with('-') => i += 1,
            a => return Some((a, &args[i + 1..])),
        }
    }
    None
}

/// `PREFIX-` and the first 12 hex digits of an agent's session id (dashes
/// skipped, lowercased), or `None` when the id has fewer before its first
/// character that is neither.
pub fn short_id(prefix: &str, agent_session: &str) -> Option<String> {
    let hex: String = agent_session
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
        .filter(|c| *c != '-')
        .take(12)
        .collect();
    (hex.len() == 12).then(|| format!("{prefix}-{}", hex.to_ascii_lowercase()))
}

/// The value of the member `key`, the first if repeated.
pub fn member<'a>(members: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    members.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// A string member as bach may store it: `None` when absent, `null` or
/// empty; an error naming `key` for another type, a control character or
/// padding.
pub fn text(key: &str, value: Option<&Value>) -> Result<Option<String>, String> {
    let s = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Str(s)) if s.is_empty() => return Ok(None),
        Some(Value::Str(s)) => s,
        Some(Value::Num(_) | Value::Bool(_) | Value::Nested(_)) => {
            return Err(format!("{key}: not a string"))
        }
    };
    if has_control(s) {
        return Err(format!("{key}: control character in \"{}\"", escape(s)));
    }
    if s.trim() != s {
        return Err(format!("{key}: leading or trailing whitespace in \"{s}\""));
    }
    Ok(Some(s.clone()))
}

/// A path member: [`text`], and absolute.
pub fn path(key: &str, value: Option<&Value>) -> Result<Option<String>, String> {
    match text(key, value)? {
        Some(p) if !p.starts_with('/') => Err(format!("{key}: not an absolute path: \"{p}\"")),
        p => Ok(p),
    }
}

/// A number member that must be a non-negative integer; `None` when absent
/// or `null`.
pub fn integer(key: &str, value: Option<&Value>) -> Result<Option<u64>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Num(n)) => {
            n.parse().map(Some).map_err(|_| format!("{key}: not a non-negative integer: {n}"))
        }
        Some(Value::Str(_) | Value::Bool(_) | Value::Nested(_)) => {
            Err(format!("{key}: not a number"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basenames() {
        for (path, want) in [("/usr/bin/node", "node"), ("node", "node"), ("a/b/", ""), ("", "")] {
            assert_eq!(basename(path), want, "{path}");
        }
    }

    #[test]
    fn scripts_node_runs() {
        type Case<'a> = (&'a [&'a str], Option<(&'a str, &'a [&'a str])>);
        let cases: &[Case] = &[
            (&["/x/cli.js", "--resume"], Some(("/x/cli.js", &["--resume"]))),
            (
                &["--no-warnings", "--max-old-space-size=8192", "/x/cli.js"],
                Some(("/x/cli.js", &[])),
            ),
            (&["-r", "/pre.js", "/x/cli.js", "a"], Some(("/x/cli.js", &["a"]))),
            (&["--import", "tsx", "--", "/x/cli.js", "-e"], Some(("/x/cli.js", &["-e"]))),
            (&["run", "/x/cli.js"], Some(("/x/cli.js", &[]))),
            (&["-e", "require('/x/cli.js')"], None),
            (&["-p", "1"], None),
            (&["-"], None),
            (&["--"], None),
            (&["-r"], None),
            (&[], None),
        ];
        for (args, want) in cases {
            assert_eq!(script(args), *want, "{args:?}");
        }
    }

    #[test]
    fn short_ids_take_twelve_hex_digits() {
        let cases = [
            ("417c4de5-1034-474f-b13d-6e737d47b966", Some("c-417c4de51034")),
            ("417C4DE5-1034-474F", Some("c-417c4de51034")),
            ("417c4de51034", Some("c-417c4de51034")),
            ("-417c4de5--1034", Some("c-417c4de51034")),
            ("417c4de5-103", None),
            ("417c4de5-103g-474f", None),
            (" 417c4de5-1034-474f", None),
            ("", None),
            ("../../etc/passwd", None),
        ];
        for (id, want) in cases {
            assert_eq!(short_id("c", id).as_deref(), want, "{id}");
        }
    }

    #[test]
    fn values_are_checked_before_bach_keeps_them() {
        let s = |v: &str| Some(Value::Str(v.into()));
        type Want<'a> = Result<Option<&'a str>, &'a str>;
        let cases: &[(Option<Value>, Want)] = &[
            (None, Ok(None)),
            (Some(Value::Null), Ok(None)),
            (s(""), Ok(None)),
            (s("/a b/ü"), Ok(Some("/a b/ü"))),
            (s("/a\nb"), Err("k: control character in \"/a\\x0ab\"")),
            (s("/a\u{9b}"), Err("k: control character in \"/a\\u{9b}\"")),
            (s(" /a"), Err("k: leading or trailing whitespace in \" /a\"")),
            (s("/a "), Err("k: leading or trailing whitespace in \"/a \"")),
            (s("a/b"), Err("k: not an absolute path: \"a/b\"")),
            (s("~/a"), Err("k: not an absolute path: \"~/a\"")),
            (Some(Value::Num("1".into())), Err("k: not a string")),
            (Some(Value::Bool(true)), Err("k: not a string")),
            (Some(Value::Nested(0..2)), Err("k: not a string")),
        ];
        for (value, want) in cases {
            let want = want.map(|o| o.map(String::from)).map_err(String::from);
            assert_eq!(path("k", value.as_ref()), want, "{value:?}");
        }
        assert_eq!(text("k", s("a b").as_ref()), Ok(Some("a b".into())));
        let n = |v: &str| Some(Value::Num(v.into()));
        assert_eq!(integer("k", n("1796114375879").as_ref()), Ok(Some(1796114375879)));
        assert_eq!(integer("k", None), Ok(None));
        assert_eq!(integer("k", Some(&Value::Null)), Ok(None));
        for bad in ["-1", "1.5", "1e3", "18446744073709551616"] {
            let want = format!("k: not a non-negative integer: {bad}");
            assert_eq!(integer("k", n(bad).as_ref()), Err(want));
        }
        assert_eq!(integer("k", s("1").as_ref()), Err("k: not a number".into()));
    }
}
