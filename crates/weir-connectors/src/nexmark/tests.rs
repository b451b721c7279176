//! Tests of the nexmark connector: determinism, parallel split, layouts, option errors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Field, Int32Type, Int64Type, Schema, TimeUnit, TimestampMillisecondType,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use weir_runtime::{SourceEvent, SubtaskContext};

use super::layout::nested_schema;
use crate::descriptor::TableDescriptor;
use crate::{create_source, SourceBinding};

const BASE: &str = "1700000000000";

fn table(schema: Schema, options: &[(&str, &str)]) -> TableDescriptor {
    let mut opts = BTreeMap::from([
        ("connector".to_string(), "nexmark".to_string()),
        ("weir.base-time".to_string(), BASE.to_string()),
    ]);
    opts.extend(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    TableDescriptor {
        name: "nexmark".into(),
        schema: Arc::new(schema),
        metadata: vec![],
        primary_key: vec![],
        options: opts,
        base_dir: PathBuf::new(),
    }
}

fn bid_schema() -> Schema {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
    Schema::new(vec![
        Field::new("auction", DataType::Int64, true),
        Field::new("bidder", DataType::Int64, true),
        Field::new("price", DataType::Int64, true),
        Field::new("channel", DataType::Utf8, true),
        Field::new("url", DataType::Utf8, true),
        Field::new("dateTime", ts, true),
        Field::new("extra", DataType::Utf8, true),
    ])
}

async fn run(binding: &SourceBinding, parallelism: usize) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for subtask in 0..parallelism {
        let mut ctx = SubtaskContext::single("nexmark");
        ctx.subtask = subtask;
        ctx.parallelism = parallelism;
        let mut reader = binding.factory.create_reader(&ctx).unwrap();
        loop {
            match reader.next().await.unwrap() {
                SourceEvent::Batch { batch, .. } => out.push(batch),
                SourceEvent::SplitFinished(_) => {}
                SourceEvent::Finished => break,
                SourceEvent::Watermark(w) => panic!("this reader emits no watermarks: {w:?}"),
            }
        }
    }
    out
}

/// Every row as text, sorted: a multiset to compare.
fn row_strings(batches: &[RecordBatch]) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for b in batches {
        let formatters: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| f.value(i).to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    }
    rows.sort();
    rows
}

fn event_types(batches: &[RecordBatch]) -> Vec<i32> {
    batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int32Type>().values().to_vec())
        .collect()
}

#[tokio::test]
async fn deterministic_and_split_over_subtasks() {
    let t = table(nested_schema(), &[("events.num", "3000")]);
    let binding = create_source(&t).unwrap();
    assert!(binding.bounded);
    let first = run(&binding, 1).await;
    let again = run(&create_source(&t).unwrap(), 1).await;
    assert_eq!(first, again, "same options, same rows");
    for b in &first {
        assert_eq!(b.schema(), t.schema);
    }
    let single = row_strings(&first);
    assert_eq!(single.len(), 3000);
    let union = row_strings(&run(&binding, 3).await);
    assert_eq!(union, single, "3 subtasks make the events of one generator");
}

#[tokio::test]
async fn kinds_follow_the_proportions() {
    let t = table(nested_schema(), &[("events.num", "5000")]);
    let batches = run(&create_source(&t).unwrap(), 1).await;
    let types = event_types(&batches);
    let count = |k| types.iter().filter(|t| **t == k).count();
    assert_eq!((count(0), count(1), count(2)), (100, 300, 4600));
    // Non-matching ROW columns are NULL; the matching one is not.
    for b in &batches {
        let types = b.column(0).as_primitive::<Int32Type>();
        for (col, kind) in [(1, 0), (2, 1), (3, 2)] {
            let row = b.column(col);
            for i in 0..b.num_rows() {
                assert_eq!(row.is_valid(i), types.value(i) == kind);
            }
        }
    }
    let t = table(
        nested_schema(),
        &[
            ("events.num", "1000"),
            ("person.proportion", "1"),
            ("auction.proportion", "1"),
            ("bid.proportion", "2"),
        ],
    );
    let types = event_types(&run(&create_source(&t).unwrap(), 2).await);
    let count = |k| types.iter().filter(|t| **t == k).count();
    assert_eq!((count(0), count(1), count(2)), (250, 250, 500));
}

