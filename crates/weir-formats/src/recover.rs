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
use crate::{Decoded, RecordDecoder};

/// A decoder that can decode a run of whole lines in one call.
pub(crate) trait BulkDecode {
    /// Decodes `bytes` (whole lines; lines that are not records may be among them), which
    /// hold exactly `records` records. Any failure, including a record count other than
    /// `records`, is returned as a reason for the user.
    fn bulk(&mut self, bytes: &[u8], records: usize) -> Result<Vec<RecordBatch>, String>;

    /// Whether a line (without its terminator) holds a record: not blank, not a comment.
    fn is_record(&self, line: &[u8]) -> bool;

    /// The schema of the decoded batches.
    fn decoded_schema(&self) -> &SchemaRef;

    /// How the decoder reports bad lines.
    fn reporting(&self) -> &Reporting;

    /// The same, to change the origin.
    fn reporting_mut(&mut self) -> &mut Reporting;
}

/// How to report a bad line.
pub(crate) struct Reporting {
    /// Where the input comes from (a file path).
    pub origin: String,
    /// `JSON` or `CSV`.
    pub format: &'static str,
    /// Skip and count bad lines instead of failing.
    pub ignore_errors: bool,
    /// What the user can do about a failure with this reason, appended to the message.
    pub hint: fn(&str) -> String,
}

impl Reporting {
    /// Reporting for `format`, from the origin `<input>` until one is set.
    pub(crate) fn new(format: &'static str, ignore_errors: bool, hint: fn(&str) -> String) -> Self {
        Reporting {
            origin: "<input>".into(),
            format,
            ignore_errors,
            hint,
        }
    }
}

/// A line decoder decodes chunks with [`decode_chunk`].
impl<D: BulkDecode + Send> RecordDecoder for D {
    fn schema(&self) -> &SchemaRef {
        self.decoded_schema()
    }

    fn set_origin(&mut self, origin: &str) {
        self.reporting_mut().origin = origin.to_string();
    }

    fn decode(&mut self, bytes: &[u8], first_line: u64) -> Result<Decoded, FormatError> {
        decode_chunk(self, bytes, first_line)
    }
}

/// Decodes a chunk of whole lines starting at line `first_line`.
fn decode_chunk<D: BulkDecode>(
    decoder: &mut D,
    bytes: &[u8],
    first_line: u64,
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
        narrow(decoder, bytes, &spans, &mut found)?;
    } else {
        narrow(decoder, bytes, &spans[..mid], &mut found)?;
        narrow(decoder, bytes, &spans[mid..], &mut found)?;
    }
    let batches = match found.batches.len() {
        0 | 1 => found.batches,
        _ => vec![concat_batches(decoder.decoded_schema(), &found.batches)?],
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
            let reporting = decoder.reporting();
            if reporting.ignore_errors {
                found.skipped += 1;
                Ok(())
            } else {
                Err(FormatError::BadRecord {
                    origin: reporting.origin.clone(),
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
            narrow(decoder, bytes, &spans[..mid], found)?;
            narrow(decoder, bytes, &spans[mid..], found)
        }
    }
}
