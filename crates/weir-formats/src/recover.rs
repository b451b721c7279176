//! Decoding a chunk in one pass, and finding the bad lines when that fails.
//!
//! A decoder first decodes a whole chunk of lines at once (fast, columnar). If that
//! fails, the chunk is split in halves, recursively, until the failing lines stand alone:
//! good runs of lines are still decoded in bulk, the first bad line is reported with its
//! number, or, when parse errors are ignored, every bad line is skipped and counted.
//! Finding `k` bad lines among `n` costs about `k * log2(n)` extra bulk decodes.

use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::error::FormatError;
use crate::lines::{excerpt, line_spans, LineSpan};
use crate::Decoded;

/// A decoder that can decode a run of whole lines in one call.
pub(crate) trait BulkDecode {
    /// Decodes `bytes` (whole lines; lines that are not records may be among them), which
    /// hold exactly `records` records. Any failure, including a record count other than
    /// `records`, is returned as a reason for the user.
    fn bulk(&mut self, bytes: &[u8], records: usize) -> Result<Vec<RecordBatch>, String>;

    /// Whether a line (without its terminator) holds a record: not blank, not a comment.
    fn is_record(&self, line: &[u8]) -> bool;

    /// The schema of the decoded batches.
    fn schema(&self) -> SchemaRef;
}

/// How to report a bad line.
pub(crate) struct Reporting<'a> {
    pub origin: &'a str,
    pub format: &'static str,
    /// Skip and count bad lines instead of failing.
    pub ignore_errors: bool,
    /// What the user can do about a failure with this reason, appended to the message.
    pub hint: &'a dyn Fn(&str) -> String,
}

/// Decodes a chunk of whole lines starting at line `first_line`.
pub(crate) fn decode_chunk<D: BulkDecode>(
    decoder: &mut D,
    bytes: &[u8],
    first_line: u64,
    reporting: &Reporting<'_>,
) -> Result<Decoded, FormatError> {
    let records = line_spans(bytes, first_line)
        .filter(|s| decoder.is_record(&bytes[s.start..s.end]))
        .count();
    if records == 0 {
        return Ok(Decoded::default());
    }
    if let Ok(batches) = decoder.bulk(bytes, records) {
        return Ok(Decoded {
            batches,
            skipped: 0,
        });
    }
    let spans: Vec<LineSpan> = line_spans(bytes, first_line)
        .filter(|s| decoder.is_record(&bytes[s.start..s.end]))
        .collect();
    let mut found = Found::default();
    let mid = spans.len() / 2;
    if spans.len() == 1 {
        narrow(decoder, bytes, &spans, reporting, &mut found)?;
    } else {
        narrow(decoder, bytes, &spans[..mid], reporting, &mut found)?;
        narrow(decoder, bytes, &spans[mid..], reporting, &mut found)?;
    }
    let batches = match found.batches.len() {
        0 | 1 => found.batches,
        _ => vec![concat_batches(&decoder.schema(), &found.batches)?],
    };
    Ok(Decoded {
        batches,
        skipped: found.skipped,
    })
}

#[derive(Default)]
struct Found {
    batches: Vec<RecordBatch>,
    skipped: u64,
}

fn narrow<D: BulkDecode>(
    decoder: &mut D,
    bytes: &[u8],
    spans: &[LineSpan],
    reporting: &Reporting<'_>,
    found: &mut Found,
) -> Result<(), FormatError> {
    let (Some(first), Some(last)) = (spans.first(), spans.last()) else {
        return Ok(());
    };
    match decoder.bulk(&bytes[first.start..last.end], spans.len()) {
        Ok(batches) => {
            found.batches.extend(batches);
            Ok(())
        }
        Err(reason) if spans.len() == 1 => {
            if reporting.ignore_errors {
                found.skipped += 1;
                Ok(())
            } else {
                Err(FormatError::BadRecord {
                    origin: reporting.origin.to_string(),
                    line: first.line,
                    format: reporting.format,
                    hint: (reporting.hint)(&reason),
                    reason,
                    record: excerpt(&bytes[first.start..first.end]),
                })
            }
        }
        Err(_) => {
            let mid = spans.len() / 2;
            narrow(decoder, bytes, &spans[..mid], reporting, found)?;
            narrow(decoder, bytes, &spans[mid..], reporting, found)
        }
    }
}
