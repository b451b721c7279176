//! Checkpoint tests of the `kafka` source against tansu: positions restored exactly
//! once (also at another parallelism), offsets committed to the group when a checkpoint
//! completes, partitions discovered while running.

use std::sync::Arc;
use std::time::Duration;

use weir_runtime::{JobMetrics, SourceEvent, SourceReader};

use super::tests::{committed, ints, json_table, produce_ids, read, reader, readers_with, Read};
use crate::filesystem::state::union_of;
use crate::test_servers::KafkaBroker;

const QUIET: Duration = Duration::from_millis(300);

/// Takes events until `rows` rows were returned.
async fn take_rows(r: &mut dyn SourceReader, rows: usize) -> Read {
    let mut read = Read::default();
    while read.rows() < rows {
        match tokio::time::timeout(super::tests::PATIENCE, r.next()).await {
            Ok(Ok(SourceEvent::Batch { split, batch })) => read.batches.push((split, batch)),
            Ok(Ok(SourceEvent::SplitFinished(s))) => read.finished_splits.push(s),
            Ok(Ok(other)) => panic!("unexpected {other:?}"),
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("no rows within the patience"),
        }
    }
    read
}

fn sorted(mut v: Vec<i64>) -> Vec<i64> {
    v.sort_unstable();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_reader_reads_the_rest_exactly_once() {
    let broker = KafkaBroker::start();
    broker.create_topic("t", 2);
    produce_ids(&broker, "t", 0, 0..40);
    produce_ids(&broker, "t", 1, 100..130);
    let t = json_table(
        &broker,
        "t",
        &[
            ("scan.startup.mode", "earliest-offset"),
            ("scan.bounded.mode", "latest-offset"),
        ],
    );
    let mut first = reader(&t);
    // One event: one partition's run at most; the other partition is still unread.
    let before = take_rows(first.as_mut(), 1).await;
    let snapshot = first.snapshot_position().unwrap();
    // Rows the failed run read after the snapshot are lost with it.
    let _ = read(first.as_mut(), 0, QUIET).await;
    drop(first);
    // Written after the first run started: past the bounded end it chose.
    produce_ids(&broker, "t", 0, 1000..1005);
    produce_ids(&broker, "t", 1, 2000..2005);
    // Restored at parallelism 2: each subtask picks its partitions' positions.
    let metrics = Arc::new(JobMetrics::default());
    let mut after = Vec::new();
    for mut r in readers_with(&t, 2, &metrics) {
        r.restore_position(union_of(std::slice::from_ref(&snapshot)))
            .unwrap();
        let read = read(r.as_mut(), 0, QUIET).await;
        assert!(read.finished, "bounded at the offsets of the first run");
        after.extend(read.ids());
    }
    let mut all = before.ids();
    all.extend(after);
    let expected: Vec<i64> = (0..40).chain(100..130).collect();
    assert_eq!(sorted(all), expected, "every record once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_taken_mid_run_resumes_where_the_events_stopped() {
    let broker = KafkaBroker::start();
    broker.create_topic("t", 1);
    let t = json_table(&broker, "t", &[("scan.startup.mode", "earliest-offset")]);
    let mut first = reader(&t);
    let mut seen = Vec::new();
    let mut snapshots = Vec::new();
    // Written in three rounds, read in between: several batches, a snapshot after each
    // event. Whatever was returned is before the position.
    for round in 0..3i64 {
        produce_ids(&broker, "t", 0, round * 100..round * 100 + 100);
        while seen.len() < (round as usize + 1) * 100 {
            match first.next().await.unwrap() {
                SourceEvent::Batch { batch, .. } => seen.extend(ints(&batch, "id")),
                other => panic!("{other:?}"),
            }
            snapshots.push((seen.len(), first.snapshot_position().unwrap()));
        }
    }
    assert_eq!(seen, (0..300).collect::<Vec<_>>());
    let (count, snapshot) = snapshots
        .into_iter()
        .find(|(count, _)| (100..300).contains(count))
        .expect("a snapshot taken mid-run");
    let mut second = reader(&t);
    second.restore_position(snapshot).unwrap();
    let rest = read(second.as_mut(), 300 - count, QUIET).await;
    assert_eq!(rest.ids(), (count as i64..300).collect::<Vec<_>>());
    // A snapshot before any event (offsets not resolved yet) restores the startup mode.
    let mut early = reader(&t);
    let snapshot = early.snapshot_position().unwrap();
    let mut again = reader(&t);
    again.restore_position(snapshot).unwrap();
    assert_eq!(read(again.as_mut(), 300, QUIET).await.rows(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_checkpoints_commit_their_offsets_to_the_group() {
    let broker = KafkaBroker::start();
    broker.create_topic("t", 2);
    produce_ids(&broker, "t", 0, 0..10);
    produce_ids(&broker, "t", 1, 10..13);
    let t = json_table(
        &broker,
        "t",
        &[
            ("scan.startup.mode", "earliest-offset"),
            ("properties.group.id", "lag"),
        ],
    );
    let mut r = reader(&t);
    assert_eq!(read(r.as_mut(), 13, QUIET).await.rows(), 13);
    // Nothing is committed before a checkpoint completes.
    assert_eq!(committed(&broker, "lag", "t", &[0, 1]), vec![None, None]);
    r.snapshot_position().unwrap();
    // Read after the snapshot: not part of the completed checkpoint.
    produce_ids(&broker, "t", 0, 10..11);
    assert_eq!(read(r.as_mut(), 1, QUIET).await.ids(), vec![10]);
    r.notify_checkpoint_complete(1).unwrap();
    // The commit is asynchronous: wait for it (the reader serves its result when waiting).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let _ = tokio::time::timeout(Duration::from_millis(50), r.next()).await;
        let now = committed(&broker, "lag", "t", &[0, 1]);
        if now == vec![Some(10), Some(3)] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "committed {now:?}");
    }
    // A later start with group offsets goes on from there.
    let t = json_table(&broker, "t", &[("properties.group.id", "lag")]);
    assert_eq!(read(reader(&t).as_mut(), 1, QUIET).await.ids(), vec![10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_reader_commits_its_final_offsets_at_once() {
    let broker = KafkaBroker::start();
    broker.create_topic("t", 1);
    produce_ids(&broker, "t", 0, 0..5);
    let t = json_table(
        &broker,
        "t",
        &[
            ("scan.startup.mode", "earliest-offset"),
            ("scan.bounded.mode", "latest-offset"),
            ("properties.group.id", "final"),
        ],
    );
    let mut r = reader(&t);
    assert!(read(r.as_mut(), 0, QUIET).await.finished);
    r.snapshot_position().unwrap();
    r.notify_checkpoint_complete(7).unwrap();
    drop(r);
    assert_eq!(committed(&broker, "final", "t", &[0]), vec![Some(5)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_of_a_topic_created_while_running_are_discovered() {
    // tansu 0.6 has no CreatePartitions (librdkafka: "UnsupportedFeature"): a new topic
    // matching the pattern stands for new partitions.
    let broker = KafkaBroker::start();
    broker.create_topic("orders-eu", 1);
    broker.create_topic("refunds", 1);
    produce_ids(&broker, "orders-eu", 0, 0..3);
    produce_ids(&broker, "refunds", 0, 500..501);
    let bootstrap = broker.bootstrap();
    let t = super::tests::table(
        vec![
            arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int64, true),
            arrow::datatypes::Field::new("name", arrow::datatypes::DataType::Utf8, true),
        ],
        &[],
        &[
            ("connector", "kafka"),
            ("topic-pattern", "orders-.*"),
            ("properties.bootstrap.servers", &bootstrap),
            ("format", "json"),
            ("scan.startup.mode", "latest-offset"),
            ("scan.topic-partition-discovery.interval", "200 ms"),
        ],
    );
    let mut r = reader(&t);
    assert_eq!(r.split_count(), 1);
    assert_eq!(r.split_id(0), "orders-eu-0");
    assert_eq!(read(r.as_mut(), 0, QUIET).await.rows(), 0, "latest-offset");
    broker.create_topic("orders-us", 2);
    produce_ids(&broker, "orders-us", 0, 10..12);
    produce_ids(&broker, "orders-us", 1, 20..21);
    produce_ids(&broker, "orders-eu", 0, 3..4);
    // Discovered partitions start at their earliest offset, whatever the startup mode.
    let found = read(r.as_mut(), 4, QUIET).await;
    assert_eq!(sorted(found.ids()), vec![3, 10, 11, 20]);
    assert_eq!(r.split_count(), 3);
    let mut ids: Vec<String> = (0..3).map(|s| r.split_id(s)).collect();
    ids.sort();
    assert_eq!(ids, vec!["orders-eu-0", "orders-us-0", "orders-us-1"]);
    for (split, batch) in &found.batches {
        let id = r.split_id(*split);
        let expected: Vec<i64> = match id.as_str() {
            "orders-eu-0" => vec![3],
            "orders-us-0" => vec![10, 11],
            "orders-us-1" => vec![20],
            other => panic!("{other}"),
        };
        assert_eq!(ints(batch, "id"), expected, "{id}");
    }
    // The new partitions' positions are checkpointed.
    let snapshot = r.snapshot_position().unwrap();
    produce_ids(&broker, "orders-us", 1, 21..23);
    let mut restored = reader(&t);
    assert_eq!(restored.split_count(), 3);
    restored.restore_position(snapshot).unwrap();
    assert_eq!(read(restored.as_mut(), 2, QUIET).await.ids(), vec![21, 22]);
}