#[tokio::test(start_paused = true)]
async fn nested_subset_matched_by_name() {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
    let schema = Schema::new(vec![
        Field::new(
            "bid",
            DataType::Struct(
                vec![
                    Field::new("DATETIME", ts.clone(), true),
                    Field::new("price", DataType::Int64, true),
                ]
                .into(),
            ),
            true,
        ),
        Field::new("EVENT_TYPE", DataType::Int32, true),
        Field::new(
            "person",
            DataType::Struct(vec![Field::new("name", DataType::Utf8View, true)].into()),
            true,
        ),
    ]);
    let t = table(
        schema,
        &[("events.num", "500"), ("first-event.rate", "1000")],
    );
    let batches = run(&create_source(&t).unwrap(), 1).await;
    let base: i64 = BASE.parse().unwrap();
    let mut n = 0;
    for b in &batches {
        assert_eq!(b.schema(), t.schema);
        let bid = b.column(0).as_struct();
        let time = bid.column(0).as_primitive::<TimestampMillisecondType>();
        let price = bid.column(1).as_primitive::<Int64Type>();
        let types = b.column(1).as_primitive::<Int32Type>();
        for i in 0..b.num_rows() {
            if types.value(i) == 2 {
                assert!(price.is_valid(i) && price.value(i) > 0);
                // Event time from the generator: one event per millisecond at 1000/s.
                assert_eq!(time.value(i), base + n);
            } else {
                assert!(bid.is_null(i));
            }
            n += 1;
        }
        let names = b.column(2).as_struct().column(0).as_string_view();
        assert!((0..b.num_rows()).all(|i| (types.value(i) == 0) == names.is_valid(i)));
    }
}

#[tokio::test]
async fn flat_bid_layout() {
    let t = table(
        bid_schema(),
        &[("weir.event-type", "bid"), ("events.num", "1000")],
    );
    let binding = create_source(&t).unwrap();
    let batches = run(&binding, 1).await;
    let rows = row_strings(&batches);
    assert_eq!(rows.len(), 920, "46 of every 50 events are bids");
    for b in &batches {
        assert_eq!(b.schema(), t.schema);
        assert!(b.columns().iter().all(|c| c.null_count() == 0));
    }
    assert_eq!(row_strings(&run(&binding, 3).await), rows);
    // The same bids as the nested layout's bid column.
    let nested = table(nested_schema(), &[("events.num", "1000")]);
    let nested_bids: Vec<RecordBatch> = run(&create_source(&nested).unwrap(), 1)
        .await
        .iter()
        .map(|b| {
            let bid = b.column(3).as_struct();
            let keep = arrow::compute::is_not_null(bid).unwrap();
            let bid = arrow::compute::filter(bid, &keep).unwrap();
            RecordBatch::from(bid.as_struct().clone())
        })
        .collect();
    assert_eq!(row_strings(&nested_bids), rows);
}

#[tokio::test(start_paused = true)]
async fn rate_options_throttle_emission() {
    let t = table(
        bid_schema(),
        &[
            ("weir.event-type", "bid"),
            ("events.num", "2000"),
            ("first-event.rate", "1000"),
        ],
    );
    let start = tokio::time::Instant::now();
    let batches = run(&create_source(&t).unwrap(), 1).await;
    assert_eq!(
        batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
        1840
    );
    let elapsed = start.elapsed().as_secs_f64();
    assert!(
        (1.9..=2.1).contains(&elapsed),
        "2000 events at 1000/s took {elapsed} s"
    );
}

