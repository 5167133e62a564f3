//! Whole-population views: the members of one segment, and counts per segment.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use rayon::prelude::*;

use super::classify::{classify_on, codes_into, Basis};
use super::resident::{scan_prefetched, Population, SCAN_CHUNK};
use super::{App, AppError, Classified, ClassifyOptions};
use crate::domain::dimensions::{CodeSink, Dimension};
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
    /// Per dimension, the addresses of the code literals met so far, with their slots. The
    /// rules return the same few `'static` literals over and over, but not always the very
    /// ones the code list holds (the compiler need not merge equal literals), and comparing
    /// the bytes of each code against the list cost a re-segmentation an eighth of its time.
    slots_by_address: Vec<Vec<(LiteralAddress, usize)>>,
    /// Codes outside the dimension's list (a pin may name any code).
    other: BTreeMap<(Dimension, String), u64>,
}

/// Where a `'static` literal is, and how long: it names the same text for the life of the
/// process. Owned codes (pins) are never keyed by address, as their memory is reused.
type LiteralAddress = (usize, usize);

impl Tally {
    fn new() -> Self {
        Self {
            customers: 0,
            per_dimension: Dimension::ALL
                .iter()
                .map(|d| vec![0; d.segment_codes().len()])
                .collect(),
            slots_by_address: vec![Vec::new(); Dimension::ALL.len()],
            other: BTreeMap::new(),
        }
    }

    /// Counts one more customer, whose codes the tally then receives ([`CodeSink`]).
    fn add_customer(&mut self) -> &mut Self {
        self.customers += 1;
        self
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

impl CodeSink for Tally {
    fn code(&mut self, dimension: Dimension, code: &Cow<'static, str>) {
        let known = &mut self.slots_by_address[dimension as usize];
        let slot = match code {
            Cow::Borrowed(literal) => {
                let address = (literal.as_ptr() as usize, literal.len());
                match known.iter().find(|(a, _)| *a == address) {
                    Some((_, slot)) => Some(*slot),
                    None => {
                        let slot = slot_of(dimension, literal);
                        known.extend(slot.map(|slot| (address, slot)));
                        slot
                    }
                }
            }
            Cow::Owned(pinned) => slot_of(dimension, pinned),
        };
        match slot {
            Some(slot) => self.per_dimension[dimension as usize][slot] += 1,
            None => *self.other.entry((dimension, code.to_string())).or_default() += 1,
        }
    }
}

/// The index of `code` in `dimension`'s code list.
fn slot_of(dimension: Dimension, code: &str) -> Option<usize> {
    dimension.segment_codes().iter().position(|c| *c == code)
}

fn count_segments(basis: &Basis, population: &Population) -> Tally {
    population
        .par_chunks(SCAN_CHUNK)
        .fold(Tally::new, |mut tally, chunk| {
            scan_prefetched(chunk, |id, history| {
                codes_into(basis, id, history, tally.add_customer())
            });
            tally
        })
        .reduce(Tally::new, Tally::merge)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same text at another address than the code list's literal, as when the compiler
    /// keeps two copies of a literal.
    fn elsewhere(code: &str) -> Cow<'static, str> {
        Cow::Borrowed(Box::leak(code.to_owned().into_boxed_str()))
    }

    fn customer(rfm: Cow<'static, str>) -> Vec<(Dimension, Cow<'static, str>)> {
        Dimension::ALL
            .iter()
            .map(|d| match d {
                Dimension::Rfm => (*d, rfm.clone()),
                _ => (*d, Cow::Borrowed(d.segment_codes()[0])),
            })
            .collect()
    }

    fn count(tally: &mut Tally, codes: &[(Dimension, Cow<'static, str>)]) {
        let tally = tally.add_customer();
        for (dimension, code) in codes {
            tally.code(*dimension, code);
        }
    }

    #[test]
    fn a_code_counts_in_its_slot_whatever_its_address_or_ownership() {
        let mut tally = Tally::new();
        let listed = Cow::Borrowed(Dimension::Rfm.segment_codes()[1]);
        let copy = elsewhere("IMPORTANT_DEVELOP");
        let other_copy = elsewhere("GENERAL_KEEP");
        for rfm in [listed, copy.clone(), copy, other_copy.clone(), other_copy] {
            count(&mut tally, &customer(rfm));
        }
        count(
            &mut tally,
            &customer(Cow::Owned("IMPORTANT_DEVELOP".into())),
        );
        count(&mut tally, &customer(Cow::Owned("VIP".into())));
        count(&mut tally, &customer(elsewhere("VIP")));

        let counts = tally.by_dimension();
        let rfm = &counts[&Dimension::Rfm];
        assert_eq!(rfm["IMPORTANT_DEVELOP"], 4);
        assert_eq!(rfm["GENERAL_KEEP"], 2);
        assert_eq!(rfm["IMPORTANT_VALUE"], 0);
        assert_eq!(rfm["VIP"], 2);
        assert_eq!(counts[&Dimension::ValueTier]["HIGH"], 8);
    }

    #[test]
    fn merged_tallies_add_up() {
        let mut left = Tally::new();
        let mut right = Tally::new();
        count(&mut left, &customer(elsewhere("GENERAL_KEEP")));
        count(&mut right, &customer(Cow::Borrowed("GENERAL_KEEP")));
        count(&mut right, &customer(Cow::Owned("VIP".into())));
        let merged = left.merge(right);
        assert_eq!(merged.customers, 3);
        let counts = merged.by_dimension();
        assert_eq!(counts[&Dimension::Rfm]["GENERAL_KEEP"], 2);
        assert_eq!(counts[&Dimension::Rfm]["VIP"], 1);
        assert_eq!(counts[&Dimension::Lifecycle]["POTENTIAL"], 3);
    }
}
