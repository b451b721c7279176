//! Tests of the nexmark source's checkpointed positions, and the rewind check the
//! generator sources share: read k events per subtask, snapshot, restore new readers
//! (of a newly created source, as a new process has) at the same and another
//! parallelism, read the rest: together exactly the rows of one uninterrupted read.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use weir_runtime::{SourceEvent, SourceReader, StateSnapshot, SubtaskContext};

use crate::create_source;
use crate::descriptor::TableDescriptor;
use crate::filesystem::state::union_of;
use crate::SourceBinding;

/// Every row of `batches` as text.
pub(crate) fn rows_of(batches: &[RecordBatch]) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for b in batches {
        let formatters: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            let cells: Vec<String> = formatters.iter().map(|f| f.value(i).to_string()).collect();
            rows.push(cells.join("|"));
        }
    }
    rows
}

fn readers(binding: &SourceBinding, parallelism: usize) -> Vec<Box<dyn SourceReader>> {
    (0..parallelism)
        .map(|subtask| {
            let ctx = SubtaskContext {
                subtask,
                parallelism,
                ..SubtaskContext::single("source")
            };
            binding.factory.create_reader(&ctx).unwrap()
        })
        .collect()
}

/// Calls `next` up to `limit` times or to the end; returns whether it ended.
async fn read(
    reader: &mut dyn SourceReader,
    limit: usize,
    batches: &mut Vec<RecordBatch>,
    finished: &mut Vec<String>,
) -> bool {
    for _ in 0..limit {
        match reader.next().await.unwrap() {
            SourceEvent::Batch { split, batch } => {
                assert!(split < reader.split_count());
                batches.push(batch);
            }
            SourceEvent::SplitFinished(split) => finished.push(reader.split_id(split)),
            SourceEvent::Finished => return true,
            SourceEvent::Watermark(w) => panic!("no watermarks expected: {w:?}"),
        }
    }
    false
}

/// Reads `binding` to the end at `parallelism`: its rows, sorted.
pub(crate) async fn uninterrupted(binding: &SourceBinding, parallelism: usize) -> Vec<String> {
    let mut batches = Vec::new();
    for mut reader in readers(binding, parallelism) {
        read(reader.as_mut(), usize::MAX, &mut batches, &mut Vec::new()).await;
    }
    let mut rows = rows_of(&batches);
    rows.sort();
    rows
}

/// For every k until the old readers end and every (old, new) parallelism: the rows
/// read before a snapshot after k events per old subtask and after restoring new
/// readers of `make()` equal `make()`'s uninterrupted rows (same multiset).
pub(crate) async fn check_rewind(make: impl Fn() -> SourceBinding, pairs: &[(usize, usize)]) {
    for &(old, new) in pairs {
        let first = make();
        let expected = uninterrupted(&first, old).await;
        assert!(!expected.is_empty());
        for k in 0.. {
            let mut batches = Vec::new();
            let mut snapshots = Vec::new();
            let mut ended = true;
            let mut finished_before = Vec::new();
            for mut reader in readers(&first, old) {
                assert!(reader.is_rewindable());
                ended &= read(reader.as_mut(), k, &mut batches, &mut finished_before).await;
                snapshots.push(reader.snapshot_position().unwrap());
            }
            let restored = union_of(&snapshots);
            let mut finished_after = Vec::new();
            for mut reader in readers(&make(), new) {
                reader.restore_position(restored.clone()).unwrap();
                read(
                    reader.as_mut(),
                    usize::MAX,
                    &mut batches,
                    &mut finished_after,
                )
                .await;
            }
            let mut rows = rows_of(&batches);
            rows.sort();
            assert!(
                rows == expected,
                "{old} -> {new} subtasks, snapshot after {k} events: {} rows, expected {}",
                rows.len(),
                expected.len()
            );
            for split in &finished_before {
                assert!(finished_after.contains(split), "{split} not reported again");
            }
            if ended {
                break;
            }
        }
    }
}

fn table(options: &[(&str, &str)]) -> TableDescriptor {
    let schema = Schema::new(vec![
        Field::new("auction", DataType::Int64, true),
        Field::new("bidder", DataType::Int64, true),
        Field::new("price", DataType::Int64, true),
        Field::new(
            "dateTime",
            DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None),
            true,
        ),
    ]);
    let mut opts = BTreeMap::from([("connector".to_string(), "nexmark".to_string())]);
    opts.extend(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    TableDescriptor {
        name: "bid".into(),
        schema: Arc::new(schema),
        metadata: vec![],
        primary_key: vec![],
        options: opts,
        base_dir: PathBuf::new(),
    }
}

const PAIRS: &[(usize, usize)] = &[(1, 1), (2, 1), (2, 3), (3, 2)];

#[tokio::test]
async fn nexmark_resumes_exactly_once_at_every_batch() {
    // Few events per batch (throttled, paused clock) so that there are many batches.
    let make = || {
        create_source(&table(&[
            ("events.num", "700"),
            ("weir.event-type", "bid"),
            ("weir.base-time", "1700000000000"),
            ("first-event.rate", "1000"),
        ]))
        .unwrap()
    };
    tokio::time::pause();
    check_rewind(make, PAIRS).await;
}

#[tokio::test]
async fn nexmark_keeps_the_checkpoints_base_time() {
    // Without weir.base-time each source picks its own: the restored one must use the
    // checkpoint's, or event times would jump.
    let make = || {
        create_source(&table(&[
            ("events.num", "5000"),
            ("weir.event-type", "bid"),
        ]))
        .unwrap()
    };
    check_rewind(
        || {
            let binding = make();
            std::thread::sleep(std::time::Duration::from_millis(2));
            binding
        },
        &[(1, 1), (2, 3)],
    )
    .await;
}

#[tokio::test]
async fn nexmark_refuses_a_checkpoint_of_another_stream() {
    let a = create_source(&table(&[("events.num", "100"), ("weir.event-type", "bid")])).unwrap();
    let b = create_source(&table(&[
        ("events.num", "100"),
        ("weir.event-type", "bid"),
        ("bid.proportion", "40"),
    ]))
    .unwrap();
    let snapshot = readers(&a, 1)[0].snapshot_position().unwrap();
    let err = readers(&b, 1)[0]
        .restore_position(snapshot)
        .unwrap_err()
        .to_string();
    assert!(err.contains("generated with other options"), "{err}");
    let err = readers(&b, 1)[0]
        .restore_position(StateSnapshot::new())
        .map(|_| "restores nothing")
        .unwrap_or("error");
    assert_eq!(err, "restores nothing");
}

#[tokio::test]
async fn an_unbounded_nexmark_continues_its_stream() {
    let make = || {
        create_source(&table(&[
            ("weir.base-time", "1700000000000"),
            ("weir.event-type", "bid"),
        ]))
        .unwrap()
    };
    let mut reference = readers(&make(), 1).pop().unwrap();
    let mut expected = Vec::new();
    read(reference.as_mut(), 5, &mut expected, &mut Vec::new()).await;
    let mut first = readers(&make(), 1).pop().unwrap();
    let mut got = Vec::new();
    read(first.as_mut(), 2, &mut got, &mut Vec::new()).await;
    let snapshot = first.snapshot_position().unwrap();
    let mut restored = readers(&make(), 1).pop().unwrap();
    restored.restore_position(snapshot).unwrap();
    read(restored.as_mut(), 3, &mut got, &mut Vec::new()).await;
    assert_eq!(rows_of(&got), rows_of(&expected));
}
