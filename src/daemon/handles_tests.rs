use super::*;

fn watcher(key: &str, confirmed: bool) -> Whose {
    Whose::Watcher { key: key.into(), confirmed }
}

#[test]
fn without_events_everything_polls_and_says_why() {
    let mut h = Handles::polling();
    assert_eq!(h.mechanism(true), "polling: disabled by BACH_TEST_NO_EVENTS");
    assert!(h.pids_polled() && !h.has_events());
    assert_eq!(h.open(4242, watcher("k", true), Some((0, 1))), Opened::Polled);
    assert!(h.whose(4242).is_none() && h.fds().is_empty());
    assert!(h.watch_folder(Path::new("/"), Role::Store).is_err());
    h.drain();
    assert!(!h.news.pending());
}

/// Pid handles and folder watches as Linux has them (the counts of
/// descriptors differ on macOS, where one kqueue holds everything).
#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use std::time::{Duration, Instant};

    use crate::testing::Kid;

    impl Kid {
        /// Its uid and start, as a `ps` read would confirm them.
        fn who(&self) -> (u32, u64) {
            let st = crate::sys::proc_stat(self.pid()).unwrap();
            (st.uid, st.start)
        }
    }

    /// Drains until `done` says the news are in, at most 5 s.
    fn drain_until(h: &mut Handles, done: impl Fn(&News) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done(&h.news) {
            assert!(Instant::now() < deadline, "nothing fired: {:?}", h.news);
            let _ = crate::sys::poll(&h.fds(), 10);
            h.drain();
        }
    }

    #[test]
    fn a_confirmed_watchers_exit_is_news_an_unconfirmed_ones_a_doubt() {
        let _reaping = crate::testing::children();
        let mut h = Handles::new();
        assert_eq!(h.mechanism(true), "pidfd+inotify");
        assert_eq!(h.mechanism(false), "polling: the store's folders cannot be watched");
        let (a, b) = (Kid::sleep(), Kid::sleep());
        assert_eq!(h.open(a.pid(), watcher("k1", true), Some(a.who())), Opened::Watched);
        assert_eq!(h.open(b.pid(), watcher("k2", false), None), Opened::Watched);
        assert_eq!((h.pid_handles(), h.fds().len()), (2, 1), "two handles, one descriptor");
        crate::sys::kill(a.pid(), libc::SIGKILL).unwrap();
        crate::sys::kill(b.pid(), libc::SIGKILL).unwrap();
        drain_until(&mut h, |n| !n.vanished.is_empty() && n.doubt);
        assert_eq!(h.news.vanished, [a.pid()], "only the confirmed one counts as vanished");
        assert_eq!(h.pid_handles(), 0, "both handles closed once fired");
    }

    #[test]
    fn an_agents_exit_names_its_sessions_and_a_wrong_claim_keeps_the_handle() {
        let _reaping = crate::testing::children();
        let mut h = Handles::new();
        let kid = Kid::sleep();
        let (uid, start) = kid.who();
        let ids = |v: &[&str]| Whose::Agent(v.iter().map(|s| s.to_string()).collect());
        assert_eq!(h.open(kid.pid(), ids(&["s1"]), Some((uid, start))), Opened::Watched);
        assert_eq!(h.open(kid.pid(), ids(&["s2"]), Some((uid, start))), Opened::Watched);
        // A stale record naming the same pid with another start: not that process.
        assert_eq!(h.open(kid.pid(), ids(&["old"]), Some((uid, start + 1))), Opened::Gone);
        assert_eq!(h.whose(kid.pid()), Some(&ids(&["s1", "s2"])), "one handle, both sessions");
        let other = Kid::sleep();
        let wrong = (uid, other.who().1 + 1);
        assert_eq!(h.open(other.pid(), ids(&["s3"]), Some(wrong)), Opened::Gone);
        assert_eq!(h.pid_handles(), 1, "the mismatch closed its own handle only");
        crate::sys::kill(kid.pid(), libc::SIGKILL).unwrap();
        drain_until(&mut h, |n| !n.gone.is_empty());
        assert_eq!(h.news.gone, ["s1", "s2"]);
    }

    #[test]
    fn keep_closes_what_it_does_not_keep() {
        let _reaping = crate::testing::children();
        let mut h = Handles::new();
        let kids: Vec<Kid> = (0..3).map(|_| Kid::sleep()).collect();
        for (i, k) in kids.iter().enumerate() {
            h.open(k.pid(), watcher(&format!("k{i}"), true), Some(k.who()));
        }
        assert_eq!(h.pid_handles(), 3);
        let first = kids[0].pid();
        h.keep(|pid, _| pid == first);
        assert_eq!(h.pid_handles(), 1);
        assert!(h.whose(kids[1].pid()).is_none());
        drop(kids);
        drain_until(&mut h, |n| !n.vanished.is_empty());
        assert_eq!(h.news.vanished, [first], "a closed handle never reports");
    }

    #[test]
    fn a_folder_change_is_news_for_its_role() {
        let d = std::env::temp_dir().join(format!("bach-handles-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        for sub in ["store", "agents"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let mut h = Handles::new();
        h.watch_folder(&d.join("store"), Role::Store).unwrap();
        let agents = h.watch_folder(&d.join("agents"), Role::Discovery).unwrap();
        std::fs::write(d.join("store/s1"), "x").unwrap();
        drain_until(&mut h, |n| n.store);
        assert!(!h.news.discovery && h.news.rearm);
        h.news = News::default();
        std::fs::write(d.join("agents/1.json"), "x").unwrap();
        drain_until(&mut h, |n| n.discovery);
        assert!(!h.news.store);
        h.forget_folder(agents);
        h.news = News::default();
        std::fs::write(d.join("agents/2.json"), "x").unwrap();
        h.drain();
        assert!(!h.news.pending(), "a forgotten folder is quiet: {:?}", h.news);
        std::fs::remove_dir_all(d).unwrap();
    }
}
