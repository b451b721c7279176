//! Decoding one record per message (Kafka record keys and values), reporting each
//! malformed message instead of failing or skipping it: the connector applies the
//! table's dirty-data policy (fail, skip, dead-letter) with the message's provenance.
//!
//! [`LineMessageDecoder`] serves the line formats (`json`, `csv`, `debezium-json`): a
//! batch of messages is decoded in one columnar pass as one line per message; only when
//! that pass fails, or when one message may give several rows (a changelog format), is
//! each message decoded alone.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::error::FormatError;
use crate::RecordDecoder;

/// What a [`MessageDecoder`] made of a batch of messages.
#[derive(Debug, Default)]
pub struct DecodedMessages {
    /// The decoded rows, in message order, with the decoder's schema.
    pub batches: Vec<RecordBatch>,
    /// For each decoded row (across `batches`, in order), the index of the message it
    /// came from. A changelog format may give a message several rows (an update gives
    /// `-U` and `+U`) or none.
    pub row_messages: Vec<u32>,
    /// The messages that could not be decoded, in message order.
    pub bad: Vec<BadMessage>,
}

/// A message that could not be decoded.
#[derive(Debug)]
pub struct BadMessage {
    /// Its index in the decoded slice.
    pub index: usize,
    /// Why; its origin is the decoder's origin and its line the message's index + 1.
    pub error: FormatError,
}

/// Turns messages, one record each, into Arrow batches.
pub trait MessageDecoder: Send {
    /// The schema of the batches this decoder produces (followed by the row-kind column
    /// for a changelog format).
    fn schema(&self) -> &SchemaRef;

    /// Names where the next messages come from (e.g. `topic 'orders' partition 2`);
    /// the errors of bad messages start with it.
    fn set_origin(&mut self, origin: &str);

    /// Decodes `messages`. A malformed message is listed in [`DecodedMessages::bad`],
    /// never skipped silently; an error is returned only when decoding cannot go on at
    /// all.
    fn decode_messages(&mut self, messages: &[&[u8]]) -> Result<DecodedMessages, FormatError>;
}

/// A [`MessageDecoder`] over a line format's [`RecordDecoder`] (made strict: it fails
/// on the first bad record rather than skipping it).
pub struct LineMessageDecoder {
    inner: Box<dyn RecordDecoder>,
    one_row_per_message: bool,
    origin: String,
    joined: Vec<u8>,
}

impl LineMessageDecoder {
    /// Wraps a strict decoder. `one_row_per_message` is false for changelog formats.
    pub fn new(inner: Box<dyn RecordDecoder>, one_row_per_message: bool) -> LineMessageDecoder {
        LineMessageDecoder {
            inner,
            one_row_per_message,
            origin: "message".to_string(),
            joined: Vec::new(),
        }
    }

    /// The one-pass path: every message one line. `None` when a message is blank or the
    /// pass fails (the caller then decodes message by message).
    fn decode_joined(&mut self, messages: &[&[u8]]) -> Option<DecodedMessages> {
        self.joined.clear();
        for message in messages {
            if message.iter().all(u8::is_ascii_whitespace) {
                return None;
            }
            // A line format's record cannot span lines: line breaks inside a message
            // (pretty-printed JSON) are whitespace between tokens.
            self.joined.extend(
                message
                    .iter()
                    .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
            );
            self.joined.push(b'\n');
        }
        self.inner.set_origin(&self.origin);
        let decoded = self.inner.decode(&self.joined, 1).ok()?;
        if decoded.num_rows() != messages.len() || decoded.skipped != 0 {
            return None;
        }
        Some(DecodedMessages {
            batches: decoded.batches,
            row_messages: (0..messages.len() as u32).collect(),
            bad: Vec::new(),
        })
    }

