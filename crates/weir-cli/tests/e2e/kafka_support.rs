//! What the Kafka to Kafka failure tests share (`kafka_recovery`, `kafka_broker_restart`):
//! numbered input records, the job that copies them (stateless) and counts them per key
//! and 1-second window, and the checks a reader of the output topics makes, as Flink's
//! KafkaSinkITCase does: every key's sequence numbers are there (at least once:
//! duplicates are counted and allowed), and every window has its one correct count and
//! sum, however often it was written.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;
use weir_connectors::test_servers::{KafkaBroker, TestRecord};

/// Keys of the records: record `i` has key `i % KEYS` and sequence number `i / KEYS`.
const KEYS: i64 = 7;
/// Event time of record `i`: 5 ms apart, so a window of 1 s holds 200 records.
const TS_STEP_MS: i64 = 5;
const TS_BASE_MS: i64 = 1_700_000_000_000;

/// `records` numbered records in topic `input`, spread round-robin over `partitions`.
pub(super) struct Numbered {
    pub(super) records: i64,
    pub(super) partitions: i64,
    /// Whether the test's producer and the job's sinks write batches of many records
    /// (fewer requests: the broker on S3 storage needs that), or one record per batch.
    pub(super) batched: bool,
}

impl Numbered {
    /// Creates the input topic and the output topics `events` (2 partitions) and
    /// `windows` (1).
    pub(super) fn create_topics(&self, broker: &KafkaBroker) {
        broker.create_topic("input", self.partitions as i32);
        broker.create_topic("events", 2);
        broker.create_topic("windows", 1);
    }

    /// The job: `settings` (SET statements) first, then `input` (bounded at the end of
    /// the records) copied to `events` and counted per key and window into `windows`,
    /// both with at-least-once sinks.
    pub(super) fn job(&self, bootstrap: &str, settings: &str) -> String {
        let per_partition = self.records / self.partitions;
        let ends: Vec<String> = (0..self.partitions)
            .map(|p| format!("partition:{p},offset:{per_partition}"))
            .collect();
        format!(
            "\
{settings}
CREATE TABLE input (
  k BIGINT, seq BIGINT, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'kafka', 'topic' = 'input',
  'properties.bootstrap.servers' = '{bootstrap}', 'properties.group.id' = 'copy-job',
  'scan.startup.mode' = 'earliest-offset',
  'scan.bounded.mode' = 'specific-offsets', 'scan.bounded.specific-offsets' = '{ends}',
  'format' = 'json'
);
CREATE TABLE events (k BIGINT, seq BIGINT) WITH (
  'connector' = 'kafka', 'topic' = 'events',
  'properties.bootstrap.servers' = '{bootstrap}',{one_per_batch}
  'sink.delivery-guarantee' = 'at-least-once', 'format' = 'json'
);
CREATE TABLE windows (k BIGINT, window_start TIMESTAMP(3), n BIGINT, total BIGINT) WITH (
  'connector' = 'kafka', 'topic' = 'windows',
  'properties.bootstrap.servers' = '{bootstrap}',{one_per_batch}
  'sink.delivery-guarantee' = 'at-least-once', 'format' = 'json'
);
EXECUTE STATEMENT SET BEGIN
INSERT INTO events SELECT k, seq FROM input;
INSERT INTO windows
  SELECT k, window_start, COUNT(*), SUM(seq)
  FROM TABLE(TUMBLE(TABLE input, DESCRIPTOR(ts), INTERVAL '1' SECOND))
  GROUP BY k, window_start, window_end;
END;
",
            ends = ends.join(";"),
            // tansu 0.6 answers ListOffsets(latest) too low after a batch of several
            // records (crates/weir-connectors/src/test_servers/kafka.rs).
            one_per_batch = if self.batched {
                ""
            } else {
                " 'properties.batch.num.messages' = '1',"
            }
        )
    }

    /// Produces every record into `input`, in `slices` slices with `pause` after each
    /// (so that the job reads while records keep arriving).
    pub(super) fn produce(&self, broker: &KafkaBroker, slices: usize, pause: Duration) {
        for slice in 0..slices {
            self.produce_slice(broker, slice, slices);
            std::thread::sleep(pause);
        }
    }

