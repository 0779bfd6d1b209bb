//! The watcher (placeholder until it lands).
use crate::error::{Error, Result};

/// Runs the watcher of `artifact`.
pub fn run(_key: Option<String>, _artifact: &str) -> Result<u8> {
    Err(Error::fail("not implemented yet: internal session-watch"))
}
