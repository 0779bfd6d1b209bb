//! The folders the daemon follows by change notification: the store's
//! `sessions/` and `tasks/` (a change re-reads the store; their stamp stays
//! the fallback), and discovery's: `${CODEX_HOME}/sessions` with each
//! existing level of today's and yesterday's `YYYY/MM/DD` (local time), and
//! Claude's registry folder `${CLAUDE_CONFIG_DIR}/sessions`. Above a
//! discovery folder that does not exist yet, the nearest folder that does is
//! watched too: creating the missing one (or a level on the way) changes it.
//!
//! Invariant: after [`Folders::arm`], every wanted folder that exists is
//! watched as the inode now at its path, and nothing else is: a level that
//! appeared is added, a folder replaced is watched anew, yesterday's levels
//! are let go at local midnight. A discovery folder that is neither watched
//! nor awaited by a watch above it is [`Folders::unwatched`]: a `stat` each
//! tick tells its changes.

use super::handles::{Handles, Role};
use crate::attention::Agent;
use crate::events::Watch;
use crate::home::{Home, Records};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A folder watched now, as the inode it was when armed.
struct Armed {
    path: PathBuf,
    role: Role,
    inode: (u64, u64),
    watch: Watch,
}

/// The folders followed, and when the dated ones next change.
pub struct Folders {
    store: [PathBuf; 2],
    codex: Option<PathBuf>,
    claude: Option<PathBuf>,
    armed: Vec<Armed>,
    /// Discovery's folders that no watch covers, as of the last arming.
    unwatched: Vec<PathBuf>,
    /// Local midnight, on the daemon's monotonic clock (ms).
    pub midnight: u64,
}

impl Folders {
    /// The folders of `home`, and those of the agents in `discover` where
    /// this process's environment puts them (`CODEX_HOME`,
    /// `CLAUDE_CONFIG_DIR`, else under `HOME`).
    pub fn new(home: &Home, discover: &[Agent]) -> Folders {
        let store = [Records::Sessions, Records::Tasks].map(|k| home.records(k));
        let mut f = Folders {
            store,
            codex: None,
            claude: None,
            armed: Vec::new(),
            unwatched: Vec::new(),
            midnight: 0,
        };
        f.follow(discover);
        f
    }

    /// Follows the folders of the agents in `discover` (a reload may change
    /// them; the next [`Folders::arm`] takes it in).
    pub fn follow(&mut self, discover: &[Agent]) {
        let dir = |a: Agent, var, default| {
            discover.contains(&a).then(|| crate::discover::own_dir(var, default))
        };
        self.codex = dir(Agent::Codex, "CODEX_HOME", ".codex");
        self.claude = dir(Agent::Claude, "CLAUDE_CONFIG_DIR", ".claude");
    }

    /// Discovery's folders that no watch covers (none could be added, or
    /// there is no change notification), as of the last [`Folders::arm`]:
    /// a `stat` tells their changes.
    pub fn unwatched(&self) -> &[PathBuf] {
        &self.unwatched
    }

    /// Discovery's folders for the Unix time `wall`.
    fn discovery(&self, wall: u64) -> Vec<PathBuf> {
        let local = wall.saturating_add_signed(crate::sys::utc_offset(wall));
        discovery(self.codex.as_deref(), self.claude.as_deref(), local)
    }

    /// Whether both store folders are watched (else the stamp decides).
    pub fn store_watched(&self) -> bool {
        self.store.iter().all(|p| self.armed.iter().any(|a| &a.path == p))
    }

    /// Watches what is wanted and exists, as its inode now; lets go of the
    /// rest. `now` is monotonic ms; `wall` Unix seconds (for the dated
    /// levels and the next midnight). Returns whether a discovery folder is
    /// watched that was not before (it appeared: discovery has news).
    pub fn arm(&mut self, handles: &mut Handles, now: u64, wall: u64) -> bool {
        let local = wall.saturating_add_signed(crate::sys::utc_offset(wall));
        let till_midnight = 86_400 - local % 86_400;
        // A second past it, so the new day's name is the one computed.
        self.midnight = now.saturating_add((till_midnight + 1) * 1000);
        let discovery = self.discovery(wall);
        let appeared = handles.has_events() && self.watch(handles, &discovery);
        // Looked at after the watches were added, so that a folder created
        // meanwhile is either watched, awaited, or looked at by `stat`.
        let covered = |p: &PathBuf| match above(p) {
            None => self.armed.iter().any(|a| &a.path == p),
            Some(at) => self.armed.iter().any(|a| a.path == at),
        };
        self.unwatched = discovery.iter().filter(|p| !covered(p)).cloned().collect();
        appeared
    }

