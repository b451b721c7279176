//! Tests of the columnar aggregate state: each aggregate by hand (NULLs, FILTER,
//! retraction, empty and reused groups, state columns), and whole aggregations on the
//! columnar path against the same aggregations kept per key (same changelog, and
//! snapshots of either restore into the other).

use std::sync::atomic::{AtomicI64, Ordering};

use arrow::array::{BooleanArray, Float64Array, Int64Array, Int8Array, ListArray, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, UInt64Type};
use datafusion::functions_aggregate::average::avg_udaf;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::first_last::last_value_udaf;
use datafusion::functions_aggregate::min_max::{max_udaf, min_udaf};
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::logical_expr::{AggregateUDF, Operator as BinaryOp};
use datafusion::physical_expr::aggregate::AggregateExprBuilder;
use datafusion::physical_expr::expressions::{binary, col, lit};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weir_runtime::StateBackend;

use super::columnar::{ColumnAggregate, ColumnRows, SKIPPED};
use super::state::PER_KEY_ONLY;
use super::test_support::{backends, lines, redistribute, MAX_PARALLELISM};
use super::*;

/// Input: key `k`, integer `v`, float `f`, string `s`, then the row kind when updating.
fn schema(updating: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
        Field::new("f", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
    ];
    if updating {
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    }
    Arc::new(Schema::new(fields))
}

type Row = (
    RowKind,
    &'static str,
    Option<i64>,
    Option<f64>,
    Option<&'static str>,
);

fn batch(schema: &SchemaRef, rows: &[Row]) -> RecordBatch {
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.3).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.4).collect::<Vec<_>>(),
        )),
    ];
    if schema.fields().len() == 5 {
        columns.push(Arc::new(Int8Array::from(
            rows.iter().map(|r| r.0 as i8).collect::<Vec<_>>(),
        )));
    }
    RecordBatch::try_new(schema.clone(), columns).unwrap()
}

/// `(function, argument column, DISTINCT, FILTER (WHERE v > 0))`.
type Spec = (Arc<AggregateUDF>, &'static str, bool, bool);

fn definition(updating: bool, specs: &[Spec], ttl: Option<i64>) -> GroupAggregate {
    let schema = schema(updating);
    let aggregates: Vec<FilteredAggregate> = specs
        .iter()
        .enumerate()
        .map(|(i, (udaf, column, distinct, filtered))| {
            let expr = AggregateExprBuilder::new(udaf.clone(), vec![col(column, &schema).unwrap()])
                .schema(schema.clone())
                .alias(format!("a{i}"))
                .with_distinct(*distinct)
                .build()
                .unwrap();
            let filter = filtered.then(|| {
                binary(col("v", &schema).unwrap(), BinaryOp::Gt, lit(0i64), &schema).unwrap()
            });
            (Arc::new(expr), filter)
        })
        .collect();
    let mut fields = vec![Field::new("k", DataType::Utf8, true)];
    fields.extend(aggregates.iter().map(|(a, _)| a.field().as_ref().clone()));
    GroupAggregate {
        key_columns: vec![0],
        aggregates,
        output_schema: GroupAggregate::output_schema_of(fields),
        input_updating: updating,
        state_ttl_ms: ttl,
        mini_batch: None,
        input_partial: false,
    }
}

/// Subtask `subtask` of `parallelism` of `def`, per key only when `per_key`.
fn operator(
    def: &Arc<GroupAggregate>,
    backend: &StateBackend,
    per_key: bool,
    subtask: usize,
    parallelism: usize,
    now: &Arc<AtomicI64>,
) -> GroupAggregateOperator {
    let mut ctx = SubtaskContext::single("agg");
    ctx.subtask = subtask;
    ctx.parallelism = parallelism;
    ctx.max_parallelism = MAX_PARALLELISM;
    ctx.state_backend = backend.clone();
    let now = Arc::clone(now);
    let clock: Clock = Arc::new(move || now.load(Ordering::SeqCst));
    PER_KEY_ONLY.with(|p| p.set(per_key));
    let operator = GroupAggregateOperator::new(Arc::clone(def), &ctx, clock).unwrap();
    PER_KEY_ONLY.with(|p| p.set(false));
    operator
}

fn run(operator: &mut GroupAggregateOperator, batch: &RecordBatch) -> Vec<String> {
    let mut out = Output::default();
    operator.process_batch(0, batch.clone(), &mut out).unwrap();
    lines(&mut out)
}

/// A random changelog over keys a..f: inserts, and (updating) retractions of live rows.
fn random_changelog(seed: u64, batches: usize, updating: bool) -> Vec<RecordBatch> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let keys = ["a", "b", "c", "d", "e", "f"];
    let strings = ["x", "yy", "", "z", "ab"];
    let schema = schema(updating);
    let mut live: Vec<Row> = Vec::new();
    let mut out = Vec::new();
    for _ in 0..batches {
        let mut rows = Vec::new();
        for _ in 0..rng.random_range(1..12) {
            if updating && !live.is_empty() && rng.random_bool(0.35) {
                let mut row = live.swap_remove(rng.random_range(0..live.len()));
                row.0 = if rng.random_bool(0.5) {
                    RowKind::Delete
                } else {
                    RowKind::UpdateBefore
                };
                rows.push(row);
            } else {
                let row = (
                    RowKind::Insert,
                    keys[rng.random_range(0..keys.len())],
                    rng.random_bool(0.85).then(|| rng.random_range(-3..6)),
                    // Quarters: their sums are exact in any order (see
                    // `float_sums_add_row_by_row_whatever_the_batches`).
                    rng.random_bool(0.8)
                        .then(|| f64::from(rng.random_range(-30..30)) / 4.0),
                    rng.random_bool(0.8)
                        .then(|| strings[rng.random_range(0..strings.len())]),
                );
                live.push(row);
                rows.push(row);
            }
        }
        out.push(batch(&schema, &rows));
    }
    out
}

