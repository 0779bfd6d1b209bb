//! The command line, parsed with `lexopt` into one `Command`. Every error
//! names the offending argument and is a usage error (exit status 2).

use crate::error::{Error, Result};
use crate::store::valid_id;
use crate::text::{escape, has_control};
use lexopt::prelude::*;
use std::ffi::OsString;

/// The service manager to install under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// macOS launchd (a LaunchAgent).
    Launchd,
    /// A systemd user unit.
    Systemd,
}

/// One parsed command line. Each field is the option or argument of the
/// same name.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `bach --version`
    Version,
    /// `bach help [TOPIC]` or `--help`: the help of a command group.
    Help(&'static str),
    /// `bach tasks add [--id ID] TITLE...`
    TaskAdd { id: Option<String>, title: String },
    /// `bach tasks done|cancel|reopen ID`
    TaskSet { id: String, verb: &'static str },
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
    /// `bach daemon logs [-n LINES]`
    DaemonLogs { lines: usize },
    /// `bach internal session-watch [--key KEY] ARTIFACT`
    Watch { key: Option<String>, artifact: String },
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command> {
    let mut p = lexopt::Parser::from_args(args);
    match p.next()? {
        Some(Long("version") | Short('V')) => Ok(Command::Version),
        Some(Long("help") | Short('h')) => Ok(Command::Help("bach")),
        Some(Value(v)) => match text(v, "command")?.as_str() {
            "tasks" => tasks(&mut p),
            "sessions" => sessions(&mut p),
            "daemon" => daemon(&mut p),
            "internal" => internal(&mut p),
            "help" => help(&mut p),
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

/// The subcommand after `group`, always one of `known`; `None` for `--help`.
fn subcommand(
    p: &mut lexopt::Parser,
    group: &'static str,
    known: &[&'static str],
) -> Result<Option<&'static str>> {
    match p.next()? {
        Some(Value(v)) => {
            let cmd = text(v, "command")?;
            let found = known.iter().find(|&&k| k == cmd).copied();
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

fn tasks(p: &mut lexopt::Parser) -> Result<Command> {
    let Some(cmd) = subcommand(p, "tasks", &["add", "done", "cancel", "reopen", "list"])? else {
        return Ok(Command::Help("tasks"));
    };
    let (mut ident, mut words, mut json) = (None, Vec::new(), false);
    while let Some(arg) = p.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(Command::Help("tasks")),
            Long("id") if cmd == "add" => ident = Some(id(p.value()?, "id")?),
            Long("json") if cmd == "list" => json = true,
            Value(v) if cmd == "add" => words.push(text(v, "title")?),
            Value(v) if !matches!(cmd, "add" | "list") && words.is_empty() => {
                words.push(id(v, "task id")?)
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    match cmd {
        "add" => {
            let title = words.join(" ");
            if title.trim().is_empty() {
                return Err(Error::usage("missing TITLE for 'tasks add'"));
            }
            Ok(Command::TaskAdd { id: ident, title })
        }
        "list" => Ok(Command::TaskList { json }),
        verb => {
            let id = words
                .pop()
                .ok_or_else(|| Error::usage(format!("missing task ID for 'tasks {verb}'")))?;
            Ok(Command::TaskSet { id, verb })
        }
    }
}

fn sessions(p: &mut lexopt::Parser) -> Result<Command> {
    let Some(cmd) = subcommand(p, "sessions", &["start", "end", "list"])? else {
        return Ok(Command::Help("sessions"));
    };
    let (mut artifact, mut task, mut pid, mut ident, mut no_watch, mut json, mut target) =
        (None, None, None, None, false, false, None);
    while let Some(arg) = p.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(Command::Help("sessions")),
            Long("artifact") if cmd == "start" => {
                artifact = Some(text(p.value()?, "artifact path")?)
            }
            Long("task") if cmd == "start" => task = Some(id(p.value()?, "task id")?),
            Long("id") if cmd == "start" => ident = Some(id(p.value()?, "id")?),
            Long("pid") if cmd == "start" => {
                let n: i64 = number(p.value()?, "--pid")?;
                let n = i32::try_from(n).ok().filter(|&n| n > 0);
                pid = Some(n.ok_or_else(|| Error::usage("--pid must be a positive process id"))?);
            }
            Long("no-watch") if cmd == "start" => no_watch = true,
            Long("json") if cmd == "list" => json = true,
            Value(v) if cmd == "end" && target.is_none() => target = Some(id(v, "session id")?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    match cmd {
        "start" => {
            let artifact = artifact
                .ok_or_else(|| Error::usage("missing --artifact PATH for 'sessions start'"))?;
            Ok(Command::SessionStart { artifact, task, pid, id: ident, no_watch })
        }
        "end" => Ok(Command::SessionEnd {
            id: target.ok_or_else(|| Error::usage("missing session ID for 'sessions end'"))?,
        }),
        _ => Ok(Command::SessionList { json }),
    }
}

fn service(v: OsString) -> Result<Service> {
    match text(v, "--service")?.as_str() {
        "launchd" => Ok(Service::Launchd),
        "systemd" => Ok(Service::Systemd),
        other => Err(Error::usage(format!("--service must be launchd or systemd, not '{other}'"))),
    }
}

fn daemon(p: &mut lexopt::Parser) -> Result<Command> {
    let Some(cmd) =
        subcommand(p, "daemon", &["run", "status", "stop", "install", "uninstall", "logs"])?
    else {
        return Ok(Command::Help("daemon"));
    };
    let (mut json, mut timeout, mut watchers, mut dry_run, mut svc, mut lines, mut standby) =
        (false, 10, false, false, None, 20, false);
    while let Some(arg) = p.next()? {
        match (arg, cmd) {
            (Long("help") | Short('h'), _) => return Ok(Command::Help("daemon")),
            (Long("standby"), "run") => standby = true,
            (Long("json"), "status") => json = true,
            (Long("timeout"), "stop") => timeout = number(p.value()?, "--timeout")?,
            (Long("watchers"), "stop" | "uninstall") => watchers = true,
            (Long("dry-run"), "install") => dry_run = true,
            (Long("service"), "install" | "uninstall") => svc = Some(service(p.value()?)?),
            (Short('n') | Long("lines"), "logs") => lines = number(p.value()?, "-n")?,
            (arg, _) => return Err(arg.unexpected().into()),
        }
    }
    match cmd {
        "run" => Ok(Command::DaemonRun { standby }),
        "status" => Ok(Command::DaemonStatus { json }),
        "stop" => Ok(Command::DaemonStop { timeout, watchers }),
        "install" => Ok(Command::DaemonInstall { dry_run, service: svc }),
        "uninstall" => Ok(Command::DaemonUninstall { service: svc, watchers }),
        _ => Ok(Command::DaemonLogs { lines }),
    }
}

fn internal(p: &mut lexopt::Parser) -> Result<Command> {
    let Some(_) = subcommand(p, "internal", &["session-watch"])? else {
        return Ok(Command::Help("internal"));
    };
    let (mut key, mut artifact) = (None, None);
    while let Some(arg) = p.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(Command::Help("internal")),
            Long("key") => {
                let k = text(p.value()?, "--key")?;
                if k.len() != 16 || !k.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return Err(Error::usage(format!(
                        "--key must be 16 lowercase hex digits, not '{k}'"
                    )));
                }
                key = Some(k);
            }
            Value(v) if artifact.is_none() => artifact = Some(text(v, "artifact path")?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let artifact =
        artifact.ok_or_else(|| Error::usage("missing ARTIFACT for 'internal session-watch'"))?;
    Ok(Command::Watch { key, artifact })
}

fn help(p: &mut lexopt::Parser) -> Result<Command> {
    let topic = match p.next()? {
        None => return Ok(Command::Help("bach")),
        Some(Value(v)) => text(v, "help topic")?,
        Some(arg) => return Err(arg.unexpected().into()),
    };
    let topic = match topic.as_str() {
        "help" => "bach",
        t => TOPICS
            .into_iter()
            .find(|&k| k == t)
            .ok_or_else(|| Error::usage(format!("no help for unknown command '{t}'")))?,
    };
    // `bach help daemon stop` is the help of `daemon`; further words are allowed.
    while let Some(arg) = p.next()? {
        if !matches!(arg, Value(_)) {
            return Err(arg.unexpected().into());
        }
    }
    Ok(Command::Help(topic))
}

/// The command groups, each with its own help.
const TOPICS: [&str; 4] = ["tasks", "sessions", "daemon", "internal"];

/// The help text of a topic.
pub fn help_text(topic: &str) -> &'static str {
    match topic {
        "tasks" => TASKS_HELP,
        "sessions" => SESSIONS_HELP,
        "daemon" => DAEMON_HELP,
        "internal" => INTERNAL_HELP,
        _ => MAIN_HELP,
    }
}

const MAIN_HELP: &str = "\
bach: keeps one watcher alive for every AI-coding session that still matters

Usage: bach COMMAND [ARGS]

Commands:
  tasks add|done|cancel|reopen|list    the tasks sessions work on
  sessions start|end|list              agent sessions and their transcripts
  daemon run|status|stop|logs          the supervisor that keeps watchers alive
  daemon install|uninstall             run the daemon under launchd or systemd
  internal session-watch               the watcher itself (started by bach)
  help [COMMAND]                       the help of a command

Options:
  -h, --help       print help
  -V, --version    print the version

Files live in BACH_HOME (default ~/.bach). See bach(1) and bach-daemon(1).
";

const TASKS_HELP: &str = "\
Usage:
  bach tasks add [--id ID] TITLE...    add an open task; prints its id
  bach tasks done ID                   finish a task (its watchers stop)
  bach tasks cancel ID                 cancel a task (its watchers stop)
  bach tasks reopen ID                 make a finished task open again
  bach tasks list [--json]             every task: id, state, title, age

Options:
  --id ID     choose the id ([A-Za-z0-9][A-Za-z0-9._-]{0,63})
  --json      one JSON document: {\"tasks\": [{\"id\", \"title\", \"state\", \"created\"}]}
";

const SESSIONS_HELP: &str = "\
Usage:
  bach sessions start --artifact PATH [--task ID] [--pid PID] [--id ID] [--no-watch]
                                 record a session; prints its id and starts its
                                 watcher at once when watch_on_launch is on
  bach sessions end ID           end a session (its watcher stops)
  bach sessions list [--json]    what every session is doing

Options:
  --artifact PATH   the transcript; made absolute against the working directory
  --task ID         the task the session works on (must exist)
  --pid PID         the agent's pid: the session is gone once that process ends
  --id ID           choose the id
  --no-watch        do not start a watcher now (the daemon will)
  --json            one JSON document (fields in bach(1))
";

const DAEMON_HELP: &str = "\
Usage:
  bach daemon run [--standby]           the supervisor, in the foreground
  bach daemon status [--json]           exit 0 running, 3 not running
  bach daemon stop [--timeout SECS] [--watchers]
  bach daemon install [--dry-run] [--service launchd|systemd]
  bach daemon uninstall [--service launchd|systemd] [--watchers]
  bach daemon logs [-n LINES]           the last lines of the daemon log

Options:
  --standby          if a daemon runs already, wait and take over when it ends
  --json             one JSON document (fields in bach-daemon(1))
  --timeout SECS     how long stop waits for the daemon to exit (default 10)
  --watchers         also stop every watcher of this home
  --dry-run          print the service file and commands, change nothing
  --service NAME     launchd (macOS default) or systemd (Linux default)
  -n, --lines LINES  how many lines of the log (default 20)
";

const INTERNAL_HELP: &str = "\
Usage:
  bach internal session-watch [--key KEY] ARTIFACT

The watcher of one artifact, started by bach. Without --key it computes the
key and re-executes itself with it; a --key that does not match is an error.
";

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
