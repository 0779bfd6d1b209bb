use super::*;

struct Temp(PathBuf);

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp(tag: &str) -> Temp {
    let d = std::env::temp_dir().join(format!("bach-discover-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    for sub in ["claude/sessions", "proj", "bh"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    Temp(std::fs::canonicalize(d).unwrap())
}

/// Discovery of real processes: Linux reads their start ticks.
#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use crate::home::Home;
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command};

    /// `program ARGS` under another argv[0], in `t`'s project folder.
    fn spawn(t: &Temp, arg0: &str, program: &str, args: &[&str]) -> Child {
        let mut c = Command::new(program);
        c.arg0(arg0).args(args).current_dir(t.0.join("proj")).env_clear();
        c.env("CLAUDE_CONFIG_DIR", t.0.join("claude")).env("HOME", &t.0);
        c.spawn().unwrap()
    }

    fn end(mut c: Child) {
        let _ = sys::kill(c.id() as i32, libc::SIGKILL);
        let _ = c.wait();
    }

    #[test]
    fn a_claude_with_a_registry_is_registered_once_and_an_editor_on_claude_md_never() {
        let _children = crate::testing::children();
        let t = temp("pass");
        let claude = spawn(&t, "claude", "/bin/sleep", &["60"]);
        let vim = spawn(&t, "vim", "/bin/sh", &["-c", "sleep 60; :", "claude.md"]);
        let pid = claude.id() as i32;
        let ticks = crate::procs::start_ticks(pid).unwrap();
        let sid = "5bb58492-9daf-46be-ad21-914625ee8c4c";
        let cwd = t.0.join("proj");
        let registry = format!(
            "{{\"pid\":{pid},\"sessionId\":\"{sid}\",\"cwd\":\"{}\",\"procStart\":\"{ticks}\"}}",
            cwd.display()
        );
        std::fs::write(t.0.join(format!("claude/sessions/{pid}.json")), registry).unwrap();
        let st = Store { home: Home::at(t.0.join("bh")) };
        let (config, now) = (Config::default(), crate::time::now());
        let mut procs = crate::procs::snapshot().unwrap();
        procs.retain(|p| p.pid == pid || p.pid == vim.id() as i32);
        let (s, k) = (st.sessions().unwrap().0, st.tasks().unwrap().0);
        let dry = pass(&st, &config, &procs, (&s, &k), true, now);
        assert_eq!(dry.registered.len(), 1, "{dry:?}");
        assert!(st.sessions().unwrap().0.is_empty(), "a dry pass writes nothing");
        let report = pass(&st, &config, &procs, (&s, &k), false, now);
        let artifact = format!(
            "{}/projects/{}/{sid}.jsonl",
            t.0.join("claude").display(),
            claude::enc(cwd.to_str().unwrap())
        );
        let want = Registered {
            id: "c-5bb584929daf".into(),
            agent: Agent::Claude,
            pid,
            artifact,
            task: report.registered.first().and_then(|r| r.task.clone()),
        };
        assert_eq!(report, Report { registered: vec![want.clone()], ..Report::default() });
        assert_eq!(dry.registered, [want], "the dry pass said the same");
        let (s, k) = (st.sessions().unwrap().0, st.tasks().unwrap().0);
        assert_eq!(pass(&st, &config, &procs, (&s, &k), false, now), Report::default());
        // The daemon with `discover = none` does not look.
        let none = Config { discover: Vec::new(), ..Config::default() };
        std::fs::remove_file(t.0.join("bh/sessions/c-5bb584929daf")).unwrap();
        let mut log = Log::new(t.0.join("bh/logs/daemon.log"), 1 << 20);
        Daemon::default().after_ps(&st, &none, &procs, (&[], &k), &mut log);
        assert!(st.sessions().unwrap().0.is_empty());
        Daemon::default().after_ps(&st, &config, &procs, (&[], &k), &mut log);
        assert_eq!(st.sessions().unwrap().0.len(), 1);
        end(claude);
        end(vim);
    }
}

#[test]
fn a_change_in_a_watched_folder_is_seen_once() {
    let t = temp("stamp");
    let folders = [t.0.join("claude/sessions"), t.0.join("missing")];
    let mut d = Daemon::default();
    assert!(d.folders_changed(&folders), "the first look");
    assert!(!d.folders_changed(&folders));
    std::fs::write(t.0.join("claude/sessions/1.json"), b"{}").unwrap();
    assert!(d.folders_changed(&folders), "a new registry file");
    assert!(!d.folders_changed(&folders));
    std::fs::create_dir(t.0.join("missing")).unwrap();
    assert!(d.folders_changed(&folders), "a folder that appeared");
}
