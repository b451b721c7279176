//! Tests of the unbounded aggregation: hand-computed changelogs, retractions, TTL,
//! mini-batch, and random changelogs against a batch recomputation of the final table.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};

use arrow::array::{Int64Array, Int8Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::min_max::{max_udaf, min_udaf};
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::logical_expr::AggregateUDF;
use datafusion::physical_expr::aggregate::AggregateExprBuilder;
use datafusion::physical_expr::expressions::col;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weir_types::Message;

use super::*;

fn input_schema(updating: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
    ];
    if updating {
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    }
    Arc::new(Schema::new(fields))
}

fn batch(schema: &SchemaRef, rows: &[(RowKind, &str, i64)]) -> RecordBatch {
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )),
    ];
    if schema.fields().len() == 3 {
        columns.push(Arc::new(Int8Array::from(
            rows.iter().map(|r| r.0 as i8).collect::<Vec<_>>(),
        )));
    }
    RecordBatch::try_new(schema.clone(), columns).unwrap()
}

fn aggregate(schema: &SchemaRef, udaf: Arc<AggregateUDF>, alias: &str) -> FilteredAggregate {
    let expr = AggregateExprBuilder::new(udaf, vec![col("v", schema).unwrap()])
        .schema(schema.clone())
        .alias(alias)
        .build()
        .unwrap();
    (Arc::new(expr), None)
}

struct Harness {
    operator: GroupAggregateOperator,
    now: Arc<AtomicI64>,
    metrics: Arc<JobMetrics>,
}

fn harness(
    updating: bool,
    keyed: bool,
    udafs: &[(Arc<AggregateUDF>, &str)],
    ttl: Option<i64>,
    mini_batch: Option<MiniBatch>,
) -> Harness {
    let schema = input_schema(updating);
    let aggregates: Vec<FilteredAggregate> = udafs
        .iter()
        .map(|(u, a)| aggregate(&schema, u.clone(), a))
        .collect();
    let mut fields = Vec::new();
    if keyed {
        fields.push(Field::new("k", DataType::Utf8, true));
    }
    for (a, _) in &aggregates {
        fields.push(a.field().as_ref().clone());
    }
    let def = GroupAggregate {
        key_columns: if keyed { vec![0] } else { vec![] },
        aggregates,
        output_schema: GroupAggregate::output_schema_of(fields),
        input_updating: updating,
        state_ttl_ms: ttl,
        mini_batch,
        input_partial: false,
    };
    let now = Arc::new(AtomicI64::new(0));
    let clock_now = Arc::clone(&now);
    let ctx = SubtaskContext::single("agg");
    let metrics = Arc::clone(&ctx.metrics);
    let operator = GroupAggregateOperator::new(
        Arc::new(def),
        &ctx,
        Arc::new(move || clock_now.load(Ordering::SeqCst)),
    )
    .unwrap();
    Harness {
        operator,
        now,
        metrics,
    }
}

/// Output rows as `+I[a, 2, 3]`.
fn rendered(out: &mut Output) -> Vec<String> {
    let mut lines = Vec::new();
    for message in out.drain() {
        if let Message::Batch(b) = message {
            let kinds = b
                .column(b.num_columns() - 1)
                .as_primitive::<Int8Type>()
                .clone();
            for row in 0..b.num_rows() {
                let values: Vec<String> = (0..b.num_columns() - 1)
                    .map(|c| {
                        ScalarValue::try_from_array(b.column(c), row)
                            .unwrap()
                            .to_string()
                    })
                    .collect();
                let kind = RowKind::from_i8(kinds.value(row)).unwrap();
                lines.push(format!("{kind}[{}]", values.join(", ")));
            }
        }
    }
    lines
}

impl Harness {
    fn push(&mut self, schema: &SchemaRef, rows: &[(RowKind, &str, i64)]) -> Vec<String> {
        let mut out = Output::default();
        self.operator
            .process_batch(0, batch(schema, rows), &mut out)
            .unwrap();
        rendered(&mut out)
    }
}

