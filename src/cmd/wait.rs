//! `bach sessions wait`: blocks until a session *enters* one of STATES
//! (see [`crate::cursor`] for what that means and for the cursor), prints
//! it and exits 0; 124 when `--timeout` passed; 1 when there is nothing to
//! wait for or nobody reads its output any more.
//!
//! It sleeps in one `poll()`: on change notification for `watch/` (status
//! files, hints), `sessions/` and each agent's Claude registry folder and
//! file, on a pid handle per live agent, and on its own stdout (a reader
//! that went away, a dropped SSH connection, ends it at once). `ps` is read
//! only at the first look, when a handle fires, when a session with a pid
//! appears, when a refined state falls due (a permission or stall timer)
//! and every `AUDIT` (300 s); where events are missing it looks every
//! `POLL_EVERY` (250 ms) instead.
//!
//! Invariant: a look follows every wake-up and every watch armed anew
//! (what changed before it was armed is read then), so nothing that changes
//! while it waits goes unseen; between two looks at least `GAP` passes, so
//! a flood of status writes costs a bounded number of looks.

use super::open;
use crate::cursor::{self, Event, Seen, Snapshot, States};
use crate::error::{Error, Result};
use crate::events::{Events, Watch};
use crate::json::Json;
use crate::look::{self, Context, Memory, View};
use crate::ps::Proc;
use crate::store::{Life, Session, Store};
use crate::{config::Config, log, time};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "wait_arm.rs"]
mod arm;

/// `ps` is read at least this often. The config key `audit_seconds` is
/// introduced with the daemon's events; until it is read here, its
/// default stands in.
const AUDIT: Duration = Duration::from_secs(300);
/// The shortest time between two looks.
const GAP: Duration = Duration::from_millis(100);
/// Without change notification: a look this often.
const POLL_EVERY: Duration = Duration::from_millis(250);
/// Agents without a pid handle: `ps` this often.
const PS_EVERY: Duration = Duration::from_millis(500);
/// A path to watch that does not exist yet (a registry folder Claude Code
/// has not made): looked for this often.
const MISSING_EVERY: Duration = Duration::from_secs(1);

/// What `sessions wait` was given.
#[derive(Debug, Clone, Default)]
pub struct Wait {
    /// The sessions to wait for; none: every session, also new ones.
    pub ids: Vec<String>,
    /// `--until`
    pub until: States,
    /// `--timeout SECS`
    pub timeout: Option<u64>,
    /// `--now`: a session already in a state counts.
    pub now: bool,
    /// `--after CURSOR`: start from that snapshot.
    pub after: Option<Snapshot>,
    /// `--json`
    pub json: bool,
}

/// `sessions wait`
pub fn wait(w: &Wait) -> Result<u8> {
    let (st, config) = open()?;
    let deadline = w.timeout.map(|t| Instant::now() + Duration::from_secs(t));
    let mut me = Waiter::new(st, config);
    let mut before = if w.now { Some(Snapshot::new()) } else { w.after.clone() };
    loop {
        let now = time::now();
        let views = me.look(now)?;
        let seen: Vec<Seen> = views.iter().filter(|v| named(w, v)).map(seen).collect();
        let snap = cursor::snapshot(&w.until, &seen);
        match &before {
            None => before = Some(snap.clone()),
            Some(b) => {
                let events = cursor::entered(b, &w.until, &seen, now);
                if !events.is_empty() {
                    print(w.json, &events, &snap);
                    return Ok(0);
                }
            }
        }
        if let Some(why) = nothing_to_wait_for(&w.ids, &views) {
            return Err(Error::fail(format!("nothing to wait for: {why}")));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            print(w.json, &[], &snap);
            return Ok(124);
        }
        let armed = me.arm(&views);
        if !armed && me.sleep(deadline) {
            log::warn("the reader of the output is gone; stopping");
            return Ok(1);
        }
    }
}

fn named(w: &Wait, v: &View) -> bool {
    w.ids.is_empty() || w.ids.contains(&v.session.id)
}

fn seen(v: &View) -> Seen {
    Seen {
        id: v.session.id.clone(),
        attention: v.refined.attention,
        since: v.refined.since,
        reason: v.refined.reason.clone(),
        ended: v.session.ended,
    }
}

/// When every named session is unknown, gone or ended: which and why.
fn nothing_to_wait_for(ids: &[String], views: &[View]) -> Option<String> {
    let mut why = Vec::new();
    for id in ids {
        match views.iter().find(|v| &v.session.id == id).map(|v| v.life) {
            None => why.push(format!("{id} is unknown")),
            Some(Life::Gone) => why.push(format!("{id} is gone")),
            Some(Life::Ended) => why.push(format!("{id} has ended")),
            Some(Life::Live) => return None,
        }
    }
    (!why.is_empty()).then(|| why.join(", "))
}

