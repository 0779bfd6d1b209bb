//! The pure half of the platform layer: what the kernel hands back (a
//! `/proc` file, a `KERN_PROCARGS2` buffer, inotify records) turned into
//! values. No I/O here, so every platform's parser is tested on every
//! platform; each is compiled where it is used and in tests.
//!
//! Invariant: a malformed or truncated buffer gives `None` or fewer
//! records, never a panic and never bytes of one field read as another.

/// What the kernel says about one process: enough to walk its ancestors and
/// to tell it from a later process that reuses its pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// The parent's pid (1, or a subreaper's, once the parent is gone).
    pub ppid: i32,
    /// The effective user id, the one `ps -o uid` shows.
    pub uid: u32,
    /// When it started, fixed for its life: on Linux clock ticks since boot
    /// (field 22 of `/proc/PID/stat`, which no clock step moves); on macOS
    /// Unix seconds (`p_starttime`, the second `ps -o lstart` prints).
    pub start: u64,
    /// Exited and not yet reaped: never to be counted as alive.
    pub zombie: bool,
}

/// `ProcStat` from `/proc/PID/stat` and `/proc/PID/status`. The command
/// name in `stat` sits in parentheses and may itself hold spaces and `)`,
/// so the fields are read after the last `)`.
#[cfg(any(target_os = "linux", test))]
pub fn linux_stat(stat: &str, status: &str) -> Option<ProcStat> {
    let mut fields = stat[stat.rfind(')')? + 1..].split_ascii_whitespace();
    let state = fields.next()?; // field 3
    let ppid = fields.next()?.parse().ok()?; // field 4
    let start = fields.nth(17)?.parse().ok()?; // field 22: 5 + 17
    let uids = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
    let uid = uids.split_ascii_whitespace().nth(1)?.parse().ok()?; // real, effective, ...
    Some(ProcStat { ppid, uid, start, zombie: matches!(state, "Z" | "X") })
}

/// The boot time in Unix seconds: the `btime` line of `/proc/stat`.
#[cfg(any(target_os = "linux", test))]
pub fn btime(stat: &str) -> Option<u64> {
    stat.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()
}

/// The strings of a NUL-separated buffer (`/proc/PID/cmdline`, `environ`);
/// the final NUL is optional.
#[cfg(any(target_os = "linux", test))]
pub fn nul_separated(buf: &[u8]) -> Vec<&[u8]> {
    buf.split_inclusive(|&b| b == 0).map(|s| s.strip_suffix(&[0]).unwrap_or(s)).collect()
}

/// The NUL-terminated strings at the start of `buf`, up to an unterminated
/// tail.
#[cfg(any(target_vendor = "apple", test))]
fn c_strings(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    buf.split_inclusive(|&b| b == 0).map_while(|s| s.strip_suffix(&[0]))
}

/// The value of `name` in `NAME=value` strings: the first one, as `getenv`
/// would find it.
pub fn env_value<'a>(env: &[&'a [u8]], name: &str) -> Option<&'a [u8]> {
    env.iter().find_map(|kv| kv.strip_prefix(name.as_bytes())?.strip_prefix(b"="))
}

/// The arguments and environment of a process, as stored at its exec.
#[cfg(any(target_vendor = "apple", test))]
#[derive(Debug, PartialEq, Eq)]
pub struct ProcArgs<'a> {
    /// `argv`, `argc` strings.
    pub argv: Vec<&'a [u8]>,
    /// `NAME=value` strings.
    pub env: Vec<&'a [u8]>,
}

/// A macOS `KERN_PROCARGS2` buffer: `argc` (a native `int`), the executable
/// path, NUL padding, `argc` strings, then environment strings up to an
/// empty one (the "apple" strings after it are not the environment). As
/// Apple's `ps` does, the padding ends at the first non-NUL byte, so an
/// empty `argv[0]` cannot be told from padding.
#[cfg(any(target_vendor = "apple", test))]
pub fn procargs2(buf: &[u8]) -> Option<ProcArgs<'_>> {
    let argc = usize::try_from(i32::from_ne_bytes(buf.get(..4)?.try_into().ok()?)).ok()?;
    let rest = &buf[4..];
    let path_end = rest.iter().position(|&b| b == 0)?;
    let Some(pad) = rest[path_end..].iter().position(|&b| b != 0) else {
        return (argc == 0).then_some(ProcArgs { argv: Vec::new(), env: Vec::new() });
    };
    let mut strings = c_strings(&rest[path_end + pad..]);
    let argv: Vec<&[u8]> = strings.by_ref().take(argc).collect();
    if argv.len() < argc {
        return None;
    }
    let env = strings.take_while(|s| !s.is_empty()).collect();
    Some(ProcArgs { argv, env })
}

/// One inotify record: the watch it belongs to, what happened, and the name
/// of the entry (for a folder's watch) without its NUL padding.
#[cfg(any(target_os = "linux", test))]
#[derive(Debug, PartialEq, Eq)]
pub struct InotifyEvent<'a> {
    /// The watch descriptor (-1 for `IN_Q_OVERFLOW`).
    pub wd: i32,
    /// The `IN_*` bits.
    pub mask: u32,
    /// The entry's name; empty for the watched path itself.
    pub name: &'a [u8],
}

/// The records of one `read` of an inotify descriptor: each is `wd`, `mask`,
/// `cookie`, `len` (four native 32-bit words) and `len` bytes of name padded
/// with NULs. The bytes need not be aligned. A truncated record ends the list.
#[cfg(any(target_os = "linux", test))]
pub fn inotify_events(buf: &[u8]) -> Vec<InotifyEvent<'_>> {
    const HEADER: usize = 16;
    let word = |b: &[u8], at: usize| u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let mut events = Vec::new();
    let mut rest = buf;
    while rest.len() >= HEADER {
        let end = HEADER.saturating_add(word(rest, 12) as usize);
        let Some(name) = rest.get(HEADER..end) else { break };
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        events.push(InotifyEvent { wd: word(rest, 0) as i32, mask: word(rest, 4), name });
        rest = &rest[end..];
    }
    events
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
