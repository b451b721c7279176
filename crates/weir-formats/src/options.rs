//! Format options with Flink's names (`json.ignore-parse-errors`, `csv.field-delimiter`,
//! ...), read from a table's `WITH (...)` options into a [`FormatConfig`].
//!
//! Only the keys that start with `<format>.` belong to the format; an unknown one is
//! refused, as Flink does. Keys of other formats are left to the connector to refuse.

use std::collections::{BTreeMap, BTreeSet};

use arrow::datatypes::{Schema, SchemaRef};

use crate::avro::{self, AvroMessageDecoder, AvroMessageEncoder, AvroOptions};
use crate::cdc_json::{include_regex, CanalJsonOptions, CdcJsonDecoder, MaxwellJsonOptions};
use crate::csv_decode::CsvDecoder;
use crate::csv_encode::CsvEncoder;
use crate::debezium::DebeziumJsonEncoder;
use crate::debezium_decode::DebeziumJsonDecoder;
use crate::error::FormatError;
use crate::json_decode::JsonDecoder;
use crate::json_encode::JsonEncoder;
use crate::message::{LineMessageDecoder, MessageDecoder};
use crate::message_encode::{LineMessageEncoder, MessageEncoder};
use crate::projected::{ProjectedDecoder, ReadColumns};
use crate::raw::{
    Endianness, RawDecoder, RawEncoder, RawMessageDecoder, RawMessageEncoder, RawOptions,
};
use crate::{RecordDecoder, RecordEncoder};

/// The formats this build has.
pub const FORMATS: &[&str] = &[
    "avro",
    "canal-json",
    "csv",
    "debezium-json",
    "json",
    "maxwell-json",
    "raw",
];

/// How timestamps are written as text (`<format>.timestamp-format.standard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampStandard {
    /// `SQL` (Flink's default): `2024-01-01 10:00:00.123`.
    #[default]
    Sql,
    /// `ISO-8601`: `2024-01-01T10:00:00.123`.
    Iso8601,
}

/// Options of the `json` format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonOptions {
    /// `json.ignore-parse-errors`: skip malformed records (and count them).
    pub ignore_parse_errors: bool,
    /// `json.fail-on-missing-field`: a missing field is an error rather than NULL.
    pub fail_on_missing_field: bool,
    /// `json.timestamp-format.standard`.
    pub timestamp_standard: TimestampStandard,
    /// `json.encode.ignore-null-fields`: leave NULL fields out of written objects.
    pub ignore_null_fields: bool,
}

/// Options of the `csv` format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// `csv.field-delimiter` (default `,`).
    pub field_delimiter: u8,
    /// `csv.quote-character` (default `"`); `None` with `csv.disable-quote-character`.
    pub quote_character: Option<u8>,
    /// `csv.escape-character` (default none).
    pub escape_character: Option<u8>,
    /// `csv.allow-comments`: ignore lines starting with `#`.
    pub allow_comments: bool,
    /// `csv.ignore-parse-errors`: skip malformed records (and count them).
    pub ignore_parse_errors: bool,
    /// `csv.null-literal`: the text of a NULL field (default none: NULL is written empty).
    pub null_literal: Option<String>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            field_delimiter: b',',
            quote_character: Some(b'"'),
            escape_character: None,
            allow_comments: false,
            ignore_parse_errors: false,
            null_literal: None,
        }
    }
}

/// Options of the `debezium-json` format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DebeziumJsonOptions {
    /// `debezium-json.timestamp-format.standard`.
    pub timestamp_standard: TimestampStandard,
    /// `debezium-json.ignore-parse-errors`: skip malformed envelopes (and count them).
    pub ignore_parse_errors: bool,
    /// `debezium-json.schema-include`: envelopes carry Debezium's `schema` and the change
    /// under `payload` (Kafka Connect's `value.converter.schemas.enable`).
    pub schema_include: bool,
}

/// A format with its options: creates decoders and encoders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatConfig {
    /// `json`: one JSON object per line.
    Json(JsonOptions),
    /// `csv`: one record per line, no header.
    Csv(CsvOptions),
    /// `debezium-json`: a changelog as Debezium envelopes, one per line.
    DebeziumJson(DebeziumJsonOptions),
    /// `raw`: the whole message (or line) is the value of the table's one column.
    Raw(RawOptions),
    /// `avro`: one Avro datum per message (messages only).
    Avro(AvroOptions),
    /// `canal-json`: a changelog as Canal messages, one per line (read only).
    CanalJson(CanalJsonOptions),
    /// `maxwell-json`: a changelog as Maxwell messages, one per line (read only).
    MaxwellJson(MaxwellJsonOptions),
}