/// Without `weir.base-time`, a throttled source emits each event once the wall clock
/// has reached its time (its creation time), never before, in batches of a few
/// milliseconds of events.
#[tokio::test]
async fn a_throttled_source_emits_events_when_the_wall_clock_reaches_them() {
    let t = table(
        bid_schema(),
        &[
            ("weir.event-type", "bid"),
            ("events.num", "600"),
            ("first-event.rate", "2000"),
        ],
    );
    let binding = create_source(&t).unwrap();
    let mut reader = binding
        .factory
        .create_reader(&SubtaskContext::single("nexmark"))
        .unwrap();
    let (mut batches, mut rows) = (0, 0);
    loop {
        match reader.next().await.unwrap() {
            SourceEvent::Batch { batch, .. } => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as i64;
                let times = batch
                    .column_by_name("dateTime")
                    .unwrap()
                    .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
                let newest = arrow::compute::max(times).unwrap();
                assert!(newest <= now, "an event of {newest} emitted at {now}");
                batches += 1;
                rows += batch.num_rows();
            }
            SourceEvent::SplitFinished(_) => {}
            SourceEvent::Finished => break,
            SourceEvent::Watermark(w) => panic!("this reader emits no watermarks: {w:?}"),
        }
    }
    assert_eq!(rows, 552);
    // 2000 events/s: batches of 10 events (5 ms).
    assert!(batches >= 55, "{rows} rows in {batches} batches");
}

#[test]
fn unknown_columns_and_options_are_errors() {
    let err =
        |schema: Schema, options: &[(&str, &str)]| match create_source(&table(schema, options)) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        };
    let e = err(
        Schema::new(vec![Field::new("foo", DataType::Int32, true)]),
        &[],
    );
    assert!(
        e.contains("'foo'") && e.contains("event_type, person, auction, bid"),
        "{e}"
    );
    let bad_sub = Schema::new(vec![Field::new(
        "auction",
        DataType::Struct(vec![Field::new("nope", DataType::Int64, true)].into()),
        true,
    )]);
    let e = err(bad_sub, &[]);
    assert!(e.contains("auction.nope") && e.contains("itemName"), "{e}");
    let e = err(
        Schema::new(vec![Field::new("name", DataType::Utf8, true)]),
        &[("weir.event-type", "bid")],
    );
    assert!(e.contains("'name'") && e.contains("bidder"), "{e}");
    let e = err(
        Schema::new(vec![Field::new("price", DataType::Utf8, true)]),
        &[("weir.event-type", "bid")],
    );
    assert!(e.contains("BIGINT"), "{e}");
    let e = err(bid_schema(), &[("weir.event-type", "bids")]);
    assert!(e.contains("weir.event-type"), "{e}");
    let e = err(nested_schema(), &[("events.number", "5")]);
    assert!(e.contains("events.number"), "{e}");
    let e = err(nested_schema(), &[("person.proportion", "0")]);
    assert!(e.contains("person.proportion"), "{e}");
    let e = err(
        nested_schema(),
        &[
            ("rate.shape", "sine"),
            ("first-event.rate", "10"),
            ("next-event.rate", "20"),
        ],
    );
    assert!(e.contains("sine"), "{e}");
    let ok = table(
        nested_schema(),
        &[
            ("person.avg-size", "1kb"),
            ("rate.shape", "SINE"),
            ("rate.period", "10 min"),
        ],
    );
    let binding = create_source(&ok).unwrap();
    assert!(!binding.bounded, "no events.num: unbounded");
}

#[test]
fn counts_of_one_kind() {
    use nexmark::config::NexmarkConfig;
    let config = NexmarkConfig::default();
    assert_eq!(super::count_of_kind(1000, super::Kind::Bid, &config), 920);
    assert_eq!(
        super::count_of_kind(1003, super::Kind::Auction, &config),
        60 + 2
    );
    assert_eq!(super::count_of_kind(1001, super::Kind::Person, &config), 21);
    assert_eq!(super::parse_memory_size("2kb"), Some(2048));
    assert_eq!(
        super::parse_base_time("2023-11-14 22:13:20"),
        Some(1_700_000_000_000)
    );
}
