//! Protobuf written straight from domain values where building the messages first is most of
//! the cost: classifications in either view, `ClassifyResponse`s that carry one, and
//! `BatchClassifyResponse`s whose results were encoded by the threads that classified them.
//!
//! A nightly sync streams a million classifications. Built as `pb` messages and encoded by
//! prost, each costs a dozen string copies, and an encoding whose nested lengths are computed
//! once per level above them (four levels here), all on the one task that writes the stream.
//! Written here, in one pass (each length is written after its content), and on every core.
//! A full classification is ~8 KB of rendered reasons: as `pb` messages, every rule and fact
//! name is copied into a `String` of its own only to be encoded and freed, which is most of a
//! Classify call's allocation. The bytes are the ones prost writes for the same message (tests
//! compare them).

use prost::bytes::{Buf, BufMut, Bytes};
use prost::encoding::{
    self, encode_key, encode_varint, encoded_len_varint, key_len, DecodeContext, WireType,
};
use prost::{DecodeError, Message};

use super::convert::{
    dimension_to_proto, features_to_proto, predictive_scores_to_proto, timestamp_to_proto,
    Presentation, View,
};
use super::pb;
use crate::domain::dimensions::{Assignment, Classification, CodesOnly, Fact, Reason, RfmScores};
use crate::domain::population::SnapshotInfo;
use crate::domain::predictive::CustomerPrediction;
use crate::domain::rules::{Locale, RuleSet, VersionedRules};
use crate::domain::time::Timestamp;

/// `segmenter.v1.BatchClassifyResponse`. Besides `results`, it may carry results already in
/// wire form ([`BatchClassifyResponse::encoded`]), sent after them. A decoded response holds
/// every result in `results`.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct BatchClassifyResponse {
    /// Results in request order.
    pub results: Vec<pb::BatchClassifyResult>,
    /// Field-1 entries (`BatchClassifyResult`s with their keys and lengths), as written by
    /// [`encode_result`].
    encoded: Bytes,
}

impl BatchClassifyResponse {
    /// A response of built results, as prost would make it.
    pub fn of(results: Vec<pb::BatchClassifyResult>) -> Self {
        Self {
            results,
            encoded: Bytes::new(),
        }
    }

    /// A response of results written by [`encode_result`].
    pub fn encoded(results: Bytes) -> Self {
        Self {
            results: Vec::new(),
            encoded: results,
        }
    }
}

const RESULTS: u32 = 1;

impl Message for BatchClassifyResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        encoding::message::encode_repeated(RESULTS, &self.results, buf);
        buf.put_slice(&self.encoded);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        if tag == RESULTS {
            encoding::message::merge_repeated(wire_type, &mut self.results, buf, ctx)
        } else {
            encoding::skip_field(wire_type, tag, buf, ctx)
        }
    }

    fn encoded_len(&self) -> usize {
        encoding::message::encoded_len_repeated(RESULTS, &self.results) + self.encoded.len()
    }

    fn clear(&mut self) {
        self.results.clear();
        self.encoded = Bytes::new();
    }
}

/// `segmenter.v1.ClassifyResponse`, whose classification may be a domain one written in the
/// caller's presentation when the response is made ([`ClassifyResponse::written`]): no `pb`
/// messages, and the transport copies the finished bytes in one slice. A decoded response
/// holds it in `classification`.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct ClassifyResponse {
    pub classification: Option<pb::Classification>,
    /// An encoded `Classification`, without its key and length.
    written: Option<Vec<u8>>,
}

impl ClassifyResponse {
    /// A response of a built classification, as prost would make it.
    pub fn of(classification: pb::Classification) -> Self {
        Self {
            classification: Some(classification),
            written: None,
        }
    }

