//! Decides every dimension in dependency order. A manual pin replaces a dimension's segment
//! before later dimensions read it, so the pinned truth flows into everything that depends on it.

use std::borrow::Cow;

use super::predictive::{self, Outlook};
use super::{engagement, feedback, personas, value};
use super::{Assignment, Classification, Dimension, Draft, Reason, Reasons, RfmScores};
use crate::domain::compact::CompactHistory;
use crate::domain::features::{compute_features, Features};
use crate::domain::population::PopulationStats;
use crate::domain::predictive::CustomerPrediction;
use crate::domain::rules::{RuleSet, VersionedRules};
use crate::domain::time::Timestamp;

/// Everything one classification needs; all of it is plain data.
pub struct ClassifyInput<'a> {
    pub customer_id: &'a str,
    pub history: &'a CompactHistory,
    pub as_of: Timestamp,
    pub rules: &'a VersionedRules,
    pub population: &'a PopulationStats,
    /// Whether to record the reasons of each decision; segment codes are the same either way.
    pub explain: bool,
}

/// What the dimension rules read.
pub struct Context<'a> {
    pub customer_id: &'a str,
    pub features: &'a Features,
    pub rules: &'a RuleSet,
    pub population: &'a PopulationStats,
    pub explain: bool,
}

impl Context<'_> {
    /// A reason for a decision: recorded when the caller asked for explanations, else muted.
    /// Forced inline so that a muted draft costs nothing in re-segmentation; building a
    /// recorded one stays out of line.
    #[inline(always)]
    pub fn reason(&self, rule: &'static str, matched: bool) -> Draft {
        if self.explain {
            recorded(rule, matched)
        } else {
            Draft::muted(matched)
        }
    }
}

#[inline(never)]
fn recorded(rule: &'static str, matched: bool) -> Draft {
    Reason::new(rule, matched).into()
}

/// A rule-made decision for one dimension, before pins.
pub struct Decision {
    pub code: &'static str,
    pub reasons: Reasons,
    pub secondary: Vec<&'static str>,
}

impl Decision {
    pub fn new(code: &'static str, reasons: impl Into<Reasons>) -> Self {
        Self {
            code,
            reasons: reasons.into(),
            secondary: Vec::new(),
        }
    }

    pub fn with_secondary(mut self, secondary: Vec<&'static str>) -> Self {
        self.secondary = secondary;
        self
    }
}

/// Where the decisions of one classification go: a full assignment per dimension, or only
/// its code. Either way a manual pin replaces the rules' code before later rules read it.
trait Recorder {
    /// Records a dimension's decision (or its pin) and returns the code later rules must read.
    fn record(&mut self, dimension: Dimension, decision: Decision) -> Cow<'static, str>;

    /// The sales persona's secondary traits as recorded; decision style reads them.
    fn sales_traits(&self) -> &[String];
}

fn pin_of(history: &CompactHistory, dimension: Dimension) -> Option<&String> {
    history
        .profile
        .as_ref()
        .and_then(|p| p.pins.get(&dimension))
}

/// The code a dimension reports: its pin, else the rules' decision.
fn code_after_pin(pin: Option<&String>, decision: &Decision) -> Cow<'static, str> {
    match pin {
        Some(pinned) => Cow::Owned(pinned.clone()),
        None => Cow::Borrowed(decision.code),
    }
}

/// The secondary traits an assignment reports: under a pin, the rules' own code becomes a
/// trait too, and the pinned code is never its own trait.
fn traits_of(dimension: Dimension, pinned: Option<&str>, decision: &Decision) -> Vec<String> {
    match pinned {
        Some(pinned) => std::iter::once(decision.code)
            .chain(decision.secondary.iter().copied())
            .filter(|code| *code != pinned && !is_fallback(dimension, code))
            .map(str::to_owned)
            .collect(),
        None => decision.secondary.iter().map(|c| (*c).to_owned()).collect(),
    }
}

/// Collects full assignments, reasons included when explaining, in decision order.
struct Assignments<'a> {
    history: &'a CompactHistory,
    explain: bool,
    list: Vec<Assignment>,
}

impl Recorder for Assignments<'_> {
    fn record(&mut self, dimension: Dimension, decision: Decision) -> Cow<'static, str> {
        let pin = pin_of(self.history, dimension);
        let secondary_traits = traits_of(dimension, pin.map(String::as_str), &decision);
        let code = code_after_pin(pin, &decision);
        // Muted drafts recorded nothing, so without explanations this is empty.
        let mut reasons = decision.reasons.into_vec();
        if let (true, Some(pinned)) = (self.explain, pin) {
            let pin_reason = Reason::new("manual_pin", true)
                .observed("pinned_segment", pinned)
                .observed("rules_would_assign", decision.code);
            reasons.insert(0, pin_reason);
        }
        self.list.push(Assignment {
            dimension,
            code: code.clone(),
            pinned: pin.is_some(),
            reasons,
            secondary_traits,
        });
        code
    }

    fn sales_traits(&self) -> &[String] {
        self.list
            .iter()
            .find(|x| x.dimension == Dimension::SalesPersona)
            .map_or(&[][..], |x| x.secondary_traits.as_slice())
    }
}

