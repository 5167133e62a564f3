//! The `segmenter` command line, run as a real process: rules, config, import (NDJSON and CSV),
//! classify, export and demo, each over a SQLite file in a temporary directory.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest one command may take (debug build, slow CI machine).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// The nine example lines of the spec's interchange section (section 6), verbatim.
const SPEC_LINES: [&str; 9] = [
    r#"{"type": "PROFILE", "id": "c-1001", "display_name": "Li Wei", "plan": "PAID", "birthday": "03-14", "decision_style": "RATIONAL", "region": "Hangzhou", "phones": ["+8613800000000"], "emails": ["li.wei@example.com"], "external_ids": [{"system": "erp", "key": "K-10442"}], "attributes": {"age_band": "30-39"}, "pins": {"value_tier": "HIGH"}}"#,
    r#"{"type": "ORDER", "event_id": "e-1", "customer_id": "c-1001", "at": "2025-06-01T09:30:00Z", "order_id": "o-77", "amount": 12900, "currency": "CNY", "cost": 8000, "discount_amount": 1000, "coupon_code": "SUMMER", "units": 2, "categories": ["books", "toys"], "channel": "WEB", "consideration_seconds": 420}"#,
    r#"{"type": "REFUND", "event_id": "e-2", "customer_id": "c-1001", "at": "2025-06-03T10:00:00Z", "order_id": "o-77", "amount": 2900, "currency": "CNY"}"#,
    r#"{"type": "INTERACTION", "event_id": "e-3", "customer_id": "c-1001", "at": "2025-06-04T10:00:00Z", "kind": "PRODUCT_VIEW", "channel": "APP"}"#,
    r#"{"type": "SUPPORT_TICKET", "event_id": "e-4", "customer_id": "c-1001", "at": "2025-06-05T10:00:00Z", "ticket_id": "t-9", "kind": "COMPLAINT", "sentiment": -0.7, "resolved": false}"#,
    r#"{"type": "SURVEY", "event_id": "e-5", "customer_id": "c-1001", "at": "2025-06-06T10:00:00Z", "kind": "NPS", "score": 9}"#,
    r#"{"type": "REVIEW", "event_id": "e-6", "customer_id": "c-1001", "at": "2025-06-07T10:00:00Z", "rating": 5}"#,
    r#"{"type": "REFERRAL", "event_id": "e-7", "customer_id": "c-1001", "at": "2025-06-08T10:00:00Z", "referred_id": "c-2002"}"#,
    r#"{"type": "PLAN_CHANGE", "event_id": "e-8", "customer_id": "c-1001", "at": "2025-06-09T10:00:00Z", "plan": "PAID"}"#,
];

/// Refused for three fields at once: empty event id, negative amount, foreign currency.
const BAD_ORDER: &str = r#"{"type": "ORDER", "event_id": "", "customer_id": "c-1001", "at": "2025-06-02T09:30:00Z", "order_id": "o-78", "amount": -5, "currency": "USD", "units": 1}"#;
/// Refused: an NPS score out of range, in the far future.
const BAD_SURVEY: &str = r#"{"type": "SURVEY", "event_id": "e-bad", "customer_id": "c-1001", "at": "2099-01-01T00:00:00Z", "kind": "NPS", "score": 11}"#;

/// What one run of the binary did.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    what: String,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }

    fn describe(&self) -> String {
        format!(
            "{}\nexit: {:?}\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.status.code(),
            self.stdout,
            self.stderr
        )
    }

    #[track_caller]
    fn ok(self) -> Self {
        assert!(self.status.success(), "{}", self.describe());
        self
    }

    #[track_caller]
    fn failed(self) -> Self {
        assert!(!self.status.success(), "{}", self.describe());
        self
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.describe()))
    }
}

/// A temporary working directory for the binary; every database lives in it.
struct Workspace {
    dir: tempfile::TempDir,
    runs: std::cell::Cell<u32>,
}

impl Workspace {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            runs: std::cell::Cell::new(0),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// Runs `segmenter --set database_url=sqlite://<dir>/<db> ARGS...` in the directory, with
    /// no configuration from the environment, and waits at most [`COMMAND_TIMEOUT`].
    fn run(&self, db: &str, args: &[&str]) -> Run {
        let n = self.runs.get() + 1;
        self.runs.set(n);
        let stdout_path = self.path(&format!("run-{n}.out"));
        let stderr_path = self.path(&format!("run-{n}.err"));
        let database = format!("database_url=sqlite://{}", self.path(db).display());
        let mut command = Command::new(env!("CARGO_BIN_EXE_segmenter"));
        command
            .current_dir(self.dir.path())
            .args(["--set", &database])
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout_path).expect("stdout file"))
            .stderr(File::create(&stderr_path).expect("stderr file"))
            .env("NO_COLOR", "1");
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SEGMENTER") {
                command.env_remove(name);
            }
        }
        let what = format!("segmenter --set {database} {}", args.join(" "));
        let mut child = command.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if started.elapsed() > COMMAND_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what}: no exit within {COMMAND_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Run {
            status,
            stdout: std::fs::read_to_string(&stdout_path).expect("read stdout"),
            stderr: std::fs::read_to_string(&stderr_path).expect("read stderr"),
            what,
        }
    }
}

