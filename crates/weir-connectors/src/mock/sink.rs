//! The mock sink: renders every row it receives as Flink's print connector does
//! (`+I[1, a]`, `-U[...]`) and keeps it in the run.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use weir_formats::print_rows;
use weir_runtime::{Operator, Output, SubtaskContext};
use weir_types::{EngineError, EngineResult};

use super::MockRun;
use crate::SinkBinding;

/// The sink of the run's `index`-th sink table.
pub(super) fn binding(run: MockRun, index: usize) -> SinkBinding {
    SinkBinding {
        factory: Arc::new(
            move |_: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(MockSink {
                    run: run.clone(),
                    index,
                }))
            },
        ),
        description: "mock (weir test)".into(),
        parallelism: None,
    }
}

struct MockSink {
    run: MockRun,
    index: usize,
}

impl Operator for MockSink {
    fn process_batch(&mut self, _: usize, batch: RecordBatch, _: &mut Output) -> EngineResult<()> {
        let mut rows = Vec::with_capacity(batch.num_rows());
        let mut line = Vec::new();
        // Row by row, so that a value holding a line break stays one row.
        for row in 0..batch.num_rows() {
            line.clear();
            print_rows(&batch.slice(row, 1), "", &mut line)
                .map_err(|e| EngineError::BadData(e.to_string()))?;
            let text = String::from_utf8_lossy(&line);
            rows.push(text.strip_suffix('\n').unwrap_or(&text).to_string());
        }
        let mut state = self.run.state();
        if let Some(sink) = state.sinks.get_mut(self.index) {
            sink.rows.extend(rows);
        }
        Ok(())
    }
}
