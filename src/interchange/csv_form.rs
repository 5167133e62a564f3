//! The CSV form of the interchange records. One file may mix record types: the header names a
//! `type` column plus any of the NDJSON field names, and each row fills the cells its type uses.
//! An empty cell is an absent field. Lists (`phones`, `emails`, `categories`) are separated by
//! `|`; `external_ids` are `system:key|system:key`; `attributes` and `pins` are
//! `key=value|key=value`. A row becomes the same field map an NDJSON line gives, so both forms
//! go through one validation.

use serde_json::{Map, Number, Value};

use super::{parse_fields, Record};

use crate::domain::time::Timestamp;
use crate::domain::validate::{FieldViolation, Violations};

/// How a column's cells turn into JSON values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CellKind {
    Text,
    List,
    ExternalIds,
    Pairs,
    Integer,
    Float,
    Bool,
}

/// Every column a CSV header may name, in the NDJSON field order.
const COLUMNS: &[(&str, CellKind)] = &[
    ("type", CellKind::Text),
    ("id", CellKind::Text),
    ("display_name", CellKind::Text),
    ("plan", CellKind::Text),
    ("birthday", CellKind::Text),
    ("decision_style", CellKind::Text),
    ("region", CellKind::Text),
    ("phones", CellKind::List),
    ("emails", CellKind::List),
    ("external_ids", CellKind::ExternalIds),
    ("attributes", CellKind::Pairs),
    ("pins", CellKind::Pairs),
    ("event_id", CellKind::Text),
    ("customer_id", CellKind::Text),
    ("at", CellKind::Text),
    ("ticket_id", CellKind::Text),
    ("kind", CellKind::Text),
    ("sentiment", CellKind::Float),
    ("resolved", CellKind::Bool),
    ("score", CellKind::Integer),
    ("rating", CellKind::Integer),
    ("referred_id", CellKind::Text),
    ("order_id", CellKind::Text),
    ("amount", CellKind::Integer),
    ("currency", CellKind::Text),
    ("cost", CellKind::Integer),
    ("discount_amount", CellKind::Integer),
    ("coupon_code", CellKind::Text),
    ("units", CellKind::Integer),
    ("categories", CellKind::List),
    ("channel", CellKind::Text),
    ("consideration_seconds", CellKind::Integer),
];

/// The column names a CSV header may use.
pub fn csv_columns() -> impl Iterator<Item = &'static str> {
    COLUMNS.iter().map(|(name, _)| *name)
}

/// The columns of one CSV file, read from its header row.
#[derive(Debug, Clone)]
pub struct CsvLayout {
    columns: Vec<(&'static str, CellKind)>,
}

impl CsvLayout {
    /// Checks the header: a `type` column, only known field names, none twice.
    pub fn from_headers<'h>(
        headers: impl IntoIterator<Item = &'h str>,
    ) -> Result<Self, Vec<FieldViolation>> {
        let mut violations = Violations::default();
        let mut columns: Vec<(&'static str, CellKind)> = Vec::new();
        for (i, raw) in headers.into_iter().enumerate() {
            let name = raw.trim();
            match COLUMNS.iter().find(|(known, _)| *known == name) {
                Some(&(known, _)) if columns.iter().any(|(seen, _)| *seen == known) => {
                    violations.add(
                        format!("header[{i}]"),
                        format!("column {name:?} appears twice"),
                    );
                }
                Some(&column) => columns.push(column),
                None => violations.add(
                    format!("header[{i}]"),
                    format!(
                        "{name:?} is not a field name; expected some of {:?}",
                        csv_columns().collect::<Vec<_>>()
                    ),
                ),
            }
        }
        if !columns.iter().any(|(name, _)| *name == "type") {
            violations.add("header", "a `type` column is required");
        }
        violations.into_result().map(|()| Self { columns })
    }

    /// Parses and validates one data row, as [`super::parse_ndjson_line`] does a line.
    pub fn parse<'c>(
        &self,
        cells: impl IntoIterator<Item = &'c str>,
        reporting_currency: &str,
        now: Timestamp,
    ) -> Result<Record, Vec<FieldViolation>> {
        let mut violations = Violations::default();
        let mut map = Map::new();
        for (i, cell) in cells.into_iter().enumerate() {
            let cell = cell.trim();
            match self.columns.get(i) {
                _ if cell.is_empty() => {}
                Some(&(name, kind)) => {
                    map.insert(
                        name.to_owned(),
                        cell_value(name, kind, cell, &mut violations),
                    );
                }
                None => violations.add(
                    format!("cell[{i}]"),
                    format!("the header has {} columns only", self.columns.len()),
                ),
            }
        }
        let parsed = parse_fields(map, reporting_currency, now);
        if violations.is_empty() {
            return parsed;
        }
        // Cell-syntax problems come first; the record's own ones follow, except the
        // consequential "must be ..." of a cell already reported.
        let mut all = violations.list;
        if let Err(more) = parsed {
            let reported: Vec<String> = all.iter().map(|v| v.field.clone()).collect();
            all.extend(more.into_iter().filter(|v| !reported.contains(&v.field)));
        }
        Err(all)
    }
}