/// The NDJSON records of a text as JSON values, in a canonical order (field order and record
/// order do not matter, content does).
fn records(ndjson: &str) -> Vec<Value> {
    let mut values: Vec<Value> = ndjson
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    values.sort_by_key(Value::to_string);
    values
}

fn spec_records() -> Vec<Value> {
    records(&SPEC_LINES.join("\n"))
}

/// The codes of a classification printed by `classify`, by dimension.
fn assignment_codes(classification: &Value) -> BTreeMap<String, String> {
    classification["assignments"]
        .as_array()
        .expect("assignments")
        .iter()
        .map(|a| {
            (
                a["dimension"].as_str().expect("dimension").to_owned(),
                a["code"].as_str().expect("code").to_owned(),
            )
        })
        .collect()
}

/// The embedded example lines are the spec's, when the spec is next to the crate.
#[test]
fn the_embedded_examples_are_the_specs() {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/spec/segmentation-model.md");
    let Ok(text) = std::fs::read_to_string(&spec) else {
        println!("SKIPPED: {} not found", spec.display());
        return;
    };
    let section = text
        .split("\n## 6.")
        .nth(1)
        .expect("spec section 6")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    let lines: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("{\"type\""))
        .collect();
    assert_eq!(lines, SPEC_LINES);
}

#[test]
fn rules_default_is_accepted_and_bad_rules_are_refused() {
    let w = Workspace::new();
    let default = w.run("r.db", &["rules", "default"]).ok();
    assert!(
        toml::from_str::<toml::Table>(&default.stdout).is_ok(),
        "not TOML: {}",
        default.describe()
    );
    let file = w.write("default.toml", &default.stdout);
    let check = w
        .run("r.db", &["rules", "check", file.to_str().expect("path")])
        .ok();
    let version = check
        .stdout
        .split_whitespace()
        .find(|word| word.starts_with("rules-"))
        .unwrap_or_else(|| panic!("no version: {}", check.describe()))
        .to_owned();
    assert!(check.stdout.contains("valid"), "{}", check.describe());

    // A partial file is merged over the built-in rules and gets a version of its own.
    let partial = w.write("partial.toml", "[lifecycle]\nchurned_after_days = 400\n");
    let check = w
        .run("r.db", &["rules", "check", partial.to_str().expect("path")])
        .ok();
    assert!(check.stdout.contains("rules-"), "{}", check.describe());
    assert!(!check.stdout.contains(&version), "{}", check.describe());

    for (name, text, reason) in [
        (
            "negative.toml",
            "[lifecycle]\nchurned_after_days = -1\n",
            "churned_after_days",
        ),
        ("unknown.toml", "bogus_key = 1\n", "bogus_key"),
        ("syntax.toml", "[lifecycle\n", "TOML"),
    ] {
        let file = w.write(name, text);
        let refused = w
            .run("r.db", &["rules", "check", file.to_str().expect("path")])
            .failed();
        assert!(
            refused.stderr.contains(reason),
            "{reason} not named: {}",
            refused.describe()
        );
    }
    let missing = w
        .run("r.db", &["rules", "check", "no-such-file.toml"])
        .failed();
    assert!(
        missing.stderr.contains("no-such-file.toml") || missing.stderr.contains("No such file"),
        "{}",
        missing.describe()
    );
}

