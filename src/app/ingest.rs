//! Writing history: batches of events, all or nothing, idempotent by event id.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::task::JoinHandle;

use super::customers::describe;
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

    /// Stores consecutive batches of a stream, each all or nothing as [`App::record_events`]
    /// would, committed together where the store can. Stops at the first batch that fails:
    /// the outcomes of the batches before it come back with its error, and they are stored.
    pub async fn record_event_batches(
        self: &Arc<Self>,
        batches: Vec<Vec<(CustomerRef, Event)>>,
    ) -> (Vec<RecordOutcome>, Option<AppError>) {
        let mut stream = self.ingest_stream();
        let (outcomes, failure) = stream.record(batches).await;
        match stream.finish().await {
            Ok(()) => (outcomes, failure),
            Err(error) => (outcomes, Some(failure.unwrap_or(error))),
        }
    }

    /// A stream of batch groups to store one after the other ([`IngestStream`]).
    pub fn ingest_stream(self: &Arc<Self>) -> IngestStream {
        IngestStream {
            app: Arc::clone(self),
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

/// Groups of batches stored one after the other, as an ingest stream sends them. While the
/// store commits a group, the resident histories take in the group before it on another
/// core: the two used to take turns, and each left the other's core idle.
///
/// Readers of the resident histories see a group once [`IngestStream::record`] has returned
/// for the group after it, or [`IngestStream::finish`] has; a caller answers only after
/// `finish`.
pub struct IngestStream {
    app: Arc<App>,
    /// Taking in the last stored group.
    catching_up: Option<JoinHandle<Result<(), AppError>>>,
}

impl IngestStream {
    /// Stores a group of consecutive batches, each all or nothing as [`App::record_events`]
    /// would, committed together where the store can. Stops at the first batch that fails:
    /// the outcomes of the batches before it come back with its error, and they are stored.
    /// A failure to take in the previous group is returned here too, after this group's
    /// outcomes.
    pub async fn record(
        &mut self,
        batches: Vec<Vec<(CustomerRef, Event)>>,
    ) -> (Vec<RecordOutcome>, Option<AppError>) {
        let app = Arc::clone(&self.app);
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
        let recorded = app.store.record_event_batches(&resolved).await;
        // A store failure comes first: the batch it stopped at precedes any unresolved one.
        let failure = recorded.failure.map(AppError::from).or(failure);
        let outcomes = recorded.outcomes;
        // In commit order: this group's take-in starts once the previous one's is done.
        let previous = self.caught_up().await;
        resolved.truncate(outcomes.len());
        let taken = outcomes.clone();
        self.catching_up = Some(tokio::spawn(
            async move { app.take_in(resolved, taken).await },
        ));
        match previous {
            Ok(()) => (outcomes, failure),
            Err(error) => (outcomes, Some(error)),
        }
    }

    /// Waits until the resident histories hold every stored group.
    pub async fn finish(mut self) -> Result<(), AppError> {
        self.caught_up().await
    }

    async fn caught_up(&mut self) -> Result<(), AppError> {
        match self.catching_up.take() {
            None => Ok(()),
            Some(task) => task
                .await
                .map_err(|error| AppError::Internal(format!("taking in stored events: {error}")))?,
        }
    }
}
