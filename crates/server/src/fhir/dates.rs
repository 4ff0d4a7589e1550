//! FHIR `date`, `dateTime` and `instant` values as the time ranges they denote.
//!
//! A value covers its whole precision: `2024` is the year, `2024-03-01` the day
//! (FHIR R4 §3.1.1.5.7 on date search). Ranges are Unix milliseconds, half-open.

use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub start: i64,
    pub end: i64,
}

impl DateRange {
    pub fn overlaps(self, other: DateRange) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// The calendar years this range touches (for coarse blind-index buckets).
    pub fn years(self) -> std::ops::RangeInclusive<i32> {
        year_of(self.start)..=year_of(self.end.saturating_sub(1).max(self.start))
    }
}

/// The UTC calendar year of a Unix-milliseconds time.
pub fn year_of(ms: i64) -> i32 {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(|t| t.year())
        .unwrap_or(if ms < 0 { -9999 } else { 9999 })
}

/// Which forms a value may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    Date,
    /// A date, or a date with a time to the second and a zone.
    DateTime,
    /// A time to the second with a zone.
    Instant,
    /// A search value: like `DateTime`, but seconds and zone are optional (UTC assumed).
    Search,
}

pub fn parse(value: &str, form: Form) -> Option<DateRange> {
    let (date_part, time_part) = match value.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (value, None),
    };
    let mut fields = date_part.split('-');
    let year: i32 = digits(fields.next()?, 4)?.try_into().ok()?;
    let month = optional(fields.next())?;
    let day = optional(fields.next())?;
    if fields.next().is_some() || year == 0 {
        return None;
    }
    let month_of = |m: u32| Month::try_from(u8::try_from(m).ok()?).ok();
    match time_part {
        None => {
            if form == Form::Instant {
                return None;
            }
            let start_month = month_of(month.unwrap_or(1))?;
            let start =
                Date::from_calendar_date(year, start_month, u8::try_from(day.unwrap_or(1)).ok()?)
                    .ok()?;
            let end = match (month, day) {
                (Some(_), Some(_)) => start.next_day()?,
                (Some(_), None) => {
                    let (y, m) = if start_month == Month::December {
                        (year + 1, Month::January)
                    } else {
                        (year, start_month.next())
                    };
                    Date::from_calendar_date(y, m, 1).ok()?
                }
                (None, None) => Date::from_calendar_date(year + 1, Month::January, 1).ok()?,
                (None, Some(_)) => return None,
            };
            Some(DateRange {
                start: midnight_ms(start),
                end: midnight_ms(end),
            })
        }
        Some(time_part) => {
            if form == Form::Date {
                return None;
            }
            let date =
                Date::from_calendar_date(year, month_of(month?)?, u8::try_from(day?).ok()?).ok()?;
            let (clock, offset) = split_zone(time_part, form)?;
            let (time, precision_ms) = parse_clock(clock, form)?;
            let at = PrimitiveDateTime::new(date, time).assume_offset(offset);
            let start = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()?;
            Some(DateRange {
                start,
                end: start + precision_ms,
            })
        }
    }
}

fn midnight_ms(date: Date) -> i64 {
    PrimitiveDateTime::new(date, Time::MIDNIGHT)
        .assume_utc()
        .unix_timestamp()
        * 1000
}

fn digits(s: &str, len: usize) -> Option<u32> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

/// An optional two-digit field: absent is `Some(None)`, malformed is `None`.
fn optional(field: Option<&str>) -> Option<Option<u32>> {
    match field {
        None => Some(None),
        Some(text) => digits(text, 2).map(Some),
    }
}

