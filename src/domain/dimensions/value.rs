//! Purchase-value dimensions: RFM (3.1), value tier (3.2), demand (3.4), account quadrant (3.9).
//! All are `NONE` for a customer without purchases.

use super::classify::{Context, Decision};
use super::{Draft, FactText, FactValue, RfmScores, NONE};
use crate::domain::population::{Distribution, ValueTierBounds};
use crate::domain::rules::{BigAccountRule, HighLowMethod, Share};

/// R, F, M scores by percentile rank among the active buyers; `None` for non-buyers.
pub fn rfm_scores(ctx: &Context<'_>) -> Option<RfmScores> {
    let f = ctx.features;
    let recency = f.recency_days?;
    let pop = ctx.population;
    Some(RfmScores {
        recency: pop.recency_days.score_descending(recency),
        frequency: pop.frequency.score_ascending(f.frequency as i64),
        monetary: pop.monetary.score_ascending(f.monetary),
    })
}

/// `NONE`: the purchase-based dimensions do not apply to a customer who never bought.
pub(super) fn no_purchases(ctx: &Context<'_>) -> Decision {
    Decision::new(
        NONE,
        [ctx.reason("no_purchases", true)
            .observed("purchases_ever", 0)],
    )
}

/// The population centre a value was compared with, rendered for reasons on demand; the
/// comparison itself stays in integers.
enum Centre<'a> {
    Mean(&'a Distribution),
    Median(&'a Distribution),
    Fixed(i64),
}

impl FactValue for Centre<'_> {
    fn into_text(self) -> FactText {
        match self {
            Centre::Mean(dist) if dist.is_empty() => FactText::const_new("none"),
            Centre::Mean(dist) => {
                let mean = dist.sum() as f64 / dist.len() as f64;
                ((mean * 100.0).round() / 100.0).into_text()
            }
            Centre::Median(dist) => match dist.twice_median() {
                Some(twice) => (twice as f64 / 2.0).into_text(),
                None => FactText::const_new("none"),
            },
            Centre::Fixed(value) => value.into_text(),
        }
    }
}

/// Which side of the population centre a value lies on. `above = true` asks "strictly above";
/// `false` asks "strictly below". Equal is low; an empty population is low.
fn beyond_centre(
    method: HighLowMethod,
    dist: &Distribution,
    value: i64,
    fixed: i64,
    above: bool,
) -> (bool, Centre<'_>) {
    let v = i128::from(value);
    let n = i128::from(dist.len());
    match method {
        HighLowMethod::Mean => {
            let high = n > 0
                && if above {
                    v * n > dist.sum()
                } else {
                    v * n < dist.sum()
                };
            (high, Centre::Mean(dist))
        }
        HighLowMethod::Median => {
            let high =
                dist.twice_median()
                    .is_some_and(|twice| if above { 2 * v > twice } else { 2 * v < twice });
            (high, Centre::Median(dist))
        }
        HighLowMethod::Fixed => {
            let high = if above { value > fixed } else { value < fixed };
            (high, Centre::Fixed(fixed))
        }
    }
}

pub fn rfm(ctx: &Context<'_>, scores: Option<RfmScores>) -> Decision {
    let (Some(scores), Some(recency)) = (scores, ctx.features.recency_days) else {
        return no_purchases(ctx);
    };
    let f = ctx.features;
    let rules = &ctx.rules.rfm;
    let pop = ctx.population;
    let method = rules.high_low;
    // Threshold names carry the method ("mean_frequency").
    let [centre_recency_days, centre_frequency, centre_monetary] = match method {
        HighLowMethod::Mean => ["mean_recency_days", "mean_frequency", "mean_monetary"],
        HighLowMethod::Median => ["median_recency_days", "median_frequency", "median_monetary"],
        HighLowMethod::Fixed => ["fixed_recency_days", "fixed_frequency", "fixed_monetary"],
    };
    let (r_high, r_centre) = beyond_centre(
        method,
        &pop.recency_days,
        recency,
        rules.fixed_recency_days,
        false,
    );
    let (f_high, f_centre) = beyond_centre(
        method,
        &pop.frequency,
        f.frequency as i64,
        rules.fixed_frequency,
        true,
    );
    let (m_high, m_centre) = beyond_centre(
        method,
        &pop.monetary,
        f.monetary,
        rules.fixed_monetary,
        true,
    );

    let code = match (r_high, f_high, m_high) {
        (true, true, true) => "IMPORTANT_VALUE",
        (true, false, true) => "IMPORTANT_DEVELOP",
        (false, true, true) => "IMPORTANT_KEEP",
        (false, false, true) => "IMPORTANT_RETAIN",
        (true, true, false) => "GENERAL_VALUE",
        (true, false, false) => "GENERAL_DEVELOP",
        (false, true, false) => "GENERAL_KEEP",
        (false, false, false) => "GENERAL_RETAIN",
    };
    let reasons = [
        ctx.reason("rfm.scores", true)
            .observed("rfm", scores)
            .observed("active_buyers", pop.active_buyers()),
        ctx.reason("rfm.recency_high", r_high)
            .observed("recency_days", recency)
            .threshold(centre_recency_days, r_centre),
        ctx.reason("rfm.frequency_high", f_high)
            .observed("frequency", f.frequency)
            .threshold(centre_frequency, f_centre),
        ctx.reason("rfm.monetary_high", m_high)
            .observed("monetary", f.monetary)
            .threshold(centre_monetary, m_centre),
    ];
    Decision::new(code, reasons)
}

