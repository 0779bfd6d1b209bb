use super::*;

#[test]
fn the_test_switch_refuses_events_whatever_its_value() {
    let _reaping = crate::testing::children();
    assert!(refuse_if_disabled(None).is_ok());
    for value in ["", "1", "no"] {
        let err = refuse_if_disabled(Some(OsStr::new(value))).unwrap_err();
        assert_eq!(err.to_string(), "disabled by BACH_TEST_NO_EVENTS");
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use std::collections::BTreeSet;
    use std::fs::{self, OpenOptions};
    use std::io::Write;
    use std::path::PathBuf;
    use std::process::Command;
    use std::time::{Duration, Instant};

    /// A temporary folder for one test, removed when dropped.
    struct Temp(PathBuf);

    impl Temp {
        fn new(tag: &str) -> Temp {
            let path =
                std::env::temp_dir().join(format!("bach-events-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            Temp(path)
        }

        fn join(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    use crate::testing::Kid;

    /// Sleeps in `poll()` on the events' descriptors until `want` fired,
    /// at most 5 s; returns everything drained meanwhile.
    fn wait_for(events: &mut Events, want: Fired) -> Vec<Fired> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = Vec::new();
        while !seen.contains(&want) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "expected {want:?} within 5 s; saw {seen:?}");
            let ready = sys::poll(&events.fds(), left.as_millis() as i32 + 1).unwrap();
            if ready.contains(&true) {
                seen.extend(events.drain().unwrap());
            }
        }
        seen
    }

    /// Nothing is pending now. inotify queues an event before the call
    /// that caused it returns, so "nothing yet" right after is "nothing".
    fn assert_quiet(events: &mut Events, after: &str) {
        let ready = sys::poll(&events.fds(), 0).unwrap();
        let fired = events.drain().unwrap();
        assert!(!ready.contains(&true) && fired.is_empty(), "{after} woke it: {fired:?}");
    }

    fn append(path: &Path, text: &str) {
        OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    #[test]
    fn this_kernel_has_pidfds_and_inotify() {
        let _reaping = crate::testing::children();
        assert_eq!(Events::new().unwrap().mechanism(), "pidfd+inotify");
    }

    #[test]
    fn pid_handle_fires_when_the_process_is_killed_and_is_closed() {
        let _reaping = crate::testing::children();
        let mut events = Events::new().unwrap();
        let mut kid = Kid::sleep();
        assert_eq!(events.watch_pid(kid.pid()).unwrap(), PidWatch::Watched);
        assert_eq!(events.watch_pid(kid.pid()).unwrap(), PidWatch::Watched, "twice is one handle");
        assert_eq!(events.watched_pids(), 1);
        assert_eq!(events.fds().len(), 1, "one descriptor to poll, whatever is watched");
        assert_quiet(&mut events, "a live process");
        sys::kill(kid.pid(), libc::SIGKILL).unwrap();
        assert_eq!(wait_for(&mut events, Fired::Exited(kid.pid())), [Fired::Exited(kid.pid())]);
        kid.0.wait().unwrap();
        assert_eq!(events.watched_pids(), 0, "the handle closed once reported");
    }

    #[test]
    fn a_reaped_process_is_gone_and_a_zombie_fires_at_once() {
        let _reaping = crate::testing::children();
        let mut events = Events::new().unwrap();
        let mut reaped = Command::new("true").spawn().unwrap();
        reaped.wait().unwrap();
        assert_eq!(events.watch_pid(reaped.id() as i32).unwrap(), PidWatch::Gone);
        let zombie = Kid(Command::new("true").spawn().unwrap());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !sys::proc_stat(zombie.pid()).unwrap().zombie {
            assert!(Instant::now() < deadline, "expected `true` to exit within 5 s");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(events.watch_pid(zombie.pid()).unwrap(), PidWatch::Watched);
        wait_for(&mut events, Fired::Exited(zombie.pid()));
    }

    #[test]
    fn bad_pids_are_refused() {
        let _reaping = crate::testing::children();
        let mut events = Events::new().unwrap();
        for pid in [0, -1, i32::MIN] {
            let err = events.watch_pid(pid).unwrap_err();
            assert_eq!(err.to_string(), format!("cannot watch pid {pid}"));
        }
    }

    #[test]
    fn checked_handle_is_kept_only_for_the_named_process() {
        let _reaping = crate::testing::children();
        let mut events = Events::new().unwrap();
        let kid = Kid::sleep();
        let st = sys::proc_stat(kid.pid()).unwrap();
        let cases = [("start", st.uid, st.start + 1), ("uid", st.uid + 1, st.start)];
        for (wrong, uid, start) in cases {
            assert_eq!(
                events.watch_pid_checked(kid.pid(), uid, start).unwrap(),
                PidWatch::Gone,
                "{wrong}"
            );
            assert_eq!(events.watched_pids(), 0, "a mismatch closes the handle ({wrong})");
        }
        assert_eq!(
            events.watch_pid_checked(kid.pid(), st.uid, st.start).unwrap(),
            PidWatch::Watched
        );
        assert_eq!(events.watched_pids(), 1);
        events.forget_pid(kid.pid());
        assert_eq!(events.watched_pids(), 0, "forgetting closes the handle");
    }

    /// The pidfds this process holds for a process in `pids` or for one
    /// already reaped (fdinfo's `Pid:` is then -1): other tests running
    /// beside this one hold pidfds only for live processes of their own.
    fn pidfds_for(pids: &BTreeSet<i32>) -> usize {
        let mut count = 0;
        for entry in fs::read_dir("/proc/self/fd").unwrap().flatten() {
            let link = fs::read_link(entry.path()).unwrap_or_default();
            let name = entry.file_name().to_string_lossy().into_owned();
            let info = fs::read_to_string(format!("/proc/self/fdinfo/{name}")).unwrap_or_default();
            let pid = info.lines().find_map(|l| l.strip_prefix("Pid:")?.trim().parse::<i32>().ok());
            let ours = pid.is_some_and(|p| p == -1 || pids.contains(&p));
            count += usize::from(link.to_string_lossy().contains("pidfd") && ours);
        }
        count
    }

    #[test]
    fn a_thousand_short_lived_children_leak_no_descriptor() {
        let _reaping = crate::testing::children();
        let mut events = Events::new().unwrap();
        let mut watched = BTreeSet::new();
        let before = pidfds_for(&watched);
        for _ in 0..1000 {
            let mut kid = Kid(Command::new("true").spawn().unwrap());
            assert_eq!(events.watch_pid(kid.pid()).unwrap(), PidWatch::Watched);
            watched.insert(kid.pid());
            wait_for(&mut events, Fired::Exited(kid.pid()));
            kid.0.wait().unwrap();
            assert_eq!(events.watched_pids(), 0, "no handle is left after {}", kid.pid());
        }
        assert_eq!(pidfds_for(&watched), before, "pidfds left open in /proc/self/fd");
    }

    #[test]
    fn folder_entries_created_renamed_and_deleted_fire() {
        let _reaping = crate::testing::children();
        let tmp = Temp::new("dir");
        let mut events = Events::new().unwrap();
        let w = events.watch_dir(&tmp.0).unwrap();
        assert_quiet(&mut events, "watching");
        let steps: [(&str, &dyn Fn()); 4] = [
            ("create", &|| fs::write(tmp.join("a"), "x").unwrap()),
            ("rename", &|| fs::rename(tmp.join("a"), tmp.join("b")).unwrap()),
            ("mkdir", &|| fs::create_dir(tmp.join("sub")).unwrap()),
            ("delete", &|| fs::remove_file(tmp.join("b")).unwrap()),
        ];
        for (what, step) in steps {
            step();
            assert_eq!(wait_for(&mut events, Fired::Changed(w)), [Fired::Changed(w)], "{what}");
            assert_quiet(&mut events, what);
        }
    }

    #[test]
    fn writes_inside_a_watched_folder_do_not_wake_it() {
        let _reaping = crate::testing::children();
        let tmp = Temp::new("dir-quiet");
        fs::write(tmp.join("other.jsonl"), "").unwrap();
        let mut events = Events::new().unwrap();
        let w = events.watch_dir(&tmp.0).unwrap();
        append(&tmp.join("other.jsonl"), "another agent's line\n");
        assert_quiet(&mut events, "a write to a file in the folder");
        fs::write(tmp.join("new.jsonl"), "").unwrap();
        wait_for(&mut events, Fired::Changed(w));
    }

    #[test]
    fn a_moved_or_deleted_folder_is_noticed() {
        let _reaping = crate::testing::children();
        let tmp = Temp::new("dir-self");
        fs::create_dir(tmp.join("sessions")).unwrap();
        let mut events = Events::new().unwrap();
        let w = events.watch_dir(&tmp.join("sessions")).unwrap();
        fs::rename(tmp.join("sessions"), tmp.join("old")).unwrap();
        wait_for(&mut events, Fired::Changed(w));
        events.forget(w);
        fs::create_dir(tmp.join("sessions")).unwrap();
        let w2 = events.watch_dir(&tmp.join("sessions")).unwrap();
        assert_ne!(w2, w, "a watch is never reused");
        fs::remove_dir(tmp.join("sessions")).unwrap();
        wait_for(&mut events, Fired::Changed(w2));
        events.forget(w2); // the kernel dropped it already: a no-op
        assert_quiet(&mut events, "forgetting a dropped watch");
    }

    #[test]
    fn appending_to_a_watched_file_fires_and_its_neighbours_do_not() {
        let _reaping = crate::testing::children();
        let tmp = Temp::new("file");
        let (mine, other) = (tmp.join("mine.jsonl"), tmp.join("other.jsonl"));
        fs::write(&mine, "").unwrap();
        let mut events = Events::new().unwrap();
        let w = events.watch_file(&mine).unwrap();
        append(&other, "created and written\n");
        append(&other, "appended\n");
        fs::remove_file(&other).unwrap();
        assert_quiet(&mut events, "another file in the same folder");
        append(&mine, "{}\n");
        fs::set_permissions(&mine, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        append(&mine, "{}\n");
        assert_eq!(wait_for(&mut events, Fired::Changed(w)), [Fired::Changed(w)], "reported once");
        fs::rename(&mine, tmp.join("moved")).unwrap();
        wait_for(&mut events, Fired::Changed(w));
    }

    #[test]
    fn a_forgotten_watch_stays_silent() {
        let _reaping = crate::testing::children();
        let tmp = Temp::new("forget");
        let mut events = Events::new().unwrap();
        let w = events.watch_dir(&tmp.0).unwrap();
        events.forget(w);
        // inotify acknowledges the removal (IN_IGNORED): one wake, nothing reported.
        assert_eq!(events.drain().unwrap(), []);
        fs::write(tmp.join("a"), "").unwrap();
        assert_quiet(&mut events, "an entry in a forgotten folder");
    }

    #[test]
    fn the_same_inode_twice_is_refused_and_keeps_its_first_mask() {
        let _reaping = crate::testing::children();
        let tmp = Temp::new("twice");
        fs::write(tmp.join("f"), "").unwrap();
        let mut events = Events::new().unwrap();
        let w = events.watch_dir(&tmp.0).unwrap();
        let want = format!("{} is watched already", tmp.0.display());
        for err in [events.watch_dir(&tmp.0).unwrap_err(), events.watch_file(&tmp.0).unwrap_err()] {
            assert_eq!((err.kind(), err.to_string()), (io::ErrorKind::AlreadyExists, want.clone()));
        }
        append(&tmp.join("f"), "a write\n");
        assert_quiet(&mut events, "a write (the folder's mask must be unchanged)");
        fs::write(tmp.join("g"), "").unwrap();
        wait_for(&mut events, Fired::Changed(w));
    }

    #[test]
    fn missing_paths_and_files_as_folders_are_refused() {
        let _reaping = crate::testing::children();
        let tmp = Temp::new("refused");
        fs::write(tmp.join("f"), "").unwrap();
        let mut events = Events::new().unwrap();
        assert_eq!(
            events.watch_dir(&tmp.join("f")).unwrap_err().raw_os_error(),
            Some(libc::ENOTDIR)
        );
        assert_eq!(
            events.watch_file(&tmp.join("missing")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            events.watch_dir(&tmp.join("missing")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn a_full_queue_is_reported_as_overflow() {
        let _reaping = crate::testing::children();
        let tmp = Temp::new("overflow");
        let limit: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut events = Events::new().unwrap();
        events.watch_dir(&tmp.0).unwrap();
        // Create and delete alternate, so no two neighbours merge.
        for _ in 0..limit / 2 + 8 {
            fs::write(tmp.join("x"), "").unwrap();
            fs::remove_file(tmp.join("x")).unwrap();
        }
        wait_for(&mut events, Fired::Overflow);
    }
}
