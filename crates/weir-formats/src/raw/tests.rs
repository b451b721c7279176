//! Tests of the `raw` format.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BinaryArray, Int32Array, StringArray};
use arrow::datatypes::{DataType, Field, Int32Type};

use super::*;
use crate::{format_options, FormatConfig};

fn one(name: &str, data_type: DataType, nullable: bool) -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(name, data_type, nullable)]))
}

fn raw(pairs: &[(&str, &str)]) -> Result<FormatConfig, FormatError> {
    let options: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    format_options("raw", &options)
}

#[test]
fn a_message_is_the_whole_value_line_breaks_included() {
    let mut d = raw(&[])
        .unwrap()
        .message_decoder(one("log", DataType::Utf8, true))
        .unwrap();
    d.set_origin("topic 'logs' partition 0");
    let msgs: Vec<&[u8]> = vec![b"GET /a\nHost: x\r\n", b"", &[0x66, 0xff], "é".as_bytes()];
    let out = d.decode_messages(&msgs).unwrap();
    assert_eq!(out.row_messages, vec![0, 1, 3]);
    let logs: &StringArray = out.batches[0].column(0).as_string();
    assert_eq!(logs.value(0), "GET /a\nHost: x\r\n");
    assert!(logs.is_null(1));
    assert_eq!(logs.value(2), "é");
    assert_eq!(out.bad.len(), 1);
    assert_eq!(out.bad[0].index, 2);
    let text = out.bad[0].error.to_string();
    assert!(
        text.starts_with(
            "topic 'logs' partition 0:3: cannot parse raw record: the value is not UTF-8"
        ),
        "{text}"
    );
    // Bytes take anything.
    let mut d = raw(&[])
        .unwrap()
        .message_decoder(one("b", DataType::Binary, true))
        .unwrap();
    let out = d.decode_messages(&msgs).unwrap();
    let b: &BinaryArray = out.batches[0].column(0).as_binary();
    assert_eq!(b.value(2), &[0x66, 0xff]);
    assert!(out.bad.is_empty());
}

#[test]
fn numbers_in_both_byte_orders() {
    let msgs: Vec<&[u8]> = vec![&[0, 0, 1, 2], &[1, 2, 3], &[0xff, 0xff, 0xff, 0xfe]];
    let mut big = raw(&[])
        .unwrap()
        .message_decoder(one("n", DataType::Int32, true))
        .unwrap();
    let out = big.decode_messages(&msgs).unwrap();
    let n = out.batches[0].column(0).as_primitive::<Int32Type>();
    assert_eq!(n.values().to_vec(), vec![258, -2]);
    assert_eq!(out.row_messages, vec![0, 2]);
    assert_eq!(
        out.bad[0].error.reason(),
        "a INT is 4 bytes, the value has 3"
    );
    let mut little = raw(&[("raw.endianness", "little-endian")])
        .unwrap()
        .message_decoder(one("n", DataType::Int32, true))
        .unwrap();
    let out = little.decode_messages(&msgs[..1]).unwrap();
    let n = out.batches[0].column(0).as_primitive::<Int32Type>();
    assert_eq!(n.value(0), 0x0201_0000);
    let mut flag = raw(&[])
        .unwrap()
        .message_decoder(one("ok", DataType::Boolean, false))
        .unwrap();
    let out = flag.decode_messages(&[&[1], &[0], &[2], &[]]).unwrap();
    let ok = out.batches[0].column(0).as_boolean();
    assert_eq!((ok.value(0), ok.value(1)), (true, false));
    let reasons: Vec<String> = out.bad.iter().map(|b| b.error.reason()).collect();
    assert_eq!(
        reasons,
        [
            "a BOOLEAN is one byte, 0 or 1; found 2",
            "the value is empty (NULL) but column 'ok' is declared NOT NULL"
        ]
    );
    assert!(!out.batches[0].schema().field(0).is_nullable());
}

