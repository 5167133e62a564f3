//! Protobuf written straight from domain values where building the messages first is most of
//! the cost: classifications in either view, `ClassifyResponse`s that carry one, and
//! `BatchClassifyResponse`s whose results were encoded by the threads that classified them.
//!
//! A nightly sync streams a million classifications. Built as `pb` messages and encoded by
//! prost, each costs a dozen string copies, and an encoding whose nested lengths are computed
//! once per level above them (four levels here), all on the one task that writes the stream.
//! Written here, each length is computed once, and on every core. A full classification is
//! ~8 KB of rendered reasons: as `pb` messages, every rule and fact name is copied into a
//! `String` of its own only to be encoded and freed, which is most of a Classify call's
//! allocation. The bytes are the ones prost writes for the same message (tests compare them).

use std::sync::{Arc, OnceLock};

use prost::bytes::{Buf, BufMut, Bytes};
use prost::encoding::{
    self, encode_key, encode_varint, encoded_len_varint, key_len, DecodeContext, WireType,
};
use prost::{DecodeError, Message};

use super::convert::{
    dimension_to_proto, features_to_proto, predictive_scores_to_proto, rfm_scores_to_proto,
    snapshot_info_to_proto, timestamp_to_proto, Presentation, View,
};
use super::pb;
use crate::domain::dimensions::{Assignment, Classification, Fact, Reason};
use crate::domain::rules::{Locale, RuleSet, VersionedRules};

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

/// `segmenter.v1.ClassifyResponse`, whose classification may be a domain one that is written
/// in the caller's presentation straight into the transport's buffer
/// ([`ClassifyResponse::written`]): no `pb` messages, no buffer of its own to copy from. A
/// decoded response holds it in `classification`.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct ClassifyResponse {
    pub classification: Option<pb::Classification>,
    written: Option<Box<Written>>,
}

/// A classification to write, with what presenting it needs.
#[derive(Clone, Debug)]
struct Written {
    classification: Classification,
    rules: Arc<VersionedRules>,
    presentation: Presentation,
    /// The lengths of the encoded classification and its parts: prost asks for the whole
    /// length before writing, and writing needs every part's again for its prefix.
    lengths: OnceLock<Lengths>,
}

impl Written {
    fn detail(&self) -> Detail<'_> {
        detail_of(&self.rules.rules, self.presentation)
    }

    fn lengths(&self) -> &Lengths {
        self.lengths
            .get_or_init(|| Lengths::of(&self.classification, self.detail()))
    }
}

/// Two responses are equal when they send the same bytes.
impl PartialEq for Written {
    fn eq(&self, other: &Self) -> bool {
        let mut mine = Vec::new();
        let mut theirs = Vec::new();
        encode_with(
            &self.classification,
            self.detail(),
            self.lengths(),
            &mut mine,
        );
        encode_with(
            &other.classification,
            other.detail(),
            other.lengths(),
            &mut theirs,
        );
        mine == theirs
    }
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
        classification: Classification,
        rules: Arc<VersionedRules>,
        presentation: Presentation,
    ) -> Self {
        Self {
            classification: None,
            written: Some(Box::new(Written {
                classification,
                rules,
                presentation,
                lengths: OnceLock::new(),
            })),
        }
    }
}

const CLASSIFICATION: u32 = 1;

