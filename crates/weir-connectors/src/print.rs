//! The `print` connector: a sink that writes every row to standard output, as Flink's
//! Print connector, in Flink's format (`+I[1, Alice, 2024-01-01T10:00]`; see
//! [`weir_formats::print`]).
//!
//! Options: `print-identifier` (a prefix), `standard-error` (write to standard error),
//! `sink.parallelism`. As in Flink, a line starts with `<identifier>> ` at parallelism 1
//! and with `<identifier>:<n>> ` (or `<n>> ` without identifier) when the sink runs in
//! several subtasks, `n` being the 1-based subtask. Updating streams are printed with
//! their row kinds (`-U`, `+U`, `-D`). Each batch is written at once, with the stream
//! locked, so lines of different subtasks never interleave.
//!
//! Checkpoints: the sink keeps no state (an empty snapshot). It is at-least-once: after
//! a restore, the rows emitted since the last completed checkpoint are printed again.

use std::io::{self, Write};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use weir_formats::print_rows;
use weir_runtime::{Operator, Output, SubtaskContext};
use weir_types::{EngineError, EngineResult};

use crate::descriptor::{ConnectorError, TableDescriptor};
use crate::filesystem::{refuse_written_metadata, sink_parallelism};
use crate::options::Options;
use crate::SinkBinding;

/// Creates a `print` sink for `table`; it accepts updating streams.
pub fn create_sink(table: &TableDescriptor) -> Result<SinkBinding, ConnectorError> {
    let mut options = Options::new(table, "print");
    let identifier = options.get("print-identifier").map(str::to_string);
    let standard_error = options.bool("standard-error", false)?;
    let parallelism = sink_parallelism(&mut options)?;
    options.finish()?;
    refuse_written_metadata(table)?;
    // A print sink that `weir test` runs as declared writes into the test's capture.
    let capture = crate::mock::current().and_then(|run| run.print_capture(&table.name));
    let target = if let Some(buffer) = capture {
        Target::Memory(buffer)
    } else if standard_error {
        Target::Stderr
    } else {
        Target::Stdout
    };
    let table_name = table.name.clone();
    let description = if standard_error {
        "print(stderr)"
    } else {
        "print"
    };
    Ok(SinkBinding {
        factory: Arc::new(
            move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
                Ok(Box::new(PrintSink {
                    table: table_name.clone(),
                    // Captured lines leave out the subtask number: a test's expected
                    // lines do not depend on the parallelism.
                    prefix: match target {
                        Target::Memory(_) => line_prefix(identifier.as_deref(), 0, 1),
                        _ => line_prefix(identifier.as_deref(), ctx.subtask, ctx.parallelism),
                    },
                    target: target.clone(),
                    buffer: Vec::new(),
                }))
            },
        ),
        description: description.into(),
        parallelism,
    })
}

/// Flink's `PrintSinkOutputWriter` prefix.
fn line_prefix(identifier: Option<&str>, subtask: usize, parallelism: usize) -> String {
    let mut prefix = identifier.unwrap_or_default().to_string();
    if parallelism > 1 {
        if !prefix.is_empty() {
            prefix.push(':');
        }
        prefix.push_str(&(subtask + 1).to_string());
    }
    if !prefix.is_empty() {
        prefix.push_str("> ");
    }
    prefix
}

/// Where the lines go.
#[derive(Clone)]
enum Target {
    Stdout,
    Stderr,
    /// Captured (for `weir test`).
    Memory(Arc<std::sync::Mutex<Vec<u8>>>),
}

impl Target {
    fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Target::Stdout => io::stdout().lock().write_all(bytes),
            Target::Stderr => io::stderr().lock().write_all(bytes),
            Target::Memory(m) => {
                m.lock()
                    .map_err(|_| io::Error::other("poisoned"))?
                    .extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    fn flush(&self) -> io::Result<()> {
        match self {
            Target::Stdout => io::stdout().lock().flush(),
            Target::Stderr => io::stderr().lock().flush(),
            Target::Memory(_) => Ok(()),
        }
    }
}

/// One print subtask.
struct PrintSink {
    table: String,
    prefix: String,
    target: Target,
    buffer: Vec<u8>,
}

impl Operator for PrintSink {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        _out: &mut Output,
    ) -> EngineResult<()> {
        self.buffer.clear();
        print_rows(&batch, &self.prefix, &mut self.buffer)
            .map_err(|e| EngineError::Internal(format!("table '{}': {e}", self.table)))?;
        self.target
            .write_all(&self.buffer)
            .map_err(|e| EngineError::io(format!("table '{}': cannot print", self.table), e))
    }

    fn finish(&mut self, _out: &mut Output) -> EngineResult<()> {
        self.target
            .flush()
            .map_err(|e| EngineError::io(format!("table '{}': cannot print", self.table), e))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use arrow::array::{ArrayRef, Int32Array, Int8Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use weir_types::ROW_KIND_COLUMN;

    use super::*;

    fn table(options: &[(&str, &str)]) -> TableDescriptor {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("name", DataType::Utf8, true),
        ]);
        TableDescriptor {
            name: "out".into(),
            schema: Arc::new(schema),
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
    fn prefixes_like_flink() {
        assert_eq!(line_prefix(None, 0, 1), "");
        assert_eq!(line_prefix(None, 1, 4), "2> ");
        assert_eq!(line_prefix(Some("id"), 0, 1), "id> ");
        assert_eq!(line_prefix(Some("id"), 2, 3), "id:3> ");
    }

    #[test]
    fn prints_updates_with_row_kinds() {
        let memory = Arc::new(Mutex::new(Vec::new()));
        let mut sink = PrintSink {
            table: "out".into(),
            prefix: line_prefix(Some("res"), 0, 2),
            target: Target::Memory(memory.clone()),
            buffer: Vec::new(),
        };
        let id: ArrayRef = Arc::new(Int32Array::from(vec![1, 1]));
        let name: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None]));
        let kind: ArrayRef = Arc::new(Int8Array::from(vec![1, 2]));
        let batch =
            RecordBatch::try_from_iter(vec![("id", id), ("name", name), (ROW_KIND_COLUMN, kind)])
                .unwrap();
        let mut out = Output::default();
        sink.process_batch(0, batch, &mut out).unwrap();
        // No state to checkpoint.
        assert!(sink.snapshot_state(1).unwrap().is_empty());
        sink.notify_checkpoint_complete(1).unwrap();
        sink.finish(&mut out).unwrap();
        let text = String::from_utf8(memory.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "res:1> -U[1, a]\nres:1> +U[1, null]\n");
    }

    #[test]
    fn options() {
        let ok = create_sink(&table(&[
            ("connector", "print"),
            ("print-identifier", "x"),
            ("standard-error", "true"),
            ("sink.parallelism", "2"),
        ]))
        .unwrap();
        assert_eq!(ok.parallelism, Some(2));
        assert_eq!(ok.description, "print(stderr)");
        let err = create_sink(&table(&[("connector", "print"), ("print.identifier", "x")]))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("unsupported option(s) for connector 'print': print.identifier"));
        let err = create_sink(&table(&[
            ("connector", "print"),
            ("standard-error", "maybe"),
        ]))
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("invalid value 'maybe' for option 'standard-error'"),
            "{err}"
        );
    }
}
