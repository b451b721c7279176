//! The `kafka` source's checkpointed positions.
//!
//! One union table, `kafka_positions`, one row per partition a subtask reads (every old
//! subtask's rows reach every restoring subtask, which keeps those of its partitions):
//!
//! | column      | type  | meaning                                                          |
//! |-------------|-------|------------------------------------------------------------------|
//! | `split_id`  | Utf8  | `topic-partition`, the split's name                              |
//! | `topic`     | Utf8  | the topic                                                        |
//! | `partition` | Int32 | the partition                                                    |
//! | `offset`    | Int64 | the next offset to read; null when the start was not resolved yet (the startup mode applies again) |
//! | `stop`      | Int64 | where a bounded source stops reading the partition (null: never) |
//!
//! A restored position wins over `scan.startup.mode`, and a restored stop over
//! `scan.bounded.mode` (a bounded job resumed reads up to the offsets it first chose).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, Int32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use weir_runtime::StateSnapshot;
use weir_types::{EngineError, EngineResult};

use super::assignment::TopicPartition;
use crate::filesystem::state::{column, union_tables};

/// Name of the positions table.
pub(crate) const TABLE: &str = "kafka_positions";

static SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("split_id", DataType::Utf8, false),
        Field::new("topic", DataType::Utf8, false),
        Field::new("partition", DataType::Int32, false),
        Field::new("offset", DataType::Int64, true),
        Field::new("stop", DataType::Int64, true),
    ]))
});

/// Where reading a partition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    /// The next offset to read; `None` before the start offset is known.
    pub offset: Option<i64>,
    /// The offset a bounded source stops before; `None`: never (or not known yet).
    pub stop: Option<i64>,
}

/// The positions of a subtask's partitions as a snapshot.
pub(crate) fn snapshot(positions: &[(&TopicPartition, Position)]) -> EngineResult<StateSnapshot> {
    let ids = StringArray::from_iter_values(positions.iter().map(|(tp, _)| tp.split_id()));
    let topics = StringArray::from_iter_values(positions.iter().map(|(tp, _)| tp.topic.as_str()));
    let partitions = Int32Array::from_iter_values(positions.iter().map(|(tp, _)| tp.partition));
    let offsets: Int64Array = positions.iter().map(|(_, p)| p.offset).collect();
    let stops: Int64Array = positions.iter().map(|(_, p)| p.stop).collect();
    let batch = RecordBatch::try_new(
        SCHEMA.clone(),
        vec![
            Arc::new(ids),
            Arc::new(topics),
            Arc::new(partitions),
            Arc::new(offsets),
            Arc::new(stops),
        ],
    )?;
    let mut snapshot = StateSnapshot::new();
    snapshot
        .add_union(TABLE, batch)
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    Ok(snapshot)
}

/// Every position `snapshot` (all old subtasks' rows) holds, by partition.
pub(crate) fn restore(snapshot: StateSnapshot) -> EngineResult<HashMap<TopicPartition, Position>> {
    let tables = union_tables(snapshot, &[(TABLE, &SCHEMA)], "the kafka source")?;
    let mut saved = HashMap::new();
    for batch in tables.into_iter().flatten() {
        let topics = column::<StringArray>(&batch, "topic")?;
        let partitions = column::<Int32Array>(&batch, "partition")?;
        let offsets = column::<Int64Array>(&batch, "offset")?;
        let stops = column::<Int64Array>(&batch, "stop")?;
        for i in 0..batch.num_rows() {
            let tp = TopicPartition {
                topic: topics.value(i).to_string(),
                partition: partitions.value(i),
            };
            let position = Position {
                offset: (!offsets.is_null(i)).then(|| offsets.value(i)),
                stop: (!stops.is_null(i)).then(|| stops.value(i)),
            };
            if saved.insert(tp.clone(), position).is_some() {
                return Err(EngineError::Checkpoint(format!(
                    "the checkpoint holds two positions of topic '{}' partition {}",
                    tp.topic, tp.partition
                )));
            }
        }
    }
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filesystem::state::union_of;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    #[test]
    fn positions_round_trip_through_the_union_of_subtasks() {
        let (a, b, c) = (tp("orders", 0), tp("orders", 1), tp("refunds-eu", 0));
        let first = snapshot(&[(
            &a,
            Position {
                offset: Some(42),
                stop: None,
            },
        )])
        .unwrap();
        let second = snapshot(&[
            (
                &b,
                Position {
                    offset: None,
                    stop: None,
                },
            ),
            (
                &c,
                Position {
                    offset: Some(7),
                    stop: Some(9),
                },
            ),
        ])
        .unwrap();
        let saved = restore(union_of(&[first, second])).unwrap();
        assert_eq!(saved.len(), 3);
        assert_eq!(
            saved[&a],
            Position {
                offset: Some(42),
                stop: None
            }
        );
        assert_eq!(saved[&b].offset, None, "not resolved yet");
        assert_eq!(
            saved[&c],
            Position {
                offset: Some(7),
                stop: Some(9)
            }
        );
        let twice = union_of(&[
            snapshot(&[(
                &a,
                Position {
                    offset: Some(1),
                    stop: None,
                },
            )])
            .unwrap(),
            snapshot(&[(
                &a,
                Position {
                    offset: Some(2),
                    stop: None,
                },
            )])
            .unwrap(),
        ]);
        let err = restore(twice).unwrap_err().to_string();
        assert!(
            err.contains("two positions of topic 'orders' partition 0"),
            "{err}"
        );
    }
}
