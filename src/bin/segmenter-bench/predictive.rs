//! Fit times of the predictive models (BG/NBD + Gamma-Gamma, target <= 5 s at 1,000,000
//! customers): read from a server's current snapshot (GetPredictiveModel right after
//! RefreshSnapshot, so the snapshot is the bench population's), or fitted in this process over
//! a demo population, as the snapshot does it (`fit_predictive` over every buyer).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rayon::prelude::*;

use segmenter::api::pb;
use segmenter::demo::{DemoConfig, Generator};
use segmenter::domain::compact::CompactHistory;
use segmenter::domain::features::compute_features;
use segmenter::domain::predictive::{fit_predictive, FitOutcome, PurchaseDays};
use segmenter::domain::rules::RuleSet;

use crate::rpc::Connection;
use crate::table;

/// The population fitted in-process beside the big one: "a few thousand" customers.
pub const SMALL_POPULATION: usize = 5_000;

/// Demo customers generated per chunk when summarising in-process: the histories of a chunk
/// are dropped once summarised, so a million customers never sit in memory at once.
const CHUNK: usize = 20_000;

/// Target of both fits together at 1,000,000 customers.
pub const TARGET: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct FitFigures {
    pub buyers: u64,
    pub repeat_buyers: u64,
    pub bg_nbd: Duration,
    pub gamma_gamma: Duration,
    /// `FITTED` or why not, per model.
    pub outcome: String,
    /// In-process only: both fits plus every buyer's CLV and the predicted value tier.
    pub with_tier: Option<Duration>,
}

impl FitFigures {
    pub fn fits(&self) -> Duration {
        self.bg_nbd + self.gamma_gamma
    }

    /// `1.23 s (BG/NBD 1.00 s + Gamma-Gamma 0.23 s; 874,000 buyers, 500,000 repeat)`.
    pub fn describe(&self) -> String {
        let tier = self
            .with_tier
            .map(|d| format!("; with CLVs and tier {}", table::seconds(d)))
            .unwrap_or_default();
        format!(
            "{} (BG/NBD {} + Gamma-Gamma {}; {} buyers, {} repeat{tier}; {})",
            table::seconds(self.fits()),
            table::seconds(self.bg_nbd),
            table::seconds(self.gamma_gamma),
            table::thousands(self.buyers),
            table::thousands(self.repeat_buyers),
            self.outcome
        )
    }
}

fn status_name(status: i32) -> String {
    pb::FitStatus::try_from(status)
        .map(|s| s.as_str_name().trim_start_matches("FIT_STATUS_").to_owned())
        .unwrap_or_else(|_| format!("status {status}"))
}

/// The fit times the server measured for its current snapshot.
pub async fn from_server(connection: &Connection) -> Result<FitFigures> {
    let model = connection
        .segmentation
        .clone()
        .get_predictive_model(pb::GetPredictiveModelRequest { as_of: None })
        .await
        .context("GetPredictiveModel")?
        .into_inner();
    let bg = model.bg_nbd.unwrap_or_default();
    let gg = model.gamma_gamma.unwrap_or_default();
    Ok(FitFigures {
        buyers: model.buyers,
        repeat_buyers: model.repeat_buyers,
        bg_nbd: Duration::from_millis(bg.fit_millis),
        gamma_gamma: Duration::from_millis(gg.fit_millis),
        outcome: format!(
            "BG/NBD {}, Gamma-Gamma {}",
            status_name(bg.status),
            status_name(gg.status)
        ),
        with_tier: None,
    })
}

/// Generates a demo population of `customers` (seeded) at its default instant, summarises every
/// buyer as the snapshot does, and fits both models with the built-in rules, timing each.
pub fn in_process(customers: usize, seed: u64) -> Result<FitFigures> {
    let config = DemoConfig {
        customers,
        seed,
        ..DemoConfig::default()
    };
    let rules = RuleSet::builtin().context("the built-in rules")?;
    let windows = &rules.rules.windows;
    let generator = Generator::new(&config);
    let mut buyers: Vec<(String, PurchaseDays)> = Vec::new();
    for chunk in generator.chunks(CHUNK) {
        let summarised: Vec<(String, PurchaseDays)> = chunk
            .par_iter()
            .filter_map(|customer| {
                let compact = CompactHistory::from_history(&customer.history());
                let days = compute_features(&compact, config.as_of, windows).purchase_days?;
                Some((customer.id.clone(), days))
            })
            .collect();
        buyers.extend(summarised);
    }
    let stopwatch = |run: &mut dyn FnMut()| {
        let started = Instant::now();
        run();
        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
    };
    let started = Instant::now();
    let stats = fit_predictive(&buyers, &rules.rules.predictive, &stopwatch);
    let with_tier = started.elapsed();
    Ok(FitFigures {
        buyers: stats.buyers,
        repeat_buyers: stats.repeat_buyers,
        bg_nbd: Duration::from_millis(stats.bg_nbd.fit_millis),
        gamma_gamma: Duration::from_millis(stats.gamma_gamma.fit_millis),
        outcome: format!(
            "BG/NBD {}, Gamma-Gamma {}",
            outcome_code(&stats.bg_nbd.outcome),
            outcome_code(&stats.gamma_gamma.outcome)
        ),
        with_tier: Some(with_tier),
    })
}

fn outcome_code<T>(outcome: &FitOutcome<T>) -> &'static str {
    match outcome {
        FitOutcome::Fitted(_) => "FITTED",
        FitOutcome::Failed(failure) => failure.kind.code(),
    }
}
