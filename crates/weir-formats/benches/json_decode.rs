//! JSON lines to Arrow: Weir's `JsonDecoder` (the `json` format of every file and Kafka
//! source), with its fast decoder of flat schemas and with arrow-json only, against
//! arrow-json's `Decoder` alone on the same bytes; every column, and projected (only
//! `auction`, `price` and `dateTime`, what q1 and q2 read).
//!
//! The input is 16,384 Nexmark-like bids (seven columns: three BIGINT, three STRING, one
//! TIMESTAMP(3) in Flink's SQL format), about 3.5 MB. Throughput is in bytes and rows.
//!
//! `cargo bench --workspace --bench json_decode`

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::json::ReaderBuilder;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use weir_formats::{JsonDecoder, JsonOptions, RecordDecoder};

const ROWS: usize = 16_384;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("auction", DataType::Int64, true),
        Field::new("bidder", DataType::Int64, true),
        Field::new("price", DataType::Int64, true),
        Field::new("channel", DataType::Utf8, true),
        Field::new("url", DataType::Utf8, true),
        Field::new(
            "dateTime",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
        Field::new("extra", DataType::Utf8, true),
    ]))
}

/// Deterministic bids shaped like the `nexmark` connector's (a linear congruential
/// generator picks the numbers and letters).
fn lines() -> Vec<u8> {
    let mut state: u64 = 42;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let mut out = Vec::new();
    for i in 0..ROWS {
        let letters: String = (0..60 + next() % 40)
            .map(|_| (b'a' + (next() % 26) as u8) as char)
            .collect();
        let line = format!(
            concat!(
                r#"{{"auction":{},"bidder":{},"price":{},"channel":"channel-{}","#,
                r#""url":"https://www.nexmark.com/abc/def/ghi/item.htm?query=1&channel_id={}","#,
                r#""dateTime":"2026-01-01 00:{:02}:{:02}.{:03}","extra":"{}"}}"#,
                "\n"
            ),
            1000 + next() % 10_000,
            1000 + next() % 50_000,
            next() % 100_000_000,
            next() % 10_000,
            next(),
            (i / 60_000) % 60,
            (i / 1000) % 60,
            i % 1000,
            letters
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}

fn bench(c: &mut Criterion) {
    let bytes = lines();
    let schema = schema();
    let mut group = c.benchmark_group("json_decode");
    group.throughput(Throughput::Bytes(bytes.len() as u64));

    let projected = Arc::new(schema.project(&[0, 2, 5]).unwrap());
    for (name, schema) in [("", &schema), (", projected", &projected)] {
        group.bench_function(format!("arrow-json Decoder alone{name}"), |b| {
            let mut decoder = ReaderBuilder::new(schema.clone())
                .with_batch_size(8192)
                .build_decoder()
                .unwrap();
            b.iter(|| {
                let mut rows = 0;
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    let read = decoder.decode(rest).unwrap();
                    rest = &rest[read..];
                    if let Some(batch) = decoder.flush().unwrap() {
                        rows += batch.num_rows();
                    }
                }
                if let Some(batch) = decoder.flush().unwrap() {
                    rows += batch.num_rows();
                }
                assert_eq!(rows, ROWS);
            })
        });
    }

    for (name, schema) in [("", &schema), (", projected", &projected)] {
        for (path, fast) in [("fast decoder", true), ("arrow-json only", false)] {
            group.bench_function(format!("weir JsonDecoder ({path}){name}"), |b| {
                let mut decoder = JsonDecoder::new(schema.clone(), JsonOptions::default())
                    .unwrap()
                    .with_fast_path(fast);
                decoder.set_origin("bench");
                b.iter(|| {
                    let decoded = decoder.decode(&bytes, 1).unwrap();
                    assert_eq!(decoded.num_rows(), ROWS);
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