impl Message for ClassifyResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if let Some(classification) = &self.classification {
            encoding::message::encode(CLASSIFICATION, classification, buf);
        } else if let Some(written) = &self.written {
            let lengths = written.lengths();
            encode_key(CLASSIFICATION, WireType::LengthDelimited, buf);
            encode_varint(lengths.classification as u64, buf);
            encode_with(&written.classification, written.detail(), lengths, buf);
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
            (None, Some(written)) => {
                length_delimited_len(CLASSIFICATION, written.lengths().classification)
            }
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
    encode_key(RESULTS, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
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
/// `present_classification` of it.
pub fn encode_presented(
    classification: Classification,
    rules: &RuleSet,
    presentation: Presentation,
    out: &mut Vec<u8>,
) {
    let detail = detail_of(rules, presentation);
    let lengths = Lengths::of(&classification, detail);
    encode_with(&classification, detail, &lengths, out);
}

fn detail_of(rules: &RuleSet, presentation: Presentation) -> Detail<'_> {
    match presentation.view {
        View::Codes => Detail::Codes,
        View::Full => Detail::Full(rules, presentation.locale),
    }
}

/// What an encoded classification carries besides codes.
#[derive(Clone, Copy)]
enum Detail<'r> {
    Codes,
    /// Display names from the rule set in the locale, reasons, secondary traits and features.
    Full(&'r RuleSet, Locale),
}

/// The lengths of what [`encode_with`] writes, each measured once. A message's length comes
/// before its fields, so measuring on the way down would measure every reason once per level
/// above it.
#[derive(Clone, Debug)]
struct Lengths {
    classification: usize,
    /// Per assignment, in order.
    assignments: Vec<usize>,
    /// Per reason of every assignment, in order; empty in the codes view.
    reasons: Vec<usize>,
}

impl Lengths {
    fn of(c: &Classification, detail: Detail<'_>) -> Self {
        let mut reasons = Vec::new();
        if let Detail::Full(..) = detail {
            reasons.extend(
                c.assignments
                    .iter()
                    .flat_map(|a| &a.reasons)
                    .map(reason_len),
            );
        }
        let mut assignments = Vec::with_capacity(c.assignments.len());
        let mut reasons_before = 0;
        for a in &c.assignments {
            let own = reasons_of(a, detail, &reasons, reasons_before);
            reasons_before += own.len();
            assignments.push(assignment_len(a, display_name(a, detail), detail, own));
        }
        let mut len = string_len(1, &c.customer_id)
            + if c.known { key_len(2) + 1 } else { 0 }
            + encoding::message::encoded_len(3, &timestamp_to_proto(c.as_of))
            + string_len(4, &c.rule_set_version)
            + encoding::message::encoded_len(5, &snapshot_info_to_proto(&c.snapshot));
        len += assignments
            .iter()
            .map(|&a| length_delimited_len(6, a))
            .sum::<usize>();
        if let Some(scores) = &c.rfm_scores {
            len += encoding::message::encoded_len(7, &rfm_scores_to_proto(scores));
        }
        if let Detail::Full(..) = detail {
            len += encoding::message::encoded_len(8, &features_to_proto(&c.features));
        }
        if let Some(prediction) = &c.prediction {
            len += encoding::message::encoded_len(9, &predictive_scores_to_proto(prediction));
        }
        Lengths {
            classification: len,
            assignments,
            reasons,
        }
    }
}

/// The lengths of `assignment`'s reasons, which follow `before` reasons of the assignments
/// ahead of it; none in the codes view.
fn reasons_of<'l>(
    assignment: &Assignment,
    detail: Detail<'_>,
    reasons: &'l [usize],
    before: usize,
) -> &'l [usize] {
    match detail {
        Detail::Codes => &[],
        Detail::Full(..) => &reasons[before..before + assignment.reasons.len()],
    }
}

/// Fields in tag order, as prost writes them.
fn encode_with(c: &Classification, detail: Detail<'_>, lengths: &Lengths, out: &mut impl BufMut) {
    encode_string(1, &c.customer_id, out);
    if c.known {
        encoding::bool::encode(2, &true, out);
    }
    encoding::message::encode(3, &timestamp_to_proto(c.as_of), out);
    encode_string(4, &c.rule_set_version, out);
    encoding::message::encode(5, &snapshot_info_to_proto(&c.snapshot), out);
    let mut reasons_before = 0;
    for (assignment, &len) in c.assignments.iter().zip(&lengths.assignments) {
        let reasons = reasons_of(assignment, detail, &lengths.reasons, reasons_before);
        reasons_before += reasons.len();
        encode_assignment(assignment, detail, len, reasons, out);
    }
    if let Some(scores) = &c.rfm_scores {
        encoding::message::encode(7, &rfm_scores_to_proto(scores), out);
    }
    if let Detail::Full(..) = detail {
        encoding::message::encode(8, &features_to_proto(&c.features), out);
    }
    if let Some(prediction) = &c.prediction {
        encoding::message::encode(9, &predictive_scores_to_proto(prediction), out);
    }
}

