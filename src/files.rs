//! The file operations every part of bach shares.
//! Invariants: folders are 0700 and files 0600; a write is atomic (a
//! temporary `.name` in the same folder, then `rename`), so a reader never
//! sees half a file; a durable write (records, config) is `fsync`ed, file
//! and folder, before it counts; a new record is put in place with `link`,
//! so a duplicate id fails instead of overwriting; reads never follow a
//! symlink or block on a FIFO, and never take more than a fixed size.

use crate::error::{Error, Result};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The most a record or status file may hold.
pub const RECORD_MAX: u64 = 64 * 1024;

/// Creates a folder and its parents with mode 0700 if missing.
pub fn ensure_dir(path: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| Error::io("create", path, &e))
}

/// A temporary file's name: `.NAME.PID.N.tmp`, unique in this process and
/// left to the sweep if this process dies before the rename.
fn temp_path(dir: &Path, name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.{}.{n}{TEMP_SUFFIX}", std::process::id()))
}

/// How temporary files end (they also start with `.`).
pub const TEMP_SUFFIX: &str = ".tmp";

/// Flushes a folder's entries (a rename or link in it) to disk. A file
/// system that cannot sync a folder at all (it says so with `EINVAL` or
/// `ENOTSUP`) has nothing more to give, so that is no failure.
fn sync_dir(dir: &Path) -> io::Result<()> {
    match crate::sys::fsync_dir(dir) {
        Err(e) if matches!(e.kind(), io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported) => {
            Ok(())
        }
        done => done,
    }
}

fn write_temp(tmp: &Path, contents: &[u8], sync: bool, mode: u32) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(tmp)?;
    // Set explicitly: the mode given at creation is narrowed by the umask.
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    f.write_all(contents)?;
    if sync {
        // Not `sync_all`: on Apple that is `F_FULLFSYNC`, which SMB refuses.
        crate::sys::full_fsync(&f)?;
    }
    Ok(())
}

/// Replaces `dir/name` atomically; `sync` flushes the data to disk first
/// (records and config; status files are rebuilt from observation).
pub fn write_atomic(dir: &Path, name: &str, contents: &[u8], sync: bool) -> Result<()> {
    write_atomic_mode(dir, name, contents, sync, 0o600)
}

/// `write_atomic` with another mode than 0600 (a service file that the
/// service manager reads: 0644).
pub fn write_atomic_mode(dir: &Path, name: &str, data: &[u8], sync: bool, mode: u32) -> Result<()> {
    let tmp = temp_path(dir, name);
    let path = dir.join(name);
    let result = write_temp(&tmp, data, sync, mode).and_then(|()| fs::rename(&tmp, &path));
    let result = result.and_then(|()| if sync { sync_dir(dir) } else { Ok(()) });
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io("write", &path, &e)
    })
}

/// Puts a new file `dir/name` in place atomically; `Ok(false)` if a file of
/// that name already exists (nothing is written then).
pub fn create_new(dir: &Path, name: &str, contents: &[u8]) -> Result<bool> {
    ensure_dir(dir)?;
    let tmp = temp_path(dir, name);
    let path = dir.join(name);
    let result = write_temp(&tmp, contents, true, 0o600).and_then(|()| fs::hard_link(&tmp, &path));
    let _ = fs::remove_file(&tmp);
    let result = result.and_then(|()| sync_dir(dir));
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io("write", &path, &e)),
    }
}

/// Reads a regular file of at most `max` bytes as UTF-8 without following a
/// symlink or blocking on a FIFO. `Ok(None)` when it does not exist.
pub fn read_small(path: &Path, max: u64) -> io::Result<Option<String>> {
    let Some(mut file) = open_regular(path)? else { return Ok(None) };
    if file.metadata()?.len() > max {
        return Err(invalid(&format!("is larger than {max} bytes")));
    }
    let mut text = String::new();
    (&mut file).take(max + 1).read_to_string(&mut text).map_err(|e| match e.kind() {
        io::ErrorKind::InvalidData => invalid("is not UTF-8"),
        _ => e,
    })?;
    Ok(Some(text))
}

/// Opens a regular file for reading without following a symlink or blocking
/// on a FIFO. `Ok(None)` when it does not exist.
pub fn open_regular(path: &Path) -> io::Result<Option<File>> {
    let file =
        OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(invalid("is a symbolic link"))
        }
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Err(invalid("is not a regular file"));
    }
    Ok(Some(file))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Removes the temporary files (`.NAME….tmp`, and a judge's `.KEY.judge.…`
/// input) in `dir` last changed before `older_than`: what a process that
/// died between writing and renaming left. Returns how many went.
pub fn remove_stale_temps(dir: &Path, older_than: std::time::SystemTime) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let temp = |n: &str| n.starts_with('.') && (n.ends_with(TEMP_SUFFIX) || n.contains(".judge."));
    let stale = |e: &fs::DirEntry| {
        let meta = e.metadata().ok().filter(fs::Metadata::is_file);
        meta.and_then(|m| m.modified().ok()).is_some_and(|t| t < older_than)
    };
    let gone = entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(temp) && stale(e))
        .filter(|e| fs::remove_file(e.path()).is_ok());
    gone.count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bach-files-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        ensure_dir(&d).unwrap();
        d
    }

    #[test]
    fn create_new_never_overwrites() {
        let d = tmpdir("create");
        assert!(create_new(&d, "a", b"one").unwrap());
        assert!(!create_new(&d, "a", b"two").unwrap());
        assert_eq!(fs::read_to_string(d.join("a")).unwrap(), "one");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1, "no temporary file is left");
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn only_stale_temporary_files_are_removed() {
        let d = tmpdir("temps");
        for name in [".a.1.0.tmp", ".k.judge.7.1", "a", ".hidden", "b.tmp"] {
            fs::write(d.join(name), b"x").unwrap();
        }
        let now = std::time::SystemTime::now();
        assert_eq!(remove_stale_temps(&d, now - std::time::Duration::from_secs(60)), 0, "fresh");
        assert_eq!(remove_stale_temps(&d, now + std::time::Duration::from_secs(60)), 2);
        let mut left: Vec<String> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [".hidden", "a", "b.tmp"]);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn read_small_refuses_what_could_mislead_or_block() {
        let d = tmpdir("read");
        fs::write(d.join("big"), vec![b'x'; 100]).unwrap();
        std::os::unix::fs::symlink(d.join("big"), d.join("link")).unwrap();
        fs::create_dir(d.join("dir")).unwrap();
        let err = |p: &str| read_small(&d.join(p), 10).unwrap_err().to_string();
        assert_eq!(err("big"), "is larger than 10 bytes");
        assert_eq!(err("link"), "is a symbolic link");
        assert_eq!(err("dir"), "is not a regular file");
        assert!(read_small(&d.join("missing"), 10).unwrap().is_none());
        fs::remove_dir_all(d).unwrap();
    }
}
