//! The predictive part of a snapshot: both fits over every buyer, recorded failures, the
//! predicted value tier, storage and the content id.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::sim::simulate_bg_nbd;
use crate::domain::population::PopulationStats;
use crate::domain::predictive::{
    fit_predictive, BgNbdParams, FitFailureKind, FitOutcome, PredictiveStats, PurchaseDays,
};
use crate::domain::rules::{PredictiveRules, RuleSet};
use crate::domain::time::Timestamp;

fn rules() -> PredictiveRules {
    RuleSet::builtin().expect("built-in rules").rules.predictive
}

/// A stopwatch that says every fit took `millis`.
fn fit(buyers: &[(String, PurchaseDays)], millis: u64) -> PredictiveStats {
    fit_predictive(buyers, &rules(), &move |run| {
        run();
        millis
    })
}

/// Purchase days of a buyer whose first purchase was `age` days before the as-of day (1000).
fn days(repeat_days: u32, recency: i64, age: i64, repeat_total: i128) -> PurchaseDays {
    PurchaseDays {
        first_day: 1_000 - age,
        last_day: 1_000 - age + recency,
        as_of_day: 1_000,
        repeat_days,
        repeat_total,
    }
}

/// BG/NBD buyers at whole days, spending 1,000 to 10,000 per repeat day.
fn simulated(customers: usize) -> Vec<(String, PurchaseDays)> {
    let params = BgNbdParams {
        r: 0.25,
        alpha: 4.0,
        a: 0.8,
        b: 2.5,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    simulate_bg_nbd(&mut rng, &params, customers, (30.0, 400.0))
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let spend = 1_000 * (1 + (i as i128 % 10));
            let purchase = days(
                s.frequency,
                s.recency.floor() as i64,
                s.age.floor() as i64,
                spend * i128::from(s.frequency),
            );
            (format!("c{i:05}"), purchase)
        })
        .collect()
}

#[test]
fn both_models_are_fitted_over_every_buyer() {
    let buyers = simulated(3_000);
    let stats = fit(&buyers, 7);
    let repeat = buyers.iter().filter(|(_, d)| d.repeat_days > 0).count() as u64;
    assert_eq!((stats.buyers, stats.repeat_buyers), (3_000, repeat));
    let FitOutcome::Fitted(bg) = &stats.bg_nbd.outcome else {
        panic!("BG/NBD fitted: {:?}", stats.bg_nbd)
    };
    assert_eq!(bg.customers, 3_000);
    for value in [bg.r, bg.alpha, bg.a, bg.b, bg.log_likelihood] {
        assert!(value.is_finite(), "{bg:?}");
    }
    let FitOutcome::Fitted(gg) = &stats.gamma_gamma.outcome else {
        panic!("Gamma-Gamma fitted: {:?}", stats.gamma_gamma)
    };
    assert_eq!(gg.customers, repeat);
    assert_eq!(
        (stats.bg_nbd.fit_millis, stats.gamma_gamma.fit_millis),
        (7, 7)
    );
    assert_eq!((stats.horizon_days, stats.time_unit.code()), (365, "days"));

    // Every buyer is placed by its own prediction exactly where the ranking put it.
    let tier = &stats.value_tier;
    let mut high = 0;
    let mut low = 0;
    for (id, purchase) in &buyers {
        let clv = stats
            .predict(purchase)
            .expect("fitted")
            .clv_minor
            .expect("clv");
        high += u64::from(tier.is_high(clv, id));
        low += u64::from(tier.is_low(clv, id));
        assert!(!(tier.is_high(clv, id) && tier.is_low(clv, id)), "{id}");
    }
    assert_eq!((high, low), (tier.high_count, tier.low_count));
    assert_eq!(tier.low_count, 600); // floor(20 % of 3,000), nobody of them HIGH
    assert!(tier.high_count > 0 && tier.high_count < 3_000);
}

#[test]
fn a_population_the_models_cannot_learn_from_is_a_recorded_outcome() {
    let stats = fit(&Vec::<(String, PurchaseDays)>::new(), 0);
    assert_eq!(stats.buyers, 0);
    for kind in [
        failure(&stats.bg_nbd.outcome),
        failure(&stats.gamma_gamma.outcome),
    ] {
        assert_eq!(kind, Some(FitFailureKind::NoBuyers));
    }
    // Nobody bought on a second day.
    let first_timers: Vec<(String, PurchaseDays)> = (0..50)
        .map(|i| (format!("f{i}"), days(0, 0, 10 + i, 0)))
        .collect();
    let stats = fit(&first_timers, 0);
    assert_eq!((stats.buyers, stats.repeat_buyers), (50, 0));
    assert_eq!(
        failure(&stats.bg_nbd.outcome),
        Some(FitFailureKind::NoRepeatBuyers)
    );
    assert_eq!(
        failure(&stats.gamma_gamma.outcome),
        Some(FitFailureKind::NoRepeatBuyers)
    );
    assert_eq!(stats.value_tier.high_count + stats.value_tier.low_count, 0);
    let failed = stats.predict(&first_timers[0].1).expect_err("not fitted");
    assert_eq!(failed.kind, FitFailureKind::NoRepeatBuyers);
}

