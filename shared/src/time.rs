//! Time formats: SigV4's `yyyymmddThhmmssZ` and RFC 3339 for humans.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::{OffsetDateTime, PrimitiveDateTime, format_description::well_known::Rfc3339, macros::format_description};

/// Parses `20261122T174231Z`. Returns `None` for anything else (including impossible dates).
pub fn parse_amz_date(raw: &str) -> Option<SystemTime> {
    if raw.len() != 16 || !raw.is_ascii() {
        return None;
    }
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    let parsed = PrimitiveDateTime::parse(raw, format).ok()?.assume_utc();
    Some(SystemTime::from(parsed))
}

/// Seconds since the Unix epoch (0 for times before it).
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The last second of the year 9999: every time we accept from outside stays at or below it,
/// so adding a margin to it can never overflow.
pub const MAX_UNIX_SECS: u64 = 253_402_300_799;

/// The instant `secs` after the epoch, clamped to [`MAX_UNIX_SECS`] (input from a token or a
/// database must never be able to overflow `SystemTime` arithmetic).
pub fn from_unix_secs(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.min(MAX_UNIX_SECS))
}

/// `2026-11-22T17:42:31Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = unix_secs(t) as i64;
    OffsetDateTime::from_unix_timestamp(secs).ok().and_then(|dt| dt.format(&Rfc3339).ok()).unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_times_are_clamped_not_overflowed() {
        let far = from_unix_secs(u64::MAX);
        assert_eq!(unix_secs(far), MAX_UNIX_SECS);
        let _ = far + Duration::from_secs(7 * 24 * 3600); // the retention margin still fits
    }

    #[test]
    fn amz_dates() {
        let t = parse_amz_date("20261122T174231Z").unwrap();
        assert_eq!(rfc3339(t), "2026-11-22T17:42:31Z");
        for bad in ["20261122T174231", "20261322T174231Z", "2026112T174231Zz", "20261122t174231z", "２0261122T174231Z"] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }
}
