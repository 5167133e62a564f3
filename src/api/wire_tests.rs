use std::sync::Arc;

use prost::Message;

use super::*;
use crate::api::convert::{
    classification_codes_to_proto, classification_to_proto, present_classification,
};
use crate::domain::dimensions::{classify_codes_only, ClassifyInput, Dimension, Reason};
use crate::domain::testkit::{self, classify_alone, HistoryBuilder};

/// Classifications that exercise every optional part of the codes view: unknown customers,
/// buyers with scores and predictions, pinned segments.
fn classifications() -> Vec<Classification> {
    let unknown = classify_alone(HistoryBuilder::new("nobody"));
    let buyer = classify_alone(
        HistoryBuilder::new("c-buyer")
            .order(400, 12_000)
            .order(200, 30_000)
            .order(20, 250_000)
            .interaction(3, crate::domain::history::InteractionKind::ProductView),
    );
    let pinned = classify_alone(
        HistoryBuilder::new("c-pinned")
            .order(10, 5_000)
            .profile(|p| {
                p.pins.insert(Dimension::Lifecycle, "VIP_CUSTOM".into());
                p.pins.insert(Dimension::Demand, String::new());
            }),
    );
    let mut bare = buyer.clone();
    bare.customer_id.clear();
    bare.rule_set_version.clear();
    bare.rfm_scores = None;
    bare.prediction = None;
    // What the full view must write or leave out: empty texts, unmatched rules without facts,
    // secondary traits, one of them empty.
    let mut edges = buyer.clone();
    let persona = &mut edges.assignments[Dimension::SalesPersona as usize];
    persona.secondary_traits = vec!["PRICE_SENSITIVE".to_owned(), String::new()];
    persona.reasons.push(Reason::new("", false));
    persona.reasons.push(
        Reason::new("edge.empty", true)
            .observed("", "")
            .threshold("limit", ""),
    );
    // Facts on either side of 128 bytes, where a fact's length needs a second byte.
    for (name_len, value_len) in [(60, 63), (60, 64), (1, 126), (200, 3), (3, 300)] {
        persona.reasons.push(
            Reason::new("edge.long", true)
                .observed("n".repeat(name_len), "v".repeat(value_len))
                .threshold("t".repeat(value_len), "w".repeat(name_len)),
        );
    }
    vec![unknown, buyer, pinned, bare, edges]
}

/// `classification` written in the codes view.
fn codes_written(classification: &Classification) -> Vec<u8> {
    let rules = testkit::rules();
    let codes = Presentation {
        view: View::Codes,
        ..Presentation::default()
    };
    let mut written = Vec::new();
    encode_presented(classification, &rules.rules, codes, &mut written);
    written
}

fn prost_bytes(classification: &Classification) -> Vec<u8> {
    classification_codes_to_proto(classification.clone()).encode_to_vec()
}

#[test]
fn the_codes_view_is_written_as_prost_writes_it() {
    for classification in classifications() {
        let written = codes_written(&classification);
        assert_eq!(written, prost_bytes(&classification), "{classification:?}");
    }
}

#[test]
fn codes_alone_are_written_as_the_codes_view_of_their_classification() {
    let rules = testkit::rules();
    let pinned = HistoryBuilder::new("c-pinned")
        .order(10, 5_000)
        .profile(|p| {
            p.pins.insert(Dimension::Lifecycle, "VIP_CUSTOM".into());
        });
    let buyer = HistoryBuilder::new("c-buyer")
        .order(400, 12_000)
        .order(20, 250_000);
    for builder in [HistoryBuilder::new("nobody"), buyer, pinned] {
        let id = builder.id().to_owned();
        let history = builder.build();
        let population = testkit::population(&[(id.clone(), history.clone())]);
        let classification = testkit::classify_in(&id, &history, &population);
        let compact = (&history).into();
        let codes = classify_codes_only(ClassifyInput {
            customer_id: &id,
            history: &compact,
            as_of: classification.as_of,
            rules: &rules,
            population: &population,
            explain: false,
        });
        let mut written = Vec::new();
        encode_codes_only(&Heading::of(&classification), &codes, &mut written);
        assert_eq!(written, prost_bytes(&classification), "{id}");
    }
}

#[test]
fn the_full_view_is_written_as_prost_writes_it() {
    let rules = testkit::rules();
    for locale in [Locale::En, Locale::ZhCn] {
        let presentation = Presentation {
            locale,
            view: View::Full,
        };
        for classification in classifications() {
            let built = classification_to_proto(classification.clone(), &rules.rules, locale);
            assert!(built.assignments.iter().any(|a| !a.reasons.is_empty()));
            let mut written = Vec::new();
            encode_presented(&classification, &rules.rules, presentation, &mut written);
            assert_eq!(written, built.encode_to_vec(), "{built:?}");
        }
    }
}

