//! OpenAI's Codex CLI as bach sees it: which processes are a Codex agent (one
//! agent even when the npm wrapper and the native binary both show), the
//! `session_meta` line that opens a rollout, and where rollouts are kept.
//! Pure: every input is a value, the time included. Invariant: a rollout's
//! id and cwd are believed only after they passed [`agent::text`].

use crate::agent::{self, basename, member};
use crate::flatjson::{self, Value};

/// Codex subcommands that run no agent session. Only `exec` (alias `e`)
/// and `resume` do, besides plain `codex [PROMPT]` (DESIGN, Settled).
const NOT_AGENTS: &[&str] = &[
    "review",
    "login",
    "logout",
    "mcp",
    "mcp-server",
    "app-server",
    "app",
    "completion",
    "sandbox",
    "debug",
    "apply",
    "a",
    "fork",
    "cloud",
    "cloud-tasks",
    "features",
    "help",
    "proto",
    "p",
    "responses-api-proxy",
    "stdio-to-uds",
    "exec-server",
    "execpolicy",
    "generate-ts",
];

/// Options of `codex` that take the next argument as their value.
const WITH_VALUE: &[&str] = &[
    "-c",
    "--config",
    "-m",
    "--model",
    "-p",
    "--profile",
    "-s",
    "--sandbox",
    "-a",
    "--ask-for-approval",
    "-C",
    "--cd",
    "-i",
    "--image",
    "--add-dir",
    "--enable",
    "--disable",
    "--local-provider",
];

/// Whether a command line is a Codex agent: `argv[0]`'s basename is `codex`,
/// or node (or bun) runs a script named `codex` or `codex.js` (the npm
/// wrapper, `node …/.bin/codex exec …`); and the arguments start a session:
/// none, a prompt, `exec`/`e` or `resume`. Any other subcommand (see
/// `NOT_AGENTS`) and `-h`/`--help`/`-V`/`--version` are not agents.
pub fn is_codex(argv: &[&str]) -> bool {
    let Some((&arg0, rest)) = argv.split_first() else { return false };
    let args = match basename(arg0) {
        "codex" => rest,
        "node" | "nodejs" | "bun" => match agent::script(rest) {
            Some((script, args)) if matches!(basename(script), "codex" | "codex.js") => args,
            _ => return false,
        },
        _ => return false,
    };
    starts_session(args)
}

/// Whether `codex ARGS` starts a session (see [`is_codex`]).
fn starts_session(args: &[&str]) -> bool {
    let mut i = 0;
    while let Some(&a) = args.get(i) {
        match a {
            "-h" | "--help" | "-V" | "--version" => return false,
            "--" => return true,
            a if WITH_VALUE.contains(&a) => i += 2,
            a if a.starts_with('-') => i += 1,
            "exec" | "e" | "resume" => {
                let mut own = args[i + 1..].iter().take_while(|&&a| a != "--");
                return !own.any(|&a| matches!(a, "-h" | "--help" | "-V" | "--version"));
            }
            a => return !NOT_AGENTS.contains(&a),
        }
    }
    true
}

/// The Codex agents among codex processes. `codex` holds `(pid, ppid)` of
/// every process [`is_codex`] accepted; a codex whose parent is also one of
/// them belongs to its parent's agent (the npm wrapper starts the native
/// binary, which holds the rollout open). Each agent is its outermost pid
/// with all of its codex pids, itself first, in the order of `codex`.
/// Processes in a parent cycle (which a torn `ps` read could show) have no
/// outermost and are left out.
pub fn outermost(codex: &[(i32, i32)]) -> Vec<(i32, Vec<i32>)> {
    let is_codex = |pid: i32| codex.iter().any(|&(p, _)| p == pid);
    let mut agents: Vec<(i32, Vec<i32>)> = Vec::new();
    for &(root, _) in codex.iter().filter(|&&(_, ppid)| !is_codex(ppid)) {
        if agents.iter().any(|(r, _)| *r == root) {
            continue;
        }
        let mut members = vec![root];
        let mut next = 0;
        while let Some(&parent) = members.get(next) {
            let children = codex.iter().filter(|&&(_, pp)| pp == parent).map(|&(p, _)| p);
            let new: Vec<i32> = children.filter(|p| !members.contains(p)).collect();
            members.extend(new);
            next += 1;
        }
        agents.push((root, members));
    }
    agents
}

/// What the first line of a rollout (`session_meta`) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// `payload.id`: Codex's session id.
    pub id: String,
    /// `payload.cwd`, absolute.
    pub cwd: String,
    /// `payload.timestamp` (else the line's), Unix seconds.
    pub timestamp_secs: u64,
    /// `payload.originator`, e.g. `codex_exec`, `codex-tui`.
    pub originator: Option<String>,
}

