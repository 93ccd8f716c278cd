//! OrderDesk's timestamp format, `YYYY-MM-DD HH:MM:SS` in UTC, without a date-time crate.
//!
//! The conversions are Howard Hinnant's `days_from_civil` / `civil_from_days` algorithms,
//! exact for every date in the proleptic Gregorian calendar.

use std::time::{SystemTime, UNIX_EPOCH};

const SECS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of the civil date `y-m-d`.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a count of days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both casts are in range: day is 1..=31 and month 1..=12 by construction.
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn format_unix(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let rem = secs.rem_euclid(SECS_PER_DAY);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Seconds since the Unix epoch, now, from the system clock.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The current time as OrderDesk prints it.
pub fn now_string() -> String {
    format_unix(now_unix())
}

/// Parses `YYYY-MM-DD HH:MM:SS` into seconds since the Unix epoch.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let (date, time) = s.split_once(' ')?;
    let day = parse_date(date)?;
    let mut parts = time.split(':');
    let h = fixed_digits(parts.next()?, 2)?;
    let mi = fixed_digits(parts.next()?, 2)?;
    let sec = fixed_digits(parts.next()?, 2)?;
    if parts.next().is_some() || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    Some(day * SECS_PER_DAY + h * 3600 + mi * 60 + sec)
}

/// Parses a search bound: `YYYY-MM-DD HH:MM:SS`, or `YYYY-MM-DD` meaning the first second of
/// that day when `end` is false and its last second when `end` is true.
pub fn parse_bound(s: &str, end: bool) -> Option<i64> {
    let s = s.trim();
    if s.len() == 10 {
        let day = parse_date(s)?;
        return Some(day * SECS_PER_DAY + if end { SECS_PER_DAY - 1 } else { 0 });
    }
    parse_datetime(s)
}

/// Parses `YYYY-MM-DD` into days since the epoch, rejecting impossible dates.
fn parse_date(s: &str) -> Option<i64> {
    let mut parts = s.split('-');
    let y = fixed_digits(parts.next()?, 4)?;
    let m = u32::try_from(fixed_digits(parts.next()?, 2)?).ok()?;
    let d = u32::try_from(fixed_digits(parts.next()?, 2)?).ok()?;
    if parts.next().is_some() || !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // Round-tripping rejects days past the end of the month, such as 2026-02-30.
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

/// Parses exactly `len` ASCII digits.
fn fixed_digits(s: &str, len: usize) -> Option<i64> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(format_unix(0), "1970-01-01 00:00:00");
        assert_eq!(format_unix(1_767_225_600), "2026-01-01 00:00:00");
        assert_eq!(format_unix(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(parse_datetime("2026-01-01 00:00:00"), Some(1_767_225_600));
        assert_eq!(
            parse_datetime("2026-03-04 05:06:07")
                .map(format_unix)
                .as_deref(),
            Some("2026-03-04 05:06:07")
        );
    }

    #[test]
    fn bounds_cover_whole_days() {
        assert_eq!(parse_bound("2026-01-01", false), Some(1_767_225_600));
        assert_eq!(
            parse_bound("2026-01-01", true),
            Some(1_767_225_600 + 86_399)
        );
        assert_eq!(parse_bound("2026-02-30", false), None);
        assert_eq!(parse_bound("2026-1-01", false), None);
        assert_eq!(parse_bound("2026-01-01 24:00:00", false), None);
        assert_eq!(parse_bound("yesterday", false), None);
    }
}