/// `ID STATE REASON` lines, then `cursor CURSOR`; or the JSON document.
fn print(json: bool, events: &[Event], snap: &Snapshot) {
    let cursor = cursor::render(snap);
    if json {
        let event = |e: &Event| {
            Json::Obj(vec![
                ("id", Json::Str(e.id.clone())),
                ("attention", Json::Str(e.state.into())),
                ("reason", Json::Str(e.reason.clone())),
                ("at", Json::Int(e.at as i64)),
            ])
        };
        let doc = Json::document(vec![
            ("events", Json::Arr(events.iter().map(event).collect())),
            ("cursor", Json::Str(cursor)),
        ]);
        say!("{}", doc.render());
        return;
    }
    for e in events {
        say!("{} {} {}", e.id, e.state, crate::text::escape(&e.reason));
    }
    say!("cursor {cursor}");
}

/// Everything the wait keeps between looks.
struct Waiter {
    st: Store,
    config: Config,
    /// Opened before the first sleep (a wait that ends at its first look
    /// needs none); `None` after that: polling.
    events: Option<Events>,
    events_tried: bool,
    /// Watched paths with the inode they watch (a replaced one is re-armed).
    paths: BTreeMap<PathBuf, (Watch, u64, u64)>,
    /// Agents with a pid handle.
    pids: BTreeSet<i32>,
    /// Agents whose handle did not confirm them: left to `ps`, not retried.
    refused: BTreeSet<i32>,
    /// Some live agent has no handle: `ps` tells when it ends.
    unwatched: bool,
    procs: Option<Vec<Proc>>,
    ps_at: Option<Instant>,
    /// The sessions the last `ps` read knew.
    known: BTreeSet<String>,
    /// A handle fired or a watch could not be opened: `ps` at once.
    ps_now: bool,
    /// The wall time the last `ps` read was for (a due state after it
    /// needs a new read).
    ps_wall: u64,
    /// The earliest time a refined state would change by itself.
    due: Option<u64>,
    /// A path to watch does not exist (yet): look on a timer too.
    missing: bool,
    memory: Memory,
    warned: BTreeSet<String>,
    looked_at: Option<Instant>,
    ps_failing: bool,
}

impl Waiter {
    fn new(st: Store, config: Config) -> Waiter {
        Waiter {
            st,
            config,
            events: None,
            events_tried: false,
            paths: BTreeMap::new(),
            pids: BTreeSet::new(),
            refused: BTreeSet::new(),
            unwatched: false,
            procs: None,
            ps_at: None,
            known: BTreeSet::new(),
            ps_now: true,
            ps_wall: 0,
            due: None,
            missing: false,
            memory: Memory::default(),
            warned: BTreeSet::new(),
            looked_at: None,
            ps_failing: false,
        }
    }

    /// One look, at least [`GAP`] after the last; `ps` first when it is due.
    fn look(&mut self, now: u64) -> Result<Vec<View>> {
        // A plain sleep, not `poll()`: what it waits for is only time.
        if let Some(rest) = self.looked_at.map(|t| GAP.saturating_sub(t.elapsed())) {
            std::thread::sleep(rest);
        }
        let unreadable = |p: crate::store::Problem| Error::fail(format!("cannot read {p}"));
        let (sessions, p1) = self.st.sessions().map_err(unreadable)?;
        let (tasks, p2) = self.st.tasks().map_err(unreadable)?;
        for p in p1.iter().chain(&p2) {
            if self.warned.insert(p.to_string()) {
                log::warn(&format!("skipped {p}"));
            }
        }
        let fresh = sessions.iter().any(|s| s.pid.is_some() && !self.known.contains(&s.id));
        if fresh || self.ps_due(now) {
            self.read_ps(&sessions, now);
        }
        self.looked_at = Some(Instant::now());
        let procs = self.procs.as_deref();
        let cx = Context { home: &self.st.home, config: &self.config, procs, now };
        let views = look::look(&cx, sessions, &tasks, &mut self.memory);
        self.due = views.iter().filter_map(|v| v.refined.due).min();
        Ok(views)
    }

    /// How long `ps` may go unread now.
    fn ps_every(&self) -> Duration {
        match self.unwatched || self.events.is_none() {
            true => PS_EVERY,
            false => AUDIT,
        }
    }

    /// A refined state's timer that ran out since the last `ps` read.
    fn pending_due(&self) -> Option<u64> {
        self.due.filter(|&d| d > self.ps_wall)
    }

    fn ps_due(&self, now: u64) -> bool {
        let late = self.ps_at.map_or(true, |t| t.elapsed() >= self.ps_every());
        self.ps_now || late || self.pending_due().is_some_and(|d| d <= now)
    }

    fn read_ps(&mut self, sessions: &[Session], now: u64) {
        (self.ps_at, self.ps_now, self.ps_wall) = (Some(Instant::now()), false, now);
        self.known = sessions.iter().map(|s| s.id.clone()).collect();
        let mut procs = match crate::procs::snapshot() {
            Ok(p) => p,
            Err(e) => {
                if !std::mem::replace(&mut self.ps_failing, true) {
                    log::warn(&format!("{e}; agents are taken to run"));
                }
                return self.procs = None;
            }
        };
        self.ps_failing = false;
        crate::procs::add_ticks(&mut procs, &sessions.iter().filter_map(|s| s.pid).collect());
        self.procs = Some(procs);
    }
}
