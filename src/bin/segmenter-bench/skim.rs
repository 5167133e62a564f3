//! Responses read without being built ([`crate::rpc::Reading::WireOnly`]): every field is
//! walked (tags, lengths, varints), so malformed protobuf still fails the call, but only what
//! the bench counts is kept.

use prost::bytes::{Buf, BufMut};
use prost::encoding::{skip_field, DecodeContext, WireType};
use prost::DecodeError;

/// A `prost::Message` that is only ever decoded: `$merge` reads one field into `$this`.
macro_rules! decode_only {
    ($message:ty, |$this:ident, $tag:ident, $wire_type:ident, $buf:ident, $ctx:ident| $merge:block) => {
        impl prost::Message for $message {
            fn encode_raw(&self, _: &mut impl BufMut) {}

            fn merge_field(
                &mut self,
                $tag: u32,
                $wire_type: WireType,
                $buf: &mut impl Buf,
                $ctx: DecodeContext,
            ) -> Result<(), DecodeError> {
                let $this = self;
                $merge
            }

            fn encoded_len(&self) -> usize {
                0
            }

            fn clear(&mut self) {
                *self = Self::default();
            }
        }
    };
}

/// Any response, walked and dropped.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Unread;

decode_only!(Unread, |_this, tag, wire_type, buf, ctx| {
    skip_field(wire_type, tag, buf, ctx)
});

/// A `BatchClassifyResponse` read for counting: its results (field 1) and, of each, whether the
/// outcome is an `error` (field 4) or no outcome at all; the classifications (field 3) are
/// walked over, not built.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counted {
    pub results: u64,
    pub item_errors: u64,
}

decode_only!(Counted, |this, tag, wire_type, buf, ctx| {
    if tag != 1 {
        return skip_field(wire_type, tag, buf, ctx);
    }
    let mut result = CountedResult::default();
    prost::encoding::message::merge(wire_type, &mut result, buf, ctx)?;
    this.results += 1;
    if !result.classified {
        this.item_errors += 1;
    }
    Ok(())
});

/// One `BatchClassifyResult`: whether its outcome is a classification (field 3).
#[derive(Debug, Default, Clone, PartialEq)]
struct CountedResult {
    classified: bool,
}

decode_only!(CountedResult, |this, tag, wire_type, buf, ctx| {
    match tag {
        3 => this.classified = true,
        4 => this.classified = false,
        _ => {}
    }
    skip_field(wire_type, tag, buf, ctx)
});

#[cfg(test)]
mod tests {
    use prost::Message;
    use segmenter::api::pb;

    use super::*;

    #[test]
    fn counted_responses_count_results_and_item_errors() {
        let result = |outcome| pb::BatchClassifyResult {
            index: 0,
            customer: None,
            outcome,
        };
        let classified = Some(pb::batch_classify_result::Outcome::Classification(
            pb::Classification::default(),
        ));
        let failed = Some(pb::batch_classify_result::Outcome::Error(pb::ItemError {
            code: 3,
            message: "bad reference".to_owned(),
        }));
        let response = pb::BatchClassifyResponse::of(vec![
            result(classified.clone()),
            result(failed),
            result(classified),
        ]);
        let bytes = response.encode_to_vec();
        let counted = Counted::decode(bytes.as_slice()).expect("well-formed");
        assert_eq!((counted.results, counted.item_errors), (3, 1));
        assert!(Unread::decode(bytes.as_slice()).is_ok());
        assert!(Unread::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