pub fn value_tier(ctx: &Context<'_>) -> Decision {
    let f = ctx.features;
    if !f.is_buyer() {
        return no_purchases(ctx);
    }
    let lookback = ctx.rules.windows.lookback_days;
    if !f.is_active_buyer() {
        return Decision::new(
            "LOW",
            [ctx.reason("value_tier.no_purchase_in_lookback", true)
                .observed("frequency", 0)
                .threshold("lookback_days", lookback)],
        );
    }
    let rules = &ctx.rules.value_tier;
    pareto_tier(
        ctx,
        &ctx.population.value_tier,
        f.profit,
        (rules.high_profit_share, rules.low_customer_share),
        &TierLabels {
            high_rule: "value_tier.high_head",
            low_rule: "value_tier.low_tail",
            value: "profit",
            high_share: "high_profit_share",
            last_high: "last_high_profit",
            first_low: "first_low_profit",
        },
        |reason| reason,
    )
}

/// How one 80/20 tier dimension names the rules and values in its reasons.
pub(super) struct TierLabels {
    pub high_rule: &'static str,
    pub low_rule: &'static str,
    /// The ordering value (profit, CLV).
    pub value: &'static str,
    pub high_share: &'static str,
    pub last_high: &'static str,
    pub first_low: &'static str,
}

/// HIGH / MEDIUM / LOW by placing (value, customer id) against 80/20 boundaries (value
/// descending, then id ascending): HIGH at or before the last HIGH mark, LOW at or after the
/// first LOW mark, MEDIUM between. `shares` are (high share, low customer share), for the
/// reasons; `cite` adds what else the HIGH reason shows.
pub(super) fn pareto_tier(
    ctx: &Context<'_>,
    bounds: &ValueTierBounds,
    value: i64,
    shares: (Share, Share),
    labels: &TierLabels,
    cite: impl Fn(Draft) -> Draft,
) -> Decision {
    let id = ctx.customer_id;
    let high = bounds.is_high(value, id);
    let mut high_reason = cite(ctx.reason(labels.high_rule, high))
        .observed(labels.value, value)
        .threshold(labels.high_share, shares.0)
        .threshold("high_customers", bounds.high_count);
    if let Some(mark) = &bounds.last_high {
        high_reason = high_reason
            .threshold(labels.last_high, mark.profit)
            .threshold("last_high_customer_id", &mark.customer_id);
    }
    if high {
        return Decision::new("HIGH", [high_reason]);
    }
    let low = bounds.is_low(value, id);
    let mut low_reason = ctx
        .reason(labels.low_rule, low)
        .observed(labels.value, value)
        .threshold("low_customer_share", shares.1)
        .threshold("low_customers", bounds.low_count);
    if let Some(mark) = &bounds.first_low {
        low_reason = low_reason
            .threshold(labels.first_low, mark.profit)
            .threshold("first_low_customer_id", &mark.customer_id);
    }
    Decision::new(
        if low { "LOW" } else { "MEDIUM" },
        [high_reason, low_reason],
    )
}

pub fn demand(ctx: &Context<'_>) -> Decision {
    let f = ctx.features;
    if !f.is_buyer() {
        return no_purchases(ctx);
    }
    let rules = &ctx.rules.demand;
    let score = ctx.population.units.score_ascending(f.units as i64);
    let categories = f.distinct_categories;
    let high = score >= rules.high_units_score || categories >= rules.high_min_categories;
    let high_reason = ctx
        .reason("demand.high", high)
        .observed("units", f.units)
        .observed("units_score", score)
        .observed("distinct_categories", categories)
        .threshold("high_units_score", rules.high_units_score)
        .threshold("high_min_categories", rules.high_min_categories);
    if high {
        return Decision::new("HIGH", [high_reason]);
    }
    let low = score <= rules.low_max_units_score && categories < rules.low_categories_below;
    let low_reason = ctx
        .reason("demand.low", low)
        .observed("units_score", score)
        .observed("distinct_categories", categories)
        .threshold("low_max_units_score", rules.low_max_units_score)
        .threshold("low_categories_below", rules.low_categories_below);
    Decision::new(
        if low { "LOW" } else { "MEDIUM" },
        [high_reason, low_reason],
    )
}

pub fn account_quadrant(ctx: &Context<'_>, scores: Option<RfmScores>) -> Decision {
    let f = ctx.features;
    let (Some(scores), Some(tenure)) = (scores, f.tenure_days) else {
        return no_purchases(ctx);
    };
    let rules = &ctx.rules.account_quadrant;
    let old = tenure >= rules.old_min_tenure_days;
    let old_reason = ctx
        .reason("account_quadrant.old", old)
        .observed("tenure_days", tenure)
        .threshold("old_min_tenure_days", rules.old_min_tenure_days);
    let big_reason = match rules.big_rule {
        BigAccountRule::MScore => ctx
            .reason(
                "account_quadrant.big",
                scores.monetary >= rules.big_min_m_score,
            )
            .observed("m_score", scores.monetary)
            .threshold("big_min_m_score", rules.big_min_m_score),
        BigAccountRule::FixedAmount => ctx
            .reason("account_quadrant.big", f.monetary >= rules.big_min_monetary)
            .observed("monetary", f.monetary)
            .threshold("big_min_monetary", rules.big_min_monetary),
    };
    let code = match (old, big_reason.matched()) {
        (true, true) => "OLD_BIG",
        (false, true) => "NEW_BIG",
        (false, false) => "NEW_SMALL",
        (true, false) => "OLD_SMALL",
    };
    Decision::new(code, [old_reason, big_reason])
}
