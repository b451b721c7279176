//! `VALUES (...)` and `SELECT` without `FROM`: a bounded source of constant rows.

use std::sync::Arc;

use arrow::array::{new_empty_array, ArrayRef};
use arrow::compute::cast;
use arrow::datatypes::Schema;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::{DFSchemaRef, ScalarValue};
use datafusion::logical_expr::Expr;
use reader::ValuesReader;
use weir_runtime::source::SourceSpec;
use weir_runtime::{Node, NodeKind, SourceFactory, SourceReader, SubtaskContext};
use weir_types::{ChangelogKind, EngineResult, OperatorId};

use super::translate::{physical, Stream};
use super::{datafusion_error, Planner};
use crate::error::{Position, SqlResult};

/// Adds a source node producing `rows` (expressions without column references).
pub(crate) fn values_node(
    p: &mut Planner,
    schema: &DFSchemaRef,
    rows: &[Vec<Expr>],
) -> SqlResult<Stream> {
    let arrow_schema = Arc::new(schema.as_arrow().clone());
    let empty = Arc::new(datafusion::common::DFSchema::empty());
    let one_row = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )
    .map_err(|e| datafusion_error(e.into(), Position::default()))?;
    let mut columns: Vec<Vec<ScalarValue>> =
        vec![Vec::with_capacity(rows.len()); arrow_schema.fields().len()];
    for row in rows {
        for (i, expr) in row.iter().enumerate() {
            let value = physical(p, expr, &empty)?
                .evaluate(&one_row)
                .and_then(|v| v.into_array(1))
                .and_then(|a| ScalarValue::try_from_array(&a, 0))
                .map_err(|e| datafusion_error(e, Position::default()))?;
            columns[i].push(value);
        }
    }
    let arrays = columns
        .into_iter()
        .zip(arrow_schema.fields())
        .map(|(values, field)| -> datafusion::error::Result<ArrayRef> {
            if values.is_empty() {
                return Ok(new_empty_array(field.data_type()));
            }
            let array = ScalarValue::iter_to_array(values)?;
            Ok(if array.data_type() == field.data_type() {
                array
            } else {
                cast(&array, field.data_type())?
            })
        })
        .collect::<datafusion::error::Result<Vec<_>>>()
        .map_err(|e| datafusion_error(e, Position::default()))?;
    let batch = RecordBatch::try_new_with_options(
        arrow_schema.clone(),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )
    .map_err(|e| datafusion_error(e.into(), Position::default()))?;
    let detail = format!("{} constant row(s)", rows.len());
    let node = p.graph.add(Node {
        id: OperatorId::derive(&format!("values:{rows:?}"), &[]),
        name: "Source: VALUES".into(),
        detail,
        parallelism: 1,
        inputs: vec![],
        kind: NodeKind::Source(SourceSpec {
            factory: Arc::new(ValuesFactory { batch }),
            prepare: None,
            event_time: None,
        }),
        changelog: ChangelogKind::AppendOnly,
        is_sink: false,
        schema: arrow_schema,
    });
    Ok(Stream {
        node,
        schema: schema.clone(),
    })
}

struct ValuesFactory {
    batch: RecordBatch,
}

impl SourceFactory for ValuesFactory {
    fn is_bounded(&self) -> bool {
        true
    }

    fn create_reader(&self, ctx: &SubtaskContext) -> EngineResult<Box<dyn SourceReader>> {
        let batch = (ctx.subtask == 0).then(|| self.batch.clone());
        Ok(Box::new(ValuesReader { batch }))
    }
}

mod reader {
    //! The reader: one batch, then the end. Its checkpointed position is whether the
    //! batch was read (union table `values_read`, one Boolean row).
    use std::sync::Arc;

    use arrow::array::{Array, BooleanArray};
    use arrow::record_batch::RecordBatch;
    use weir_runtime::{SourceEvent, SourceReader, StateSnapshot};
    use weir_types::{EngineError, EngineResult};

    pub(super) struct ValuesReader {
        pub batch: Option<RecordBatch>,
    }

    #[async_trait::async_trait]
    impl SourceReader for ValuesReader {
        fn split_count(&self) -> usize {
            usize::from(self.batch.is_some())
        }

        async fn next(&mut self) -> EngineResult<SourceEvent> {
            Ok(match self.batch.take() {
                Some(batch) => SourceEvent::Batch { split: 0, batch },
                None => SourceEvent::Finished,
            })
        }

        fn is_rewindable(&self) -> bool {
            true
        }

        fn snapshot_position(&mut self) -> EngineResult<StateSnapshot> {
            let mut snapshot = StateSnapshot::new();
            let read = BooleanArray::from(vec![self.batch.is_none()]);
            let batch = RecordBatch::try_from_iter(vec![("read", Arc::new(read) as _)])?;
            snapshot
                .add_union("values_read", batch)
                .map_err(|e| EngineError::Checkpoint(e.to_string()))?;
            Ok(snapshot)
        }

        fn restore_position(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
            let read = snapshot.table("values_read").is_some_and(|t| {
                t.batches().iter().any(|b| {
                    b.column(0)
                        .as_any()
                        .downcast_ref::<BooleanArray>()
                        .is_some_and(|a| a.true_count() > 0)
                })
            });
            if read {
                self.batch = None;
            }
            Ok(())
        }
    }
}
