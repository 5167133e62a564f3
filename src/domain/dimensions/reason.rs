//! Why a dimension's segment was chosen: the reasons the rules record, each with the facts
//! (values rendered as text) it observed and the thresholds it compared them with.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::fact_value::{FactText, FactValue};

/// One value a rule looked at or compared with, already rendered as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// Nearly always a name written in the code: borrowed, so a reason costs no copy of it.
    pub name: Cow<'static, str>,
    pub value: FactText,
}

impl Fact {
    pub fn new(name: impl Into<Cow<'static, str>>, value: impl FactValue) -> Self {
        Self {
            name: name.into(),
            value: value.into_text(),
        }
    }
}

/// A value rendered as text only when a reason records it: muted reasons (codes-only
/// classification) never pay for formatting dates, fractions or means.
pub(crate) struct Deferred<F>(pub(super) F);

/// A value that may be missing, shown as "none" then.
pub(crate) struct OrNone<T>(pub Option<T>);

/// Defers rendering `value()` until the text is needed.
pub(crate) fn deferred<F: FnOnce() -> T, T: FactValue>(value: F) -> Deferred<F> {
    Deferred(value)
}

/// One rule that took part in a decision: whether it held, on which values, against which
/// thresholds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ReasonFields", into = "ReasonFields")]
pub struct Reason {
    pub rule: Cow<'static, str>,
    pub matched: bool,
    /// The observed values, then the thresholds: one allocation per reason rather than two,
    /// for the ~40 reasons of every explained classification.
    facts: Vec<Fact>,
    observed_len: usize,
}

/// Room for the facts of nearly every reason from the start: grown from empty, the vector
/// was reallocated at the first, fifth and ninth fact.
const FACTS_PER_REASON: usize = 8;

impl Reason {
    pub fn new(rule: impl Into<Cow<'static, str>>, matched: bool) -> Self {
        Self {
            rule: rule.into(),
            matched,
            facts: Vec::with_capacity(FACTS_PER_REASON),
            observed_len: 0,
        }
    }

    pub fn observed(mut self, name: impl Into<Cow<'static, str>>, value: impl FactValue) -> Self {
        self.push_observed(Fact::new(name, value));
        self
    }

    pub fn threshold(mut self, name: impl Into<Cow<'static, str>>, value: impl FactValue) -> Self {
        self.push_threshold(Fact::new(name, value));
        self
    }

    /// The values the rule looked at, in the order it recorded them.
    #[inline]
    pub fn observed_facts(&self) -> &[Fact] {
        &self.facts[..self.observed_len]
    }

    /// The values it compared them with, in the order it recorded them.
    #[inline]
    pub fn threshold_facts(&self) -> &[Fact] {
        &self.facts[self.observed_len..]
    }

    /// The observed values and the thresholds, taken apart.
    pub fn into_facts(mut self) -> (Vec<Fact>, Vec<Fact>) {
        let thresholds = self.facts.split_off(self.observed_len);
        (self.facts, thresholds)
    }

    /// Rules record what they observed before what they compare it with, so this nearly
    /// always appends.
    fn push_observed(&mut self, fact: Fact) {
        self.facts.insert(self.observed_len, fact);
        self.observed_len += 1;
    }

    fn push_threshold(&mut self, fact: Fact) {
        self.facts.push(fact);
    }
}

/// A reason as it is serialised: the observed values and the thresholds in lists of their own.
#[derive(Serialize, Deserialize)]
struct ReasonFields {
    rule: Cow<'static, str>,
    matched: bool,
    observed: Vec<Fact>,
    thresholds: Vec<Fact>,
}

impl From<ReasonFields> for Reason {
    fn from(fields: ReasonFields) -> Self {
        let observed_len = fields.observed.len();
        let mut facts = fields.observed;
        facts.extend(fields.thresholds);
        Self {
            rule: fields.rule,
            matched: fields.matched,
            facts,
            observed_len,
        }
    }
}

impl From<Reason> for ReasonFields {
    fn from(mut reason: Reason) -> Self {
        let rule = std::mem::take(&mut reason.rule);
        let matched = reason.matched;
        let (observed, thresholds) = reason.into_facts();
        Self {
            rule,
            matched,
            observed,
            thresholds,
        }
    }
}

