//! Tests of the window aggregation: hand-computed TUMBLE/HOP cases, and HOP/CUMULATE
//! against a naive reference that recomputes every window from the raw rows.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, Int64Array, StringArray, TimestampMillisecondArray, TimestampSecondArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::functions_aggregate::average::avg_udaf;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::min_max::{max_udaf, min_udaf};
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::logical_expr::{AggregateUDF, Operator as BinOp};
use datafusion::physical_expr::aggregate::AggregateExprBuilder;
use datafusion::physical_expr::expressions::{binary, cast as cast_expr, col, lit};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weir_types::Message;

use super::*;

/// One input row: event time (ms), key, value.
type Row = (Option<i64>, Option<&'static str>, Option<i64>);

enum Ev {
    Rows(Vec<Row>),
    Wm(i64),
}

fn input_schema(unit: TimeUnit, tz: Option<&str>) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Timestamp(unit, tz.map(Into::into)), true),
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
    ]))
}

fn batch(schema: &SchemaRef, rows: &[Row]) -> RecordBatch {
    let ts: ArrayRef = match schema.field(0).data_type() {
        DataType::Timestamp(TimeUnit::Second, tz) => Arc::new(
            TimestampSecondArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())
                .with_timezone_opt(tz.clone()),
        ),
        DataType::Timestamp(_, tz) => Arc::new(
            TimestampMillisecondArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())
                .with_timezone_opt(tz.clone()),
        ),
        other => panic!("bad time type {other}"),
    };
    let k = StringArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>());
    let v = Int64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>());
    RecordBatch::try_new(schema.clone(), vec![ts, Arc::new(k), Arc::new(v)]).unwrap()
}

/// `udaf(v)`, optionally DISTINCT, with an optional `FILTER (WHERE v > gt)`.
fn agg(
    schema: &SchemaRef,
    udaf: Arc<AggregateUDF>,
    alias: &str,
    distinct: bool,
    filter_gt: Option<i64>,
) -> FilteredAggregate {
    let v = col("v", schema).unwrap();
    // The planner coerces AVG's argument to DOUBLE, as DataFusion's type coercion does.
    let arg = if udaf.name() == "avg" {
        cast_expr(v.clone(), schema, DataType::Float64).unwrap()
    } else {
        v.clone()
    };
    let expr = AggregateExprBuilder::new(udaf, vec![arg])
        .schema(schema.clone())
        .alias(alias)
        .with_distinct(distinct)
        .build()
        .unwrap();
    let filter = filter_gt.map(|gt| binary(v, BinOp::Gt, lit(gt), schema).unwrap());
    (Arc::new(expr), filter)
}

fn window_aggregate(
    spec: WindowSpec,
    input: &SchemaRef,
    keyed: bool,
    aggregates: Vec<FilteredAggregate>,
) -> WindowAggregate {
    let tz = match input.field(0).data_type() {
        DataType::Timestamp(_, tz) => tz.clone(),
        _ => None,
    };
    let bound = DataType::Timestamp(TimeUnit::Millisecond, tz);
    let mut fields = vec![
        Field::new("window_start", bound.clone(), false),
        Field::new("window_end", bound, false),
    ];
    if keyed {
        fields.push(input.field(1).clone());
    }
    fields.extend(aggregates.iter().map(|(a, _)| a.field().as_ref().clone()));
    WindowAggregate {
        window: spec,
        time_column: 0,
        key_columns: if keyed { vec![1] } else { vec![] },
        aggregates,
        output_schema: Arc::new(Schema::new(fields)),
    }
}

/// Formats output rows: window bounds as epoch millis, other columns as SQL values.
fn rows_of(batch: &RecordBatch) -> Vec<Vec<String>> {
    let bounds: Vec<ArrayRef> = (0..2)
        .map(|i| cast(batch.column(i), &DataType::Int64).unwrap())
        .collect();
    (0..batch.num_rows())
        .map(|r| {
            let mut row: Vec<String> = bounds
                .iter()
                .map(|b| b.as_any().downcast_ref::<Int64Array>().unwrap().value(r).to_string())
                .collect();
            for c in batch.columns().iter().skip(2) {
                row.push(ScalarValue::try_from_array(c, r).unwrap().to_string());
            }
            row
        })
        .collect()
}