    /// The per-message path.
    fn decode_each(&mut self, messages: &[&[u8]]) -> DecodedMessages {
        let mut out = DecodedMessages::default();
        self.inner.set_origin(&self.origin);
        for (index, message) in messages.iter().enumerate() {
            let line = index as u64 + 1;
            if message.iter().all(u8::is_ascii_whitespace) {
                out.bad.push(BadMessage {
                    index,
                    error: FormatError::BadRecord {
                        origin: self.origin.clone(),
                        line,
                        format: "message",
                        reason: "the message is empty".into(),
                        record: String::new(),
                        hint: "a table with a changelog or upsert format reads an empty value \
                               as a delete; other formats need a record"
                            .into(),
                    },
                });
                continue;
            }
            let single: Vec<u8> = message
                .iter()
                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
                .collect();
            match self.inner.decode(&single, line) {
                Ok(decoded) => {
                    let rows = decoded.num_rows();
                    out.row_messages
                        .extend(std::iter::repeat_n(index as u32, rows));
                    out.batches.extend(decoded.batches);
                }
                Err(error) => out.bad.push(BadMessage { index, error }),
            }
        }
        out
    }
}

impl MessageDecoder for LineMessageDecoder {
    fn schema(&self) -> &SchemaRef {
        self.inner.schema()
    }

    fn set_origin(&mut self, origin: &str) {
        self.origin = origin.to_string();
    }

    fn decode_messages(&mut self, messages: &[&[u8]]) -> Result<DecodedMessages, FormatError> {
        if messages.is_empty() {
            return Ok(DecodedMessages::default());
        }
        if self.one_row_per_message {
            if let Some(decoded) = self.decode_joined(messages) {
                return Ok(decoded);
            }
        }
        Ok(self.decode_each(messages))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::{FormatConfig, JsonOptions};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]))
    }

    fn json() -> Box<dyn MessageDecoder> {
        FormatConfig::Json(JsonOptions::default())
            .message_decoder(schema())
            .unwrap()
    }

    fn ids(decoded: &DecodedMessages) -> Vec<i64> {
        decoded
            .batches
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                (0..a.len()).map(|i| a.value(i)).collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn good_messages_decode_in_one_pass_with_their_indices() {
        let mut d = json();
        let msgs: Vec<&[u8]> = vec![
            br#"{"id":1,"name":"a"}"#,
            b"{\"id\":2,\n \"name\":\"b\"}",
            br#"{"id":3}"#,
        ];
        let out = d.decode_messages(&msgs).unwrap();
        assert_eq!(ids(&out), vec![1, 2, 3]);
        assert_eq!(out.row_messages, vec![0, 1, 2]);
        assert!(out.bad.is_empty());
        let names = out.batches[0]
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(names.value(1), "b");
        assert!(names.is_null(2));
    }

    #[test]
    fn bad_and_empty_messages_are_reported_not_skipped() {
        let mut d = json();
        d.set_origin("topic 't' partition 0");
        let msgs: Vec<&[u8]> = vec![br#"{"id":1}"#, b"{oops", b"", br#"{"id":4}"#];
        let out = d.decode_messages(&msgs).unwrap();
        assert_eq!(ids(&out), vec![1, 4]);
        assert_eq!(out.row_messages, vec![0, 3]);
        let bad: Vec<usize> = out.bad.iter().map(|b| b.index).collect();
        assert_eq!(bad, vec![1, 2]);
        let text = out.bad[0].error.to_string();
        assert!(text.starts_with("topic 't' partition 0:2:"), "{text}");
    }

    #[test]
    fn ignore_parse_errors_of_the_format_does_not_hide_bad_messages() {
        let config = FormatConfig::Json(JsonOptions {
            ignore_parse_errors: true,
            ..JsonOptions::default()
        });
        let mut d = config.message_decoder(schema()).unwrap();
        let msgs: Vec<&[u8]> = vec![b"[1,2", br#"{"id":7}"#];
        let out = d.decode_messages(&msgs).unwrap();
        assert_eq!(ids(&out), vec![7]);
        assert_eq!(out.bad.len(), 1);
    }
}
