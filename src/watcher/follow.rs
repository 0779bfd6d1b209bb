//! Following an artifact like `tail -F`: wait for it to appear, read what
//! is appended through one fixed buffer, count complete lines, hand each
//! to the classifier, and start over when the file is truncated or
//! replaced.
//!
//! Invariant: `mark.offset` is just past the last counted newline,
//! `mark.lines` counts exactly the newlines before it, and `mark.check`
//! hashes the (up to) 64 bytes before it; the classifier has seen exactly
//! the lines before `mark.offset` (the partial line after it waits in the
//! splitter). A published mark therefore always resumes at a line boundary
//! with the classifier of that boundary: no line is counted or classified
//! twice or lost, whenever the watcher is killed. Memory stays flat: the
//! read buffer and the splitter's buffer are allocated once.

use super::status::Status;
use crate::attention::{Agent, Classifier, Saved};
use crate::key::{fnv1a, FNV_BASIS};
use crate::lines::{Line, Splitter};
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

/// What a previous watcher left to resume from (its status file).
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// Where counting stood.
    pub mark: Option<Mark>,
    /// The classifier at `mark.offset`.
    pub saved: Saved,
    /// When its attention last changed.
    pub since: Option<u64>,
    /// Its last activity.
    pub last_activity: Option<u64>,
}

impl Resume {
    /// What a status file lets a watcher resume from. For `other` agents
    /// attention comes from growth, not from the classifier: it is left out.
    /// A status without the classifier's checkpoint (written before bach
    /// read transcripts) gives no mark: the file is read again from the
    /// start, so its attention is right at once.
    pub fn of(s: &Status) -> Resume {
        let mut saved = s.saved.clone();
        if !s.content() {
            (saved.attention, saved.reason) = (None, String::new());
        }
        Resume {
            mark: s.classified.then(|| Mark::saved(s)),
            saved,
            since: s.attention_since,
            last_activity: s.last_activity,
        }
    }
}

/// The classifier with what the follower knows about time: when its
/// attention changed and when the agent last did something.
#[derive(Debug, Clone, Default)]
struct Attend {
    classifier: Classifier,
    since: Option<u64>,
    /// Lines that end at or before this offset were in the file when it was
    /// opened: caught up, not seen landing.
    live_from: u64,
    /// The time given to what was caught up: the file's mtime at open.
    caught_at: u64,
}

impl Attend {
    /// Classifies line `n`, which ends at offset `end`.
    fn line(&mut self, line: &Line, n: u64, end: u64, now: u64, activity: &mut Option<u64>) {
        let at = if end > self.live_from { now } else { self.caught_at };
        let out = self.classifier.line(line, n);
        if out.activity {
            *activity = Some(at);
        }
        if out.changed {
            self.since = Some(at);
        }
    }
}

pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    pub sight: Sight,
    pub mark: Mark,
    /// Bytes of the current file read so far.
    pub pos: u64,
    /// The last time the agent did something (Unix seconds): a line that
    /// is activity, or for `other` agents any growth.
    pub last_activity: Option<u64>,
    /// The size last seen: a larger one is growth.
    size_seen: u64,
    buf: Vec<u8>,
    splitter: Splitter,
    attend: Attend,
    /// What was resumed, until the first open decides whether it applies.
    resume: Option<Resume>,
}

impl Follower {
    /// Follows `path`, resuming from `resume` if the file matches its mark.
    pub fn new(path: PathBuf, resume: Resume) -> Follower {
        let (file, sight, buf) = (None, Sight::Absent, vec![0; BUF]);
        let mark = resume.mark.unwrap_or(Mark::start(0, 0));
        let attend = Attend {
            classifier: Classifier::restore(&resume.saved),
            since: resume.since,
            ..Attend::default()
        };
        let (splitter, resume, size_seen) = (Splitter::new(), Some(resume), 0);
        let last_activity = None;
        Follower {
            path,
            file,
            sight,
            mark,
            pos: 0,
            last_activity,
            size_seen,
            buf,
            splitter,
            attend,
            resume,
        }
    }

