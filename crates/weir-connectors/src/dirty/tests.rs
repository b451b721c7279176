//! Tests of the dirty-data policy: options, the three strategies, dead-letter lines.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::Schema;
use weir_formats::{format_options, FormatError};
use weir_runtime::{JobMetrics, SubtaskContext};

use super::*;
use crate::descriptor::TableDescriptor;

fn table(base: &Path, options: &[(&str, &str)]) -> TableDescriptor {
    TableDescriptor {
        name: "orders".into(),
        schema: Arc::new(Schema::empty()),
        metadata: vec![],
        primary_key: vec![],
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        base_dir: base.to_path_buf(),
    }
}

/// The policy of a `json` table with `options`, or the error's text.
fn policy(base: &Path, options: &[(&str, &str)]) -> Result<DirtyDataPolicy, String> {
    let t = table(base, options);
    let format = format_options("json", &t.options).map_err(|e| e.to_string())?;
    let mut o = Options::new(&t, "filesystem");
    o.allow_prefix("json.");
    let policy = DirtyDataPolicy::read(&mut o, &format).map_err(|e| e.to_string())?;
    o.finish().map_err(|e| e.to_string())?;
    Ok(policy)
}

fn bad_json() -> FormatError {
    FormatError::BadRecord {
        origin: "in.json".into(),
        line: 7,
        format: "JSON",
        reason: "expected value at line 1 column 7".into(),
        record: "{\"id\":oops}".into(),
        hint: "set 'json.ignore-parse-errors' = 'true' to skip malformed records".into(),
    }
}

fn ctx(subtask: usize, metrics: &Arc<JobMetrics>) -> SubtaskContext {
    SubtaskContext {
        subtask,
        parallelism: 2,
        metrics: metrics.clone(),
        ..SubtaskContext::single("source")
    }
}

#[test]
fn strategies_from_options() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let strategy = |o: &[(&str, &str)]| policy(d, o).map(|p| p.strategy());
    assert_eq!(strategy(&[]), Ok(DirtyDataStrategy::Fail));
    assert_eq!(
        strategy(&[("weir.dirty-data.strategy", "SKIP")]),
        Ok(DirtyDataStrategy::Skip)
    );
    assert_eq!(
        strategy(&[("json.ignore-parse-errors", "true")]),
        Ok(DirtyDataStrategy::Skip)
    );
    assert_eq!(
        strategy(&[
            ("json.ignore-parse-errors", "true"),
            ("weir.dirty-data.strategy", "skip")
        ]),
        Ok(DirtyDataStrategy::Skip)
    );
    let p = policy(
        d,
        &[
            ("weir.dirty-data.strategy", "dead-letter"),
            ("weir.dirty-data.dead-letter.path", "dlq"),
        ],
    )
    .unwrap();
    assert_eq!(p.strategy(), DirtyDataStrategy::DeadLetter);
    assert_eq!(p.describe(), "dead-letter to folder 'dlq'");
    // Nothing is created before a bad record is written.
    assert!(!d.join("dlq").exists());
}

#[test]
fn conflicting_and_incomplete_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let err = |o: &[(&str, &str)]| policy(d, o).unwrap_err();
    let e = err(&[
        ("json.ignore-parse-errors", "true"),
        ("weir.dirty-data.strategy", "fail"),
    ]);
    assert_eq!(
        e,
        "table 'orders': 'json.ignore-parse-errors' = 'true' skips malformed records, which \
         conflicts with 'weir.dirty-data.strategy' = 'fail'; remove one of the two options"
    );
    let e = err(&[("weir.dirty-data.strategy", "dead-letter")]);
    assert!(
        e.contains("missing required option 'weir.dirty-data.dead-letter.path'"),
        "{e}"
    );
    let e = err(&[("weir.dirty-data.dead-letter.path", "dlq")]);
    assert!(
        e.contains("only used with 'weir.dirty-data.strategy' = 'dead-letter'"),
        "{e}"
    );
    let e = err(&[("weir.dirty-data.strategy", "drop")]);
    assert!(
        e.contains("expected 'fail', 'skip' or 'dead-letter'"),
        "{e}"
    );
    // A topic target is for Kafka sources: a filesystem table does not know the option.
    let e = err(&[
        ("weir.dirty-data.strategy", "dead-letter"),
        ("weir.dirty-data.dead-letter.path", "dlq"),
        ("weir.dirty-data.dead-letter.topic", "bad"),
    ]);
    assert!(e.contains("unsupported option(s)"), "{e}");
    std::fs::write(d.join("plain"), "").unwrap();
    let e = err(&[
        ("weir.dirty-data.strategy", "dead-letter"),
        ("weir.dirty-data.dead-letter.path", "plain"),
    ]);
    assert!(e.contains("is a file; name a folder"), "{e}");
}

