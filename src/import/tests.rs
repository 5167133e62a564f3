use std::io::Write as _;

use super::*;
use crate::domain::history::History;
use crate::interchange::parse_instant;
use crate::store::SqliteStore;

fn now() -> Timestamp {
    parse_instant("2025-07-01T00:00:00Z").unwrap()
}

fn options(batch_size: usize) -> ImportOptions {
    ImportOptions {
        batch_size,
        ..ImportOptions::new("CNY", now())
    }
}

async fn memory_store() -> SqliteStore {
    SqliteStore::connect("sqlite::memory:").await.unwrap()
}

fn file_with(suffix: &str, text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(suffix).tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file.flush().unwrap();
    file
}

const MIXED: &str = r#"{"type":"PROFILE","id":"c-1","display_name":"Li Wei","plan":"PAID","phones":["+86 138 0000 0001"],"emails":["LI@example.com"],"external_ids":[{"system":"erp","key":"K-1"}]}
{"type":"ORDER","event_id":"e-1","customer_id":"c-1","at":"2025-06-01T09:30:00Z","order_id":"o-1","amount":12900,"currency":"CNY","cost":8000,"units":2,"categories":["books"],"channel":"WEB"}
{"type":"REFUND","event_id":"e-2","customer_id":"c-1","at":"2025-06-03T10:00:00Z","order_id":"o-1","amount":2900}

{"type":"INTERACTION","event_id":"e-3","customer_id":"c-1","at":"2025-06-04T10:00:00Z","kind":"PRODUCT_VIEW","channel":"APP"}
{"type":"SUPPORT_TICKET","event_id":"e-4","customer_id":"c-2","at":"2025-06-05T10:00:00Z","ticket_id":"t-9","kind":"COMPLAINT","sentiment":-0.7,"resolved":false}
{"type":"SUPPORT_TICKET","event_id":"e-5","customer_id":"c-2","at":"2025-06-06T10:00:00Z","ticket_id":"t-9","kind":"COMPLAINT","resolved":true}
{"type":"SURVEY","event_id":"e-6","customer_id":"c-2","at":"2025-06-06T11:00:00Z","kind":"NPS","score":9}
{"type":"PROFILE","id":"c-2","birthday":"12-31","pins":{"value_tier":"HIGH"}}
{"type":"PLAN_CHANGE","event_id":"e-7","customer_id":"c-2","at":"2025-06-09T10:00:00Z","plan":"TRIAL"}
"#;

#[tokio::test]
async fn imports_a_mixed_file_and_reimports_as_duplicates() {
    let store = memory_store().await;
    let file = file_with(".ndjson", MIXED);
    let summary = import_file(&store, file.path(), Format::Detect, &options(3))
        .await
        .unwrap();
    assert_eq!(summary.rejected_lines, []);
    assert_eq!(summary.lines_read, 10);
    assert_eq!(summary.profiles_upserted, 2);
    assert_eq!(summary.events_stored, 7);
    assert_eq!(summary.duplicates, 0);

    let history = store.history("c-1").await.unwrap();
    assert_eq!(history.events.len(), 3);
    let profile = history.profile.unwrap();
    assert_eq!(profile.phones, ["+8613800000001"]);
    assert_eq!(profile.emails, ["li@example.com"]);
    assert_eq!(store.event_count("c-2").await.unwrap(), 4);
    assert!(store.profile("c-2").await.unwrap().is_some());

    let again = import_file(&store, file.path(), Format::Ndjson, &options(5_000))
        .await
        .unwrap();
    assert_eq!(again.rejected, 0);
    assert_eq!(again.events_stored, 0);
    assert_eq!(again.duplicates, 7);
    assert_eq!(again.profiles_created, 0);
}

fn reasons_by_line(summary: &ImportSummary) -> Vec<(u64, String)> {
    summary
        .rejected_lines
        .iter()
        .map(|r| (r.line, r.reasons[0].field.clone()))
        .collect()
}