fn append_only_specs() -> Vec<Spec> {
    vec![
        (count_udaf(), "v", false, false),
        (count_udaf(), "v", false, true),
        (sum_udaf(), "v", false, false),
        (sum_udaf(), "v", false, true),
        (sum_udaf(), "f", false, false),
        (avg_udaf(), "f", false, false),
        (avg_udaf(), "f", false, true),
        (min_udaf(), "v", false, false),
        (max_udaf(), "v", false, true),
        (min_udaf(), "s", false, false),
        (max_udaf(), "s", false, true),
        (count_udaf(), "v", true, false),
        (count_udaf(), "v", true, true),
        (last_value_udaf(), "s", false, false),
        (count_udaf(), "s", true, true),
    ]
}

fn retracting_specs() -> Vec<Spec> {
    vec![
        (count_udaf(), "v", false, false),
        (count_udaf(), "f", false, true),
        (sum_udaf(), "v", false, false),
        (sum_udaf(), "v", false, true),
        (sum_udaf(), "f", false, false),
        (avg_udaf(), "f", false, true),
        (max_udaf(), "v", false, false),
        (count_udaf(), "v", true, true),
        (count_udaf(), "s", true, false),
        (count_udaf(), "s", true, true),
    ]
}

#[test]
fn the_columnar_path_emits_what_the_per_key_path_does() {
    for (updating, specs) in [(false, append_only_specs()), (true, retracting_specs())] {
        let def = Arc::new(definition(updating, &specs, None));
        for seed in 0..6 {
            let now = Arc::new(AtomicI64::new(0));
            let backend = StateBackend::HashMap;
            let mut columnar = operator(&def, &backend, false, 0, 1, &now);
            let mut per_key = operator(&def, &backend, true, 0, 1, &now);
            assert!(!columnar.state.columns.is_empty());
            assert!(per_key.state.columns.is_empty());
            for (i, batch) in random_changelog(seed, 12, updating).iter().enumerate() {
                assert_eq!(
                    run(&mut columnar, batch),
                    run(&mut per_key, batch),
                    "batch {i}, seed {seed}, updating {updating}"
                );
            }
        }
    }
}

