//! `daemon stop` and `daemon logs` (placeholder until they land).
use crate::error::{Error, Result};

/// `bach daemon stop`
pub fn stop(_timeout: u64, _watchers: bool) -> Result<u8> {
    Err(Error::fail("not implemented yet: daemon stop"))
}

/// `bach daemon logs`
pub fn logs(_lines: usize) -> Result<u8> {
    Err(Error::fail("not implemented yet: daemon logs"))
}
