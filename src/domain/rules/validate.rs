//! Validation of a rule set before use: a bad one is refused with the reason. Every problem is
//! collected, so one round of fixes is enough.

use super::super::dimensions::Dimension;
use super::super::playbook::{check_playbook, check_text};
use super::{ContactCap, RuleSet, Share};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleSetError {
    #[error("rule set is not valid TOML or has unknown or mistyped keys: {0}")]
    Syntax(String),
    #[error("rule set is inconsistent: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

const ONE: i64 = 1_000_000;

/// The longest prediction horizon: ten years (a CLV sums one term per 30 days of it).
const MAX_HORIZON_DAYS: i64 = 3_650;

/// Collects one message per problem.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.0.push(message());
        }
    }

    fn positive(&mut self, name: &str, value: i64) {
        self.check(value > 0, || format!("{name} must be above 0, is {value}"));
    }

    fn at_least(&mut self, name: &str, value: u64, min: u64) {
        self.check(value >= min, || {
            format!("{name} must be at least {min}, is {value}")
        });
    }

    fn between(&mut self, name: &str, value: i64, min: i64, max: i64) {
        self.check((min..=max).contains(&value), || {
            format!("{name} must be in {min}..={max}, is {value}")
        });
    }

    /// A share of something: in [0, 1], or (0, 1] when it may not be zero.
    fn share(&mut self, name: &str, share: Share, zero_allowed: bool) {
        let (lowest, open) = if zero_allowed { (0, "[") } else { (1, "(") };
        self.check((lowest..=ONE).contains(&share.ppm), || {
            format!("{name} must be a share in {open}0, 1], is {share}")
        });
    }

    fn cap(&mut self, name: &str, cap: &ContactCap) {
        self.check(matches!(cap.per_days, 30 | 90), || {
            format!(
                "activity.{name}.per_days must be 30 or 90 (the counted windows), is {}",
                cap.per_days
            )
        });
    }
}

impl RuleSet {
    /// `Ok` when the rule set can be used; otherwise every problem, one message each.
    pub fn validate(&self) -> Result<(), RuleSetError> {
        let mut problems = Problems::default();
        self.check_windows_and_values(&mut problems);
        self.check_activity_and_feedback(&mut problems);
        self.check_personas(&mut problems);
        self.check_predictive(&mut problems);
        self.check_display_names(&mut problems);
        check_playbook(self, &mut problems.0);
        if problems.0.is_empty() {
            Ok(())
        } else {
            Err(RuleSetError::Invalid(problems.0))
        }
    }

    fn check_windows_and_values(&self, p: &mut Problems) {
        let w = &self.windows;
        p.positive("windows.lookback_days", w.lookback_days);
        p.positive("windows.feedback_days", w.feedback_days);
        p.positive("windows.interactions_days", w.interactions_days);

        let r = &self.rfm;
        p.between("rfm.fixed_recency_days", r.fixed_recency_days, 0, i64::MAX);
        p.between("rfm.fixed_frequency", r.fixed_frequency, 0, i64::MAX);
        p.between("rfm.fixed_monetary", r.fixed_monetary, 0, i64::MAX);

        let v = &self.value_tier;
        p.share("value_tier.high_profit_share", v.high_profit_share, false);
        p.share("value_tier.low_customer_share", v.low_customer_share, true);

        let e = &self.engagement;
        p.check(e.occasional_min <= e.frequent_min, || {
            format!(
                "engagement.occasional_min ({}) must not exceed engagement.frequent_min ({})",
                e.occasional_min, e.frequent_min
            )
        });

        let d = &self.demand;
        p.between("demand.high_units_score", d.high_units_score.into(), 1, 5);
        p.between(
            "demand.low_max_units_score",
            d.low_max_units_score.into(),
            1,
            5,
        );
        p.check(d.low_max_units_score < d.high_units_score, || {
            format!(
                "demand.low_max_units_score ({}) must be below demand.high_units_score ({})",
                d.low_max_units_score, d.high_units_score
            )
        });

        let l = &self.lifecycle;
        p.positive("lifecycle.churned_after_days", l.churned_after_days);
        p.positive("lifecycle.new_within_days", l.new_within_days);
        p.between(
            "lifecycle.loyal_min_tenure_days",
            l.loyal_min_tenure_days,
            0,
            i64::MAX,
        );
        p.at_least("lifecycle.loyal_min_purchases", l.loyal_min_purchases, 1);

        let q = &self.account_quadrant;
        p.positive(
            "account_quadrant.old_min_tenure_days",
            q.old_min_tenure_days,
        );
        p.between(
            "account_quadrant.big_min_m_score",
            q.big_min_m_score.into(),
            1,
            5,
        );
        p.between(
            "account_quadrant.big_min_monetary",
            q.big_min_monetary,
            0,
            i64::MAX,
        );

        let c = &self.customer_type;
        p.at_least(
            "customer_type.problem_min_tickets_180d",
            c.problem_min_tickets_180d,
            1,
        );
        p.share(
            "customer_type.problem_min_refund_rate",
            c.problem_min_refund_rate,
            true,
        );
        let convenience = c.convenience_min_discount_share;
        p.share(
            "customer_type.convenience_min_discount_share",
            convenience,
            true,
        );

        p.between("birthday.days_ahead", self.birthday.days_ahead, 0, 365);
    }