    /// Watches the store's folders, `discovery`, and the folder above each
    /// missing one, as their inodes now. Returns whether it added a watch
    /// on a discovery folder.
    fn watch(&mut self, handles: &mut Handles, discovery: &[PathBuf]) -> bool {
        let mut wanted: Vec<(PathBuf, Role)> =
            self.store.iter().map(|p| (p.clone(), Role::Store)).collect();
        wanted.extend(discovery.iter().map(|p| (p.clone(), Role::Discovery)));
        for at in discovery.iter().filter_map(|p| above(p)) {
            if !wanted.iter().any(|(p, _)| *p == at) {
                wanted.push((at, Role::Above));
            }
        }
        let inode = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
        self.armed.retain(|a| {
            let keep =
                inode(&a.path) == Some(a.inode) && wanted.contains(&(a.path.clone(), a.role));
            if !keep {
                handles.forget_folder(a.watch);
            }
            keep
        });
        let mut added = false;
        for (path, role) in wanted {
            if self.armed.iter().any(|a| a.path == path) {
                continue;
            }
            let Some(inode) = inode(&path) else { continue };
            // Watched already under another name (a symlinked level): skip.
            if let Ok(watch) = handles.watch_folder(&path, role) {
                added |= role == Role::Discovery;
                self.armed.push(Armed { path, role, inode, watch });
            }
        }
        added
    }
}

/// The nearest folder that exists above `path`, when `path` does not.
fn above(path: &Path) -> Option<PathBuf> {
    if path.exists() {
        return None;
    }
    path.ancestors().skip(1).find(|p| p.is_dir()).map(Path::to_path_buf)
}