#[test]
fn a_classify_response_sends_a_written_classification_as_a_built_one() {
    let rules = Arc::new(testkit::rules());
    let presentations = [
        (View::Full, Locale::En),
        (View::Full, Locale::ZhCn),
        (View::Codes, Locale::En),
    ]
    .map(|(view, locale)| Presentation { locale, view });
    for presentation in presentations {
        for classification in classifications() {
            let built = present_classification(classification.clone(), &rules.rules, presentation);
            let sent = ClassifyResponse::written(&classification, &rules, presentation);
            let expected = ClassifyResponse::of(built);
            assert_eq!(sent.encoded_len(), expected.encoded_len());
            let bytes = sent.encode_to_vec();
            assert_eq!(bytes, expected.encode_to_vec());
            assert_eq!(
                ClassifyResponse::decode(bytes.as_slice()).unwrap(),
                expected
            );
        }
    }
    let empty = ClassifyResponse::default();
    assert_eq!(
        (empty.encoded_len(), empty.encode_to_vec()),
        (0, Vec::new())
    );
    assert_eq!(ClassifyResponse::decode(&[][..]).unwrap(), empty);
}

#[test]
fn pinned_assignments_keep_their_flag_and_code() {
    let pinned = &classifications()[2];
    let written = codes_written(pinned);
    let decoded = pb::Classification::decode(written.as_slice()).unwrap();
    let lifecycle = decoded
        .assignments
        .iter()
        .find(|a| a.dimension == dimension_to_proto(Dimension::Lifecycle))
        .unwrap();
    assert_eq!(
        (lifecycle.code.as_str(), lifecycle.pinned),
        ("VIP_CUSTOM", true)
    );
    assert_eq!(decoded.assignments.len(), Dimension::ALL.len());
}

fn reference(id: &str) -> pb::CustomerRef {
    pb::CustomerRef {
        kind: Some(pb::customer_ref::Kind::Id(id.to_owned())),
    }
}

#[test]
fn written_results_decode_as_the_results_prost_would_send() {
    let mut expected = Vec::new();
    let mut written = Vec::new();
    for (index, classification) in classifications().into_iter().enumerate() {
        let result = pb::BatchClassifyResult {
            index: index as u64 + 7,
            customer: Some(reference(&classification.customer_id)),
            outcome: None,
        };
        let encoded = codes_written(&classification);
        encode_result(&result, Some(&encoded), &mut written);
        expected.push(pb::BatchClassifyResult {
            outcome: Some(pb::batch_classify_result::Outcome::Classification(
                classification_codes_to_proto(classification),
            )),
            ..result
        });
    }
    let failed = pb::BatchClassifyResult {
        index: 99,
        customer: None,
        outcome: Some(pb::batch_classify_result::Outcome::Error(pb::ItemError {
            code: 3,
            message: "customer: must name a customer".into(),
        })),
    };
    encode_result(&failed, None, &mut written);
    expected.push(failed);

    let sent = BatchClassifyResponse::encoded(written.into()).encode_to_vec();
    let as_prost_sends_it = BatchClassifyResponse::of(expected.clone()).encode_to_vec();
    assert_eq!(sent, as_prost_sends_it);
    let decoded = BatchClassifyResponse::decode(sent.as_slice()).unwrap();
    assert_eq!(decoded.results, expected);
}

#[test]
fn a_response_sends_built_results_before_written_ones() {
    let built = pb::BatchClassifyResult {
        index: 0,
        customer: Some(reference("a")),
        outcome: None,
    };
    let mut written = Vec::new();
    let later = pb::BatchClassifyResult {
        index: 1,
        customer: Some(reference("b")),
        outcome: None,
    };
    encode_result(&later, None, &mut written);
    let mut response = BatchClassifyResponse::encoded(written.into());
    response.results.push(built.clone());
    let bytes = response.encode_to_vec();
    assert_eq!(bytes.len(), response.encoded_len());
    let decoded = BatchClassifyResponse::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded.results, vec![built, later]);

    response.clear();
    assert!(response.encode_to_vec().is_empty());
}

#[test]
fn nested_fields_carry_the_length_prost_would_write_on_either_side_of_each_varint_width() {
    for len in [0, 1, 127, 128, 129, 16_383, 16_384, 70_000] {
        let content = vec![b'x'; len];
        let mut written = vec![7u8];
        nested(3, &mut written, |out| out.extend_from_slice(&content));
        let mut expected = vec![7u8];
        encode_bytes(3, &content, &mut expected);
        assert_eq!(written, expected, "content of {len} bytes");
    }
}
