//! Tests of the `filesystem` source's dirty-data strategies.

use std::fs;
use std::sync::Arc;

use weir_runtime::JobMetrics;

use super::tests::{ctx, ids, read_all, table};

const INPUT: &str =
    "{\"id\":1,\"name\":\"a\"}\n{\"id\":oops}\n\n{\"id\":3}\r\n\u{ff}-not-json\n{\"id\":5}\n";

#[tokio::test]
async fn dead_letter_keeps_bad_lines_aside_with_their_numbers() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("in")).unwrap();
    let mut bytes = INPUT.as_bytes().to_vec();
    // Line 5 is not UTF-8.
    let at = INPUT.find("\u{ff}").unwrap();
    bytes.splice(at..at + 2, [0xff]);
    fs::write(dir.path().join("in/a.json"), &bytes).unwrap();
    fs::write(dir.path().join("in/b.json"), "{\"id\":6}\n[1,2\n").unwrap();
    let t = table(
        dir.path(),
        &[
            ("path", "in"),
            ("format", "json"),
            ("weir.dirty-data.strategy", "dead-letter"),
            ("weir.dirty-data.dead-letter.path", "dlq"),
        ],
        &[],
    );
    let metrics = Arc::new(JobMetrics::default());
    // Small chunks: the bad lines are found in several chunks.
    for subtask in 0..2 {
        let (batches, _) = read_all(&t, 24, &ctx(subtask, 2, &metrics)).await.unwrap();
        let expected = if subtask == 0 { vec![1, 3, 5] } else { vec![6] };
        assert_eq!(ids(&batches), expected);
    }
    assert_eq!(JobMetrics::get(&metrics.records_dead_lettered), 3);
    assert_eq!(JobMetrics::get(&metrics.records_skipped), 0);
    let read = |subtask: usize| -> Vec<serde_json::Value> {
        let path = dir
            .path()
            .join(format!("dlq/dead-letter-t-{subtask}.jsonl"));
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let first = read(0);
    let summary: Vec<(String, u64, String)> = first
        .iter()
        .map(|v| {
            (
                v["source"].as_str().unwrap().to_string(),
                v["line"].as_u64().unwrap(),
                v.get("raw")
                    .and_then(|r| r.as_str())
                    .map_or_else(|| format!("b64:{}", v["raw_base64"]), str::to_string),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("in/a.json".to_string(), 2, "{\"id\":oops}".to_string()),
            (
                "in/a.json".to_string(),
                5,
                "b64:\"/y1ub3QtanNvbg==\"".to_string()
            ),
        ]
    );
    assert_eq!(first[0]["table"], "t");
    assert_eq!(first[0]["partition"], serde_json::Value::Null);
    // The reason alone: no location, no hint about format options.
    let error = first[0]["error"].as_str().unwrap();
    assert!(
        !error.is_empty() && !error.contains("in/a.json") && !error.contains("ignore-parse"),
        "{error}"
    );
    let second = read(1);
    assert_eq!(second.len(), 1);
    assert_eq!(
        (second[0]["line"].as_u64(), second[0]["raw"].as_str()),
        (Some(2), Some("[1,2"))
    );
}

#[tokio::test]
async fn skip_strategy_drops_whole_records_and_fail_keeps_the_format_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("in.json"), INPUT.replace('\u{ff}', "")).unwrap();
    let metrics = Arc::new(JobMetrics::default());
    let skip = table(
        dir.path(),
        &[
            ("path", "in.json"),
            ("format", "json"),
            ("weir.dirty-data.strategy", "skip"),
        ],
        &[],
    );
    let (batches, _) = read_all(&skip, 4096, &ctx(0, 1, &metrics)).await.unwrap();
    assert_eq!(ids(&batches), vec![1, 3, 5]);
    assert_eq!(JobMetrics::get(&metrics.records_skipped), 2);
    let fail = table(
        dir.path(),
        &[
            ("path", "in.json"),
            ("format", "json"),
            ("weir.dirty-data.strategy", "fail"),
        ],
        &[],
    );
    let err = read_all(&fail, 4096, &ctx(0, 1, &metrics))
        .await
        .unwrap_err();
    assert!(
        err.starts_with("in.json:2: cannot parse JSON record: "),
        "{err}"
    );
    assert!(!dir.path().join("dlq").exists());
}
