//! Writing history: batches of events, all or nothing, idempotent by event id.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinHandle;

use super::customers::describe;
use super::memory::release_freed_memory;
use super::{App, AppError};
use crate::domain::history::{CustomerRef, Event};
use crate::domain::validate::Violations;
use crate::store::RecordOutcome;

impl App {
    /// Stores one batch, all or nothing. Each event names its customer by any reference (see
    /// [`App::resolve_batch`]).
    pub async fn record_events(
        &self,
        batch: Vec<(CustomerRef, Event)>,
    ) -> Result<RecordOutcome, AppError> {
        let events = self.resolve_batch(batch).await?;
        if events.is_empty() {
            return Ok(RecordOutcome::default());
        }
        let outcome = self.store.record_events(&events).await?;
        self.keep_resident(&events, &outcome).await?;
        self.note_events_stored(outcome.stored);
        Ok(outcome)
    }

    /// A stream of batch groups to store one after the other ([`IngestStream`]).
    pub fn ingest_stream(self: &Arc<Self>) -> IngestStream {
        IngestStream {
            app: Arc::clone(self),
            storing: None,
            catching_up: None,
        }
    }

    /// Checks a batch's size and names every event's customer: an id reference to a customer
    /// not yet stored creates it, other references must resolve. Fills in `customer_id`.
    async fn resolve_batch(
        &self,
        batch: Vec<(CustomerRef, Event)>,
    ) -> Result<Vec<Event>, AppError> {
        let max = self.settings.max_batch_events;
        if batch.len() > max {
            return Err(AppError::invalid(
                "events",
                format!(
                    "a batch holds at most {max} events, got {}; split it or use IngestEvents",
                    batch.len()
                ),
            ));
        }
        let mut resolved: HashMap<CustomerRef, String> = HashMap::new();
        let mut violations = Violations::default();
        let mut events = Vec::with_capacity(batch.len());
        for (index, (reference, mut event)) in batch.into_iter().enumerate() {
            let id = match &reference {
                CustomerRef::Id(id) => Some(id.clone()),
                other => match resolved.get(other) {
                    Some(id) => Some(id.clone()),
                    None => {
                        let found = self.store.resolve(other).await?;
                        if let Some(id) = &found {
                            resolved.insert(other.clone(), id.clone());
                        }
                        found
                    }
                },
            };
            match id {
                Some(id) => event.customer_id = id,
                None => violations.add(
                    format!("events[{index}].customer"),
                    format!(
                        "no customer matches {}; upsert the customer first or reference it by id",
                        describe(&reference)
                    ),
                ),
            }
            events.push(event);
        }
        violations.into_result().map_err(AppError::Invalid)?;
        Ok(events)
    }

    /// Brings the resident histories in step with committed batches, in order, and counts
    /// their events towards the next snapshot refresh.
    async fn take_in(
        &self,
        batches: Vec<Vec<Event>>,
        outcomes: Vec<RecordOutcome>,
    ) -> Result<(), AppError> {
        for (events, outcome) in batches.iter().zip(outcomes) {
            self.keep_resident(events, &outcome).await?;
            self.note_events_stored(outcome.stored);
        }
        Ok(())
    }

    /// Brings the resident histories in step with a committed batch.
    async fn keep_resident(
        &self,
        events: &[Event],
        outcome: &RecordOutcome,
    ) -> Result<(), AppError> {
        let rebuild = if outcome.duplicates == 0 {
            self.resident.add_events(events)
        } else {
            // Some events were stored before: which ones the outcome does not say, so the
            // batch's customers are re-read whole (retries are rare).
            let mut ids: Vec<String> = events.iter().map(|e| e.customer_id.clone()).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        for id in rebuild {
            let history = self.store.history(&id).await?;
            self.resident.put(&id, &history);
        }
        Ok(())
    }
}

/// Groups of batches stored one after the other, as an ingest stream sends them, in three
/// overlapping stages: while the store commits a group, the caller receives and converts the
/// next one, and the resident histories take in the group before it. Run one after the other,
/// each stage left a core idle while the others worked.
///
/// A group is stored only after the one before it is stored whole, so a refused batch still
/// ends the stream with every batch before it stored and none after it. Readers of the
/// resident histories see a group at the latest once [`IngestStream::finish`] returns; a
/// caller answers only after that.
pub struct IngestStream {
    app: Arc<App>,
    /// Storing the last submitted group.
    storing: Option<JoinHandle<StoredGroup>>,
    /// Taking in the stored groups, each after the one before it.
    catching_up: Option<TakeIn>,
}

type TakeIn = JoinHandle<Result<(), AppError>>;

/// What storing one group did: the outcomes of its committed batches, in order, and the error
/// that stopped it, if one did; the batches after that one are not stored.
#[derive(Debug, Default)]
pub struct GroupRecorded {
    pub outcomes: Vec<RecordOutcome>,
    pub failure: Option<AppError>,
}

/// A stored group and the take-in it started.
struct StoredGroup {
    recorded: GroupRecorded,
    catching_up: Option<TakeIn>,
}

impl IngestStream {
    /// Hands over the next group of consecutive batches, each all or nothing as
    /// [`App::record_events`] would, committed together where the store can, and returns what
    /// storing the previous group did (nothing for the first). The group is stored in the
    /// background; when the previous group failed, this one is dropped unstored.
    pub async fn submit(&mut self, batches: Vec<Vec<(CustomerRef, Event)>>) -> GroupRecorded {
        let waiting = Instant::now();
        let earlier = self.stored().await;
        // The stream's reader waits here while the store is slower than the sender.
        tracing::debug!(
            waited_for_store_ms = waiting.elapsed().as_millis() as u64,
            "ingest group handed over"
        );
        if earlier.failure.is_none() {
            let app = Arc::clone(&self.app);
            let after = self.catching_up.take();
            self.storing = Some(tokio::spawn(store_group(app, batches, after)));
        }
        earlier
    }

