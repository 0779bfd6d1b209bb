//! Benchmarks: `cargo test --release --test bench -- --ignored --nocapture`.
//! Each prints figures (medians over several runs); none asserts timing.

/// The watcher's memory and idle cost. Kept in its own module so that its
/// helpers stay local to it.
mod watcher {
    use bach::status::Status;
    use std::fs::{self, File};
    use std::io::{BufWriter, Write};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    /// A temporary home with `idle_seconds = 1`, removed at the end.
    struct Bench {
        root: PathBuf,
        home: PathBuf,
    }

    impl Bench {
        fn new() -> Bench {
            let root = std::env::temp_dir().join(format!("bach-bench-w-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(root.join("bh")).unwrap();
            let root = fs::canonicalize(root).unwrap();
            fs::write(root.join("bh/config"), "idle_seconds = 1\n").unwrap();
            Bench {
                home: root.join("bh"),
                root,
            }
        }

        fn watch(&self, artifact: &Path) -> Child {
            Command::new(env!("CARGO_BIN_EXE_bach"))
                .args(["internal", "session-watch"])
                .arg(artifact)
                .env_clear()
                .env("BACH_HOME", &self.home)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        }

        /// Waits (ten minutes at most) until the watcher's status says `ok`.
        fn wait(&self, artifact: &Path, pid: u32, ok: impl Fn(&Status) -> bool) -> Status {
            let key = bach::store::key(self.home.to_str().unwrap(), artifact.to_str().unwrap());
            let path = bach::spawn::status_path(&self.home, &key);
            let deadline = Instant::now() + Duration::from_secs(600);
            loop {
                let status = fs::read_to_string(&path).ok();
                match status.as_deref().and_then(Status::parse) {
                    Some(s) if s.pid == pid as i32 && ok(&s) => return s,
                    _ if Instant::now() > deadline => panic!("watcher {pid} never got there"),
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }

    impl Drop for Bench {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    /// A field of `/proc/PID/status` in KiB.
    fn proc_status_kib(pid: u32, field: &str) -> u64 {
        let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = s.lines().find(|l| l.starts_with(field)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// utime + stime of a process, in clock ticks.
    fn cpu_ticks(pid: u32) -> u64 {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<u64> = after.split(' ').filter_map(|x| x.parse().ok()).collect();
        f[10] + f[11] // fields 14 and 15, counted from the state
    }

    fn clock_ticks_per_second() -> u64 {
        let out = Command::new("getconf").arg("CLK_TCK").output();
        let text = out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        text.ok().and_then(|t| t.parse().ok()).unwrap_or(100)
    }

    /// Follows `artifact` to its end; prints the time, the peak RSS read
    /// just before SIGTERM, and (if asked) the CPU used over 10 s idle.
    fn follow(b: &Bench, what: &str, artifact: &Path, lines: u64, idle_cpu: bool) {
        let size = fs::metadata(artifact).unwrap().len();
        let t = Instant::now();
        let mut child = b.watch(artifact);
        let pid = child.id();
        let s = b.wait(artifact, pid, |s| s.bytes == size);
        let took = t.elapsed();
        assert_eq!(s.lines, lines);
        let cpu = cpu_ticks(pid) as f64 / clock_ticks_per_second() as f64;
        // The wall time is bounded below by the status's once-a-second rate.
        println!(
            "watcher, {what}: status showed all {} MiB after {took:.2?}; CPU {cpu:.2} s",
            size >> 20
        );
        if idle_cpu {
            b.wait(artifact, pid, |s| s.state == "idle");
            let (t0, c0) = (Instant::now(), cpu_ticks(pid));
            std::thread::sleep(Duration::from_secs(10));
            let used = (cpu_ticks(pid) - c0) as f64 / clock_ticks_per_second() as f64;
            let secs = t0.elapsed().as_secs_f64();
            println!(
                "watcher, idle: {:.3} s CPU over {secs:.1} s ({:.3}%)",
                used,
                used / secs * 100.0
            );
        }
        let hwm = proc_status_kib(pid, "VmHWM:");
        println!("watcher, {what}: peak RSS (VmHWM) {hwm} KiB");
        bach::sys::kill(pid as i32, libc::SIGTERM).unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(0));
    }

    #[test]
    #[ignore]
    fn watcher_memory_stays_flat_and_idle_cpu_is_near_zero() {
        if !Path::new("/proc/self/status").exists() {
            return println!("watcher bench: needs /proc (Linux)");
        }
        let b = Bench::new();
        let big = b.root.join("big.jsonl");
        let mut w = BufWriter::new(File::create(&big).unwrap());
        let line = format!(
            "{{\"role\":\"assistant\",\"text\":\"{}\"}}\n",
            "x".repeat(91)
        );
        let n = (256u64 << 20) / line.len() as u64;
        for _ in 0..n {
            w.write_all(line.as_bytes()).unwrap();
        }
        drop(w);
        follow(&b, "256 MiB of lines", &big, n, true);
        fs::remove_file(&big).unwrap();

        let long = b.root.join("long.jsonl");
        let mut w = BufWriter::new(File::create(&long).unwrap());
        let chunk = vec![b'y'; 1 << 20];
        for _ in 0..64 {
            w.write_all(&chunk).unwrap();
        }
        w.write_all(b"\n").unwrap();
        drop(w);
        follow(&b, "one line of 64 MiB", &long, 1, false);
    }
}
