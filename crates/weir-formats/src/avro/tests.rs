//! Tests of the `avro` format: the derived schema, bytes written down from the Avro
//! specification, round trips of every supported type, bad messages.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, Int8Array, StringArray, Time32MillisecondArray,
    TimestampMicrosecondArray, TimestampMillisecondArray,
};

use super::*;
use crate::{format_options, FormatConfig};

fn avro(pairs: &[(&str, &str)]) -> FormatConfig {
    let options: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    format_options("avro", &options).unwrap()
}

/// `id BIGINT NOT NULL, name STRING, ok BOOLEAN NOT NULL, amount DECIMAL(5, 2) NOT NULL,
/// day DATE`.
fn small() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("ok", DataType::Boolean, false),
        Field::new("amount", DataType::Decimal128(5, 2), false),
        Field::new("day", DataType::Date32, true),
    ]))
}

/// The two records of `small()`, written down from the specification's encoding rules:
/// longs and ints as zigzag varints, a union as its branch index (a zigzag varint) then
/// the value, strings and bytes as a zigzag length then the bytes, booleans as one byte,
/// a decimal as the bytes of its unscaled value (big-endian two's complement), a date as
/// an int of days since 1970-01-01.
fn small_bytes() -> [Vec<u8>; 2] {
    [
        // {id: 1, name: "ab", ok: true, amount: 1.23, day: 2024-01-02}
        vec![
            0x02, // id: zigzag(1) = 2
            0x02, 0x04, b'a', b'b', // name: branch 1 (string), length 2, "ab"
            0x01, // ok: true
            0x02, 0x7b, // amount: 1 byte, 123
            0x02, 0x98, 0xb4, 0x02, // day: branch 1, zigzag(19724) = 39448 as a varint
        ],
        // {id: -65, name: null, ok: false, amount: -1.28, day: null}
        vec![
            0x81, 0x01, // id: zigzag(-65) = 129
            0x00, // name: branch 0 (null)
            0x00, // ok: false
            0x02, 0x80, // amount: 1 byte, -128
            0x00, // day: null
        ],
    ]
}

fn small_batch() -> RecordBatch {
    RecordBatch::try_new(
        small(),
        vec![
            Arc::new(Int64Array::from(vec![1, -65])),
            Arc::new(StringArray::from(vec![Some("ab"), None])),
            Arc::new(BooleanArray::from(vec![true, false])),
            Arc::new(
                Decimal128Array::from(vec![123, -128])
                    .with_precision_and_scale(5, 2)
                    .unwrap(),
            ),
            Arc::new(Date32Array::from(vec![Some(19724), None])),
        ],
    )
    .unwrap()
}