impl FormatConfig {
    /// The format's name, as written in `'format' = '...'`.
    pub fn name(&self) -> &'static str {
        match self {
            FormatConfig::Json(_) => "json",
            FormatConfig::Csv(_) => "csv",
            FormatConfig::DebeziumJson(_) => "debezium-json",
            FormatConfig::Raw(_) => "raw",
            FormatConfig::Avro(_) => "avro",
            FormatConfig::CanalJson(_) => "canal-json",
            FormatConfig::MaxwellJson(_) => "maxwell-json",
        }
    }

    /// Whether the format can write updates and deletes (`-U`, `+U`, `-D`).
    pub fn accepts_updates(&self) -> bool {
        matches!(self, FormatConfig::DebeziumJson(_))
    }

    /// Whether the decoded rows are a changelog (`+I`, `-U`, `+U`, `-D`): the decoder's
    /// batches then end with [`weir_types::ROW_KIND_COLUMN`], and a source reading the
    /// format produces an updating stream.
    pub fn produces_changelog(&self) -> bool {
        matches!(
            self,
            FormatConfig::DebeziumJson(_)
                | FormatConfig::CanalJson(_)
                | FormatConfig::MaxwellJson(_)
        )
    }

    /// Whether malformed records are skipped rather than failing the job.
    pub fn ignores_parse_errors(&self) -> bool {
        match self {
            FormatConfig::Json(o) => o.ignore_parse_errors,
            FormatConfig::Csv(o) => o.ignore_parse_errors,
            FormatConfig::DebeziumJson(o) => o.ignore_parse_errors,
            FormatConfig::Raw(_) | FormatConfig::Avro(_) => false,
            FormatConfig::CanalJson(o) => o.ignore_parse_errors,
            FormatConfig::MaxwellJson(o) => o.ignore_parse_errors,
        }
    }

    /// A decoder producing batches of `schema` (followed by the row-kind column when the
    /// format [produces a changelog](FormatConfig::produces_changelog)).
    pub fn decoder(&self, schema: SchemaRef) -> Result<Box<dyn RecordDecoder>, FormatError> {
        match self {
            FormatConfig::Json(o) => Ok(Box::new(JsonDecoder::new(schema, o.clone())?)),
            FormatConfig::Csv(o) => Ok(Box::new(CsvDecoder::new(schema, o.clone())?)),
            FormatConfig::DebeziumJson(o) => Ok(Box::new(DebeziumJsonDecoder::new(schema, o)?)),
            FormatConfig::Raw(_) => Ok(Box::new(RawDecoder::new(schema)?)),
            FormatConfig::Avro(_) => Err(avro::no_files()),
            FormatConfig::CanalJson(o) => Ok(Box::new(CdcJsonDecoder::canal(schema, o)?)),
            FormatConfig::MaxwellJson(o) => Ok(Box::new(CdcJsonDecoder::maxwell(schema, o)?)),
        }
    }

    /// Whether the format finds a record's fields by name (`json`), so that a decoder
    /// can skip the fields of columns a job does not read
    /// ([`FormatConfig::decoder_reading`]).
    pub fn reads_by_name(&self) -> bool {
        matches!(self, FormatConfig::Json(_))
    }

    /// A decoder producing batches of `schema`, as [`FormatConfig::decoder`], that may
    /// leave the columns `read` does not mark all NULL: a format that
    /// [reads by name](FormatConfig::reads_by_name) then skips their fields (columns
    /// declared NOT NULL are always decoded); other formats decode every column.
    pub fn decoder_reading(
        &self,
        schema: SchemaRef,
        read: &ReadColumns,
    ) -> Result<Box<dyn RecordDecoder>, FormatError> {
        if !self.reads_by_name() {
            return self.decoder(schema);
        }
        ProjectedDecoder::wrap(schema, read, |kept| self.decoder(kept))
    }

    /// A decoder of one record per message (Kafka keys and values) producing batches of
    /// `schema`, as [`FormatConfig::decoder`]. Malformed messages are always reported
    /// (never skipped, whatever `<format>.ignore-parse-errors` says): the connector
    /// applies its dirty-data policy.
    pub fn message_decoder(
        &self,
        schema: SchemaRef,
    ) -> Result<Box<dyn MessageDecoder>, FormatError> {
        self.message_decoder_reading(schema, None)
    }

    /// A message decoder as [`FormatConfig::message_decoder`] that may leave the columns
    /// `read` does not mark all NULL, as [`FormatConfig::decoder_reading`] does (`None`:
    /// every column is read).
    pub fn message_decoder_reading(
        &self,
        schema: SchemaRef,
        read: Option<&ReadColumns>,
    ) -> Result<Box<dyn MessageDecoder>, FormatError> {
        let strict = match self {
            FormatConfig::Json(o) => FormatConfig::Json(JsonOptions {
                ignore_parse_errors: false,
                ..o.clone()
            }),
            FormatConfig::Csv(o) => FormatConfig::Csv(CsvOptions {
                ignore_parse_errors: false,
                ..o.clone()
            }),
            FormatConfig::DebeziumJson(o) => FormatConfig::DebeziumJson(DebeziumJsonOptions {
                ignore_parse_errors: false,
                ..o.clone()
            }),
            // The whole message is the value: no line folding.
            FormatConfig::Raw(o) => return Ok(Box::new(RawMessageDecoder::new(schema, o)?)),
            FormatConfig::Avro(o) => return Ok(Box::new(AvroMessageDecoder::new(schema, o)?)),
            FormatConfig::CanalJson(o) => FormatConfig::CanalJson(CanalJsonOptions {
                ignore_parse_errors: false,
                ..o.clone()
            }),
            FormatConfig::MaxwellJson(o) => FormatConfig::MaxwellJson(MaxwellJsonOptions {
                ignore_parse_errors: false,
                ..o.clone()
            }),
        };
        let inner = match read {
            Some(read) => strict.decoder_reading(schema, read)?,
            None => strict.decoder(schema)?,
        };
        Ok(Box::new(LineMessageDecoder::new(
            inner,
            !self.produces_changelog(),
        )))
    }

    /// An encoder for batches of `schema` (the table's columns, without the row-kind
    /// column). Fails when the format cannot write one of the column types.
    pub fn encoder(&self, schema: &Schema) -> Result<Box<dyn RecordEncoder>, FormatError> {
        match self {
            FormatConfig::Json(o) => Ok(Box::new(JsonEncoder::new(schema, o)?)),
            FormatConfig::Csv(o) => Ok(Box::new(CsvEncoder::new(schema, o.clone())?)),
            FormatConfig::DebeziumJson(o) => Ok(Box::new(DebeziumJsonEncoder::new(schema, o)?)),
            FormatConfig::Raw(_) => Ok(Box::new(RawEncoder::new(schema)?)),
            FormatConfig::Avro(_) => Err(avro::no_files()),
            FormatConfig::CanalJson(_) | FormatConfig::MaxwellJson(_) => {
                Err(FormatError::Unsupported(format!(
                    "format '{}' can be read but not written yet; write a changelog with \
                     'debezium-json'",
                    self.name()
                )))
            }
        }
    }

    /// An encoder of one message per row (Kafka keys and values) for batches of `schema`
    /// (the table's columns, without the row-kind column).
    pub fn message_encoder(&self, schema: &Schema) -> Result<Box<dyn MessageEncoder>, FormatError> {
        match self {
            FormatConfig::Raw(o) => Ok(Box::new(RawMessageEncoder::new(schema, o)?)),
            FormatConfig::Avro(o) => Ok(Box::new(AvroMessageEncoder::new(schema, o)?)),
            line => Ok(Box::new(LineMessageEncoder::new(line.encoder(schema)?))),
        }
    }
}

