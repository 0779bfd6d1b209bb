//! The home folder and the file operations every part of bach shares.
//! Invariants: folders are 0700 and files 0600; a write is atomic (a
//! temporary `.name` in the same folder, then `rename`), so a reader never
//! sees half a file; a new record is put in place with `link`, so a
//! duplicate id fails instead of overwriting; reads never follow a symlink
//! or block on a FIFO, and never take more than a fixed size.

use crate::error::{reason, Error, Result};
use crate::text::{escape, has_control};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The most a record or status file may hold.
pub const RECORD_MAX: u64 = 64 * 1024;

/// Finds the home: `BACH_HOME`, else `$HOME/.bach`; creates it (0700) and
/// resolves it once with `realpath`.
pub fn home() -> Result<PathBuf> {
    let path = home_path()?;
    ensure_dir(&path)?;
    let real = fs::canonicalize(&path).map_err(|e| Error::io("resolve", &path, &e))?;
    match real.to_str() {
        Some(s) if !has_control(s) => Ok(real),
        _ => Err(Error::fail(format!(
            "home {} must be UTF-8 without control characters",
            escape(&real.to_string_lossy())
        ))),
    }
}

/// Where the home is, made absolute but neither created nor resolved (for
/// `install --dry-run`, which must change nothing).
pub fn home_path() -> Result<PathBuf> {
    let var = |k| std::env::var_os(k).filter(|v| !v.is_empty());
    let path = match (var("BACH_HOME"), var("HOME")) {
        (Some(h), _) => PathBuf::from(h),
        (None, Some(h)) => PathBuf::from(h).join(".bach"),
        (None, None) => return Err(Error::fail("neither BACH_HOME nor HOME is set")),
    };
    Ok(if path.is_absolute() { path } else { cwd()?.join(path) })
}

/// The working directory.
pub fn cwd() -> Result<PathBuf> {
    std::env::current_dir()
        .map_err(|e| Error::fail(format!("cannot read the working directory: {}", reason(&e))))
}

/// Creates a folder and its parents with mode 0700 if missing.
pub fn ensure_dir(path: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| Error::io("create", path, &e))
}

fn temp_path(dir: &Path, name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

fn write_temp(tmp: &Path, contents: &[u8], sync: bool, mode: u32) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(tmp)?;
    // Set explicitly: the mode given at creation is narrowed by the umask.
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    f.write_all(contents)?;
    if sync {
        f.sync_all()?;
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

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
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