#[test]
fn schema_is_derived_as_flink_does() {
    let text = avro_schema(&small(), &AvroOptions::default()).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        value,
        json!({
            "type": "record", "name": "record", "namespace": "org.apache.flink.avro.generated",
            "fields": [
                {"name": "id", "type": "long"},
                {"name": "name", "type": ["null", "string"], "default": null},
                {"name": "ok", "type": "boolean"},
                {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 2}},
                {"name": "day", "type": ["null", {"type": "int", "logicalType": "date"}], "default": null},
            ]
        })
    );
    let ts = Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new(
            "ltz",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]);
    let legacy = avro_schema(&ts, &AvroOptions::default()).unwrap();
    assert!(
        legacy.contains(r#""logicalType":"timestamp-millis""#),
        "{legacy}"
    );
    assert!(
        legacy.contains(r#""logicalType":"timestamp-micros""#),
        "{legacy}"
    );
    let FormatConfig::Avro(options) = avro(&[("avro.timestamp_mapping.legacy", "false")]) else {
        panic!("not avro");
    };
    let local = avro_schema(&ts, &options).unwrap();
    assert!(
        local.contains(r#""logicalType":"local-timestamp-millis""#),
        "{local}"
    );
    assert!(
        local.contains(r#""logicalType":"timestamp-micros""#),
        "{local}"
    );
}

#[test]
fn decodes_bytes_written_from_the_specification() {
    let mut d = avro(&[]).message_decoder(small()).unwrap();
    let [a, b] = small_bytes();
    let out = d.decode_messages(&[&a, &b]).unwrap();
    assert!(out.bad.is_empty(), "{:?}", out.bad);
    assert_eq!(out.row_messages, vec![0, 1]);
    assert_eq!(out.batches, vec![small_batch()]);
}

#[test]
fn encodes_the_bytes_of_the_specification() {
    let mut e = avro(&[]).message_encoder(&small()).unwrap();
    let mut out = Vec::new();
    e.encode_messages(&small_batch(), &mut out).unwrap();
    let [a, b] = small_bytes();
    assert_eq!(out, vec![Some(a), Some(b)]);
}

#[test]
fn every_supported_type_round_trips() {
    let fields = vec![
        Field::new("b", DataType::Boolean, true),
        Field::new("i8", DataType::Int8, true),
        Field::new("i16", DataType::Int16, true),
        Field::new("i32", DataType::Int32, true),
        Field::new("i64", DataType::Int64, true),
        Field::new("f32", DataType::Float32, true),
        Field::new("f64", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("bin", DataType::Binary, true),
        Field::new("dec", DataType::Decimal128(38, 10), true),
        Field::new("d", DataType::Date32, true),
        Field::new("t", DataType::Time32(TimeUnit::Millisecond), true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new(
            "ts6",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new(
            "ltz",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
    ];
    let schema = Arc::new(Schema::new(fields));
    let big = 10_i128.pow(37) + 7;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
        Arc::new(Int8Array::from(vec![Some(-128), None, Some(127)])),
        Arc::new(Int16Array::from(vec![Some(-32768), None, Some(300)])),
        Arc::new(Int32Array::from(vec![Some(i32::MIN), None, Some(i32::MAX)])),
        Arc::new(Int64Array::from(vec![Some(i64::MIN), None, Some(i64::MAX)])),
        Arc::new(Float32Array::from(vec![
            Some(1.5),
            None,
            Some(f32::INFINITY),
        ])),
        Arc::new(Float64Array::from(vec![Some(-0.1), None, Some(1e300)])),
        Arc::new(StringArray::from(vec![Some("é\n\"x\""), None, Some("")])),
        Arc::new(BinaryArray::from(vec![
            Some(&[0u8, 0xff][..]),
            None,
            Some(&[][..]),
        ])),
        Arc::new(
            Decimal128Array::from(vec![Some(big), None, Some(-big)])
                .with_precision_and_scale(38, 10)
                .unwrap(),
        ),
        Arc::new(Date32Array::from(vec![Some(-1), None, Some(19724)])),
        Arc::new(Time32MillisecondArray::from(vec![
            Some(0),
            None,
            Some(86_399_999),
        ])),
        Arc::new(TimestampMillisecondArray::from(vec![
            Some(1_704_103_200_123),
            None,
            Some(-1),
        ])),
        Arc::new(TimestampMicrosecondArray::from(vec![
            Some(1_704_103_200_123_456),
            None,
            Some(0),
        ])),
        Arc::new(
            TimestampMillisecondArray::from(vec![Some(1), None, Some(2)]).with_timezone("UTC"),
        ),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    for config in [
        avro(&[]),
        avro(&[("avro.timestamp_mapping.legacy", "false")]),
    ] {
        let mut out = Vec::new();
        config
            .message_encoder(&schema)
            .unwrap()
            .encode_messages(&batch, &mut out)
            .unwrap();
        let messages: Vec<Vec<u8>> = out.into_iter().map(Option::unwrap).collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let decoded = config
            .message_decoder(schema.clone())
            .unwrap()
            .decode_messages(&refs)
            .unwrap();
        assert!(decoded.bad.is_empty(), "{:?}", decoded.bad);
        assert_eq!(decoded.batches, vec![batch.clone()]);
    }
}

#[test]
fn bad_messages_are_reported_with_their_index() {
    let mut d = avro(&[]).message_decoder(small()).unwrap();
    d.set_origin("topic 'orders' partition 1");
    let [a, _] = small_bytes();
    let truncated = &a[..4];
    let mut trailing = a.clone();
    trailing.push(0);
    // The Confluent wire format: magic byte 0 and a 4-byte schema id first.
    let mut confluent = vec![0, 0, 0, 0, 1];
    confluent.extend_from_slice(&a);
    let bad_union = [0x02, 0x04, 0x00, 0x00, 0x02, 0x7b, 0x00];
    let messages: Vec<&[u8]> = vec![truncated, &a, &trailing, &confluent, &bad_union, &[]];
    let out = d.decode_messages(&messages).unwrap();
    assert_eq!(out.row_messages, vec![1]);
    let bad: Vec<usize> = out.bad.iter().map(|b| b.index).collect();
    assert_eq!(bad, vec![0, 2, 3, 4, 5]);
    let text = out.bad[1].error.to_string();
    assert!(
        text.starts_with(
            "topic 'orders' partition 1:3: cannot parse Avro record: 1 bytes follow the Avro datum"
        ),
        "{text}"
    );
    let tiny = Arc::new(Schema::new(vec![Field::new("t", DataType::Int8, false)]));
    let mut d = avro(&[]).message_decoder(tiny).unwrap();
    // zigzag(300) = 600 = 0xd8 0x04
    let out = d.decode_messages(&[&[0xd8, 0x04], &[0x02]]).unwrap();
    assert_eq!(out.row_messages, vec![1]);
    assert_eq!(
        out.bad[0].error.reason(),
        "field 't': 300 is out of range of a TINYINT"
    );
}

#[test]
fn files_and_unsupported_columns_are_refused() {
    let config = avro(&[]);
    let err = config.decoder(small()).err().unwrap().to_string();
    assert!(
        err.contains("Avro container files are not supported"),
        "{err}"
    );
    assert!(config.encoder(&small()).is_err());
    let nested = Schema::new(vec![Field::new(
        "tags",
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        true,
    )]);
    let err = config.message_encoder(&nested).err().unwrap().to_string();
    assert!(
        err.starts_with("format 'avro' does not support column 'tags'"),
        "{err}"
    );
    let spaced = Schema::new(vec![Field::new("my col", DataType::Utf8, true)]);
    let err = config
        .message_decoder(Arc::new(spaced))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("cannot name a field 'my col'"), "{err}");
    let mut o = BTreeMap::new();
    o.insert("avro.codec".to_string(), "snappy".to_string());
    assert!(format_options("avro", &o).is_err());
}
