//! Installing the daemon under launchd or systemd (placeholder until it lands).
use crate::cli::Service;
use crate::error::{Error, Result};

/// `bach daemon install`
pub fn install(_dry_run: bool, _service: Option<Service>) -> Result<u8> {
    Err(Error::fail("not implemented yet: daemon install"))
}

/// `bach daemon uninstall`
pub fn uninstall(_service: Option<Service>, _watchers: bool) -> Result<u8> {
    Err(Error::fail("not implemented yet: daemon uninstall"))
}
