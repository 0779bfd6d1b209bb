//! `bach daemon logs [-n LINES] [-f]`: the end of the daemon's log, and with
//! `-f` what follows, like `tail -f` / `journalctl -f`, across rotations.
//! Invariants: memory holds only the lines asked for (the log is read
//! backwards in fixed chunks, and followed through one buffer), control
//! characters are never printed raw, and a reader that goes away (`| head`,
//! SIGPIPE) or SIGINT ends it quietly with exit 0.

use crate::error::{Error, Result};
use crate::home::Home;
use crate::signals::SelfPipe;
use crate::{files, log, sys, text};
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The log is read backwards in chunks of this size.
const CHUNK: u64 = 8192;
/// How long one followed line may grow before it is printed in parts.
const LINE_MAX: usize = 64 * 1024;
/// Without change notification, how often the log is looked at (ms).
const LOOK_MS: i32 = 1000;

/// `bach daemon logs`: the last `lines` lines of `logs/daemon.log`, reaching
/// back into `daemon.log.1` when the current log (just rotated) has fewer.
/// A missing log is a note on stderr and exit 0: no daemon has logged yet.
pub fn logs(lines: usize, follow: bool) -> Result<u8> {
    let path = Home::open()?.daemon_log();
    let rotated = PathBuf::from(format!("{}.1", path.display()));
    let open = |p: &Path| files::open_regular(p).map_err(|e| Error::io("read", p, &e));
    let read = |p: &Path, f: &File, n| tail(f, n).map_err(|e| Error::io("read", p, &e));
    // One open file, read to one length: `-f` goes on from exactly there.
    let file = open(&path)?;
    let current = file.as_ref().map(|f| read(&path, f, lines)).transpose()?;
    let have = current.as_ref().map_or(0, |(lines, _)| lines.len());
    let older = match (have < lines).then(|| open(&rotated)).transpose()?.flatten() {
        Some(f) => Some(read(&rotated, &f, lines - have)?.0),
        None => None,
    };
    if current.is_none() && older.is_none() && !follow {
        log::stderr(&format!("bach: no daemon log yet: {} does not exist\n", path.display()));
        return Ok(0);
    }
    let mut out = io::stdout().lock();
    let end = current.as_ref().map_or(0, |(_, len)| *len);
    for line in older.into_iter().chain(current.map(|(l, _)| l)).flatten() {
        // A closed pipe (`| head`) ends the listing quietly.
        if print(&mut out, &line).is_err() {
            return Ok(0);
        }
    }
    match follow {
        true => follow_log(Followed { path, file, pos: end, partial: Vec::new() }, &mut out),
        false => Ok(0),
    }
}

/// One line, escaped, then a newline.
fn print(out: &mut impl Write, line: &[u8]) -> io::Result<()> {
    writeln!(out, "{}", text::escape(&String::from_utf8_lossy(line)))?;
    out.flush()
}

/// Prints what is appended to the log `log` follows until SIGINT, SIGTERM or a
/// reader that went away. A rotation (the path names another file) is
/// followed once the old file is read to its end; a truncation starts over.
fn follow_log(mut log: Followed, out: &mut impl Write) -> Result<u8> {
    let pipe = SelfPipe::install().map_err(|e| Error::fail(format!("signals: {e}")))?;
    let mut events = crate::events::Events::new().ok();
    if let Some(ev) = &mut events {
        let _ = ev.watch_dir(log.path.parent().unwrap_or(Path::new("/")));
    }
    loop {
        if log.print_new(out).is_err() {
            return Ok(0); // the reader is gone
        }
        let fds: Vec<_> =
            [pipe.fd()].into_iter().chain(events.iter().flat_map(|e| e.fds())).collect();
        // A reader that went away ends it even while the log is quiet.
        if let Ok((_, true)) = sys::poll_or_reader_gone(&fds, LOOK_MS) {
            return Ok(0);
        }
        if pipe.drain().stop {
            return Ok(0);
        }
        if let Some(ev) = &mut events {
            let _ = ev.drain();
        }
    }
}

/// The log file being followed, and how far it was printed.
struct Followed {
    path: PathBuf,
    file: Option<File>,
    pos: u64,
    partial: Vec<u8>,
}

impl Followed {
    /// Starts at the current end of the log (or at nothing, if none yet).
    #[cfg(test)]
    fn at_end(path: &Path) -> Followed {
        let file = files::open_regular(path).ok().flatten();
        let pos = file.as_ref().and_then(|f| f.metadata().ok()).map_or(0, |m| m.len());
        Followed { path: path.into(), file, pos, partial: Vec::new() }
    }

    /// Prints the complete lines appended since the last look; moves to a
    /// new file at the path once the old one is read to its end.
    fn print_new(&mut self, out: &mut impl Write) -> io::Result<()> {
        loop {
            self.drain_file(out)?;
            let now = files::open_regular(&self.path).ok().flatten();
            let same = |a: &File, b: &File| match (a.metadata(), b.metadata()) {
                (Ok(x), Ok(y)) => (x.dev(), x.ino()) == (y.dev(), y.ino()),
                _ => false,
            };
            match (&self.file, now) {
                (Some(old), Some(new)) if same(old, &new) => {
                    if new.metadata()?.len() < self.pos {
                        self.pos = 0; // truncated: from the start
                        continue;
                    }
                    return Ok(());
                }
                (_, Some(new)) => (self.file, self.pos) = (Some(new), 0),
                (_, None) => return Ok(()),
            }
        }
    }