const WITH_BAD_LINES: &str = r#"{"type":"ORDER","event_id":"e-1","customer_id":"c-1","at":"2025-06-01T09:30:00Z","order_id":"o-1","amount":10000,"units":1}
{"type":"ORDER","event_id":"e-2","customer_id":"c-1","at":"2025-06-01T09:31:00Z","order_id":"o-1","amount":500,"units":1}
{not json
{"type":"REFUND","event_id":"e-3","customer_id":"c-1","at":"2025-06-02T00:00:00Z","order_id":"o-9","amount":100}
{"type":"REFUND","event_id":"e-4","customer_id":"c-1","at":"2025-06-02T00:00:00Z","order_id":"o-1","amount":20000}
{"type":"REVIEW","event_id":"e-1","customer_id":"c-1","at":"2025-06-03T00:00:00Z","rating":4}
{"type":"REVIEW","event_id":"e-5","customer_id":"c-1","at":"2025-06-03T00:00:00Z","rating":4,"currency":"CNY"}
{"type":"ORDER","event_id":"e-6","customer_id":"c-1","at":"2025-06-04T00:00:00Z","order_id":"o-2","amount":700,"currency":"USD","units":1}
{"type":"REFUND","event_id":"e-7","customer_id":"c-1","at":"2025-06-05T00:00:00Z","order_id":"o-1","amount":4000}
{"type":"PROFILE","id":"c-2","phones":["+8613800000009"]}
{"type":"PROFILE","id":"c-3","phones":["+8613800000009"]}
{"type":"SURVEY","event_id":"e-8","customer_id":"c-3","at":"2025-06-06T00:00:00Z","kind":"CSAT","score":5}
"#;

#[tokio::test]
async fn rejected_lines_are_reported_and_the_rest_stored() {
    for batch_size in [1, 2, 5_000] {
        let store = memory_store().await;
        let file = file_with(".jsonl", WITH_BAD_LINES);
        let summary = import_file(&store, file.path(), Format::Detect, &options(batch_size))
            .await
            .unwrap();
        let expected: Vec<(u64, String)> = [
            (2, "order_id"),   // order id taken by e-1
            (3, "json"),       // bad JSON
            (4, "order_id"),   // refund of an order that is not stored
            (5, "amount"),     // refund above the order
            (6, "event_id"),   // e-1 reused with other content
            (7, "currency"),   // no currency on a review
            (8, "currency"),   // not the reporting currency
            (11, "phones[0]"), // phone of c-2
        ]
        .iter()
        .map(|(line, field)| (*line, (*field).to_owned()))
        .collect();
        let mut got = reasons_by_line(&summary);
        got.sort();
        assert_eq!(
            got, expected,
            "batch size {batch_size}: {:#?}",
            summary.rejected_lines
        );
        assert_eq!(summary.rejected, 8);
        assert_eq!(summary.events_stored, 3, "batch size {batch_size}");
        assert_eq!(summary.profiles_upserted, 1);
        assert_eq!(store.event_count("c-1").await.unwrap(), 2);
        assert_eq!(store.event_count("c-3").await.unwrap(), 1);
        let text = summary.rejected_lines[0].to_string();
        assert!(text.starts_with("line "), "{text}");
    }
}

#[tokio::test]
async fn csv_import_matches_ndjson_import() {
    let csv = "type,id,phones,external_ids,attributes,event_id,customer_id,at,order_id,amount,units,categories,kind,score\n\
        PROFILE,c-1,+8613800000001|+8613800000002,erp:K-1|shop:u_1,age_band=30-39|gender=f,,,,,,,,,\n\
        ORDER,,,,,e-1,c-1,2025-06-01T09:30:00Z,o-1,12900,2,books|toys,,\n\
        REFUND,,,,,e-2,c-1,2025-06-02T09:30:00Z,o-1,900,,,,\n\
        SURVEY,,,,,e-3,c-1,2025-06-03T09:30:00Z,,,,,CSAT,9\n\
        \"SURVEY\",,,,,e-4,c-1,\"2025-06-03T09:30:00Z\",,,,,NPS,9\n";
    let store = memory_store().await;
    let file = file_with(".csv", csv);
    let summary = import_file(&store, file.path(), Format::Detect, &options(5_000))
        .await
        .unwrap();
    assert_eq!(reasons_by_line(&summary), [(5, "score".to_owned())]);
    assert_eq!(summary.lines_read, 5);
    assert_eq!(summary.events_stored, 3);
    let profile = store.profile("c-1").await.unwrap().unwrap();
    assert_eq!(profile.phones.len(), 2);
    assert_eq!(profile.external_ids.len(), 2);
    assert_eq!(profile.attributes["gender"], "f");

    let bad_header = file_with(".csv", "kind,amount\nORDER,1\n");
    let error = import_file(&store, bad_header.path(), Format::Detect, &options(10))
        .await
        .unwrap_err();
    assert!(matches!(error, ImportError::CsvHeader(_)), "{error}");
    let unknown = file_with(".txt", "");
    let error = import_file(&store, unknown.path(), Format::Detect, &options(10))
        .await
        .unwrap_err();
    assert!(matches!(error, ImportError::UnknownFormat(_)), "{error}");
}

/// Every customer's history in a comparable form: events sorted by id.
async fn all_histories(store: &SqliteStore) -> Vec<(String, History)> {
    let mut histories = store.histories(None, 1_000).await.unwrap();
    for (_, history) in &mut histories {
        history.events.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    }
    histories
}

#[tokio::test]
async fn export_then_import_gives_the_same_histories() {
    let source = memory_store().await;
    let file = file_with(".ndjson", MIXED);
    import_file(&source, file.path(), Format::Detect, &options(5_000))
        .await
        .unwrap();
    // A refund at its order's instant with a smaller event id must still follow the order.
    let same_instant = r#"{"type":"ORDER","event_id":"x-9","customer_id":"c-3","at":"2025-06-01T00:00:00Z","order_id":"o-1","amount":100,"units":1}
{"type":"REFUND","event_id":"x-10","customer_id":"c-3","at":"2025-06-01T00:00:00Z","order_id":"o-1","amount":100}
"#;
    let file = file_with(".ndjson", same_instant);
    import_file(&source, file.path(), Format::Detect, &options(5_000))
        .await
        .unwrap();

    let mut exported = Vec::new();
    let summary = export_ndjson(&source, &mut exported, "CNY").await.unwrap();
    assert_eq!(
        summary,
        ExportSummary {
            customers: 3,
            profiles: 2,
            events: 9
        }
    );
    let text = String::from_utf8(exported).unwrap();
    assert!(text.lines().next().unwrap().contains("\"PROFILE\""));

    let target = memory_store().await;
    let file = file_with(".ndjson", &text);
    let summary = import_file(&target, file.path(), Format::Detect, &options(5_000))
        .await
        .unwrap();
    assert_eq!(summary.rejected_lines, []);
    assert_eq!(all_histories(&target).await, all_histories(&source).await);
}
