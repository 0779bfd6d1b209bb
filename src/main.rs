//! `bach`: parses the command line, dispatches, and maps errors to exit
//! statuses (0 success, 1 failure, 2 malformed input, 3 daemon not running).

use bach::cli::{self, Command};
use bach::cmd::{discover, doctor, hook, lifecycle, logs, sessions, show, status, tasks, wait};
use bach::{daemon, error::Result, help, say, service, watcher};
use std::process::ExitCode;

fn run(cmd: Command) -> Result<u8> {
    match cmd {
        Command::Version => say!("bach {}", env!("CARGO_PKG_VERSION")),
        Command::Help(topic) => bach::log::stdout(help::text(topic)),
        Command::TaskAdd { id, dir, title } => tasks::add(id.as_deref(), dir.as_deref(), &title)?,
        Command::TaskSet { id, verb } => tasks::set(&id, verb)?,
        Command::TaskList { json } => tasks::list(json)?,
        Command::SessionStart { artifact, task, pid, id, no_watch } => {
            let (task, id) = (task.as_deref(), id.as_deref());
            sessions::start(&sessions::Start { artifact: &artifact, task, pid, id, no_watch })?
        }
        Command::SessionEnd { id } => sessions::end(&id)?,
        Command::SessionDiscover { dry_run, json } => discover::run(dry_run, json)?,
        Command::Hook(args) => return Ok(hook::run(args)),
        Command::SessionList { json } => show::list(json)?,
        Command::SessionShow { id, json } => show::show(&id, json)?,
        Command::SessionWait { ids, until, timeout, now, after, json } => {
            return wait::wait(&wait::Wait { ids, until, timeout, now, after, json })
        }
        Command::DaemonRun { standby } => return daemon::run(standby),
        Command::DaemonStatus { json } => return status::status(json),
        Command::DaemonStop { timeout, watchers } => return lifecycle::stop(timeout, watchers),
        Command::DaemonLogs { lines, follow } => return logs::logs(lines, follow),
        Command::DaemonInstall { dry_run, service: s } => return service::install(dry_run, s),
        Command::DaemonUninstall { service: s, watchers } => {
            return service::uninstall(s, watchers)
        }
        Command::Watch { key, artifact } => return watcher::run(key, &artifact),
        Command::Doctor { json } => return doctor::doctor(json),
    }
    Ok(0)
}

fn main() -> ExitCode {
    match cli::parse(std::env::args_os().skip(1)).and_then(run) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            bach::log::stderr(&format!("bach: error: {e}\n"));
            ExitCode::from(e.code())
        }
    }
}