    /// A response that writes `classification` as `present_classification` would present it.
    pub fn written(
        classification: &Classification,
        rules: &VersionedRules,
        presentation: Presentation,
    ) -> Self {
        let mut written = Vec::with_capacity(typical_len(presentation.view));
        encode_presented(classification, &rules.rules, presentation, &mut written);
        Self {
            classification: None,
            written: Some(written),
        }
    }
}

const CLASSIFICATION: u32 = 1;

impl Message for ClassifyResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if let Some(classification) = &self.classification {
            encoding::message::encode(CLASSIFICATION, classification, buf);
        } else if let Some(written) = &self.written {
            // Written beforehand into a plain vector and handed over in one slice: through
            // tonic's buffer every tag and length byte was a call of its own, a twentieth
            // of a Classify call's cost.
            encode_key(CLASSIFICATION, WireType::LengthDelimited, buf);
            encode_varint(written.len() as u64, buf);
            buf.put_slice(written);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        if tag == CLASSIFICATION {
            let classification = self.classification.get_or_insert_with(Default::default);
            encoding::message::merge(wire_type, classification, buf, ctx)
        } else {
            encoding::skip_field(wire_type, tag, buf, ctx)
        }
    }

    fn encoded_len(&self) -> usize {
        match (&self.classification, &self.written) {
            (Some(classification), _) => {
                encoding::message::encoded_len(CLASSIFICATION, classification)
            }
            (None, Some(written)) => length_delimited_len(CLASSIFICATION, written.len()),
            (None, None) => 0,
        }
    }

    fn clear(&mut self) {
        self.classification = None;
        self.written = None;
    }
}

/// Appends one `BatchClassifyResult` as a field-1 entry of a `BatchClassifyResponse`: its
/// `outcome` is left out, and `classification` (an encoded `Classification`, see
/// [`encode_presented`]) stands in for it when given.
pub fn encode_result(
    result: &pb::BatchClassifyResult,
    classification: Option<&[u8]>,
    out: &mut Vec<u8>,
) {
    let classification_len = classification.map_or(0, |c| length_delimited_len(3, c.len()));
    let len = result.encoded_len() + classification_len;
    put_key(RESULTS, WireType::LengthDelimited, out);
    put_varint(len as u64, out);
    result.encode_raw(out);
    if let Some(classification) = classification {
        encode_bytes(3, classification, out);
    }
}

/// Room to reserve for an encoded classification: most fit, so most are written without
/// growing their buffer.
pub fn typical_len(view: View) -> usize {
    match view {
        View::Codes => 512,
        View::Full => 12 * 1024,
    }
}

/// `classification` encoded in the caller's presentation: the bytes prost writes for
/// `present_classification` of it. The codes view has one writer, [`encode_codes_only`].
pub fn encode_presented(
    classification: &Classification,
    rules: &RuleSet,
    presentation: Presentation,
    out: &mut Vec<u8>,
) {
    match presentation.view {
        View::Codes => encode_codes_only(
            &Heading::of(classification),
            &CodesOnly::of(classification),
            out,
        ),
        View::Full => encode_full(classification, rules, presentation.locale, out),
    }
}

/// The full view: fields in tag order, as prost writes them, with display names from the rule
/// set in the locale, reasons, secondary traits and features.
fn encode_full(c: &Classification, rules: &RuleSet, locale: Locale, out: &mut Vec<u8>) {
    encode_heading(&Heading::of(c), out);
    for assignment in &c.assignments {
        nested(6, out, |out| {
            encode_assignment(assignment, rules, locale, out)
        });
    }
    encode_rfm_scores(c.rfm_scores.as_ref(), out);
    encoding::message::encode(8, &features_to_proto(&c.features), out);
    encode_prediction(c.prediction.as_ref(), out);
}

