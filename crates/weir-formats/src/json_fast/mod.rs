//! A fast decoder of JSON lines for flat schemas, used by [`crate::JsonDecoder`] before
//! arrow-json.
//!
//! One pass over a chunk of whole lines: per line, the keys of the object are read; the
//! value of a key naming a column is parsed straight into that column's buffers
//! ([`columns`]), any other value is skipped without being decoded ([`scanner`]: strings
//! by `memchr`, objects and arrays by their grammar). Columns a job does not read are
//! not in the schema (projection pushdown), so their values are skipped too.
//!
//! It reads BOOLEAN, TINYINT to BIGINT, FLOAT, DOUBLE, DECIMAL, STRING, DATE and
//! TIMESTAMP(p) / TIMESTAMP_LTZ(p) columns, with arrow-json's rules and results. It gives
//! up on a chunk ([`FastDecoder::decode`] returns `None`) at the first thing it does not
//! read exactly as arrow-json does: anything that is not strict JSON, a value of another
//! type, a BOOLEAN given as a string, a key given twice, a number that is not a plain
//! integer for an integer column, a missing field under `json.fail-on-missing-field`.
//! The caller then decodes the chunk with arrow-json, which produces the same batches,
//! or the errors, lenient NULLs and line numbers users get today.

mod columns;
mod scanner;
mod timestamp;

#[cfg(test)]
mod tests;

use arrow::array::ArrayRef;
use arrow::datatypes::Schema;

use crate::lines::is_blank;
use columns::Column;
use scanner::{is_json_whitespace, Cursor};

/// What [`FastDecoder::decode`] made of a chunk.
pub(crate) struct FastDecoded {
    /// The columns of each batch.
    pub batches: Vec<Vec<ArrayRef>>,
    /// The number of line ends (`\n`) in the chunk, which the file source would
    /// otherwise count again for its line numbers.
    pub newlines: u64,
}

/// Decodes chunks of JSON lines into the columns of a flat schema.
pub(crate) struct FastDecoder {
    /// The column names, as bytes.
    names: Vec<Box<[u8]>>,
    columns: Vec<Column>,
    /// Which columns the current line has set.
    seen: Vec<bool>,
    /// Decoded keys and strings with escapes.
    scratch: Vec<u8>,
}

impl FastDecoder {
    /// A decoder for `schema`, or `None` when a column has a type it does not read.
    pub(crate) fn new(schema: &Schema) -> Option<FastDecoder> {
        let columns = schema
            .fields()
            .iter()
            .map(|f| Column::new(f.data_type()))
            .collect::<Option<Vec<_>>>()?;
        Some(FastDecoder {
            names: schema
                .fields()
                .iter()
                .map(|f| f.name().as_bytes().into())
                .collect(),
            seen: vec![false; columns.len()],
            columns,
            scratch: Vec::new(),
        })
    }

    /// Decodes `bytes`, JSON objects one per non-blank line, into the columns of batches
    /// of at most `batch_size` rows; with `require_all`, every field must be present.
    /// With `records`, the chunk must hold exactly that many objects. `None` when
    /// arrow-json must decode the chunk.
    pub(crate) fn decode(
        &mut self,
        bytes: &[u8],
        records: Option<usize>,
        batch_size: usize,
        require_all: bool,
    ) -> Option<FastDecoded> {
        let result = self.decode_lines(bytes, records, batch_size.max(1), require_all);
        if result.is_none() {
            self.columns.iter_mut().for_each(Column::clear);
        }
        result
    }

    fn decode_lines(
        &mut self,
        bytes: &[u8],
        records: Option<usize>,
        batch_size: usize,
        require_all: bool,
    ) -> Option<FastDecoded> {
        // arrow-json rejects invalid UTF-8 in strings; elsewhere it is a syntax error.
        std::str::from_utf8(bytes).ok()?;
        let mut batches = Vec::new();
        let (mut rows, mut in_batch, mut newlines) = (0, 0, 0);
        let mut start = 0;
        while start < bytes.len() {
            let end = match memchr::memchr(b'\n', &bytes[start..]) {
                Some(p) => {
                    newlines += 1;
                    start + p
                }
                None => bytes.len(),
            };
            let line = &bytes[start..end];
            start = end + 1;
            if is_blank(line) {
                // A form feed counts as blank but is not JSON whitespace.
                if !line.iter().all(|b| is_json_whitespace(*b)) {
                    return None;
                }
                continue;
            }
            self.line(line, require_all)?;
            rows += 1;
            in_batch += 1;
            if in_batch == batch_size {
                batches.push(self.finish()?);
                in_batch = 0;
            }
        }
        if records.is_some_and(|records| rows != records) {
            return None;
        }
        if in_batch > 0 {
            batches.push(self.finish()?);
        }
        Some(FastDecoded { batches, newlines })
    }

    /// Reads one line holding one object.
    fn line(&mut self, line: &[u8], require_all: bool) -> Option<()> {
        let FastDecoder {
            names,
            columns,
            seen,
            scratch,
        } = self;
        seen.fill(false);
        let mut cursor = Cursor::new(line);
        cursor.expect(b'{')?;
        if cursor.peek_token()? == b'}' {
            cursor.pos += 1;
        } else {
            // Lines usually list the keys in the same order: try the next column first.
            let mut next = 0;
            loop {
                cursor.expect(b'"')?;
                let field = {
                    let key = cursor.string(scratch)?;
                    find(names, key.bytes(), next)
                };
                cursor.expect(b':')?;
                match field {
                    Some(i) => {
                        // arrow-json keeps the last of duplicate keys (unchecked): leave it.
                        if std::mem::replace(&mut seen[i], true) {
                            return None;
                        }
                        columns[i].read(&mut cursor, scratch)?;
                        next = i + 1;
                    }
                    None => cursor.skip_value(scratch, 0)?,
                }
                match cursor.peek_token()? {
                    b',' => cursor.pos += 1,
                    b'}' => {
                        cursor.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        if !cursor.at_end() {
            return None;
        }
        for (column, seen) in columns.iter_mut().zip(seen.iter()) {
            if !seen {
                if require_all {
                    return None;
                }
                column.append_null();
            }
        }
        Some(())
    }

    fn finish(&mut self) -> Option<Vec<ArrayRef>> {
        self.columns.iter_mut().map(Column::finish).collect()
    }
}

/// The column named `key`, looking at column `hint` first.
#[inline]
fn find(names: &[Box<[u8]>], key: &[u8], hint: usize) -> Option<usize> {
    if names.get(hint).is_some_and(|n| **n == *key) {
        return Some(hint);
    }
    names.iter().position(|n| **n == *key)
}
