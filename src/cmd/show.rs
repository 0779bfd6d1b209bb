//! `bach sessions list` and `sessions show`: one look at the sessions (see
//! [`crate::look`]), most urgent first, for people (120 columns) or as JSON.
//!
//! Invariant: nothing read from a file or a process reaches the terminal
//! raw: every cell is escaped, then cut to its column.

use super::{open, records, table};
use crate::attention::{Agent, Attention};
use crate::error::{Error, Result};
use crate::json::Json;
use crate::look::{self, Context, Memory, View};
use crate::refine::Rule;
use crate::store::Life;
use crate::text::{ago, duration, escape, or_dash};
use crate::watcher::status::WatchState;
use crate::{files, kv, time};

/// The widest `sessions list` prints.
pub const WIDTH: usize = 120;

/// Every session, looked at once, most urgent first.
fn looked() -> Result<(crate::home::Home, crate::config::Config, Vec<View>, u64)> {
    let (st, config) = open()?;
    let (sessions, tasks) = records(&st)?;
    let procs = table(&sessions);
    let now = time::now();
    let cx = Context { home: &st.home, config: &config, procs: procs.as_deref(), now };
    let mut views = look::look(&cx, sessions, &tasks, &mut Memory::default());
    look::sort(&mut views);
    Ok((st.home, config, views, now))
}

/// `sessions list`
pub fn list(json: bool) -> Result<()> {
    let (_, _, views, now) = looked()?;
    if json {
        let doc = Json::document(vec![("sessions", Json::Arr(views.iter().map(row).collect()))]);
        say!("{}", doc.render());
    } else {
        crate::log::stdout(&lines(&views, now));
    }
    Ok(())
}

/// `sessions show ID`
pub fn show(id: &str, json: bool) -> Result<()> {
    let (home, config, views, now) = looked()?;
    let v = views.iter().find(|v| v.session.id == id);
    let v = v.ok_or_else(|| Error::fail(format!("unknown session '{id}'")))?;
    let daemon = look::daemon_fields(&home);
    let ledger = look::ledger(&daemon, &v.key);
    let status_text = files::read_small(&home.status(&v.key), files::RECORD_MAX).ok().flatten();
    let status_file: Vec<(String, String)> = kv::lines(status_text.as_deref().unwrap_or(""))
        .filter_map(|f| f.ok().map(|f| (f.key.to_string(), f.value.to_string())))
        .collect();
    if json {
        let Json::Obj(mut fields) = row(v) else { unreachable!("a row is an object") };
        let evidence = v.status.as_ref().map_or(&[][..], |s| &s.saved.evidence[..]);
        fields.push(("rule", Json::Str(v.refined.rule.as_str().into())));
        fields.push(("evidence", Json::Arr(evidence.iter().cloned().map(Json::Str).collect())));
        fields.push(("ledger", pairs(&ledger)));
        fields.push(("status_file", pairs(&status_file)));
        // The document is the element itself, after schema, host and time.
        say!("{}", Json::document(fields).render());
        return Ok(());
    }
    let procs = crate::procs::snapshot().ok();
    let text = super::show_text::render(&home, v, &ledger, procs.as_deref(), &config, now);
    crate::log::stdout(&text);
    Ok(())
}

/// Pairs as an object of strings and integers (`null` when there are none).
fn pairs(p: &[(String, String)]) -> Json {
    if p.is_empty() {
        return Json::Null;
    }
    let value = |v: &String| match v.parse::<i64>() {
        Ok(n) if n.to_string() == *v => Json::Int(n),
        _ => Json::Str(v.clone()),
    };
    Json::Map(p.iter().map(|(k, v)| (k.clone(), value(v))).collect())
}

/// One element of `sessions list --json`.
pub fn row(v: &View) -> Json {
    let (s, st) = (&v.session, v.status.as_ref());
    let time = |t: Option<u64>| Json::opt_int(t.map(|t| t as i64));
    let text = |t: Option<&String>| Json::opt_str(t.filter(|t| !t.is_empty()).cloned());
    let content = st.is_some_and(|x| x.content());
    Json::Obj(vec![
        ("id", Json::Str(s.id.clone())),
        ("task", Json::opt_str(v.task.as_ref().map(|t| t.id.clone()))),
        ("task_state", Json::opt_str(v.task.as_ref().map(|t| t.state.as_str()))),
        ("artifact", Json::Str(s.artifact.clone())),
        ("state", Json::Str(v.life.as_str().into())),
        ("pid", Json::opt_int(s.pid)),
        ("supervisable", Json::Bool(v.supervisable)),
        ("watcher_pid", Json::opt_int(v.watcher)),
        ("observed", Json::opt_str(v.observed.map(WatchState::as_str))),
        ("lines", Json::Int(st.map_or(0, |x| x.lines as i64))),
        ("bytes", Json::Int(st.map_or(0, |x| x.bytes as i64))),
        ("last_activity", time(st.and_then(|x| x.last_activity))),
        ("verdict", Json::opt_str(st.and_then(|x| x.verdict.clone()))),
        ("verdict_at", time(st.and_then(|x| x.verdict_at))),
        ("agent", Json::opt_str(v.agent.map(Agent::as_str))),
        ("attention", Json::opt_str(v.refined.attention.map(Attention::as_str))),
        ("attention_since", time(v.refined.since)),
        ("reason", text(Some(&v.refined.reason))),
        ("tool", text(st.map(|x| &x.saved.tool))),
        ("last_text", text(st.map(|x| &x.saved.last_text))),
        ("turns", time(st.filter(|_| content).map(|x| x.saved.turns))),
        ("cwd", Json::opt_str(v.cwd.clone())),
        ("agent_session", text(st.map(|x| &x.saved.agent_session).or(s.agent_session.as_ref()))),
        ("via", Json::Str(s.via.as_str().into())),
        ("started", Json::Int(s.started as i64)),
        ("end_reason", Json::opt_str(s.end_reason.clone())),
    ])
}

