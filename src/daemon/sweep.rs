//! The hourly sweep, a step of its own in the loop: removes the `watch/`
//! and `logs/` files of a key that has been neither desired nor locked for a
//! day (holding the key's lock meanwhile, so a watcher starting then finds
//! its lock file replaced and starts over), and temporary files a process
//! left when it died between writing and renaming.

use crate::home::{Home, Records};
use crate::lock;
use crate::log::Log;
use crate::supervisor::Desired;
use std::time::{Duration, SystemTime};

/// How often the sweep looks (monotonic ms).
const EVERY_MS: u64 = 3_600_000;
/// How long unused files are kept.
const DAY: Duration = Duration::from_secs(86_400);

/// When the sweep next looks.
#[derive(Default)]
pub struct Sweep {
    next: u64,
}

impl Sweep {
    /// Sweeps if an hour passed since the last time (or never swept).
    pub fn run(&mut self, home: &Home, desired: &Desired, now: u64, log: &mut Log) {
        if now < self.next {
            return;
        }
        self.next = now + EVERY_MS;
        let day_ago = SystemTime::now() - DAY;
        unused_keys(home, desired, day_ago, log);
        let folders = [home.path().to_path_buf(), home.watch()];
        let records = [Records::Sessions, Records::Tasks].map(|k| home.records(k));
        for dir in folders.iter().chain(&records) {
            let n = crate::files::remove_stale_temps(dir, day_ago);
            if n > 0 {
                log.line(&format!("removed {n} stale temporary files in {}", dir.display()));
            }
        }
    }
}

/// The keys that have a lock file in `watch/`.
pub fn lock_keys(home: &Home) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(home.watch()) else { return Vec::new() };
    let names = dir.flatten().filter_map(|e| e.file_name().into_string().ok());
    names
        .filter_map(|n| Some(n.strip_suffix(".lock")?.to_string()))
        .filter(|k| crate::key::valid(k))
        .collect()
}

fn unused_keys(home: &Home, desired: &Desired, day_ago: SystemTime, log: &mut Log) {
    let Ok(dir) = std::fs::read_dir(home.watch()) else { return };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(key) = name.strip_suffix(".lock").filter(|k| !desired.contains_key(*k)) else {
            continue;
        };
        let files = [home.lock(key), home.status(key), home.watch_log(key)];
        let fresh = files
            .iter()
            .any(|f| std::fs::metadata(f).and_then(|m| m.modified()).is_ok_and(|t| t > day_ago));
        if fresh {
            continue;
        }
        let Ok(lock::Taken::Held(_held)) = lock::acquire(&files[0]) else { continue };
        for f in &files[1..] {
            let _ = std::fs::remove_file(f);
        }
        for n in 1..=3 {
            let _ = std::fs::remove_file(format!("{}.{n}", files[2].display()));
        }
        let _ = std::fs::remove_file(&files[0]);
        log.line(&format!("removed the files of key {key}: neither desired nor watched for a day"));
    }
}
