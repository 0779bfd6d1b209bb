//! Reads the process table from the text `ps` prints (DESIGN.md, "Reading the process
//! table"): text in, processes out, and the watchers among them. No I/O happens here.
//!
//! A line is: uid, pid, ppid, pgid, stat (any printable text; a leading `Z` is a zombie),
//! the start time as five words, then the command.
//!
//! Invariants: the table is all or nothing, since one line that does not parse makes the
//! whole output an error, so no caller ever spawns or retires from a partial view. And a
//! process is a watcher only when its whole command line is exactly a watcher's, so a
//! process that merely mentions one (a shell's `-c` string, `grep`) is never touched.

use std::ops::RangeInclusive;
use std::str::FromStr;

/// The arguments given to `ps` (after the program name), which runs under
/// `LC_ALL=C TZ=UTC`: every process, commands at full width, no header.
pub const ARGS: &[&str] = &["-axww", "-o", "uid=,pid=,ppid=,pgid=,stat=,lstart=,command="];

/// One process, as one line of `ps` output shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    /// The real user id.
    pub uid: u32,
    /// The process id. It may be 0 (macOS lists `kernel_task`), so whoever signals must
    /// skip pids of 1 or less.
    pub pid: i32,
    /// Its parent's pid (0 for the first processes of the system).
    pub ppid: i32,
    /// The process group id (0 for Linux kernel threads).
    pub pgid: i32,
    /// Whether the process has exited and is waiting to be reaped (`stat` starts with `Z`).
    pub zombie: bool,
    /// When it started: `lstart`'s five words joined by single spaces, so Linux's padded
    /// day `Nov  5` becomes `Nov 5`, e.g. `Thu Nov 5 04:31:14 2026` (UTC).
    pub start: String,
    /// The command line as `ps` shows it (under the C locale non-ASCII bytes are `?` on
    /// Linux and `M-` escapes on macOS), leading and trailing blanks removed, inner ones
    /// kept. May be empty.
    pub command: String,
    /// Its start in clock ticks since boot, where it was read (Linux, for the pids that
    /// sessions name); `None` from the parser.
    pub ticks: Option<u64>,
}

/// A watcher of this user, as found in the process table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatcherProc {
    /// The watcher's process id.
    pub pid: i32,
    /// Its process group (a watcher runs `setsid`, so normally its own pid).
    pub pgid: i32,
    /// The key it was started with: its identity.
    pub key: String,
    /// The artifact as `ps` shows it (possibly mangled, so never used as identity).
    pub artifact: String,
}

/// Parses the whole output of `ps` with [`ARGS`]. Blank lines are skipped. Any other line
/// that does not parse makes the whole output unknown, and so does output that lists no
/// process at all (`ps` always lists itself). The error reads
/// `line N: reason: the line` with the line escaped and shortened.
pub fn parse(text: &str) -> Result<Vec<Proc>, String> {
    let procs = (text.lines().enumerate())
        .filter(|(_, line)| !line.trim_matches(BLANKS).is_empty())
        .map(|(i, line)| {
            parse_line(line).map_err(|why| format!("line {}: {why}: {}", i + 1, shown(line)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if procs.is_empty() {
        return Err("ps listed no process".into());
    }
    Ok(procs)
}

/// If `command` is exactly a watcher's command line
/// `<bach> internal session-watch --key KEY ARTIFACT`, returns `(KEY, ARTIFACT)`.
///
/// `<bach>` is `own` (this bach's executable as `ps` prints it, see [`shown_path`]: a
/// build named otherwise still knows its watchers), the word `bach`, or an absolute path
/// ending in `/bach`; such a path may hold spaces but not ` -`, which rejects
/// `/bin/sh -c /x/bach internal ...`. KEY is 16 lowercase hex digits; ARTIFACT is the rest
/// after one space and starts with `/`.
pub fn watcher_command<'a>(command: &'a str, own: &str) -> Option<(&'a str, &'a str)> {
    let (program, rest) = command.split_once(" internal session-watch --key ")?;
    let program_ok = program == own
        || program == "bach"
        || (program.starts_with('/') && program.ends_with("/bach") && !program.contains(" -"));
    // `get` is None when byte 16 is inside a character, which no hex key has.
    let key = rest.get(..16)?;
    let artifact = rest.get(16..)?.strip_prefix(' ')?;
    (program_ok && crate::key::valid(key) && artifact.starts_with('/')).then_some((key, artifact))
}

/// How `ps` under the C locale prints `path`: procps shows each byte outside printable
/// ASCII as `?`; macOS's `ps` escapes it as `vis(3)` does, `M-` and the low seven bits
/// (`M-^X` for a control character). Inferred from adv_cmds' `ps` sources, which print
/// the command with `vis` flags `VIS_TAB | VIS_NL | VIS_NOSLASH`; to confirm on a Mac:
/// `LC_ALL=C ps -o command= -p PID` of a process started from `/tmp/ü/bach`.
pub fn shown_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            0x20..=0x7e => out.push(char::from(b)),
            _ if cfg!(not(target_vendor = "apple")) => out.push('?'),
            _ => {
                let low = b & 0x7f;
                out.push_str(if b >= 0x80 { "M-" } else { "" });
                match low {
                    0x20..=0x7e => out.push(char::from(low)),
                    0x7f => out.push_str("^?"),
                    _ => {
                        out.push('^');
                        out.push(char::from(low + 0x40));
                    }
                }
            }
        }
    }
    out
}

