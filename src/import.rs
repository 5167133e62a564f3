//! File import and export in the interchange formats (spec section 6). An import streams the
//! file (never loads it whole), validates every record as the API does, upserts profiles, and
//! stores events in large all-or-nothing batches; when a batch is refused for one event, only
//! that event's line is rejected and the rest are stored. Re-running an import is harmless:
//! event ids are idempotent, so a second run reports duplicates only.
//!
//! The file is read with blocking I/O between store calls: a local file read is short next to
//! a batch write, and tokio's async line reader would need another tokio feature.

#[cfg(test)]
mod tests;

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::domain::history::{Event, EventPayload};
use crate::domain::time::Timestamp;
use crate::domain::validate::FieldViolation;
use crate::interchange::{parse_ndjson_line, to_ndjson_in, wire_field, CsvLayout, Record};
use crate::store::{RecordOutcome, Store, StoreError};

/// Events per `record_events` call unless configured.
pub const DEFAULT_BATCH_SIZE: usize = 5_000;
/// Rejected lines listed one by one in a summary; the rest are only counted.
pub const DEFAULT_MAX_LISTED_REJECTIONS: usize = 10_000;
/// Customers per `histories` page of an export.
const EXPORT_PAGE: u32 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
    /// `.csv` is CSV; `.ndjson`, `.jsonl` and `.json` are NDJSON.
    Detect,
}

impl Format {
    /// The concrete format of `path`.
    pub fn resolve(self, path: &Path) -> Result<Format, ImportError> {
        if self != Format::Detect {
            return Ok(self);
        }
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("ndjson" | "jsonl" | "json") => Ok(Format::Ndjson),
            _ => Err(ImportError::UnknownFormat(path.to_owned())),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// ISO 4217 code every money field must be in (an empty `currency` means this one).
    pub reporting_currency: String,
    /// The server clock: instants more than 5 minutes after it are rejected.
    pub now: Timestamp,
    pub batch_size: usize,
    /// Draws a progress bar (bytes read) on the terminal.
    pub show_progress: bool,
    pub max_listed_rejections: usize,
}

impl ImportOptions {
    pub fn new(reporting_currency: impl Into<String>, now: Timestamp) -> Self {
        Self {
            reporting_currency: reporting_currency.into(),
            now,
            batch_size: DEFAULT_BATCH_SIZE,
            show_progress: false,
            max_listed_rejections: DEFAULT_MAX_LISTED_REJECTIONS,
        }
    }
}

/// A line that was not stored, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedLine {
    /// 1-based line number in the file (for CSV, the line where the row starts).
    pub line: u64,
    pub reasons: Vec<FieldViolation>,
}

impl fmt::Display for RejectedLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}:", self.line)?;
        for (i, reason) in self.reasons.iter().enumerate() {
            let sep = if i == 0 { " " } else { "; " };
            write!(f, "{sep}{}: {}", reason.field, reason.description)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportSummary {
    /// Lines read (NDJSON, blank ones included) or data rows read (CSV).
    pub lines_read: u64,
    pub profiles_upserted: u64,
    /// Of those, profiles of customers that did not exist before.
    pub profiles_created: u64,
    pub events_stored: u64,
    /// Events already stored with the same content (a re-run, or a line repeated).
    pub duplicates: u64,
    /// Every rejected line is counted here; the first `max_listed_rejections` are listed.
    pub rejected: u64,
    pub rejected_lines: Vec<RejectedLine>,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "cannot tell the format of {0:?}: name it .ndjson, .jsonl or .csv, or give the format"
    )]
    UnknownFormat(PathBuf),
    #[error("{path:?}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("reading line {line}: {source}")]
    Read { line: u64, source: io::Error },
    #[error("bad CSV header: {}", describe(.0))]
    CsvHeader(Vec<FieldViolation>),
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing the export: {0}")]
    Write(#[source] io::Error),
    /// The backend failed: the import stops; what was stored before stays stored.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn describe(violations: &[FieldViolation]) -> String {
    let parts: Vec<String> = violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect();
    parts.join("; ")
}

