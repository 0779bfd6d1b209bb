//! The store: `tasks/<id>` and `sessions/<id>` records in the home. This
//! module does the I/O; `record` parses and renders, `desired` joins.
//!
//! Invariants: a record that cannot be read or parsed is reported with its
//! path, line and reason and skipped, never hiding the others; a folder that
//! cannot be read as a whole is an error, never "no records"; nothing bach
//! writes is ever seen half-written, and nothing is written that would not
//! read back as the same record; an id is found only when the name on disk
//! matches it byte for byte (APFS is case-insensitive).

pub mod desired;
pub mod record;

pub use desired::{desired, desired_by, life, same_process, supervisable, Life, Want};
pub use record::{
    normalize_artifact, normalize_dir, parse_session, parse_task, render_session, render_task,
    valid_id, Problem, Session, Task, TaskState, Via,
};

use crate::error::{reason, Error, Result};
use crate::files;
use crate::home::{Home, Records};
use record::Parsed;
use std::path::Path;

/// Every record of one kind that parses, and the problems of the others.
pub type Listing<T> = (Vec<T>, Vec<Problem>);

/// A record parser: the path (for problems), the id (the file name), the text.
type Parser<T> = fn(&Path, &str, &str) -> Parsed<T>;

/// A file's inode, size, mode, and change and modification times: any write,
/// rename over it or `chmod` changes one of them.
type Stamp = (u64, u64, u32, i64, i64, i64, i64);

/// What the last full read of one folder found, by file name with each
/// file's stamp then: the next read parses again only the files whose stamp
/// changed (the daemon reads the store in full every `audit_seconds`).
pub struct Memo<T> {
    seen: Vec<(String, Stamp, Parsed<T>)>,
}

impl<T> Default for Memo<T> {
    fn default() -> Memo<T> {
        Memo { seen: Vec::new() }
    }
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).ok()?;
    Some((m.ino(), m.size(), m.mode(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec()))
}

/// The store in one home.
pub struct Store {
    /// The home, resolved.
    pub home: Home,
}

impl Store {
    /// The store of the home that `BACH_HOME` or `HOME` names.
    pub fn open() -> Result<Store> {
        Ok(Store { home: Home::open()? })
    }

