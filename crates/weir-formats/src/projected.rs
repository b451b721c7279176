//! Projection pushdown into a decoder: a decoder of a format that finds fields by name
//! (`json`) reads only the columns a job uses, and the columns it skips are all NULL in
//! the batches it produces, so the batches keep the table's schema (downstream operators,
//! computed columns and checkpoints see the same columns as before).
//!
//! Skipping a column saves its parsing and its array building (the strings of a long
//! `extra` field, a timestamp's parsing); a malformed value in a skipped field is not
//! seen, as in Flink, whose formats deserialize the projected fields only.

use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::error::FormatError;
use crate::{Decoded, RecordDecoder};

/// Which columns of a schema a job reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadColumns {
    read: Vec<bool>,
}

impl ReadColumns {
    /// `read[i]` tells whether column `i` is read.
    pub fn new(read: Vec<bool>) -> ReadColumns {
        ReadColumns { read }
    }

    /// Whether column `i` is read (columns past the mask are).
    pub fn reads(&self, i: usize) -> bool {
        self.read.get(i).copied().unwrap_or(true)
    }

    /// The columns of `schema` a decoder must still produce: the read ones, and those
    /// that cannot be NULL (declared NOT NULL).
    fn kept(&self, schema: &Schema) -> Vec<usize> {
        schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(i, f)| self.reads(*i) || !f.is_nullable())
            .map(|(i, _)| i)
            .collect()
    }
}

/// A decoder of the kept columns of `schema`, whose batches are widened back to `schema`
/// with all-NULL columns in place of the skipped ones.
pub(crate) struct ProjectedDecoder {
    schema: SchemaRef,
    /// For each column of `schema`, its column in the inner decoder's batches.
    sources: Vec<Option<usize>>,
    inner: Box<dyn RecordDecoder>,
}

impl ProjectedDecoder {
    /// Wraps the decoder `build` makes for the kept columns of `schema`, or returns it
    /// unwrapped (for all of `schema`) when every column is kept.
    pub(crate) fn wrap(
        schema: SchemaRef,
        read: &ReadColumns,
        build: impl FnOnce(SchemaRef) -> Result<Box<dyn RecordDecoder>, FormatError>,
    ) -> Result<Box<dyn RecordDecoder>, FormatError> {
        let kept = read.kept(&schema);
        if kept.len() == schema.fields().len() {
            return build(schema);
        }
        let inner = build(Arc::new(schema.project(&kept)?))?;
        let mut sources = vec![None; schema.fields().len()];
        for (position, &column) in kept.iter().enumerate() {
            sources[column] = Some(position);
        }
        Ok(Box::new(ProjectedDecoder {
            schema,
            sources,
            inner,
        }))
    }

    fn widen(&self, mut decoded: Decoded) -> Result<Decoded, FormatError> {
        decoded.batches = decoded
            .batches
            .iter()
            .map(|batch| self.widen_batch(batch))
            .collect::<Result<_, _>>()?;
        Ok(decoded)
    }

    fn widen_batch(&self, batch: &RecordBatch) -> Result<RecordBatch, FormatError> {
        let rows = batch.num_rows();
        let columns: Vec<ArrayRef> = self
            .sources
            .iter()
            .zip(self.schema.fields())
            .map(|(source, field)| match source {
                Some(i) => Arc::clone(batch.column(*i)),
                None => new_null_array(field.data_type(), rows),
            })
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &options,
        )?)
    }
}

impl RecordDecoder for ProjectedDecoder {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn set_origin(&mut self, origin: &str) {
        self.inner.set_origin(origin);
    }

    fn decode(&mut self, bytes: &[u8], first_line: u64) -> Result<Decoded, FormatError> {
        let decoded = self.inner.decode(bytes, first_line)?;
        self.widen(decoded)
    }

    fn decode_reporting(&mut self, bytes: &[u8], first_line: u64) -> Result<Decoded, FormatError> {
        let decoded = self.inner.decode_reporting(bytes, first_line)?;
        self.widen(decoded)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Field, Int64Type};

    use super::*;
    use crate::{FormatConfig, JsonOptions};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
            Field::new("c", DataType::Int64, false),
            Field::new("d", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn skipped_columns_are_null_and_the_schema_is_kept() {
        let json = FormatConfig::Json(JsonOptions::default());
        // Reads a and d; c is NOT NULL, so it is decoded although not read.
        let read = ReadColumns::new(vec![true, false, false, true]);
        let mut decoder = json.decoder_reading(schema(), &read).unwrap();
        let lines = b"{\"a\": 1, \"b\": \"x\", \"c\": 10, \"d\": \"p\"}\n{\"a\": 2, \"b\": \"y\", \"c\": 20, \"d\": null}\n";
        let decoded = decoder.decode(lines, 1).unwrap();
        let batch = &decoded.batches[0];
        assert_eq!(batch.schema(), schema());
        assert_eq!(
            batch.column(0).as_primitive::<Int64Type>().values(),
            &[1, 2]
        );
        assert_eq!(batch.column(1).null_count(), 2, "b is not read");
        assert_eq!(
            batch.column(2).as_primitive::<Int64Type>().values(),
            &[10, 20]
        );
        let d = batch.column(3).as_string::<i32>();
        assert_eq!((d.value(0), d.is_null(1)), ("p", true));
    }

    #[test]
    fn a_bad_value_in_a_skipped_field_is_not_seen_but_one_in_a_read_field_is() {
        let json = FormatConfig::Json(JsonOptions::default());
        let read = ReadColumns::new(vec![true, false, true, false]);
        let mut decoder = json.decoder_reading(schema(), &read).unwrap();
        decoder.set_origin("bids.json");
        let skipped_bad = b"{\"a\": 1, \"b\": {\"nested\": true}, \"c\": 10}\n";
        assert_eq!(decoder.decode(skipped_bad, 1).unwrap().num_rows(), 1);
        let read_bad = b"{\"a\": \"one\", \"c\": 10}\n";
        let err = decoder.decode(read_bad, 7).unwrap_err().to_string();
        assert!(
            err.starts_with("bids.json:7:") && err.contains("field 'a'"),
            "{err}"
        );
    }

    #[test]
    fn formats_that_read_by_position_decode_every_column() {
        let csv = FormatConfig::Csv(Default::default());
        let read = ReadColumns::new(vec![false, false, true, false]);
        let mut decoder = csv.decoder_reading(schema(), &read).unwrap();
        let batch = &decoder.decode(b"1,x,10,p\n", 1).unwrap().batches[0];
        assert_eq!(batch.column(1).as_string::<i32>().value(0), "x");
        assert!(!csv.reads_by_name());
        assert!(FormatConfig::Json(JsonOptions::default()).reads_by_name());
    }
}