    /// Produces slice `slice` of `slices` equal slices of the records into `input`, and
    /// waits until the broker acknowledged them.
    pub(super) fn produce_slice(&self, broker: &KafkaBroker, slice: usize, slices: usize) {
        let size = (self.records as usize).div_ceil(slices);
        let end = ((slice + 1) * size).min(self.records as usize);
        let values: Vec<(usize, String)> =
            (slice * size..end).map(|i| (i, value(i as i64))).collect();
        let records: Vec<TestRecord<'_>> = values
            .iter()
            .map(|(i, v)| {
                (
                    (*i as i64 % self.partitions) as i32,
                    None,
                    Some(v.as_bytes()),
                )
            })
            .collect();
        if self.batched {
            broker.produce_batched("input", &records);
        } else {
            broker.produce("input", &records);
        }
    }

    /// Checks that `events` holds every key's every sequence number (at least once);
    /// returns how many records it holds. `context` goes into failure messages.
    pub(super) fn check_events(&self, broker: &KafkaBroker, context: &str) -> usize {
        let mut seen: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
        let mut copies = 0usize;
        for r in broker.read_all("events") {
            let v: Value = serde_json::from_str(&r.text()).unwrap();
            let (k, seq) = (v["k"].as_i64().unwrap(), v["seq"].as_i64().unwrap());
            seen.entry(k).or_default().insert(seq);
            copies += 1;
        }
        for k in 0..KEYS {
            let expected: BTreeSet<i64> = (0..self.records)
                .filter(|i| i % KEYS == k)
                .map(|i| i / KEYS)
                .collect();
            let got = seen.get(&k).cloned().unwrap_or_default();
            let missing: Vec<_> = expected.difference(&got).collect();
            assert!(
                missing.is_empty(),
                "key {k}: {} sequence numbers lost ({context}), first: {:?}",
                missing.len(),
                &missing[..missing.len().min(10)]
            );
        }
        println!(
            "events: {copies} records for {} inputs ({} duplicates, allowed at least once)",
            self.records,
            copies as i64 - self.records
        );
        copies
    }

    /// Checks that `windows` holds every window, each written once or more, always with
    /// its one correct count and sum.
    pub(super) fn check_windows(&self, broker: &KafkaBroker, context: &str) {
        let mut windows: BTreeMap<(i64, String), (i64, i64)> = BTreeMap::new();
        for r in broker.read_all("windows") {
            let v: Value = serde_json::from_str(&r.text()).unwrap();
            let start = v["window_start"].as_str().unwrap().to_string();
            let start = start.trim_end_matches(".000").replace('T', " ");
            let key = (v["k"].as_i64().unwrap(), start);
            let result = (v["n"].as_i64().unwrap(), v["total"].as_i64().unwrap());
            if let Some(previous) = windows.insert(key.clone(), result) {
                assert_eq!(
                    previous, result,
                    "window {key:?} written with two results ({context})"
                );
            }
        }
        assert_eq!(windows, self.expected_windows(), "windows ({context})");
    }

    /// The windows an uninterrupted run emits: (key, window start text) → (count, sum).
    fn expected_windows(&self) -> BTreeMap<(i64, String), (i64, i64)> {
        let mut windows = BTreeMap::new();
        for i in 0..self.records {
            let ts = TS_BASE_MS + i * TS_STEP_MS;
            let start = ts - ts.rem_euclid(1000);
            let text = chrono::DateTime::from_timestamp_millis(start)
                .expect("a valid timestamp")
                .naive_utc()
                .format("%Y-%m-%d %H:%M:%S")
                .to_string();
            let entry = windows.entry((i % KEYS, text)).or_insert((0, 0));
            entry.0 += 1;
            entry.1 += i / KEYS;
        }
        windows
    }
}

/// Record `i`: key `i % KEYS`, its sequence number within the key, its event time.
fn value(i: i64) -> String {
    let ts = chrono::DateTime::from_timestamp_millis(TS_BASE_MS + i * TS_STEP_MS)
        .expect("a valid timestamp")
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S%.3f");
    format!(r#"{{"k":{},"seq":{},"ts":"{ts}"}}"#, i % KEYS, i / KEYS)
}