#[test]
fn fail_names_table_location_reason_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(JobMetrics::default());
    let mut handler = policy(dir.path(), &[]).unwrap().handler(&ctx(0, &metrics));
    let error = bad_json();
    let kafka = BadRecord {
        raw: b"{\"id\":oops}",
        source: "orders",
        partition: Some(2),
        offset: Some(41),
        line: None,
        error: &error,
    };
    let e = handler.on_bad_record(&kafka).unwrap_err().to_string();
    assert_eq!(
        e,
        "table 'orders': cannot decode the record at topic 'orders' partition 2 offset 41: \
         expected value at line 1 column 7 (record: {\"id\":oops}); fix the data where it is \
         produced, or set 'weir.dirty-data.strategy' = 'skip' to skip malformed records, or \
         'dead-letter' with 'weir.dirty-data.dead-letter.path' = '<folder>' to set them aside"
    );
    let file = BadRecord {
        source: "in/a.json",
        partition: None,
        offset: None,
        line: Some(7),
        ..kafka
    };
    assert_eq!(file.location(), "'in/a.json' line 7");
    assert!(handler.on_bad_record(&file).is_err());
}

#[test]
fn skip_counts() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(JobMetrics::default());
    let p = policy(dir.path(), &[("weir.dirty-data.strategy", "skip")]).unwrap();
    let mut handler = p.handler(&ctx(0, &metrics));
    let error = bad_json();
    let bad = BadRecord {
        raw: b"x",
        source: "t",
        partition: Some(0),
        offset: Some(0),
        line: None,
        error: &error,
    };
    handler.on_bad_record(&bad).unwrap();
    handler.on_bad_record(&bad).unwrap();
    handler.flush().unwrap();
    assert_eq!(JobMetrics::get(&metrics.records_skipped), 2);
    assert_eq!(JobMetrics::get(&metrics.records_dead_lettered), 0);
}

#[test]
fn dead_letter_appends_json_lines_per_subtask() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(JobMetrics::default());
    let p = policy(
        dir.path(),
        &[
            ("weir.dirty-data.strategy", "dead-letter"),
            ("weir.dirty-data.dead-letter.path", "out/dlq"),
        ],
    )
    .unwrap();
    let error = bad_json();
    let text = BadRecord {
        raw: "{\"id\":oops, \"é\":1}".as_bytes(),
        source: "in/a.json",
        partition: None,
        offset: None,
        line: Some(7),
        error: &error,
    };
    let binary = BadRecord {
        raw: &[0xff, 0x00, b'a'],
        source: "orders",
        partition: Some(3),
        offset: Some(12),
        line: None,
        error: &error,
    };
    let mut first = p.handler(&ctx(1, &metrics));
    first.on_bad_record(&text).unwrap();
    first.on_bad_record(&binary).unwrap();
    first.flush().unwrap();
    // A second handler of the same subtask (a restarted job) appends.
    let mut again = p.handler(&ctx(1, &metrics));
    again.on_bad_record(&text).unwrap();
    again.flush().unwrap();
    assert_eq!(JobMetrics::get(&metrics.records_dead_lettered), 3);
    let written =
        std::fs::read_to_string(dir.path().join("out/dlq/dead-letter-orders-1.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let time = lines[0]["time"].as_str().unwrap().to_string();
    assert!(
        time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "{time}"
    );
    assert_eq!(
        lines[0],
        serde_json::json!({
            "table": "orders", "source": "in/a.json", "partition": null, "offset": null,
            "line": 7, "error": "expected value at line 1 column 7",
            "raw": "{\"id\":oops, \"é\":1}", "time": time,
        })
    );
    assert_eq!(lines[1]["partition"], 3);
    assert_eq!(lines[1]["offset"], 12);
    assert_eq!(lines[1]["line"], serde_json::Value::Null);
    assert_eq!(lines[1]["raw_base64"], "/wBh");
    assert!(lines[1].get("raw").is_none());
    // Field order as documented.
    assert!(written.starts_with("{\"table\":\"orders\",\"source\":\"in/a.json\",\"partition\""));
    assert_eq!(
        DeadLetterFolder::file_name("my table", 0),
        "dead-letter-my_table-0.jsonl"
    );
}