/// The segment code of every dimension and nothing else: what counting a population needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentCodes {
    /// Indexed by `Dimension as usize`.
    codes: [Cow<'static, str>; Dimension::ALL.len()],
}

impl SegmentCodes {
    /// Every code empty, before the rules decide them.
    fn unset() -> Self {
        Self {
            codes: std::array::from_fn(|_| Cow::Borrowed("")),
        }
    }

    pub fn code(&self, dimension: Dimension) -> &str {
        &self.codes[dimension as usize]
    }

    /// Every dimension with its code, in `Dimension::ALL` order.
    pub fn iter(&self) -> impl Iterator<Item = (Dimension, &str)> {
        Dimension::ALL
            .iter()
            .zip(&self.codes)
            .map(|(dimension, code)| (*dimension, code.as_ref()))
    }
}

/// Receives the code of each dimension as it is decided, pins applied, in decision order.
pub trait CodeSink {
    /// A `Cow`, not a `&str`: a borrowed code is a `'static` literal, which a sink may key by
    /// its address; an owned one (a pin) lives only for the call.
    #[allow(clippy::ptr_arg)]
    fn code(&mut self, dimension: Dimension, code: &Cow<'static, str>);
}

impl CodeSink for SegmentCodes {
    fn code(&mut self, dimension: Dimension, code: &Cow<'static, str>) {
        self.codes[dimension as usize] = code.clone();
    }
}

/// Passes codes on to a sink; traits are kept for the one dimension a later rule reads them of.
struct Codes<'a, S> {
    history: &'a CompactHistory,
    sink: &'a mut S,
    sales_traits: Vec<String>,
}

impl<S: CodeSink> Recorder for Codes<'_, S> {
    fn record(&mut self, dimension: Dimension, decision: Decision) -> Cow<'static, str> {
        let pin = pin_of(self.history, dimension);
        if dimension == Dimension::SalesPersona {
            self.sales_traits = traits_of(dimension, pin.map(String::as_str), &decision);
        }
        let code = code_after_pin(pin, &decision);
        self.sink.code(dimension, &code);
        decision.reasons.discard();
        code
    }

    fn sales_traits(&self) -> &[String] {
        &self.sales_traits
    }
}

/// Personas report their fallback only as the primary segment, never as a trait.
fn is_fallback(dimension: Dimension, code: &str) -> bool {
    matches!(
        (dimension, code),
        (Dimension::SalesPersona, "REGULAR") | (Dimension::ServicePersona, "UNPREDICTABLE")
    ) || !matches!(
        dimension,
        Dimension::SalesPersona | Dimension::ServicePersona
    )
}

/// Decides every dimension into `recorder`, in the order later dimensions read earlier ones.
fn decide_all<'a>(
    ctx: &Context<'a>,
    history: &CompactHistory,
    scores: Option<RfmScores>,
    a: &mut impl Recorder,
) -> Outlook<'a> {
    a.record(Dimension::Rfm, value::rfm(ctx, scores));
    let value_tier = a.record(Dimension::ValueTier, value::value_tier(ctx));
    let engagement_code = a.record(Dimension::Engagement, engagement::engagement(ctx));
    a.record(Dimension::Demand, value::demand(ctx));
    let satisfaction = a.record(Dimension::Satisfaction, feedback::satisfaction(ctx));
    let lifecycle = a.record(
        Dimension::Lifecycle,
        engagement::lifecycle(ctx, &satisfaction),
    );
    a.record(Dimension::ActivityPeriod, engagement::activity_period(ctx));
    let advocacy = a.record(Dimension::Advocacy, feedback::advocacy(ctx));
    a.record(
        Dimension::AccountQuadrant,
        value::account_quadrant(ctx, scores),
    );
    let sales = a.record(Dimension::SalesPersona, personas::sales_persona(ctx));
    a.record(
        Dimension::ServicePersona,
        personas::service_persona(ctx, &advocacy, &lifecycle),
    );
    a.record(
        Dimension::CustomerType,
        personas::customer_type(
            ctx,
            &personas::TypeInputs {
                value_tier: &value_tier,
                lifecycle: &lifecycle,
                engagement: &engagement_code,
            },
        ),
    );
    let profile_style = history.profile.as_ref().and_then(|p| p.decision_style);
    let style = personas::decision_style(ctx, profile_style, &sales, a.sales_traits());
    a.record(Dimension::DecisionStyle, style);
    let outlook = Outlook::of(ctx);
    a.record(Dimension::ChurnRisk, predictive::churn_risk(ctx, &outlook));
    a.record(
        Dimension::PredictedValueTier,
        predictive::predicted_value_tier(ctx, &outlook),
    );
    outlook
}

