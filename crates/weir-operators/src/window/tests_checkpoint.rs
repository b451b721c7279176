//! Checkpoint tests of the window aggregation: snapshot after every event, restore at
//! the same and at other parallelisms, compare with an uninterrupted run; refusal of
//! aggregates whose state does not restore exactly; a changed definition.

use std::sync::Arc;

use arrow::datatypes::TimeUnit;
use datafusion::functions_aggregate::approx_percentile_cont::approx_percentile_cont_udaf;
use datafusion::functions_aggregate::average::avg_udaf;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::first_last::{first_value_udaf, last_value_udaf};
use datafusion::functions_aggregate::min_max::{max_udaf, min_udaf};
use datafusion::functions_aggregate::stddev::stddev_udaf;
use datafusion::functions_aggregate::string_agg::string_agg_udaf;
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::physical_expr::aggregate::AggregateExprBuilder;
use datafusion::physical_expr::expressions::{cast as cast_expr, col, lit};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::tests::{agg, batch, input_schema, window_aggregate, Row};
use super::tests_harness::{check_restores, Event, Subtasks};
use super::*;

const KEYS: [Option<&str>; 5] = [Some("a"), Some("b"), Some("c"), Some("d"), None];

/// A random script: batches of rows out of order by up to 3 s, some late, NULL keys and
/// values, and watermarks trailing the maximum time by 2 s.
pub(super) fn script(seed: u64, batches: usize) -> Vec<Event> {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut events = Vec::new();
    let mut now = 0i64;
    for _ in 0..batches {
        let n = rng.random_range(1..8);
        let rows: Vec<Row> = (0..n)
            .map(|_| {
                now += rng.random_range(0..400);
                let ts = now - rng.random_range(0..3000);
                let key = KEYS[rng.random_range(0..KEYS.len())];
                let value = if rng.random_range(0..8) == 0 {
                    None
                } else {
                    Some(rng.random_range(-50..100))
                };
                (Some(ts), key, value)
            })
            .collect();
        events.push(Event::Batch(batch(&schema, &rows)));
        if rng.random_range(0..2) == 0 {
            events.push(Event::Watermark(now - 2000));
        }
    }
    events
}

pub(super) fn aggregates() -> Vec<FilteredAggregate> {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let string_agg = AggregateExprBuilder::new(
        string_agg_udaf(),
        vec![col("k", &schema).unwrap(), lit(";")],
    )
    .schema(schema.clone())
    .alias("keys")
    .build()
    .unwrap();
    let first = AggregateExprBuilder::new(first_value_udaf(), vec![col("v", &schema).unwrap()])
        .schema(schema.clone())
        .alias("first")
        .build()
        .unwrap();
    let last = AggregateExprBuilder::new(last_value_udaf(), vec![col("v", &schema).unwrap()])
        .schema(schema.clone())
        .alias("last")
        .build()
        .unwrap();
    let float = cast_expr(col("v", &schema).unwrap(), &schema, DataType::Float64).unwrap();
    let float_sum = AggregateExprBuilder::new(sum_udaf(), vec![float])
        .schema(schema.clone())
        .alias("fsum")
        .build()
        .unwrap();
    vec![
        agg(&schema, count_udaf(), "cnt", false, None),
        agg(&schema, count_udaf(), "distinct_cnt", true, None),
        agg(&schema, sum_udaf(), "total", false, None),
        agg(&schema, sum_udaf(), "big", false, Some(20)),
        agg(&schema, avg_udaf(), "mean", false, None),
        agg(&schema, min_udaf(), "lo", false, None),
        agg(&schema, max_udaf(), "hi", false, None),
        (Arc::new(string_agg), None),
        (Arc::new(first), None),
        (Arc::new(last), None),
        (Arc::new(float_sum), None),
    ]
}

fn factory(spec: WindowSpec, keyed: bool, emit: EmitStrategy) -> Arc<dyn OperatorFactory> {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let mut aggregates = aggregates();
    if !keyed {
        // Keyless: the arrival order of rows of different keys is the same at any split.
        aggregates.truncate(7);
    }
    let mut def = window_aggregate(spec, &schema, keyed, aggregates);
    def.emit = emit;
    def.into_factory()
}

