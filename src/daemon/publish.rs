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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::{Entry, Phase};

    #[test]
    fn state_is_written_when_it_changes_and_a_failure_is_said_once() {
        let d = std::env::temp_dir().join(format!("bach-publish-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let home = Home::at(d.clone());
        let mut log = Log::new(d.join("d.log"), 1 << 20);
        let clock = Clock { mono: 1_000_000, wall: 1_700_000_000_000 };
        let mut p = Publisher::new(Header { pid: 42, started: 7, ..Header::default() });
        let mut ledger = Ledger::new();
        p.state(&home, &mut log, &Config::default(), &ledger, clock);
        let first = std::fs::read_to_string(home.daemon_state()).unwrap();
        assert!(first.starts_with("pid = 42\nstarted = 7\nreconcile_seconds = 5\n"), "{first}");
        let e =
            Entry { crashes: 2, phase: Phase::Backoff { until: 1_004_000 }, ..Entry::new("/a") };
        ledger.insert("0123456789abcdef".into(), e);
        std::fs::remove_file(home.daemon_state()).unwrap();
        std::fs::create_dir(home.daemon_state()).unwrap(); // cannot be replaced now
        for _ in 0..3 {
            p.state(&home, &mut log, &Config::default(), &ledger, clock);
        }
        let said = std::fs::read_to_string(d.join("d.log")).unwrap();
        assert_eq!(said.matches("supervising without publishing it").count(), 1, "{said}");
        std::fs::remove_dir(home.daemon_state()).unwrap();
        p.state(&home, &mut log, &Config::default(), &ledger, clock);
        let text = std::fs::read_to_string(home.daemon_state()).unwrap();
        assert!(text.contains("0123456789abcdef.next_retry = 1700000004\n"), "{text}");
        assert!(std::fs::read_to_string(d.join("d.log")).unwrap().contains("can be written again"));
        p.problem(&mut log, Some("ps failed"));
        p.problem(&mut log, Some("ps failed again"));
        p.problem(&mut log, None);
        let said = std::fs::read_to_string(d.join("d.log")).unwrap();
        assert_eq!(said.matches("cannot supervise: ").count(), 1, "once per streak: {said}");
        assert_eq!(said.matches("can be read again").count(), 1);
        std::fs::remove_dir_all(d).unwrap();
    }
}