    /// Waits until the last group is stored and the resident histories hold every stored
    /// group. Returns what storing the last group did, and whether every take-in succeeded.
    pub async fn finish(mut self) -> (GroupRecorded, Result<(), AppError>) {
        let last = self.stored().await;
        (last, taken_in(self.catching_up.take()).await)
    }

    /// What storing the submitted group did, once it is done; nothing when none is.
    async fn stored(&mut self) -> GroupRecorded {
        let Some(task) = self.storing.take() else {
            return GroupRecorded::default();
        };
        match task.await {
            Ok(stored) => {
                self.catching_up = stored.catching_up;
                stored.recorded
            }
            Err(error) => GroupRecorded {
                outcomes: Vec::new(),
                failure: Some(AppError::Internal(format!("storing events: {error}"))),
            },
        }
    }
}

/// Events in a group from which its take-in hands the freed memory back at once.
const RELEASE_AFTER_EVENTS: usize = 10_000;

/// Resolves and stores a group, then starts its take-in, which waits for `after` (the
/// previous group's) first. The take-in starts here, not in the caller: a caller that goes
/// away mid-stream leaves a committed group behind, which the resident histories must hold.
async fn store_group(
    app: Arc<App>,
    batches: Vec<Vec<(CustomerRef, Event)>>,
    after: Option<TakeIn>,
) -> StoredGroup {
    let started = Instant::now();
    let mut resolved = Vec::with_capacity(batches.len());
    let mut failure = None;
    for batch in batches {
        match app.resolve_batch(batch).await {
            Ok(events) => resolved.push(events),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    let resolving = started.elapsed();
    let events: usize = resolved.iter().map(Vec::len).sum();
    let recorded = app.store.record_event_batches(&resolved).await;
    tracing::debug!(
        events,
        resolve_ms = resolving.as_millis() as u64,
        store_ms = (started.elapsed() - resolving).as_millis() as u64,
        "ingest group stored"
    );
    // A store failure comes first: the batch it stopped at precedes any unresolved one.
    let failure = recorded.failure.map(AppError::from).or(failure);
    let outcomes = recorded.outcomes;
    resolved.truncate(outcomes.len());
    let taken = outcomes.clone();
    let catching_up = tokio::spawn(async move {
        let waiting = Instant::now();
        let before = taken_in(after).await;
        let taking = Instant::now();
        let this = app.take_in(resolved, taken).await;
        // A forced collection walks this thread's heap: worth it for a bulk group's tens of
        // megabytes, not for the few events of a call-centre's stream.
        if events >= RELEASE_AFTER_EVENTS {
            release_freed_memory();
        }
        tracing::debug!(
            waited_for_previous_ms = (taking - waiting).as_millis() as u64,
            take_in_ms = taking.elapsed().as_millis() as u64,
            "ingest group taken in"
        );
        before.and(this)
    });
    StoredGroup {
        recorded: GroupRecorded { outcomes, failure },
        catching_up: Some(catching_up),
    }
}

/// Waits for a take-in, if one runs, and returns how it ended.
async fn taken_in(task: Option<TakeIn>) -> Result<(), AppError> {
    let Some(task) = task else {
        return Ok(());
    };
    task.await
        .map_err(|error| AppError::Internal(format!("taking in stored events: {error}")))?
}
