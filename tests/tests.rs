//! The integration tests: one binary, one module per area of the contract.

mod util;

mod attention;
mod cli;
mod daemon;
mod doctor;
mod events;
mod faults;
mod hardening;
mod lifecycle;
mod platform;
mod register;
mod service;
mod store;
mod wait;
mod watcher;