/// Imports one NDJSON or CSV file into `store`.
pub async fn import_file<S: Store + ?Sized>(
    store: &S,
    path: &Path,
    format: Format,
    options: &ImportOptions,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let format = format.resolve(path)?;
    let open_error = |source| ImportError::Open {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(open_error)?;
    let size = file.metadata().map_err(open_error)?.len();
    let progress = progress_bar(size, options.show_progress);
    let reader = progress.wrap_read(file);

    let mut importer = Importer {
        store,
        options,
        pending: Vec::new(),
        pending_lines: Vec::new(),
        summary: ImportSummary::default(),
    };
    let result = match format {
        Format::Csv => import_csv(&mut importer, reader).await,
        _ => import_ndjson(&mut importer, reader).await,
    };
    progress.finish_and_clear();
    // What was read before a broken line is stored as well: a re-run after the fix then
    // finds those events as duplicates, whatever the error was.
    let flushed = importer.flush().await;
    result?;
    flushed?;
    store.settle().await?;
    importer.summary.elapsed = started.elapsed();
    Ok(importer.summary)
}

fn progress_bar(bytes: u64, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(bytes);
    let template =
        "{elapsed_precise} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

async fn import_ndjson<S: Store + ?Sized>(
    importer: &mut Importer<'_, S>,
    reader: impl Read,
) -> Result<(), ImportError> {
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    let mut buffer = Vec::new();
    let mut line_number = 0u64;
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|source| ImportError::Read {
                line: line_number + 1,
                source,
            })?;
        if read == 0 {
            return Ok(());
        }
        line_number += 1;
        importer.summary.lines_read += 1;
        let parsed = match std::str::from_utf8(&buffer) {
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => {
                let options = importer.options;
                // Editors on Windows like to start a UTF-8 file with a byte-order mark.
                let text = text.strip_prefix('\u{feff}').unwrap_or(text);
                parse_ndjson_line(text, &options.reporting_currency, options.now)
            }
            Err(error) => Err(vec![FieldViolation {
                field: "json".into(),
                description: format!("not UTF-8 text: {error}"),
            }]),
        };
        importer.accept(line_number, parsed).await?;
    }
}

async fn import_csv<S: Store + ?Sized>(
    importer: &mut Importer<'_, S>,
    reader: impl Read,
) -> Result<(), ImportError> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .buffer_capacity(256 * 1024)
        .from_reader(reader);
    let layout = CsvLayout::from_headers(csv.headers()?.iter()).map_err(ImportError::CsvHeader)?;
    let mut row = csv::StringRecord::new();
    loop {
        let line = csv.position().line();
        match csv.read_record(&mut row) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                importer.summary.lines_read += 1;
                let options = importer.options;
                let line = row.position().map_or(line, csv::Position::line);
                let parsed = layout.parse(row.iter(), &options.reporting_currency, options.now);
                importer.accept(line, parsed).await?;
            }
            Err(error) => match error.kind() {
                // A row that is not UTF-8 is one bad line, not a broken file.
                csv::ErrorKind::Utf8 { pos, err } => {
                    importer.summary.lines_read += 1;
                    let line = pos.as_ref().map_or(line, csv::Position::line);
                    let reason = FieldViolation {
                        field: format!("cell[{}]", err.field()),
                        description: "not UTF-8 text".into(),
                    };
                    importer.reject(line, vec![reason]);
                }
                _ => return Err(error.into()),
            },
        }
    }
}

/// The running state of one import: the batch being filled and the summary so far.
struct Importer<'a, S: Store + ?Sized> {
    store: &'a S,
    options: &'a ImportOptions,
    pending: Vec<Event>,
    /// The line number of each pending event.
    pending_lines: Vec<u64>,
    summary: ImportSummary,
}

impl<S: Store + ?Sized> Importer<'_, S> {
    async fn accept(
        &mut self,
        line: u64,
        parsed: Result<Record, Vec<FieldViolation>>,
    ) -> Result<(), ImportError> {
        match parsed {
            Err(reasons) => self.reject(line, reasons),
            Ok(Record::Profile(profile)) => match self.store.upsert_customer(&profile).await {
                Ok(outcome) => {
                    self.summary.profiles_upserted += 1;
                    self.summary.profiles_created += u64::from(outcome.created);
                }
                Err(StoreError::Backend(message)) => {
                    return Err(StoreError::Backend(message).into())
                }
                Err(error) => self.reject(line, store_reasons(&error)),
            },
            Ok(Record::Event(event)) => {
                self.pending.push(event);
                self.pending_lines.push(line);
                if self.pending.len() >= self.options.batch_size.max(1) {
                    self.flush().await?;
                }
            }
        }
        Ok(())
    }

    fn reject(&mut self, line: u64, reasons: Vec<FieldViolation>) {
        self.summary.rejected += 1;
        if self.summary.rejected_lines.len() < self.options.max_listed_rejections {
            self.summary
                .rejected_lines
                .push(RejectedLine { line, reasons });
        }
    }

    fn count(&mut self, outcome: RecordOutcome) {
        self.summary.events_stored += outcome.stored;
        self.summary.duplicates += outcome.duplicates;
    }

    /// Stores the pending batch. A refused batch is split at the event the store names: the
    /// events before it are stored as one batch, it is rejected, and the rest continue; when
    /// the error names no event, the rest of the batch goes event by event. Order is kept, so
    /// a refund still follows its order.
    async fn flush(&mut self) -> Result<(), ImportError> {
        let events = std::mem::take(&mut self.pending);
        let lines = std::mem::take(&mut self.pending_lines);
        let (mut start, mut end) = (0, events.len());
        let mut one_by_one = false;
        while start < events.len() {
            let batch = &events[start..end];
            match self.store.record_events(batch).await {
                Ok(outcome) => {
                    self.count(outcome);
                    start = end;
                }
                Err(StoreError::Backend(message)) => {
                    return Err(StoreError::Backend(message).into())
                }
                Err(error) => match offending_index(&error).filter(|&i| i < batch.len()) {
                    // The events before the offender passed: store them together first; the
                    // offender then fails again, first in its batch.
                    Some(i) if i > 0 => {
                        end = start + i;
                        continue;
                    }
                    None if batch.len() > 1 => {
                        one_by_one = true;
                        end = start + 1;
                        continue;
                    }
                    _ => {
                        self.reject(lines[start], store_reasons(&error));
                        start += 1;
                    }
                },
            }
            end = if one_by_one { start + 1 } else { events.len() }.min(events.len());
        }
        Ok(())
    }
}

