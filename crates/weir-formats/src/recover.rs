//! Decoding a chunk in one pass, and finding the bad lines when that fails.
//!
//! A decoder first decodes a whole chunk of lines at once (fast, columnar). If that
//! fails, the chunk is split in halves, recursively, until the failing lines stand alone:
//! good runs of lines are still decoded in bulk, the first bad line is reported with its
//! number, or, when parse errors are ignored, every bad line is skipped and counted, or,
//! decoding with [`RecordDecoder::decode_reporting`], every bad line is listed.
//! Finding `k` bad lines among `n` costs about `k * log2(n)` extra bulk decodes.

use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::error::FormatError;
use crate::lines::{excerpt, line_spans, LineSpan};
use crate::{BadLine, Decoded, RecordDecoder};

/// A decoder that can decode a run of whole lines in one call.
pub(crate) trait BulkDecode {
    /// Decodes `bytes` (whole lines; lines that are not records may be among them), which
    /// hold exactly `records` records. Any failure, including a record count other than
    /// `records`, is returned as a reason for the user.
    fn bulk(&mut self, bytes: &[u8], records: usize) -> Result<Vec<RecordBatch>, String>;

    /// Decodes a whole chunk in one pass that also counts its records, when the decoder
    /// reads all of it without trouble; returns the batches and the number of line ends
    /// (`\n`). `None` (the default) sends the chunk through [`BulkDecode::bulk`], after
    /// its records are counted, and on to narrowing if that fails.
    fn bulk_counting(&mut self, _bytes: &[u8]) -> Option<(Vec<RecordBatch>, u64)> {
        None
    }

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
        let mode = if self.reporting().ignore_errors {
            OnBad::Skip
        } else {
            OnBad::Fail
        };
        decode_chunk(self, bytes, first_line, mode)
    }

    fn decode_reporting(&mut self, bytes: &[u8], first_line: u64) -> Result<Decoded, FormatError> {
        decode_chunk(self, bytes, first_line, OnBad::Report)
    }
}

/// What to do with a bad line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnBad {
    /// Return its error.
    Fail,
    /// Count it in [`Decoded::skipped`].
    Skip,
    /// List it in [`Decoded::bad`].
    Report,
}

/// Decodes a chunk of whole lines starting at line `first_line`.
fn decode_chunk<D: BulkDecode>(
    decoder: &mut D,
    bytes: &[u8],
    first_line: u64,
    mode: OnBad,
) -> Result<Decoded, FormatError> {
    if let Some((batches, newlines)) = decoder.bulk_counting(bytes) {
        return Ok(Decoded {
            batches,
            newlines: Some(newlines),
            ..Decoded::default()
        });
    }
    let records = line_spans(bytes, first_line)
        .filter(|s| decoder.is_record(&bytes[s.start..s.end]))
        .count();
    if records == 0 {
        return Ok(Decoded::default());
    }
    if let Ok(batches) = decoder.bulk(bytes, records) {
        return Ok(Decoded {
            batches,
            ..Decoded::default()
        });
    }
    let spans: Vec<LineSpan> = line_spans(bytes, first_line)
        .filter(|s| decoder.is_record(&bytes[s.start..s.end]))
        .collect();
    let mut found = Found {
        mode,
        batches: Vec::new(),
        skipped: 0,
        bad: Vec::new(),
    };
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
        bad: found.bad,
        newlines: None,
    })
}

/// What narrowing found so far.
struct Found {
    mode: OnBad,
    batches: Vec<RecordBatch>,
    skipped: u64,
    bad: Vec<BadLine>,
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
            if found.mode == OnBad::Skip {
                found.skipped += 1;
                return Ok(());
            }
            let reporting = decoder.reporting();
            let error = FormatError::BadRecord {
                origin: reporting.origin.clone(),
                line: first.line,
                format: reporting.format,
                hint: (reporting.hint)(&reason),
                reason,
                record: excerpt(&bytes[first.start..first.end]),
            };
            if found.mode == OnBad::Fail {
                return Err(error);
            }
            found.bad.push(BadLine {
                line: first.line,
                range: first.start..first.end,
                error,
            });
            Ok(())
        }
        Err(_) => {
            let mid = spans.len() / 2;
            narrow(decoder, bytes, &spans[..mid], found)?;
            narrow(decoder, bytes, &spans[mid..], found)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Field, Int32Type, Schema};

    use crate::{JsonDecoder, JsonOptions, RecordDecoder};

    fn decoder() -> JsonDecoder {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int32, true)]));
        let mut d = JsonDecoder::new(schema, JsonOptions::default()).unwrap();
        d.set_origin("in.json");
        d
    }

    #[test]
    fn reporting_lists_every_bad_line_with_its_bytes() {
        let input = b"{\"id\":1}\r\n{\"id\":oops}\n\n{\"id\":3}\nnot json\n{\"id\":5}";
        let decoded = decoder().decode_reporting(input, 10).unwrap();
        let ids: Vec<i32> = decoded
            .batches
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int32Type>().values().to_vec())
            .collect();
        assert_eq!(ids, vec![1, 3, 5]);
        assert_eq!(decoded.skipped, 0);
        let bad: Vec<(u64, &[u8])> = decoded
            .bad
            .iter()
            .map(|b| (b.line, &input[b.range.clone()]))
            .collect();
        assert_eq!(
            bad,
            vec![(11, &b"{\"id\":oops}"[..]), (14, &b"not json"[..])]
        );
        let text = decoded.bad[1].error.to_string();
        assert!(
            text.starts_with("in.json:14: cannot parse JSON record: "),
            "{text}"
        );
        // A good chunk has nothing to report; plain decoding still fails on the first.
        assert!(decoder()
            .decode_reporting(b"{\"id\":1}\n", 1)
            .unwrap()
            .bad
            .is_empty());
        let err = decoder().decode(input, 10).unwrap_err().to_string();
        assert!(err.starts_with("in.json:11: "), "{err}");
    }
}
