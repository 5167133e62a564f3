//! Values as a reason's facts show them. An explained classification renders about 140 of
//! them, mostly counts, days and rounded shares, on every Classify call. Numbers are written
//! with a digit loop rather than through `core::fmt`, into texts kept inline rather than on
//! the heap; the text is exactly what `Display` gives, which the tests below check value by
//! value.

use std::fmt::Write;

use compact_str::{CompactString, ToCompactString};

use super::{Deferred, OrNone, RfmScores};
use crate::domain::features::Fraction;
use crate::domain::rules::Share;
use crate::domain::time::Timestamp;

/// A fact's text. Nearly every value is a number, a code or an instant of at most 24 bytes,
/// kept inline: a heap string each cost a Classify call about 140 allocations and frees.
pub type FactText = CompactString;

/// A value a reason records, written as text only when the reason is recorded.
pub trait FactValue {
    fn into_text(self) -> FactText;
}

/// The ASCII text of one number, built right to left in a fixed buffer.
struct NumberText {
    bytes: [u8; NUMBER_TEXT_CAPACITY],
    start: usize,
}

/// Room for any text [`NumberText`] writes: a `u64` has at most 20 digits, and a scaled
/// double at most 10 whole digits, a point, 6 decimals and a sign.
const NUMBER_TEXT_CAPACITY: usize = 24;

/// `"00"`, `"01"`, .. `"99"`: two digits per division halve the divisions of a long number.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

impl NumberText {
    fn empty() -> Self {
        Self {
            bytes: [0; NUMBER_TEXT_CAPACITY],
            start: NUMBER_TEXT_CAPACITY,
        }
    }

    fn push_front(&mut self, byte: u8) {
        self.start -= 1;
        self.bytes[self.start] = byte;
    }

    /// The two digits of `pair` (below 100).
    fn push_pair(&mut self, pair: u64) {
        let at = pair as usize * 2;
        self.start -= 2;
        self.bytes[self.start..self.start + 2].copy_from_slice(&DIGIT_PAIRS[at..at + 2]);
    }

    /// Exactly `width` digits of `value`, zero-padded on the left.
    fn push_digits_of_width(&mut self, mut value: u64, mut width: u32) {
        while width >= 2 {
            self.push_pair(value % 100);
            value /= 100;
            width -= 2;
        }
        if width == 1 {
            self.push_front(b'0' + (value % 10) as u8);
        }
    }

    fn push_digits(&mut self, mut magnitude: u64) {
        while magnitude >= 100 {
            self.push_pair(magnitude % 100);
            magnitude /= 100;
        }
        if magnitude >= 10 {
            self.push_pair(magnitude);
        } else {
            self.push_front(b'0' + magnitude as u8);
        }
    }

    fn unsigned(value: u64) -> Self {
        let mut text = Self::empty();
        text.push_digits(value);
        text
    }

    /// `units / 10^places` written with at most `places` decimals, trailing zeros and a
    /// trailing point dropped: `scaled(12_300, 4)` is `1.23`, `scaled(-5, 1)` is `-0.5`.
    fn scaled(units: i64, places: u32) -> Self {
        let mut text = Self::empty();
        let scale = 10u64.pow(places);
        let magnitude = units.unsigned_abs();
        let (whole, mut decimals) = (magnitude / scale, magnitude % scale);
        if decimals != 0 {
            // Trailing zeros are dropped three, then two, then one at a time.
            let mut width = places;
            for step in [1_000u64, 100, 10] {
                let digits = step.ilog10();
                while width > digits && decimals % step == 0 {
                    decimals /= step;
                    width -= digits;
                }
            }
            text.push_digits_of_width(decimals, width);
            text.push_front(b'.');
        }
        text.push_digits(whole);
        if units < 0 {
            text.push_front(b'-');
        }
        text
    }

