//! The `blackhole` connector: a sink that discards every row, as Flink's BlackHole
//! connector (for benchmarks and for testing a query without writing its output). It
//! accepts append-only and updating streams and has no options. It keeps no state: its
//! checkpoint snapshot is empty.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use weir_runtime::{Operator, Output, SubtaskContext};
use weir_types::EngineResult;

use crate::descriptor::{ConnectorError, TableDescriptor};
use crate::options::Options;
use crate::SinkBinding;

/// Creates a `blackhole` sink for `table`.
pub fn create_sink(table: &TableDescriptor) -> Result<SinkBinding, ConnectorError> {
    Options::new(table, "blackhole").finish()?;
    Ok(SinkBinding {
        factory: Arc::new(|_: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
            Ok(Box::new(Blackhole))
        }),
        description: "blackhole".into(),
        parallelism: None,
    })
}

/// Discards its input.
struct Blackhole;

impl Operator for Blackhole {
    fn process_batch(&mut self, _: usize, _: RecordBatch, _: &mut Output) -> EngineResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow::datatypes::Schema;

    use super::*;

    fn table(options: &[(&str, &str)]) -> TableDescriptor {
        TableDescriptor {
            name: "out".into(),
            schema: Arc::new(Schema::empty()),
            metadata: vec![],
            primary_key: vec![],
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            base_dir: ".".into(),
        }
    }

    #[test]
    fn discards_and_refuses_options() {
        let binding = create_sink(&table(&[("connector", "blackhole")])).unwrap();
        let mut op = binding
            .factory
            .create(&SubtaskContext::single("sink"))
            .unwrap();
        let mut out = Output::default();
        let batch = RecordBatch::new_empty(Arc::new(Schema::empty()));
        op.process_batch(0, batch, &mut out).unwrap();
        assert!(op.snapshot_state(1).unwrap().is_empty());
        op.finish(&mut out).unwrap();
        assert!(out.is_empty());
        let err = create_sink(&table(&[("connector", "blackhole"), ("path", "x")]))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("unsupported option(s) for connector 'blackhole': path"),
            "{err}"
        );
    }
}
