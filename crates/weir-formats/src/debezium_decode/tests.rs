//! Tests of the `debezium-json` decoder: every `op`, the `payload` envelope, malformed
//! envelopes reported or skipped by line, and the NOT NULL and type checks of the rows.

use arrow::array::{AsArray, Int8Array};
use arrow::datatypes::{Int32Type, Int8Type, TimeUnit, TimestampMillisecondType};

use super::*;
use crate::{Decoded, RecordDecoder};

fn schema(id_nullable: bool) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int32, id_nullable),
        Field::new("name", DataType::Utf8, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("b", DataType::Binary, true),
    ]))
}

fn decoder(options: DebeziumJsonOptions) -> DebeziumJsonDecoder {
    let mut d = DebeziumJsonDecoder::new(schema(true), &options).unwrap();
    d.set_origin("cdc/rates.json");
    d
}

/// Rows as `+I[id, name]`.
fn rows(decoded: &Decoded) -> Vec<String> {
    let mut out = Vec::new();
    for b in &decoded.batches {
        assert_eq!(b.schema().field(4).name(), ROW_KIND_COLUMN);
        let ids = b.column(0).as_primitive::<Int32Type>();
        let names = b.column(1).as_string::<i32>();
        let kinds = b.column(4).as_primitive::<Int8Type>();
        for r in 0..b.num_rows() {
            let kind = RowKind::from_i8(kinds.value(r)).unwrap();
            let name = if names.is_null(r) {
                "null"
            } else {
                names.value(r)
            };
            out.push(format!("{}[{}, {name}]", kind.short_string(), ids.value(r)));
        }
    }
    out
}

#[test]
fn every_op_becomes_flink_row_kinds() {
    let input = br#"{"before":null,"after":{"id":1,"name":"a","ts":"2024-01-01 10:00:00"},"op":"c","ts_ms":1}
{"before":null,"after":{"id":2,"name":"b"},"op":"r","source":{"db":"x"}}

{"before":{"id":1,"name":"a"},"after":{"id":1,"name":"a2","ts":"2024-01-01T10:00:01.5"},"op":"u"}
{"before":{"id":2,"name":"b"},"after":null,"op":"d"}
"#;
    let decoded = decoder(DebeziumJsonOptions::default())
        .decode(input, 1)
        .unwrap();
    assert_eq!(
        rows(&decoded),
        ["+I[1, a]", "+I[2, b]", "-U[1, a]", "+U[1, a2]", "-D[2, b]"]
    );
    let ts = decoded.batches[0]
        .column(2)
        .as_primitive::<TimestampMillisecondType>();
    assert_eq!(ts.value(0), 1_704_103_200_000);
    assert!(ts.is_null(2));
    assert_eq!(ts.value(3), 1_704_103_201_500);
    assert_eq!(decoded.skipped, 0);
}

#[test]
fn schema_include_reads_the_payload() {
    let options = DebeziumJsonOptions {
        schema_include: true,
        ..DebeziumJsonOptions::default()
    };
    let input = br#"{"schema":{"type":"struct","fields":[]},"payload":{"before":null,"after":{"id":7,"name":"x","b":"aGk="},"op":"c"}}"#;
    let decoded = decoder(options.clone()).decode(input, 1).unwrap();
    assert_eq!(rows(&decoded), ["+I[7, x]"]);
    assert_eq!(
        decoded.batches[0].column(3).as_binary::<i32>().value(0),
        b"hi"
    );
    // Without the payload: a clear error.
    let err = decoder(options)
        .decode(br#"{"before":null,"after":{"id":7},"op":"c"}"#, 3)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cdc/rates.json:3: cannot parse Debezium JSON record"),
        "{err}"
    );
    assert!(err.contains("no \"payload\""), "{err}");
    // The payload envelope read without schema-include names the option.
    let err = decoder(DebeziumJsonOptions::default())
        .decode(
            br#"{"schema":{},"payload":{"before":null,"after":{"id":7},"op":"c"}}"#,
            1,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("debezium-json.schema-include"), "{err}");
}

#[test]
fn malformed_envelopes_are_reported_by_line_or_skipped() {
    let input = br#"{"before":null,"after":{"id":1},"op":"c"}
{"before":null,"after":{"id":2},"op":"x"}
{"before":null,"after":{"id":3},"op":"u"}
{"before":null,"after":null,"op":"d"}
not json
{"before":null,"after":null,"op":"c"}
{"before":{"id":4},"after":null,"op":"d"}
"#;
    let err = decoder(DebeziumJsonOptions::default())
        .decode(input, 10)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("cdc/rates.json:11: "), "{err}");
    assert!(err.contains("unknown \"op\" value \"x\""), "{err}");
    assert!(
        err.ends_with("set 'debezium-json.ignore-parse-errors' = 'true' to skip malformed records"),
        "{err}"
    );
    let err = decoder(DebeziumJsonOptions::default())
        .decode(br#"{"before":null,"after":{"id":3},"op":"u"}"#, 12)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("cdc/rates.json:12: "), "{err}");
    assert!(err.contains("REPLICA IDENTITY"), "{err}");
    let lenient = DebeziumJsonOptions {
        ignore_parse_errors: true,
        ..DebeziumJsonOptions::default()
    };
    let decoded = decoder(lenient).decode(input, 1).unwrap();
    assert_eq!(rows(&decoded), ["+I[1, null]", "-D[4, null]"]);
    assert_eq!(decoded.skipped, 5);
}

#[test]
fn not_null_columns_and_reserved_names_are_checked() {
    let mut d = DebeziumJsonDecoder::new(schema(false), &DebeziumJsonOptions::default()).unwrap();
    let err = d
        .decode(br#"{"before":{"id":null},"after":{"id":1},"op":"u"}"#, 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("field 'id' is declared NOT NULL"), "{err}");
    let ok = d
        .decode(br#"{"before":null,"after":{"id":1},"op":"c"}"#, 2)
        .unwrap();
    assert!(!ok.batches[0].schema().field(0).is_nullable());
    let kinds: &Int8Array = ok.batches[0].column(4).as_primitive();
    assert_eq!(kinds.value(0), RowKind::Insert as i8);
    let reserved = Arc::new(Schema::new(vec![Field::new(
        ROW_KIND_COLUMN,
        DataType::Int8,
        true,
    )]));
    assert!(DebeziumJsonDecoder::new(reserved, &DebeziumJsonOptions::default()).is_err());
    let interval = Arc::new(Schema::new(vec![Field::new(
        "u",
        DataType::Interval(arrow::datatypes::IntervalUnit::YearMonth),
        true,
    )]));
    let err = DebeziumJsonDecoder::new(interval, &DebeziumJsonOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("debezium-json") && err.contains("column 'u'"),
        "{err}"
    );
}

#[test]
fn batches_split_and_options_are_read_with_flink_names() {
    let line = "{\"before\":{\"id\":1},\"after\":{\"id\":2},\"op\":\"u\"}\n";
    let mut d = decoder(DebeziumJsonOptions::default()).with_batch_size(4);
    let decoded = d.decode(line.repeat(10).as_bytes(), 1).unwrap();
    assert_eq!(decoded.num_rows(), 20);
    let options: std::collections::BTreeMap<String, String> = [
        ("debezium-json.ignore-parse-errors", "true"),
        ("debezium-json.schema-include", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = crate::format_options("debezium-json", &options).unwrap();
    assert!(config.produces_changelog() && config.ignores_parse_errors());
    let d = config.decoder(schema(true)).unwrap();
    assert_eq!(d.schema().fields().len(), 5);
}