#[test]
fn message_encoder_round_trips_every_type() {
    let cases: Vec<(DataType, ArrayRef)> = vec![
        (
            DataType::Utf8,
            Arc::new(StringArray::from(vec![Some("a\nb"), None])),
        ),
        (
            DataType::Binary,
            Arc::new(BinaryArray::from(vec![Some(&[0u8, 255][..]), None])),
        ),
        (
            DataType::Boolean,
            Arc::new(arrow::array::BooleanArray::from(vec![Some(true), None])),
        ),
        (
            DataType::Int8,
            Arc::new(arrow::array::Int8Array::from(vec![Some(-3), None])),
        ),
        (
            DataType::Int16,
            Arc::new(arrow::array::Int16Array::from(vec![Some(-300), None])),
        ),
        (
            DataType::Int32,
            Arc::new(Int32Array::from(vec![Some(70_000), None])),
        ),
        (
            DataType::Int64,
            Arc::new(arrow::array::Int64Array::from(vec![Some(-1 << 40), None])),
        ),
        (
            DataType::Float32,
            Arc::new(arrow::array::Float32Array::from(vec![Some(1.5), None])),
        ),
        (
            DataType::Float64,
            Arc::new(arrow::array::Float64Array::from(vec![Some(-2.25), None])),
        ),
    ];
    for endianness in ["big-endian", "little-endian"] {
        let config = raw(&[("raw.endianness", endianness)]).unwrap();
        for (data_type, column) in &cases {
            let schema = one("v", data_type.clone(), true);
            let batch = RecordBatch::try_new(schema.clone(), vec![column.clone()]).unwrap();
            let mut out = Vec::new();
            config
                .message_encoder(&schema)
                .unwrap()
                .encode_messages(&batch, &mut out)
                .unwrap();
            assert_eq!(out.len(), 2);
            assert_eq!(out[1], None, "{data_type}");
            let value = out[0].clone().unwrap();
            let decoded = config
                .message_decoder(schema.clone())
                .unwrap()
                .decode_messages(&[&value, &[]])
                .unwrap();
            assert!(decoded.bad.is_empty(), "{data_type}");
            assert_eq!(decoded.batches[0], batch, "{data_type} {endianness}");
        }
    }
    // Big-endian by default, as Flink.
    let schema = one("v", DataType::Int16, true);
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(arrow::array::Int16Array::from(vec![0x0102]))],
    )
    .unwrap();
    let mut out = Vec::new();
    raw(&[])
        .unwrap()
        .message_encoder(&schema)
        .unwrap()
        .encode_messages(&batch, &mut out)
        .unwrap();
    assert_eq!(out, vec![Some(vec![1, 2])]);
}

#[test]
fn files_hold_one_value_per_line() {
    let mut d = raw(&[])
        .unwrap()
        .decoder(one("line", DataType::Utf8, true))
        .unwrap();
    d.set_origin("logs.txt");
    let decoded = d.decode(b"a b\r\n\n{not json}\nlast", 1).unwrap();
    let lines: Vec<Option<&str>> = decoded.batches[0]
        .column(0)
        .as_string::<i32>()
        .iter()
        .collect();
    assert_eq!(
        lines,
        vec![Some("a b"), None, Some("{not json}"), Some("last")]
    );
    let err = d.decode(b"ok\n\xff\n", 3).unwrap_err().to_string();
    assert!(
        err.starts_with("logs.txt:4: cannot parse raw record: the value is not UTF-8"),
        "{err}"
    );
    let reported = d.decode_reporting(b"ok\n\xff\nfine\n", 3).unwrap();
    assert_eq!(reported.num_rows(), 2);
    assert_eq!(
        (reported.bad[0].line, reported.bad[0].range.clone()),
        (4, 3..4)
    );
    // Written back: one line per value, NULL as an empty line.
    let batch = &decoded.batches[0];
    let mut out = Vec::new();
    raw(&[])
        .unwrap()
        .encoder(&batch.schema())
        .unwrap()
        .encode(batch, &mut out)
        .unwrap();
    assert_eq!(out, b"a b\n\n{not json}\nlast\n");
}

#[test]
fn tables_and_options_raw_cannot_use_are_refused() {
    let two = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Utf8, true),
        Field::new("b", DataType::Utf8, true),
    ]));
    let config = raw(&[]).unwrap();
    let err = config.message_decoder(two).err().unwrap().to_string();
    assert!(
        err.contains("exactly one physical column, but the table has 2 (a, b)"),
        "{err}"
    );
    let err = config
        .message_decoder(one("d", DataType::Date32, true))
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "format 'raw' does not support column 'd' of type Date32"
    );
    let err = config
        .decoder(one("n", DataType::Int64, true))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("only from messages (Kafka)"), "{err}");
    assert!(config.encoder(&one("n", DataType::Int64, true)).is_err());
    let err = raw(&[("raw.charset", "ISO-8859-1")])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("invalid value 'ISO-8859-1' for option 'raw.charset': only UTF-8"),
        "{err}"
    );
    assert!(raw(&[("raw.charset", "utf-8")]).is_ok());
    assert!(raw(&[("raw.endianness", "middle")]).is_err());
    assert!(raw(&[("raw.ignore-parse-errors", "true")]).is_err());
}