/// How the attention column reads: "needs you 3m", "tool Bash 40s".
pub fn attention_cell(v: &View, now: u64) -> String {
    let tool = v.status.as_ref().map_or("", |s| s.saved.tool.as_str());
    let label = match v.refined.attention {
        Some(Attention::NeedsYou) => "needs you".to_string(),
        Some(Attention::TurnDone) => "turn done".into(),
        Some(Attention::Tool) if !tool.is_empty() => format!("tool {tool}"),
        Some(a) => a.as_str().into(),
        None if v.session.ended => return format!("ended: {}", v.refined.reason),
        None => return v.why.clone().unwrap_or_else(|| none_yet(v)),
    };
    match v.refined.since {
        Some(t) => format!("{label} {}", duration(now.saturating_sub(t))),
        None => label,
    }
}

/// Why a supervised session shows nothing yet.
fn none_yet(v: &View) -> String {
    match (v.watcher, v.observed) {
        (None, _) if v.life == Life::Live => "no watcher yet".into(),
        (_, Some(WatchState::Absent)) => "no transcript yet".into(),
        _ => "-".into(),
    }
}

/// What the last column says: the reason when someone must act (or the
/// agent is gone), else the start of the agent's last text.
fn doing(v: &View) -> String {
    let last = v.status.as_ref().map_or("", |s| s.saved.last_text.as_str());
    match v.refined.attention {
        Some(Attention::NeedsYou | Attention::Stalled | Attention::Gone) => {
            v.refined.reason.clone()
        }
        Some(Attention::Working | Attention::TurnDone | Attention::Tool) if !last.is_empty() => {
            last.into()
        }
        Some(Attention::Working | Attention::TurnDone | Attention::Tool) => {
            v.refined.reason.clone()
        }
        None => last.into(),
    }
}

/// `s` escaped and cut to `max` characters (an ellipsis marks the cut).
fn cut(s: &str, max: usize) -> String {
    let s = escape(s);
    match s.chars().count() > max {
        true => s.chars().take(max.saturating_sub(1)).chain(['…']).collect(),
        false => s.into_owned(),
    }
}

/// The human list: one line per session under a header, at most
/// [`WIDTH`] columns; the last column takes what is left.
pub fn lines(views: &[View], now: u64) -> String {
    const CAPS: [usize; 5] = [16, 16, 6, 26, 8];
    let header = ["ID", "TASK", "AGENT", "ATTENTION", "ACTIVITY", "DOING"];
    let rows: Vec<[String; 6]> = views
        .iter()
        .map(|v| {
            let task = v.session.task.as_deref();
            let last = v.status.as_ref().and_then(|s| s.last_activity);
            [
                v.session.id.clone(),
                or_dash(task),
                or_dash(v.agent.map(Agent::as_str)),
                attention_cell(v, now),
                ago(last, now).trim_end_matches(" ago").to_string(),
                doing(v),
            ]
        })
        .collect();
    let mut widths = [0; 5];
    for (i, w) in widths.iter_mut().enumerate() {
        let cells = rows.iter().map(|r| cut(&r[i], CAPS[i]).chars().count());
        *w = cells.chain([header[i].len()]).max().unwrap_or(0);
    }
    let rest = WIDTH - widths.iter().map(|w| w + 2).sum::<usize>();
    let mut out = String::new();
    let all = std::iter::once(header.map(String::from)).chain(rows);
    for r in all {
        let mut line: String =
            (0..5).map(|i| format!("{:<w$}  ", cut(&r[i], CAPS[i]), w = widths[i])).collect();
        line.push_str(&cut(&r[5], rest));
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// How `sessions show` names the rule that decided.
pub fn rule_text(v: &View, config_permission: u64, config_stall: u64) -> String {
    let pid = v.session.pid.map_or("-".into(), |p| p.to_string());
    match v.refined.rule {
        Rule::Ended => {
            format!("ended ({})", v.session.end_reason.as_deref().unwrap_or("sessions end"))
        }
        Rule::Gone => format!("agent gone: pid {pid} no longer runs"),
        Rule::Watcher => "the watcher's reading of the transcript".into(),
        Rule::Registry => format!(
            "Claude Code's registry {} says waiting",
            v.registry_path.as_ref().map_or("-".into(), |p| p.display().to_string())
        ),
        Rule::Hint => "a Claude Code hook's hint (watch/KEY.hint)".into(),
        Rule::Approval => format!(
            "a shell call open for permission_seconds ({}) with nothing started under pid {pid}",
            duration(config_permission)
        ),
        Rule::Stalled => format!(
            "no growth and nothing running under pid {pid} for stall_seconds ({})",
            duration(config_stall)
        ),
    }
}

#[cfg(test)]
#[path = "show_tests.rs"]
mod tests;