/// Reads the options of format `format` from a table's options (all of them: only keys
/// starting with `<format>.` are looked at). Unknown `<format>.*` keys are an error.
pub fn format_options(
    format: &str,
    options: &BTreeMap<String, String>,
) -> Result<FormatConfig, FormatError> {
    let mut r = Reader::new(format, options);
    let config = match format {
        "json" => {
            let o = JsonOptions {
                ignore_parse_errors: r.bool("ignore-parse-errors", false)?,
                fail_on_missing_field: r.bool("fail-on-missing-field", false)?,
                timestamp_standard: r.timestamp_standard()?,
                ignore_null_fields: r.bool("encode.ignore-null-fields", false)?,
            };
            // Always plain: accepted for compatibility with Flink scripts.
            r.bool("encode.decimal-as-plain-number", false)?;
            if o.ignore_parse_errors && o.fail_on_missing_field {
                return Err(FormatError::ConflictingOptions(
                    "'json.fail-on-missing-field' and 'json.ignore-parse-errors' cannot both be \
                     'true'; choose one"
                        .into(),
                ));
            }
            FormatConfig::Json(o)
        }
        "csv" => {
            let disable_quote = r.bool("disable-quote-character", false)?;
            let quote = r.char("quote-character")?;
            if disable_quote && quote.is_some() {
                return Err(FormatError::ConflictingOptions(
                    "'csv.quote-character' cannot be set when 'csv.disable-quote-character' is \
                     'true'"
                        .into(),
                ));
            }
            FormatConfig::Csv(CsvOptions {
                field_delimiter: r.char("field-delimiter")?.unwrap_or(b','),
                quote_character: if disable_quote {
                    None
                } else {
                    Some(quote.unwrap_or(b'"'))
                },
                escape_character: r.char("escape-character")?,
                allow_comments: r.bool("allow-comments", false)?,
                ignore_parse_errors: r.bool("ignore-parse-errors", false)?,
                null_literal: r.get("null-literal").map(str::to_string),
            })
        }
        "debezium-json" => {
            let o = DebeziumJsonOptions {
                timestamp_standard: r.timestamp_standard()?,
                ignore_parse_errors: r.bool("ignore-parse-errors", false)?,
                schema_include: r.bool("schema-include", false)?,
            };
            // Flink's encoder options: written values are always plain and complete.
            r.bool("encode.decimal-as-plain-number", false)?;
            FormatConfig::DebeziumJson(o)
        }
        "canal-json" => {
            let o = CanalJsonOptions {
                ignore_parse_errors: r.bool("ignore-parse-errors", false)?,
                timestamp_standard: r.timestamp_standard()?,
                database_include: r.get("database.include").map(str::to_string),
                table_include: r.get("table.include").map(str::to_string),
            };
            // Checks the patterns now, with the option's name.
            if let Some(p) = &o.database_include {
                include_regex("canal-json.database.include", p)?;
            }
            if let Some(p) = &o.table_include {
                include_regex("canal-json.table.include", p)?;
            }
            FormatConfig::CanalJson(o)
        }
        "maxwell-json" => FormatConfig::MaxwellJson(MaxwellJsonOptions {
            ignore_parse_errors: r.bool("ignore-parse-errors", false)?,
            timestamp_standard: r.timestamp_standard()?,
        }),
        "avro" => FormatConfig::Avro(AvroOptions {
            timestamp_legacy: r.bool("timestamp_mapping.legacy", true)?,
        }),
        "raw" => {
            if let Some(charset) = r.get("charset") {
                let name = charset.trim().to_ascii_uppercase();
                if name != "UTF-8" && name != "UTF8" {
                    return Err(r.invalid(
                        "charset",
                        charset,
                        "only UTF-8 is supported; declare the column as BYTES to read the \
                         bytes of text in another charset",
                    ));
                }
            }
            let endianness = match r.get("endianness") {
                None => Endianness::Big,
                Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                    "big-endian" => Endianness::Big,
                    "little-endian" => Endianness::Little,
                    _ => {
                        return Err(r.invalid(
                            "endianness",
                            v,
                            "expected 'big-endian' or 'little-endian'",
                        ))
                    }
                },
            };
            FormatConfig::Raw(RawOptions { endianness })
        }
        other => {
            return Err(FormatError::UnknownFormat {
                format: other.to_string(),
                available: FORMATS.join(", "),
            })
        }
    };
    r.finish()?;
    Ok(config)
}

