//! `BatchClassify`: a stream of reference lists answered in order, message by message. The
//! next message is classified while the results of the one before are encoded and sent, so
//! both cores stay busy on a nightly sync.

use std::collections::VecDeque;
use std::sync::Arc;

use prost::bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::{Status, Streaming};

use super::convert::{customer_ref_from_proto, Presentation, View};
use super::pb;
use super::segmentation::options_from_proto;
use super::status::ApiError;
use super::wire::{encode_codes_only, encode_presented, encode_result, typical_len, Heading};
use crate::app::{App, AppError, ClassifyOptions};
use crate::domain::history::CustomerRef;
use crate::domain::validate::Violations;

/// Results per BatchClassify response message: well under 4 MB in the full view (a few KB
/// each).
const RESULTS_PER_RESPONSE: usize = 256;

/// Bytes of a result besides its classification: index, reference, keys and lengths (a
/// size hint; a longer reference costs one more allocation).
const RESULT_ENVELOPE: usize = 96;

/// Request messages being classified at once. Two keep the cores busy; more would only hold
/// more results in memory.
const MESSAGES_IN_FLIGHT: usize = 2;

/// A message being classified: the bodies of its response messages.
type Classifying = JoinHandle<Result<Vec<Bytes>, Status>>;

/// Reads the request stream and answers each message with the results of its references, in
/// order, each carrying its position across the whole stream.
pub(super) async fn run_batch(
    app: Arc<App>,
    input: &mut Streaming<pb::BatchClassifyRequest>,
    tx: &mpsc::Sender<Result<pb::BatchClassifyResponse, Status>>,
) -> Result<(), Status> {
    let mut options = StreamOptions::default();
    let mut next_index = 0u64;
    let mut classifying: VecDeque<Classifying> = VecDeque::new();
    let mut reading = true;
    // A bad message ends the stream, but only after every message before it is answered.
    let mut failure: Option<Status> = None;
    loop {
        // Reading and answering are raced: a client may wait for answers before it sends more.
        tokio::select! {
            biased;
            Some(done) = oldest(&mut classifying), if !classifying.is_empty() => {
                classifying.pop_front();
                let results = done
                    .map_err(|e| Status::internal(format!("batch classification stopped: {e}")))??;
                if !send(tx, results).await {
                    return Ok(()); // the client went away
                }
            }
            message = input.message(),
                if reading && failure.is_none() && classifying.len() < MESSAGES_IN_FLIGHT =>
            {
                let accepted = message.and_then(|message| {
                    let Some(message) = message else {
                        return Ok(None);
                    };
                    let (classify_options, presentation) = options.of(&message)?;
                    let (results, valid) = check_references(&message, next_index);
                    next_index += message.customers.len() as u64;
                    let app = app.clone();
                    Ok(Some(tokio::spawn(async move {
                        classify_message(&app, results, valid, classify_options, presentation).await
                    })))
                });
                match accepted {
                    Ok(Some(task)) => classifying.push_back(task),
                    Ok(None) => reading = false,
                    Err(status) => failure = Some(status),
                }
            }
            else => return failure.map_or(Ok(()), Err),
        }
    }
}

/// The oldest message's outcome once it is classified; `None` when nothing is in flight.
async fn oldest(
    classifying: &mut VecDeque<Classifying>,
) -> Option<Result<Result<Vec<Bytes>, Status>, tokio::task::JoinError>> {
    Some(classifying.front_mut()?.await)
}

/// The first message fixes the options (absent means the defaults); later messages may repeat
/// them or leave them out.
#[derive(Default)]
struct StreamOptions {
    first: Option<Option<pb::ClassifyOptions>>,
    parsed: (ClassifyOptions, Presentation),
}

impl StreamOptions {
    fn of(
        &mut self,
        message: &pb::BatchClassifyRequest,
    ) -> Result<(ClassifyOptions, Presentation), Status> {
        match &self.first {
            None => {
                self.parsed = options_from_proto(message.options.as_ref(), "options")?;
                self.first = Some(message.options.clone());
            }
            Some(first) => {
                if message.options.is_some() && message.options != *first {
                    return Err(ApiError::invalid(
                        "options",
                        "must equal the first message's options or be left out",
                    )
                    .into());
                }
            }
        }
        Ok(self.parsed)
    }
}

