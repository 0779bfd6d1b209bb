//! `bach tasks add|done|cancel|reopen|list`.

use super::{open, records, stop_undesired, warn_problems};
use crate::cli::TaskVerb;
use crate::error::{Error, Result};
use crate::json::Json;
use crate::store::{self, Task, TaskState};
use crate::{log, text, time};

/// `tasks add`; `dir` as given (relative to the working directory).
pub fn add(id: Option<&str>, dir: Option<&str>, title: &str) -> Result<()> {
    let dir = dir.map(|d| store::normalize_dir(&crate::home::cwd()?, d).map_err(Error::usage));
    let dir = dir.transpose()?;
    let (st, _) = open()?;
    let mut t = Task::new(title, time::now());
    // The realpath is kept only where it says more (a symlink on the way).
    let real = dir.as_deref().and_then(|d| std::fs::canonicalize(d).ok());
    t.dir_real =
        real.and_then(|r| r.to_str().map(String::from)).filter(|r| Some(r) != dir.as_ref());
    t.dir = dir;
    say!("{}", st.add_task(id, &t)?);
    Ok(())
}

/// `tasks done|cancel|reopen`
pub fn set(id: &str, verb: TaskVerb) -> Result<()> {
    let (st, _) = open()?;
    let mut task = st.task(id)?.ok_or_else(|| Error::fail(format!("unknown task '{id}'")))?;
    let state = match verb {
        TaskVerb::Done => TaskState::Done,
        TaskVerb::Cancel => TaskState::Cancelled,
        TaskVerb::Reopen => TaskState::Open,
    };
    if task.state == state {
        log::note(&format!("task '{id}' is already {}", state.as_str()));
        return Ok(());
    }
    task.state = state;
    st.put_task(&task)?;
    if state.terminal() {
        let (sessions, _) = records(&st)?;
        let ours = sessions.iter().filter(|s| s.task.as_deref() == Some(id));
        stop_undesired(&st, ours.map(|s| st.home.key(&s.artifact)).collect())?;
    }
    Ok(())
}

/// `tasks list`
pub fn list(json: bool) -> Result<()> {
    let (st, _) = open()?;
    let (tasks, problems) = st.tasks().map_err(|p| Error::fail(format!("cannot read {p}")))?;
    warn_problems(&problems);
    if json {
        let items = tasks.iter().map(|t| {
            Json::Obj(vec![
                ("id", Json::Str(t.id.clone())),
                ("title", Json::Str(t.title.clone())),
                ("state", Json::Str(t.state.as_str().into())),
                ("created", Json::Int(t.created as i64)),
                ("dir", Json::opt_str(t.dir.clone())),
            ])
        });
        say!("{}", Json::document(vec![("tasks", Json::Arr(items.collect()))]).render());
        return Ok(());
    }
    let now = time::now();
    let row = |k: &Task| {
        vec![
            k.id.clone(),
            k.state.as_str().into(),
            text::ago(Some(k.created), now),
            text::or_dash(k.dir.as_deref()),
            k.title.clone(),
        ]
    };
    let rows: Vec<Vec<String>> = tasks.iter().map(row).collect();
    crate::log::stdout(&text::table("ID STATE CREATED DIR TITLE", &rows));
    Ok(())
}