/// The codes view: a customer's codes, pin flags and scores, from a codes-only classification
/// ([`classify_codes_only`](crate::domain::dimensions)) or a full one ([`CodesOnly::of`]).
pub fn encode_codes_only(heading: &Heading<'_>, codes: &CodesOnly, out: &mut Vec<u8>) {
    encode_heading(heading, out);
    for (dimension, code) in codes.codes.iter() {
        nested(6, out, |out| {
            encode_varint_field(1, dimension_to_proto(dimension) as u64, out);
            encode_string(2, code, out);
            encode_true(4, codes.pinned[dimension as usize], out);
        });
    }
    encode_rfm_scores(codes.rfm_scores.as_ref(), out);
    encode_prediction(codes.prediction.as_ref(), out);
}

/// What a classification message says before its assignments.
pub struct Heading<'a> {
    pub customer_id: &'a str,
    pub known: bool,
    pub as_of: Timestamp,
    pub rule_set_version: &'a str,
    pub snapshot: &'a SnapshotInfo,
}

impl<'a> Heading<'a> {
    pub fn of(c: &'a Classification) -> Self {
        Self {
            customer_id: &c.customer_id,
            known: c.known,
            as_of: c.as_of,
            rule_set_version: &c.rule_set_version,
            snapshot: &c.snapshot,
        }
    }
}

fn encode_heading(heading: &Heading<'_>, out: &mut Vec<u8>) {
    encode_string(1, heading.customer_id, out);
    encode_true(2, heading.known, out);
    encode_timestamp(3, heading.as_of, out);
    encode_string(4, heading.rule_set_version, out);
    nested(5, out, |out| {
        let info = heading.snapshot;
        encode_string(1, &info.id, out);
        encode_timestamp(2, info.as_of, out);
        encode_varint_field(3, info.active_buyers, out);
        encode_varint_field(4, info.customers, out);
    });
}

fn encode_rfm_scores(scores: Option<&RfmScores>, out: &mut Vec<u8>) {
    if let Some(scores) = scores {
        nested(7, out, |out| {
            encode_varint_field(1, scores.recency.into(), out);
            encode_varint_field(2, scores.frequency.into(), out);
            encode_varint_field(3, scores.monetary.into(), out);
        });
    }
}

fn encode_prediction(prediction: Option<&CustomerPrediction>, out: &mut Vec<u8>) {
    if let Some(prediction) = prediction {
        encoding::message::encode(9, &predictive_scores_to_proto(prediction), out);
    }
}

/// A length-delimited field whose content `write` appends. The length is known only once the
/// content is written, so it is written after it, into a byte kept free before it; the rare
/// content of 128 bytes or more moves right to make room for a longer length. One pass: a
/// length measured beforehand would walk every reason once more per level above it.
fn nested(tag: u32, out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    put_key(tag, WireType::LengthDelimited, out);
    let at = out.len();
    out.push(0);
    write(out);
    let len = out.len() - at - 1;
    let width = encoded_len_varint(len as u64);
    match width {
        1 => {}
        // An assignment with its reasons is usually over 127 bytes: one move, no splice.
        2 => out.insert(at + 1, 0),
        _ => drop(out.splice(at + 1..at + 1, std::iter::repeat_n(0, width - 1))),
    }
    let mut prefix = &mut out[at..at + width];
    encode_varint(len as u64, &mut prefix);
}

/// An `Assignment`'s fields in the full view.
fn encode_assignment(assignment: &Assignment, rules: &RuleSet, locale: Locale, out: &mut Vec<u8>) {
    // An enum is an int32, and prost writes a negative one as ten bytes: sign-extended.
    encode_varint_field(1, dimension_to_proto(assignment.dimension) as u64, out);
    encode_string(2, &assignment.code, out);
    let name = rules.display_name(assignment.dimension, &assignment.code, locale);
    encode_string(3, name, out);
    encode_true(4, assignment.pinned, out);
    for reason in &assignment.reasons {
        nested(5, out, |out| encode_reason(reason, out));
    }
    // Repeated strings are written even when empty.
    for name in &assignment.secondary_traits {
        encode_bytes(6, name.as_bytes(), out);
    }
}

