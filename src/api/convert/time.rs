//! `google.protobuf.Timestamp` <-> domain [`Timestamp`] (UTC microseconds).

use prost_types::Timestamp as PbTimestamp;

use crate::domain::time::{Timestamp, MICROS_PER_SECOND};
use crate::domain::validate::Violations;

/// 0001-01-01T00:00:00Z: the earliest instant `google.protobuf.Timestamp` allows.
pub const MIN_PROTO_SECONDS: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z: the latest whole second `google.protobuf.Timestamp` allows.
pub const MAX_PROTO_SECONDS: i64 = 253_402_300_799;

const NANOS_PER_MICRO: i32 = 1_000;

/// Converts a proto timestamp; nanoseconds are truncated to microseconds (the stored precision).
/// Seconds outside years 1..=9999 or nanos outside `0..1e9` are reported at `field`.
pub fn timestamp_from_proto(
    ts: &PbTimestamp,
    field: impl Into<String> + Copy,
    violations: &mut Violations,
) -> Option<Timestamp> {
    let mut ok = true;
    if !(MIN_PROTO_SECONDS..=MAX_PROTO_SECONDS).contains(&ts.seconds) {
        violations.add(
            field,
            format!(
                "seconds {} is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z",
                ts.seconds
            ),
        );
        ok = false;
    }
    if !(0..1_000_000_000).contains(&ts.nanos) {
        violations.add(
            field,
            format!("nanos {} must be within 0..999999999", ts.nanos),
        );
        ok = false;
    }
    // Within those ranges the product stays far below i64::MAX (about 2.5e17).
    ok.then(|| {
        Timestamp::from_micros(
            ts.seconds * MICROS_PER_SECOND + i64::from(ts.nanos / NANOS_PER_MICRO),
        )
    })
}

/// Like [`timestamp_from_proto`], for a message field that must be set.
pub fn required_timestamp(
    ts: Option<&PbTimestamp>,
    field: impl Into<String> + Copy,
    violations: &mut Violations,
) -> Option<Timestamp> {
    match ts {
        Some(ts) => timestamp_from_proto(ts, field, violations),
        None => {
            violations.add(field, "is required");
            None
        }
    }
}

/// Like [`timestamp_from_proto`], for a message field where absence means "not given".
/// The outer `Option` is `None` when the field is set but invalid.
pub fn optional_timestamp(
    ts: Option<&PbTimestamp>,
    field: impl Into<String> + Copy,
    violations: &mut Violations,
) -> Option<Option<Timestamp>> {
    match ts {
        Some(ts) => timestamp_from_proto(ts, field, violations).map(Some),
        None => Some(None),
    }
}

/// Converts a domain instant; `nanos` is always within `0..1e9` (floored seconds).
pub fn timestamp_to_proto(at: Timestamp) -> PbTimestamp {
    let micros = at.micros();
    PbTimestamp {
        seconds: micros.div_euclid(MICROS_PER_SECOND),
        // rem_euclid is below 1e6, so the cast cannot truncate.
        nanos: (micros.rem_euclid(MICROS_PER_SECOND) as i32) * NANOS_PER_MICRO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pb(seconds: i64, nanos: i32) -> PbTimestamp {
        PbTimestamp { seconds, nanos }
    }

    #[test]
    fn nanos_truncate_to_micros() {
        let mut v = Violations::default();
        let at = timestamp_from_proto(&pb(1_751_284_800, 123_456_789), "t", &mut v);
        assert_eq!(at, Some(Timestamp::from_micros(1_751_284_800_123_456)));
        assert!(v.is_empty());
    }

    #[test]
    fn round_trip_keeps_micros_including_before_epoch() {
        for micros in [
            0,
            1,
            -1,
            -1_500_000,
            1_751_284_800_123_456,
            MIN_PROTO_SECONDS * 1_000_000,
        ] {
            let at = Timestamp::from_micros(micros);
            let proto = timestamp_to_proto(at);
            assert!((0..1_000_000_000).contains(&proto.nanos), "{proto:?}");
            let mut v = Violations::default();
            assert_eq!(timestamp_from_proto(&proto, "t", &mut v), Some(at));
            assert!(v.is_empty());
        }
        assert_eq!(
            timestamp_to_proto(Timestamp::from_micros(-1)),
            pb(-1, 999_999_000)
        );
    }

    #[test]
    fn out_of_range_parts_are_reported_together() {
        let mut v = Violations::default();
        assert_eq!(
            timestamp_from_proto(&pb(i64::MAX, -1), "events[0].occurred_at", &mut v),
            None
        );
        assert_eq!(v.list.len(), 2);
        assert!(v.list.iter().all(|f| f.field == "events[0].occurred_at"));

        let mut v = Violations::default();
        assert!(timestamp_from_proto(&pb(MAX_PROTO_SECONDS, 999_999_999), "t", &mut v).is_some());
        assert!(timestamp_from_proto(&pb(MIN_PROTO_SECONDS - 1, 0), "t", &mut v).is_none());
        assert!(timestamp_from_proto(&pb(0, 1_000_000_000), "t", &mut v).is_none());
        assert_eq!(v.list.len(), 2);
    }

    #[test]
    fn required_and_optional_fields() {
        let mut v = Violations::default();
        assert_eq!(required_timestamp(None, "occurred_at", &mut v), None);
        assert_eq!(v.list[0].field, "occurred_at");
        assert_eq!(v.list[0].description, "is required");

        let mut v = Violations::default();
        assert_eq!(optional_timestamp(None, "as_of", &mut v), Some(None));
        assert_eq!(
            optional_timestamp(Some(&pb(10, 0)), "as_of", &mut v),
            Some(Some(Timestamp::from_seconds(10)))
        );
        assert_eq!(optional_timestamp(Some(&pb(0, -5)), "as_of", &mut v), None);
        assert_eq!(v.list.len(), 1);
    }
}
