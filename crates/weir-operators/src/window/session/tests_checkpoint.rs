//! Checkpoint tests of the session window aggregation: snapshot after every event,
//! restore at the same and at other parallelisms, compare with an uninterrupted run.

use std::sync::Arc;

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::functions_aggregate::stddev::stddev_udaf;
use datafusion::physical_expr::aggregate::AggregateExprBuilder;
use datafusion::physical_expr::expressions::{cast as cast_expr, col};
use weir_runtime::{OperatorFactory, Output, SubtaskContext};
use weir_types::EngineError;

use super::super::tests::{batch, input_schema};
use super::super::tests_checkpoint::{aggregates, script};
use super::super::tests_harness::{check_restores, Event, Subtasks};
use super::tests::session_aggregate;

fn factory(gap_ms: i64, keyed: bool) -> Arc<dyn OperatorFactory> {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let mut aggregates = aggregates();
    if !keyed {
        aggregates.truncate(7);
    }
    session_aggregate(gap_ms, &schema, keyed, aggregates).into_factory()
}

#[test]
fn keyed_sessions_restore_at_every_split_and_parallelism() {
    for (i, gap) in [300, 700, 1500].into_iter().enumerate() {
        let events = script(300 + i as u64, 14);
        let f = factory(gap, true);
        let expected = check_restores(&f, &[1], &events, 1, 1);
        assert!(expected.len() > 3, "gap {gap}: {expected:?}");
        assert_eq!(check_restores(&f, &[1], &events, 2, 1), expected);
        assert_eq!(check_restores(&f, &[1], &events, 2, 3), expected);
    }
}

#[test]
fn keyless_sessions_restore_at_every_split() {
    for (i, gap) in [200, 600].into_iter().enumerate() {
        let events = script(400 + i as u64, 12);
        let expected = check_restores(&factory(gap, false), &[], &events, 1, 1);
        assert!(!expected.is_empty());
    }
}

#[test]
fn a_restored_session_is_not_refired_and_late_rows_stay_late() {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let f = factory(1000, true);
    let mut first = Subtasks::new(&f, 1, &[1]);
    let fired = first.run(&[
        Event::Batch(batch(&schema, &[(Some(0), Some("a"), Some(1))])),
        Event::Batch(batch(&schema, &[(Some(5000), Some("a"), Some(2))])),
        Event::Watermark(2000),
    ]);
    assert_eq!(fired.len(), 1, "{fired:?}");
    let snapshot = first.snapshot();
    let mut second = Subtasks::new(&f, 1, &[1]);
    second.restore(&snapshot);
    let again = second.run(&[
        Event::Watermark(1500),
        // Late: its session [100, 1100) would have fired.
        Event::Batch(batch(&schema, &[(Some(100), Some("a"), Some(3))])),
        // Joins the open session [5000, 6000).
        Event::Batch(batch(&schema, &[(Some(5500), Some("a"), Some(4))])),
    ]);
    assert!(again.is_empty(), "{again:?}");
    let last = second.finish();
    assert_eq!(last.len(), 1, "{last:?}");
    assert!(last[0].contains("|a|2|2|6|"), "{last:?}");
}

#[test]
fn inexact_aggregates_refuse_and_a_changed_gap_is_refused() {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let v = cast_expr(col("v", &schema).unwrap(), &schema, DataType::Float64).unwrap();
    let sd = AggregateExprBuilder::new(stddev_udaf(), vec![v])
        .schema(schema.clone())
        .alias("sd")
        .build()
        .unwrap();
    let def = session_aggregate(1000, &schema, true, vec![(Arc::new(sd), None)]);
    let mut op = def
        .into_factory()
        .create(&SubtaskContext::single("s"))
        .unwrap();
    let mut out = Output::default();
    op.process_batch(
        0,
        batch(&schema, &[(Some(1), Some("a"), Some(1))]),
        &mut out,
    )
    .unwrap();
    match op.snapshot_state(1) {
        Err(EngineError::Config(m)) => assert!(m.contains("stddev"), "{m}"),
        _ => panic!("stddev was checkpointed"),
    }
    let mut first = Subtasks::new(&factory(1000, true), 1, &[1]);
    first.run(&[Event::Batch(batch(
        &schema,
        &[(Some(1), Some("a"), Some(1))],
    ))]);
    let snapshot = first.snapshot().remove(0);
    let mut op = factory(2000, true)
        .create(&SubtaskContext::single("s"))
        .unwrap();
    let err = op.restore_state(snapshot).unwrap_err().to_string();
    assert!(err.contains("SQL changed"), "{err}");
}

#[test]
fn the_stored_layout_is_stable() {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let mut first = Subtasks::new(&factory(1000, true), 1, &[1]);
    first.run(&[
        Event::Batch(batch(
            &schema,
            &[
                (Some(0), Some("a"), Some(1)),
                (Some(3000), Some("b"), Some(2)),
            ],
        )),
        Event::Batch(batch(&schema, &[(Some(1500), Some("a"), Some(3))])),
        // Bridges a's sessions [0, 1000) and [1500, 2500): two slots merged.
        Event::Batch(batch(&schema, &[(Some(800), Some("a"), Some(4))])),
        Event::Watermark(500),
    ]);
    let snapshot = first.snapshot().remove(0);
    let layout = super::super::tests_checkpoint::layout(&snapshot);
    assert_eq!(
        layout[1..],
        [
            "watermark (Union): watermark",
            "definition (Union): definition"
        ]
    );
    assert!(
        layout[0].starts_with(
            "sessions (Keyed): __weir_key_group, window_start, window_end, key_0, agg0_state0, \
             agg1_state0, agg2_state0"
        ),
        "{layout:?}"
    );
    // One row per open session: a [0, 2500) and b [3000, 4000).
    assert_eq!(snapshot.table("sessions").unwrap().num_rows(), 2);
}
