//! Writing history: batches of events, all or nothing, idempotent by event id.

use std::collections::HashMap;

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
        &self,
        batches: Vec<Vec<(CustomerRef, Event)>>,
    ) -> (Vec<RecordOutcome>, Option<AppError>) {
        let mut resolved = Vec::with_capacity(batches.len());
        let mut failure = None;
        for batch in batches {
            match self.resolve_batch(batch).await {
                Ok(events) => resolved.push(events),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        let recorded = self.store.record_event_batches(&resolved).await;
        let mut outcomes = Vec::with_capacity(recorded.outcomes.len());
        for (events, outcome) in resolved.iter().zip(recorded.outcomes) {
            if let Err(error) = self.keep_resident(events, &outcome).await {
                return (outcomes, Some(error));
            }
            self.note_events_stored(outcome.stored);
            outcomes.push(outcome);
        }
        // A store failure comes first: the batch it stopped at precedes any unresolved one.
        match recorded.failure {
            Some(error) => (outcomes, Some(error.into())),
            None => (outcomes, failure),
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