    /// Reads the current file to its end, printing each complete line.
    fn drain_file(&mut self, out: &mut impl Write) -> io::Result<()> {
        let Some(file) = &self.file else { return Ok(()) };
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = file.read_at(&mut buf, self.pos)?;
            if n == 0 {
                return Ok(());
            }
            self.pos += n as u64;
            for piece in buf[..n].split_inclusive(|&b| b == b'\n') {
                self.partial.extend_from_slice(piece);
                if piece.ends_with(b"\n") || self.partial.len() >= LINE_MAX {
                    let line = std::mem::take(&mut self.partial);
                    print(out, line.strip_suffix(b"\n").unwrap_or(&line))?;
                }
            }
        }
    }
}

/// The last `n` lines of a regular file, without their newlines, read
/// backwards in fixed chunks so that memory holds only those lines, never
/// the whole log; and the length it read to.
fn tail(file: &File, n: usize) -> io::Result<(Vec<Vec<u8>>, u64)> {
    let len = file.metadata()?.len();
    let (mut pos, mut buf, mut breaks) = (len, Vec::new(), 0);
    // `breaks` counts the newlines that end a line before the last one;
    // n of them mean the last n lines are whole.
    while pos > 0 && breaks < n {
        let step = pos.min(CHUNK);
        pos -= step;
        let mut chunk = vec![0; step as usize];
        file.read_exact_at(&mut chunk, pos)?;
        breaks += chunk.iter().filter(|&&b| b == b'\n').count();
        if pos + step == len && chunk.last() == Some(&b'\n') {
            breaks -= 1;
        }
        chunk.extend_from_slice(&buf);
        buf = chunk;
    }
    // Split after each newline, so that an empty file has no lines and "a\n" one.
    let mut lines: Vec<Vec<u8>> = buf
        .split_inclusive(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\n").unwrap_or(l).to_vec())
        .collect();
    Ok((lines.split_off(lines.len().saturating_sub(n)), len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail_of(text: &[u8], n: usize) -> Vec<String> {
        let d = std::env::temp_dir().join(format!("bach-tail-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join(format!("{n}-{}", text.len()));
        std::fs::write(&p, text).unwrap();
        let lines = tail(&File::open(&p).unwrap(), n).unwrap().0;
        std::fs::remove_file(&p).unwrap();
        lines.into_iter().map(|l| String::from_utf8(l).unwrap()).collect()
    }

    #[test]
    fn tail_takes_the_last_lines_across_chunks() {
        assert_eq!(tail_of(b"a\nb\nc\n", 2), ["b", "c"]);
        assert_eq!(tail_of(b"a\nb\nc", 2), ["b", "c"]);
        assert_eq!(tail_of(b"a\nb\n", 5), ["a", "b"]);
        assert_eq!(tail_of(b"a\n\nb\n", 2), ["", "b"]);
        assert_eq!(tail_of(b"\n", 3), [""]);
        assert_eq!(tail_of(b"", 3), [""; 0]);
        assert_eq!(tail_of(b"a\nb\n", 0), [""; 0]);
        let long: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(tail_of(long.as_bytes(), 3), ["line 4997", "line 4998", "line 4999"]);
        let first = tail_of(long.as_bytes(), 5000);
        assert_eq!((first.len(), first[0].as_str()), (5000, "line 0"));
        let wide = format!("{}\nlast\n", "x".repeat(20_000));
        assert_eq!(tail_of(wide.as_bytes(), 2)[0].len(), 20_000);
    }

    #[test]
    fn a_followed_log_is_printed_line_by_line_across_rotation_and_truncation() {
        let d = std::env::temp_dir().join(format!("bach-follow-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("daemon.log");
        std::fs::write(&p, "old\n").unwrap();
        let mut f = Followed::at_end(&p);
        let mut out = Vec::new();
        f.print_new(&mut out).unwrap();
        assert!(out.is_empty(), "starts at the end");
        let append = |t: &str| {
            use std::io::Write;
            std::fs::OpenOptions::new()
                .append(true)
                .open(&p)
                .unwrap()
                .write_all(t.as_bytes())
                .unwrap()
        };
        append("one\ntw");
        f.print_new(&mut out).unwrap();
        append("o\x1b\n");
        std::fs::rename(&p, d.join("daemon.log.1")).unwrap();
        std::fs::write(&p, "three\n").unwrap();
        f.print_new(&mut out).unwrap();
        std::fs::write(&p, "4\n").unwrap(); // truncated and rewritten in place
        f.print_new(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "one\ntwo\\x1b\nthree\n4\n");
        std::fs::remove_dir_all(d).unwrap();
    }
}
