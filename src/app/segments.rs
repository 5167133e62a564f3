//! Whole-population views: the members of one segment, and counts per segment.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::classify::Basis;
use super::{App, AppError, Classified, ClassifyOptions};
use crate::domain::dimensions::Dimension;
use crate::domain::population::SnapshotInfo;
use crate::domain::rules::VersionedRules;

/// Customers classified per store round trip during a scan.
const SCAN_PAGE: u32 = 500;

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
        Ok(Scan {
            basis: self.basis(options).await?,
            after: None,
            done: false,
        })
    }

    /// The next page of classified customers; `None` when the walk is over.
    pub async fn next_page(&self, scan: &mut Scan) -> Result<Option<Vec<Classified>>, AppError> {
        if scan.done {
            return Ok(None);
        }
        let page = self
            .store
            .histories(scan.after.as_deref(), SCAN_PAGE)
            .await?;
        scan.done = page.len() < SCAN_PAGE as usize;
        let Some((last, _)) = page.last() else {
            scan.done = true;
            return Ok(None);
        };
        scan.after = Some(last.clone());
        let classified = page
            .into_iter()
            .map(|(id, history)| self.classify_loaded(&scan.basis, &id, history))
            .collect();
        Ok(Some(classified))
    }

    /// Counts every stored customer per segment of every dimension (empty segments included).
    pub async fn segment_stats(&self, options: &ClassifyOptions) -> Result<SegmentStats, AppError> {
        let mut scan = self.start_scan(options).await?;
        let mut counts: BTreeMap<Dimension, BTreeMap<String, u64>> = Dimension::ALL
            .iter()
            .map(|d| {
                (
                    *d,
                    d.segment_codes()
                        .iter()
                        .map(|c| (c.to_string(), 0))
                        .collect(),
                )
            })
            .collect();
        let mut customers = 0;
        while let Some(page) = self.next_page(&mut scan).await? {
            for classified in page {
                customers += 1;
                for assignment in &classified.classification.assignments {
                    *counts
                        .entry(assignment.dimension)
                        .or_default()
                        .entry(assignment.code.clone())
                        .or_default() += 1;
                }
            }
        }
        Ok(SegmentStats {
            customers,
            counts,
            snapshot: scan.basis.population.info.clone(),
            rules: scan.basis.rules.clone(),
        })
    }
}
