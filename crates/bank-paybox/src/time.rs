//! Time formats of Paybox: `PBX_TIME` (ISO 8601), Direct's `DATEQ` and the day that
//! numbers Direct questions, both in Paris time (Paybox's own time zone).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Utc, Weekday};

/// `PBX_TIME`: UTC, whole seconds, `+00:00` suffix (`2024-05-01T10:20:30+00:00`).
pub fn pbx_time(now: DateTime<Utc>) -> String {
    use chrono::Timelike;
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
        now.year(),
        now.month(),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// Now in Paris (CET/CEST, EU rules: summer time from the last Sunday of March 01:00 UTC
/// to the last Sunday of October 01:00 UTC).
pub fn paris(now: DateTime<Utc>) -> DateTime<FixedOffset> {
    let year = now.year();
    let start = last_sunday_1am_utc(year, 3);
    let end = last_sunday_1am_utc(year, 10);
    let hours = if now >= start && now < end { 2 } else { 1 };
    let offset = FixedOffset::east_opt(hours * 3600).expect("valid offset");
    now.with_timezone(&offset)
}

fn last_sunday_1am_utc(year: i32, month: u32) -> DateTime<Utc> {
    let last_day = match month {
        3 | 10 => 31,
        _ => unreachable!("only March and October"),
    };
    let mut d = NaiveDate::from_ymd_opt(year, month, last_day).expect("valid date");
    while d.weekday() != Weekday::Sun {
        d = d.pred_opt().expect("valid date");
    }
    Utc.from_utc_datetime(&d.and_hms_opt(1, 0, 0).expect("valid time"))
}

/// Direct's `DATEQ`: `DDMMYYYYHHMMSS`, Paris time.
pub fn dateq(now: DateTime<Utc>) -> String {
    paris(now).format("%d%m%Y%H%M%S").to_string()
}

/// The Paris day of `now`, `YYYYMMDD`: Direct question numbers are unique per site and day.
pub fn paris_day(now: DateTime<Utc>) -> String {
    paris(now).format("%Y%m%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn pbx_time_is_whole_seconds_utc() {
        // paybox.md §3.3 / H3: fractional seconds are cut, never a double suffix.
        assert_eq!(
            pbx_time(utc("2024-05-01T10:20:30.5Z")),
            "2024-05-01T10:20:30+00:00"
        );
        assert_eq!(
            pbx_time(utc("2024-05-01T10:20:30Z")),
            "2024-05-01T10:20:30+00:00"
        );
    }

    #[test]
    fn paris_summer_and_winter() {
        // H3's PBX_CMD shows 10:20:30 UTC as 12:20:30 in Paris on 1 May 2024.
        assert_eq!(
            paris(utc("2024-05-01T10:20:30Z"))
                .format("%H%M%S")
                .to_string(),
            "122030"
        );
        assert_eq!(dateq(utc("2024-01-15T10:00:00Z")), "15012024110000");
        // Changes: 31 March 2024 01:00 UTC and 27 October 2024 01:00 UTC.
        assert_eq!(dateq(utc("2024-03-31T00:59:59Z")), "31032024015959");
        assert_eq!(dateq(utc("2024-03-31T01:00:00Z")), "31032024030000");
        assert_eq!(dateq(utc("2024-10-27T00:59:59Z")), "27102024025959");
        assert_eq!(dateq(utc("2024-10-27T01:00:00Z")), "27102024020000");
        // The Direct vector of paybox.md §7.2: 2024-05-01T10:20:30+02:00.
        assert_eq!(dateq(utc("2024-05-01T08:20:30Z")), "01052024102030");
        assert_eq!(paris_day(utc("2024-12-31T23:30:00Z")), "20250101");
    }
}