#[test]
fn config_check_accepts_good_files_and_names_every_problem() {
    let w = Workspace::new();
    let good = w.write(
        "good.toml",
        "listen = \"127.0.0.1:6000\"\nlog_format = \"json\"\nmax_batch_events = 500\n",
    );
    let run = w
        .run("c.db", &["config", "check", good.to_str().expect("path")])
        .ok();
    let effective: toml::Table = toml::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "effective configuration is not TOML ({e}): {}",
            run.describe()
        )
    });
    assert_eq!(effective["listen"].as_str(), Some("127.0.0.1:6000"));
    assert_eq!(effective["log_format"].as_str(), Some("json"));
    assert_eq!(effective["max_batch_events"].as_integer(), Some(500));
    // --set wins over the file and the defaults.
    let expected_url = format!("sqlite://{}", w.path("c.db").display());
    assert_eq!(
        effective["database_url"].as_str(),
        Some(expected_url.as_str())
    );
    assert_eq!(effective["reporting_currency"].as_str(), Some("CNY"));

    let bad = w.write(
        "bad.toml",
        "log_format = \"xml\"\nreporting_currency = \"cny\"\n",
    );
    let refused = w
        .run("c.db", &["config", "check", bad.to_str().expect("path")])
        .failed();
    for reason in ["log_format", "reporting_currency"] {
        assert!(
            refused.stderr.contains(reason),
            "{reason} not named: {}",
            refused.describe()
        );
    }

    let unknown = w.write("unknown.toml", "lisen = \"127.0.0.1:6000\"\n");
    let refused = w
        .run(
            "c.db",
            &["config", "check", unknown.to_str().expect("path")],
        )
        .failed();
    assert!(refused.stderr.contains("lisen"), "{}", refused.describe());

    // The configured rule set is checked too.
    let rules = w.write("bad-rules.toml", "[lifecycle]\nchurned_after_days = -1\n");
    let with_rules = w.write(
        "with-rules.toml",
        &format!("rules_file = {:?}\n", rules.display().to_string()),
    );
    let refused = w
        .run(
            "c.db",
            &["config", "check", with_rules.to_str().expect("path")],
        )
        .failed();
    assert!(
        refused.stderr.contains("churned_after_days"),
        "{}",
        refused.describe()
    );
}

/// The spec's examples as CSV: a `type` column plus every field name, lists `a|b`, external
/// ids `system:key`, attributes and pins `k=v`.
fn spec_csv() -> String {
    let values = spec_records();
    let mut columns: Vec<String> = vec!["type".to_owned()];
    for value in &values {
        for key in value.as_object().expect("object").keys() {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&columns).expect("header");
    // In the spec's order: the refund must follow its order.
    for line in SPEC_LINES {
        let value: Value = serde_json::from_str(line).expect("spec line");
        let row: Vec<String> = columns
            .iter()
            .map(|column| match value.get(column) {
                None => String::new(),
                Some(cell) => csv_cell(column, cell),
            })
            .collect();
        writer.write_record(&row).expect("row");
    }
    String::from_utf8(writer.into_inner().expect("csv")).expect("utf-8")
}

fn csv_cell(column: &str, cell: &Value) -> String {
    match cell {
        Value::String(text) => text.clone(),
        Value::Array(items) if column == "external_ids" => items
            .iter()
            .map(|id| {
                format!(
                    "{}:{}",
                    id["system"].as_str().expect("system"),
                    id["key"].as_str().expect("key")
                )
            })
            .collect::<Vec<_>>()
            .join("|"),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().expect("string item").to_owned())
            .collect::<Vec<_>>()
            .join("|"),
        Value::Object(pairs) => pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().expect("string value")))
            .collect::<Vec<_>>()
            .join("|"),
        other => other.to_string(),
    }
}

