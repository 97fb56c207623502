//! Timestamps as stored: UTC, truncated to microseconds.
//!
//! PostgreSQL's `timestamptz` keeps microseconds; SQLite keeps whatever text it is given.
//! Normalising on the way in makes a value read back equal to the value written on both.

use time::{OffsetDateTime, UtcOffset};

pub(crate) fn to_db(at: OffsetDateTime) -> OffsetDateTime {
    let utc = at.to_offset(UtcOffset::UTC);
    let micros_as_nanos = utc.nanosecond() / 1_000 * 1_000;
    // Always in range: it is smaller than a valid nanosecond value.
    utc.replace_nanosecond(micros_as_nanos).unwrap_or(utc)
}

pub(crate) fn from_db(at: OffsetDateTime) -> OffsetDateTime {
    at.to_offset(UtcOffset::UTC)
}

/// The instant as the leading `YYYY-MM-DDTHH:MM:SS` of its stored SQLite text. Every stored
/// value of that second or later compares `>=` to it as text (a longer string with an equal
/// prefix sorts after), and every earlier one `<`: a coarse bound to refine in Rust.
pub(crate) fn sqlite_second_prefix(at: OffsetDateTime) -> String {
    let utc = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn stored_times_are_utc_microseconds() {
        let at = datetime!(2026-01-02 03:04:05.123456789 +02:00);
        let stored = to_db(at);
        assert_eq!(stored, datetime!(2026-01-02 01:04:05.123456 UTC));
        assert_eq!(stored.offset(), UtcOffset::UTC);
    }

    #[test]
    fn second_prefix_is_fixed_width_utc() {
        let at = datetime!(2026-01-02 03:04:05.5 +01:00);
        assert_eq!(sqlite_second_prefix(at), "2026-01-02T02:04:05");
    }
}
