//! Hot/cold join state: the rows of one input older than its state retention live in
//! an external table (Redis, PostgreSQL) that a batch job loads, not in the join's state
//! ([`super::ColdSide`], the `COLD_STATE` hint).
//!
//! When a batch of the other input probes keys that have no row in the cold input's
//! state, those keys are fetched from the cold table in one batched request; the rows
//! found are put into the state for the duration of the batch, so they join (and pass
//! extra conditions) exactly like stored rows, and taken out again afterwards without
//! being written to the state backend. The cold input must be append-only and not an
//! outer side: its rows' match counts are never kept.

use arrow::array::{ArrayRef, UInt32Array};
use arrow::compute::{cast, take};
use arrow::record_batch::RecordBatch;
use arrow::row::Rows;
use std::collections::HashSet;
use std::sync::Arc;
use weir_types::{EngineError, EngineResult};

use super::state::Stored;
use super::JoinOperator;

impl JoinOperator {
    /// Fetches from the cold table the keys of a batch of input `input` (`keys`, encoded,
    /// with their `key_columns`) that have no row in the other input's state, and stores
    /// the rows found under their keys. Returns the keys it stored, to be removed after
    /// the batch.
    pub(super) fn borrow_cold(
        &mut self,
        input: usize,
        keys: &Rows,
        key_columns: &[ArrayRef],
        valid: impl Fn(usize) -> bool,
        now: i64,
    ) -> EngineResult<Vec<Box<[u8]>>> {
        let def = Arc::clone(&self.def);
        let (Some(cold), Some(client)) = (&def.cold, self.cold.as_mut()) else {
            return Ok(Vec::new());
        };
        let theirs = &self.sides[1 - input];
        let mut seen = HashSet::new();
        let missing: Vec<u32> = (0..keys.num_rows())
            .filter(|&row| {
                let key = keys.row(row).data();
                valid(row) && !theirs.table.contains_key(key) && seen.insert(key)
            })
            .map(|row| row as u32)
            .collect();
        if missing.is_empty() {
            return Ok(Vec::new());
        }
        let table_schema = cold.table.schema();
        let key_fields = cold
            .table
            .key_columns()
            .iter()
            .map(|name| table_schema.field_with_name(name).cloned())
            .collect::<Result<Vec<_>, _>>()?;
        let indices = UInt32Array::from(missing);
        let columns = key_columns
            .iter()
            .zip(&key_fields)
            .map(|(column, field)| {
                let taken = take(column.as_ref(), &indices, None)?;
                Ok(cast(&taken, field.data_type())?)
            })
            .collect::<EngineResult<Vec<_>>>()?;
        let request =
            RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(key_fields)), columns)?;
        let found = client.fetch(request)?;
        if found.num_rows() == 0 {
            return Ok(Vec::new());
        }
        let side = def.side(1 - input);
        let data = cold
            .columns
            .iter()
            .zip(side.schema.fields())
            .map(|(&column, field)| {
                let column = found.columns().get(column).ok_or_else(|| {
                    EngineError::Internal(format!("cold table has no column {column}"))
                })?;
                Ok(cast(column, field.data_type())?)
            })
            .collect::<EngineResult<Vec<ArrayRef>>>()?;
        let state = &mut self.sides[1 - input];
        let found_keys: Vec<ArrayRef> = side.keys.iter().map(|&k| Arc::clone(&data[k])).collect();
        let encoded_keys = state.keys.convert_columns(&found_keys)?;
        let encoded_rows = state.rows.convert_columns(&data)?;
        let mut borrowed = Vec::new();
        for row in 0..found.num_rows() {
            let key = encoded_keys.row(row).data();
            let stored = Stored {
                row: encoded_rows.row(row).data().into(),
                matches: 0,
                last_write: now,
            };
            match state.table.get_mut(key) {
                Some(list) => list.push(stored),
                None => {
                    state.table.insert(key.into(), vec![stored]);
                    borrowed.push(key.into());
                }
            }
        }
        weir_runtime::JobMetrics::add(&self.metrics.cold_rows_fetched, found.num_rows());
        Ok(borrowed)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow::datatypes::{DataType, Field, Schema};
    use weir_connectors::test_servers::RedisServer;
    use weir_connectors::TableDescriptor;
    use weir_runtime::{JobMetrics, Operator, Output};
    use weir_types::RowKind;

    use super::super::tests::{batch, def};
    use super::super::{ColdSide, JoinKind, RegularJoin};
    use super::*;
    use crate::group_agg::test_support::lines;

    /// The right input's cold table `(k BIGINT, b STRING, PRIMARY KEY (k))` in Redis,
    /// holding `rows`.
    fn cold_table(server: &RedisServer, rows: &[(i64, &str)]) -> ColdSide {
        for (k, b) in rows {
            server.cli(&["SET", &format!("old:{k}"), &format!(r#"{{"b":"{b}"}}"#)]);
        }
        let options = BTreeMap::from([
            ("connector".to_string(), "redis".to_string()),
            ("url".to_string(), server.url()),
            ("key-prefix".to_string(), "old:".to_string()),
        ]);
        let table = TableDescriptor {
            name: "orders_cold".into(),
            schema: Arc::new(Schema::new(vec![
                Field::new("k", DataType::Int64, false),
                Field::new("b", DataType::Utf8, true),
            ])),
            metadata: vec![],
            primary_key: vec!["k".into()],
            options,
            base_dir: ".".into(),
        };
        let binding = weir_connectors::create_lookup(&table, &["k".to_string()]).unwrap();
        ColdSide {
            side: 1,
            table: binding.factory,
            options: binding.options,
            columns: vec![0, 1],
        }
    }

    fn operator(join: &Arc<RegularJoin>, metrics: &Arc<JobMetrics>) -> JoinOperator {
        JoinOperator::with_clock(Arc::clone(join), Arc::clone(metrics), Arc::new(|| 0)).unwrap()
    }

    /// A left row whose key has no right row in state joins the right input's row from
    /// the cold table; a key with rows in state does not ask the table; the cold rows
    /// are not stored; in a LEFT join a key in neither is padded.
    #[test]
    fn keys_missing_from_state_join_the_rows_of_the_cold_table() {
        let server = RedisServer::start();
        for kind in [JoinKind::Inner, JoinKind::Left] {
            let mut join = def(kind, [false, false], None, [None, None]);
            join.cold = Some(cold_table(
                &server,
                &[(1, "old1"), (2, "old2"), (3, "old3")],
            ));
            let join = Arc::new(join);
            let metrics = Arc::new(JobMetrics::default());
            let mut op = operator(&join, &metrics);
            let mut out = Output::default();
            let right = [(RowKind::Insert, Some(2), "new2")];
            op.process_batch(1, batch(&join, 1, &right), &mut out)
                .unwrap();
            let left = [
                (RowKind::Insert, Some(1), "x"),
                (RowKind::Insert, Some(2), "y"),
                (RowKind::Insert, Some(3), "z"),
                (RowKind::Insert, Some(5), "w"),
                (RowKind::Insert, None, "n"),
            ];
            op.process_batch(0, batch(&join, 0, &left), &mut out)
                .unwrap();
            let mut expected: Vec<String> = ["1|x|1|old1", "2|y|2|new2", "3|z|3|old3"]
                .into_iter()
                .map(String::from)
                .collect();
            if kind == JoinKind::Left {
                expected = [
                    "1|x|1|old1|0",
                    "2|y|2|new2|0",
                    "3|z|3|old3|0",
                    "5|w|NULL|NULL|0",
                    "NULL|n|NULL|NULL|0",
                ]
                .into_iter()
                .map(String::from)
                .collect();
            }
            expected.sort();
            assert_eq!(lines(&mut out), expected, "{kind:?}");
            assert_eq!(
                op.stored_rows(),
                (4, 1),
                "cold rows are not stored; NULL keys never are"
            );
            assert_eq!(JobMetrics::get(&metrics.cold_rows_fetched), 2);
        }
    }
}