    fn check_activity_and_feedback(&self, p: &mut Problems) {
        let a = &self.activity;
        p.between("activity.active_max_days", a.active_max_days, 0, i64::MAX);
        p.check(
            a.active_max_days < a.silent_max_days && a.silent_max_days < a.forgotten_max_days,
            || {
                format!(
                    "activity periods must grow: active_max_days ({}) < silent_max_days ({}) \
                     < forgotten_max_days ({})",
                    a.active_max_days, a.silent_max_days, a.forgotten_max_days
                )
            },
        );
        p.cap("active_cap", &a.active_cap);
        p.cap("silent_cap", &a.silent_cap);
        p.cap("forgotten_cap", &a.forgotten_cap);
        p.cap("lost_cap", &a.lost_cap);

        let s = &self.satisfaction;
        for (name, csat) in [
            ("high_min_csat", s.high_min_csat),
            ("medium_min_csat", s.medium_min_csat),
        ] {
            p.check((ONE..=5 * ONE).contains(&csat.ppm), || {
                format!("satisfaction.{name} must be a CSAT score in 1..5, is {csat}")
            });
        }
        p.check(s.medium_min_csat <= s.high_min_csat, || {
            format!(
                "satisfaction.medium_min_csat ({}) must not exceed satisfaction.high_min_csat ({})",
                s.medium_min_csat, s.high_min_csat
            )
        });
        p.positive(
            "satisfaction.complaint_window_days",
            s.complaint_window_days,
        );

        let n = &self.advocacy;
        p.between(
            "advocacy.promoter_min_nps",
            n.promoter_min_nps.into(),
            0,
            10,
        );
        p.between("advocacy.passive_min_nps", n.passive_min_nps.into(), 0, 10);
        p.check(n.passive_min_nps <= n.promoter_min_nps, || {
            format!(
                "advocacy.passive_min_nps ({}) must not exceed advocacy.promoter_min_nps ({})",
                n.passive_min_nps, n.promoter_min_nps
            )
        });
    }

    fn check_personas(&self, p: &mut Problems) {
        let s = &self.sales_persona;
        p.positive("sales_persona.new_within_days", s.new_within_days);
        p.share(
            "sales_persona.bargain_min_discount_share",
            s.bargain_min_discount_share,
            true,
        );
        p.at_least(
            "sales_persona.bargain_min_purchases",
            s.bargain_min_purchases,
            1,
        );
        p.at_least(
            "sales_persona.impulse_min_considerations",
            s.impulse_min_considerations,
            1,
        );
        p.at_least(
            "sales_persona.informed_min_considerations",
            s.informed_min_considerations,
            1,
        );
        let research = s.informed_min_research_per_purchase;
        p.check(research.ppm >= 0, || {
            format!("sales_persona.informed_min_research_per_purchase must not be negative, is {research}")
        });

        let v = &self.service_persona;
        p.positive(
            "service_persona.angry_unresolved_window_days",
            v.angry_unresolved_window_days,
        );
        let sentiment = v.angry_max_sentiment;
        p.check((-1.0..=1.0).contains(&sentiment), || {
            format!("service_persona.angry_max_sentiment must be in [-1, 1], is {sentiment}")
        });
        p.between(
            "service_persona.angry_max_csat",
            v.angry_max_csat.into(),
            1,
            5,
        );
        p.at_least(
            "service_persona.demanding_min_escalations_90d",
            v.demanding_min_escalations_90d,
            1,
        );
        p.at_least(
            "service_persona.demanding_min_tickets_30d",
            v.demanding_min_tickets_30d,
            1,
        );
        p.at_least(
            "service_persona.curious_min_questions_90d",
            v.curious_min_questions_90d,
            1,
        );
        p.positive(
            "service_persona.advocate_complaint_free_days",
            v.advocate_complaint_free_days,
        );
    }

    fn check_predictive(&self, p: &mut Problems) {
        let r = &self.predictive;
        p.between(
            "predictive.horizon_days",
            r.horizon_days.into(),
            1,
            MAX_HORIZON_DAYS,
        );
        p.share(
            "predictive.annual_discount_rate",
            r.annual_discount_rate,
            true,
        );
        p.share("predictive.churn_high_below", r.churn_high_below, true);
        p.share("predictive.churn_low_at_least", r.churn_low_at_least, true);
        p.check(r.churn_high_below <= r.churn_low_at_least, || {
            format!(
                "predictive.churn_high_below ({}) must not exceed predictive.churn_low_at_least ({})",
                r.churn_high_below, r.churn_low_at_least
            )
        });
        p.share("predictive.high_clv_share", r.high_clv_share, false);
        p.share("predictive.low_customer_share", r.low_customer_share, true);
    }

    /// Every segment of every dimension has a name in every locale, and no name is for a
    /// segment that does not exist.
    fn check_display_names(&self, p: &mut Problems) {
        for (dimension, names) in self.display_names.as_map() {
            for code in names.keys().filter(|code| !dimension.has_segment(code)) {
                p.0.push(format!(
                    "display_names.{dimension}.{code}: {dimension} has no segment {code:?}"
                ));
            }
        }
        for &dimension in Dimension::ALL {
            for code in dimension.segment_codes() {
                let at = format!("display_names.{dimension}.{code}");
                match self
                    .display_names
                    .as_map()
                    .get(&dimension)
                    .and_then(|n| n.get(*code))
                {
                    Some(text) => check_text(text, &at, &mut p.0),
                    None => p.0.push(format!("{at} is missing")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