/// Snapshots of either path (both backends; a savepoint for RocksDB, so the `groups`
/// table) restore into the other at parallelism 1 and 2 and go on identically.
#[test]
fn snapshots_of_either_path_restore_into_the_other() {
    for (updating, specs) in [(false, append_only_specs()), (true, retracting_specs())] {
        let def = Arc::new(definition(updating, &specs, None));
        for backend in backends() {
            for per_key_first in [false, true] {
                let now = Arc::new(AtomicI64::new(0));
                let batches = random_changelog(7, 10, updating);
                let mut first = operator(&def, &backend, per_key_first, 0, 1, &now);
                let mut reference = operator(&def, &backend, !per_key_first, 0, 1, &now);
                for batch in &batches[..5] {
                    assert_eq!(run(&mut first, batch), run(&mut reference, batch));
                }
                let saved = first.snapshot_savepoint(1).unwrap();
                let expected: Vec<Vec<String>> = batches[5..]
                    .iter()
                    .map(|b| run(&mut reference, b))
                    .collect();
                for parallelism in [1, 2] {
                    let mut restored: Vec<GroupAggregateOperator> = (0..parallelism)
                        .map(|subtask| {
                            let mut op = operator(
                                &def,
                                &backend,
                                !per_key_first,
                                subtask,
                                parallelism,
                                &now,
                            );
                            op.restore_state(redistribute(
                                std::slice::from_ref(&saved),
                                subtask,
                                parallelism,
                            ))
                            .unwrap();
                            op
                        })
                        .collect();
                    if backend == StateBackend::HashMap {
                        assert_eq!(
                            restored.iter().map(|o| o.keys()).sum::<usize>(),
                            first.keys(),
                            "every key restored"
                        );
                    }
                    for (batch, expected) in batches[5..].iter().zip(&expected) {
                        let mut got = Vec::new();
                        for (subtask, part) in super::test_support::route(batch, &[0], parallelism)
                            .iter()
                            .enumerate()
                        {
                            got.extend(run(&mut restored[subtask], part));
                        }
                        got.sort();
                        assert_eq!(
                            &got, expected,
                            "{backend:?}, per key first {per_key_first}, parallelism {parallelism}"
                        );
                    }
                }
            }
        }
    }
}

/// State TTL drops groups from the columnar state too: a key that comes back starts
/// from scratch (and its slot, maybe reused by another key, holds nothing old).
#[test]
fn expired_keys_start_from_scratch_in_columnar_state() {
    let specs = append_only_specs();
    let def = Arc::new(definition(false, &specs, Some(100)));
    let now = Arc::new(AtomicI64::new(0));
    let mut columnar = operator(&def, &StateBackend::HashMap, false, 0, 1, &now);
    let mut per_key = operator(&def, &StateBackend::HashMap, true, 0, 1, &now);
    for (i, batch) in random_changelog(3, 12, false).iter().enumerate() {
        now.store(i as i64 * 60, Ordering::SeqCst);
        assert_eq!(
            run(&mut columnar, batch),
            run(&mut per_key, batch),
            "batch {i}"
        );
    }
}

/// The columnar SUM and AVG of DOUBLE add row by row, as Flink does, so a result does
/// not depend on how rows were batched (DataFusion's accumulators add each batch's sum).
#[test]
fn float_sums_add_row_by_row_whatever_the_batches() {
    use RowKind::Insert as I;
    let specs = [
        (sum_udaf(), "f", false, false),
        (avg_udaf(), "f", false, false),
    ];
    let def = Arc::new(definition(false, &specs, None));
    let schema = schema(false);
    let rows: Vec<Row> = [0.1, 0.2, 0.3]
        .iter()
        .map(|&f| (I, "a", None, Some(f), None))
        .collect();
    let now = Arc::new(AtomicI64::new(0));
    let mut one_batch = operator(&def, &StateBackend::HashMap, false, 0, 1, &now);
    let mut by_row = operator(&def, &StateBackend::HashMap, false, 0, 1, &now);
    let sum = 0.1f64 + 0.2 + 0.3;
    assert_ne!(
        sum,
        0.1 + (0.2 + 0.3),
        "the test needs an order-dependent sum"
    );
    let expected = format!("a|{sum}|{}|0", sum / 3.0);
    assert_eq!(
        run(&mut one_batch, &batch(&schema, &rows)),
        vec![expected.clone()]
    );
    let mut last = Vec::new();
    for row in &rows {
        last = run(&mut by_row, &batch(&schema, std::slice::from_ref(row)));
    }
    assert_eq!(last[1], format!("a|{sum}|{}|2", sum / 3.0));
}

fn ids(ids: &[u32]) -> Vec<u32> {
    ids.to_vec()
}

fn aggregate_of(
    udaf: Arc<AggregateUDF>,
    column: &str,
    distinct: bool,
    updating: bool,
) -> Box<dyn ColumnAggregate> {
    let schema = schema(updating);
    let expr = AggregateExprBuilder::new(udaf, vec![col(column, &schema).unwrap()])
        .schema(schema.clone())
        .alias("a")
        .with_distinct(distinct)
        .build()
        .unwrap();
    let kind = AccumulatorKind::choose(&expr, updating).unwrap();
    let mut aggregate = super::columnar::choose(&expr, &kind, false).expect("columnar");
    aggregate.grow(3);
    aggregate
}