const SPECS: [WindowSpec; 3] = [
    WindowSpec::Tumble {
        size_ms: 2000,
        offset_ms: 0,
    },
    WindowSpec::Hop {
        size_ms: 3000,
        slide_ms: 1000,
        offset_ms: 0,
    },
    WindowSpec::Cumulate {
        step_ms: 1000,
        max_size_ms: 4000,
        offset_ms: 0,
    },
];

const EMITS: [EmitStrategy; 3] = [
    EmitStrategy {
        allow_lateness_ms: 0,
        early_fire_delay_ms: None,
    },
    EmitStrategy {
        allow_lateness_ms: 2500,
        early_fire_delay_ms: None,
    },
    EmitStrategy {
        allow_lateness_ms: 1500,
        early_fire_delay_ms: Some(0),
    },
];

#[test]
fn keyed_windows_restore_at_every_split_and_parallelism() {
    for (i, spec) in SPECS.iter().enumerate() {
        for (j, emit) in EMITS.iter().enumerate() {
            let events = script(100 + (i * 3 + j) as u64, 12);
            let f = factory(*spec, true, *emit);
            let expected = check_restores(&f, &[1], &events, 1, 1);
            assert!(expected.len() > 5, "{spec:?} {emit:?}: {expected:?}");
            assert_eq!(check_restores(&f, &[1], &events, 2, 1), expected);
            assert_eq!(check_restores(&f, &[1], &events, 2, 3), expected);
        }
    }
}

#[test]
fn keyless_windows_restore_at_every_split() {
    for (i, spec) in SPECS.iter().enumerate() {
        for (j, emit) in EMITS.iter().enumerate() {
            let events = script(200 + (i * 3 + j) as u64, 10);
            let f = factory(*spec, false, *emit);
            let expected = check_restores(&f, &[], &events, 1, 1);
            assert!(!expected.is_empty());
        }
    }
}

#[test]
fn restored_watermark_does_not_go_back_nor_refire() {
    let f = factory(SPECS[1], true, EMITS[0]);
    let schema = input_schema(TimeUnit::Millisecond, None);
    let mut first = Subtasks::new(&f, 1, &[1]);
    let fired = first.run(&[
        Event::Batch(batch(&schema, &[(Some(500), Some("a"), Some(1))])),
        Event::Watermark(5000),
    ]);
    assert_eq!(fired.len(), 3, "{fired:?}");
    let snapshot = first.snapshot();
    let mut second = Subtasks::new(&f, 1, &[1]);
    second.restore(&snapshot);
    // A lower watermark fires nothing; a row for the fired windows is late.
    let again = second.run(&[
        Event::Watermark(100),
        Event::Batch(batch(&schema, &[(Some(600), Some("a"), Some(1))])),
        Event::Watermark(6000),
    ]);
    assert!(again.is_empty(), "{again:?}");
}

fn refused(udaf: Arc<datafusion::logical_expr::AggregateUDF>, args: usize) -> String {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let v = cast_expr(col("v", &schema).unwrap(), &schema, DataType::Float64).unwrap();
    let mut exprs = vec![v];
    if args == 2 {
        exprs.push(lit(0.5));
    }
    let expr = AggregateExprBuilder::new(udaf, exprs)
        .schema(schema.clone())
        .alias("x")
        .build()
        .unwrap();
    let def = window_aggregate(SPECS[0], &schema, true, vec![(Arc::new(expr), None)]);
    let mut op = WindowAggregateOperator::new(Arc::new(def), &SubtaskContext::single("w")).unwrap();
    let mut out = Output::default();
    op.process_batch(
        0,
        batch(&schema, &[(Some(1), Some("a"), Some(1))]),
        &mut out,
    )
    .unwrap();
    match op.snapshot_state(1) {
        Err(EngineError::Config(message)) => message,
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("an inexact aggregate was checkpointed"),
    }
}

