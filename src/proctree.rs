//! An agent's process tree, read from one `ps` table through its ppid
//! chains: which process is the agent itself (the innermost of a wrapper
//! chain) and what runs under it now. Pure: the table in, pids and start
//! times out.
//!
//! Invariant: only live processes count (a zombie never does), and a torn
//! table whose ppids form a cycle cannot make a walk loop: every pid is
//! visited once.

use crate::attention::Agent;
use crate::ps::Proc;
use std::collections::{BTreeMap, BTreeSet};

/// The live children of every pid in the table.
pub fn children(procs: &[Proc]) -> BTreeMap<i32, Vec<&Proc>> {
    let mut out: BTreeMap<i32, Vec<&Proc>> = BTreeMap::new();
    for p in procs.iter().filter(|p| !p.zombie && p.pid != p.ppid) {
        out.entry(p.ppid).or_default().push(p);
    }
    out
}

/// Whether a command line is an agent of this kind (either kind when the
/// agent is not known yet). `ps` prints the command as one string; its
/// words are split at blanks, which is enough to read the program and the
/// script it runs.
fn is_agent(agent: Option<Agent>, command: &str) -> bool {
    let argv: Vec<&str> = command.split_whitespace().collect();
    match agent {
        Some(Agent::Claude) => crate::claude::is_claude(&argv),
        Some(Agent::Codex) => crate::codex::is_codex(&argv),
        Some(Agent::Other) => false,
        None => crate::claude::is_claude(&argv) || crate::codex::is_codex(&argv),
    }
}

/// The agent process itself: starting at the recorded `pid`, each child
/// that is the same agent takes its place (the npm wrapper of Codex starts
/// the native `codex`, whose children are the tools; see
/// `../shared/fixtures/codex/real-0.171/`).
pub fn innermost(kids: &BTreeMap<i32, Vec<&Proc>>, pid: i32, agent: Option<Agent>) -> i32 {
    let (mut at, mut seen) = (pid, BTreeSet::from([pid]));
    while let Some(next) = kids
        .get(&at)
        .and_then(|c| c.iter().find(|p| is_agent(agent, &p.command) && !seen.contains(&p.pid)))
    {
        at = next.pid;
        seen.insert(at);
    }
    at
}

/// The start times (Unix seconds) of every live descendant of `pid`; one
/// whose start `ps` printed in a form not understood counts as started
/// now (`now`), so it still keeps the agent from looking idle.
pub fn descendants(kids: &BTreeMap<i32, Vec<&Proc>>, pid: i32, now: u64) -> Vec<u64> {
    let (mut out, mut todo, mut seen) = (Vec::new(), vec![pid], BTreeSet::from([pid]));
    while let Some(at) = todo.pop() {
        for p in kids.get(&at).into_iter().flatten() {
            if seen.insert(p.pid) {
                out.push(crate::time::lstart_secs(&p.start).unwrap_or(now));
                todo.push(p.pid);
            }
        }
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: i32, ppid: i32, start: &str, command: &str) -> Proc {
        Proc {
            uid: 501,
            pid,
            ppid,
            pgid: pid,
            zombie: false,
            start: start.into(),
            command: command.into(),
            ticks: None,
        }
    }

    const T0: &str = "Tue Dec 1 08:41:00 2026";
    const T1: &str = "Tue Dec 1 08:41:46 2026";

    /// The real Codex 0.171 tree while its tool ran (fixture README).
    fn codex_tree() -> Vec<Proc> {
        vec![
            proc(100, 1, T0, "node /u/.bin/codex exec --skip-git-repo-check run the tests"),
            proc(101, 100, T0, "/u/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex exec --skip-git-repo-check run the tests"),
            proc(102, 101, T1, "/bin/bash -c sleep 4; echo ok"),
            proc(103, 102, T1, "sleep 4"),
            proc(200, 1, T0, "unrelated"),
        ]
    }

    #[test]
    fn the_codex_wrapper_is_not_a_child_of_its_own_agent() {
        let t = codex_tree();
        let kids = children(&t);
        assert_eq!(innermost(&kids, 100, Some(Agent::Codex)), 101);
        assert_eq!(innermost(&kids, 100, None), 101, "either kind when unknown");
        assert_eq!(innermost(&kids, 100, Some(Agent::Claude)), 100);
        let t1 = crate::time::lstart_secs(T1).unwrap();
        assert_eq!(descendants(&kids, 101, 0), vec![t1, t1]);
        assert_eq!(descendants(&kids, 103, 0), Vec::<u64>::new());
    }

    #[test]
    fn zombies_do_not_count_and_odd_starts_count_as_now() {
        let mut t = codex_tree();
        t[3].zombie = true;
        t[2].start = "garbled".into();
        let kids = children(&t);
        assert_eq!(descendants(&kids, 101, 42), vec![42]);
    }

    #[test]
    fn a_torn_table_with_a_cycle_ends() {
        let t = vec![
            proc(10, 11, T0, "claude"),
            proc(11, 10, T0, "claude --resume"),
            proc(12, 12, T0, "claude"),
        ];
        let kids = children(&t);
        assert_eq!(innermost(&kids, 10, Some(Agent::Claude)), 11);
        assert_eq!(descendants(&kids, 10, 0).len(), 1);
        assert_eq!(innermost(&kids, 12, Some(Agent::Claude)), 12, "its own parent");
    }
}