#[test]
fn count_skips_nulls_and_filtered_rows_and_retracts() {
    let mut count = aggregate_of(count_udaf(), "v", false, true);
    let values: ArrayRef = Arc::new(Int64Array::from(vec![
        Some(1),
        None,
        Some(3),
        Some(4),
        Some(5),
    ]));
    let filter = BooleanArray::from(vec![true, true, true, false, true]);
    let retract = [false, false, false, false, true];
    count
        .update(&ColumnRows {
            args: &[values],
            ids: &ids(&[0, 0, 1, 1, 1]),
            filter: Some(&filter),
            retract: Some(&retract),
        })
        .unwrap();
    // Group 0: 1 (NULL skipped); group 1: 3 counted, 4 filtered out, 5 retracted; group 2 empty.
    let result = count.evaluate(&[0, 1, 2]).unwrap();
    assert_eq!(result.as_primitive::<Int64Type>().values(), &[1, 0, 0]);
    let state = count.state(&[1, 0]).unwrap();
    assert_eq!(state[0].as_primitive::<Int64Type>().values(), &[0, 1]);
}

#[test]
fn sum_state_has_datafusions_nulls_for_both_kinds() {
    let values: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), None, Some(7), Some(7)]));
    let rows = |retract: Option<&'static [bool]>| (values.clone(), retract);
    // Append-only: [sum], NULL for a group without a non-null value.
    let mut sum = aggregate_of(sum_udaf(), "v", false, false);
    let (v, _) = rows(None);
    sum.update(&ColumnRows {
        args: &[v],
        ids: &[0, 1, 0, SKIPPED],
        filter: None,
        retract: None,
    })
    .unwrap();
    let state = sum.state(&[0, 1, 2]).unwrap();
    assert_eq!(state.len(), 1);
    let sums = state[0].as_primitive::<Int64Type>();
    assert_eq!(
        (sums.value(0), sums.is_null(1), sums.is_null(2)),
        (12, true, true)
    );
    // Retracting: [sum, count]; a group whose values were all retracted is NULL again.
    let mut sum = aggregate_of(sum_udaf(), "v", false, true);
    let (v, retract) = rows(Some(&[false, false, false, true]));
    sum.update(&ColumnRows {
        args: &[v],
        ids: &[0, 0, 1, 1],
        filter: None,
        retract,
    })
    .unwrap();
    let state = sum.state(&[0, 1]).unwrap();
    let sums = state[0].as_primitive::<Int64Type>();
    assert_eq!((sums.value(0), sums.is_null(1)), (5, true));
    assert_eq!(state[1].as_primitive::<UInt64Type>().values(), &[1, 0]);
    let result = sum.evaluate(&[1, 0]).unwrap();
    assert_eq!(
        result
            .as_primitive::<Int64Type>()
            .iter()
            .collect::<Vec<_>>(),
        vec![None, Some(5)]
    );
    // Restored into empty groups 2 and 1 (swapped), the state is the same.
    let mut other = aggregate_of(sum_udaf(), "v", false, true);
    other.restore(&[2, 1], &state).unwrap();
    assert_eq!(
        other
            .evaluate(&[2, 1])
            .unwrap()
            .as_primitive::<Int64Type>()
            .iter()
            .collect::<Vec<_>>(),
        vec![Some(5), None]
    );
}

#[test]
fn avg_state_is_count_then_sum() {
    let mut avg = aggregate_of(avg_udaf(), "f", false, false);
    let values: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.0), Some(2.0), None]));
    avg.update(&ColumnRows {
        args: &[values],
        ids: &[0, 0, 1],
        filter: None,
        retract: None,
    })
    .unwrap();
    let result = avg.evaluate(&[0, 1]).unwrap();
    let result = result.as_primitive::<Float64Type>();
    assert_eq!((result.value(0), result.is_null(1)), (1.5, true));
    let state = avg.state(&[0, 1]).unwrap();
    assert_eq!(state[0].as_primitive::<UInt64Type>().values(), &[2, 0]);
    let sums = state[1].as_primitive::<Float64Type>();
    assert_eq!((sums.value(0), sums.is_null(1)), (3.0, true));
}

#[test]
fn string_max_keeps_the_largest_and_a_cleared_group_is_empty() {
    let mut max = aggregate_of(max_udaf(), "s", false, false);
    let values: ArrayRef = Arc::new(StringArray::from(vec![
        Some("b"),
        Some("c"),
        None,
        Some("a"),
    ]));
    max.update(&ColumnRows {
        args: &[values],
        ids: &[0, 0, 1, 2],
        filter: None,
        retract: None,
    })
    .unwrap();
    max.clear(2);
    let result = max.evaluate(&[0, 1, 2]).unwrap();
    assert_eq!(
        result.as_string::<i32>().iter().collect::<Vec<_>>(),
        vec![Some("c"), None, None]
    );
}

