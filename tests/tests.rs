//! The integration tests: one binary, one module per area of the contract.

mod util;

mod cli;
mod daemon;
mod events;
mod faults;
mod hardening;
mod lifecycle;
mod service;
mod store;
mod watcher;