    /// Every record of `kind`; `Err` when the folder cannot be read as a
    /// whole (a missing folder is no records). With a `memo`, a file whose
    /// stamp has not changed since is taken from it, not read again.
    fn read_all<T: Clone>(
        &self,
        kind: Records,
        parse: Parser<T>,
        mut memo: Option<&mut Memo<T>>,
    ) -> std::result::Result<Listing<T>, Problem> {
        let dir = self.home.records(kind);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], vec![])),
            Err(e) => return Err(Problem::new(&dir, 0, reason(&e))),
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| valid_id(n))
            .collect();
        names.sort();
        let (mut items, mut problems, mut seen) = (Vec::new(), Vec::new(), Vec::new());
        for name in names {
            let path = dir.join(&name);
            let stamp = memo.as_ref().and_then(|_| stamp(&path));
            let old = memo.as_ref().and_then(|m| {
                let i = m.seen.binary_search_by(|(n, _, _)| n.as_str().cmp(&name)).ok()?;
                let (_, was, outcome) = &m.seen[i];
                (Some(*was) == stamp).then(|| outcome.clone())
            });
            let outcome = match old {
                Some(outcome) => outcome,
                None => match files::read_small(&path, files::RECORD_MAX) {
                    Ok(Some(text)) => parse(&path, &name, &text),
                    Ok(None) => continue,
                    Err(e) => Err(Problem::new(&path, 0, reason(&e))),
                },
            };
            if let Some(stamp) = stamp {
                seen.push((name, stamp, outcome.clone()));
            }
            match outcome {
                Ok(item) => items.push(item),
                Err(p) => problems.push(p),
            }
        }
        if let Some(m) = memo.as_mut() {
            m.seen = seen;
        }
        Ok((items, problems))
    }

    /// Every task that parses, and the problems of the others.
    pub fn tasks(&self) -> std::result::Result<Listing<Task>, Problem> {
        self.read_all(Records::Tasks, parse_task, None)
    }

    /// Every session that parses, and the problems of the others.
    pub fn sessions(&self) -> std::result::Result<Listing<Session>, Problem> {
        self.read_all(Records::Sessions, parse_session, None)
    }

    /// [`Store::sessions`] and [`Store::tasks`], parsing again only the
    /// records whose file changed since the last such read (`memo`).
    pub fn records_memo(
        &self,
        memo: &mut (Memo<Session>, Memo<Task>),
    ) -> std::result::Result<(Listing<Session>, Listing<Task>), Problem> {
        let sessions = self.read_all(Records::Sessions, parse_session, Some(&mut memo.0))?;
        Ok((sessions, self.read_all(Records::Tasks, parse_task, Some(&mut memo.1))?))
    }

    fn read_one<T>(&self, kind: Records, id: &str, parse: Parser<T>) -> Result<Option<T>> {
        let dir = self.home.records(kind);
        let path = dir.join(id);
        let text = files::read_small(&path, files::RECORD_MAX)
            .map_err(|e| Error::io("read", &path, &e))?;
        let Some(text) = text else { return Ok(None) };
        let names = std::fs::read_dir(&dir).map_err(|e| Error::io("read", &dir, &e))?;
        if !named_exactly(names.flatten().map(|e| e.file_name()), id) {
            return Ok(None);
        }
        parse(&path, id, &text).map(Some).map_err(|p| Error::fail(p.to_string()))
    }

    /// The task `id`, if it exists.
    pub fn task(&self, id: &str) -> Result<Option<Task>> {
        self.read_one(Records::Tasks, id, parse_task)
    }

    /// The session `id`, if it exists.
    pub fn session(&self, id: &str) -> Result<Option<Session>> {
        self.read_one(Records::Sessions, id, parse_session)
    }

    /// Creates a record under `id`, or under a generated id (prefix `p`).
    fn create(&self, kind: Records, p: char, id: Option<&str>, text: &str) -> Result<String> {
        let dir = self.home.records(kind);
        if let Some(id) = id {
            if !files::create_new(&dir, id, text.as_bytes())? {
                return Err(Error::fail(format!("{} '{id}' already exists", kind.one())));
            }
            return Ok(id.into());
        }
        for attempt in 0..32 {
            let id = generate_id(p, attempt);
            if files::create_new(&dir, &id, text.as_bytes())? {
                return Ok(id);
            }
        }
        Err(Error::fail(format!("cannot find a free id in {}", dir.display())))
    }

    /// Adds a task (its `id` field is ignored) and returns its id.
    pub fn add_task(&self, id: Option<&str>, t: &Task) -> Result<String> {
        let text = round_trip(Records::Tasks, t, render_task, parse_task)?;
        self.create(Records::Tasks, 't', id, &text)
    }

    /// Replaces a task's record.
    pub fn put_task(&self, t: &Task) -> Result<()> {
        let text = round_trip(Records::Tasks, t, render_task, parse_task)?;
        files::write_atomic(&self.home.records(Records::Tasks), &t.id, text.as_bytes(), true)
    }

    /// Adds a session (its `id` field is ignored) and returns its id.
    pub fn add_session(&self, id: Option<&str>, s: &Session) -> Result<String> {
        let text = round_trip(Records::Sessions, s, render_session, parse_session)?;
        self.create(Records::Sessions, 's', id, &text)
    }

    /// Puts a new session in place under `id` with `link`: `Ok(false)`, and
    /// nothing written, when a record of that id exists (another writer
    /// was first).
    pub fn link_session(&self, id: &str, s: &Session) -> Result<bool> {
        let text = round_trip(Records::Sessions, s, render_session, parse_session)?;
        files::create_new(&self.home.records(Records::Sessions), id, text.as_bytes())
    }

    /// Puts a new task in place under `id` with `link`, as
    /// [`Store::link_session`] does.
    pub fn link_task(&self, id: &str, t: &Task) -> Result<bool> {
        let text = round_trip(Records::Tasks, t, render_task, parse_task)?;
        files::create_new(&self.home.records(Records::Tasks), id, text.as_bytes())
    }

    /// Replaces a session's record.
    pub fn put_session(&self, s: &Session) -> Result<()> {
        let text = round_trip(Records::Sessions, s, render_session, parse_session)?;
        files::write_atomic(&self.home.records(Records::Sessions), &s.id, text.as_bytes(), true)
    }
}

/// Whether `id` is one of `names` byte for byte: on a case-insensitive file
/// system (APFS, by default) `FOO` opens `foo`, which is another record.
fn named_exactly(mut names: impl Iterator<Item = std::ffi::OsString>, id: &str) -> bool {
    names.any(|n| n.as_encoded_bytes() == id.as_bytes())
}

/// A record's text, refused (as malformed input) when it would not read
/// back as the same record: records trim their values, so a value with a
/// blank at either end or a control character cannot be stored.
fn round_trip<T: PartialEq + HasId>(
    kind: Records,
    r: &T,
    render: fn(&T) -> String,
    parse: Parser<T>,
) -> Result<String> {
    let text = render(r);
    match parse(Path::new(kind.folder()), r.id(), &text) {
        Ok(back) if back == *r => Ok(text),
        _ => Err(Error::usage(format!(
            "this {} cannot be stored: a value is empty, has a blank at either end or a \
             control character",
            kind.one()
        ))),
    }
}

/// Records know their id.
trait HasId {
    fn id(&self) -> &str;
}

impl HasId for Task {
    fn id(&self) -> &str {
        &self.id
    }
}

impl HasId for Session {
    fn id(&self) -> &str {
        &self.id
    }
}

/// A short id: the prefix and six base-36 digits from the clock, the pid
/// and the attempt. `link` settles the rare collision; the caller retries.
fn generate_id(prefix: char, attempt: u32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!("{nanos}/{}/{attempt}", std::process::id());
    let mut h = crate::key::fnv1a(crate::key::FNV_BASIS, seed.as_bytes());
    let mut id = String::from(prefix);
    for _ in 0..6 {
        id.push(char::from(b"0123456789abcdefghijklmnopqrstuvwxyz"[(h % 36) as usize]));
        h /= 36;
    }
    id
}

#[cfg(test)]
mod tests;
