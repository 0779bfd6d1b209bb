//! The folders the daemon follows by change notification: the store's
//! `sessions/` and `tasks/` (a change re-reads the store; their stamp stays
//! the fallback), and discovery's: `${CODEX_HOME}/sessions` with each
//! existing level of today's and yesterday's `YYYY/MM/DD` (local time), and
//! Claude's registry folder `${CLAUDE_CONFIG_DIR}/sessions`.
//!
//! Invariant: after [`Folders::arm`], every wanted folder that exists is
//! watched as the inode now at its path, and nothing else is: a level that
//! appeared is added, a folder replaced is watched anew, yesterday's levels
//! are let go at local midnight.

use super::handles::{Handles, Role};
use crate::attention::Agent;
use crate::events::Watch;
use crate::home::{Home, Records};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A folder watched now, as the inode it was when armed.
struct Armed {
    path: PathBuf,
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

    /// Discovery's folders that no watch covers (missing, or no change
    /// notification), as of the last [`Folders::arm`]: a `stat` tells
    /// their changes.
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
    /// levels and the next midnight).
    pub fn arm(&mut self, handles: &mut Handles, now: u64, wall: u64) {
        let local = wall.saturating_add_signed(crate::sys::utc_offset(wall));
        let till_midnight = 86_400 - local % 86_400;
        // A second past it, so the new day's name is the one computed.
        self.midnight = now.saturating_add((till_midnight + 1) * 1000);
        let discovery = self.discovery(wall);
        if handles.has_events() {
            self.watch(handles, &discovery);
        }
        let armed = |p: &PathBuf| self.armed.iter().any(|a| &a.path == p);
        self.unwatched = discovery.iter().filter(|p| !armed(p)).cloned().collect();
    }

    /// Watches the store's folders and `discovery` as their inodes now.
    fn watch(&mut self, handles: &mut Handles, discovery: &[PathBuf]) {
        let mut wanted: Vec<(PathBuf, Role)> =
            self.store.iter().map(|p| (p.clone(), Role::Store)).collect();
        wanted.extend(discovery.iter().map(|p| (p.clone(), Role::Discovery)));
        let inode = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
        self.armed.retain(|a| {
            let keep = inode(&a.path) == Some(a.inode) && wanted.iter().any(|(p, _)| p == &a.path);
            if !keep {
                handles.forget_folder(a.watch);
            }
            keep
        });
        for (path, role) in wanted {
            if self.armed.iter().any(|a| a.path == path) {
                continue;
            }
            let Some(ino) = inode(&path) else { continue };
            // Watched already under another name (a symlinked level): skip.
            if let Ok(watch) = handles.watch_folder(&path, role) {
                self.armed.push(Armed { path, inode: ino, watch });
            }
        }
    }
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
        let mut h = Handles::new();
        f.arm(&mut h, 0, 0);
        assert!(f.unwatched().is_empty(), "discover = none: no folder to stat");
        f.claude = Some("/nonexistent/k".into());
        f.arm(&mut h, 0, 0);
        assert_eq!(f.unwatched(), [PathBuf::from("/nonexistent/k/sessions")]);
        assert!(f.midnight > 0 && f.midnight <= 86_401_000, "{}", f.midnight);
        let codex = Folders::new(&home, &[Agent::Codex]);
        assert!(codex.codex.is_some() && codex.claude.is_none());
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
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !h.news.discovery {
            assert!(std::time::Instant::now() < deadline, "no discovery news");
            let _ = crate::sys::poll(&h.fds(), 10);
            h.drain();
        }
        f.arm(&mut h, 2_000, wall);
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
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !h.news.store {
            assert!(std::time::Instant::now() < deadline, "no store news from the new folder");
            let _ = crate::sys::poll(&h.fds(), 10);
            h.drain();
        }
        // Past two midnights: those levels are neither today nor yesterday.
        f.arm(&mut h, 4_000, wall + 2 * 86_400);
        assert!(!f.armed.iter().any(|a| a.path == today), "let go at midnight");
        std::fs::remove_dir_all(d).unwrap();
    }
}