    /// The text `Display` gives the double `value`, when `value` is a decimal of at most six
    /// places small enough that its shortest round-trip text is that decimal (beyond about
    /// 10^9 a double's spacing nears 10^-4 and the shortcut would be unsafe).
    fn decimal_f64(value: f64) -> Option<Self> {
        const LIMIT: f64 = (1u64 << 30) as f64;
        const PLACES: u32 = 6;
        const SCALE: f64 = 1e6;
        if value.is_nan() || value.abs() >= LIMIT {
            return None;
        }
        if value == 0.0 && value.is_sign_negative() {
            let mut text = Self::unsigned(0);
            text.push_front(b'-');
            return Some(text);
        }
        // The nearest decimal of six places, kept only if it reads back as `value`: then no
        // shorter text reads back (two such decimals lie 10^-6 apart, far more than the
        // spacing of doubles below 2^30), and `scaled` drops its trailing zeros. `units` is
        // below 2^30 * 10^6, so exact as a double. Rounded by adding a half and truncating
        // (no call into libm): a candidate off by one would only fail the check.
        let units = (value * SCALE + 0.5f64.copysign(value)) as i64;
        (units as f64 / SCALE == value).then(|| Self::scaled(units, PLACES))
    }

    fn as_str(&self) -> &str {
        let written = &self.bytes[self.start..];
        debug_assert!(written
            .iter()
            .all(|b| b.is_ascii_digit() || b"-.".contains(b)));
        // SAFETY: only ASCII digits, '-' and '.' are ever written (the pushes above take
        // digits from `DIGIT_PAIRS` or `b'0' + d` with `d < 10`), and ASCII is UTF-8. Checking
        // it again cost a fact about a third of its text.
        unsafe { std::str::from_utf8_unchecked(written) }
    }
}

/// Any value through `core::fmt`, for the few kinds without a shortcut.
fn shown(value: impl std::fmt::Display) -> FactText {
    let mut text = FactText::default();
    let _ = write!(text, "{value}");
    text
}

/// Integers through compact_str's own digit writer, which fills the inline text directly:
/// no buffer of ours to clear, validate and copy from.
macro_rules! fact_value_for_integers {
    ($($int:ty),+) => {$(
        impl FactValue for $int {
            fn into_text(self) -> FactText {
                self.to_compact_string()
            }
        }
    )+};
}
fact_value_for_integers!(i32, i64, u32, u8, u64, usize);

/// A double as `Display` writes it, through the digit loop when it is a decimal of up to
/// six places (every share, rounded value and mean a reason shows) and `core::fmt` otherwise.
impl FactValue for f64 {
    fn into_text(self) -> FactText {
        match NumberText::decimal_f64(self) {
            Some(text) => FactText::new(text.as_str()),
            None => shown(self),
        }
    }
}

impl FactValue for bool {
    fn into_text(self) -> FactText {
        FactText::const_new(if self { "true" } else { "false" })
    }
}

impl FactValue for &str {
    fn into_text(self) -> FactText {
        FactText::new(self)
    }
}

impl FactValue for &String {
    fn into_text(self) -> FactText {
        FactText::new(self)
    }
}

impl FactValue for String {
    fn into_text(self) -> FactText {
        FactText::from(self)
    }
}

impl<T: FactValue> FactValue for OrNone<T> {
    fn into_text(self) -> FactText {
        match self.0 {
            Some(value) => value.into_text(),
            None => FactText::const_new("none"),
        }
    }
}

impl<F: FnOnce() -> T, T: FactValue> FactValue for Deferred<F> {
    fn into_text(self) -> FactText {
        (self.0)().into_text()
    }
}

/// As `Display` shows a fraction: whole numbers bare, others rounded to four decimals.
impl FactValue for Fraction {
    fn into_text(self) -> FactText {
        let value = self.to_f64();
        if value.fract() != 0.0 {
            ((value * 10_000.0).round() / 10_000.0).into_text()
        } else if let Some(text) = NumberText::decimal_f64(value) {
            FactText::new(text.as_str())
        } else {
            shown(format_args!("{value:.0}"))
        }
    }
}

/// The `R-F-M` code, as [`RfmScores::code`] writes it.
impl FactValue for RfmScores {
    fn into_text(self) -> FactText {
        let mut text = FactText::default();
        for (i, score) in [self.recency, self.frequency, self.monetary]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                text.push('-');
            }
            text.push_str(&score.to_compact_string());
        }
        text
    }
}

impl FactValue for Share {
    fn into_text(self) -> FactText {
        (self.ppm as f64 / 1_000_000.0).into_text()
    }
}

