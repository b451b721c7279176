//! What the exactly-once Kafka sink keeps in checkpoints: two union tables.
//!
//! `kafka_transactions`, one row per pre-committed transaction not yet committed when
//! the snapshot was taken (a restore commits them):
//!
//! | column             | type   | meaning                                          |
//! |--------------------|--------|--------------------------------------------------|
//! | `checkpoint_id`    | UInt64 | the checkpoint whose barrier pre-committed it    |
//! | `subtask`          | UInt32 | the subtask that wrote it                        |
//! | `transactional_id` | Utf8   | its `transactional.id`                           |
//!
//! `kafka_sink_writers`, one row per subtask, so that a restore knows the old
//! parallelism and where each old subtask's transaction numbers stood:
//!
//! | column                      | type   | meaning                                         |
//! |-----------------------------|--------|-------------------------------------------------|
//! | `subtask`                   | UInt32 | the subtask                                     |
//! | `transactional_id_prefix`   | Utf8   | `sink.transactional-id-prefix` when it was taken |
//! | `next_transaction`          | UInt64 | the number its next transaction would have had  |

use std::sync::{Arc, LazyLock};

use arrow::array::{StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use weir_runtime::StateSnapshot;
use weir_types::{EngineError, EngineResult};

use crate::filesystem::state::{column, union_tables};

/// Name of the table of pre-committed transactions.
pub(crate) const TRANSACTIONS_TABLE: &str = "kafka_transactions";
/// Name of the table of the sink's subtasks.
pub(crate) const WRITERS_TABLE: &str = "kafka_sink_writers";

static TRANSACTIONS_SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("checkpoint_id", DataType::UInt64, false),
        Field::new("subtask", DataType::UInt32, false),
        Field::new("transactional_id", DataType::Utf8, false),
    ]))
});

static WRITERS_SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("subtask", DataType::UInt32, false),
        Field::new("transactional_id_prefix", DataType::Utf8, false),
        Field::new("next_transaction", DataType::UInt64, false),
    ]))
});

/// A pre-committed transaction: flushed at a barrier, committed when its checkpoint
/// completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingTxn {
    /// The checkpoint whose barrier pre-committed it.
    pub checkpoint_id: u64,
    /// The subtask that wrote it.
    pub subtask: usize,
    /// Its `transactional.id`.
    pub id: String,
}

/// Where a subtask's transaction numbers stood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WriterState {
    /// The subtask.
    pub subtask: usize,
    /// Its `sink.transactional-id-prefix`.
    pub prefix: String,
    /// The number of its next transaction.
    pub next: u64,
}

/// What a checkpoint holds for the sink (every old subtask's rows).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Restored {
    /// Transactions pre-committed and not committed when the checkpoint was taken.
    pub pending: Vec<PendingTxn>,
    /// One row per old subtask.
    pub writers: Vec<WriterState>,
}

fn to_u32(n: usize) -> EngineResult<u32> {
    u32::try_from(n).map_err(|_| EngineError::Internal(format!("subtask {n} out of range")))
}

/// The sink's snapshot: its pending transactions and its writer row.
pub(crate) fn snapshot(
    pending: &[PendingTxn],
    writer: &WriterState,
) -> EngineResult<StateSnapshot> {
    let subtasks = pending
        .iter()
        .map(|p| to_u32(p.subtask))
        .collect::<EngineResult<Vec<u32>>>()?;
    let transactions = RecordBatch::try_new(
        TRANSACTIONS_SCHEMA.clone(),
        vec![
            Arc::new(UInt64Array::from_iter_values(
                pending.iter().map(|p| p.checkpoint_id),
            )),
            Arc::new(UInt32Array::from(subtasks)),
            Arc::new(StringArray::from_iter_values(
                pending.iter().map(|p| p.id.as_str()),
            )),
        ],
    )?;
    let writers = RecordBatch::try_new(
        WRITERS_SCHEMA.clone(),
        vec![
            Arc::new(UInt32Array::from(vec![to_u32(writer.subtask)?])),
            Arc::new(StringArray::from(vec![writer.prefix.as_str()])),
            Arc::new(UInt64Array::from(vec![writer.next])),
        ],
    )?;
    let mut snapshot = StateSnapshot::new();
    snapshot
        .add_union(TRANSACTIONS_TABLE, transactions)
        .and_then(|()| snapshot.add_union(WRITERS_TABLE, writers))
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    Ok(snapshot)
}

/// Reads a restored snapshot (the rows of every old subtask).
pub(crate) fn restore(snapshot: StateSnapshot) -> EngineResult<Restored> {
    let mut tables = union_tables(
        snapshot,
        &[
            (TRANSACTIONS_TABLE, &TRANSACTIONS_SCHEMA),
            (WRITERS_TABLE, &WRITERS_SCHEMA),
        ],
        "the Kafka sink",
    )?
    .into_iter();
    let (transactions, writers) = (
        tables.next().unwrap_or_default(),
        tables.next().unwrap_or_default(),
    );
    let mut restored = Restored::default();
    for batch in &transactions {
        let checkpoints = column::<UInt64Array>(batch, "checkpoint_id")?;
        let subtasks = column::<UInt32Array>(batch, "subtask")?;
        let ids = column::<StringArray>(batch, "transactional_id")?;
        for i in 0..batch.num_rows() {
            restored.pending.push(PendingTxn {
                checkpoint_id: checkpoints.value(i),
                subtask: subtasks.value(i) as usize,
                id: ids.value(i).to_string(),
            });
        }
    }
    for batch in &writers {
        let subtasks = column::<UInt32Array>(batch, "subtask")?;
        let prefixes = column::<StringArray>(batch, "transactional_id_prefix")?;
        let next = column::<UInt64Array>(batch, "next_transaction")?;
        for i in 0..batch.num_rows() {
            restored.writers.push(WriterState {
                subtask: subtasks.value(i) as usize,
                prefix: prefixes.value(i).to_string(),
                next: next.value(i),
            });
        }
    }
    restored.pending.sort_by_key(|p| p.checkpoint_id);
    restored.writers.sort_by_key(|w| w.subtask);
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filesystem::state::union_of;

    #[test]
    fn snapshots_of_several_subtasks_restore_together() {
        let a = snapshot(
            &[PendingTxn {
                checkpoint_id: 4,
                subtask: 0,
                id: "p-0-3".into(),
            }],
            &WriterState {
                subtask: 0,
                prefix: "p".into(),
                next: 4,
            },
        )
        .unwrap();
        let b = snapshot(
            &[],
            &WriterState {
                subtask: 1,
                prefix: "p".into(),
                next: 2,
            },
        )
        .unwrap();
        let restored = restore(union_of(&[a, b])).unwrap();
        assert_eq!(restored.pending.len(), 1);
        assert_eq!(restored.pending[0].id, "p-0-3");
        assert_eq!(restored.writers.len(), 2);
        assert_eq!(restored.writers[1].next, 2);
    }

    #[test]
    fn a_snapshot_of_another_operator_is_refused() {
        let mut other = StateSnapshot::new();
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("x", DataType::UInt64, false)])),
            vec![Arc::new(UInt64Array::from(vec![1]))],
        )
        .unwrap();
        other.add_union("pending_files", batch).unwrap();
        let err = restore(other).unwrap_err().to_string();
        assert!(err.contains("the Kafka sink does not keep"), "{err}");
    }
}