#[test]
fn distinct_count_keeps_one_set_and_drops_cleared_groups() {
    let mut distinct = aggregate_of(count_udaf(), "v", true, false);
    let values: ArrayRef = Arc::new(Int64Array::from(vec![
        Some(1),
        Some(1),
        Some(2),
        None,
        Some(1),
        Some(9),
        Some(3),
    ]));
    let filter = BooleanArray::from(vec![true, true, true, true, true, false, true]);
    distinct
        .update(&ColumnRows {
            args: &[values],
            ids: &[0, 0, 0, 0, 1, 1, 2],
            filter: Some(&filter),
            retract: None,
        })
        .unwrap();
    let counts = distinct.evaluate(&[0, 1, 2]).unwrap();
    assert_eq!(counts.as_primitive::<Int64Type>().values(), &[2, 1, 1]);
    // Group 2 is removed and its id reused: the new group starts empty.
    distinct.clear(2);
    let values: ArrayRef = Arc::new(Int64Array::from(vec![4]));
    distinct
        .update(&ColumnRows {
            args: &[values],
            ids: &[2],
            filter: None,
            retract: None,
        })
        .unwrap();
    let state = distinct.state(&[2, 0]).unwrap();
    let lists = state[0].as_any().downcast_ref::<ListArray>().unwrap();
    let sorted = |i: usize| {
        let mut v: Vec<i64> = lists.value(i).as_primitive::<Int64Type>().values().to_vec();
        v.sort();
        v
    };
    assert_eq!((sorted(0), sorted(1)), (vec![4], vec![1, 2]));
    let mut restored = aggregate_of(count_udaf(), "v", true, false);
    restored.restore(&[1, 0], &state).unwrap();
    assert_eq!(
        restored
            .evaluate(&[0, 1])
            .unwrap()
            .as_primitive::<Int64Type>()
            .values(),
        &[2, 1]
    );
}

#[test]
fn two_phase_and_unsupported_aggregates_stay_per_key() {
    let schema = schema(true);
    let expr = AggregateExprBuilder::new(max_udaf(), vec![col("v", &schema).unwrap()])
        .schema(schema.clone())
        .alias("a")
        .build()
        .unwrap();
    // MAX over an updating input keeps its value counts per key.
    let kind = AccumulatorKind::choose(&expr, true).unwrap();
    assert!(super::columnar::choose(&expr, &kind, false).is_none());
    let expr = AggregateExprBuilder::new(sum_udaf(), vec![col("v", &schema).unwrap()])
        .schema(schema)
        .alias("a")
        .build()
        .unwrap();
    let kind = AccumulatorKind::choose(&expr, true).unwrap();
    assert!(super::columnar::choose(&expr, &kind, false).is_some());
    assert!(super::columnar::choose(&expr, &kind, true).is_none());
}

#[test]
fn string_distinct_count_keeps_row_counts_under_retraction() {
    let mut distinct = aggregate_of(count_udaf(), "s", true, true);
    let values: ArrayRef = Arc::new(StringArray::from(vec![
        Some("x"),
        Some("x"),
        Some("y"),
        None,
        Some("x"),
        Some("z"),
    ]));
    // Group 0: x twice, y, NULL, then one x retracted; group 1: z retracted without state.
    let retract = [false, false, false, false, true, true];
    distinct
        .update(&ColumnRows {
            args: &[values],
            ids: &[0, 0, 0, 0, 0, 1],
            filter: None,
            retract: Some(&retract),
        })
        .unwrap();
    assert_eq!(
        distinct
            .evaluate(&[0, 1])
            .unwrap()
            .as_primitive::<Int64Type>()
            .values(),
        &[2, 0]
    );
    let state = distinct.state(&[0]).unwrap();
    let values = state[0]
        .as_any()
        .downcast_ref::<ListArray>()
        .unwrap()
        .value(0);
    let counts = state[1]
        .as_any()
        .downcast_ref::<ListArray>()
        .unwrap()
        .value(0);
    assert_eq!(
        values.as_string::<i32>().iter().collect::<Vec<_>>(),
        vec![Some("x"), Some("y")]
    );
    assert_eq!(counts.as_primitive::<UInt64Type>().values(), &[1, 1]);
    let mut restored = aggregate_of(count_udaf(), "s", true, true);
    restored.restore(&[2], &state).unwrap();
    let x: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
    restored
        .update(&ColumnRows {
            args: &[x],
            ids: &[2],
            filter: None,
            retract: Some(&[true]),
        })
        .unwrap();
    assert_eq!(
        restored
            .evaluate(&[2])
            .unwrap()
            .as_primitive::<Int64Type>()
            .values(),
        &[1]
    );
}
