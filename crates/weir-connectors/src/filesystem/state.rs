//! Helpers for the connectors' checkpoint tables (source positions, a sink's pending
//! files): checking that a restored snapshot holds the tables a connector writes, with
//! the schemas it writes, and reading their columns.

use arrow::array::Array;
use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use weir_runtime::{StateSnapshot, TableKind};
use weir_types::{EngineError, EngineResult};

/// The batches of each of `tables` (name and schema) in `snapshot`, in that order (none
/// for a table the snapshot lacks). Errors when the snapshot holds another table, or one
/// of these with another schema or kind: the checkpoint was taken by a job whose SQL
/// differs. `owner` names the connector for messages, e.g. "the datagen source".
pub(crate) fn union_tables(
    snapshot: StateSnapshot,
    tables: &[(&str, &Schema)],
    owner: &str,
) -> EngineResult<Vec<Vec<RecordBatch>>> {
    let mut found: Vec<Vec<RecordBatch>> = tables.iter().map(|_| Vec::new()).collect();
    for table in snapshot.into_tables() {
        let Some(index) = tables.iter().position(|(name, _)| *name == table.name()) else {
            let expected: Vec<&str> = tables.iter().map(|(name, _)| *name).collect();
            return Err(EngineError::Config(format!(
                "the checkpoint holds a table {:?} that {owner} does not keep (it keeps {}); \
                 the job's SQL changed since the checkpoint was taken",
                table.name(),
                expected.join(", ")
            )));
        };
        let schema = tables[index].1;
        if table.kind() != TableKind::Union || table.schema().fields() != schema.fields() {
            return Err(EngineError::Config(format!(
                "the checkpoint's table {:?} of {owner} has columns {}, expected {}; \
                 the job's SQL changed since the checkpoint was taken",
                table.name(),
                describe(table.schema()),
                describe(schema)
            )));
        }
        found[index] = table.into_batches();
    }
    Ok(found)
}

fn describe(schema: &Schema) -> String {
    let fields: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect();
    format!("({})", fields.join(", "))
}

/// Column `name` of a batch whose schema was checked, as array type `T`.
pub(crate) fn column<'a, T: Array + 'static>(
    batch: &'a RecordBatch,
    name: &str,
) -> EngineResult<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| {
            EngineError::Internal(format!("checkpoint table has no column {name} of its type"))
        })
}

/// Concatenates the union tables of several old subtasks' snapshots, as a restore does
/// (tests only; the runtime uses `weir_state::redistribute`).
#[cfg(test)]
pub(crate) fn union_of(old: &[StateSnapshot]) -> StateSnapshot {
    let mut out = StateSnapshot::new();
    for snapshot in old {
        for table in snapshot.tables() {
            for batch in table.batches() {
                out.add_union(table.name(), batch.clone()).unwrap();
            }
        }
    }
    out
}
