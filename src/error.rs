//! The one error type. Its message names the culprit (the argument, or the
//! file, line and key, with the OS reason); its code is the exit status that
//! `main` alone turns it into: 1 failure at run time, 2 malformed input.

use crate::text::escape;
use std::fmt;
use std::io;
use std::path::Path;

/// An error that ends a command, with the exit status it maps to.
pub struct Error {
    code: u8,
    msg: String,
}

/// A result of bach.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Malformed input: exit status 2.
    pub fn usage(msg: impl Into<String>) -> Error {
        Error { code: 2, msg: msg.into() }
    }

    /// A failure at run time or a conflict with the store: exit status 1.
    pub fn fail(msg: impl Into<String>) -> Error {
        Error { code: 1, msg: msg.into() }
    }

    /// "cannot VERB PATH: reason".
    pub fn io(verb: &str, path: &Path, err: &io::Error) -> Error {
        Error::fail(format!("cannot {verb} {}: {}", escape(&path.to_string_lossy()), reason(err)))
    }

    /// The exit status.
    pub fn code(&self) -> u8 {
        self.code
    }
}

/// The OS reason of an I/O error, as a lowercase phrase without "(os error N)".
pub fn reason(err: &io::Error) -> String {
    let text = err.to_string();
    let mut chars = text.split(" (os error").next().unwrap_or_default().chars();
    chars.next().map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<lexopt::Error> for Error {
    fn from(e: lexopt::Error) -> Error {
        Error::usage(escape(&e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_reason_is_lowercase_without_code() {
        let e = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(reason(&e), "permission denied");
        let err = Error::io("open", Path::new("/x/s1"), &e);
        assert_eq!(err.to_string(), "cannot open /x/s1: permission denied");
        assert_eq!(err.code(), 1);
    }
}