fn context<'a>(input: &ClassifyInput<'a>, features: &'a Features, explain: bool) -> Context<'a> {
    Context {
        customer_id: input.customer_id,
        features,
        rules: &input.rules.rules,
        population: input.population,
        explain,
    }
}

pub fn classify(input: ClassifyInput<'_>) -> Classification {
    let features = compute_features(input.history, input.as_of, &input.rules.rules.windows);
    let ctx = context(&input, &features, input.explain);
    let scores = value::rfm_scores(&ctx);
    let mut a = Assignments {
        history: input.history,
        explain: input.explain,
        list: Vec::with_capacity(Dimension::ALL.len()),
    };
    let outlook = decide_all(&ctx, input.history, scores, &mut a);
    let prediction = outlook.prediction();
    let mut assignments = a.list;
    // Decided out of display order where one dimension reads another.
    assignments.sort_by_key(|x| x.dimension);
    Classification {
        customer_id: input.customer_id.to_owned(),
        known: input.history.is_known(),
        as_of: input.as_of,
        rule_set_version: input.rules.version.clone(),
        snapshot: input.population.info.clone(),
        assignments,
        rfm_scores: scores,
        prediction,
        features,
    }
}

/// The codes `classify` would assign, without reasons, traits, features or predictions: the
/// cheap path for counting a whole population. `input.explain` is ignored.
pub fn classify_codes(input: ClassifyInput<'_>) -> SegmentCodes {
    let mut codes = SegmentCodes::unset();
    classify_codes_into(input, &mut codes);
    codes
}

/// What the codes view reports of one customer: every dimension's code and whether a pin set
/// it, the RFM scores and the prediction. A nightly sync asks this of every customer, so it
/// is decided like [`classify_codes`]: no assignments, traits or features to build and drop.
#[derive(Debug, Clone, PartialEq)]
pub struct CodesOnly {
    pub codes: SegmentCodes,
    /// Indexed by `Dimension as usize`.
    pub pinned: [bool; Dimension::ALL.len()],
    pub known: bool,
    pub rfm_scores: Option<RfmScores>,
    pub prediction: Option<CustomerPrediction>,
}

impl CodesOnly {
    /// What the codes view reports of a full classification.
    pub fn of(classification: &Classification) -> Self {
        let mut codes = SegmentCodes::unset();
        let mut pinned = [false; Dimension::ALL.len()];
        for assignment in &classification.assignments {
            CodeSink::code(&mut codes, assignment.dimension, &assignment.code);
            pinned[assignment.dimension as usize] = assignment.pinned;
        }
        Self {
            codes,
            pinned,
            known: classification.known,
            rfm_scores: classification.rfm_scores,
            prediction: classification.prediction,
        }
    }
}

/// The codes view of one customer ([`CodesOnly`]): the codes, scores and prediction
/// [`classify`] gives, without explanations.
pub fn classify_codes_only(input: ClassifyInput<'_>) -> CodesOnly {
    let features = compute_features(input.history, input.as_of, &input.rules.rules.windows);
    let ctx = context(&input, &features, false);
    let rfm_scores = value::rfm_scores(&ctx);
    let mut codes = SegmentCodes::unset();
    let mut recorder = Codes {
        history: input.history,
        sink: &mut codes,
        sales_traits: Vec::new(),
    };
    let prediction = decide_all(&ctx, input.history, rfm_scores, &mut recorder).prediction();
    let pinned = std::array::from_fn(|i| pin_of(input.history, Dimension::ALL[i]).is_some());
    CodesOnly {
        codes,
        pinned,
        known: input.history.is_known(),
        rfm_scores,
        prediction,
    }
}

/// The segment code of every dimension, handed to `sink` as each is decided: a count of the
/// population takes them straight into its tallies, with no list of codes per customer.
pub fn classify_codes_into(input: ClassifyInput<'_>, sink: &mut impl CodeSink) {
    let features = compute_features(input.history, input.as_of, &input.rules.rules.windows);
    let ctx = context(&input, &features, false);
    let scores = value::rfm_scores(&ctx);
    let mut codes = Codes {
        history: input.history,
        sink,
        sales_traits: Vec::new(),
    };
    decide_all(&ctx, input.history, scores, &mut codes);
}