fn split_zone(time_part: &str, form: Form) -> Option<(&str, UtcOffset)> {
    if let Some(clock) = time_part.strip_suffix('Z') {
        return Some((clock, UtcOffset::UTC));
    }
    if let Some(at) = time_part.rfind(['+', '-']) {
        let (clock, zone) = time_part.split_at(at);
        let sign: i8 = if zone.starts_with('-') { -1 } else { 1 };
        let (h, m) = zone[1..].split_once(':')?;
        let (h, m) = (digits(h, 2)?, digits(m, 2)?);
        if h > 14 || m > 59 {
            return None;
        }
        let offset = UtcOffset::from_hms(
            sign * i8::try_from(h).ok()?,
            sign * i8::try_from(m).ok()?,
            0,
        )
        .ok()?;
        return Some((clock, offset));
    }
    (form == Form::Search).then_some((time_part, UtcOffset::UTC))
}

/// `hh:mm:ss(.fff…)`, or `hh:mm` in a search; returns the time and its precision.
fn parse_clock(clock: &str, form: Form) -> Option<(Time, i64)> {
    let (whole, fraction) = match clock.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (clock, None),
    };
    let mut parts = whole.split(':');
    let hour = digits(parts.next()?, 2)?;
    let minute = digits(parts.next()?, 2)?;
    let second = optional(parts.next())?;
    if parts.next().is_some() || (second.is_none() && (form != Form::Search || fraction.is_some()))
    {
        return None;
    }
    let millis = match fraction {
        None => 0,
        Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{f:0<3}")[..3].parse::<u16>().ok()?
        }
        Some(_) => return None,
    };
    // A leap second (60) is allowed by FHIR; it is counted as the last millisecond of 59.
    let (second_value, millis) = match second {
        Some(60) => (59, 999),
        s => (s.unwrap_or(0), millis),
    };
    let time = Time::from_hms_milli(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second_value).ok()?,
        millis,
    )
    .ok()?;
    let precision = match (second, fraction) {
        (None, _) => 60_000,
        (Some(_), None) => 1_000,
        (Some(_), Some(_)) => 1,
    };
    Some((time, precision))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_dates_cover_their_precision() {
        let year = parse("2024", Form::Date).unwrap();
        let march = parse("2024-03", Form::Date).unwrap();
        let day = parse("2024-03-31", Form::Date).unwrap();
        assert_eq!(year.end - year.start, 366 * 86_400_000);
        assert_eq!(march.end - march.start, 31 * 86_400_000);
        assert_eq!(day.end - day.start, 86_400_000);
        assert_eq!(march.start, day.start - 30 * 86_400_000);
        assert_eq!(
            parse("2024-12", Form::Date).unwrap().end,
            parse("2025", Form::Date).unwrap().start
        );
    }

    #[test]
    fn date_times_need_seconds_and_a_zone_except_in_searches() {
        let utc = parse("2024-03-01T10:00:00Z", Form::DateTime).unwrap();
        let plus = parse("2024-03-01T11:00:00+01:00", Form::DateTime).unwrap();
        assert_eq!(utc, plus);
        assert_eq!(utc.end - utc.start, 1000);
        assert!(parse("2024-03-01T10:00:00", Form::DateTime).is_none());
        assert!(parse("2024-03-01T10:00Z", Form::DateTime).is_none());
        assert_eq!(
            parse("2024-03-01T10:00", Form::Search).unwrap().start,
            utc.start
        );
        assert!(parse("2024-03-01", Form::Instant).is_none());
        assert!(parse("2024-03-01T10:00:00.123Z", Form::Instant).is_some());
    }

    #[test]
    fn impossible_dates_are_refused() {
        for bad in [
            "2023-02-29",
            "2024-13",
            "2024-00-10",
            "24-01-01",
            "2024/01/01",
            "2024-1-1",
            "",
            "0000",
        ] {
            assert!(parse(bad, Form::DateTime).is_none(), "{bad}");
        }
    }

    #[test]
    fn years_of_a_range() {
        let r = parse("2023-12-31", Form::Date).unwrap();
        assert_eq!(r.years(), 2023..=2023);
        let span = DateRange {
            start: r.start,
            end: parse("2025-01-01", Form::Date).unwrap().end,
        };
        assert_eq!(span.years(), 2023..=2025);
    }
}
