//! Whole-population phases: BatchClassify of every customer, a full re-segmentation
//! (GetSegmentStats), and a snapshot refresh with Classify calls going on meanwhile.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures::StreamExt;

use segmenter::api::pb;

use crate::load::{self, Picker, Sample};
use crate::rpc::{by_id, CallKind, Connection, Reading};

/// Customer references per BatchClassify request message.
pub const BATCH_MESSAGE: usize = 1_000;

#[derive(Debug, Clone)]
pub struct BatchOutcome {
    pub customers: u64,
    pub item_errors: u64,
    pub elapsed: Duration,
}

impl BatchOutcome {
    pub fn per_second(&self) -> f64 {
        self.customers as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Streams every id in messages of `message` references and reads every result back, as
/// `reading` says: decoded, or only counted ([`Reading::WireOnly`]).
pub async fn batch_classify(
    connection: &mut Connection,
    ids: &Arc<Vec<String>>,
    message: usize,
    options: pb::ClassifyOptions,
    reading: Reading,
    timeout: Duration,
) -> Result<BatchOutcome> {
    let message = message.max(1);
    let chunks = ids.len().div_ceil(message);
    let source = ids.clone();
    // Built lazily as the transport asks for them: the client holds one message at a time.
    let requests = futures::stream::iter(0..chunks).map(move |chunk| {
        let start = chunk * message;
        let end = (start + message).min(source.len());
        pb::BatchClassifyRequest {
            options: (chunk == 0).then(|| options.clone()),
            customers: source[start..end].iter().map(|id| by_id(id)).collect(),
        }
    });
    let started = Instant::now();
    let run = async {
        let (mut customers, mut item_errors) = (0u64, 0u64);
        match reading {
            Reading::Decoded => {
                let mut responses = connection
                    .segmentation
                    .batch_classify(requests)
                    .await?
                    .into_inner();
                while let Some(response) = responses.message().await? {
                    for result in response.results {
                        customers += 1;
                        if !matches!(
                            result.outcome,
                            Some(pb::batch_classify_result::Outcome::Classification(_))
                        ) {
                            item_errors += 1;
                        }
                    }
                }
            }
            Reading::WireOnly => {
                let mut responses = connection.batch_classify_counted(requests).await?;
                while let Some(counted) = responses.message().await? {
                    customers += counted.results;
                    item_errors += counted.item_errors;
                }
            }
        }
        Ok::<_, tonic::Status>((customers, item_errors))
    };
    let (customers, item_errors) = tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| anyhow!("no end within {} s", timeout.as_secs()))?
        .context("BatchClassify")?;
    let elapsed = started.elapsed();
    if customers != ids.len() as u64 {
        bail!(
            "BatchClassify answered {customers} of {} references",
            ids.len()
        );
    }
    Ok(BatchOutcome {
        customers,
        item_errors,
        elapsed,
    })
}

#[derive(Debug, Clone)]
pub struct StatsOutcome {
    /// The median run.
    pub elapsed: Duration,
    /// Every run, in order.
    pub runs: Vec<Duration>,
    pub customers: u64,
    /// RFM segment code to customers, `NONE` included.
    pub rfm: BTreeMap<String, u64>,
}

/// `runs` GetSegmentStats calls, one after another: every dimension of every customer
/// recomputed and counted each time. Every run must give the same counts.
pub async fn segment_stats(
    connection: &mut Connection,
    options: pb::ClassifyOptions,
    runs: usize,
    timeout: Duration,
) -> Result<StatsOutcome> {
    let mut times = Vec::with_capacity(runs);
    let mut first: Option<(u64, BTreeMap<String, u64>)> = None;
    for _ in 0..runs.max(1) {
        let (elapsed, counted) = one_segment_stats(connection, options.clone(), timeout).await?;
        times.push(elapsed);
        match &first {
            Some(earlier) if *earlier != counted => {
                bail!("GetSegmentStats counted differently from one run to the next")
            }
            Some(_) => {}
            None => first = Some(counted),
        }
    }
    let (customers, rfm) = first.ok_or_else(|| anyhow!("no GetSegmentStats run"))?;
    let mut sorted = times.clone();
    sorted.sort_unstable();
    Ok(StatsOutcome {
        elapsed: sorted[sorted.len() / 2],
        runs: times,
        customers,
        rfm,
    })
}

/// One GetSegmentStats call: its time, the customers counted and the RFM counts.
async fn one_segment_stats(
    connection: &mut Connection,
    options: pb::ClassifyOptions,
    timeout: Duration,
) -> Result<(Duration, (u64, BTreeMap<String, u64>))> {
    let request = pb::GetSegmentStatsRequest {
        options: Some(options),
    };
    let started = Instant::now();
    let response =
        tokio::time::timeout(timeout, connection.segmentation.get_segment_stats(request))
            .await
            .map_err(|_| anyhow!("no answer within {} s", timeout.as_secs()))?
            .context("GetSegmentStats")?
            .into_inner();
    let elapsed = started.elapsed();
    let rfm = response
        .dimensions
        .iter()
        .find(|d| d.dimension == pb::Dimension::Rfm as i32)
        .ok_or_else(|| anyhow!("GetSegmentStats returned no RFM counts"))?
        .segments
        .iter()
        .map(|s| (s.code.clone(), s.customers))
        .collect();
    Ok((elapsed, (response.customers, rfm)))
}

#[derive(Debug, Clone)]
pub struct RefreshOutcome {
    pub elapsed: Duration,
    /// Classify calls made, one in flight, while the refresh ran.
    pub during: Sample,
}

/// RefreshSnapshot on one connection while another keeps Classify calls going, one in
/// flight, until the refresh answers.
pub async fn refresh_under_load(
    refresher: &Connection,
    classifier: &mut Connection,
    picker: &mut Picker,
    options: &pb::ClassifyOptions,
    timeout: Duration,
) -> Result<RefreshOutcome> {
    let mut client = refresher.segmentation.clone();
    let started = Instant::now();
    let refresh = tokio::spawn(async move {
        let answer = client.refresh_snapshot(pb::RefreshSnapshotRequest {}).await;
        (answer, started.elapsed())
    });
    let mut histogram = load::new_histogram()?;
    let deadline = started + timeout;
    // At least one call, however quick the refresh.
    loop {
        if Instant::now() > deadline {
            refresh.abort();
            bail!(
                "RefreshSnapshot did not answer within {} s",
                timeout.as_secs()
            );
        }
        let customer = picker.next_id().to_owned();
        let sent = Instant::now();
        classifier
            .call(CallKind::Classify, &customer, options)
            .await
            .map_err(|status| anyhow!("Classify of {customer} during the refresh: {status}"))?;
        load::record(&mut histogram, sent.elapsed())?;
        if refresh.is_finished() {
            break;
        }
    }
    let (answer, elapsed) = refresh.await.context("the refresh task panicked")?;
    answer.context("RefreshSnapshot")?;
    Ok(RefreshOutcome {
        elapsed,
        during: Sample { histogram, elapsed },
    })
}
