//! bach keeps one watcher process alive for every AI-coding session that
//! still matters. (The architecture is described in full in a later step.)
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod error;
pub mod files;
mod follow;
pub mod json;
mod judge;
pub mod kv;
pub mod lifecycle;
pub mod lock;
pub mod log;
pub mod procs;
pub mod ps;
pub mod service;
pub mod signals;
pub mod spawn;
pub mod status;
pub mod store;
pub mod sys;
pub mod text;
pub mod watcher;
