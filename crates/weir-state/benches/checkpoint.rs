//! Checkpoint write and restore of about 100 MB of keyed state, against a raw Arrow IPC
//! encode of the same batches (the floor: what the format alone costs).
//!
//! Run with `cargo bench --workspace --bench checkpoint`; not run in CI.

use std::hint::black_box;
use std::sync::Arc;

use arrow::array::{Int64Array, UInt16Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::RecordBatch;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use weir_state::{CheckpointMetadata, CheckpointStorage, StateSnapshot, KEY_GROUP_COLUMN};
use weir_types::keygroup::{key_group_of_hash, subtask_of_key_group, DEFAULT_MAX_PARALLELISM};

const PARALLELISM: usize = 4;
/// Rows per subtask: 4 subtasks x 1.2 M rows x 26 bytes ~ 125 MB of Arrow buffers.
const ROWS_PER_SUBTASK: usize = 1_200_000;
const BATCH_ROWS: usize = 65_536;

fn subtask_snapshot(subtask: usize) -> StateSnapshot {
    let schema = Arc::new(Schema::new(vec![
        Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false),
        Field::new("key", DataType::Int64, false),
        Field::new("sum", DataType::Int64, false),
        Field::new("count", DataType::Int64, false),
    ]));
    let mut snapshot = StateSnapshot::new();
    // Keys owned by this subtask, as a keyed exchange would route them.
    let mut owned = (0i64..).filter(|k| {
        let kg = key_group_of_hash(*k as u64, DEFAULT_MAX_PARALLELISM);
        subtask_of_key_group(kg, DEFAULT_MAX_PARALLELISM, PARALLELISM) == subtask
    });
    let mut start = 0;
    while start < ROWS_PER_SUBTASK {
        let n = BATCH_ROWS.min(ROWS_PER_SUBTASK - start);
        let keys: Vec<i64> = owned.by_ref().take(n).collect();
        let kgs: Vec<u16> = keys
            .iter()
            .map(|k| key_group_of_hash(*k as u64, DEFAULT_MAX_PARALLELISM) as u16)
            .collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(UInt16Array::from(kgs)),
                Arc::new(Int64Array::from(keys.clone())),
                Arc::new(Int64Array::from(
                    keys.iter().map(|k| k * 3).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(vec![1i64; n])),
            ],
        )
        .expect("valid batch");
        snapshot.add_keyed("acc", batch).expect("keyed table");
        start += n;
    }
    snapshot
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let snapshots: Vec<StateSnapshot> = (0..PARALLELISM).map(subtask_snapshot).collect();
    let bytes: u64 = snapshots
        .iter()
        .flat_map(|s| s.tables())
        .flat_map(|t| t.batches())
        .map(|b| b.get_array_memory_size() as u64)
        .sum();
    let dir = tempfile::tempdir().expect("tempdir");
    let location = dir.path().to_str().expect("utf-8 path").to_string();
    let storage = runtime
        .block_on(CheckpointStorage::open(&location))
        .expect("open");

    let mut group = c.benchmark_group("keyed_state_100mb");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));

    group.bench_function("raw_arrow_ipc_encode", |b| {
        b.iter(|| {
            let mut total = 0;
            for snapshot in &snapshots {
                let table = &snapshot.tables()[0];
                let mut out = Vec::new();
                let mut writer = FileWriter::try_new(&mut out, table.schema()).expect("writer");
                for batch in table.batches() {
                    writer.write(batch).expect("write");
                }
                writer.finish().expect("finish");
                drop(writer);
                total += out.len();
            }
            black_box(total)
        })
    });

    let mut next_id = 0u64;
    let write_checkpoint = |next_id: &mut u64| {
        *next_id += 1;
        let id = *next_id;
        runtime.block_on(async {
            let writer = storage.checkpoint(id);
            let writes = snapshots
                .iter()
                .enumerate()
                .map(|(subtask, s)| writer.write_snapshot("agg", subtask, s));
            let handles = futures::future::try_join_all(writes).await.expect("writes");
            let mut metadata =
                CheckpointMetadata::new(id, 0, DEFAULT_MAX_PARALLELISM, serde_json::Value::Null);
            metadata
                .add_operator("agg", PARALLELISM, handles)
                .expect("metadata");
            writer.complete(metadata).await.expect("complete");
            storage.retain(1).await.expect("retain");
        })
    };
    group.bench_function("checkpoint_write", |b| {
        b.iter(|| write_checkpoint(&mut next_id))
    });

    write_checkpoint(&mut next_id);
    for new_parallelism in [PARALLELISM, 2] {
        group.bench_function(format!("validate_and_restore_at_{new_parallelism}"), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let latest = storage.latest_completed().await.expect("latest");
                    let checkpoint = latest.checkpoint.expect("a checkpoint");
                    let restores = (0..new_parallelism)
                        .map(|subtask| checkpoint.restore("agg", subtask, new_parallelism));
                    let restored = futures::future::try_join_all(restores)
                        .await
                        .expect("restore");
                    black_box(restored.iter().map(StateSnapshot::num_rows).sum::<usize>())
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