/// A `Reason`'s fields.
fn encode_reason(reason: &Reason, out: &mut Vec<u8>) {
    encode_string(1, &reason.rule, out);
    if reason.matched {
        encoding::bool::encode(2, &true, out);
    }
    for (tag, facts) in [(3, reason.observed_facts()), (4, reason.threshold_facts())] {
        for fact in facts {
            encode_fact(tag, fact, out);
        }
    }
}

/// One `Fact` message, field `tag` of its reason. A classification holds about 140; nearly
/// every one, with both its texts, is under 128 bytes, so each of its keys and lengths is a
/// single byte: they go in two small copies instead of six pushes that each check for room.
fn encode_fact(tag: u32, fact: &Fact, out: &mut Vec<u8>) {
    let (name, value) = (fact.name.as_bytes(), fact.value.as_bytes());
    let len = 4 + name.len() + value.len();
    if name.is_empty() || value.is_empty() || len >= 0x80 {
        let len = string_len(1, &fact.name) + string_len(2, &fact.value);
        put_key(tag, WireType::LengthDelimited, out);
        put_varint(len as u64, out);
        encode_string(1, &fact.name, out);
        encode_string(2, &fact.value, out);
        return;
    }
    out.reserve(2 + len);
    out.extend_from_slice(&[
        short_string_key(tag),
        len as u8,
        short_string_key(1),
        name.len() as u8,
    ]);
    out.extend_from_slice(name);
    out.extend_from_slice(&[short_string_key(2), value.len() as u8]);
    out.extend_from_slice(value);
}

/// The one-byte key of length-delimited field `tag` (below 16).
const fn short_string_key(tag: u32) -> u8 {
    debug_assert!(tag < 16);
    (tag << 3 | WireType::LengthDelimited as u32) as u8
}

/// A varint field as proto3 writes it: left out when zero. Prost writes the small messages of
/// a classification (instants, snapshot, scores) through the generic buffer interface, at
/// about 30 instructions a varint; a nightly sync writes some 40 of them per customer.
fn encode_varint_field(tag: u32, value: u64, out: &mut Vec<u8>) {
    if value != 0 {
        put_key(tag, WireType::Varint, out);
        put_varint(value, out);
    }
}

/// A bool field: written only when true.
fn encode_true(tag: u32, value: bool, out: &mut Vec<u8>) {
    encode_varint_field(tag, u64::from(value), out);
}

/// A `google.protobuf.Timestamp` field, always present.
fn encode_timestamp(tag: u32, at: Timestamp, out: &mut Vec<u8>) {
    let at = timestamp_to_proto(at);
    nested(tag, out, |out| {
        encode_varint_field(1, at.seconds as u64, out);
        encode_varint_field(2, at.nanos as u64, out);
    });
}

/// The length of a string field as [`encode_string`] writes it.
fn string_len(tag: u32, value: &str) -> usize {
    if value.is_empty() {
        0
    } else {
        length_delimited_len(tag, value.len())
    }
}

/// A string field as proto3 writes it: left out when empty.
fn encode_string(tag: u32, value: &str, out: &mut Vec<u8>) {
    if !value.is_empty() {
        encode_bytes(tag, value.as_bytes(), out);
    }
}

fn encode_bytes(tag: u32, value: &[u8], out: &mut Vec<u8>) {
    put_key(tag, WireType::LengthDelimited, out);
    put_varint(value.len() as u64, out);
    out.extend_from_slice(value);
}

/// A field key, as prost's `encode_key` writes it.
fn put_key(tag: u32, wire_type: WireType, out: &mut Vec<u8>) {
    put_varint(u64::from(tag << 3 | wire_type as u32), out);
}

/// A varint, as prost's `encode_varint` writes it. Written for a plain vector: through the
/// generic buffer interface each byte checked for room on its own, and a response holds
/// some 450 tags and lengths, nearly all of one byte.
#[inline]
fn put_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn length_delimited_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
