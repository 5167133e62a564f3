//! Instants and whole-day arithmetic (spec section 2: days are floored, windows are half-open).

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// A UTC instant with microsecond precision (what both SQLite integers and PostgreSQL keep).
/// Serialised as RFC 3339 text, as in the interchange format; integer microseconds are read too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Reads RFC 3339 with any offset, converted to UTC; digits past microseconds are dropped.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        chrono::DateTime::parse_from_rfc3339(text.trim())
            .ok()
            .map(|t| Self(t.timestamp_micros()))
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an RFC 3339 instant or integer microseconds since 1970")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Timestamp, E> {
                Timestamp::parse_rfc3339(text)
                    .ok_or_else(|| E::custom(format!("{text:?} is not an RFC 3339 instant")))
            }

            fn visit_i64<E: serde::de::Error>(self, micros: i64) -> Result<Timestamp, E> {
                Ok(Timestamp(micros))
            }

            fn visit_u64<E: serde::de::Error>(self, micros: u64) -> Result<Timestamp, E> {
                i64::try_from(micros)
                    .map(Timestamp)
                    .map_err(|_| E::custom("instant out of range"))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn from_seconds(seconds: i64) -> Self {
        Self(seconds * MICROS_PER_SECOND)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    pub const fn minus_days(self, days: i64) -> Self {
        Self(self.0 - days * MICROS_PER_DAY)
    }

    pub const fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0 + seconds * MICROS_PER_SECOND)
    }

    /// `true` when `as_of - days < self <= as_of`.
    pub fn is_within_days(self, as_of: Timestamp, days: i64) -> bool {
        self <= as_of && self > as_of.minus_days(days)
    }

    /// Whole days from `self` to `later`, floored (negative when `later` is earlier).
    pub fn days_until(self, later: Timestamp) -> i64 {
        (later.0 - self.0).div_euclid(MICROS_PER_DAY)
    }

    /// Civil (year, month, day) in UTC, for birthday matching.
    pub fn civil_date(self) -> (i32, u32, u32) {
        civil_from_days(self.0.div_euclid(MICROS_PER_DAY))
    }

    /// RFC 3339 rendering with second precision (microseconds when present).
    pub fn to_rfc3339(self) -> String {
        self.rfc3339().to_string()
    }

    /// [`Timestamp::to_rfc3339`] written straight into a formatter, with no string of its own.
    pub fn rfc3339(self) -> impl std::fmt::Display {
        Rfc3339(self)
    }
}

struct Rfc3339(Timestamp);

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(text) = self.0.rfc3339_text() {
            return f.write_str(text.as_str());
        }
        let (y, m, d) = self.0.civil_date();
        let (h, mi, s, micros) = self.0.time_of_day();
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}{}Z",
            Micros(micros)
        )
    }
}

/// The RFC 3339 text of an instant in the years 0-9999, in a buffer of its own.
pub struct Rfc3339Text {
    bytes: [u8; 27],
    len: usize,
}

