//! What customers say: satisfaction (3.7) and advocacy (3.8).

use super::classify::{Context, Decision};

pub fn satisfaction(ctx: &Context<'_>) -> Decision {
    let f = ctx.features;
    let rules = &ctx.rules.satisfaction;
    let complaints = f.count_tickets(rules.complaint_window_days, |t| t.kind.is_complaint());
    let complaint_reason = |matched: bool| {
        ctx.reason("satisfaction.recent_complaint", matched)
            .observed("complaint_tickets", complaints)
            .threshold("complaint_window_days", rules.complaint_window_days)
    };

    let Some(average) = f.csat_avg_365d else {
        let code = if complaints > 0 { "LOW" } else { "UNKNOWN" };
        let no_csat = ctx
            .reason("satisfaction.no_csat", true)
            .observed("csat_answers", 0)
            .threshold("feedback_days", ctx.rules.windows.feedback_days);
        return Decision::new(code, [no_csat, complaint_reason(complaints > 0)]);
    };

    let base = if average.at_least_ppm(rules.high_min_csat.ppm) {
        "HIGH"
    } else if average.at_least_ppm(rules.medium_min_csat.ppm) {
        "MEDIUM"
    } else {
        "LOW"
    };
    let csat_reason = ctx
        .reason("satisfaction.csat_average", true)
        .observed("csat_avg_365d", average)
        .observed("csat_answers", f.csat_count_365d)
        .threshold("high_min_csat", rules.high_min_csat)
        .threshold("medium_min_csat", rules.medium_min_csat);
    let lowered = complaints > 0;
    let code = match (base, lowered) {
        ("HIGH", true) => "MEDIUM",
        ("MEDIUM", true) => "LOW",
        (base, _) => base,
    };
    Decision::new(code, [csat_reason, complaint_reason(lowered)])
}

pub fn advocacy(ctx: &Context<'_>) -> Decision {
    let f = ctx.features;
    let rules = &ctx.rules.advocacy;
    let referrals = f.referrals_365d;
    let Some(nps) = f.last_nps else {
        let promoter = referrals >= 1;
        let reason = ctx
            .reason("advocacy.referral_without_nps", promoter)
            .observed("referrals_365d", referrals)
            .threshold("min_referrals", 1);
        return Decision::new(if promoter { "PROMOTER" } else { "UNKNOWN" }, [reason]);
    };
    let nps_reason = ctx
        .reason("advocacy.latest_nps", true)
        .observed("last_nps", nps.score)
        .observed("last_nps_at", nps.at)
        .threshold("promoter_min_nps", rules.promoter_min_nps)
        .threshold("passive_min_nps", rules.passive_min_nps);
    if nps.score >= rules.promoter_min_nps {
        return Decision::new("PROMOTER", [nps_reason]);
    }
    if nps.score >= rules.passive_min_nps {
        let lifted = rules.referral_lifts_passive && referrals >= 1;
        let lift_reason = ctx
            .reason("advocacy.passive_lifted_by_referral", lifted)
            .observed("referrals_365d", referrals)
            .threshold("min_referrals", 1);
        return Decision::new(
            if lifted { "PROMOTER" } else { "PASSIVE" },
            [nps_reason, lift_reason],
        );
    }
    Decision::new("DETRACTOR", [nps_reason])
}