/// A reason as the rules write it: recorded when the caller wants explanations, or muted
/// (codes-only classification), in which case it keeps only whether the rule held and no value
/// is rendered as text. A draft is a flag and a pointer, so the builder calls on a muted one
/// cost next to nothing: held in place, the reason made every muted draft 88 bytes to move
/// through each call, and full re-segmentation took twice as long.
#[derive(Debug)]
pub struct Draft {
    matched: bool,
    recorded: Option<Box<Reason>>,
}

impl Draft {
    #[inline]
    pub fn muted(matched: bool) -> Self {
        Self {
            matched,
            recorded: None,
        }
    }

    /// Whether the rule's condition held.
    #[inline]
    pub fn matched(&self) -> bool {
        self.matched
    }

    // On a muted draft these must vanish into the caller (re-segmentation calls them for
    // every rule of every customer), so the check is forced inline and the recording, which
    // renders the value, stays out of line: inlined whole, it grew too large to be inlined at
    // all, and GetSegmentStats ran 41 % more instructions.
    #[inline(always)]
    pub fn observed(mut self, name: impl Into<Cow<'static, str>>, value: impl FactValue) -> Self {
        if let Some(reason) = self.recorded.as_mut() {
            record_observed(reason, name.into(), value);
        }
        self
    }

    #[inline(always)]
    pub fn threshold(mut self, name: impl Into<Cow<'static, str>>, value: impl FactValue) -> Self {
        if let Some(reason) = self.recorded.as_mut() {
            record_threshold(reason, name.into(), value);
        }
        self
    }

    /// The recorded reason; `None` when muted.
    #[inline]
    pub fn finish(self) -> Option<Reason> {
        self.recorded.map(|reason| *reason)
    }
}

#[inline(never)]
fn record_observed(reason: &mut Reason, name: Cow<'static, str>, value: impl FactValue) {
    reason.push_observed(Fact::new(name, value));
}

#[inline(never)]
fn record_threshold(reason: &mut Reason, name: Cow<'static, str>, value: impl FactValue) {
    reason.push_threshold(Fact::new(name, value));
}

impl From<Reason> for Draft {
    fn from(reason: Reason) -> Self {
        Self {
            matched: reason.matched,
            recorded: Some(Box::new(reason)),
        }
    }
}

/// The recorded reasons of one decision. A muted draft leaves nothing behind, so a codes-only
/// classification allocates nothing for reasons.
#[derive(Debug, Default)]
pub struct Reasons(Vec<Reason>);

impl Reasons {
    /// A muted draft leaves nothing, and no empty iterator to drop per rule.
    #[inline]
    pub fn push(&mut self, draft: Draft) {
        if let Some(reason) = draft.recorded {
            self.0.push(*reason);
        }
    }

    /// Drops reasons that muted drafts left: a list that never allocated is forgotten (there is
    /// nothing in it to free) rather than walked by out-of-line drop glue, once per dimension of
    /// every customer in re-segmentation.
    #[inline(always)]
    pub fn discard(self) {
        if self.0.capacity() == 0 {
            std::mem::forget(self);
        }
    }

    #[inline]
    pub fn into_vec(self) -> Vec<Reason> {
        self.0
    }
}

impl FromIterator<Draft> for Reasons {
    fn from_iter<I: IntoIterator<Item = Draft>>(drafts: I) -> Self {
        Self(drafts.into_iter().filter_map(Draft::finish).collect())
    }
}

impl<const N: usize> From<[Draft; N]> for Reasons {
    fn from(drafts: [Draft; N]) -> Self {
        // Codes only (re-segmentation) leaves at once, with nothing to allocate or walk;
        // explained decisions get room for all their reasons.
        if drafts.iter().all(|draft| draft.recorded.is_none()) {
            // Every draft is empty, so there is nothing to free: skipping their drop glue saves
            // re-segmentation a loop per decision.
            std::mem::forget(drafts);
            return Self(Vec::new());
        }
        let mut reasons = Vec::with_capacity(N);
        reasons.extend(drafts.into_iter().filter_map(Draft::finish));
        Self(reasons)
    }
}
