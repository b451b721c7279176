//! Helpers shared by the integration tests: snapshots with known rows, and a helper
//! that writes a whole checkpoint the way the coordinator will.

#![allow(dead_code)]

use std::sync::Arc;

use arrow::array::{Array, Int64Array, StringArray, UInt16Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use weir_state::{
    CheckpointMetadata, CheckpointStorage, CheckpointWriter, CompletedCheckpoint, StateSnapshot,
    KEY_GROUP_COLUMN,
};
use weir_types::keygroup::key_group_range;

/// Key groups in the tests.
pub const MAX_PARALLELISM: usize = 128;

/// Rows per key group in the keyed table.
pub const ROWS_PER_GROUP: i64 = 3;

/// The keyed table of `subtask` at `parallelism`: for every owned key group,
/// `ROWS_PER_GROUP` rows with value `kg * 1000 + j`.
pub fn keyed_batch(subtask: usize, parallelism: usize) -> RecordBatch {
    let mut kgs = Vec::new();
    let mut values = Vec::new();
    for kg in key_group_range(subtask, MAX_PARALLELISM, parallelism) {
        for j in 0..ROWS_PER_GROUP {
            kgs.push(u16::try_from(kg).expect("small key group"));
            values.push(kg as i64 * 1000 + j);
        }
    }
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false),
            Field::new("value", DataType::Int64, false),
        ])),
        vec![
            Arc::new(UInt16Array::from(kgs)),
            Arc::new(Int64Array::from(values)),
        ],
    )
    .expect("valid batch")
}

/// The union table of `subtask`: its split name.
pub fn union_batch(subtask: usize) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("split", DataType::Utf8, false),
            Field::new("offset", DataType::Int64, false),
        ])),
        vec![
            Arc::new(StringArray::from(vec![format!("split-{subtask}")])),
            Arc::new(Int64Array::from(vec![subtask as i64 * 10])),
        ],
    )
    .expect("valid batch")
}

/// A snapshot with a keyed table "acc" and a union table "splits".
pub fn snapshot(subtask: usize, parallelism: usize) -> StateSnapshot {
    let mut s = StateSnapshot::new();
    s.add_keyed("acc", keyed_batch(subtask, parallelism))
        .expect("keyed");
    s.add_union("splits", union_batch(subtask)).expect("union");
    s
}

/// Writes checkpoint `id` of operator "agg" at `parallelism` through `writer`.
pub async fn write_with(
    writer: &CheckpointWriter,
    id: u64,
    parallelism: usize,
) -> CompletedCheckpoint {
    let mut handles = Vec::new();
    for subtask in 0..parallelism {
        handles.push(
            writer
                .write_snapshot("agg", subtask, &snapshot(subtask, parallelism))
                .await
                .expect("write snapshot"),
        );
    }
    let mut metadata = CheckpointMetadata::new(
        id,
        1_700_000_000_000 + id,
        MAX_PARALLELISM,
        serde_json::json!({ "sql": "fingerprint" }),
    );
    metadata
        .add_operator("agg", parallelism, handles)
        .expect("add operator");
    writer.complete(metadata).await.expect("complete")
}

/// Writes a complete checkpoint `id` of operator "agg" at `parallelism`.
pub async fn write_checkpoint(
    storage: &CheckpointStorage,
    id: u64,
    parallelism: usize,
) -> CompletedCheckpoint {
    write_with(&storage.checkpoint(id), id, parallelism).await
}

/// The (key group, value) pairs of a restored keyed table.
pub fn keyed_rows(snapshot: &StateSnapshot) -> Vec<(u16, i64)> {
    let Some(table) = snapshot.table("acc") else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for batch in table.batches() {
        let kgs = batch
            .column_by_name(KEY_GROUP_COLUMN)
            .and_then(|c| c.as_any().downcast_ref::<UInt16Array>())
            .expect("key group column");
        let values = batch
            .column_by_name("value")
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
            .expect("value column");
        for i in 0..batch.num_rows() {
            assert!(kgs.is_valid(i));
            rows.push((kgs.value(i), values.value(i)));
        }
    }
    rows
}

/// The split names of a restored union table, in order.
pub fn splits(snapshot: &StateSnapshot) -> Vec<String> {
    let Some(table) = snapshot.table("splits") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for batch in table.batches() {
        let names = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("split column");
        out.extend(names.iter().map(|n| n.unwrap_or_default().to_string()));
    }
    out
}
