//! Who the customer is to the people who meet them: sales persona (3.10), service persona
//! (3.11), customer type (3.12) and decision style (3.13).

use super::classify::{Context, Decision};
use super::{deferred, Draft, OrNone, Reasons};
use crate::domain::history::{DecisionStyle, Plan, TicketKind};

/// Every rule is evaluated: the first match is the persona, later matches are secondary traits.
fn first_match_with_traits<const N: usize>(
    candidates: [(&'static str, Draft); N],
    fallback: &'static str,
) -> Decision {
    let mut matched = candidates
        .iter()
        .filter(|(_, reason)| reason.matched())
        .map(|(code, _)| *code);
    // Most customers match one rule at most: only further matches allocate.
    let primary = matched.next();
    let secondary: Vec<&'static str> = matched.collect();
    let reasons: Reasons = candidates.into_iter().map(|(_, reason)| reason).collect();
    match primary {
        Some(primary) => Decision::new(primary, reasons).with_secondary(secondary),
        None => Decision::new(fallback, reasons),
    }
}

pub fn sales_persona(ctx: &Context<'_>) -> Decision {
    let f = ctx.features;
    let rules = &ctx.rules.sales_persona;

    let free_plan = matches!(f.current_plan, Some(Plan::Free | Plan::Trial));
    let free = ctx
        .reason("sales_persona.free", !f.is_buyer() && free_plan)
        .observed("purchases_ever", f.purchases_ever)
        .observed("current_plan", f.current_plan.map_or("none", Plan::code))
        .threshold("plans", "FREE|TRIAL");

    let first_recent = f
        .first_purchase_at
        .is_some_and(|t| f.within(t, rules.new_within_days));
    let new = ctx
        .reason("sales_persona.new", first_recent)
        .observed("first_purchase_at", OrNone(f.first_purchase_at))
        .threshold("new_within_days", rules.new_within_days);

    let bargain_share = f
        .discount_share
        .is_some_and(|s| s.at_least_ppm(rules.bargain_min_discount_share.ppm));
    let bargain = ctx
        .reason(
            "sales_persona.bargain_hunter",
            bargain_share && f.frequency >= rules.bargain_min_purchases,
        )
        .observed("discount_share", OrNone(f.discount_share))
        .observed("frequency", f.frequency)
        .threshold(
            "bargain_min_discount_share",
            rules.bargain_min_discount_share,
        )
        .threshold("bargain_min_purchases", rules.bargain_min_purchases);

    let median = f.median_consideration_seconds;
    let impulse_median = median.is_some_and(|m| {
        m.numerator <= i128::from(rules.impulse_max_median_seconds) * m.denominator
    });
    let impulse = ctx
        .reason(
            "sales_persona.impulse",
            f.consideration_count >= rules.impulse_min_considerations && impulse_median,
        )
        .observed("consideration_count", f.consideration_count)
        .observed("median_consideration_seconds", OrNone(median))
        .threshold(
            "impulse_min_considerations",
            rules.impulse_min_considerations,
        )
        .threshold(
            "impulse_max_median_seconds",
            rules.impulse_max_median_seconds,
        );

    let researches = f
        .research_per_purchase
        .at_least_ppm(rules.informed_min_research_per_purchase.ppm);
    let deliberates = f.consideration_count >= rules.informed_min_considerations
        && median.is_some_and(|m| {
            m.numerator >= i128::from(rules.informed_min_median_seconds) * m.denominator
        });
    let informed = ctx
        .reason("sales_persona.informed", researches || deliberates)
        .observed("research_per_purchase", f.research_per_purchase)
        .observed("consideration_count", f.consideration_count)
        .observed("median_consideration_seconds", OrNone(median))
        .threshold(
            "informed_min_research_per_purchase",
            rules.informed_min_research_per_purchase,
        )
        .threshold(
            "informed_min_considerations",
            rules.informed_min_considerations,
        )
        .threshold(
            "informed_min_median_seconds",
            rules.informed_min_median_seconds,
        );

    first_match_with_traits(
        [
            ("FREE", free),
            ("NEW", new),
            ("BARGAIN_HUNTER", bargain),
            ("IMPULSE", impulse),
            ("INFORMED", informed),
        ],
        "REGULAR",
    )
}

pub fn service_persona(ctx: &Context<'_>, advocacy: &str, lifecycle: &str) -> Decision {
    let f = ctx.features;
    let rules = &ctx.rules.service_persona;

    let unresolved = f.count_tickets(rules.angry_unresolved_window_days, |t| {
        t.kind.is_complaint() && !t.resolved
    });
    let upset = f.count_tickets(30, |t| {
        t.kind.is_complaint() && t.sentiment.is_some_and(|s| s <= rules.angry_max_sentiment)
    });
    let bad_csat = f
        .last_csat
        .is_some_and(|csat| csat.score <= rules.angry_max_csat && f.within(csat.at, 30));
    let angry = ctx
        .reason(
            "service_persona.angry",
            unresolved > 0 || upset > 0 || bad_csat,
        )
        .observed("unresolved_complaint_tickets", unresolved)
        .observed("negative_complaint_tickets_30d", upset)
        .observed("last_csat", OrNone(f.last_csat.map(|c| c.score)))
        .observed("last_csat_at", OrNone(f.last_csat.map(|c| c.at)))
        .threshold(
            "angry_unresolved_window_days",
            rules.angry_unresolved_window_days,
        )
        .threshold("angry_max_sentiment", rules.angry_max_sentiment)
        .threshold("angry_max_csat", rules.angry_max_csat);

    let escalations = f.count_tickets(90, |t| t.kind == TicketKind::Escalation);
    let recent_tickets = f.count_tickets(30, |_| true);
    let demanding = ctx
        .reason(
            "service_persona.demanding",
            escalations >= rules.demanding_min_escalations_90d
                || recent_tickets >= rules.demanding_min_tickets_30d,
        )
        .observed("escalation_tickets_90d", escalations)
        .observed("tickets_30d", recent_tickets)
        .threshold(
            "demanding_min_escalations_90d",
            rules.demanding_min_escalations_90d,
        )
        .threshold("demanding_min_tickets_30d", rules.demanding_min_tickets_30d);

    let questions = f.count_tickets(90, |t| t.kind == TicketKind::Question);
    let curious = ctx
        .reason(
            "service_persona.curious",
            questions >= rules.curious_min_questions_90d,
        )
        .observed("question_tickets_90d", questions)
        .threshold("curious_min_questions_90d", rules.curious_min_questions_90d);

    let complaints = f.count_tickets(rules.advocate_complaint_free_days, |t| {
        t.kind.is_complaint()
    });
    let advocate = ctx
        .reason(
            "service_persona.brand_advocate",
            advocacy == "PROMOTER" && complaints == 0,
        )
        .observed("advocacy", advocacy)
        .observed("complaint_tickets", complaints)
        .threshold(
            "advocate_complaint_free_days",
            rules.advocate_complaint_free_days,
        );

    let loyal = ctx
        .reason("service_persona.loyal", lifecycle == "LOYAL")
        .observed("lifecycle", lifecycle);

    first_match_with_traits(
        [
            ("ANGRY", angry),
            ("DEMANDING", demanding),
            ("CURIOUS", curious),
            ("BRAND_ADVOCATE", advocate),
            ("LOYAL", loyal),
        ],
        "UNPREDICTABLE",
    )
}

/// The segments customer type reads from earlier dimensions.
pub struct TypeInputs<'a> {
    pub value_tier: &'a str,
    pub lifecycle: &'a str,
    pub engagement: &'a str,
}

pub fn customer_type(ctx: &Context<'_>, inputs: &TypeInputs<'_>) -> Decision {
    let f = ctx.features;
    let rules = &ctx.rules.customer_type;
    let mut reasons = Reasons::default();

    let serious = f.count_tickets(180, |t| t.kind != TicketKind::Question);
    let refunds = f
        .refund_rate
        .is_some_and(|r| r.at_least_ppm(rules.problem_min_refund_rate.ppm));
    let problem = serious >= rules.problem_min_tickets_180d || refunds;
    reasons.push(
        ctx.reason("customer_type.problem", problem)
            .observed("complaint_claim_escalation_tickets_180d", serious)
            .observed("refund_rate", OrNone(f.refund_rate))
            .threshold("problem_min_tickets_180d", rules.problem_min_tickets_180d)
            .threshold("problem_min_refund_rate", rules.problem_min_refund_rate),
    );
    if problem {
        return Decision::new("PROBLEM", reasons);
    }

    let value = inputs.value_tier == "HIGH" && matches!(inputs.lifecycle, "MATURE" | "LOYAL");
    reasons.push(
        ctx.reason("customer_type.value", value)
            .observed("value_tier", inputs.value_tier)
            .observed("lifecycle", inputs.lifecycle)
            .threshold("value_tier", "HIGH")
            .threshold("lifecycle", "MATURE|LOYAL"),
    );
    if value {
        return Decision::new("VALUE", reasons);
    }

    let young_and_engaged =
        matches!(inputs.lifecycle, "NEW" | "POTENTIAL") && inputs.engagement == "FREQUENT";
    let growing = f.is_buyer() && f.spend_trend > 0 && inputs.value_tier != "HIGH";
    reasons.push(
        ctx.reason("customer_type.potential", young_and_engaged || growing)
            .observed("lifecycle", inputs.lifecycle)
            .observed("engagement", inputs.engagement)
            .observed("spend_trend", f.spend_trend)
            .observed("value_tier", inputs.value_tier)
            .threshold("engagement", "FREQUENT")
            .threshold("min_spend_trend_exclusive", 0),
    );
    if young_and_engaged || growing {
        return Decision::new("POTENTIAL", reasons);
    }

    let discount_led = f
        .discount_share
        .is_some_and(|s| s.at_least_ppm(rules.convenience_min_discount_share.ppm));
    let convenience = f.is_buyer() && (discount_led || inputs.lifecycle != "LOYAL");
    reasons.push(
        ctx.reason("customer_type.convenience", convenience)
            .observed("purchases_ever", f.purchases_ever)
            .observed("discount_share", OrNone(f.discount_share))
            .observed("lifecycle", inputs.lifecycle)
            .threshold(
                "convenience_min_discount_share",
                rules.convenience_min_discount_share,
            ),
    );
    Decision::new(
        if convenience {
            "CONVENIENCE"
        } else {
            "UNSPECIFIED"
        },
        reasons,
    )
}

pub fn decision_style(
    ctx: &Context<'_>,
    profile_style: Option<DecisionStyle>,
    sales_primary: &str,
    sales_secondary: &[String],
) -> Decision {
    if let Some(style) = profile_style {
        let reason = ctx
            .reason("decision_style.profile", true)
            .observed("profile_decision_style", style.code());
        return Decision::new(style.code(), [reason]);
    }
    let informed = sales_primary == "INFORMED" || sales_secondary.iter().any(|t| t == "INFORMED");
    let reason = ctx
        .reason("decision_style.informed_persona", informed)
        .observed("sales_persona", sales_primary)
        .observed(
            "sales_secondary_traits",
            deferred(|| sales_secondary.join("|")),
        );
    Decision::new(if informed { "RATIONAL" } else { "UNKNOWN" }, [reason])
}