/// An instant reads as RFC 3339, as everywhere else in the API.
impl FactValue for Timestamp {
    fn into_text(self) -> FactText {
        match self.rfc3339_text() {
            Some(text) => FactText::new(text.as_str()),
            None => shown(self.rfc3339()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: impl FactValue) -> String {
        value.into_text().into_string()
    }

    #[test]
    fn integers_read_as_display_writes_them() {
        for value in [
            0i64,
            1,
            -1,
            9,
            10,
            99,
            100,
            -100,
            12_345,
            i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(text(value), value.to_string());
        }
        for value in [0u64, 7, 10, 1_000_000, u64::MAX] {
            assert_eq!(text(value), value.to_string());
        }
        assert_eq!(text(u32::MAX), u32::MAX.to_string());
        assert_eq!(text(i32::MIN), i32::MIN.to_string());
        assert_eq!(text(usize::MAX), usize::MAX.to_string());
    }

    #[test]
    fn rfm_scores_read_as_their_code() {
        for ((recency, frequency, monetary), code) in [
            ((1, 1, 1), "1-1-1"),
            ((5, 3, 4), "5-3-4"),
            ((10, 0, 123), "10-0-123"),
            ((u32::MAX, 7, 0), "4294967295-7-0"),
        ] {
            let scores = RfmScores {
                recency,
                frequency,
                monetary,
            };
            assert_eq!(text(scores), code);
        }
    }

    #[test]
    fn scaled_units_drop_trailing_zeros_and_point() {
        assert_eq!(NumberText::scaled(12_300, 4).as_str(), "1.23");
        assert_eq!(NumberText::scaled(10_000, 4).as_str(), "1");
        assert_eq!(NumberText::scaled(5, 4).as_str(), "0.0005");
        assert_eq!(NumberText::scaled(-5, 1).as_str(), "-0.5");
        assert_eq!(NumberText::scaled(0, 3).as_str(), "0");
        assert_eq!(NumberText::scaled(-120, 0).as_str(), "-120");
    }

    /// `count` deterministic pseudo-random numbers from `seed`.
    fn xorshift(mut state: u64, count: usize) -> impl Iterator<Item = u64> {
        (0..count).map(move |_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        })
    }

    /// A deterministic spread of doubles: rounded shares, means, halves, and arbitrary ones
    /// that must fall back to `core::fmt`.
    fn sample_doubles() -> Vec<f64> {
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.2,
            0.3,
            0.35,
            1.0 / 3.0,
            2.0 / 3.0,
            0.8,
            -0.00001,
            1e-7,
            123_456.789,
            1e9,
            1e15,
            1e21,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1_073_741_823.5,
            1_073_741_824.25,
        ];
        for state in xorshift(0x9E37_79B9_7F4A_7C15, 20_000) {
            let raw = (state % 2_000_000_001) as f64 - 1_000_000_000.0;
            let value = raw / 10f64.powi((state % 9) as i32);
            values.push(value);
            values.push((value * 10_000.0).round() / 10_000.0);
            values.push((value * 100.0).round() / 100.0);
            values.push((state % 1_000_001) as f64 / 1_000_000.0);
            values.push((state % 4_001) as f64 / 2.0);
            values.push(f64::from_bits(state));
        }
        values
    }

    #[test]
    fn doubles_read_as_display_writes_them() {
        for value in sample_doubles() {
            assert_eq!(
                text(value),
                value.to_string(),
                "bits {:#x}",
                value.to_bits()
            );
        }
    }

    #[test]
    fn fractions_and_shares_read_as_display_writes_them() {
        for state in xorshift(0x2545_F491_4F6C_DD1D, 20_000) {
            let numerator = (state % 20_001) as i128 - 10_000;
            let denominator = (state >> 20) as i128 % 997 + 1;
            let fraction = Fraction::new(numerator, denominator).expect("non-zero denominator");
            assert_eq!(text(fraction), fraction.to_string());
            let share = Share {
                ppm: (state % 3_000_001) as i64 - 1_000_000,
            };
            assert_eq!(text(share), share.to_string());
        }
        let huge = Fraction::new(1 << 100, 1).expect("non-zero denominator");
        assert_eq!(text(huge), huge.to_string());
    }

    #[test]
    fn instants_read_as_rfc3339() {
        let at = Timestamp::from_seconds(1_700_000_000);
        assert_eq!(text(at), at.to_rfc3339());
    }

    #[test]
    fn optional_and_deferred_values() {
        assert_eq!(text(OrNone::<u32>(None)), "none");
        assert_eq!(text(OrNone(Some(0.25))), "0.25");
        assert_eq!(text(Deferred(|| 42u64)), "42");
        assert_eq!(text(Deferred(|| String::from("5-3-4"))), "5-3-4");
        assert_eq!(text(true), "true");
    }
}
