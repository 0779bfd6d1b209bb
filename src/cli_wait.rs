//! `sessions wait`'s arguments: ids, `--until STATES` and `--after CURSOR`
//! checked here (exit 2), so the command itself starts from valid values.

use super::{id, number, text, Command, Topic, MAX_TIMEOUT};
use crate::cursor::{self, States};
use crate::error::{Error, Result};
use lexopt::prelude::*;

/// `sessions wait [ID...] [--until STATES] [--timeout SECS] [--now]
/// [--after CURSOR] [--json]`
pub(super) fn parse(p: &mut lexopt::Parser) -> Result<Command> {
    let (mut ids, mut until, mut timeout, mut now, mut after, mut json) =
        (Vec::new(), States::default(), None, false, None, false);
    while let Some(arg) = p.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(Command::Help(Topic::Sessions)),
            Long("until") => {
                until = States::parse(&text(p.value()?, "--until")?).map_err(Error::usage)?
            }
            Long("timeout") => timeout = Some(number::<u64>(p.value()?, "--timeout")?),
            Long("now") => now = true,
            Long("after") => {
                after = Some(cursor::parse(&text(p.value()?, "--after")?).map_err(Error::usage)?)
            }
            Long("json") => json = true,
            Value(v) => ids.push(id(v, "session id")?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    if timeout.is_some_and(|t| t > MAX_TIMEOUT) {
        return Err(Error::usage(format!("--timeout must be at most {MAX_TIMEOUT} seconds")));
    }
    if now && after.is_some() {
        return Err(Error::usage("--now and --after cannot be given together"));
    }
    Ok(Command::SessionWait { ids, until, timeout, now, after, json })
}
