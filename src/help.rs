//! The help texts, one per command group, printed by `--help` and
//! `bach help COMMAND`. Kept beside the man pages (`man/bach.1`,
//! `man/bach-daemon.1`), which say the same at length.

use crate::cli::Topic;

/// The help text of a topic.
pub fn text(topic: Topic) -> &'static str {
    match topic {
        Topic::Main => MAIN_HELP,
        Topic::Tasks => TASKS_HELP,
        Topic::Sessions => SESSIONS_HELP,
        Topic::Daemon => DAEMON_HELP,
        Topic::Internal => INTERNAL_HELP,
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
                                 record a session and print its id; a running
                                 daemon spawns its watcher at once, else it is
                                 started here when watch_on_launch is on
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
