//! Validation of rule sets: every problem at once, with the field it concerns.

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
    assert_eq!(loaded.rules.playbook.len(), 47);
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
        renamed.display_names.as_map()[&Dimension::Rfm]["NONE"].en,
        "Never bought"
    );
    assert_eq!(
        renamed.display_names.as_map()[&Dimension::Rfm]["IMPORTANT_VALUE"].en,
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
    let mut names = rules.display_names.as_map().clone();
    if let Some(names) = names.get_mut(&Dimension::DecisionStyle) {
        names.remove("UNKNOWN");
    }
    rules.display_names = names.into();
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
        "playbook has no row for the win-back of churn_risk HIGH with predicted_value_tier HIGH",
    ] {
        assert!(has(&problems, needle), "{needle:?} not in {problems:#?}");
    }
    // 40 segment rows, the birthday greeting and its gift variant, the high-value win-back.
    assert_eq!(problems.len(), 43, "{problems:#?}");
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

#[test]
fn predictive_settings_have_defaults_and_are_checked() {
    let p = builtin().rules.predictive;
    assert_eq!(p.time_unit, crate::domain::predictive::TimeUnit::Days);
    assert_eq!(p.horizon_days, 365);
    assert_eq!(
        [
            p.annual_discount_rate,
            p.churn_high_below,
            p.churn_low_at_least,
            p.high_clv_share,
            p.low_customer_share,
        ]
        .map(|s| s.ppm),
        [100_000, 300_000, 700_000, 800_000, 200_000]
    );
    let weeks = RuleSet::from_toml_over_builtin("[predictive]\ntime_unit = \"weeks\"\n")
        .expect("valid")
        .rules;
    assert_eq!(
        weeks.predictive.time_unit,
        crate::domain::predictive::TimeUnit::Weeks
    );

    let problems = refused(
        "[predictive]\nhorizon_days = 0\nannual_discount_rate = -0.1\n\
         churn_high_below = 0.8\nchurn_low_at_least = 0.6\n\
         high_clv_share = 0.0\nlow_customer_share = 1.2\n",
    );
    assert_eq!(
        problems,
        [
            "predictive.horizon_days must be in 1..=3650, is 0",
            "predictive.annual_discount_rate must be a share in [0, 1], is -0.1",
            "predictive.churn_high_below (0.8) must not exceed predictive.churn_low_at_least (0.6)",
            "predictive.high_clv_share must be a share in (0, 1], is 0",
            "predictive.low_customer_share must be a share in [0, 1], is 1.2",
        ]
    );
    let result = RuleSet::from_toml_over_builtin("[predictive]\ntime_unit = \"months\"\n");
    assert!(matches!(result, Err(RuleSetError::Syntax(_))), "{result:?}");
}