/// A cell's JSON value. Text that does not read as the column's type stays a string, so that the
/// record reader reports it with the expected type.
fn cell_value(name: &str, kind: CellKind, cell: &str, violations: &mut Violations) -> Value {
    let items = || cell.split('|').map(str::trim);
    match kind {
        CellKind::Text => Value::from(cell),
        CellKind::List => Value::Array(items().map(Value::from).collect()),
        CellKind::ExternalIds => {
            let mut ids = Vec::new();
            for item in items() {
                match item.split_once(':') {
                    Some((system, key)) => {
                        let mut pair = Map::new();
                        pair.insert("system".into(), system.trim().into());
                        pair.insert("key".into(), key.trim().into());
                        ids.push(Value::Object(pair));
                    }
                    None => violations.add(
                        name,
                        format!("{item:?} is not system:key (e.g. erp:K-10442)"),
                    ),
                }
            }
            Value::Array(ids)
        }
        CellKind::Pairs => {
            let mut pairs = Map::new();
            for item in items() {
                match item.split_once('=') {
                    Some((key, value)) => {
                        pairs.insert(key.trim().to_owned(), value.trim().into());
                    }
                    None => violations.add(name, format!("{item:?} is not key=value")),
                }
            }
            Value::Object(pairs)
        }
        CellKind::Integer => cell
            .parse::<i64>()
            .map_or_else(|_| Value::from(cell), Value::from),
        CellKind::Float => cell
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or_else(|| Value::from(cell), Value::Number),
        CellKind::Bool => match cell.to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::from(cell),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interchange::tests::{now, parse, SPEC_LINES};

    const CSV_HEADER: [&str; 25] = [
        "type",
        "id",
        "display_name",
        "plan",
        "birthday",
        "decision_style",
        "region",
        "phones",
        "emails",
        "external_ids",
        "attributes",
        "pins",
        "event_id",
        "customer_id",
        "at",
        "order_id",
        "amount",
        "currency",
        "cost",
        "discount_amount",
        "coupon_code",
        "units",
        "categories",
        "channel",
        "consideration_seconds",
    ];

    fn csv_row(layout: &CsvLayout, cells: &[&str]) -> Result<Record, Vec<FieldViolation>> {
        layout.parse(cells.iter().copied(), "CNY", now())
    }

    #[test]
    fn csv_rows_equal_their_ndjson_lines() {
        let layout = CsvLayout::from_headers(CSV_HEADER).unwrap();
        let mut profile = vec![""; 25];
        profile[..12].copy_from_slice(&[
            "PROFILE",
            "c-1001",
            "Li Wei",
            "PAID",
            "03-14",
            "RATIONAL",
            "Hangzhou",
            "+8613800000000",
            "li.wei@example.com",
            "erp:K-10442",
            "age_band=30-39",
            "value_tier=HIGH",
        ]);
        assert_eq!(
            csv_row(&layout, &profile).unwrap(),
            parse(SPEC_LINES[0]).unwrap()
        );
        let mut order = vec![""; 25];
        order[0] = "ORDER";
        order[12..].copy_from_slice(&[
            "e-1",
            "c-1001",
            "2025-06-01T09:30:00Z",
            "o-77",
            "12900",
            "CNY",
            "8000",
            "1000",
            "SUMMER",
            "2",
            "books|toys",
            "WEB",
            "420",
        ]);
        assert_eq!(
            csv_row(&layout, &order).unwrap(),
            parse(SPEC_LINES[1]).unwrap()
        );
    }

    #[test]
    fn csv_mixes_types_with_their_own_columns() {
        let header = [
            "type",
            "event_id",
            "customer_id",
            "at",
            "ticket_id",
            "kind",
            "sentiment",
            "resolved",
            "score",
            "rating",
            "referred_id",
            "plan",
            "channel",
        ];
        let layout = CsvLayout::from_headers(header).unwrap();
        let t = "2025-06-05T10:00:00Z";
        let rows: [(&[&str], usize); 6] = [
            (
                &[
                    "SUPPORT_TICKET",
                    "e-4",
                    "c-1001",
                    t,
                    "t-9",
                    "COMPLAINT",
                    "-0.7",
                    "false",
                ],
                4,
            ),
            (
                &[
                    "SURVEY",
                    "e-5",
                    "c-1001",
                    "2025-06-06T10:00:00Z",
                    "",
                    "NPS",
                    "",
                    "",
                    "9",
                ],
                5,
            ),
            (
                &[
                    "REVIEW",
                    "e-6",
                    "c-1001",
                    "2025-06-07T10:00:00Z",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "5",
                ],
                6,
            ),
            (
                &[
                    "REFERRAL",
                    "e-7",
                    "c-1001",
                    "2025-06-08T10:00:00Z",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "c-2002",
                ],
                7,
            ),
            (
                &[
                    "PLAN_CHANGE",
                    "e-8",
                    "c-1001",
                    "2025-06-09T10:00:00Z",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "PAID",
                ],
                8,
            ),
            (
                &[
                    "INTERACTION",
                    "e-3",
                    "c-1001",
                    "2025-06-04T10:00:00Z",
                    "",
                    "PRODUCT_VIEW",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "APP",
                ],
                3,
            ),
        ];
        for (cells, spec_line) in rows {
            assert_eq!(
                csv_row(&layout, cells).unwrap(),
                parse(SPEC_LINES[spec_line]).unwrap()
            );
        }
    }

    #[test]
    fn csv_errors_are_reported() {
        let bad_header =
            CsvLayout::from_headers(["kind", "amount", "colour", "amount"]).unwrap_err();
        let fields: Vec<&str> = bad_header.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["header[2]", "header[3]", "header"]);

        let layout = CsvLayout::from_headers(CSV_HEADER).unwrap();
        let mut profile = vec![""; 25];
        profile[..12].copy_from_slice(&[
            "PROFILE",
            "c",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "erp-K1",
            "age_band",
            "value_tier=TOP",
        ]);
        let fields: Vec<String> = csv_row(&layout, &profile)
            .unwrap_err()
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["external_ids", "attributes", "pins.value_tier"]);

        let mut order = vec![""; 26];
        order[0] = "ORDER";
        order[12..15].copy_from_slice(&["e", "c", "2025-06-01T00:00:00Z"]);
        order[15..17].copy_from_slice(&["o", "12.5"]);
        order[21] = "two";
        order[25] = "extra";
        let mut fields: Vec<String> = csv_row(&layout, &order)
            .unwrap_err()
            .into_iter()
            .map(|v| v.field)
            .collect();
        fields.sort();
        assert_eq!(fields, ["amount", "cell[25]", "units"]);
    }
}
