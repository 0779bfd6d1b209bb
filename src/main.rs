//! `bach`: parses the command line, dispatches, and maps errors to exit
//! statuses (0 success, 1 failure, 2 malformed input, 3 daemon not running).

use bach::cli::{self, Command};
use bach::{commands, daemon, error::Result, lifecycle, service, watcher};
use std::process::ExitCode;

fn run(cmd: Command) -> Result<u8> {
    match cmd {
        Command::Version => println!("bach {}", env!("CARGO_PKG_VERSION")),
        Command::Help(topic) => print!("{}", cli::help_text(topic)),
        Command::TaskAdd { id, title } => commands::task_add(id.as_deref(), &title)?,
        Command::TaskSet { id, verb } => commands::task_set(&id, verb)?,
        Command::TaskList { json } => commands::task_list(json)?,
        Command::SessionStart { artifact, task, pid, id, no_watch } => {
            commands::session_start(&artifact, task.as_deref(), pid, id.as_deref(), no_watch)?
        }
        Command::SessionEnd { id } => commands::session_end(&id)?,
        Command::SessionList { json } => commands::session_list(json)?,
        Command::DaemonRun { standby } => return daemon::run(standby),
        Command::DaemonStatus { json } => return bach::report::status(json),
        Command::DaemonStop { timeout, watchers } => return lifecycle::stop(timeout, watchers),
        Command::DaemonLogs { lines } => return lifecycle::logs(lines),
        Command::DaemonInstall { dry_run, service: s } => return service::install(dry_run, s),
        Command::DaemonUninstall { service: s, watchers } => {
            return service::uninstall(s, watchers)
        }
        Command::Watch { key, artifact } => return watcher::run(key, &artifact),
    }
    Ok(0)
}

fn main() -> ExitCode {
    match cli::parse(std::env::args_os().skip(1)).and_then(run) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("bach: error: {e}");
            ExitCode::from(e.code())
        }
    }
}
