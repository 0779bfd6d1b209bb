//! `sessions show ID` for people: the record, the task, the agent process,
//! the watcher, the last status, attention with its rule and evidence, the
//! daemon's ledger entry and the paths of the logs, one labelled line each.
//!
//! Invariant: every value read from a file or a process is escaped.

use super::show::{attention_cell, rule_text};
use crate::config::Config;
use crate::home::Home;
use crate::look::View;
use crate::ps::Proc;
use crate::store::Life;
use crate::text::{ago, duration, escape};
use crate::time;

/// The whole text.
pub fn render(
    home: &Home,
    v: &View,
    ledger: &[(String, String)],
    procs: Option<&[Proc]>,
    config: &Config,
    now: u64,
) -> String {
    let s = &v.session;
    let mut out: Vec<(&str, String)> = Vec::new();
    let via = s.via.as_str();
    let life = v.life.as_str();
    out.push((
        "session",
        format!("{} ({life}, via {via}, started {})", s.id, time::utc(s.started)),
    ));
    out.push(("artifact", s.artifact.clone()));
    out.push(("task", task(v)));
    out.push(("agent", agent(v)));
    out.push(("watcher", watcher(home, v, procs, now)));
    out.push(("status", status(v, now)));
    let cell = attention_cell(v, now);
    out.push(match v.refined.attention {
        Some(_) => ("attention", format!("{cell}: {}", v.refined.reason)),
        None => ("attention", cell),
    });
    if v.status.is_some() || v.refined.rule != crate::refine::Rule::Watcher {
        out.push(("rule", rule_text(v, config.permission_seconds, config.stall_seconds)));
    }
    if let Some(st) = &v.status {
        let x = &st.saved;
        let tool = if x.tool.is_empty() { String::new() } else { format!(", tool {}", x.tool) };
        let since = ago(st.attention_since, now);
        let what = x.attention.map_or("-", |a| a.as_str());
        out.push(("watcher's", format!("{what} since {since}{tool}, {} turns", x.turns)));
        if !x.last_text.is_empty() {
            out.push(("last text", x.last_text.clone()));
        }
        for (i, e) in x.evidence.iter().enumerate() {
            out.push((if i == 0 { "evidence" } else { "" }, e.clone()));
        }
    }
    let entry: Vec<String> = ledger.iter().map(|(k, v)| format!("{k} {v}")).collect();
    out.push(("ledger", if entry.is_empty() { "none".into() } else { entry.join(", ") }));
    out.push(("log", home.watch_log(&v.key).display().to_string()));
    out.push(("status file", home.status(&v.key).display().to_string()));
    out.push(("daemon log", home.daemon_log().display().to_string()));
    out.iter().map(|(k, v)| format!("{k:<12}{}\n", escape(v))).collect()
}

fn task(v: &View) -> String {
    match (&v.session.task, &v.task) {
        (None, _) => "none".into(),
        (Some(id), None) => format!("{id} (no such task)"),
        (Some(_), Some(t)) => format!("{} ({}): {}", t.id, t.state.as_str(), t.title),
    }
}

fn agent(v: &View) -> String {
    let s = &v.session;
    let name = v.agent.map_or("unknown agent", |a| a.as_str());
    let pid = match (s.pid, v.life) {
        (None, _) => "no pid".to_string(),
        (Some(p), Life::Gone) => format!("pid {p} (gone)"),
        (Some(p), Life::Live | Life::Ended) => format!("pid {p}"),
    };
    let mut text = format!("{name}, {pid}");
    if let Some(cwd) = &v.cwd {
        text.push_str(&format!(", cwd {cwd}"));
    }
    let session = v.status.as_ref().map(|x| x.saved.agent_session.clone());
    if let Some(id) = session.filter(|x| !x.is_empty()).or(s.agent_session.clone()) {
        text.push_str(&format!(", session {id}"));
    }
    if let Some(r) = &v.registry {
        text.push_str(&format!(", registry {}", r.status.as_deref().unwrap_or("without status")));
    }
    text
}

fn watcher(home: &Home, v: &View, procs: Option<&[Proc]>, now: u64) -> String {
    let lock = home.lock(&v.key);
    let Some(pid) = v.watcher else {
        return match &v.why {
            Some(why) => format!("none ({why})"),
            None => format!("none (nobody holds {})", lock.display()),
        };
    };
    let started =
        procs.and_then(|p| crate::ps::find(p, pid)).and_then(|p| time::lstart_secs(&p.start));
    let up = started.map_or(String::new(), |t| format!(", up {}", duration(now.saturating_sub(t))));
    format!("pid {pid}{up}, holds {}", lock.display())
}

fn status(v: &View, now: u64) -> String {
    let Some(st) = &v.status else { return "none yet".into() };
    let mut text = format!(
        "{}: {} lines, {} bytes, last activity {}",
        st.state.as_str(),
        st.lines,
        st.bytes,
        ago(st.last_activity, now)
    );
    if v.observed.is_none() {
        text.push_str(" (written by a watcher that no longer runs)");
    }
    if let Some(verdict) = &st.verdict {
        let exit = st.judge_exit.as_deref().unwrap_or("-");
        text.push_str(&format!("; verdict \"{verdict}\" ({exit}, {})", ago(st.verdict_at, now)));
    }
    if let Some(e) = &st.error {
        text.push_str(&format!("; error: {e}"));
    }
    text
}
