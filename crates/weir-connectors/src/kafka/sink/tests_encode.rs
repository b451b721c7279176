//! Tests of rows to records, with the exact bytes Flink's formats write.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    ArrayRef, BinaryBuilder, Float64Array, Int64Array, Int8Array, MapBuilder, MapFieldNames,
    StringArray, StringBuilder, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use rdkafka::message::Headers;
use weir_types::{ChangelogKind, RowKind, ROW_KIND_COLUMN};

use super::encode::{Encoded, MessageEncoder};
use super::options::SinkOptions;
use super::tests_options::{table_with, timestamp_and_headers};
use crate::descriptor::TableDescriptor;

fn options(t: &TableDescriptor, changelog: ChangelogKind) -> SinkOptions {
    let upsert = t.options["connector"] == "upsert-kafka";
    SinkOptions::read(t, changelog, upsert).unwrap()
}

/// A batch of `(user_id, name, amount)` rows, with the row kinds when given.
fn rows(data: &[(i64, &str, f64)], kinds: Option<&[RowKind]>) -> RecordBatch {
    let mut fields = vec![
        Field::new("user_id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(data.iter().map(|r| r.0))),
        Arc::new(StringArray::from_iter_values(data.iter().map(|r| r.1))),
        Arc::new(Float64Array::from_iter_values(data.iter().map(|r| r.2))),
    ];
    if let Some(kinds) = kinds {
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
        columns.push(Arc::new(Int8Array::from_iter_values(
            kinds.iter().map(|k| *k as i8),
        )));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn text(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(|b| String::from_utf8(b.to_vec()).unwrap())
}

/// Keys and values of the records, as text (`None`: no key, or a tombstone).
fn records(encoded: &Encoded) -> Vec<(Option<String>, Option<String>)> {
    encoded
        .records()
        .iter()
        .map(|r| (text(encoded.key(r)), text(encoded.value(r))))
        .collect()
}

fn base(
    connector: &'static str,
    extra: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    let mut o = vec![
        ("connector", connector),
        ("properties.bootstrap.servers", "127.0.0.1:9092"),
        ("topic", "t"),
    ];
    o.extend_from_slice(extra);
    o
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

#[test]
fn json_key_and_value_without_newlines() {
    let t = table_with(
        &base(
            "kafka",
            &[
                ("format", "json"),
                ("key.format", "json"),
                ("key.fields", "user_id"),
            ],
        ),
        &[],
        vec![],
        vec![],
    );
    let mut encoder = MessageEncoder::new(&options(&t, ChangelogKind::AppendOnly)).unwrap();
    let mut out = Encoded::default();
    encoder
        .encode(
            &rows(&[(7, "a\"b", 1.5), (8, "line\nbreak", 2.0)], None),
            &mut out,
        )
        .unwrap();
    assert_eq!(
        records(&out),
        [
            (
                some(r#"{"user_id":7}"#),
                some(r#"{"user_id":7,"name":"a\"b","amount":1.5}"#)
            ),
            (
                some(r#"{"user_id":8}"#),
                some(r#"{"user_id":8,"name":"line\nbreak","amount":2.0}"#)
            ),
        ]
    );
    assert!(out.records().iter().all(|r| r.timestamp.is_none()));
}

#[test]
fn csv_values_with_a_newline_are_encoded_row_by_row() {
    let t = table_with(
        &base(
            "kafka",
            &[
                ("value.format", "csv"),
                ("key.format", "csv"),
                ("key.fields", "name"),
                ("key.fields-prefix", "na"),
                ("value.fields-include", "EXCEPT_KEY"),
            ],
        ),
        &[],
        vec![],
        vec![],
    );
    let mut encoder = MessageEncoder::new(&options(&t, ChangelogKind::AppendOnly)).unwrap();
    let mut out = Encoded::default();
    encoder
        .encode(
            &rows(&[(1, "x\ny", 0.5), (2, "plain", 3.0)], None),
            &mut out,
        )
        .unwrap();
    assert_eq!(
        records(&out),
        [
            (some("\"x\ny\""), some("1,0.5")),
            (some("plain"), some("2,3.0")),
        ]
    );
}

#[test]
fn avro_values_and_raw_keys_are_whole_messages_even_with_newline_bytes() {
    let t = table_with(
        &base(
            "kafka",
            &[
                ("value.format", "avro"),
                ("key.format", "raw"),
                ("key.fields", "name"),
            ],
        ),
        &[],
        vec![],
        vec![],
    );
    let mut encoder = MessageEncoder::new(&options(&t, ChangelogKind::AppendOnly)).unwrap();
    let mut out = Encoded::default();
    encoder
        .encode(&rows(&[(7, "a\nb", 1.5), (-1, "", 0.0)], None), &mut out)
        .unwrap();
    type Bytes = Option<Vec<u8>>;
    let got: Vec<(Bytes, Bytes)> = out
        .records()
        .iter()
        .map(|r| {
            (
                out.key(r).map(<[u8]>::to_vec),
                out.value(r).map(<[u8]>::to_vec),
            )
        })
        .collect();
    // Avro (Flink's schema: each nullable column a union ["null", type], so a value is
    // its branch index 1, zigzag 2, then the value): a long as a zigzag varint, a string
    // as its zigzag length then its bytes, a double as 8 little-endian bytes.
    let mut first = vec![0x02, 0x0e, 0x02, 0x06, b'a', b'\n', b'b', 0x02];
    first.extend_from_slice(&1.5f64.to_le_bytes());
    let mut second = vec![0x02, 0x01, 0x02, 0x00, 0x02];
    second.extend_from_slice(&0.0f64.to_le_bytes());
    assert_eq!(
        got,
        [
            (Some(b"a\nb".to_vec()), Some(first)),
            (Some(Vec::new()), Some(second)),
        ]
    );
}

#[test]
fn a_null_raw_value_is_a_record_without_a_value() {
    let t = table_with(
        &base(
            "kafka",
            &[
                ("value.format", "raw"),
                ("key.format", "json"),
                ("key.fields", "user_id;amount"),
                ("value.fields-include", "EXCEPT_KEY"),
            ],
        ),
        &[],
        vec![],
        vec![],
    );
    let mut encoder = MessageEncoder::new(&options(&t, ChangelogKind::AppendOnly)).unwrap();
    let mut out = Encoded::default();
    let batch = RecordBatch::try_new(
        rows(&[], None).schema(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(StringArray::from(vec![Some("x\ny"), None, Some("")])),
            Arc::new(Float64Array::from(vec![0.5, 1.0, 2.0])),
        ],
    )
    .unwrap();
    encoder.encode(&batch, &mut out).unwrap();
    assert_eq!(
        records(&out),
        [
            (some(r#"{"user_id":1,"amount":0.5}"#), some("x\ny")),
            (some(r#"{"user_id":2,"amount":1.0}"#), None),
            (some(r#"{"user_id":3,"amount":2.0}"#), some("")),
        ]
    );
}

#[test]
fn upsert_writes_values_and_tombstones_and_drops_superseded_update_befores() {
    use RowKind::*;
    let t = table_with(
        &base(
            "upsert-kafka",
            &[("key.format", "json"), ("value.format", "json")],
        ),
        &["user_id"],
        vec![],
        vec![],
    );
    let mut encoder = MessageEncoder::new(&options(&t, ChangelogKind::Updating)).unwrap();
    let mut out = Encoded::default();
    // User 3's -U has no row of its key after it (a HAVING filtered its +U out): the
    // key is gone, a tombstone. User 1's -U is followed by its +U: nothing.
    let batch = rows(
        &[
            (1, "a", 1.0),
            (1, "a", 1.0),
            (3, "c", 4.0),
            (1, "a", 2.0),
            (2, "b", 5.0),
        ],
        Some(&[Insert, UpdateBefore, UpdateBefore, UpdateAfter, Delete]),
    );
    encoder.encode(&batch, &mut out).unwrap();
    assert_eq!(
        records(&out),
        [
            (
                some(r#"{"user_id":1}"#),
                some(r#"{"name":"a","amount":1.0}"#)
            ),
            (some(r#"{"user_id":3}"#), None),
            (
                some(r#"{"user_id":1}"#),
                some(r#"{"name":"a","amount":2.0}"#)
            ),
            (some(r#"{"user_id":2}"#), None),
        ]
    );
    assert_eq!(
        out.records().iter().map(|r| r.row).collect::<Vec<_>>(),
        [0, 2, 3, 4]
    );
}

#[test]
fn kafka_with_debezium_json_writes_each_change() {
    use RowKind::*;
    let t = table_with(
        &base("kafka", &[("format", "debezium-json")]),
        &[],
        vec![],
        vec![],
    );
    let mut encoder = MessageEncoder::new(&options(&t, ChangelogKind::Updating)).unwrap();
    let mut out = Encoded::default();
    let batch = rows(
        &[(1, "a", 1.0), (1, "a", 2.0)],
        Some(&[UpdateBefore, UpdateAfter]),
    );
    encoder.encode(&batch, &mut out).unwrap();
    assert_eq!(
        records(&out),
        [
            (
                None,
                some(r#"{"before":{"user_id":1,"name":"a","amount":1.0},"after":null,"op":"d"}"#)
            ),
            (
                None,
                some(r#"{"before":null,"after":{"user_id":1,"name":"a","amount":2.0},"op":"c"}"#)
            ),
        ]
    );
}

#[test]
fn timestamp_and_headers_metadata() {
    let (extra, metadata) = timestamp_and_headers();
    let t = table_with(&base("kafka", &[("format", "json")]), &[], extra, metadata);
    let mut encoder = MessageEncoder::new(&options(&t, ChangelogKind::AppendOnly)).unwrap();
    let data = rows(&[(1, "a", 1.0), (2, "b", 2.0)], None);
    let mut headers = MapBuilder::new(
        Some(map_names()),
        StringBuilder::new(),
        BinaryBuilder::new(),
    );
    headers.keys().append_value("trace");
    headers.values().append_value(b"abc");
    headers.keys().append_value("empty");
    headers.values().append_null();
    headers.append(true).unwrap();
    headers.append(false).unwrap();
    let mut columns = data.columns().to_vec();
    columns.push(Arc::new(
        TimestampMillisecondArray::from(vec![Some(1_700_000_000_123), None]).with_timezone("UTC"),
    ));
    columns.push(Arc::new(headers.finish()));
    let batch = RecordBatch::try_new(t.schema.clone(), columns).unwrap();
    let mut out = Encoded::default();
    encoder.encode(&batch, &mut out).unwrap();
    let r = out.records();
    assert_eq!(r[0].timestamp, Some(1_700_000_000_123));
    assert_eq!(r[1].timestamp, None);
    // The value holds the physical columns only.
    assert_eq!(
        text(out.value(&r[0])),
        some(r#"{"user_id":1,"name":"a","amount":1.0}"#)
    );
    let h = out.headers(&r[0]).unwrap();
    let pairs: Vec<(String, Option<Vec<u8>>)> = h
        .iter()
        .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
        .collect();
    assert_eq!(
        pairs,
        [
            ("trace".to_string(), Some(b"abc".to_vec())),
            ("empty".to_string(), None)
        ]
    );
    assert!(out.headers(&r[1]).is_none());
}

/// Encoding a batch in one call and splitting it at newlines, against encoding row by
/// row: prints both (run with `--ignored --nocapture`; debug builds).
#[test]
#[ignore = "a measurement, not a check"]
fn measure_whole_batch_against_row_by_row() {
    let t = table_with(
        &base(
            "kafka",
            &[
                ("format", "json"),
                ("key.format", "json"),
                ("key.fields", "user_id"),
            ],
        ),
        &[],
        vec![],
        vec![],
    );
    let o = options(&t, ChangelogKind::AppendOnly);
    let n = 8192;
    let data: Vec<(i64, String, f64)> = (0..n)
        .map(|i| (i, format!("customer {i}"), i as f64 * 0.5))
        .collect();
    let refs: Vec<(i64, &str, f64)> = data.iter().map(|(a, b, c)| (*a, b.as_str(), *c)).collect();
    let batch = rows(&refs, None);
    let mut encoder = MessageEncoder::new(&o).unwrap();
    let mut out = Encoded::default();
    let start = Instant::now();
    for _ in 0..20 {
        encoder.encode(&batch, &mut out).unwrap();
    }
    let whole = start.elapsed() / 20;
    let mut value = o.kafka.value.encoder(&o.kafka.value_schema()).unwrap();
    let mut buffer = Vec::new();
    let start = Instant::now();
    for _ in 0..20 {
        buffer.clear();
        for row in 0..batch.num_rows() {
            value.encode(&batch.slice(row, 1), &mut buffer).unwrap();
        }
    }
    let by_row = start.elapsed() / 20;
    println!(
        "{n} rows: whole batch (key and value) {whole:?} ({:.0} ns/row), value row by row \
         {by_row:?} ({:.0} ns/row)",
        whole.as_nanos() as f64 / n as f64,
        by_row.as_nanos() as f64 / n as f64
    );
}

/// The field names of `MAP` columns as the planner builds them.
fn map_names() -> MapFieldNames {
    MapFieldNames {
        entry: "entries".into(),
        key: "key".into(),
        value: "value".into(),
    }
}
