use super::*;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bach-follow-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn at(mark: Mark) -> Resume {
    Resume { mark: Some(mark), ..Resume::default() }
}

fn append(path: &std::path::Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).create(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn counts_complete_lines_and_marks_the_last_boundary() {
    let d = dir("count");
    let p = d.join("a");
    let mut f = Follower::new(p.clone(), Resume::default());
    f.tick(1);
    assert_eq!(f.sight, Sight::Absent);
    append(&p, b"one\ntwo\nthr");
    f.tick(2);
    assert_eq!((f.mark.lines, f.mark.offset, f.pos), (2, 8, 11));
    assert_eq!(f.mark.check, fnv1a(FNV_BASIS, b"one\ntwo\n"));
    append(&p, b"ee\n");
    f.tick(3);
    assert_eq!((f.mark.lines, f.mark.offset), (3, 14));
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn check_covers_the_64_bytes_before_the_offset_across_reads() {
    let d = dir("check");
    let p = d.join("a");
    let first: Vec<u8> = (0..100u8).map(|i| b'a' + i % 26).collect();
    append(&p, &first);
    let mut f = Follower::new(p.clone(), Resume::default());
    f.tick(1);
    assert_eq!((f.mark.lines, f.mark.offset), (0, 0));
    append(&p, b"xy\nz");
    f.tick(2);
    let mut whole = first.clone();
    whole.extend_from_slice(b"xy\n");
    assert_eq!((f.mark.lines, f.mark.offset, f.pos), (1, 103, 104));
    assert_eq!(f.mark.check, fnv1a(FNV_BASIS, &whole[103 - 64..]));
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn resumes_at_a_matching_mark_and_starts_over_otherwise() {
    let d = dir("resume");
    let p = d.join("a");
    append(&p, &b"x".repeat(100));
    append(&p, b"\nsecond\npart");
    let mut first = Follower::new(p.clone(), Resume::default());
    first.tick(1);
    let mark = first.mark;
    append(&p, b"ial\n");
    // The saved count is trusted (40 here) when the file matches the mark.
    let saved = Mark { lines: 40, ..mark };
    let mut again = Follower::new(p.clone(), at(saved));
    again.tick(2);
    assert_eq!(again.mark.lines, 41, "resumed: the partial line counts once");
    let forged = Mark { check: 1, ..saved };
    let mut fresh = Follower::new(p.clone(), at(forged));
    fresh.tick(2);
    assert_eq!(fresh.mark.lines, 3, "a mismatched check starts over");
    let beyond = Mark { offset: 10_000, ..saved };
    let mut fresh = Follower::new(p, at(beyond));
    fresh.tick(2);
    assert_eq!(fresh.mark.lines, 3, "a shorter file starts over");
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn follows_truncation_and_replacement() {
    let d = dir("replace");
    let p = d.join("a");
    append(&p, b"1\n2\n3\n");
    let mut f = Follower::new(p.clone(), Resume::default());
    f.tick(1);
    assert_eq!(f.mark.lines, 3);
    std::fs::write(&p, b"a\n").unwrap();
    f.tick(2);
    assert_eq!((f.mark.lines, f.pos), (1, 2), "truncated");
    assert_eq!(f.last_activity, Some(2));
    std::fs::write(d.join("new"), b"x\ny\n").unwrap();
    append(&p, b"last of the old\n");
    std::fs::rename(d.join("new"), &p).unwrap();
    f.tick(3);
    f.tick(3);
    assert_eq!((f.mark.lines, f.pos), (2, 4), "replaced");
    std::fs::remove_file(&p).unwrap();
    std::fs::create_dir(&p).unwrap();
    f.tick(4);
    assert_eq!(f.sight, Sight::Unreadable("the artifact is a directory".into()));
    std::fs::remove_dir_all(d).unwrap();
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{name}")).unwrap()
}

/// What a classifier fed every complete line of `bytes` ends with.
fn classified(bytes: &[u8]) -> Saved {
    let mut c = Classifier::new();
    let mut n = 0;
    Splitter::new().feed(bytes, |l| {
        n += 1;
        c.line(l, n);
    });
    c.save()
}

/// Sets the file's mtime to `secs` (Unix seconds).
fn set_mtime(path: &std::path::Path, secs: u64) {
    let f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)).unwrap();
}

#[test]
fn the_classifier_sees_each_complete_line_once_whatever_the_reads() {
    let d = dir("classify");
    let p = d.join("a.jsonl");
    let bytes = fixture("claude/real-2.1.197/transcript.jsonl");
    let mut f = Follower::new(p.clone(), Resume::default());
    for (i, chunk) in bytes.chunks(333).enumerate() {
        append(&p, chunk);
        f.tick(i as u64);
        // The classifier stands at the checkpoint: the last complete line.
        let done = &bytes[..f.mark.offset as usize];
        assert_eq!(f.saved(), &classified(done), "after {} bytes", f.pos);
    }
    assert_eq!(f.saved(), &classified(&bytes));
    assert_eq!(f.saved().turns, 4);
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn resuming_restores_the_classifier_and_keeps_attention_since() {
    let d = dir("resume-attention");
    let p = d.join("a.jsonl");
    let bytes = fixture("claude/real-2.1.197/transcript.jsonl");
    let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    // Up to the open AskUserQuestion (line 24), then half of line 25.
    append(&p, &lines[..24].concat());
    let mut first = Follower::new(p.clone(), Resume::default());
    first.tick(1);
    append(&p, &lines[24][..40]);
    let now = crate::time::now();
    first.tick(now);
    assert_eq!(first.saved().attention, Some(crate::attention::Attention::NeedsYou));
    let since = first.attention_since().expect("a since");
    let resume = Resume {
        mark: Some(first.mark),
        saved: first.saved().clone(),
        since: Some(since),
        last_activity: Some(7),
    };
    let mut again = Follower::new(p.clone(), resume.clone());
    again.tick(now + 50);
    assert_eq!((again.saved(), again.attention_since()), (first.saved(), Some(since)));
    assert_eq!(again.last_activity, Some(7), "the predecessor's, not the mtime");
    // The rest arrives: the resumed watcher ends where a fresh one does.
    append(&p, &lines[24][40..]);
    append(&p, &lines[25..].concat());
    again.tick(now + 60);
    let mut fresh = Follower::new(p.clone(), Resume::default());
    fresh.tick(now + 60);
    assert_eq!(again.saved(), fresh.saved());
    assert_eq!(again.attention_since(), Some(now + 60), "line 25 landed while it watched");
    // A checkpoint of another file is not believed: start over.
    let other = d.join("b.jsonl");
    append(&other, &bytes);
    let mut wrong = Follower::new(other, resume);
    wrong.tick(now + 70);
    assert_eq!(wrong.saved(), fresh.saved());
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn starting_over_takes_attention_since_and_activity_from_the_mtime() {
    let d = dir("mtime");
    let p = d.join("a.jsonl");
    append(&p, &fixture("claude/turn-done.jsonl"));
    set_mtime(&p, 1_000_000);
    let mut f = Follower::new(p.clone(), Resume::default());
    f.tick(2_000_000);
    assert_eq!(f.saved().attention, Some(crate::attention::Attention::TurnDone));
    assert_eq!((f.attention_since(), f.last_activity), (Some(1_000_000), Some(1_000_000)));
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn bookkeeping_lines_move_neither_attention_nor_last_activity() {
    let d = dir("bookkeeping");
    let p = d.join("a.jsonl");
    let bytes = fixture("claude/turn-done-with-away-summary.jsonl");
    let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    let (away, before) = lines.split_last().unwrap();
    assert!(away.windows(24).any(|w| w == b"\"subtype\":\"away_summary\""));
    append(&p, &before.concat());
    let mut f = Follower::new(p.clone(), Resume::default());
    let now = crate::time::now();
    f.tick(now);
    let (since, activity) = (f.attention_since(), f.last_activity);
    append(&p, away);
    f.tick(now + 180);
    assert_eq!((f.attention_since(), f.last_activity), (since, activity), "away_summary");
    assert_eq!(f.saved().attention, Some(crate::attention::Attention::TurnDone));
    let prompt = fixture("claude/working-model.jsonl");
    let prompt = prompt.split_inclusive(|&b| b == b'\n').next_back().unwrap();
    append(&p, prompt);
    f.tick(now + 200);
    assert_eq!(f.saved().attention, Some(crate::attention::Attention::Working));
    assert_eq!((f.attention_since(), f.last_activity), (Some(now + 200), Some(now + 200)));
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn a_file_that_shrinks_starts_the_classifier_over() {
    let d = dir("shrink");
    let p = d.join("a.jsonl");
    append(&p, &fixture("codex/tool.jsonl"));
    let mut f = Follower::new(p.clone(), Resume::default());
    f.tick(1);
    assert_eq!(f.saved().tool, "exec_command");
    let small = fixture("claude/turn-done.jsonl");
    std::fs::write(&p, &small[..small.len() / 3]).unwrap();
    f.tick(2);
    append(&p, &small[small.len() / 3..]);
    f.tick(3);
    assert_eq!(f.saved(), &classified(&small));
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn a_64_mib_line_with_nul_bytes_keeps_the_buffers_flat() {
    let d = dir("long");
    let p = d.join("a.jsonl");
    let prompt = fixture("claude/working-model.jsonl");
    let head = br#"{"parentUuid":null,"isSidechain":false,"type":"user","message":{"role":"user","content":"x"#;
    append(&p, head);
    // Sparse: 64 MiB of NUL bytes inside the prompt, then its end.
    let f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    f.set_len(64 << 20).unwrap();
    append(&p, b"\"},\"sessionId\":\"abc\"}\n");
    let mut f = Follower::new(p.clone(), Resume::default());
    let mut ticks = 0;
    while f.tick(1) {
        ticks += 1;
    }
    assert!(ticks >= 3, "read in 16 MiB budgets: {ticks}");
    assert_eq!((f.mark.lines, f.buf.len(), f.splitter.capacity()), (1, BUF, 8192 + 4096));
    assert_eq!(f.saved().attention, Some(crate::attention::Attention::Working));
    // And the file goes on as usual.
    append(&p, prompt.split_inclusive(|&b| b == b'\n').next().unwrap());
    f.tick(2);
    assert_eq!(f.mark.lines, 2);
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn a_status_from_before_the_classifier_is_read_again_from_the_start() {
    let old = "pid = 1\nartifact = /a\nstate = idle\nbytes = 8\nlines = 2\noffset = 8\n\
               check = 0123456789abcdef\ndev = 1\nino = 2\n";
    let s = Status::parse(old).unwrap();
    assert_eq!(Resume::of(&s).mark, None);
    let new = Status::parse(&format!("{old}turn_open = false\n")).unwrap();
    let mark = Resume::of(&new).mark.unwrap();
    assert_eq!((mark.offset, mark.lines, mark.dev, mark.ino), (8, 2, 1, 2));
}

#[test]
fn macos_privacy_is_named_with_its_fix_and_only_there() {
    let eperm = io::Error::from_raw_os_error(libc::EPERM);
    let tcc = cannot_open(&eperm, true);
    assert!(
        tcc.starts_with("cannot open the artifact: operation not permitted: macOS privacy (TCC)"),
        "{tcc}"
    );
    assert!(
        tcc.contains("Full Disk Access")
            && tcc.contains("Documents, Desktop, Downloads and iCloud")
    );
    assert_eq!(cannot_open(&eperm, false), "cannot open the artifact: operation not permitted");
    let eacces = io::Error::from_raw_os_error(libc::EACCES);
    assert_eq!(cannot_open(&eacces, true), "cannot open the artifact: permission denied");
}
