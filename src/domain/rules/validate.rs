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

    /// Every segment of every dimension has a name in every locale, and no name is for a
    /// segment that does not exist.
    fn check_display_names(&self, p: &mut Problems) {
        for (dimension, names) in &self.display_names {
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
mod tests {
    use super::super::{Locale, RuleSet, VersionedRules};
    use super::*;

    fn builtin() -> VersionedRules {
        RuleSet::builtin().expect("the built-in rule set is valid")
    }

    /// The problems of an override file, which must be refused as inconsistent.
    fn refused(text: &str) -> Vec<String> {
        match RuleSet::from_toml_over_builtin(text) {
            Err(RuleSetError::Invalid(problems)) => problems,
            other => panic!("expected Invalid for {text:?}, got {other:?}"),
        }
    }

    fn has(problems: &[String], needle: &str) -> bool {
        problems.iter().any(|p| p.contains(needle))
    }

    #[test]
    fn builtin_loads_and_validates() {
        let loaded = builtin();
        assert_eq!(loaded.rules.validate(), Ok(()));
        assert_eq!(loaded.rules.lifecycle.churned_after_days, 180);
        assert_eq!(loaded.rules.playbook.len(), 42);
        assert_eq!(
            loaded
                .rules
                .display_name(Dimension::Rfm, "IMPORTANT_VALUE", Locale::ZhCn),
            "重要价值客户"
        );
    }

    #[test]
    fn content_hash_is_stable_and_follows_the_content() {
        let a = builtin().version;
        assert_eq!(a, builtin().version);
        assert!(
            a.starts_with("rules-") && a.len() == "rules-".len() + 16,
            "{a}"
        );
        // Formatting and restating a default change nothing.
        let same =
            RuleSet::from_toml_over_builtin("[lifecycle]\n  churned_after_days   = 180 # same\n");
        assert_eq!(same.map(|r| r.version), Ok(a.clone()));
        let changed = RuleSet::from_toml_over_builtin("[lifecycle]\nchurned_after_days = 200\n");
        assert_ne!(changed.map(|r| r.version), Ok(a));
    }

    #[test]
    fn a_partial_override_merges_over_the_builtin() {
        let merged = RuleSet::from_toml_over_builtin("[lifecycle]\nchurned_after_days = 200\n")
            .expect("valid override")
            .rules;
        let base = builtin().rules;
        assert_eq!(merged.lifecycle.churned_after_days, 200);
        assert_eq!(
            merged.lifecycle.new_within_days,
            base.lifecycle.new_within_days
        );
        assert_eq!(merged.playbook, base.playbook);
        assert_eq!(merged.display_names, base.display_names);

        let one_name =
            "[display_names.rfm]\nNONE = { en = \"Never bought\", \"zh-CN\" = \"从未购买\" }\n";
        let renamed = RuleSet::from_toml_over_builtin(one_name)
            .expect("valid")
            .rules;
        assert_eq!(
            renamed.display_names[&Dimension::Rfm]["NONE"].en,
            "Never bought"
        );
        assert_eq!(
            renamed.display_names[&Dimension::Rfm]["IMPORTANT_VALUE"].en,
            "Important value"
        );
    }

    #[test]
    fn unknown_or_mistyped_keys_are_syntax_errors() {
        for text in [
            "[lifecycle]\nchurned_after = 200\n",
            "[lifecycle]\nchurned_after_days = \"soon\"\n",
            "[display_names.colour]\nRED = { en = \"Red\", \"zh-CN\" = \"红\" }\n",
            "[birthday\n",
        ] {
            let result = RuleSet::from_toml_over_builtin(text);
            assert!(
                matches!(result, Err(RuleSetError::Syntax(_))),
                "{text:?}: {result:?}"
            );
        }
    }

    #[test]
    fn every_threshold_problem_is_reported_at_once() {
        let problems = refused(
            "[windows]\nlookback_days = 0\n\
             [value_tier]\nhigh_profit_share = 0.0\nlow_customer_share = 1.5\n\
             [activity]\nsilent_max_days = 20\nlost_cap = { max_contacts = 1, per_days = 60 }\n\
             [satisfaction]\nhigh_min_csat = 2.5\nmedium_min_csat = 3.0\n\
             [advocacy]\npromoter_min_nps = 11\npassive_min_nps = 9\n\
             [demand]\nhigh_units_score = 6\n\
             [birthday]\ndays_ahead = -1\n",
        );
        for needle in [
            "windows.lookback_days must be above 0, is 0",
            "value_tier.high_profit_share must be a share in (0, 1], is 0",
            "value_tier.low_customer_share must be a share in [0, 1], is 1.5",
            "active_max_days (30) < silent_max_days (20) < forgotten_max_days (180)",
            "activity.lost_cap.per_days must be 30 or 90",
            "satisfaction.medium_min_csat (3) must not exceed satisfaction.high_min_csat (2.5)",
            "advocacy.promoter_min_nps must be in 0..=10, is 11",
            "demand.high_units_score must be in 1..=5, is 6",
            "birthday.days_ahead must be in 0..=365, is -1",
        ] {
            assert!(has(&problems, needle), "{needle:?} not in {problems:#?}");
        }
        assert_eq!(problems.len(), 9, "{problems:#?}");
    }

    #[test]
    fn csat_and_nps_bounds() {
        let problems = refused("[satisfaction]\nhigh_min_csat = 5.5\nmedium_min_csat = 0.5");
        assert_eq!(
            problems,
            [
                "satisfaction.high_min_csat must be a CSAT score in 1..5, is 5.5",
                "satisfaction.medium_min_csat must be a CSAT score in 1..5, is 0.5",
            ]
        );
        let problems = refused("[advocacy]\npassive_min_nps = 10\npromoter_min_nps = 9\n");
        assert_eq!(
            problems,
            ["advocacy.passive_min_nps (10) must not exceed advocacy.promoter_min_nps (9)"]
        );
    }

    #[test]
    fn display_names_must_exist_and_be_complete() {
        let problems = refused(
            "[display_names.rfm]\nBOGUS = { en = \"Bogus\", \"zh-CN\" = \"假\" }\n\
             NONE = { en = \"No purchases\", \"zh-CN\" = \" \" }\n",
        );
        assert_eq!(
            problems,
            [
                "display_names.rfm.BOGUS: rfm has no segment \"BOGUS\"",
                "display_names.rfm.NONE: the zh-CN text is empty",
            ]
        );

        let mut rules = builtin().rules;
        if let Some(names) = rules.display_names.get_mut(&Dimension::DecisionStyle) {
            names.remove("UNKNOWN");
        }
        assert_eq!(
            rules.validate(),
            Err(RuleSetError::Invalid(vec![
                "display_names.decision_style.UNKNOWN is missing".to_owned()
            ]))
        );
    }

    #[test]
    fn an_empty_playbook_is_refused_naming_each_missing_row() {
        let mut rules = builtin().rules;
        rules.playbook.clear();
        let Err(RuleSetError::Invalid(problems)) = rules.validate() else {
            panic!("an empty playbook must be refused");
        };
        for needle in [
            "playbook has no row for sales_persona FREE",
            "playbook has no row for rfm GENERAL_RETAIN",
            "playbook has no row for account_quadrant OLD_SMALL",
            "playbook has no row for the birthday",
        ] {
            assert!(has(&problems, needle), "{needle:?} not in {problems:#?}");
        }
        // 40 segment rows, the birthday greeting and its gift variant.
        assert_eq!(problems.len(), 42, "{problems:#?}");
    }

    #[test]
    fn the_error_message_joins_every_problem() {
        let error =
            RuleSet::from_toml_over_builtin("[windows]\nlookback_days = 0\nfeedback_days = -1\n")
                .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "rule set is inconsistent: windows.lookback_days must be above 0, is 0; \
             windows.feedback_days must be above 0, is -1"
        );
    }
}