#[test]
fn aggregates_without_exact_state_refuse_checkpoints() {
    let message = refused(stddev_udaf(), 1);
    assert!(message.contains("stddev"), "{message}");
    assert!(
        message.contains("checkpoints are not supported"),
        "{message}"
    );
    let message = refused(approx_percentile_cont_udaf(), 2);
    assert!(message.contains("approx_percentile_cont"), "{message}");
}

#[test]
fn a_changed_definition_is_refused() {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let f = factory(SPECS[0], true, EMITS[0]);
    let mut first = Subtasks::new(&f, 1, &[1]);
    first.run(&[Event::Batch(batch(
        &schema,
        &[(Some(1), Some("a"), Some(1))],
    ))]);
    let snapshot = first.snapshot().remove(0);
    // Another window size.
    let other = factory(
        WindowSpec::Tumble {
            size_ms: 5000,
            offset_ms: 0,
        },
        true,
        EMITS[0],
    );
    let mut op = other.create(&SubtaskContext::single("w")).unwrap();
    let err = op.restore_state(snapshot.clone()).unwrap_err().to_string();
    assert!(err.contains("SQL changed"), "{err}");
    // Other aggregates.
    let def = window_aggregate(
        SPECS[0],
        &schema,
        true,
        vec![agg(&schema, count_udaf(), "cnt", false, None)],
    );
    let mut op = def
        .into_factory()
        .create(&SubtaskContext::single("w"))
        .unwrap();
    let err = op.restore_state(snapshot).unwrap_err().to_string();
    assert!(err.contains("SQL changed"), "{err}");
}

/// Names of the tables of a snapshot with their columns, as `table: col, col`.
pub(super) fn layout(snapshot: &StateSnapshot) -> Vec<String> {
    snapshot
        .tables()
        .iter()
        .map(|t| {
            let columns: Vec<String> = t
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            format!("{} ({:?}): {}", t.name(), t.kind(), columns.join(", "))
        })
        .collect()
}

#[test]
fn the_stored_layout_is_stable() {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let mut def = window_aggregate(
        SPECS[0],
        &schema,
        true,
        vec![
            agg(&schema, count_udaf(), "cnt", false, None),
            agg(&schema, avg_udaf(), "mean", false, None),
        ],
    );
    def.emit = EMITS[1];
    let mut op = def
        .into_factory()
        .create(&SubtaskContext::single("w"))
        .unwrap();
    let mut out = Output::default();
    op.process_batch(
        0,
        batch(
            &schema,
            &[
                (Some(100), Some("a"), Some(1)),
                (Some(2500), Some("b"), Some(2)),
            ],
        ),
        &mut out,
    )
    .unwrap();
    op.process_watermark(Watermark(2100), &mut out).unwrap();
    op.process_batch(
        0,
        batch(&schema, &[(Some(3000), Some("a"), Some(3))]),
        &mut out,
    )
    .unwrap();
    let snapshot = op.snapshot_state(1).unwrap();
    assert_eq!(
        layout(&snapshot),
        vec![
            "slices (Keyed): __weir_key_group, slice_end, chunk, open, key_0, agg0_state0, \
             agg1_state0, agg1_state1",
            "emitted (Keyed): __weir_key_group, window_end_ms, window_start, window_end, k, \
             cnt, mean",
            "dirty (Union): window_end",
            "watermark (Union): watermark",
            "definition (Union): definition",
        ]
    );
    // The fired window [0, 2000) is kept for its lateness (key a, frozen when it was
    // evaluated); the open one [2000, 4000) has an open part with keys a and b.
    assert_eq!(snapshot.table("slices").unwrap().num_rows(), 3);
    assert_eq!(snapshot.table("emitted").unwrap().num_rows(), 1);
    let watermark = snapshot.table("watermark").unwrap().concat().unwrap();
    assert_eq!(
        watermark
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap()
            .value(0),
        2100
    );
    let definition = snapshot.table("definition").unwrap().concat().unwrap();
    let definition = definition
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap()
        .value(0)
        .to_string();
    assert_eq!(
        definition,
        "TUMBLE(size 2000 ms, offset 0 ms); allowed lateness 2500 ms, early fire off; 1 keys; \
         aggregates [count(1 args) AS cnt with 1 state fields, avg(1 args) AS mean with 2 \
         state fields]"
    );
}