impl Rfc3339Text {
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators are written, so this never falls back.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl Timestamp {
    /// Hour, minute, second and microseconds of the day in UTC.
    fn time_of_day(self) -> (i64, i64, i64, i64) {
        let secs_of_day = self.0.div_euclid(MICROS_PER_SECOND).rem_euclid(86_400);
        (
            secs_of_day / 3600,
            secs_of_day % 3600 / 60,
            secs_of_day % 60,
            self.0.rem_euclid(MICROS_PER_SECOND),
        )
    }

    /// [`Timestamp::to_rfc3339`] in fixed-width digits written by hand, for the years 0-9999
    /// (`None` beyond): reasons render instants as facts, and going through the formatting
    /// machinery for each of the seven numbers cost more than the rest of the fact.
    pub fn rfc3339_text(self) -> Option<Rfc3339Text> {
        let (y, m, d) = self.civil_date();
        let year @ 0..=9999 = u16::try_from(y).ok()? else {
            return None;
        };
        let (h, mi, s, micros) = self.time_of_day();
        let mut bytes = *b"0000-00-00T00:00:00.000000Z";
        put_digits(&mut bytes[0..4], u64::from(year));
        put_digits(&mut bytes[5..7], u64::from(m));
        put_digits(&mut bytes[8..10], u64::from(d));
        put_digits(&mut bytes[11..13], h as u64);
        put_digits(&mut bytes[14..16], mi as u64);
        put_digits(&mut bytes[17..19], s as u64);
        let len = if micros == 0 {
            bytes[19] = b'Z';
            20
        } else {
            put_digits(&mut bytes[20..26], micros as u64);
            27
        };
        Some(Rfc3339Text { bytes, len })
    }
}

/// Writes `value` as decimal digits filling `out`, zero-padded on the left.
fn put_digits(out: &mut [u8], mut value: u64) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// `.ffffff` when there are microseconds, nothing otherwise.
struct Micros(i64);

impl std::fmt::Display for Micros {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == 0 {
            Ok(())
        } else {
            write!(f, ".{:06}", self.0)
        }
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_floored() {
        let a = Timestamp::from_seconds(0);
        assert_eq!(a.days_until(Timestamp::from_seconds(86_399)), 0);
        assert_eq!(a.days_until(Timestamp::from_seconds(86_400)), 1);
        assert_eq!(a.days_until(Timestamp::from_seconds(-1)), -1);
    }

    #[test]
    fn within_window_is_half_open() {
        let as_of = Timestamp::from_seconds(100 * 86_400);
        assert!(as_of.is_within_days(as_of, 30));
        assert!(!as_of.minus_days(30).is_within_days(as_of, 30));
        assert!(Timestamp(as_of.minus_days(30).0 + 1).is_within_days(as_of, 30));
        assert!(!Timestamp(as_of.0 + 1).is_within_days(as_of, 30));
    }

    #[test]
    fn serde_uses_rfc3339_and_reads_micros_too() {
        let at = Timestamp::from_micros(1_751_284_800_000_123);
        let json = serde_json::to_string(&at).unwrap();
        assert_eq!(json, "\"2025-06-30T12:00:00.000123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), at);
        assert_eq!(
            serde_json::from_str::<Timestamp>("1751284800000123").unwrap(),
            at
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2025-06-30T20:00:00+08:00"),
            Some(Timestamp::from_seconds(1_751_284_800))
        );
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }

    /// The hand-written digits agree with the formatting machinery over years 0 to 9999, and
    /// instants outside them still read as before.
    #[test]
    fn rfc3339_digits_agree_with_formatted_ones() {
        let formatted = |at: Timestamp| {
            let (y, m, d) = at.civil_date();
            let secs = at.micros().div_euclid(MICROS_PER_SECOND).rem_euclid(86_400);
            let micros = at.micros().rem_euclid(MICROS_PER_SECOND);
            let (h, mi, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
            if micros == 0 {
                format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
            } else {
                format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{micros:06}Z")
            }
        };
        let first = days_from_civil(0, 1, 1) * MICROS_PER_DAY;
        let last = days_from_civil(10_000, 1, 1) * MICROS_PER_DAY - 1;
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut instants = vec![first, last, first - 1, last + 1, 0, -1, i64::MIN / 2];
        for _ in 0..50_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let micros = first + (state % (last - first) as u64) as i64;
            instants.push(micros);
            instants.push(micros - micros.rem_euclid(MICROS_PER_SECOND));
        }
        for micros in instants {
            let at = Timestamp::from_micros(micros);
            assert_eq!(at.to_rfc3339(), formatted(at), "{micros}");
        }
        assert_eq!(
            Timestamp::from_micros(last).to_rfc3339(),
            "9999-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            Timestamp::from_micros(last + 1).to_rfc3339(),
            "10000-01-01T00:00:00Z"
        );
    }

    #[test]
    fn civil_round_trip() {
        for days in [-800_000, -1, 0, 59, 60, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(
            Timestamp::from_seconds(0).to_rfc3339(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_seconds(1_751_284_800).to_rfc3339(),
            "2025-06-30T12:00:00Z"
        );
    }
}
