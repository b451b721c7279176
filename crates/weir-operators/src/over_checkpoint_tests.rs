//! Checkpoint tests of the OVER aggregation: a snapshot after every input step (rows
//! waiting for the watermark, accumulators, frames), restored at the same and at other
//! parallelisms, continues exactly as the uninterrupted run.

use std::sync::atomic::AtomicI64;

use arrow::array::{Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{Field, Schema};
use datafusion::functions_aggregate::average::avg_udaf;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::first_last::{first_value_udaf, last_value_udaf};
use datafusion::functions_aggregate::min_max::{max_udaf, min_udaf};
use datafusion::functions_aggregate::stddev::stddev_udaf;
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::logical_expr::AggregateUDF;
use datafusion::physical_expr::aggregate::AggregateExprBuilder;
use datafusion::physical_expr::expressions::col;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weir_types::Message;

use super::*;
use crate::group_agg::test_support::{
    check_checkpoints, lines, redistribute, Step, MAX_PARALLELISM,
};

fn input_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("v", DataType::Int64, true),
        Field::new("f", DataType::Float64, true),
    ]))
}

fn def(frame: OverFrame, specs: &[(Arc<AggregateUDF>, &str)], keyed: bool) -> OverAggregate {
    let schema = input_schema();
    let aggregates: Vec<Arc<AggregateFunctionExpr>> = specs
        .iter()
        .enumerate()
        .map(|(i, (u, column))| {
            Arc::new(
                AggregateExprBuilder::new(u.clone(), vec![col(column, &schema).unwrap()])
                    .schema(schema.clone())
                    .alias(format!("a{i}"))
                    .build()
                    .unwrap(),
            )
        })
        .collect();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    for a in &aggregates {
        fields.push(a.field().as_ref().clone());
    }
    OverAggregate {
        partition_columns: if keyed { vec![0] } else { vec![] },
        time_column: 1,
        frame,
        aggregates,
        output_schema: Arc::new(Schema::new(fields)),
    }
}

fn maker(def: OverAggregate) -> impl Fn(usize, usize, Arc<AtomicI64>) -> Box<dyn Operator> {
    let def = Arc::new(def);
    move |subtask, parallelism, _| {
        let mut ctx = SubtaskContext::single("over");
        ctx.subtask = subtask;
        ctx.parallelism = parallelism;
        ctx.max_parallelism = MAX_PARALLELISM;
        Box::new(OverAggregateOperator::new(Arc::clone(&def), &ctx).unwrap())
    }
}

fn batch(rows: &[(&str, i64, Option<i64>, Option<f64>)]) -> RecordBatch {
    RecordBatch::try_new(
        input_schema(),
        vec![
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            Arc::new(TimestampMillisecondArray::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

/// Rows with times around a rising watermark (some late, many equal times), and
/// watermarks.
fn random_input(seed: u64, steps: usize) -> Vec<Step> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let keys = ["a", "b", "c"];
    let mut watermark = 0;
    let mut out = Vec::new();
    for _ in 0..steps {
        if rng.random_bool(0.35) {
            watermark += rng.random_range(0..300);
            out.push(Step::Watermark(watermark));
            continue;
        }
        let rows: Vec<_> = (0..rng.random_range(1..6))
            .map(|_| {
                (
                    keys[rng.random_range(0..keys.len())],
                    watermark + rng.random_range(-100..400) / 50 * 50,
                    rng.random_bool(0.9).then(|| rng.random_range(-5..10)),
                    rng.random_bool(0.9)
                        .then(|| f64::from(rng.random_range(-30..30)) / 10.0),
                )
            })
            .collect();
        out.push(Step::Batch(batch(&rows)));
    }
    out
}

fn bounded_functions() -> Vec<(Arc<AggregateUDF>, &'static str)> {
    vec![
        (count_udaf(), "v"),
        (sum_udaf(), "v"),
        (sum_udaf(), "f"),
        (avg_udaf(), "f"),
        (min_udaf(), "v"),
        (max_udaf(), "f"),
    ]
}

#[test]
fn bounded_frames_continue_exactly_after_restore_at_any_parallelism() {
    for (seed, frame) in [
        (1, OverFrame::Rows(Some(2))),
        (2, OverFrame::Range(Some(200))),
        (3, OverFrame::Rows(Some(0))),
    ] {
        let make = maker(def(frame, &bounded_functions(), true));
        let out = check_checkpoints(&make, &[0], &random_input(seed, 16));
        assert!(
            out.iter().flatten().count() > 10,
            "{frame:?}: rows are emitted"
        );
    }
}

#[test]
fn unbounded_frames_and_global_partitions_continue_exactly() {
    let mut specs = bounded_functions();
    specs.push((first_value_udaf(), "v"));
    specs.push((last_value_udaf(), "f"));
    for (seed, frame) in [(4, OverFrame::Rows(None)), (5, OverFrame::Range(None))] {
        let make = maker(def(frame, &specs, true));
        check_checkpoints(&make, &[0], &random_input(seed, 16));
    }
    let make = maker(def(OverFrame::Rows(Some(3)), &bounded_functions(), false));
    check_checkpoints(&make, &[], &random_input(6, 16));
}

#[test]
fn a_lower_watermark_after_restore_neither_moves_back_nor_fires() {
    let make = maker(def(OverFrame::Rows(None), &[(count_udaf(), "v")], true));
    let mut op = make(0, 1, Arc::new(AtomicI64::new(0)));
    let mut out = Output::default();
    op.process_batch(
        0,
        batch(&[("a", 100, Some(1), None), ("a", 900, Some(1), None)]),
        &mut out,
    )
    .unwrap();
    op.process_watermark(Watermark(500), &mut out).unwrap();
    assert_eq!(lines(&mut out).len(), 1);
    let snapshot = op.snapshot_state(1).unwrap();
    let mut restored = make(0, 1, Arc::new(AtomicI64::new(0)));
    restored
        .restore_state(redistribute(&[snapshot], 0, 1))
        .unwrap();
    restored
        .process_batch(0, batch(&[("a", 50, Some(1), None)]), &mut out)
        .unwrap();
    restored
        .process_watermark(Watermark(200), &mut out)
        .unwrap();
    let messages: Vec<Message> = out.drain().collect();
    assert!(
        matches!(messages.as_slice(), [Message::Watermark(Watermark(500))]),
        "{messages:?}: the late row is dropped, the watermark stays at 500"
    );
}

#[test]
fn inexact_functions_refuse_and_changed_definitions_fail_clearly() {
    let make = maker(def(OverFrame::Rows(Some(2)), &[(stddev_udaf(), "f")], true));
    let err = make(0, 1, Arc::new(AtomicI64::new(0)))
        .snapshot_state(1)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("checkpoints are not supported for aggregate function a0"),
        "{err}"
    );
    let make = maker(def(
        OverFrame::Rows(None),
        &[(first_value_udaf(), "v")],
        true,
    ));
    let mut op = make(0, 1, Arc::new(AtomicI64::new(0)));
    let mut out = Output::default();
    op.process_batch(0, batch(&[("a", 100, Some(1), None)]), &mut out)
        .unwrap();
    op.process_watermark(Watermark(500), &mut out).unwrap();
    let snapshot = op.snapshot_state(1).unwrap();
    let other = maker(def(OverFrame::Rows(None), &[(sum_udaf(), "v")], true));
    let err = other(0, 1, Arc::new(AtomicI64::new(0)))
        .restore_state(snapshot)
        .unwrap_err()
        .to_string();
    assert!(err.contains("SQL changed"), "{err}");
}