    /// The classifier's state: the one at `mark.offset`.
    pub fn saved(&self) -> &Saved {
        self.attend.classifier.state()
    }

    /// When the classifier's attention (or tool) last changed.
    pub fn attention_since(&self) -> Option<u64> {
        self.attend.since
    }

    /// Whether the content decides attention (Claude Code, Codex).
    pub fn content(&self) -> bool {
        matches!(self.saved().agent, Some(Agent::Claude | Agent::Codex))
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
        let matches = same && fnv1a(FNV_BASIS, before) == m.check;
        let mtime = u64::try_from(meta.mtime()).unwrap_or(0).min(now);
        match self.resume.take() {
            _ if !matches => {
                self.start_over(Mark::start(meta.dev(), meta.ino()));
                self.last_activity = Some(mtime);
            }
            // A predecessor's checkpoint: its classifier was restored.
            Some(r) => self.last_activity = r.last_activity.or(Some(mtime)),
            // The same file again, after a read error: nothing is reset.
            None => self.last_activity = self.last_activity.or(Some(mtime)),
        }
        if self.attend.since.is_none() && self.saved().attention.is_some() {
            self.attend.since = Some(mtime);
        }
        self.splitter.reset();
        (self.attend.live_from, self.attend.caught_at) = (meta.len(), mtime);
        self.pos = self.mark.offset;
        self.size_seen = meta.len();
        self.sight = Sight::Open;
        Some(file)
    }

    /// Counting and classifying begin again at `mark` (offset 0).
    fn start_over(&mut self, mark: Mark) {
        self.mark = mark;
        self.attend.classifier = Classifier::new();
        self.attend.since = None;
        self.splitter.reset();
    }

    /// Reads what was appended, up to the budget; `Ok(true)` if more waits.
    /// Each read starts up to 64 bytes before `pos`, so that the bytes
    /// before any newline found are in the buffer for its check.
    fn read(&mut self, file: &File, now: u64) -> io::Result<bool> {
        let size = file.metadata()?.len();
        if size < self.pos {
            crate::log::stamped("artifact truncated; counting from the start");
            self.start_over(Mark::start(self.mark.dev, self.mark.ino));
            (self.pos, self.attend.live_from) = (0, 0);
        }
        if size != self.size_seen {
            self.size_seen = size;
            // Claude Code and Codex lines say whether they are activity.
            if !self.content() {
                self.last_activity = Some(now);
            }
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
            let (mut end, mut lines) = (self.mark.offset, self.mark.lines);
            let (attend, activity) = (&mut self.attend, &mut self.last_activity);
            self.splitter.feed(new, |line| {
                (end, lines) = (end + line.len + 1, lines + 1);
                attend.line(line, lines, end, now, activity);
            });
            if let Some(last) = new.iter().rposition(|&b| b == b'\n') {
                let end = back + last + 1;
                self.mark.lines = lines;
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
        _ => Sight::Unreadable(cannot_open(&e, cfg!(target_vendor = "apple"))),
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

/// Why the artifact cannot be opened. On macOS, `EPERM` (not the `EACCES`
/// of file modes) is privacy protection (TCC): a process launchd started may
/// not read Documents, Desktop, Downloads, iCloud or external volumes, where
/// one started from Terminal could; say so and how to fix it.
fn cannot_open(e: &io::Error, apple: bool) -> String {
    let why = crate::error::reason(e);
    match e.raw_os_error() {
        Some(libc::EPERM) if apple => format!(
            "cannot open the artifact: {why}: macOS privacy (TCC) denies the bach that launchd \
             runs this folder; give it Full Disk Access (System Settings > Privacy & Security), \
             or keep artifacts outside Documents, Desktop, Downloads and iCloud"
        ),
        _ => format!("cannot open the artifact: {why}"),
    }
}

#[cfg(test)]
#[path = "follow_tests.rs"]
mod tests;