/// One result per reference of the message, bad references already answered with their
/// error, and the valid ones with their position among the results.
fn check_references(
    message: &pb::BatchClassifyRequest,
    first_index: u64,
) -> (Vec<pb::BatchClassifyResult>, Vec<(usize, CustomerRef)>) {
    let mut results = Vec::with_capacity(message.customers.len());
    let mut valid = Vec::with_capacity(message.customers.len());
    for (offset, reference) in message.customers.iter().enumerate() {
        let mut violations = Violations::default();
        if let Some(converted) =
            customer_ref_from_proto(Some(reference), "customer", &mut violations)
        {
            valid.push((results.len(), converted));
        }
        let error = violations
            .into_result()
            .err()
            .map(|list| item_error(&Status::from(ApiError::InvalidArgument(list))));
        results.push(pb::BatchClassifyResult {
            index: first_index + offset as u64,
            customer: Some(reference.clone()),
            outcome: error,
        });
    }
    (results, valid)
}

/// Classifies the valid references of one message together and writes every result in wire
/// form, grouped into the bodies of response messages. The classifications are encoded by
/// the threads that classify them ([`super::wire`]), not by the task that sends them.
async fn classify_message(
    app: &App,
    results: Vec<pb::BatchClassifyResult>,
    valid: Vec<(usize, CustomerRef)>,
    options: ClassifyOptions,
    presentation: Presentation,
) -> Result<Vec<Bytes>, Status> {
    let references: Vec<_> = valid.iter().map(|(_, r)| r.clone()).collect();
    let classified = match presentation.view {
        // A sync of a million customers: codes only, no classification built.
        View::Codes => {
            app.classify_many_codes(&references, &options, |basis, id, codes| {
                let heading = Heading {
                    customer_id: id,
                    known: codes.known,
                    as_of: basis.as_of,
                    rule_set_version: &basis.rules.version,
                    snapshot: &basis.population.info,
                };
                let mut encoded = Vec::with_capacity(typical_len(View::Codes));
                encode_codes_only(&heading, &codes, &mut encoded);
                encoded
            })
            .await
        }
        View::Full => {
            app.classify_many(&references, &options, move |c| {
                let mut encoded = Vec::with_capacity(typical_len(presentation.view));
                encode_presented(
                    &c.classification,
                    &c.rules.rules,
                    presentation,
                    &mut encoded,
                );
                encoded
            })
            .await
        }
    }
    .map_err(ApiError::from)?;
    let mut outcomes: Vec<Option<Outcome>> = (0..results.len()).map(|_| None).collect();
    for ((position, _), outcome) in valid.iter().zip(classified) {
        outcomes[*position] = Some(outcome);
    }
    let mut items = results.into_iter().zip(outcomes).peekable();
    let mut bodies = Vec::new();
    while items.peek().is_some() {
        bodies.push(write_body(
            items.by_ref().take(RESULTS_PER_RESPONSE).collect(),
        ));
    }
    Ok(bodies)
}

/// A valid reference's classification, encoded, or why it failed alone.
type Outcome = Result<Vec<u8>, AppError>;

/// The body of one response message: `items` in wire form. `None`: a bad reference, whose
/// error its result carries already.
fn write_body(items: Vec<(pb::BatchClassifyResult, Option<Outcome>)>) -> Bytes {
    // Sized once: growing a body copies every result written so far.
    let size = items
        .iter()
        .map(|(_, outcome)| match outcome {
            Some(Ok(classification)) => classification.len() + RESULT_ENVELOPE,
            _ => RESULT_ENVELOPE,
        })
        .sum();
    let mut body = Vec::with_capacity(size);
    for (mut result, outcome) in items {
        match outcome {
            Some(Ok(classification)) => encode_result(&result, Some(&classification), &mut body),
            Some(Err(error)) => {
                result.outcome = Some(item_error(&Status::from(ApiError::from(error))));
                encode_result(&result, None, &mut body);
            }
            None => encode_result(&result, None, &mut body),
        }
    }
    body.into()
}

fn item_error(status: &Status) -> pb::batch_classify_result::Outcome {
    pb::batch_classify_result::Outcome::Error(pb::ItemError {
        code: status.code() as i32,
        message: status.message().to_owned(),
    })
}

/// Sends one response message per body. `false` when the client went away.
async fn send(
    tx: &mpsc::Sender<Result<pb::BatchClassifyResponse, Status>>,
    bodies: Vec<Bytes>,
) -> bool {
    for body in bodies {
        let response = pb::BatchClassifyResponse::encoded(body);
        if tx.send(Ok(response)).await.is_err() {
            return false;
        }
    }
    true
}