/// An assignment's display name in the view: none in the codes view.
fn display_name<'a>(assignment: &'a Assignment, detail: Detail<'a>) -> &'a str {
    match detail {
        Detail::Codes => "",
        Detail::Full(rules, locale) => {
            rules.display_name(assignment.dimension, &assignment.code, locale)
        }
    }
}

/// The length of an `Assignment` as [`encode_assignment`] writes it, with its display name
/// and the lengths of its reasons.
fn assignment_len(
    assignment: &Assignment,
    display_name: &str,
    detail: Detail<'_>,
    reasons: &[usize],
) -> usize {
    let dimension = dimension_to_proto(assignment.dimension);
    let mut len = 0;
    if dimension != 0 {
        len += encoding::int32::encoded_len(1, &dimension);
    }
    len += string_len(2, &assignment.code) + string_len(3, display_name);
    if assignment.pinned {
        len += key_len(4) + 1;
    }
    if let Detail::Full(..) = detail {
        len += reasons
            .iter()
            .map(|&reason| length_delimited_len(5, reason))
            .sum::<usize>();
        len += assignment
            .secondary_traits
            .iter()
            .map(|t| length_delimited_len(6, t.len()))
            .sum::<usize>();
    }
    len
}

/// An `Assignment` (field 6 of its classification) of length `len`, its reasons of lengths
/// `reasons`. The codes view has dimension, code and pinned flag only.
fn encode_assignment(
    assignment: &Assignment,
    detail: Detail<'_>,
    len: usize,
    reasons: &[usize],
    out: &mut impl BufMut,
) {
    let dimension = dimension_to_proto(assignment.dimension);
    encode_key(6, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
    let name = display_name(assignment, detail);
    if dimension != 0 {
        encoding::int32::encode(1, &dimension, out);
    }
    encode_string(2, &assignment.code, out);
    encode_string(3, name, out);
    if assignment.pinned {
        encoding::bool::encode(4, &true, out);
    }
    if let Detail::Full(..) = detail {
        for (reason, &len) in assignment.reasons.iter().zip(reasons) {
            encode_reason(reason, len, out);
        }
        // Repeated strings are written even when empty.
        for name in &assignment.secondary_traits {
            encode_bytes(6, name.as_bytes(), out);
        }
    }
}

/// A `Reason` (field 5 of its assignment) of length `len`.
fn encode_reason(reason: &Reason, len: usize, out: &mut impl BufMut) {
    encode_key(5, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
    encode_string(1, &reason.rule, out);
    if reason.matched {
        encoding::bool::encode(2, &true, out);
    }
    for (tag, facts) in [(3, &reason.observed), (4, &reason.thresholds)] {
        for fact in facts {
            encode_key(tag, WireType::LengthDelimited, out);
            encode_varint(fact_len(fact) as u64, out);
            encode_string(1, &fact.name, out);
            encode_string(2, &fact.value, out);
        }
    }
}

fn reason_len(reason: &Reason) -> usize {
    let facts = |tag: u32, facts: &[Fact]| -> usize {
        facts
            .iter()
            .map(|fact| length_delimited_len(tag, fact_len(fact)))
            .sum()
    };
    string_len(1, &reason.rule)
        + if reason.matched { key_len(2) + 1 } else { 0 }
        + facts(3, &reason.observed)
        + facts(4, &reason.thresholds)
}

fn fact_len(fact: &Fact) -> usize {
    string_len(1, &fact.name) + string_len(2, &fact.value)
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
fn encode_string(tag: u32, value: &str, out: &mut impl BufMut) {
    if !value.is_empty() {
        encode_bytes(tag, value.as_bytes(), out);
    }
}

fn encode_bytes(tag: u32, value: &[u8], out: &mut impl BufMut) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(value.len() as u64, out);
    out.put_slice(value);
}

fn length_delimited_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