/// Runs events through the operator; returns, per event, the messages it emitted.
fn drive(
    op: &mut WindowAggregateOperator,
    schema: &SchemaRef,
    events: Vec<Ev>,
) -> Vec<Vec<Message>> {
    let mut all = Vec::new();
    for ev in events {
        let mut out = Output::default();
        match ev {
            Ev::Rows(rows) => op.process_batch(0, batch(schema, &rows), &mut out).unwrap(),
            Ev::Wm(w) => op.process_watermark(Watermark(w), &mut out).unwrap(),
        }
        all.push(out.drain().collect());
    }
    all
}

/// The rows of a watermark's output, checking that the watermark comes last.
fn fired(messages: &[Message], watermark: i64) -> Vec<Vec<String>> {
    let (last, batches) = messages.split_last().expect("watermark forwarded");
    assert!(matches!(last, Message::Watermark(Watermark(w)) if *w == watermark));
    batches
        .iter()
        .flat_map(|m| match m {
            Message::Batch(b) => rows_of(b),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

fn r(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

fn late(op: &WindowAggregateOperator) -> u64 {
    JobMetrics::get(&op.metrics.late_records_dropped)
}

#[test]
fn tumble_count_sum_max_filter_per_key_with_late_rows() {
    let schema = input_schema(TimeUnit::Millisecond, Some("UTC"));
    let def = window_aggregate(
        WindowSpec::Tumble {
            size_ms: 10_000,
            offset_ms: 0,
        },
        &schema,
        true,
        vec![
            agg(&schema, count_udaf(), "cnt", false, None),
            agg(&schema, sum_udaf(), "total", false, None),
            agg(&schema, max_udaf(), "top", false, None),
            agg(&schema, count_udaf(), "big", false, Some(2)),
        ],
    );
    let ctx = SubtaskContext::single("window");
    let mut op = WindowAggregateOperator::new(Arc::new(def), &ctx).unwrap();
    let out = drive(
        &mut op,
        &schema,
        vec![
            Ev::Rows(vec![
                (Some(1000), Some("a"), Some(1)),
                (Some(12_000), Some("a"), Some(5)),
                (Some(3000), Some("b"), Some(2)),
                (Some(2000), Some("a"), Some(3)),
                (Some(4000), None, Some(4)),
                (Some(5000), Some("b"), None),
                (None, Some("z"), Some(1000)),
            ]),
            Ev::Wm(9998),
            Ev::Wm(9999),
            Ev::Rows(vec![
                (Some(5000), Some("a"), Some(100)),
                (Some(15_000), Some("b"), Some(7)),
                (Some(11_000), Some("a"), Some(1)),
                (Some(9999), Some("c"), Some(1)),
                (Some(-5000), Some("c"), Some(1)),
            ]),
            Ev::Wm(15_000),
            Ev::Wm(19_999),
            Ev::Rows(vec![(Some(25_000), Some("c"), Some(9))]),
            Ev::Wm(i64::MAX),
        ],
    );
    assert!(out[0].is_empty());
    assert!(fired(&out[1], 9998).is_empty());
    assert_eq!(
        sorted(fired(&out[2], 9999)),
        vec![
            r(&["0", "10000", "NULL", "1", "4", "4", "1"]),
            r(&["0", "10000", "a", "2", "4", "3", "1"]),
            r(&["0", "10000", "b", "1", "2", "2", "0"]),
        ]
    );
    assert_eq!(late(&op), 3);
    assert!(fired(&out[4], 15_000).is_empty());
    assert_eq!(
        sorted(fired(&out[5], 19_999)),
        vec![
            r(&["10000", "20000", "a", "2", "6", "5", "1"]),
            r(&["10000", "20000", "b", "1", "7", "7", "1"]),
        ]
    );
    assert_eq!(
        fired(&out[7], i64::MAX),
        vec![r(&["20000", "30000", "c", "1", "9", "9", "1"])]
    );
    assert_eq!(op.live_slices(), 0);
    // The window bounds keep the time column's time zone.
    let Message::Batch(b) = &out[2][0] else {
        panic!("expected a batch")
    };
    assert_eq!(
        b.schema().field(0).data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
}

#[test]
fn tumble_with_offset_without_keys_fires_everything_at_max() {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let def = window_aggregate(
        WindowSpec::Tumble {
            size_ms: 10_000,
            offset_ms: 2000,
        },
        &schema,
        false,
        vec![agg(&schema, count_udaf(), "cnt", false, None)],
    );
    // Through the factory, as the runtime creates it.
    let mut op = def
        .into_factory()
        .create(&SubtaskContext::single("window"))
        .unwrap();
    let mut out = Output::default();
    let rows = [
        (Some(1000), Some("x"), Some(1)),
        (Some(2000), Some("x"), Some(2)),
        (Some(11_999), Some("x"), Some(3)),
        (Some(-8000), Some("x"), Some(4)),
        (Some(12_000), Some("x"), Some(5)),
    ];
    op.process_batch(0, batch(&schema, &rows), &mut out).unwrap();
    assert!(out.is_empty());
    op.process_watermark(Watermark::MAX, &mut out).unwrap();
    let messages: Vec<Message> = out.drain().collect();
    // Windows in order of their end, in one coalesced batch.
    assert_eq!(
        fired(&messages, i64::MAX),
        vec![
            r(&["-8000", "2000", "2"]),
            r(&["2000", "12000", "2"]),
            r(&["12000", "22000", "1"]),
        ]
    );
    assert_eq!(messages.len(), 2);
}

#[test]
fn seconds_time_column_gives_millisecond_bounds() {
    let schema = input_schema(TimeUnit::Second, Some("+08:00"));
    let def = window_aggregate(
        WindowSpec::Tumble {
            size_ms: 10_000,
            offset_ms: 0,
        },
        &schema,
        true,
        vec![agg(&schema, avg_udaf(), "mean", false, None)],
    );
    let mut op =
        WindowAggregateOperator::new(Arc::new(def), &SubtaskContext::single("w")).unwrap();
    let out = drive(
        &mut op,
        &schema,
        vec![
            Ev::Rows(vec![
                (Some(1), Some("a"), Some(1)),
                (Some(9), Some("a"), Some(2)),
                (Some(11), Some("a"), Some(4)),
            ]),
            Ev::Wm(9999),
            Ev::Wm(i64::MAX),
        ],
    );
    assert_eq!(fired(&out[1], 9999), vec![r(&["0", "10000", "a", "1.5"])]);
    assert_eq!(
        fired(&out[2], i64::MAX),
        vec![r(&["10000", "20000", "a", "4"])]
    );
}

#[test]
fn hop_late_row_counts_only_for_unfired_windows() {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let def = window_aggregate(
        WindowSpec::Hop {
            size_ms: 10_000,
            slide_ms: 5000,
            offset_ms: 0,
        },
        &schema,
        true,
        vec![
            agg(&schema, count_udaf(), "cnt", false, None),
            agg(&schema, sum_udaf(), "total", false, None),
        ],
    );
    let mut op =
        WindowAggregateOperator::new(Arc::new(def), &SubtaskContext::single("w")).unwrap();
    let out = drive(
        &mut op,
        &schema,
        vec![
            Ev::Rows(vec![(Some(7000), Some("a"), Some(1))]),
            Ev::Wm(9999),
            // Slice [5000, 10000): window [0, 10000) fired, [5000, 15000) not: added.
            // Slice [0, 5000): windows [-5000, 5000) and [0, 10000) fired: late.
            Ev::Rows(vec![
                (Some(6000), Some("a"), Some(2)),
                (Some(3000), Some("a"), Some(4)),
            ]),
            Ev::Wm(i64::MAX),
        ],
    );
    assert_eq!(fired(&out[1], 9999), vec![r(&["0", "10000", "a", "1", "1"])]);
    assert_eq!(
        fired(&out[3], i64::MAX),
        vec![r(&["5000", "15000", "a", "2", "3"])]
    );
    assert_eq!(late(&op), 1);
    assert_eq!(op.live_slices(), 0);
}

/// Windows containing `ts`, enumerated by brute force from the definition.
fn naive_windows(spec: &WindowSpec, ts: i64) -> Vec<(i64, i64)> {
    let mut windows = Vec::new();
    match *spec {
        WindowSpec::Tumble { size_ms, offset_ms } => {
            for k in -100..100 {
                let s = offset_ms + k * size_ms;
                if s <= ts && ts < s + size_ms {
                    windows.push((s, s + size_ms));
                }
            }
        }
        WindowSpec::Hop {
            size_ms,
            slide_ms,
            offset_ms,
        } => {
            for k in -100..100 {
                let s = offset_ms + k * slide_ms;
                if s <= ts && ts < s + size_ms {
                    windows.push((s, s + size_ms));
                }
            }
        }
        WindowSpec::Cumulate {
            step_ms,
            max_size_ms,
            offset_ms,
        } => {
            for k in -100..100 {
                let w = offset_ms + k * max_size_ms;
                for j in 1..=max_size_ms / step_ms {
                    if w <= ts && ts < w + j * step_ms {
                        windows.push((w, w + j * step_ms));
                    }
                }
            }
        }
    }
    windows
}

/// COUNT, SUM, MIN, MAX, AVG, SUM(DISTINCT), SUM FILTER (v > 50) of `v`, as SQL values.
fn naive_aggregates(values: &[Option<i64>]) -> Vec<String> {
    let present: Vec<i64> = values.iter().flatten().copied().collect();
    let opt = |v: Option<i64>| ScalarValue::Int64(v).to_string();
    let sum = |v: &[i64]| (!v.is_empty()).then(|| v.iter().sum::<i64>());
    let mut distinct = present.clone();
    distinct.sort();
    distinct.dedup();
    let big: Vec<i64> = present.iter().copied().filter(|v| *v > 50).collect();
    let avg = sum(&present).map(|s| s as f64 / present.len() as f64);
    vec![
        ScalarValue::Int64(Some(present.len() as i64)).to_string(),
        opt(sum(&present)),
        opt(present.iter().min().copied()),
        opt(present.iter().max().copied()),
        ScalarValue::Float64(avg).to_string(),
        opt(sum(&distinct)),
        opt(sum(&big)),
    ]
}

/// Random out-of-order rows with a bounded-delay watermark, compared with the naive
/// reference: same rows (multiset), each emitted at the first watermark reaching its
/// window, same late count, no state left.
fn check_against_naive(spec: WindowSpec, seed: u64) {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let aggregates = vec![
        agg(&schema, count_udaf(), "cnt", false, None),
        agg(&schema, sum_udaf(), "total", false, None),
        agg(&schema, min_udaf(), "lo", false, None),
        agg(&schema, max_udaf(), "hi", false, None),
        agg(&schema, avg_udaf(), "mean", false, None),
        agg(&schema, sum_udaf(), "distinct_total", true, None),
        agg(&schema, sum_udaf(), "big_total", false, Some(50)),
    ];
    // SUM(DISTINCT) has no groups accumulator: the per-group fallback is exercised.
    assert!(!aggregates[5].0.groups_accumulator_supported());
    let def = window_aggregate(spec, &schema, true, aggregates);
    let mut op =
        WindowAggregateOperator::new(Arc::new(def), &SubtaskContext::single("w")).unwrap();
    let mut rng = SmallRng::seed_from_u64(seed);
    let keys = [Some("a"), Some("b"), Some("c"), None];
    let mut events = Vec::new();
    let (mut base, mut max_ts, mut wm) = (-20_000i64, i64::MIN, i64::MIN);
    for _ in 0..40 {
        let n = rng.random_range(0..30);
        let rows: Vec<Row> = (0..n)
            .map(|_| {
                // Mostly a little out of order, sometimes very late.
                let delay = if rng.random_range(0..4) == 0 { 14_000 } else { 3000 };
                let ts = base + rng.random_range(-delay..1500);
                let v = (rng.random_range(0..8) != 0).then(|| rng.random_range(0..100));
                (Some(ts), keys[rng.random_range(0..keys.len())], v)
            })
            .collect();
        max_ts = rows.iter().filter_map(|r| r.0).fold(max_ts, i64::max);
        events.push(Ev::Rows(rows));
        if rng.random_range(0..3) != 0 && max_ts.saturating_sub(2000) > wm {
            wm = max_ts - 2000;
            events.push(Ev::Wm(wm));
        }
        base += rng.random_range(0..2500);
    }
    events.push(Ev::Wm(i64::MAX));

    // Naive: a row counts for the windows containing it that have not fired on arrival.
    let mut windows: BTreeMap<(i64, i64, Option<&str>), Vec<Option<i64>>> = BTreeMap::new();
    let mut watermarks = Vec::new();
    let (mut current, mut expected_late) = (i64::MIN, 0u64);
    for ev in &events {
        match ev {
            Ev::Rows(rows) => {
                for &(ts, k, v) in rows {
                    let ts = ts.unwrap();
                    let open: Vec<_> = naive_windows(&spec, ts)
                        .into_iter()
                        .filter(|&(_, e)| current == i64::MIN || e - 1 > current)
                        .collect();
                    expected_late += u64::from(open.is_empty());
                    for (s, e) in open {
                        windows.entry((s, e, k)).or_default().push(v);
                    }
                }
            }
            Ev::Wm(w) => {
                current = *w;
                watermarks.push(*w);
            }
        }
    }
    let mut expected = Vec::new();
    for ((s, e, k), values) in &windows {
        let at = watermarks.iter().find(|&&w| e - 1 <= w).unwrap();
        let mut row = r(&[&at.to_string(), &s.to_string(), &e.to_string(), k.unwrap_or("NULL")]);
        row.extend(naive_aggregates(values));
        expected.push(row);
    }

    let out = drive(&mut op, &schema, events);
    let mut actual = Vec::new();
    for messages in &out {
        let Some(Message::Watermark(Watermark(at))) = messages.last() else {
            assert!(messages.is_empty(), "rows emitted without a watermark");
            continue;
        };
        let rows = fired(messages, *at);
        let ends: Vec<i64> = rows.iter().map(|row| row[1].parse().unwrap()).collect();
        assert!(ends.windows(2).all(|p| p[0] <= p[1]), "windows out of order");
        for row in rows {
            let mut with_at = vec![at.to_string()];
            with_at.extend(row);
            actual.push(with_at);
        }
    }
    assert!(!expected.is_empty());
    assert_eq!(sorted(actual), sorted(expected), "{spec:?} seed {seed}");
    assert_eq!(late(&op), expected_late, "{spec:?} seed {seed}");
    assert_eq!(op.live_slices(), 0);
}

#[test]
fn hop_matches_naive_reference() {
    for seed in 0..8 {
        check_against_naive(
            WindowSpec::Hop {
                size_ms: 10_000,
                slide_ms: 5000,
                offset_ms: 0,
            },
            seed,
        );
    }
    // Size not a multiple of slide (slices of gcd = 1 s), with an offset.
    check_against_naive(
        WindowSpec::Hop {
            size_ms: 10_000,
            slide_ms: 4000,
            offset_ms: 1000,
        },
        42,
    );
}

#[test]
fn cumulate_matches_naive_reference() {
    for seed in 0..8 {
        check_against_naive(
            WindowSpec::Cumulate {
                step_ms: 5000,
                max_size_ms: 15_000,
                offset_ms: 0,
            },
            seed,
        );
    }
    check_against_naive(
        WindowSpec::Cumulate {
            step_ms: 2000,
            max_size_ms: 10_000,
            offset_ms: -3000,
        },
        7,
    );
}

#[test]
fn tumble_matches_naive_reference() {
    for seed in 0..4 {
        check_against_naive(
            WindowSpec::Tumble {
                size_ms: 5000,
                offset_ms: 1000,
            },
            seed,
        );
    }
}

#[test]
fn rejects_bad_specs_and_schemas() {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let mut def = window_aggregate(
        WindowSpec::Hop {
            size_ms: 1000,
            slide_ms: 2000,
            offset_ms: 0,
        },
        &schema,
        true,
        vec![agg(&schema, count_udaf(), "cnt", false, None)],
    );
    assert!(def.validate().is_err());
    def.window = WindowSpec::Tumble {
        size_ms: 1000,
        offset_ms: 0,
    };
    assert!(def.validate().is_ok());
    def.key_columns.clear();
    assert!(def.validate().is_err());
}

/// Throughput check, run with `cargo test --release -p weir-operators -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let specs = [
        WindowSpec::Tumble {
            size_ms: 10_000,
            offset_ms: 0,
        },
        WindowSpec::Hop {
            size_ms: 60_000,
            slide_ms: 10_000,
            offset_ms: 0,
        },
        WindowSpec::Cumulate {
            step_ms: 10_000,
            max_size_ms: 60_000,
            offset_ms: 0,
        },
    ];
    let keys: Vec<String> = (0..1000).map(|k| format!("key{k}")).collect();
    let mut rng = SmallRng::seed_from_u64(1);
    // 8192-row batches, 1 ms apart on average, 1000 keys.
    let batches: Vec<RecordBatch> = (0..500)
        .map(|b| {
            let ts: Vec<i64> = (0..8192).map(|i| (b * 8192 + i) as i64).collect();
            let k: Vec<&str> = (0..8192)
                .map(|_| keys[rng.random_range(0..keys.len())].as_str())
                .collect();
            let v: Vec<i64> = (0..8192).map(|_| rng.random_range(0..1000)).collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(TimestampMillisecondArray::from(ts)),
                    Arc::new(StringArray::from(k)),
                    Arc::new(Int64Array::from(v)),
                ],
            )
            .unwrap()
        })
        .collect();
    for spec in specs {
        let def = window_aggregate(
            spec,
            &schema,
            true,
            vec![
                agg(&schema, count_udaf(), "cnt", false, None),
                agg(&schema, sum_udaf(), "total", false, None),
                agg(&schema, max_udaf(), "hi", false, None),
                agg(&schema, avg_udaf(), "mean", false, None),
            ],
        );
        let mut op =
            WindowAggregateOperator::new(Arc::new(def), &SubtaskContext::single("w")).unwrap();
        let started = std::time::Instant::now();
        let mut out = Output::default();
        let mut rows_out = 0;
        for b in &batches {
            let wm = b.num_rows() as i64 + b.column(0).as_any().downcast_ref::<TimestampMillisecondArray>().unwrap().value(0);
            op.process_batch(0, b.clone(), &mut out).unwrap();
            op.process_watermark(Watermark(wm - 1000), &mut out).unwrap();
            for m in out.drain() {
                if let Message::Batch(b) = m {
                    rows_out += b.num_rows();
                }
            }
        }
        op.process_watermark(Watermark::MAX, &mut out).unwrap();
        let secs = started.elapsed().as_secs_f64();
        let rows = batches.len() * 8192;
        eprintln!(
            "{spec:?}: {:.1} M rows/s ({rows} rows in {secs:.2} s, {rows_out} rows out)",
            rows as f64 / secs / 1e6
        );
    }
}
