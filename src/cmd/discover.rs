//! `bach sessions discover [--dry-run] [--json]`: one discovery pass by
//! hand, for Claude Code and Codex whatever the config's `discover` says
//! (that key is the daemon's). Exit 1 when `ps` cannot be read: without the
//! process table nothing can be said about running agents.

use super::{open, records};
use crate::attention::Agent;
use crate::discover::{self, Report};
use crate::error::{Error, Result};
use crate::json::Json;
use crate::{log, text, time};

/// `sessions discover`
pub fn run(dry_run: bool, json: bool) -> Result<()> {
    let (st, mut config) = open()?;
    config.discover = vec![Agent::Claude, Agent::Codex];
    let (sessions, tasks) = records(&st)?;
    let procs = crate::procs::snapshot()
        .map_err(|e| Error::fail(format!("cannot read the process table: {e}")))?;
    let report = discover::pass(&st, &config, &procs, (&sessions, &tasks), dry_run, time::now());
    match json {
        true => say!("{}", document(&report).render()),
        false => log::stdout(&lines(&report, dry_run)),
    }
    Ok(())
}

fn document(r: &Report) -> Json {
    let registered = r.registered.iter().map(|s| {
        Json::Obj(vec![
            ("id", Json::Str(s.id.clone())),
            ("agent", Json::Str(s.agent.as_str().into())),
            ("pid", Json::Int(s.pid.into())),
            ("artifact", Json::Str(s.artifact.clone())),
            ("task", Json::opt_str(s.task.clone())),
        ])
    });
    let skipped = r.skipped.iter().map(|s| {
        Json::Obj(vec![("pid", Json::Int(s.pid.into())), ("why", Json::Str(s.why.clone()))])
    });
    let ended = r.ended.iter().map(|id| Json::Str(id.clone()));
    Json::document(vec![
        ("registered", Json::Arr(registered.collect())),
        ("skipped", Json::Arr(skipped.collect())),
        ("ended", Json::Arr(ended.collect())),
    ])
}

fn lines(r: &Report, dry_run: bool) -> String {
    let (reg, end) =
        if dry_run { ("would register", "would end") } else { ("registered", "ended") };
    let mut out = String::new();
    for id in &r.ended {
        out.push_str(&format!("{end} {id}: its agent moved on to a new session\n"));
    }
    for s in &r.registered {
        let task = text::or_dash(s.task.as_deref());
        let (agent, art) = (s.agent.as_str(), text::escape(&s.artifact));
        out.push_str(&format!("{reg} {} ({agent} pid {}, task {task}): {art}\n", s.id, s.pid));
    }
    for s in &r.skipped {
        out.push_str(&format!("skipped pid {}: {}\n", s.pid, text::escape(&s.why)));
    }
    if out.is_empty() {
        out.push_str("no running agent that bach does not know\n");
    }
    out
}