/// The discovery folders for the local time `local` (Unix seconds plus the
/// UTC offset): Codex's `sessions/` and each level of today's and
/// yesterday's `YYYY/MM/DD` beneath it, then Claude's `sessions/`.
pub fn discovery(codex: Option<&Path>, claude: Option<&Path>, local: u64) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(root) = codex.map(|c| c.join("sessions")) {
        out.push(root.clone());
        for day in crate::codex::rollout_dirs(local) {
            let mut level = root.clone();
            for part in day.split('/') {
                level.push(part);
                if !out.contains(&level) {
                    out.push(level.clone());
                }
            }
        }
    }
    out.extend(claude.map(|c| c.join("sessions")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_folders_are_both_days_levels_once_each() {
        let local = crate::time::days_from_civil(2026, 3, 1) as u64 * 86_400 + 3600;
        let got = discovery(Some(Path::new("/c")), Some(Path::new("/k")), local);
        let want = [
            "/c/sessions",
            "/c/sessions/2026",
            "/c/sessions/2026/03",
            "/c/sessions/2026/03/01",
            "/c/sessions/2026/02",
            "/c/sessions/2026/02/28",
            "/k/sessions",
        ];
        assert_eq!(got, want.map(PathBuf::from));
        let mid_month = crate::time::days_from_civil(2026, 3, 15) as u64 * 86_400;
        assert_eq!(discovery(Some(Path::new("/c")), None, mid_month).len(), 5, "one month");
        assert!(discovery(None, None, local).is_empty());
    }

    #[test]
    fn only_the_agents_discovered_have_folders_and_unarmed_ones_are_unwatched() {
        let home = Home::at(PathBuf::from("/h"));
        let mut f = Folders::new(&home, &[]);
        assert_eq!((f.codex.as_deref(), f.claude.as_deref()), (None, None));
        let mut h = Handles::polling();
        assert!(!f.arm(&mut h, 0, 0));
        assert!(f.unwatched().is_empty(), "discover = none: no folder to stat");
        f.claude = Some("/nonexistent/k".into());
        assert!(!f.arm(&mut h, 0, 0), "nothing is watched without events");
        assert_eq!(f.unwatched(), [PathBuf::from("/nonexistent/k/sessions")]);
        assert!(f.midnight > 0 && f.midnight <= 86_401_000, "{}", f.midnight);
        f.claude = Some(std::env::temp_dir());
        assert!(!f.arm(&mut h, 0, 0));
        assert_eq!(f.unwatched(), [std::env::temp_dir().join("sessions")], "existing or not");
        let codex = Folders::new(&home, &[Agent::Codex]);
        assert!(codex.codex.is_some() && codex.claude.is_none());
    }

    #[test]
    fn above_a_missing_folder_is_the_nearest_folder_that_exists() {
        let d = std::env::temp_dir().join(format!("bach-above-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("a")).unwrap();
        assert_eq!(above(&d.join("a/b/c")), Some(d.join("a")));
        assert_eq!(above(&d.join("a/b")), Some(d.join("a")));
        assert_eq!(above(&d.join("a")), None, "it exists");
        std::fs::write(d.join("f"), "").unwrap();
        assert_eq!(above(&d.join("f/x")), Some(d.clone()), "a file is not a folder");
        assert_eq!(above(Path::new("/nonexistent/k")), Some(PathBuf::from("/")));
        std::fs::remove_dir_all(d).unwrap();
    }

    /// Drains `h` until `f` holds; fails after 5 s.
    #[cfg(target_os = "linux")]
    fn drain_until(h: &mut Handles, what: &str, f: impl Fn(&super::super::handles::News) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !f(&h.news) {
            assert!(std::time::Instant::now() < deadline, "no {what}: {:?}", h.news);
            let _ = crate::sys::poll(&h.fds(), 10);
            h.drain();
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_missing_folder_is_awaited_from_above_and_watched_once_it_appears() {
        let d = std::env::temp_dir().join(format!("bach-awaited-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let home = Home::at(d.join("bach"));
        let mut f = Folders::new(&home, &[]);
        f.claude = Some(d.join("claude"));
        let mut h = Handles::new();
        let wall = crate::time::now();
        assert!(!f.arm(&mut h, 0, wall), "nothing to discover yet");
        let paths = |f: &Folders| f.armed.iter().map(|a| (a.path.clone(), a.role)).collect();
        let armed: Vec<(PathBuf, Role)> = paths(&f);
        assert_eq!(armed, [(d.clone(), Role::Above)], "the store is missing too here");
        assert!(f.unwatched().is_empty(), "awaited, so no stat each tick");
        // A level on the way: the watch moves down to it; no news for discovery.
        std::fs::create_dir(d.join("claude")).unwrap();
        drain_until(&mut h, "rearm", |n| n.rearm);
        assert!(!h.news.pending(), "{:?}", h.news);
        h.news.rearm = false;
        assert!(!f.arm(&mut h, 1, wall));
        assert_eq!(paths(&f), [(d.join("claude"), Role::Above)]);
        // The folder itself: watched, and discovery told.
        std::fs::create_dir(d.join("claude/sessions")).unwrap();
        drain_until(&mut h, "rearm", |n| n.rearm);
        assert!(f.arm(&mut h, 2, wall), "a discovery folder appeared");
        assert_eq!(paths(&f), [(d.join("claude/sessions"), Role::Discovery)]);
        assert!(f.unwatched().is_empty());
        assert!(!f.arm(&mut h, 3, wall), "armed again: nothing new");
        // Removed: awaited from above again.
        std::fs::remove_dir(d.join("claude/sessions")).unwrap();
        assert!(!f.arm(&mut h, 4, wall));
        assert_eq!(paths(&f), [(d.join("claude"), Role::Above)]);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_level_that_appears_is_armed_and_a_replaced_folder_watched_anew() {
        let d = std::env::temp_dir().join(format!("bach-folders-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let (sessions, tasks, codex) = (d.join("sessions"), d.join("tasks"), d.join("codex"));
        for dir in [&sessions, &tasks, &codex.join("sessions")] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let mut h = Handles::new();
        let store = [sessions.clone(), tasks.clone()];
        let mut f = Folders {
            store,
            codex: Some(codex.clone()),
            claude: None,
            armed: vec![],
            unwatched: vec![],
            midnight: 0,
        };
        let wall = crate::time::now();
        f.arm(&mut h, 1_000, wall);
        assert!(f.store_watched());
        assert_eq!(f.armed.len(), 3, "the store's two and Codex's sessions/");
        assert!(f.midnight > 1_000 && f.midnight <= 1_000 + 86_401_000, "{}", f.midnight);
        // Today's levels appear: the change of sessions/ re-arms.
        let local = wall.saturating_add_signed(crate::sys::utc_offset(wall));
        let today = codex.join("sessions").join(&crate::codex::rollout_dirs(local)[0]);
        std::fs::create_dir_all(&today).unwrap();
        drain_until(&mut h, "discovery news", |n| n.discovery);
        assert!(f.arm(&mut h, 2_000, wall), "new discovery folders");
        assert!(f.armed.iter().any(|a| a.path == today), "today's DD level is watched");
        // The sessions folder replaced: the new inode is watched, not the old.
        let old = f.armed.iter().find(|a| a.path == sessions).map(|a| a.watch).unwrap();
        std::fs::rename(&sessions, d.join("away")).unwrap();
        std::fs::create_dir(&sessions).unwrap();
        f.arm(&mut h, 3_000, wall);
        let new = f.armed.iter().find(|a| a.path == sessions).map(|a| a.watch).unwrap();
        assert_ne!(old, new);
        h.news = super::super::handles::News::default();
        std::fs::write(sessions.join("s1"), "x").unwrap();
        drain_until(&mut h, "store news from the new folder", |n| n.store);
        // Past two midnights: those levels are neither today nor yesterday.
        f.arm(&mut h, 4_000, wall + 2 * 86_400);
        assert!(!f.armed.iter().any(|a| a.path == today), "let go at midnight");
        std::fs::remove_dir_all(d).unwrap();
    }
}
