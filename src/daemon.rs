//! `daemon run` and `daemon status` (placeholder until they land).
use crate::error::{Error, Result};

/// `bach daemon run`
pub fn run() -> Result<u8> {
    Err(Error::fail("not implemented yet: daemon run"))
}

/// `bach daemon status`
pub fn status(_json: bool) -> Result<u8> {
    Err(Error::fail("not implemented yet: daemon status"))
}
