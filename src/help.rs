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
        Topic::Doctor => DOCTOR_HELP,
        Topic::Hook => HOOK_HELP,
    }
}

const MAIN_HELP: &str = "\
bach: keeps one watcher alive for every AI-coding session that still matters

Usage: bach COMMAND [ARGS]

Commands:
  tasks add|done|cancel|reopen|list    the tasks sessions work on
  sessions start|end|list|show|wait    agent sessions: what each is doing, who needs you
  sessions discover                    register running Claude Code and Codex sessions
  hook claude                          one Claude Code hook event (settings.json)
  daemon run|status|stop|logs          the supervisor that keeps watchers alive
  daemon install|uninstall             run the daemon under launchd or systemd
  doctor                               check the setup; one fix per problem
  internal session-watch               the watcher itself (started by bach)
  help [COMMAND]                       the help of a command

Options:
  -h, --help       print help
  -V, --version    print the version

Files live in BACH_HOME (default ~/.bach). See bach(1) and bach-daemon(1).
";

const TASKS_HELP: &str = "\
Usage:
  bach tasks add [--id ID] [--dir DIR] TITLE...
                                       add an open task; prints its id
  bach tasks done ID                   finish a task (its watchers stop)
  bach tasks cancel ID                 cancel a task (its watchers stop)
  bach tasks reopen ID                 make a finished task open again
  bach tasks list [--json]             every task: id, state, title, age

Options:
  --id ID     choose the id ([A-Za-z0-9][A-Za-z0-9._-]{0,63})
  --dir DIR   sessions that run in DIR or below it belong to this task (the
              longest such DIR of an open, doing or blocked task wins)
  --json      one JSON document:
              {\"tasks\": [{\"id\", \"title\", \"state\", \"created\", \"dir\"}]}
";

const SESSIONS_HELP: &str = "\
Usage:
  bach sessions start --artifact PATH [--task ID] [--pid PID] [--id ID] [--no-watch]
                                 record a session and print its id; a running
                                 daemon spawns its watcher at once, else it is
                                 started here when watch_on_launch is on
  bach sessions end ID           end a session (its watcher stops)
  bach sessions list [--json]    what every session is doing, most urgent first:
                                 needs_you, stalled, turn_done, working, tool, gone
  bach sessions show ID [--json] everything about one session, and the rule and
                                 evidence behind its attention
  bach sessions wait [ID...] [--until STATES] [--timeout SECS] [--now]
                     [--after CURSOR] [--json]
                                 block until a session enters one of STATES; print
                                 ID STATE REASON lines, then `cursor CURSOR`
  bach sessions discover [--dry-run] [--json]
                                 register the running Claude Code and Codex
                                 sessions bach does not know yet (exit 1 when
                                 ps cannot be read); the daemon does this too,
                                 for the agents in the config key discover

Options:
  --artifact PATH   the transcript; made absolute against the working directory
  --task ID         the task the session works on (must exist); without it,
                    the task whose --dir holds the agent's (--pid) folder
  --pid PID         the agent's pid: the session is gone once that process ends
  --id ID           choose the id
  --no-watch        do not start a watcher now (the daemon will)
  --dry-run         discover: say what would be registered, write nothing
  --until STATES    comma list of needs_you, stalled, turn_done, working, tool,
                    gone and ended (default needs_you,turn_done,stalled,gone)
  --timeout SECS    give up after SECS: exit 124
  --now             a session already in one of STATES counts
  --after CURSOR    report what entered since that cursor was printed
  --json            one JSON document (fields in bach(1))

wait exits 0 when a session entered, 124 on --timeout, 1 when every named ID is
unknown, gone or ended, or when nobody reads its output any more. Over SSH:
  while ssh box bach sessions wait; do notify-send \"agent needs you\"; done
";

const DAEMON_HELP: &str = "\
Usage:
  bach daemon run [--standby]           the supervisor, in the foreground
  bach daemon status [--json]           exit 0 running, 3 not running
  bach daemon stop [--timeout SECS] [--watchers]
  bach daemon install [--dry-run] [--service launchd|systemd]
  bach daemon uninstall [--service launchd|systemd] [--watchers]
  bach daemon logs [-n LINES] [-f]      the last lines of the daemon log; -f follows it

Options:
  --standby          if a daemon runs already, wait and take over when it ends
  --json             one JSON document (fields in bach-daemon(1))
  --timeout SECS     how long stop waits for the daemon to exit (default 10)
  --watchers         also stop every watcher of this home
  --dry-run          print the service file and commands, change nothing
  --service NAME     launchd (macOS default) or systemd (Linux default)
  -n, --lines LINES  how many lines of the log (default 20)
  -f, --follow       then print what is added, across rotations, until Ctrl-C
";

const INTERNAL_HELP: &str = "\
Usage:
  bach internal session-watch [--key KEY] ARTIFACT

The watcher of one artifact, started by bach. Without --key it computes the
key and re-executes itself with it; a --key that does not match is an error.
";

const DOCTOR_HELP: &str = "\
Usage:
  bach doctor [--json]

Checks the setup: the daemon and its service (systemd or launchd), linger and
logind on Linux, the launchd domain and plist on macOS, the home's file system,
ps, change notification, macOS privacy, the config, and how sessions get in.
Each check is ok, warn or fail, with one line of detail and one fix.
Exit 0 when nothing failed, 1 otherwise. Changes nothing.

Options:
  --json    one JSON document: {\"checks\": [{\"name\", \"result\", \"detail\", \"fix\"}]}
";

const HOOK_HELP: &str = "\
Usage:
  bach hook claude [--task ID]     one Claude Code hook event (JSON) on stdin
  bach hook claude --print-config  the settings.json hooks block to merge

SessionStart records the session (or revives it, on a resume) with the agent's
pid; SessionEnd ends it; Notification and Stop leave a hint for readers. It
prints nothing, always exits 0 within 2 seconds, and writes what it could not
do to logs/hook.log in BACH_HOME.

Options:
  --task ID         the session's task (else $BACH_TASK, else the task whose
                    --dir holds the session's folder, else a task of its own
                    when auto_task is on)
  --print-config    print the hooks block for ~/.claude/settings.json, with
                    this bach's absolute path; bach never edits that file
";
