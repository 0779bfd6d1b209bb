//! The command line, parsed with `lexopt` into one `Command`. Every error
//! names the offending argument and is a usage error (exit status 2). Each
//! command group names its subcommands in one table of enum values, and
//! every match over them is exhaustive: a new subcommand cannot silently
//! take another's meaning.

use crate::error::{Error, Result};
use crate::store::valid_id;
use crate::text::{escape, has_control};
use lexopt::prelude::*;
use std::ffi::OsString;

#[path = "cli_wait.rs"]
mod wait;

/// The service manager to install under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// macOS launchd (a LaunchAgent).
    Launchd,
    /// A systemd user unit.
    Systemd,
}

/// A help topic: the whole tool or one command group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// `bach help`
    Main,
    /// `bach help tasks`
    Tasks,
    /// `bach help sessions`
    Sessions,
    /// `bach help daemon`
    Daemon,
    /// `bach help internal`
    Internal,
    /// `bach help doctor`
    Doctor,
    /// `bach help hook`
    Hook,
}

/// What `tasks done|cancel|reopen` does to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskVerb {
    /// `done`
    Done,
    /// `cancel`
    Cancel,
    /// `reopen`
    Reopen,
}

/// The longest `daemon stop --timeout` (a year): longer cannot be waited.
pub const MAX_TIMEOUT: u64 = 365 * 86_400;

/// One parsed command line. Each field is the option or argument of the
/// same name.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `bach --version`
    Version,
    /// `bach help [TOPIC]` or `--help`.
    Help(Topic),
    /// `bach tasks add [--id ID] [--dir DIR] TITLE...`
    TaskAdd { id: Option<String>, dir: Option<String>, title: String },
    /// `bach tasks done|cancel|reopen ID`
    TaskSet { id: String, verb: TaskVerb },
    /// `bach tasks list [--json]`
    TaskList { json: bool },
    /// `bach sessions start ...`
    SessionStart {
        artifact: String,
        task: Option<String>,
        pid: Option<i32>,
        id: Option<String>,
        no_watch: bool,
    },
    /// `bach sessions end ID`
    SessionEnd { id: String },
    /// `bach sessions list [--json]`
    SessionList { json: bool },
    /// `bach sessions discover [--dry-run] [--json]`
    SessionDiscover { dry_run: bool, json: bool },
    /// `bach hook claude [--task ID] [--print-config]`, or why its
    /// arguments are wrong: the hook logs that instead of failing, as it
    /// must exit 0 whatever it was given.
    Hook(std::result::Result<Hook, String>),
    /// `bach sessions show ID [--json]`
    SessionShow { id: String, json: bool },
    /// `bach sessions wait [ID...] [--until STATES] [--timeout SECS] [--now]
    /// [--after CURSOR] [--json]`
    SessionWait {
        ids: Vec<String>,
        until: crate::cursor::States,
        timeout: Option<u64>,
        now: bool,
        after: Option<crate::cursor::Snapshot>,
        json: bool,
    },
    /// `bach daemon run [--standby]`
    DaemonRun { standby: bool },
    /// `bach daemon status [--json]`
    DaemonStatus { json: bool },
    /// `bach daemon stop [--timeout SECS] [--watchers]`
    DaemonStop { timeout: u64, watchers: bool },
    /// `bach daemon install [--dry-run] [--service S]`
    DaemonInstall { dry_run: bool, service: Option<Service> },
    /// `bach daemon uninstall [--service S] [--watchers]`
    DaemonUninstall { service: Option<Service>, watchers: bool },
    /// `bach daemon logs [-n LINES] [-f]`
    DaemonLogs { lines: usize, follow: bool },
    /// `bach internal session-watch [--key KEY] ARTIFACT`
    Watch { key: Option<String>, artifact: String },
    /// `bach doctor [--json]`
    Doctor { json: bool },
}