/// Reads a rollout's first line (it can be 21 KiB: the payload carries the
/// base instructions); `None` unless it is a well-formed `session_meta`
/// with a storable id, an absolute cwd and a time. Legacy rollouts (2025,
/// no `payload`) give `None`.
pub fn parse_meta(first_line: &[u8]) -> Option<Meta> {
    let top = flatjson::parse(first_line).ok()?;
    if member(&top, "type") != Some(&Value::Str("session_meta".into())) {
        return None;
    }
    let Some(Value::Nested(span)) = member(&top, "payload") else { return None };
    let payload = flatjson::parse(&first_line[span.clone()]).ok()?;
    let get = |key| member(&payload, key);
    let stamp = agent::text("timestamp", get("timestamp").or(member(&top, "timestamp"))).ok()??;
    Some(Meta {
        id: agent::text("id", get("id")).ok()??,
        cwd: agent::path("cwd", get("cwd")).ok()??,
        timestamp_secs: utc_secs(&stamp)?,
        originator: agent::text("originator", get("originator")).ok()?,
    })
}

/// Whether a rollout whose first line says `meta` can be the one of a Codex
/// process in `cwd` that started at `start_secs`: same folder, and begun
/// no earlier than the process (less a second, as a start in whole seconds
/// may be rounded up).
pub fn meta_fits(meta: &Meta, cwd: &str, start_secs: u64) -> bool {
    meta.cwd == cwd && meta.timestamp_secs.saturating_add(1) >= start_secs
}

/// bach's id for a Codex session: `x-` and the first 12 hex digits of its id.
pub fn session_id(codex_id: &str) -> Option<String> {
    agent::short_id("x", codex_id)
}

/// The folders `YYYY/MM/DD` (under `${CODEX_HOME}/sessions/`) of today and
/// yesterday, today first. Codex names them by local time, so `local_secs`
/// is the Unix time plus the local UTC offset. The calendar is
/// [`crate::time::utc`]'s.
pub fn rollout_dirs(local_secs: u64) -> [String; 2] {
    [local_secs, local_secs.saturating_sub(86_400)].map(|t| {
        let day = crate::time::utc(t);
        day.split('T').next().unwrap_or_default().replace('-', "/")
    })
}

/// The local time (`YYYY-MM-DDTHH-MM-SS`) and the session id in a rollout's
/// file name, `rollout-<time>-<id>.jsonl`; `None` for any other name.
pub fn rollout_name(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("rollout-")?.strip_suffix(".jsonl")?;
    let (time, id) = (rest.get(..19)?, rest.get(19..)?.strip_prefix('-')?);
    let shape = |(c, p): (u8, &u8)| if *p == b'9' { c.is_ascii_digit() } else { c == *p };
    let timed = time.bytes().zip(b"9999-99-99T99-99-99").all(shape);
    let uuid = !id.is_empty() && id.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-');
    (timed && uuid).then_some((time, id))
}

/// The rollout file names among `names`, newest first (by their time, then
/// their id, which for Codex's UUIDv7 ids is also time).
pub fn newest_first<'a>(names: &[&'a str]) -> Vec<&'a str> {
    let mut rollouts: Vec<&str> =
        names.iter().copied().filter(|n| rollout_name(n).is_some()).collect();
    rollouts.sort_unstable_by(|a, b| b.cmp(a));
    rollouts.dedup();
    rollouts
}

/// Unix seconds of a UTC time as Codex writes it, `2026-12-01T08:41:46.123Z`
/// (the fraction optional and dropped); `None` for any other shape, a date
/// that does not exist, or a time before 1970.
pub fn utc_secs(s: &str) -> Option<u64> {
    let (date, time) = s.strip_suffix('Z')?.split_once('T')?;
    let time = match time.split_once('.') {
        Some((t, frac)) if !frac.is_empty() && frac.bytes().all(|c| c.is_ascii_digit()) => t,
        Some(_) => return None,
        None => time,
    };
    let n = |p: &str, width: usize| {
        (p.len() == width && p.bytes().all(|c| c.is_ascii_digit()))
            .then(|| p.parse::<i64>().ok())?
    };
    let parts: Vec<&str> = date.split('-').chain(time.split(':')).collect();
    let [y, mo, d, h, mi, se] = parts[..] else { return None };
    let (y, mo, d) = (n(y, 4)?, n(mo, 2)?, n(d, 2)?);
    let (h, mi, se) = (n(h, 2)?, n(mi, 2)?, n(se, 2)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let days_in_month = *month_days.get(usize::try_from(mo).ok()?.checked_sub(1)?)?;
    if d < 1 || d > days_in_month || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = crate::time::days_from_civil(y, mo, d);
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + se).ok()
}

#[cfg(test)]
#[path = "codex_tests.rs"]
mod tests;
