//! Protobuf written straight from domain values where building the messages first is most of
//! the cost: the codes view of a classification, and `BatchClassifyResponse`s whose results
//! were encoded by the threads that classified them.
//!
//! A nightly sync streams a million classifications. Built as `pb` messages and encoded by
//! prost, each costs a dozen string copies, and an encoding whose nested lengths are computed
//! once per level above them (four levels here), all on the one task that writes the stream.
//! Written here, each length is computed once, and on every core. The bytes are the ones prost
//! writes for the same message (tests compare them).

use prost::bytes::{Buf, BufMut, Bytes};
use prost::encoding::{
    self, encode_key, encode_varint, encoded_len_varint, key_len, DecodeContext, WireType,
};
use prost::{DecodeError, Message};

use super::convert::{
    classification_to_proto, dimension_to_proto, predictive_scores_to_proto, rfm_scores_to_proto,
    snapshot_info_to_proto, timestamp_to_proto, Presentation, View,
};
use super::pb;
use crate::domain::dimensions::{Assignment, Classification};
use crate::domain::rules::RuleSet;

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

/// Appends one `BatchClassifyResult` as a field-1 entry of a `BatchClassifyResponse`: its
/// `outcome` is left out, and `classification` (an encoded `Classification`, see
/// [`encode_classification`]) stands in for it when given.
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

/// `classification` encoded in the caller's presentation.
pub fn encode_presented(
    classification: Classification,
    rules: &RuleSet,
    presentation: Presentation,
    out: &mut Vec<u8>,
) {
    match presentation.view {
        View::Codes => encode_classification(&classification, out),
        View::Full => {
            classification_to_proto(classification, rules, presentation.locale).encode_raw(out)
        }
    }
}

/// `classification` in the codes view (`classification_codes_to_proto`), encoded.
pub fn encode_classification(classification: &Classification, out: &mut Vec<u8>) {
    let c = classification;
    encode_string(1, &c.customer_id, out);
    if c.known {
        encoding::bool::encode(2, &true, out);
    }
    encoding::message::encode(3, &timestamp_to_proto(c.as_of), out);
    encode_string(4, &c.rule_set_version, out);
    encoding::message::encode(5, &snapshot_info_to_proto(&c.snapshot), out);
    for assignment in &c.assignments {
        encode_assignment(assignment, out);
    }
    if let Some(scores) = &c.rfm_scores {
        encoding::message::encode(7, &rfm_scores_to_proto(scores), out);
    }
    if let Some(prediction) = &c.prediction {
        encoding::message::encode(9, &predictive_scores_to_proto(prediction), out);
    }
}

/// An `Assignment` of the codes view: dimension, code and pinned flag (field 6 of its
/// classification).
fn encode_assignment(assignment: &Assignment, out: &mut Vec<u8>) {
    let dimension = dimension_to_proto(assignment.dimension);
    let code = assignment.code.as_ref();
    let mut len = 0;
    if dimension != 0 {
        len += encoding::int32::encoded_len(1, &dimension);
    }
    if !code.is_empty() {
        len += length_delimited_len(2, code.len());
    }
    if assignment.pinned {
        len += key_len(4) + 1;
    }
    encode_key(6, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
    if dimension != 0 {
        encoding::int32::encode(1, &dimension, out);
    }
    encode_string(2, code, out);
    if assignment.pinned {
        encoding::bool::encode(4, &true, out);
    }
}

/// A string field as proto3 writes it: left out when empty.
fn encode_string(tag: u32, value: &str, out: &mut Vec<u8>) {
    if !value.is_empty() {
        encode_bytes(tag, value.as_bytes(), out);
    }
}

fn encode_bytes(tag: u32, value: &[u8], out: &mut Vec<u8>) {
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