/// What `bach hook claude` was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// `--task ID`
    pub task: Option<String>,
    /// `--print-config`
    pub print_config: bool,
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command> {
    let mut p = lexopt::Parser::from_args(args);
    match p.next()? {
        Some(Long("version") | Short('V')) => Ok(Command::Version),
        Some(Long("help") | Short('h')) => Ok(Command::Help(Topic::Main)),
        Some(Value(v)) => match text(v, "command")?.as_str() {
            "tasks" => tasks(&mut p),
            "sessions" => sessions(&mut p),
            "daemon" => daemon(&mut p),
            "internal" => internal(&mut p),
            "hook" => match hook(&mut p) {
                Ok(Some(h)) => Ok(Command::Hook(Ok(h))),
                Ok(None) => Ok(Command::Help(Topic::Hook)),
                Err(e) => Ok(Command::Hook(Err(e.to_string()))),
            },
            "help" => help(&mut p),
            "doctor" => doctor(&mut p),
            other => {
                Err(Error::usage(format!("unknown command '{}' (try 'bach help')", escape(other))))
            }
        },
        Some(arg) => Err(arg.unexpected().into()),
        None => Err(Error::usage("missing command (try 'bach help')")),
    }
}

/// An argument as UTF-8 text without control characters.
fn text(v: OsString, what: &str) -> Result<String> {
    let s = v.into_string().map_err(|v| {
        Error::usage(format!("{what} is not valid UTF-8: {}", escape(&v.to_string_lossy())))
    })?;
    if has_control(&s) {
        return Err(Error::usage(format!("{what} contains a control character: '{}'", escape(&s))));
    }
    Ok(s)
}

/// Text that will be stored: records trim their values, so a blank at
/// either end could not be read back as given.
fn value(v: OsString, what: &str) -> Result<String> {
    let s = text(v, what)?;
    if s.trim() != s {
        return Err(Error::usage(format!("{what} '{s}' has a blank at its start or end")));
    }
    Ok(s)
}

fn id(v: OsString, what: &str) -> Result<String> {
    let s = text(v, what)?;
    if !valid_id(&s) {
        return Err(Error::usage(format!(
            "invalid {what} '{s}' (ids are letters, digits, '.', '_' and '-', at most 64)"
        )));
    }
    Ok(s)
}

fn number<T: std::str::FromStr>(v: OsString, what: &str) -> Result<T> {
    let s = text(v, what)?;
    s.parse().map_err(|_| Error::usage(format!("{what} must be a number, not '{s}'")))
}

