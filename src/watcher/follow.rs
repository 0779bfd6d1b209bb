//! Following an artifact like `tail -F`: wait for it to appear, read what
//! is appended through one fixed buffer, count complete lines, and start
//! over when the file is truncated or replaced.
//!
//! Invariant: `mark.offset` is just past the last counted newline,
//! `mark.lines` counts exactly the newlines before it, and `mark.check`
//! hashes the (up to) 64 bytes before it. A published mark therefore always
//! resumes at a line boundary: no line is counted twice or lost, whenever
//! the watcher is killed.

use super::status::Status;
use crate::key::{fnv1a, FNV_BASIS};
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

/// The one read buffer's size: memory stays flat whatever the file.
const BUF: usize = 64 * 1024;
/// How many bytes before `offset` the check covers.
const WINDOW: usize = 64;
/// The most read in one tick, so signals are handled during a long catch-up.
const BUDGET: u64 = 16 << 20;

/// Where counting stands in one file: the checkpoint a status file saves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub dev: u64,
    pub ino: u64,
    /// Just past the last counted newline.
    pub offset: u64,
    /// The newlines before `offset`.
    pub lines: u64,
    /// FNV-1a 64 of the up to 64 bytes before `offset`.
    pub check: u64,
}

impl Mark {
    /// Nothing counted yet in file `dev`/`ino` (no file has inode 0).
    pub fn start(dev: u64, ino: u64) -> Mark {
        Mark { dev, ino, offset: 0, lines: 0, check: FNV_BASIS }
    }

    /// The mark a status file saved, if it can be trusted.
    pub fn saved(s: &Status) -> Mark {
        let (dev, ino, offset, lines) = (s.dev, s.ino, s.offset, s.lines);
        let sane = lines <= offset && s.check.len() == 16;
        match u64::from_str_radix(&s.check, 16) {
            Ok(check) if sane => Mark { dev, ino, offset, lines, check },
            _ => Mark::start(0, 0),
        }
    }
}

/// What the artifact looks like from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sight {
    /// The artifact does not exist (yet).
    Absent,
    /// Something is there that cannot be followed, and why.
    Unreadable(String),
    /// Open and followed.
    Open,
}

pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    pub sight: Sight,
    pub mark: Mark,
    /// Bytes of the current file read so far.
    pub pos: u64,
    /// The last time the file grew (Unix seconds).
    pub last_activity: Option<u64>,
    /// The size last seen: a larger one is growth.
    size_seen: u64,
    buf: Vec<u8>,
}

impl Follower {
    /// Follows `path`, resuming from `mark` if the file matches it.
    pub fn new(path: PathBuf, mark: Mark) -> Follower {
        let (file, sight, buf) = (None, Sight::Absent, vec![0; BUF]);
        Follower { path, file, sight, mark, pos: 0, last_activity: None, size_seen: 0, buf }
    }

    /// Opens, reads, and looks for a replacement once. Returns whether more
    /// is left to read at once (the tick's budget ran out).
    pub fn tick(&mut self, now: u64) -> bool {
        let Some(file) = self.file.take().or_else(|| self.open(now)) else {
            return false;
        };
        match self.read(&file, now) {
            // Only at the old file's end, so that its last lines count.
            Ok(false) if self.replaced() => {
                crate::log::stamped("artifact replaced; following the new file");
                self.file = self.open(now);
                self.file.is_some()
            }
            Ok(more) => {
                self.file = Some(file);
                more
            }
            // Rare on a regular file (EIO); reopening resumes at `mark`.
            Err(e) => {
                let why = crate::error::reason(&e);
                self.sight = Sight::Unreadable(format!("cannot read the artifact: {why}"));
                false
            }
        }
    }

    /// Opens the file and starts on it: at `mark` if it is the same file
    /// with the same bytes before `mark.offset`, else from the start.
    fn open(&mut self, now: u64) -> Option<File> {
        let (file, meta) = open_regular(&self.path).map_err(|sight| self.sight = sight).ok()?;
        let m = self.mark;
        let start = m.offset.saturating_sub(WINDOW as u64);
        let before = &mut self.buf[..(m.offset - start) as usize];
        let same = (meta.dev(), meta.ino()) == (m.dev, m.ino) && meta.len() >= m.offset;
        let same = same && file.read_exact_at(before, start).is_ok();
        if !(same && fnv1a(FNV_BASIS, before) == m.check) {
            self.mark = Mark::start(meta.dev(), meta.ino());
        }
        self.pos = self.mark.offset;
        self.size_seen = meta.len();
        self.last_activity = Some(u64::try_from(meta.mtime()).unwrap_or(0).min(now));
        self.sight = Sight::Open;
        Some(file)
    }