/// The watchers owned by `uid`, zombies excluded, in the order `ps` listed them; `own` is
/// this bach's executable as `ps` prints it.
pub fn watchers(procs: &[Proc], uid: u32, own: &str) -> Vec<WatcherProc> {
    procs
        .iter()
        .filter(|p| p.uid == uid && !p.zombie)
        .filter_map(|p| {
            let (key, artifact) = watcher_command(&p.command, own)?;
            Some(WatcherProc {
                pid: p.pid,
                pgid: p.pgid,
                key: key.into(),
                artifact: artifact.into(),
            })
        })
        .collect()
}

/// The process with this pid, if listed (zombies included: callers check `zombie`).
pub fn find(procs: &[Proc], pid: i32) -> Option<&Proc> {
    procs.iter().find(|p| p.pid == pid)
}

/// What separates fields. `ps` pads its columns with spaces; a tab is taken as one too.
const BLANKS: &[char] = &[' ', '\t'];

/// How much of a bad line an error shows.
const SHOWN_CHARS: usize = 80;

fn parse_line(line: &str) -> Result<Proc, String> {
    let mut rest = line;
    let uid = number(word(&mut rest).ok_or("uid is missing")?, "uid")?;
    let pid = number(word(&mut rest).ok_or("pid is missing")?, "pid")?;
    let ppid = number(word(&mut rest).ok_or("ppid is missing")?, "ppid")?;
    let pgid = number(word(&mut rest).ok_or("pgid is missing")?, "pgid")?;
    let stat = word(&mut rest).ok_or("stat is missing")?;
    // Any printable text: macOS prints `?` for a process it cannot inspect. Columns
    // that are not the ones asked for are caught by the start time after it.
    if !stat.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("stat is not printable".into());
    }
    let mut start = [""; 5];
    for w in &mut start {
        *w = word(&mut rest).ok_or("start time is incomplete")?;
    }
    if !is_lstart(start) {
        return Err("start time is not a date".into());
    }
    Ok(Proc {
        uid,
        pid,
        ppid,
        pgid,
        // Only a leading `Z`: on macOS a later letter is a flag of another state.
        zombie: stat.starts_with('Z'),
        start: start.join(" "),
        // ps pads the start column (macOS to 28 characters) before the command, so all
        // leading blanks go; inner runs stay, as a path may hold two spaces in a row.
        command: rest.trim_matches(BLANKS).to_string(),
        ticks: None,
    })
}

/// Splits off the next blank-separated word; `rest` keeps what follows it, blanks included.
/// Byte by byte (blanks are ASCII, so every cut is at a character boundary): the daemon
/// parses a few thousand of these at every read of the table.
fn word<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let blank = |b: u8| b == b' ' || b == b'\t';
    let start = rest.bytes().position(|b| !blank(b)).unwrap_or(rest.len());
    let s = &rest[start..];
    let end = s.bytes().position(blank).unwrap_or(s.len());
    *rest = &s[end..];
    (end > 0).then_some(&s[..end])
}

/// A non-negative decimal number (so `-1` or `+1` never passes as one).
fn number<T: FromStr>(word: &str, name: &str) -> Result<T, String> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(word) {
        word.parse().map_err(|_| format!("{name} is out of range"))
    } else if word.strip_prefix('-').is_some_and(digits) {
        Err(format!("{name} is negative"))
    } else {
        Err(format!("{name} is not a number"))
    }
}

/// Whether five words read as `lstart` prints under the C locale: `Wed Nov 25 04:31:14 2026`.
fn is_lstart([weekday, month, day, time, year]: [&str; 5]) -> bool {
    const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    // Plain digits (never empty, never signed), as many as `len` allows, valued in `ok`.
    let num = |s: &str, len: RangeInclusive<usize>, ok: RangeInclusive<u32>| {
        len.contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_digit())
            && s.parse().is_ok_and(|n| ok.contains(&n))
    };
    let clock = match time.split(':').collect::<Vec<_>>()[..] {
        // 60: a leap second.
        [h, m, s] => num(h, 2..=2, 0..=23) && num(m, 2..=2, 0..=59) && num(s, 2..=2, 0..=60),
        _ => false,
    };
    WEEKDAYS.contains(&weekday)
        && MONTHS.contains(&month)
        && num(day, 1..=2, 1..=31)
        && clock
        && num(year, 4..=4, 0..=9999)
}

/// `line` as an error shows it: blanks trimmed, control characters escaped, at most
/// [`SHOWN_CHARS`] characters then `...`.
fn shown(line: &str) -> String {
    let line = line.trim_matches(BLANKS);
    match line.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}...", crate::text::escape(&line[..cut])),
        None => crate::text::escape(line).into_owned(),
    }
}

#[cfg(test)]
#[path = "ps_tests.rs"]
mod tests;
