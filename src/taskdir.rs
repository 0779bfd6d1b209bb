//! Which task a session belongs to by the folder it runs in (DESIGN,
//! "Sessions that register themselves", Tasks), and the id of an auto task.
//! Pure. Invariant: a task holds a folder only at a `/` boundary, so
//! `/a/b` never claims `/a/bc`, and concurrent creators of an auto task for
//! one folder compute one id, so they meet at one `link`.

use crate::agent::basename;
use crate::key::{fnv1a, FNV_BASIS};
use crate::store::{valid_id, TaskState};
use crate::text::has_control;

/// A task as the folder rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirTask<'a> {
    /// Its id.
    pub id: &'a str,
    /// Its state; only open, doing and blocked tasks take sessions.
    pub state: TaskState,
    /// When it was added (Unix seconds); the older wins a tie.
    pub created: u64,
    /// The folder it was given (`--dir`, or the cwd of an auto task).
    pub dir: Option<&'a str>,
    /// The realpath of `dir`, stored when different.
    pub dir_real: Option<&'a str>,
    /// An auto task holds only its exact folder.
    pub auto: bool,
}

/// Whether the folder `dir` holds `cwd`: the same folder, or one below it at
/// a `/` boundary. Both must be absolute; trailing slashes do not count, so
/// `/` holds every absolute path. Paths are compared as bytes: `..` and
/// symlinks are what `dir_real` is for.
pub fn holds(dir: &str, cwd: &str) -> bool {
    let (d, c) = (dir.trim_end_matches('/'), cwd.trim_end_matches('/'));
    dir.starts_with('/')
        && cwd.starts_with('/')
        && (c == d || c.strip_prefix(d).is_some_and(|below| below.starts_with('/')))
}

/// Whether `dir` and `cwd` are the same absolute folder (trailing slashes
/// aside): the only folder an auto task holds.
fn same(dir: &str, cwd: &str) -> bool {
    dir.starts_with('/')
        && cwd.starts_with('/')
        && dir.trim_end_matches('/') == cwd.trim_end_matches('/')
}

/// The task a session in `cwd` (whose realpath is `cwd_real`) belongs to:
/// among open, doing and blocked tasks whose `dir` or `dir_real` holds
/// either, the longest holder wins, then the oldest task, then the smallest
/// id (so the choice never depends on the order of `tasks`). "Longest" is
/// measured as what of the cwd lies below the holder, fewest bytes first,
/// so that a `dir` holding `cwd` and a `dir_real` holding `cwd_real` compare
/// fairly.
pub fn choose<'a>(tasks: &[DirTask<'a>], cwd: &str, cwd_real: Option<&str>) -> Option<&'a str> {
    let below = |t: &DirTask, d: &str, c: &str| {
        let fits = if t.auto { same(d, c) } else { holds(d, c) };
        fits.then(|| c.trim_end_matches('/').len().saturating_sub(d.trim_end_matches('/').len()))
    };
    let nearest = |t: &DirTask| {
        let pairs = [t.dir, t.dir_real]
            .into_iter()
            .flatten()
            .flat_map(|d| [Some(cwd), cwd_real].map(|c| (d, c)));
        pairs.filter_map(|(d, c)| below(t, d, c?)).min()
    };
    let takes = |t: &&DirTask| match t.state {
        TaskState::Open | TaskState::Doing | TaskState::Blocked => true,
        TaskState::Done | TaskState::Cancelled => false,
    };
    let candidates = tasks.iter().filter(takes).filter_map(|t| Some((nearest(t)?, t)));
    let best = candidates
        .min_by(|(la, a), (lb, b)| la.cmp(lb).then(a.created.cmp(&b.created)).then(a.id.cmp(b.id)));
    best.map(|(_, t)| t.id)
}

/// The id of the auto task for `dir`: its folder name with every character
/// outside `[A-Za-z0-9._-]` as `-` and leading `.`, `-`, `_` dropped (`task`
/// if nothing is left), cut to 50, then `-` and the first 6 hex digits of
/// FNV-1a 64 over `dir` without trailing slashes. `None` for a relative
/// path or one with a control character, `/`, the home and the temporary
/// folder (trailing slashes aside).
pub fn auto_id(dir: &str, home: Option<&str>, tmp: Option<&str>) -> Option<String> {
    let d = dir.trim_end_matches('/');
    let special = [home, tmp].into_iter().flatten().any(|x| x.trim_end_matches('/') == d);
    if !dir.starts_with('/') || d.is_empty() || special || has_control(dir) {
        return None;
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let name: String = basename(d).chars().map(|c| if allowed(c) { c } else { '-' }).collect();
    let name = name.trim_start_matches(['.', '-', '_']);
    let stem: String = if name.is_empty() { "task" } else { name }.chars().take(50).collect();
    let id = format!("{stem}-{:06x}", fnv1a(FNV_BASIS, d.as_bytes()) >> 40);
    valid_id(&id).then_some(id)
}

#[cfg(test)]
#[path = "taskdir_tests.rs"]
mod tests;