    /// Reads what was appended, up to the budget; `Ok(true)` if more waits.
    /// Each read starts up to 64 bytes before `pos`, so that the bytes
    /// before any newline found are in the buffer for its check.
    fn read(&mut self, file: &File, now: u64) -> io::Result<bool> {
        let size = file.metadata()?.len();
        if size < self.pos {
            crate::log::stamped("artifact truncated; counting from the start");
            (self.mark, self.pos) = (Mark::start(self.mark.dev, self.mark.ino), 0);
        }
        if size != self.size_seen {
            (self.size_seen, self.last_activity) = (size, Some(now));
        }
        let stop = self.pos + BUDGET;
        while self.pos < stop {
            let start = self.pos.saturating_sub(WINDOW as u64);
            let back = (self.pos - start) as usize;
            let n = file.read_at(&mut self.buf, start)?;
            if n <= back {
                return Ok(false);
            }
            let new = &self.buf[back..n];
            if let Some(last) = new.iter().rposition(|&b| b == b'\n') {
                let end = back + last + 1;
                self.mark.lines += new.iter().filter(|&&b| b == b'\n').count() as u64;
                self.mark.offset = self.pos + last as u64 + 1;
                self.mark.check = fnv1a(FNV_BASIS, &self.buf[end.saturating_sub(WINDOW)..end]);
            }
            self.pos += (n - back) as u64;
        }
        Ok(true)
    }

    /// Whether the path names another file now (a missing path is no
    /// replacement: the open file is still followed).
    fn replaced(&self) -> bool {
        match std::fs::metadata(&self.path) {
            Ok(m) => (m.dev(), m.ino()) != (self.mark.dev, self.mark.ino),
            Err(e) => e.kind() != io::ErrorKind::NotFound,
        }
    }

    /// The artifact's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Whether a file is open and being read (so its writes are watched).
    pub fn reading(&self) -> bool {
        self.file.is_some()
    }

    /// The last 64 KiB read of the file (the judge's input).
    pub fn tail(&mut self) -> io::Result<&[u8]> {
        let Some(file) = &self.file else { return Ok(&[]) };
        let start = self.pos.saturating_sub(BUF as u64);
        let n = file.read_at(&mut self.buf[..(self.pos - start) as usize], start)?;
        Ok(&self.buf[..n])
    }
}

/// Opens a regular file without blocking. Looks first, so that a FIFO or a
/// device is never opened (that can unblock a writer or rewind a tape).
fn open_regular(path: &std::path::Path) -> Result<(File, Metadata), Sight> {
    let failed = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => Sight::Absent,
        _ => Sight::Unreadable(format!("cannot open the artifact: {}", crate::error::reason(&e))),
    };
    let regular = |meta: Metadata| match meta.file_type() {
        t if t.is_file() => Ok(meta),
        t if t.is_dir() => Err(Sight::Unreadable("the artifact is a directory".into())),
        t if t.is_fifo() => Err(Sight::Unreadable("the artifact is a FIFO".into())),
        _ => Err(Sight::Unreadable("the artifact is not a regular file".into())),
    };
    regular(std::fs::metadata(path).map_err(failed)?)?;
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path);
    let file = file.map_err(failed)?;
    let meta = regular(file.metadata().map_err(failed)?)?;
    Ok((file, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bach-follow-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
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
        let mut f = Follower::new(p.clone(), Mark::start(0, 0));
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
        let mut f = Follower::new(p.clone(), Mark::start(0, 0));
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
        let mut first = Follower::new(p.clone(), Mark::start(0, 0));
        first.tick(1);
        let mark = first.mark;
        append(&p, b"ial\n");
        // The saved count is trusted (40 here) when the file matches the mark.
        let saved = Mark { lines: 40, ..mark };
        let mut again = Follower::new(p.clone(), saved);
        again.tick(2);
        assert_eq!(again.mark.lines, 41, "resumed: the partial line counts once");
        let forged = Mark { check: 1, ..saved };
        let mut fresh = Follower::new(p.clone(), forged);
        fresh.tick(2);
        assert_eq!(fresh.mark.lines, 3, "a mismatched check starts over");
        let beyond = Mark { offset: 10_000, ..saved };
        let mut fresh = Follower::new(p, beyond);
        fresh.tick(2);
        assert_eq!(fresh.mark.lines, 3, "a shorter file starts over");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn follows_truncation_and_replacement() {
        let d = dir("replace");
        let p = d.join("a");
        append(&p, b"1\n2\n3\n");
        let mut f = Follower::new(p.clone(), Mark::start(0, 0));
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
}
