//! Whole-population views: the members of one segment, and counts per segment.

use std::collections::BTreeMap;
use std::sync::Arc;

use rayon::prelude::*;

use super::classify::{classify_on, codes_on, Basis};
use super::resident::{scan_prefetched, Population, SCAN_CHUNK};
use super::{App, AppError, Classified, ClassifyOptions};
use crate::domain::dimensions::{Dimension, SegmentCodes};
use crate::domain::population::SnapshotInfo;
use crate::domain::rules::VersionedRules;

/// Customers classified per page of a scan.
const SCAN_PAGE: usize = 500;

/// A resumable walk over every stored customer in id order, classified on one basis.
pub struct Scan {
    basis: Basis,
    after: Option<String>,
    done: bool,
}

impl Scan {
    pub fn snapshot(&self) -> &SnapshotInfo {
        &self.basis.population.info
    }

    pub fn rules(&self) -> &Arc<VersionedRules> {
        &self.basis.rules
    }
}

/// Customers per segment code, for every dimension.
#[derive(Debug, Clone)]
pub struct SegmentStats {
    pub customers: u64,
    pub counts: BTreeMap<Dimension, BTreeMap<String, u64>>,
    pub snapshot: SnapshotInfo,
    pub rules: Arc<VersionedRules>,
}

impl App {
    pub async fn start_scan(&self, options: &ClassifyOptions) -> Result<Scan, AppError> {
        let basis = self.basis(options).await?;
        self.load_histories().await?;
        Ok(Scan {
            basis,
            after: None,
            done: false,
        })
    }

    /// The next page of classified customers; `None` when the walk is over.
    pub async fn next_page(&self, scan: &mut Scan) -> Result<Option<Vec<Classified>>, AppError> {
        if scan.done {
            return Ok(None);
        }
        let page = self.resident.page(scan.after.as_deref(), SCAN_PAGE);
        scan.done = page.len() < SCAN_PAGE;
        let Some((last, _)) = page.last() else {
            scan.done = true;
            return Ok(None);
        };
        scan.after = Some(last.to_string());
        let classified = page
            .iter()
            .map(|(id, history)| classify_on(&scan.basis, id, history))
            .collect();
        Ok(Some(classified))
    }

    /// Counts every stored customer per segment of every dimension (empty segments included):
    /// the whole population re-segmented, on every core.
    pub async fn segment_stats(&self, options: &ClassifyOptions) -> Result<SegmentStats, AppError> {
        let basis = self.basis(options).await?;
        self.load_histories().await?;
        let population = self.resident.population();
        let rules = basis.rules.clone();
        let snapshot = basis.population.info.clone();
        let counts = tokio::task::spawn_blocking(move || count_segments(&basis, &population))
            .await
            .map_err(|e| AppError::Internal(format!("segment counting stopped: {e}")))?;
        Ok(SegmentStats {
            customers: counts.customers,
            counts: counts.by_dimension(),
            snapshot,
            rules,
        })
    }
}

/// Segment counts as dense tables: dimension index, then the segment's index in its
/// dimension's code list. Merging two of them is adding numbers, with no allocation.
#[derive(Clone)]
struct Tally {
    customers: u64,
    per_dimension: Vec<Vec<u64>>,
    /// Codes outside the dimension's list (a pin may name any code).
    other: BTreeMap<(Dimension, String), u64>,
}

impl Tally {
    fn new() -> Self {
        Self {
            customers: 0,
            per_dimension: Dimension::ALL
                .iter()
                .map(|d| vec![0; d.segment_codes().len()])
                .collect(),
            other: BTreeMap::new(),
        }
    }

    fn add(&mut self, codes: &SegmentCodes) {
        self.customers += 1;
        for ((dimension, code), tallies) in codes.iter().zip(&mut self.per_dimension) {
            let list = dimension.segment_codes();
            // The rules mostly return the very literal the list holds, so comparing addresses
            // usually settles it; else codes are a few bytes, compared inline, where a call to
            // memcmp cost more.
            let same_literal = |c: &&str| std::ptr::eq(*c, code);
            let same = |c: &&str| c.len() == code.len() && c.bytes().eq(code.bytes());
            let slot = list
                .iter()
                .position(same_literal)
                .or_else(|| list.iter().position(same));
            match slot {
                Some(slot) => tallies[slot] += 1,
                None => *self.other.entry((dimension, code.to_owned())).or_default() += 1,
            }
        }
    }

    fn merge(mut self, other: Tally) -> Self {
        self.customers += other.customers;
        for (mine, theirs) in self.per_dimension.iter_mut().zip(other.per_dimension) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
        for (key, count) in other.other {
            *self.other.entry(key).or_default() += count;
        }
        self
    }

    fn by_dimension(self) -> BTreeMap<Dimension, BTreeMap<String, u64>> {
        let mut counts: BTreeMap<Dimension, BTreeMap<String, u64>> = BTreeMap::new();
        for (dimension, tallies) in Dimension::ALL.iter().zip(self.per_dimension) {
            let codes = dimension.segment_codes();
            counts.insert(
                *dimension,
                codes.iter().map(|c| c.to_string()).zip(tallies).collect(),
            );
        }
        for ((dimension, code), count) in self.other {
            *counts
                .entry(dimension)
                .or_default()
                .entry(code)
                .or_default() += count;
        }
        counts
    }
}

fn count_segments(basis: &Basis, population: &Population) -> Tally {
    population
        .par_chunks(SCAN_CHUNK)
        .fold(Tally::new, |mut tally, chunk| {
            scan_prefetched(chunk, |id, history| {
                tally.add(&codes_on(basis, id, history))
            });
            tally
        })
        .reduce(Tally::new, Tally::merge)
}
