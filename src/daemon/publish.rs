//! What the daemon tells: one log line per decision, a problem once per
//! streak (and its end), and `daemon.state` rewritten when it changed. A
//! state that cannot be written never stops supervision; that is said once.

use crate::config::Config;
use crate::home::Home;
use crate::ledger::{self, Header};
use crate::log::Log;
use crate::reconcile::Ledger;
use crate::time::Clock;

/// The header and what was last published.
pub struct Publisher {
    /// The header of `daemon.state`.
    pub header: Header,
    published: String,
    state_failing: bool,
    problem_logged: Option<String>,
}

impl Publisher {
    /// A publisher for the daemon `header` describes.
    pub fn new(header: Header) -> Publisher {
        Publisher { header, published: String::new(), state_failing: false, problem_logged: None }
    }

    /// Logs a problem when a streak starts and when it ends.
    pub fn problem(&mut self, log: &mut Log, problem: Option<&str>) {
        if problem == self.problem_logged.as_deref() {
            return;
        }
        match problem {
            Some(p) if self.problem_logged.is_none() => log.line(&format!(
                "cannot supervise: {p}; nothing is spawned or retired until it works"
            )),
            Some(_) => {}
            None => log.line("the process table can be read again: supervising"),
        }
        self.problem_logged = problem.map(String::from);
    }

    /// Rewrites `daemon.state` if its text changed.
    pub fn state(
        &mut self,
        home: &Home,
        log: &mut Log,
        config: &Config,
        ledger: &Ledger,
        clock: Clock,
    ) {
        self.header.reconcile_seconds = config.reconcile_seconds;
        let text = ledger::render(&self.header, config, ledger, clock);
        if text == self.published {
            return;
        }
        let state = home.daemon_state();
        let (dir, name) = (home.path(), "daemon.state");
        match crate::files::write_atomic(dir, name, text.as_bytes(), false) {
            Ok(()) => {
                if std::mem::take(&mut self.state_failing) {
                    log.line(&format!("{} can be written again", state.display()));
                }
                self.published = text;
            }
            Err(e) if !self.state_failing => {
                log.line(&format!("{e}; supervising without publishing it"));
                self.state_failing = true;
            }
            Err(_) => {}
        }
    }
}