use RowKind::{Delete as D, Insert as I, UpdateAfter as UA, UpdateBefore as UB};

#[test]
fn append_only_input_gives_inserts_then_update_pairs() {
    let mut h = harness(
        false,
        true,
        &[(count_udaf(), "cnt"), (sum_udaf(), "total")],
        None,
        None,
    );
    let schema = input_schema(false);
    assert_eq!(
        h.push(&schema, &[(I, "a", 1), (I, "a", 2), (I, "b", 5)]),
        vec!["+I[a, 2, 3]", "+I[b, 1, 5]"]
    );
    assert_eq!(
        h.push(&schema, &[(I, "a", 4)]),
        vec!["-U[a, 2, 3]", "+U[a, 3, 7]"]
    );
    assert_eq!(h.operator.keys(), 2);
}

#[test]
fn retractions_update_max_and_delete_empty_keys() {
    let mut h = harness(
        true,
        true,
        &[(max_udaf(), "m"), (min_udaf(), "n")],
        None,
        None,
    );
    let schema = input_schema(true);
    assert_eq!(
        h.push(&schema, &[(I, "a", 5), (I, "a", 9)]),
        vec!["+I[a, 9, 5]"]
    );
    assert_eq!(
        h.push(&schema, &[(UB, "a", 9), (UA, "a", 7)]),
        vec!["-U[a, 9, 5]", "+U[a, 7, 5]"]
    );
    assert_eq!(
        h.push(&schema, &[(D, "a", 5)]),
        vec!["-U[a, 7, 5]", "+U[a, 7, 7]"]
    );
    assert_eq!(h.push(&schema, &[(D, "a", 7)]), vec!["-D[a, 7, 7]"]);
    assert_eq!(h.operator.keys(), 0);
    // A retraction for a key without state is ignored, as in Flink.
    assert!(h.push(&schema, &[(D, "zz", 1)]).is_empty());
    assert_eq!(h.operator.keys(), 0);
}

#[test]
fn an_unchanged_result_is_not_emitted_again() {
    let mut h = harness(false, true, &[(max_udaf(), "m")], None, None);
    let schema = input_schema(false);
    assert_eq!(h.push(&schema, &[(I, "a", 5)]), vec!["+I[a, 5]"]);
    assert!(h.push(&schema, &[(I, "a", 3)]).is_empty());
}

#[test]
fn global_aggregate_without_keys() {
    let mut h = harness(false, false, &[(count_udaf(), "c")], None, None);
    let schema = input_schema(false);
    assert_eq!(h.push(&schema, &[(I, "a", 5), (I, "b", 1)]), vec!["+I[2]"]);
    assert_eq!(h.push(&schema, &[(I, "c", 2)]), vec!["-U[2]", "+U[3]"]);
}

#[test]
fn state_ttl_drops_idle_keys_without_retracting_them() {
    let mut h = harness(false, true, &[(sum_udaf(), "s")], Some(1_000), None);
    let schema = input_schema(false);
    assert_eq!(
        h.push(&schema, &[(I, "a", 1), (I, "b", 1)]),
        vec!["+I[a, 1]", "+I[b, 1]"]
    );
    h.now.store(600, Ordering::SeqCst);
    // With TTL on, an unchanged result is emitted again (as Flink does).
    assert_eq!(
        h.push(&schema, &[(I, "b", 0)]),
        vec!["-U[b, 1]", "+U[b, 1]"]
    );
    h.now.store(1_200, Ordering::SeqCst);
    // 'a' was last written at 0: expired; 'b' at 600: kept.
    assert_eq!(h.push(&schema, &[(I, "a", 2)]), vec!["+I[a, 2]"]);
    assert_eq!(JobMetrics::get(&h.metrics.state_keys_expired), 1);
    assert_eq!(
        h.push(&schema, &[(I, "b", 2)]),
        vec!["-U[b, 1]", "+U[b, 3]"]
    );
}