/// The batch position a store error names, if any.
fn offending_index(error: &StoreError) -> Option<usize> {
    match error {
        StoreError::EventIdReused { index, .. }
        | StoreError::OrderIdTaken { index, .. }
        | StoreError::OrderMissing { index, .. } => Some(*index),
        StoreError::Invalid(violations) => violations.iter().find_map(|v| {
            let (index, _) = v.field.strip_prefix("events[")?.split_once(']')?;
            index.parse().ok()
        }),
        StoreError::AliasTaken { .. } | StoreError::Backend(_) => None,
    }
}

/// A store refusal as the reasons of one line, under the interchange field names.
fn store_reasons(error: &StoreError) -> Vec<FieldViolation> {
    let reason = |field: &str, description: String| FieldViolation {
        field: field.to_owned(),
        description,
    };
    match error {
        StoreError::EventIdReused { event_id, .. } => vec![reason(
            "event_id",
            format!("event id {event_id:?} is already stored with other content"),
        )],
        StoreError::OrderIdTaken {
            customer_id,
            order_id,
            ..
        } => vec![reason(
            "order_id",
            format!("order id {order_id:?} is already stored for customer {customer_id:?} under another event id"),
        )],
        StoreError::OrderMissing {
            customer_id,
            order_id,
            ..
        } => vec![reason(
            "order_id",
            format!("order {order_id:?} of customer {customer_id:?} is not stored; a refund must come after its order"),
        )],
        StoreError::AliasTaken { alias, field } => vec![reason(
            &wire_field(field),
            format!("{alias} already belongs to another customer"),
        )],
        StoreError::Invalid(violations) => violations
            .iter()
            .map(|v| reason(&wire_field(&v.field), v.description.clone()))
            .collect(),
        StoreError::Backend(message) => vec![reason("store", message.clone())],
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub customers: u64,
    pub profiles: u64,
    pub events: u64,
}

/// Writes every stored customer as NDJSON: customer by customer in id order, the profile line
/// first, then the events by (instant, event id). ORDER and REFUND lines state
/// `reporting_currency`. The output imports back into an empty store as the same histories.
pub async fn export_ndjson<S: Store + ?Sized, W: Write>(
    store: &S,
    writer: W,
    reporting_currency: &str,
) -> Result<ExportSummary, ImportError> {
    let mut out = io::BufWriter::new(writer);
    let mut summary = ExportSummary::default();
    let mut after: Option<String> = None;
    loop {
        let page = store.histories(after.as_deref(), EXPORT_PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        for (_, history) in page {
            summary.customers += 1;
            if let Some(profile) = history.profile {
                write_line(&mut out, &Record::Profile(profile), reporting_currency)?;
                summary.profiles += 1;
            }
            let mut events = history.events;
            // At one instant a refund goes after the other events, so it always follows its
            // order (whose instant it may equal but never precede) and re-imports cleanly.
            events.sort_by(|a, b| export_key(a).cmp(&export_key(b)));
            for event in events {
                write_line(&mut out, &Record::Event(event), reporting_currency)?;
                summary.events += 1;
            }
        }
    }
    out.flush().map_err(ImportError::Write)?;
    Ok(summary)
}

fn export_key(event: &Event) -> (Timestamp, bool, &str) {
    let is_refund = matches!(event.payload, EventPayload::Refund(_));
    (event.at, is_refund, &event.event_id)
}

fn write_line(out: &mut impl Write, record: &Record, currency: &str) -> Result<(), ImportError> {
    let line = to_ndjson_in(record, Some(currency));
    out.write_all(line.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .map_err(ImportError::Write)
}
