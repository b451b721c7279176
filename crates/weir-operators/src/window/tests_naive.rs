//! Window aggregation against a naive reference that recomputes every window from the
//! raw rows (HOP, CUMULATE, TUMBLE on random out-of-order data), and a throughput check.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::TimeUnit;
use datafusion::common::ScalarValue;
use datafusion::functions_aggregate::average::avg_udaf;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::min_max::{max_udaf, min_udaf};
use datafusion::functions_aggregate::sum::sum_udaf;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weir_types::Message;

use super::tests::{agg, drive, fired, input_schema, late, r, sorted, window_aggregate, Ev, Row};
use super::*;

/// A naive window and key: start, end, key.
type WindowKey = (i64, i64, Option<&'static str>);

/// Windows containing `ts`, enumerated by brute force from the definition.
pub(super) fn naive_windows(spec: &WindowSpec, ts: i64) -> Vec<(i64, i64)> {
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
    let mut op = WindowAggregateOperator::new(Arc::new(def), &SubtaskContext::single("w")).unwrap();
    let mut rng = SmallRng::seed_from_u64(seed);
    let keys = [Some("a"), Some("b"), Some("c"), None];
    let mut events = Vec::new();
    let (mut base, mut max_ts, mut wm) = (-20_000i64, i64::MIN, i64::MIN);
    for _ in 0..40 {
        let n = rng.random_range(0..30);
        let rows: Vec<Row> = (0..n)
            .map(|_| {
                // Mostly a little out of order, sometimes very late.
                let delay = if rng.random_range(0..4) == 0 {
                    14_000
                } else {
                    3000
                };
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
    // (window start, window end, key) -> values of the rows counted in it.
    let mut windows: BTreeMap<WindowKey, Vec<Option<i64>>> = BTreeMap::new();
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
        let mut row = r(&[
            &at.to_string(),
            &s.to_string(),
            &e.to_string(),
            k.unwrap_or("NULL"),
        ]);
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
        assert!(
            ends.windows(2).all(|p| p[0] <= p[1]),
            "windows out of order"
        );
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

/// Throughput check, run with `cargo test --release -p weir-operators -- --ignored --nocapture`:
/// each window kind with the default emission, with 10 s of allowed lateness, and with
/// early fire after every batch (updating emission).
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
    let emits = [
        ("append-only", EmitStrategy::default()),
        (
            "lateness 10 s",
            EmitStrategy {
                allow_lateness_ms: 10_000,
                early_fire_delay_ms: None,
            },
        ),
        (
            "early fire 0",
            EmitStrategy {
                allow_lateness_ms: 0,
                early_fire_delay_ms: Some(0),
            },
        ),
    ];
    for (spec, (label, emit)) in specs
        .iter()
        .flat_map(|s| emits.iter().map(move |e| (*s, *e)))
    {
        let mut def = window_aggregate(
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
        def.emit = emit;
        let mut op =
            WindowAggregateOperator::new(Arc::new(def), &SubtaskContext::single("w")).unwrap();
        let started = std::time::Instant::now();
        let mut out = Output::default();
        let mut rows_out = 0;
        for b in &batches {
            let wm = b.num_rows() as i64
                + b.column(0)
                    .as_any()
                    .downcast_ref::<TimestampMillisecondArray>()
                    .unwrap()
                    .value(0);
            op.process_batch(0, b.clone(), &mut out).unwrap();
            op.process_watermark(Watermark(wm - 1000), &mut out)
                .unwrap();
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
            "{spec:?}, {label}: {:.1} M rows/s ({rows} rows in {secs:.2} s, {rows_out} rows out)",
            rows as f64 / secs / 1e6
        );
    }
}
