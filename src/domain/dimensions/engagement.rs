//! Behaviour over time: engagement (3.3), lifecycle (3.5) and activity period (3.6).

use super::classify::{Context, Decision};
use super::{Reasons, NONE};

pub fn engagement(ctx: &Context<'_>) -> Decision {
    let rules = &ctx.rules.engagement;
    let count = ctx.features.interactions_90d;
    let code = if count >= rules.frequent_min {
        "FREQUENT"
    } else if count >= rules.occasional_min {
        "OCCASIONAL"
    } else {
        "RARE"
    };
    let reason = ctx
        .reason("engagement.interactions", true)
        .observed("interactions_90d", count)
        .threshold("frequent_min", rules.frequent_min)
        .threshold("occasional_min", rules.occasional_min);
    Decision::new(code, [reason])
}

/// First match wins; `satisfaction` is the already decided satisfaction code.
pub fn lifecycle(ctx: &Context<'_>, satisfaction: &str) -> Decision {
    let f = ctx.features;
    let rules = &ctx.rules.lifecycle;
    let mut reasons = Reasons::default();

    let potential = !f.is_buyer();
    reasons.push(
        ctx.reason("lifecycle.potential", potential)
            .observed("purchases_ever", f.purchases_ever),
    );
    let (Some(recency), Some(tenure), Some(first)) =
        (f.recency_days, f.tenure_days, f.first_purchase_at)
    else {
        return Decision::new("POTENTIAL", reasons);
    };

    let churned = recency > rules.churned_after_days;
    reasons.push(
        ctx.reason("lifecycle.churned", churned)
            .observed("recency_days", recency)
            .threshold("churned_after_days", rules.churned_after_days),
    );
    if churned {
        return Decision::new("CHURNED", reasons);
    }

    let first_is_recent = f.within(first, rules.new_within_days);
    let new = first_is_recent || f.purchases_ever == 1;
    reasons.push(
        ctx.reason("lifecycle.new", new)
            .observed("first_purchase_at", first)
            .observed("tenure_days", tenure)
            .observed("purchases_ever", f.purchases_ever)
            .threshold("new_within_days", rules.new_within_days)
            .threshold("one_time_buyer_purchases", 1),
    );
    if new {
        return Decision::new("NEW", reasons);
    }

    let loyal = tenure >= rules.loyal_min_tenure_days
        && f.purchases_ever >= rules.loyal_min_purchases
        && satisfaction != "LOW";
    reasons.push(
        ctx.reason("lifecycle.loyal", loyal)
            .observed("tenure_days", tenure)
            .observed("purchases_ever", f.purchases_ever)
            .observed("satisfaction", satisfaction)
            .threshold("loyal_min_tenure_days", rules.loyal_min_tenure_days)
            .threshold("loyal_min_purchases", rules.loyal_min_purchases)
            .threshold("satisfaction_not", "LOW"),
    );
    Decision::new(if loyal { "LOYAL" } else { "MATURE" }, reasons)
}

pub fn activity_period(ctx: &Context<'_>) -> Decision {
    let rules = &ctx.rules.activity;
    let Some(recency) = ctx.features.recency_days else {
        return Decision::new(
            NONE,
            [ctx.reason("no_purchases", true)
                .observed("purchases_ever", 0)],
        );
    };
    let code = if recency <= rules.active_max_days {
        "ACTIVE"
    } else if recency <= rules.silent_max_days {
        "SILENT"
    } else if recency <= rules.forgotten_max_days {
        "FORGOTTEN"
    } else {
        "LOST"
    };
    let reason = ctx
        .reason("activity_period.recency", true)
        .observed("recency_days", recency)
        .threshold("active_max_days", rules.active_max_days)
        .threshold("silent_max_days", rules.silent_max_days)
        .threshold("forgotten_max_days", rules.forgotten_max_days);
    Decision::new(code, [reason])
}