#[test]
fn mini_batch_holds_changes_until_latency_or_size() {
    let mini = MiniBatch {
        allow_latency_ms: 1_000,
        size: 5,
    };
    let mut h = harness(false, true, &[(count_udaf(), "c")], None, Some(mini));
    let schema = input_schema(false);
    assert!(h.push(&schema, &[(I, "a", 1)]).is_empty());
    h.now.store(500, Ordering::SeqCst);
    assert!(h.push(&schema, &[(I, "a", 1), (I, "b", 1)]).is_empty());
    h.now.store(1_000, Ordering::SeqCst);
    let mut out = Output::default();
    h.operator
        .process_watermark(Watermark(7), &mut out)
        .unwrap();
    let lines = rendered(&mut out);
    assert_eq!(lines, vec!["+I[a, 2]", "+I[b, 1]"]);
    // Size: the fifth row triggers emission.
    assert!(h.push(&schema, &[(I, "a", 1), (I, "a", 1)]).is_empty());
    assert_eq!(
        h.push(&schema, &[(I, "a", 1), (I, "b", 1), (I, "c", 1)]),
        vec!["-U[a, 2]", "+U[a, 5]", "-U[b, 1]", "+U[b, 2]", "+I[c, 1]"]
    );
    assert!(h.push(&schema, &[(I, "c", 1)]).is_empty());
    let mut out = Output::default();
    h.operator.finish(&mut out).unwrap();
    assert_eq!(rendered(&mut out), vec!["-U[c, 1]", "+U[c, 2]"]);
}

/// Applies a changelog to a table (multiset of rows), panicking on an impossible retraction.
fn apply_changelog(table: &mut BTreeMap<String, i64>, lines: &[String]) {
    for line in lines {
        let (kind, row) = line.split_at(2);
        let count = table.entry(row.to_string()).or_default();
        if kind == "+I" || kind == "+U" {
            *count += 1;
        } else {
            assert!(*count > 0, "retraction of a row not in the table: {line}");
            *count -= 1;
        }
    }
    table.retain(|_, c| *c > 0);
}

#[test]
fn random_changelogs_end_in_the_batch_result() {
    let mut rng = SmallRng::seed_from_u64(7);
    let schema = input_schema(true);
    let keys = ["a", "b", "c", "d"];
    for round in 0..30 {
        let mut h = harness(
            true,
            true,
            &[
                (count_udaf(), "c"),
                (sum_udaf(), "s"),
                (max_udaf(), "mx"),
                (min_udaf(), "mn"),
            ],
            None,
            None,
        );
        let mut live: Vec<(&str, i64)> = Vec::new();
        let mut table = BTreeMap::new();
        for _ in 0..rng.random_range(1..12) {
            let mut rows = Vec::new();
            for _ in 0..rng.random_range(1..8) {
                if !live.is_empty() && rng.random_bool(0.35) {
                    let (k, v) = live.swap_remove(rng.random_range(0..live.len()));
                    rows.push((if rng.random_bool(0.5) { D } else { UB }, k, v));
                } else {
                    let row = (
                        keys[rng.random_range(0..keys.len())],
                        rng.random_range(-5..20),
                    );
                    live.push(row);
                    rows.push((if rng.random_bool(0.5) { I } else { UA }, row.0, row.1));
                }
            }
            let lines = h.push(&schema, &rows);
            apply_changelog(&mut table, &lines);
        }
        let mut expected = BTreeMap::new();
        for k in keys {
            let values: Vec<i64> = live.iter().filter(|r| r.0 == k).map(|r| r.1).collect();
            if values.is_empty() {
                continue;
            }
            let row = format!(
                "[{k}, {}, {}, {}, {}]",
                values.len(),
                values.iter().sum::<i64>(),
                values.iter().max().unwrap(),
                values.iter().min().unwrap()
            );
            expected.insert(row, 1);
        }
        assert_eq!(table, expected, "round {round}");
    }
}