/// The subcommand after `group`, one of `known`; `None` for `--help`.
fn subcommand<T: Copy>(
    p: &mut lexopt::Parser,
    group: &str,
    known: &[(&str, T)],
) -> Result<Option<T>> {
    match p.next()? {
        Some(Value(v)) => {
            let cmd = text(v, "command")?;
            let found = known.iter().find(|(name, _)| *name == cmd).map(|(_, c)| *c);
            found.map(Some).ok_or_else(|| {
                Error::usage(format!(
                    "unknown command '{group} {}' (try 'bach help {group}')",
                    escape(&cmd)
                ))
            })
        }
        Some(Long("help") | Short('h')) => Ok(None),
        Some(arg) => Err(arg.unexpected().into()),
        None => {
            Err(Error::usage(format!("missing command after '{group}' (try 'bach help {group}')")))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskCmd {
    Add,
    Set(TaskVerb),
    List,
}

fn tasks(p: &mut lexopt::Parser) -> Result<Command> {
    let known = [
        ("add", TaskCmd::Add),
        ("done", TaskCmd::Set(TaskVerb::Done)),
        ("cancel", TaskCmd::Set(TaskVerb::Cancel)),
        ("reopen", TaskCmd::Set(TaskVerb::Reopen)),
        ("list", TaskCmd::List),
    ];
    let Some(cmd) = subcommand(p, "tasks", &known)? else { return Ok(Command::Help(Topic::Tasks)) };
    let (mut ident, mut words, mut json, mut dir) = (None, Vec::new(), false, None);
    while let Some(arg) = p.next()? {
        match (arg, cmd) {
            (Long("help") | Short('h'), _) => return Ok(Command::Help(Topic::Tasks)),
            (Long("id"), TaskCmd::Add) => ident = Some(id(p.value()?, "id")?),
            (Long("dir"), TaskCmd::Add) => dir = Some(value(p.value()?, "--dir")?),
            (Long("json"), TaskCmd::List) => json = true,
            (Value(v), TaskCmd::Add) => words.push(text(v, "title")?),
            (Value(v), TaskCmd::Set(_)) if words.is_empty() => words.push(id(v, "task id")?),
            (arg, _) => return Err(arg.unexpected().into()),
        }
    }
    match cmd {
        TaskCmd::Add => {
            let title = words.join(" ");
            if title.trim().is_empty() {
                return Err(Error::usage("missing TITLE for 'tasks add'"));
            }
            Ok(Command::TaskAdd { id: ident, dir, title: value(title.into(), "title")? })
        }
        TaskCmd::List => Ok(Command::TaskList { json }),
        TaskCmd::Set(verb) => {
            let name = known.iter().find(|(_, c)| *c == cmd).map_or("", |(n, _)| *n);
            let id = words
                .pop()
                .ok_or_else(|| Error::usage(format!("missing task ID for 'tasks {name}'")))?;
            Ok(Command::TaskSet { id, verb })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionCmd {
    Start,
    End,
    List,
    Discover,
    Show,
    Wait,
}

fn sessions(p: &mut lexopt::Parser) -> Result<Command> {
    let known = [
        ("start", SessionCmd::Start),
        ("end", SessionCmd::End),
        ("list", SessionCmd::List),
        ("discover", SessionCmd::Discover),
        ("show", SessionCmd::Show),
        ("wait", SessionCmd::Wait),
    ];
    let Some(cmd) = subcommand(p, "sessions", &known)? else {
        return Ok(Command::Help(Topic::Sessions));
    };
    if cmd == SessionCmd::Wait {
        return wait::parse(p);
    }
    let (mut artifact, mut task, mut pid, mut ident, mut no_watch, mut json, mut target) =
        (None, None, None, None, false, false, None);
    let mut dry_run = false;
    while let Some(arg) = p.next()? {
        match (arg, cmd) {
            (Long("help") | Short('h'), _) => return Ok(Command::Help(Topic::Sessions)),
            (Long("artifact"), SessionCmd::Start) => {
                artifact = Some(value(p.value()?, "artifact path")?)
            }
            (Long("task"), SessionCmd::Start) => task = Some(id(p.value()?, "task id")?),
            (Long("id"), SessionCmd::Start) => ident = Some(id(p.value()?, "id")?),
            (Long("pid"), SessionCmd::Start) => pid = Some(pid_value(p)?),
            (Long("no-watch"), SessionCmd::Start) => no_watch = true,
            (Long("json"), SessionCmd::List | SessionCmd::Show | SessionCmd::Discover) => {
                json = true
            }
            (Long("dry-run"), SessionCmd::Discover) => dry_run = true,
            (Value(v), SessionCmd::End | SessionCmd::Show) if target.is_none() => {
                target = Some(id(v, "session id")?)
            }
            (arg, _) => return Err(arg.unexpected().into()),
        }
    }
    match cmd {
        SessionCmd::Start => {
            let artifact = artifact
                .ok_or_else(|| Error::usage("missing --artifact PATH for 'sessions start'"))?;
            Ok(Command::SessionStart { artifact, task, pid, id: ident, no_watch })
        }
        SessionCmd::End => Ok(Command::SessionEnd {
            id: target.ok_or_else(|| Error::usage("missing session ID for 'sessions end'"))?,
        }),
        SessionCmd::List => Ok(Command::SessionList { json }),
        SessionCmd::Discover => Ok(Command::SessionDiscover { dry_run, json }),
        SessionCmd::Show => Ok(Command::SessionShow {
            id: target.ok_or_else(|| Error::usage("missing session ID for 'sessions show'"))?,
            json,
        }),
        // Parsed by `wait` above.
        SessionCmd::Wait => Err(Error::usage("'sessions wait' is parsed on its own")),
    }
}

/// The value of `--pid`: a process id above 0.
fn pid_value(p: &mut lexopt::Parser) -> Result<i32> {
    let n: i64 = number(p.value()?, "--pid")?;
    let n = i32::try_from(n).ok().filter(|&n| n > 0);
    n.ok_or_else(|| Error::usage("--pid must be a positive process id"))
}

/// `hook claude [--task ID] [--print-config]`; `None` for `--help`.
fn hook(p: &mut lexopt::Parser) -> Result<Option<Hook>> {
    let Some(()) = subcommand(p, "hook", &[("claude", ())])? else { return Ok(None) };
    let mut h = Hook { task: None, print_config: false };
    while let Some(arg) = p.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Long("task") => h.task = Some(id(p.value()?, "task id")?),
            Long("print-config") => h.print_config = true,
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(Some(h))
}

fn service(v: OsString) -> Result<Service> {
    match text(v, "--service")?.as_str() {
        "launchd" => Ok(Service::Launchd),
        "systemd" => Ok(Service::Systemd),
        other => Err(Error::usage(format!("--service must be launchd or systemd, not '{other}'"))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DaemonCmd {
    Run,
    Status,
    Stop,
    Install,
    Uninstall,
    Logs,
}

fn daemon(p: &mut lexopt::Parser) -> Result<Command> {
    use DaemonCmd::*;
    let known = [
        ("run", Run),
        ("status", Status),
        ("stop", Stop),
        ("install", Install),
        ("uninstall", Uninstall),
        ("logs", Logs),
    ];
    let Some(cmd) = subcommand(p, "daemon", &known)? else {
        return Ok(Command::Help(Topic::Daemon));
    };
    let (mut json, mut timeout, mut watchers, mut dry_run, mut svc, mut lines, mut standby) =
        (false, 10, false, false, None, 20, false);
    let mut follow = false;
    while let Some(arg) = p.next()? {
        match (arg, cmd) {
            (Long("help") | Short('h'), _) => return Ok(Command::Help(Topic::Daemon)),
            (Long("standby"), Run) => standby = true,
            (Long("json"), Status) => json = true,
            (Long("timeout"), Stop) => timeout = number(p.value()?, "--timeout")?,
            (Long("watchers"), Stop | Uninstall) => watchers = true,
            (Long("dry-run"), Install) => dry_run = true,
            (Long("service"), Install | Uninstall) => svc = Some(service(p.value()?)?),
            (Short('n') | Long("lines"), Logs) => lines = number(p.value()?, "-n")?,
            (Short('f') | Long("follow"), Logs) => follow = true,
            (arg, _) => return Err(arg.unexpected().into()),
        }
    }
    if timeout > MAX_TIMEOUT {
        return Err(Error::usage(format!("--timeout must be at most {MAX_TIMEOUT} seconds")));
    }
    Ok(match cmd {
        Run => Command::DaemonRun { standby },
        Status => Command::DaemonStatus { json },
        Stop => Command::DaemonStop { timeout, watchers },
        Install => Command::DaemonInstall { dry_run, service: svc },
        Uninstall => Command::DaemonUninstall { service: svc, watchers },
        Logs => Command::DaemonLogs { lines, follow },
    })
}

fn internal(p: &mut lexopt::Parser) -> Result<Command> {
    let Some(()) = subcommand(p, "internal", &[("session-watch", ())])? else {
        return Ok(Command::Help(Topic::Internal));
    };
    let (mut key, mut artifact) = (None, None);
    while let Some(arg) = p.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(Command::Help(Topic::Internal)),
            Long("key") => {
                let k = text(p.value()?, "--key")?;
                if !crate::key::valid(&k) {
                    return Err(Error::usage(format!(
                        "--key must be 16 lowercase hex digits, not '{k}'"
                    )));
                }
                key = Some(k);
            }
            Value(v) if artifact.is_none() => artifact = Some(value(v, "artifact path")?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let artifact =
        artifact.ok_or_else(|| Error::usage("missing ARTIFACT for 'internal session-watch'"))?;
    Ok(Command::Watch { key, artifact })
}

fn doctor(p: &mut lexopt::Parser) -> Result<Command> {
    let mut json = false;
    while let Some(arg) = p.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(Command::Help(Topic::Doctor)),
            Long("json") => json = true,
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(Command::Doctor { json })
}

/// The command groups, each with its own help.
const TOPICS: [(&str, Topic); 7] = [
    ("help", Topic::Main),
    ("doctor", Topic::Doctor),
    ("tasks", Topic::Tasks),
    ("sessions", Topic::Sessions),
    ("daemon", Topic::Daemon),
    ("internal", Topic::Internal),
    ("hook", Topic::Hook),
];

fn help(p: &mut lexopt::Parser) -> Result<Command> {
    let topic = match p.next()? {
        None => return Ok(Command::Help(Topic::Main)),
        Some(Value(v)) => text(v, "help topic")?,
        Some(arg) => return Err(arg.unexpected().into()),
    };
    let found = TOPICS.iter().find(|(name, _)| *name == topic).map(|(_, t)| *t);
    let topic =
        found.ok_or_else(|| Error::usage(format!("no help for unknown command '{topic}'")))?;
    // `bach help daemon stop` is the help of `daemon`; further words are allowed.
    while let Some(arg) = p.next()? {
        if !matches!(arg, Value(_)) {
            return Err(arg.unexpected().into());
        }
    }
    Ok(Command::Help(topic))
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
