//! Wall-clock access and RFC 3339 timestamps.
//!
//! The catalog needs wall time twice: to stamp a fresh catalog and to judge a cache file's age.
//! Reading the clock goes through [`WallClock`] so tests can pin it; the timestamp format is written
//! here by hand (UTC only, whole seconds) to keep the crate free of a date library.

use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Source of wall-clock time.
pub trait WallClock: Send + Sync + Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl WallClock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "this is the one production reader of the wall clock"
    )]
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that always returns the same instant (for tests and reproducible generation).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub SystemTime);

impl WallClock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

/// Formats a time as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds; times before 1970 clamp to it).
#[must_use]
pub fn format_rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac][Z|+00:00]`; a timestamp without zone is read as UTC.
#[must_use]
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 19
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(13) != Some(&b':')
    {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let num = |from: usize, to: usize| s.get(from..to)?.parse::<u32>().ok();
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, se) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = frac.get(digits..)?;
    }
    if !matches!(rest, "" | "Z" | "z" | "+00:00") {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days.checked_mul(86_400)? + i64::from(h * 3600 + mi * 60 + se);
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

// Howard Hinnant's algorithms for the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = parse_rfc3339("2026-06-17T20:55:22.749659").unwrap();
        assert_eq!(format_rfc3339(t), "2026-06-17T20:55:22Z");
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(UNIX_EPOCH));
        assert_eq!(
            format_rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        for s in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-06-17 20:55",
            "2026-06-17T20:55:22+02:00",
            "x026-06-17T20:55:22Z",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
    }
}