/// Reads `<format>.<name>` options and remembers which ones were asked for.
struct Reader<'a> {
    format: &'a str,
    prefix: String,
    options: &'a BTreeMap<String, String>,
    known: BTreeSet<String>,
}

impl<'a> Reader<'a> {
    fn new(format: &'a str, options: &'a BTreeMap<String, String>) -> Reader<'a> {
        Reader {
            format,
            prefix: format!("{format}."),
            options,
            known: BTreeSet::new(),
        }
    }

    fn get(&mut self, name: &str) -> Option<&'a str> {
        let key = format!("{}{name}", self.prefix);
        let value = self.options.get(&key).map(String::as_str);
        self.known.insert(key);
        value
    }

    fn invalid(&self, name: &str, value: &str, reason: &str) -> FormatError {
        FormatError::InvalidOption {
            option: format!("{}{name}", self.prefix),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }

    fn bool(&mut self, name: &str, default: bool) -> Result<bool, FormatError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(self.invalid(name, v, "expected 'true' or 'false'")),
            },
        }
    }

    /// A single ASCII character; `\t` may be written as a backslash and `t`, as in Flink.
    fn char(&mut self, name: &str) -> Result<Option<u8>, FormatError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let c = match v {
            "\\t" => b'\t',
            s if s.len() == 1 && s.is_ascii() => s.as_bytes()[0],
            _ => return Err(self.invalid(name, v, "expected a single ASCII character")),
        };
        if c == b'\n' || c == b'\r' {
            return Err(self.invalid(name, v, "a line break cannot be used"));
        }
        Ok(Some(c))
    }

    fn timestamp_standard(&mut self) -> Result<TimestampStandard, FormatError> {
        match self.get("timestamp-format.standard") {
            None => Ok(TimestampStandard::Sql),
            Some(v) => match v.trim().to_ascii_uppercase().as_str() {
                "SQL" => Ok(TimestampStandard::Sql),
                "ISO-8601" => Ok(TimestampStandard::Iso8601),
                _ => Err(self.invalid(
                    "timestamp-format.standard",
                    v,
                    "expected 'SQL' or 'ISO-8601'",
                )),
            },
        }
    }

    fn finish(self) -> Result<(), FormatError> {
        let unknown: Vec<&str> = self
            .options
            .keys()
            .filter(|k| k.starts_with(&self.prefix) && !self.known.contains(*k))
            .map(String::as_str)
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        Err(FormatError::UnknownOptions {
            format: self.format.to_string(),
            unknown: unknown.join(", "),
            supported: self.known.iter().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn json_options_with_flink_names() {
        let o = opts(&[
            ("connector", "filesystem"),
            ("json.ignore-parse-errors", "true"),
            ("json.timestamp-format.standard", "ISO-8601"),
        ]);
        let FormatConfig::Json(j) = format_options("json", &o).unwrap() else {
            panic!("not json");
        };
        assert!(j.ignore_parse_errors);
        assert!(!j.fail_on_missing_field);
        assert_eq!(j.timestamp_standard, TimestampStandard::Iso8601);
    }

    #[test]
    fn unknown_and_invalid_options_are_refused() {
        let err = format_options("json", &opts(&[("json.ignore-parse-error", "true")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("json.ignore-parse-error"), "{err}");
        assert!(err.contains("json.ignore-parse-errors"), "{err}");
        let err = format_options("json", &opts(&[("json.fail-on-missing-field", "yes")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected 'true' or 'false'"), "{err}");
        let err = format_options("xml", &opts(&[])).unwrap_err().to_string();
        assert!(err.contains("unknown format 'xml'"), "{err}");
        let both = opts(&[
            ("json.fail-on-missing-field", "true"),
            ("json.ignore-parse-errors", "true"),
        ]);
        assert!(format_options("json", &both).is_err());
    }

    #[test]
    fn csv_options() {
        let o = opts(&[
            ("csv.field-delimiter", "\\t"),
            ("csv.null-literal", "N/A"),
            ("csv.allow-comments", "true"),
            ("json.whatever", "x"),
        ]);
        let FormatConfig::Csv(c) = format_options("csv", &o).unwrap() else {
            panic!("not csv");
        };
        assert_eq!(c.field_delimiter, b'\t');
        assert_eq!(c.quote_character, Some(b'"'));
        assert_eq!(c.null_literal.as_deref(), Some("N/A"));
        assert!(c.allow_comments);
        let err = format_options("csv", &opts(&[("csv.field-delimiter", ";;")]));
        assert!(err.is_err());
        let FormatConfig::Csv(c) =
            format_options("csv", &opts(&[("csv.disable-quote-character", "true")])).unwrap()
        else {
            panic!("not csv");
        };
        assert_eq!(c.quote_character, None);
    }
}
