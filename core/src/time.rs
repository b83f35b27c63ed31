//! Wall-clock instants. Reports carry three different times (care, post, received), so every
//! time in Kizuna is one explicit type rather than a bare integer.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Milliseconds since the Unix epoch, UTC. Devices record the real time of an act (a visit, a
/// read) even when offline, so times are always supplied by the caller, never by sync.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current system time; the edges (apps, relay) call this, the room model never does.
    pub fn now() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }

    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// This instant moved by `ms` milliseconds (negative moves back).
    pub fn plus_millis(self, ms: i64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Timestamp {
    /// Shows the instant as an ISO 8601 UTC string so logs and exports are readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1000);
        let ms = self.0.rem_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_iso_8601() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Timestamp(1_764_028_800_123).to_string(),
            "2025-11-25T00:00:00.123Z"
        );
    }
}

/// A calendar date without time (birth dates, consent dates, certification periods), written
/// `YYYY-MM-DD` everywhere so it sorts as text and reads the same in Japan and in logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// A checked date; refuses month 13, 31 April, 29 February outside leap years.
    pub fn new(year: u16, month: u8, day: u8) -> Result<Self, crate::ValidationError> {
        let leap =
            (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Err(crate::ValidationError::new("date", "month must be 1–12")),
        };
        if !(1..=days).contains(&day) || !(1868..=2200).contains(&year) {
            return Err(crate::ValidationError::new(
                "date",
                "is not a real calendar date",
            ));
        }
        Ok(Date { year, month, day })
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }
    /// The month, 1–12.
    pub fn month(self) -> u8 {
        self.month
    }
    /// The day of the month.
    pub fn day(self) -> u8 {
        self.day
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl std::str::FromStr for Date {
    type Err = crate::ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || crate::ValidationError::new("date", "must be written YYYY-MM-DD");
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let y = s[0..4].parse().map_err(|_| bad())?;
        let m = s[5..7].parse().map_err(|_| bad())?;
        let d = s[8..10].parse().map_err(|_| bad())?;
        Date::new(y, m, d)
    }
}

impl TryFrom<String> for Date {
    type Error = crate::ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Date> for String {
    fn from(d: Date) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod date_tests {
    use super::Date;

    #[test]
    fn parses_real_dates_and_refuses_others() {
        assert_eq!(
            "2024-02-29"
                .parse::<Date>()
                .map(|d| d.to_string())
                .ok()
                .as_deref(),
            Some("2024-02-29")
        );
        assert!("2023-02-29".parse::<Date>().is_err());
        assert!("2023-04-31".parse::<Date>().is_err());
        assert!("2023-13-01".parse::<Date>().is_err());
        assert!("20230101".parse::<Date>().is_err());
    }
}
