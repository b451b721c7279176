//! Scalar functions of Nexmark's stateless queries against the simplest library code
//! doing the same work per row:
//!
//! - `SPLIT_INDEX(url, '/', 3..=5)` (q22) against `str::split('/').nth(i)`;
//! - `DATE_FORMAT(ts, 'yyyy-MM-dd')` and `DATE_FORMAT(ts, 'HH:mm')` (q10, q15) against
//!   chrono's `format` of the same values;
//! - `HOUR(ts)` (q14) against chrono's `hour()`;
//! - `REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2)` (q21) against `Regex::captures`.
//!
//! Each call evaluates one batch of 8,192 Nexmark-like bids (URLs with and without a
//! `channel_id`, timestamps a few milliseconds apart); throughput is in rows.
//!
//! `cargo bench --workspace --bench functions`

use std::hint::black_box;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray, StringBuilder, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, TimeUnit};
use chrono::{DateTime, Timelike};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datafusion::common::config::ConfigOptions;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};
use regex::Regex;
use weir_functions::{DateField, DateFormat, DatePart, RegexpExtract, SplitIndex};

const ROWS: usize = 8_192;

/// Deterministic Nexmark-like URLs and millisecond timestamps.
fn data() -> (StringArray, TimestampMillisecondArray) {
    let mut state: u64 = 7;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let word = |next: &mut dyn FnMut() -> u64| -> String {
        (0..3 + next() % 2)
            .map(|_| char::from(b'a' + (next() % 26) as u8))
            .collect()
    };
    let mut urls = Vec::with_capacity(ROWS);
    let mut times = Vec::with_capacity(ROWS);
    let mut t: i64 = 1_767_225_600_000; // 2026-01-01
    for _ in 0..ROWS {
        let (a, b, c) = (word(&mut next), word(&mut next), word(&mut next));
        let mut url = format!("https://www.nexmark.com/{a}/{b}/{c}/item.htm?query=1");
        if next() % 2 == 0 {
            url.push_str(&format!("&channel_id={}", next()));
        }
        urls.push(url);
        t += (next() % 5) as i64;
        times.push(t);
    }
    (
        StringArray::from(urls),
        TimestampMillisecondArray::from(times),
    )
}

fn call(udf: &ScalarUDF, args: Vec<ColumnarValue>) -> ColumnarValue {
    let arg_fields = args
        .iter()
        .enumerate()
        .map(|(i, a)| Arc::new(Field::new(format!("a{i}"), a.data_type(), true)))
        .collect();
    let return_type = udf
        .return_type(&args.iter().map(|a| a.data_type()).collect::<Vec<_>>())
        .expect("return type");
    udf.invoke_with_args(ScalarFunctionArgs {
        args,
        arg_fields,
        number_rows: ROWS,
        return_field: Arc::new(Field::new("out", return_type, true)),
        config_options: Arc::new(ConfigOptions::new()),
    })
    .expect("function runs")
}

fn array(a: &ArrayRef) -> ColumnarValue {
    ColumnarValue::Array(Arc::clone(a))
}

fn text(s: &str) -> ColumnarValue {
    ColumnarValue::Scalar(ScalarValue::Utf8(Some(s.to_owned())))
}

fn split_index(c: &mut Criterion, urls: &ArrayRef) {
    let udf = ScalarUDF::from(SplitIndex::default());
    let strings = urls.as_any().downcast_ref::<StringArray>().expect("utf8");
    let mut g = c.benchmark_group("split_index_url_3_4_5");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("weir", |b| {
        b.iter(|| {
            for i in 3..=5 {
                let index = ColumnarValue::Scalar(ScalarValue::Int64(Some(i)));
                black_box(call(&udf, vec![array(urls), text("/"), index]));
            }
        })
    });
    g.bench_function("str_split_nth", |b| {
        b.iter(|| {
            for i in 3..=5 {
                let mut out = StringBuilder::with_capacity(ROWS, ROWS * 8);
                for s in strings.iter() {
                    out.append_option(s.and_then(|s| s.split('/').nth(i)));
                }
                black_box(out.finish());
            }
        })
    });
    g.finish();
}

fn date_format(c: &mut Criterion, times: &ArrayRef) {
    let udf = ScalarUDF::from(DateFormat::default());
    let values = times
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .expect("timestamps");
    for (java, strftime) in [("yyyy-MM-dd", "%Y-%m-%d"), ("HH:mm", "%H:%M")] {
        let mut g = c.benchmark_group(format!("date_format_{java}"));
        g.throughput(Throughput::Elements(ROWS as u64));
        g.bench_function("weir", |b| {
            b.iter(|| black_box(call(&udf, vec![array(times), text(java)])))
        });
        g.bench_function("chrono_format", |b| {
            b.iter(|| {
                use std::fmt::Write;
                let mut out = StringBuilder::with_capacity(ROWS, ROWS * 10);
                for v in values.iter() {
                    match v.and_then(DateTime::from_timestamp_millis) {
                        Some(d) => {
                            let _ = write!(out, "{}", d.naive_utc().format(strftime));
                            out.append_value("");
                        }
                        None => out.append_null(),
                    }
                }
                black_box(out.finish())
            })
        });
        g.finish();
    }
}

fn hour(c: &mut Criterion, times: &ArrayRef) {
    let udf = ScalarUDF::from(DatePart::new(DateField::Hour));
    let values = times
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .expect("timestamps");
    let mut g = c.benchmark_group("hour");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("weir", |b| {
        b.iter(|| black_box(call(&udf, vec![array(times)])))
    });
    g.bench_function("chrono_hour", |b| {
        b.iter(|| {
            let out: arrow::array::Int64Array = values
                .iter()
                .map(|v| {
                    v.and_then(DateTime::from_timestamp_millis)
                        .map(|d| i64::from(d.naive_utc().hour()))
                })
                .collect();
            black_box(out)
        })
    });
    g.finish();
}

fn regexp_extract(c: &mut Criterion, urls: &ArrayRef) {
    const PATTERN: &str = "(&|^)channel_id=([^&]*)";
    let udf = ScalarUDF::from(RegexpExtract::default());
    let strings = urls.as_any().downcast_ref::<StringArray>().expect("utf8");
    let regex = Regex::new(PATTERN).expect("valid regex");
    let mut g = c.benchmark_group("regexp_extract_channel_id");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("weir", |b| {
        let group = ColumnarValue::Scalar(ScalarValue::Int64(Some(2)));
        b.iter(|| black_box(call(&udf, vec![array(urls), text(PATTERN), group.clone()])))
    });
    g.bench_function("regex_captures", |b| {
        b.iter(|| {
            let mut out = StringBuilder::with_capacity(ROWS, ROWS * 8);
            for s in strings.iter() {
                let found = s
                    .and_then(|s| regex.captures(s))
                    .and_then(|c| c.get(2))
                    .map(|m| m.as_str());
                out.append_option(found);
            }
            black_box(out.finish())
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let (urls, times) = data();
    let urls: ArrayRef = Arc::new(urls);
    let times: ArrayRef = Arc::new(times);
    assert_eq!(
        times.data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, None)
    );
    split_index(c, &urls);
    date_format(c, &times);
    hour(c, &times);
    regexp_extract(c, &urls);
}

criterion_group!(functions, benches);
criterion_main!(functions);