fn failure<T>(outcome: &FitOutcome<T>) -> Option<FitFailureKind> {
    match outcome {
        FitOutcome::Fitted(_) => None,
        FitOutcome::Failed(failure) => Some(failure.kind),
    }
}

#[test]
fn one_buyer_and_identical_buyers_still_give_finite_models_and_tiers() {
    let one = vec![("only".to_owned(), days(3, 60, 90, 9_000))];
    let stats = fit(&one, 0);
    assert!(stats.bg_nbd.outcome.fitted().is_some());
    let p = stats.predict(&one[0].1).expect("fitted");
    assert!((0.0..=1.0).contains(&p.prediction.probability_alive));
    assert!(p.clv_minor.is_some_and(|clv| clv >= 0));
    // The only buyer holds all of the CLV: HIGH; floor(0.2) = 0 LOW.
    assert_eq!(
        (stats.value_tier.high_count, stats.value_tier.low_count),
        (1, 0)
    );

    // Identical buyers have identical CLVs; ties are ordered by id.
    let same: Vec<(String, PurchaseDays)> = (0..10)
        .map(|i| (format!("s{i}"), days(2, 30, 100, 4_000)))
        .collect();
    let stats = fit(&same, 0);
    let tier = &stats.value_tier;
    assert_eq!((tier.high_count, tier.low_count), (8, 2));
    let last_high = tier.last_high.as_ref().expect("a HIGH head");
    assert_eq!(last_high.customer_id, "s7");
}

#[test]
fn the_fits_are_stored_and_old_snapshots_stay_readable() {
    let stats = PopulationStats::empty(Timestamp::from_seconds(86_400))
        .with_predictive(fit(&simulated(500), 3));
    let json = serde_json::to_string(&stats).expect("encodes");
    let back: PopulationStats = serde_json::from_str(&json).expect("decodes");
    assert_eq!(back, stats);

    // A snapshot stored before the predictive models: no `predictive` key.
    let mut old: serde_json::Value = serde_json::from_str(&json).expect("json");
    old.as_object_mut().expect("object").remove("predictive");
    let old: PopulationStats = serde_json::from_value(old).expect("an old snapshot decodes");
    assert_eq!(
        failure(&old.predictive.bg_nbd.outcome),
        Some(FitFailureKind::NotFitted)
    );
}

#[test]
fn the_snapshot_id_follows_the_models_but_not_the_fit_time() {
    let buyers = simulated(400);
    let base = || PopulationStats::empty(Timestamp::from_seconds(86_400));
    let fast = base().with_predictive(fit(&buyers, 1));
    let slow = base().with_predictive(fit(&buyers, 900));
    assert_eq!(fast.info.id, slow.info.id);
    let other = base().with_predictive(fit(&buyers[..300], 1));
    assert_ne!(fast.info.id, other.info.id);
    assert_ne!(fast.info.id, base().info.id);
}

/// The snapshot keeps one alive curve per distinct (x, T) of its buyers, and a prediction read
/// through them is the prediction computed from scratch, bit for bit, at the snapshot's day and
/// at another.
#[test]
fn predictions_through_the_curve_memo_equal_direct_ones() {
    let buyers = simulated(3_000);
    let stats = fit(&buyers, 0);
    let FitOutcome::Fitted(bg) = &stats.bg_nbd.outcome else {
        panic!("the simulated population fits");
    };
    let distinct: std::collections::BTreeSet<(u32, i64)> = buyers
        .iter()
        .map(|(_, d)| (d.repeat_days, d.as_of_day - d.first_day))
        .collect();
    assert_eq!(stats.curves.len(), distinct.len());
    assert!(distinct.len() < buyers.len());

    let direct = |days: &PurchaseDays| {
        crate::domain::predictive::predict(
            bg,
            stats.gamma_gamma.outcome.fitted(),
            &days.summary(stats.time_unit),
            stats.horizon_days,
            stats.annual_discount_rate.ppm as f64 / 1_000_000.0,
            stats.time_unit,
        )
    };
    for (_, days) in buyers.iter().step_by(7) {
        let later = PurchaseDays {
            as_of_day: days.as_of_day + 45,
            ..*days
        };
        for days in [*days, later] {
            let memo = stats.predict(&days).expect("fitted");
            assert_eq!(memo.prediction, direct(&days));
        }
    }
}