#[test]
fn import_classify_export_round_trip() {
    let w = Workspace::new();
    // Line 3 and line 11 are bad; the other nine are the spec's examples.
    let mut lines: Vec<&str> = SPEC_LINES.to_vec();
    lines.insert(2, BAD_ORDER);
    lines.push(BAD_SURVEY);
    let ndjson = w.write("spec.ndjson", &(lines.join("\n") + "\n"));
    let ndjson = ndjson.to_str().expect("path");

    let first = w.run("x.db", &["import", "--quiet", ndjson]);
    assert_eq!(first.code(), Some(2), "{}", first.describe());
    assert!(
        first
            .stderr
            .contains("11 lines, 1 profiles, 8 events stored, 0 duplicates, 2 rejected"),
        "{}",
        first.describe()
    );
    let rejected: Vec<&str> = first
        .stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("rejected line"))
        .collect();
    assert_eq!(rejected.len(), 2, "{}", first.describe());
    assert!(rejected[0].contains("line 3:"), "{}", first.describe());
    for field in ["event_id", "amount", "currency"] {
        assert!(
            rejected[0].contains(&format!("{field}:")),
            "{field}: {}",
            first.describe()
        );
    }
    assert!(rejected[1].contains("line 11:"), "{}", first.describe());
    for field in ["at", "score"] {
        assert!(
            rejected[1].contains(&format!("{field}:")),
            "{field}: {}",
            first.describe()
        );
    }

    // The good lines are stored exactly: the export gives them back.
    let export = w.run("x.db", &["export"]).ok();
    assert_eq!(
        records(&export.stdout),
        spec_records(),
        "{}",
        export.describe()
    );
    assert!(export
        .stderr
        .contains("exported 1 customers, 1 profiles, 8 events"));

    // Re-running reports duplicates and stores nothing new.
    let again = w.run("x.db", &["import", "--quiet", ndjson]);
    assert_eq!(again.code(), Some(2), "{}", again.describe());
    assert!(
        again
            .stderr
            .contains("0 events stored, 8 duplicates, 2 rejected"),
        "{}",
        again.describe()
    );
    let after = w.run("x.db", &["export"]).ok();
    assert_eq!(records(&after.stdout), spec_records());

    // classify by id and by every alias reaches the same customer.
    let by_id = w.run("x.db", &["classify", "c-1001"]).ok().json();
    assert_eq!(by_id["customer_id"], "c-1001", "{by_id:#}");
    assert_eq!(by_id["known"], true, "{by_id:#}");
    assert_eq!(by_id["assignments"].as_array().map(Vec::len), Some(15));
    assert!(
        by_id["rule_set_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("rules-")),
        "{by_id:#}"
    );
    let codes = assignment_codes(&by_id);
    for alias in [
        ["--phone", "+8613800000000"],
        ["--phone", "+86 138 0000 0000"],
        ["--email", " Li.Wei@Example.com"],
        ["--external", "erp:K-10442"],
    ] {
        let found = w.run("x.db", &["classify", alias[0], alias[1]]).ok().json();
        assert_eq!(found["customer_id"], "c-1001", "{alias:?}: {found:#}");
        assert_eq!(found["known"], true, "{alias:?}");
        assert_eq!(assignment_codes(&found), codes, "{alias:?}");
    }
    let unknown = w.run("x.db", &["classify", "nobody"]).ok().json();
    assert_eq!(unknown["customer_id"], "nobody");
    assert_eq!(unknown["known"], false);
    w.run("x.db", &["classify", "c-1001", "--phone", "+8613800000000"])
        .failed();

    // An equivalent CSV stores the same records.
    let csv = w.write("spec.csv", &spec_csv());
    let csv = csv.to_str().expect("path");
    let imported = w.run("csv.db", &["import", "--quiet", csv]).ok();
    assert!(
        imported
            .stderr
            .contains("9 lines, 1 profiles, 8 events stored, 0 duplicates, 0 rejected"),
        "{}",
        imported.describe()
    );
    let csv_export = w.run("csv.db", &["export"]).ok();
    assert_eq!(records(&csv_export.stdout), spec_records());
    // ... and is, line for line, what the NDJSON import stored: all duplicates there.
    let over = w
        .run("x.db", &["import", "--quiet", "--format", "csv", csv])
        .ok();
    assert!(
        over.stderr
            .contains("0 events stored, 8 duplicates, 0 rejected"),
        "{}",
        over.describe()
    );

    // An export file re-imports into a fresh database without a rejected line.
    let file = w.path("export.ndjson");
    w.run("x.db", &["export", "-o", file.to_str().expect("path")])
        .ok();
    let reimport = w
        .run(
            "fresh.db",
            &["import", "--quiet", file.to_str().expect("path")],
        )
        .ok();
    assert!(
        reimport
            .stderr
            .contains("1 profiles, 8 events stored, 0 duplicates, 0 rejected"),
        "{}",
        reimport.describe()
    );
    let fresh = w.run("fresh.db", &["export"]).ok();
    assert_eq!(records(&fresh.stdout), spec_records());
    let fresh_classification = w.run("fresh.db", &["classify", "c-1001"]).ok().json();
    assert_eq!(assignment_codes(&fresh_classification), codes);
}

#[test]
fn demo_fills_a_database_that_classify_reads() {
    let w = Workspace::new();
    w.run("demo.db", &["demo", "--customers", "300"]).ok();
    for id in ["c00001", "c00300"] {
        let found = w.run("demo.db", &["classify", id]).ok().json();
        assert_eq!(found["customer_id"], id, "{found:#}");
        assert_eq!(found["known"], true, "{found:#}");
        assert_eq!(found["assignments"].as_array().map(Vec::len), Some(15));
        assert_eq!(found["snapshot"]["customers"], 300, "{found:#}");
    }
    let beyond = w.run("demo.db", &["classify", "c00301"]).ok().json();
    assert_eq!(beyond["known"], false, "{beyond:#}");
    // A second run leaves a filled database alone.
    w.run("demo.db", &["demo", "--customers", "300"]).ok();
    let again = w.run("demo.db", &["classify", "c00001"]).ok().json();
    assert_eq!(again["snapshot"]["customers"], 300, "{again:#}");
}
