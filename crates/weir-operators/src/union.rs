//! Union: forwards the batches of all its inputs (UNION ALL). Watermarks are already
//! combined (minimum over inputs) by the task before they reach an operator.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use weir_runtime::{Operator, OperatorFactory, Output, SubtaskContext};
use weir_types::EngineResult;

/// UNION ALL of inputs that share a schema.
pub struct Union {
    schema: SchemaRef,
}

impl Union {
    /// A union producing `schema`; inputs' batches are relabelled with it (names may differ).
    pub fn factory(schema: SchemaRef) -> Arc<dyn OperatorFactory> {
        Arc::new(
            move |_: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(Union {
                    schema: schema.clone(),
                }))
            },
        )
    }
}

impl Operator for Union {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> EngineResult<()> {
        if batch.schema_ref() == &self.schema {
            out.batch(batch);
        } else {
            out.batch(RecordBatch::try_new(
                self.schema.clone(),
                batch.columns().to_vec(),
            )?);
        }
        Ok(())
    }
}
