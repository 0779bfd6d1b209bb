//! Time, both kinds. Deadlines in memory are monotonic milliseconds, so a
//! wall clock stepped by NTP or a VM resume never stalls or races the loop;
//! wall-clock seconds exist only for what is printed and stored, and the
//! two meet in one place, [`Clock`]. Also the one civil-date algorithm pair:
//! `ps`'s `lstart` to seconds, and seconds to an ISO date for the logs.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where the monotonic clock stands when a daemon starts: a year, so that
/// times reloaded from `daemon.state` (at most that old matter) keep their
/// distance from now instead of clipping at zero.
const ORIGIN_MS: u64 = 365 * 86_400_000;

/// Seconds since the Unix epoch, now (wall clock).
pub fn now() -> u64 {
    wall_ms() / 1000
}

/// Milliseconds since the Unix epoch, now (wall clock).
pub fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The monotonic clock of one process, in milliseconds from [`ORIGIN_MS`].
#[derive(Debug, Clone, Copy)]
pub struct Monotonic {
    origin: Instant,
}

impl Default for Monotonic {
    fn default() -> Monotonic {
        Monotonic { origin: Instant::now() }
    }
}

impl Monotonic {
    /// Now, in monotonic milliseconds.
    pub fn ms(&self) -> u64 {
        ORIGIN_MS + self.origin.elapsed().as_millis() as u64
    }

    /// How long until the monotonic time `ms` (zero when it has passed).
    pub fn until(&self, ms: u64) -> Duration {
        Duration::from_millis(ms.saturating_sub(self.ms()))
    }

    /// The same moment on both clocks, for converting what is stored.
    pub fn clock(&self) -> Clock {
        Clock { mono: self.ms(), wall: wall_ms() }
    }
}

/// One moment read on both clocks (milliseconds): converts monotonic times
/// to the wall-clock seconds that are stored and printed, and back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Monotonic milliseconds.
    pub mono: u64,
    /// Wall-clock milliseconds since the Unix epoch.
    pub wall: u64,
}

impl Clock {
    /// The wall-clock second (rounded up) of monotonic time `t`.
    pub fn wall_secs(self, t: u64) -> u64 {
        let wall = match t >= self.mono {
            true => self.wall.saturating_add(t - self.mono),
            false => self.wall.saturating_sub(self.mono - t),
        };
        wall.div_ceil(1000)
    }

    /// The monotonic time of wall-clock second `secs`; `None` when the
    /// number is too large to be a time.
    pub fn mono_of(self, secs: u64) -> Option<u64> {
        let wall = secs.checked_mul(1000)?;
        Some(match wall >= self.wall {
            true => self.mono.checked_add(wall - self.wall)?,
            false => self.mono.saturating_sub(self.wall - wall),
        })
    }
}

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Seconds since the epoch of a `ps` start time printed under `TZ=UTC`:
/// `Wed Nov 25 04:31:14 2026`.
pub fn lstart_secs(s: &str) -> Option<u64> {
    let w: Vec<&str> = s.split_whitespace().collect();
    let [_, mon, day, time, year] = w[..] else { return None };
    let m = MONTHS.iter().position(|&x| x == mon)? as i64 + 1;
    let (d, y): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<u64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, mi, se] = hms[..] else { return None };
    let days = u64::try_from(days_from_civil(y, m, d)).ok()?;
    Some(days * 86400 + h * 3600 + mi * 60 + se)
}

/// A time as `ps -o lstart` prints it under `LC_ALL=C TZ=UTC`, its five
/// words joined by single spaces as [`crate::ps::Proc::start`] keeps them:
/// `Thu Nov 5 04:31:14 2026`.
pub fn lstart(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let days = secs / 86400;
    let (y, mo, d) = civil_from_days(days as i64);
    let (h, m, s) = (secs % 86400 / 3600, secs % 3600 / 60, secs % 60);
    let (day, month) = (DAYS[(days % 7) as usize], MONTHS[(mo - 1) as usize]);
    format!("{day} {month} {d} {h:02}:{m:02}:{s:02} {y}")
}

/// A UTC time as `2026-11-25T04:31:14Z`.
pub fn utc(secs: u64) -> String {
    let (y, mo, d) = civil_from_days((secs / 86400) as i64);
    let (h, m, s) = (secs % 86400 / 3600, secs % 3600 / 60, secs % 60);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01 (its inverse, `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(mo <= 2), mo, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_civil() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_795_581_074), "2026-11-25T04:31:14Z");
    }

    #[test]
    fn start_times_print_as_ps_does_and_read_back() {
        assert_eq!(lstart(0), "Thu Jan 1 00:00:00 1970");
        assert_eq!(lstart(1_795_581_074), "Wed Nov 25 04:31:14 2026");
        assert_eq!(lstart(951_825_600), "Tue Feb 29 12:00:00 2000");
        for secs in (0..4_000_000_000u64).step_by(86_399 * 97) {
            assert_eq!(lstart_secs(&lstart(secs)), Some(secs), "{secs}");
        }
    }

    #[test]
    fn ps_start_times_convert_to_epoch_seconds() {
        assert_eq!(lstart_secs("Thu Jan  1 00:00:00 1970"), Some(0));
        assert_eq!(lstart_secs("Wed Nov 25 04:31:14 2026"), Some(1_795_581_074));
        assert_eq!(lstart_secs("Tue Feb 29 12:00:00 2000"), Some(951_825_600));
        for bad in [
            "",
            "Wed Nov 25 04:31 2026",
            "Wed Foo 25 04:31:14 2026",
            "Wed Nov xx 04:31:14 2026",
            "Wed Nov 25 04:31:14 1969",
            "a b c d e f",
        ] {
            assert_eq!(lstart_secs(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_two_date_directions_are_inverse() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn clock_converts_both_ways_and_never_wraps() {
        let c = Clock { mono: ORIGIN_MS + 5_000, wall: 1_700_000_000_000 };
        assert_eq!(c.wall_secs(c.mono), 1_700_000_000);
        assert_eq!(c.wall_secs(c.mono + 1_500), 1_700_000_002, "rounded up");
        assert_eq!(c.wall_secs(c.mono - 10_000), 1_699_999_990);
        assert_eq!(c.mono_of(1_700_000_010), Some(c.mono + 10_000));
        assert_eq!(c.mono_of(1_699_999_000), Some(c.mono - 1_000_000));
        assert_eq!(c.mono_of(0), Some(0), "before the origin: clipped, never wrapped");
        assert_eq!(c.mono_of(u64::MAX), None, "an absurd stored time is absent");
        assert_eq!(c.wall_secs(u64::MAX), u64::MAX.div_ceil(1000));
    }

    #[test]
    fn monotonic_starts_at_the_origin_and_counts_up() {
        let m = Monotonic::default();
        let a = m.ms();
        assert!((ORIGIN_MS..ORIGIN_MS + 1000).contains(&a));
        assert!(m.ms() >= a);
        assert_eq!(m.until(a), Duration::ZERO);
        assert!(m.until(a + 10_000) > Duration::from_millis(9_000));
    }
}
