//! Encoding one record per message (Kafka record keys and values): the other side of
//! [`crate::MessageDecoder`].
//!
//! [`LineMessageEncoder`] serves the line formats (`json`, `csv`, `debezium-json`, ...):
//! a batch is written as lines in one pass and each line is one message (without its
//! `\n`); only when a value holds a line break (a quoted CSV field) is each row written
//! alone. `raw` and `avro` have encoders of their own.

use arrow::record_batch::RecordBatch;

use crate::error::FormatError;
use crate::RecordEncoder;

/// Turns rows into messages, one per row (two for a changelog format's update, none
/// for a row the format cannot express).
pub trait MessageEncoder: Send {
    /// Appends the messages of the rows of `batch` to `out`, in row order; `None` is a
    /// message without a value (Kafka's null, e.g. a NULL of the `raw` format). An
    /// updating input carries [`weir_types::ROW_KIND_COLUMN`] as its last column.
    fn encode_messages(
        &mut self,
        batch: &RecordBatch,
        out: &mut Vec<Option<Vec<u8>>>,
    ) -> Result<(), FormatError>;
}

/// A [`MessageEncoder`] over a line format's [`RecordEncoder`].
pub struct LineMessageEncoder {
    inner: Box<dyn RecordEncoder>,
    buffer: Vec<u8>,
}

impl LineMessageEncoder {
    /// Wraps a line encoder.
    pub fn new(inner: Box<dyn RecordEncoder>) -> LineMessageEncoder {
        LineMessageEncoder {
            inner,
            buffer: Vec::new(),
        }
    }
}

impl MessageEncoder for LineMessageEncoder {
    fn encode_messages(
        &mut self,
        batch: &RecordBatch,
        out: &mut Vec<Option<Vec<u8>>>,
    ) -> Result<(), FormatError> {
        self.buffer.clear();
        self.inner.encode(batch, &mut self.buffer)?;
        let lines = split_lines(&self.buffer);
        // Another number of lines than rows: a value holds a line break (a quoted CSV
        // field), or a changelog row gave no line; rows are then written one at a time.
        if lines.len() == batch.num_rows() {
            out.extend(lines.into_iter().map(|l| Some(l.to_vec())));
            return Ok(());
        }
        for row in 0..batch.num_rows() {
            self.buffer.clear();
            self.inner.encode(&batch.slice(row, 1), &mut self.buffer)?;
            if !self.buffer.is_empty() {
                let text = self.buffer.strip_suffix(b"\n").unwrap_or(&self.buffer);
                out.push(Some(text.to_vec()));
            }
        }
        Ok(())
    }
}

/// The lines of `buffer`, without their `\n`.
fn split_lines(buffer: &[u8]) -> Vec<&[u8]> {
    match buffer.strip_suffix(b"\n") {
        _ if buffer.is_empty() => Vec::new(),
        Some(text) => text.split(|&b| b == b'\n').collect(),
        None => buffer.split(|&b| b == b'\n').collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int32Array, StringArray};

    use super::*;
    use crate::{CsvOptions, FormatConfig, JsonOptions};

    fn batch() -> RecordBatch {
        let ids: ArrayRef = Arc::new(Int32Array::from(vec![1, 2, 3]));
        let names: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), Some("x\ny"), None]));
        RecordBatch::try_from_iter(vec![("id", ids), ("name", names)]).unwrap()
    }

    fn messages(config: FormatConfig) -> Vec<String> {
        let b = batch();
        let mut encoder = config.message_encoder(&b.schema()).unwrap();
        let mut out = Vec::new();
        encoder.encode_messages(&b, &mut out).unwrap();
        out.into_iter()
            .map(|m| String::from_utf8(m.unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn one_message_per_row_without_line_breaks() {
        assert_eq!(
            messages(FormatConfig::Json(JsonOptions::default())),
            [
                r#"{"id":1,"name":"a"}"#,
                r#"{"id":2,"name":"x\ny"}"#,
                r#"{"id":3,"name":null}"#
            ]
        );
        // CSV quotes the line break: the rows are then written one at a time.
        assert_eq!(
            messages(FormatConfig::Csv(CsvOptions::default())),
            ["1,a", "2,\"x\ny\"", "3,"]
        );
    }
}
