//! Tests of the temporal join: hand-computed outputs for versions and left rows out of
//! order, deletes, LEFT padding, several keys, late left rows, bounded state, the TTL,
//! and checkpoints restored at other parallelisms.

use std::sync::atomic::{AtomicI64, Ordering};

use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Operator as BinaryOp;
use datafusion::physical_expr::expressions::{binary, Column};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weir_types::Message;

use super::*;
use crate::join::test_support::{check_checkpoints, Step};

fn side_schema(value: &str) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new(value, DataType::Utf8, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]))
}

/// `(k, a, ts)` joined with the versions of `(k, b, ts)` (updating when `updating`).
fn def(kind: JoinKind, updating: bool, filter: Option<BinaryOp>, ttl: Option<i64>) -> TemporalJoin {
    let side = |value: &str, updating: bool| JoinSide {
        schema: side_schema(value),
        updating,
        keys: vec![0],
        output_columns: 3,
        state_ttl_ms: ttl,
    };
    let fields: Vec<Field> = [side_schema("a"), side_schema("b")]
        .iter()
        .flat_map(|s| {
            s.fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect::<Vec<_>>()
        })
        .map(|f| f.with_nullable(true))
        .collect();
    let schema = Schema::new(fields);
    TemporalJoin {
        kind,
        left: side("a", false),
        right: side("b", updating),
        left_time: 2,
        right_time: 2,
        filter: filter.map(|op| {
            binary(
                Arc::new(Column::new("a", 1)),
                op,
                Arc::new(Column::new("b", 4)),
                &schema,
            )
            .unwrap()
        }),
        nulls_equal: false,
        right_keeps_last: false,
        output_schema: Arc::new(schema),
    }
}

type Row<'a> = (Option<i64>, &'a str, Option<i64>);

fn columns(rows: &[Row<'_>]) -> Vec<ArrayRef> {
    vec![
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )),
        Arc::new(TimestampMillisecondArray::from(
            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )),
    ]
}

fn left_batch(rows: &[Row<'_>]) -> RecordBatch {
    RecordBatch::try_new(side_schema("a"), columns(rows)).unwrap()
}

/// Right rows with their kinds (`+I`, `-U`, `+U`, `-D`); append-only when `kinds` is
/// `None`.
fn right_batch(rows: &[Row<'_>], kinds: Option<&[RowKind]>) -> RecordBatch {
    let mut columns = columns(rows);
    let mut fields: Vec<Field> = side_schema("b")
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    if let Some(kinds) = kinds {
        columns.push(Arc::new(Int8Array::from(
            kinds.iter().map(|k| *k as i8).collect::<Vec<_>>(),
        )));
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// Rows as `[k, a, ts, k, b, ts]` (times in ms), sorted, and watermarks as `W<ms>`.
fn render(out: &mut Output) -> Vec<String> {
    let mut lines = Vec::new();
    let mut watermarks = Vec::new();
    for message in out.drain() {
        match message {
            Message::Batch(b) => {
                for row in 0..b.num_rows() {
                    let values: Vec<String> = b
                        .columns()
                        .iter()
                        .map(|c| match ScalarValue::try_from_array(c, row).unwrap() {
                            v if v.is_null() => "null".to_string(),
                            ScalarValue::TimestampMillisecond(Some(t), _) => t.to_string(),
                            v => v.to_string(),
                        })
                        .collect();
                    lines.push(format!("[{}]", values.join(", ")));
                }
            }
            Message::Watermark(w) => watermarks.push(format!("W{}", w.0)),
            _ => {}
        }
    }
    lines.sort();
    lines.extend(watermarks);
    lines
}

struct Harness {
    op: TemporalJoinOperator,
    now: Arc<AtomicI64>,
}

impl Harness {
    fn new(def: TemporalJoin) -> Harness {
        let now = Arc::new(AtomicI64::new(0));
        let clock = Arc::clone(&now);
        let op = TemporalJoinOperator::with_clock(
            Arc::new(def),
            Arc::new(JobMetrics::default()),
            Arc::new(move || clock.load(Ordering::SeqCst)),
        )
        .unwrap();
        Harness { op, now }
    }

    fn left(&mut self, rows: &[Row<'_>]) -> Vec<String> {
        let mut out = Output::default();
        self.op
            .process_batch(0, left_batch(rows), &mut out)
            .unwrap();
        render(&mut out)
    }

    fn right(&mut self, rows: &[Row<'_>], kinds: Option<&[RowKind]>) {
        let mut out = Output::default();
        self.op
            .process_batch(1, right_batch(rows, kinds), &mut out)
            .unwrap();
        assert!(out.is_empty(), "right rows emit nothing");
    }

    fn watermark(&mut self, w: i64) -> Vec<String> {
        let mut out = Output::default();
        self.op.process_watermark(Watermark(w), &mut out).unwrap();
        render(&mut out)
    }
}

#[test]
fn versions_and_left_rows_out_of_order_join_the_version_valid_at_the_left_time() {
    let mut h = Harness::new(def(JoinKind::Inner, false, None, None));
    assert!(h
        .left(&[(Some(1), "x", Some(7)), (Some(1), "y", Some(3))])
        .is_empty());
    h.right(
        &[(Some(1), "v10", Some(10)), (Some(1), "v0", Some(0))],
        None,
    );
    assert!(h
        .left(&[(Some(1), "z", Some(12)), (Some(1), "early", Some(-1))])
        .is_empty());
    h.right(&[(Some(1), "v5", Some(5))], None);
    // Only rows at or below the watermark are emitted; 'early' precedes every version.
    assert_eq!(h.watermark(6), ["[1, y, 3, 1, v0, 0]", "W6"]);
    // Version 0 is superseded below the watermark by version 5.
    assert_eq!(h.op.state_rows(), (2, 2));
    assert_eq!(
        h.watermark(20),
        ["[1, x, 7, 1, v5, 5]", "[1, z, 12, 1, v10, 10]", "W20"]
    );
    // Only the newest version at or below the watermark is left.
    assert_eq!(h.op.state_rows(), (0, 1));
    // The same time twice: the later arrival replaces the version.
    h.right(
        &[(Some(1), "v30", Some(30)), (Some(1), "v30b", Some(30))],
        None,
    );
    h.left(&[(Some(1), "w", Some(31))]);
    assert_eq!(h.watermark(40), ["[1, w, 31, 1, v30b, 30]", "W40"]);
}

#[test]
fn a_delete_ends_a_version_and_update_befores_are_dropped() {
    use RowKind::*;
    let mut h = Harness::new(def(JoinKind::Left, true, None, None));
    // Debezium-style: the update's before image carries the old version's time (0).
    h.right(
        &[
            (Some(1), "a", Some(0)),
            (Some(1), "a", Some(0)),
            (Some(1), "b", Some(4)),
            (Some(1), "b", Some(4)),
            (Some(1), "c", Some(10)),
        ],
        Some(&[Insert, UpdateBefore, UpdateAfter, Delete, Insert]),
    );
    h.left(&[
        (Some(1), "p", Some(2)),
        (Some(1), "q", Some(6)),
        (Some(1), "r", Some(11)),
        (Some(2), "s", Some(3)),
        (None, "n", Some(3)),
    ]);
    assert_eq!(
        h.watermark(12),
        [
            "[1, p, 2, 1, a, 0]",
            "[1, q, 6, null, null, null]",
            "[1, r, 11, 1, c, 10]",
            "[2, s, 3, null, null, null]",
            "[null, n, 3, null, null, null]",
            "W12",
        ]
    );
    assert_eq!(h.op.state_rows(), (0, 1));
    // Deleted again: the delete, oldest at the watermark, leaves no state.
    h.right(&[(Some(1), "c", Some(13))], Some(&[Delete]));
    assert_eq!(h.watermark(14), ["W14"]);
    assert_eq!(h.op.state_rows(), (0, 0));
    // A left row without a time can never be passed by the watermark: padded at once.
    assert_eq!(
        h.left(&[(Some(1), "t", None)]),
        ["[1, t, null, null, null, null]"]
    );
}

#[test]
fn several_keys_extra_conditions_and_late_left_rows() {
    let mut h = Harness::new(def(JoinKind::Left, false, Some(BinaryOp::Lt), None));
    h.right(
        &[
            (Some(1), "m", Some(0)),
            (Some(1), "b", Some(5)),
            (Some(1), "z", Some(10)),
            (Some(2), "q", Some(0)),
        ],
        None,
    );
    h.left(&[
        (Some(1), "a", Some(1)),
        (Some(1), "c", Some(6)),
        (Some(2), "p", Some(8)),
        (Some(2), "r", Some(9)),
    ]);
    // 'c' < 'b' fails for the valid version b: padded, not joined with an older one.
    assert_eq!(
        h.watermark(20),
        [
            "[1, a, 1, 1, m, 0]",
            "[1, c, 6, null, null, null]",
            "[2, p, 8, 2, q, 0]",
            "[2, r, 9, null, null, null]",
            "W20",
        ]
    );
    // Late rows wait for the next watermark and join what is retained: version 5 of
    // key 1 is gone, so a row at 7 finds nothing; one at 12 finds version 10.
    assert!(h
        .left(&[(Some(1), "a", Some(7)), (Some(1), "a", Some(12))])
        .is_empty());
    assert_eq!(h.op.state_rows(), (2, 2));
    assert_eq!(
        h.watermark(21),
        ["[1, a, 12, 1, z, 10]", "[1, a, 7, null, null, null]", "W21"]
    );
}

#[test]
fn state_stays_bounded_as_the_watermark_advances() {
    let mut h = Harness::new(def(JoinKind::Inner, false, None, None));
    let mut sizes = Vec::new();
    for step in 0..10i64 {
        let t = step * 100;
        let rows: Vec<Row<'_>> = (0..20).map(|i| (Some(i % 4), "v", Some(t + i))).collect();
        h.right(&rows, None);
        let left: Vec<Row<'_>> = (0..10)
            .map(|i| (Some(i % 4), "l", Some(t + 50 + i)))
            .collect();
        h.left(&left);
        let before = h.op.state_rows();
        let out = h.watermark(t + 99);
        assert_eq!(out.len(), 11, "{out:?}");
        let after = h.op.state_rows();
        assert!(
            after.0 < before.0 && after.1 < before.1,
            "{before:?} -> {after:?}"
        );
        sizes.push(after);
    }
    // Four keys, one version each; no left row waits.
    assert!(sizes.iter().all(|&s| s == (0, 4)), "{sizes:?}");
}

#[test]
fn versions_expire_after_the_state_ttl() {
    let mut h = Harness::new(def(JoinKind::Left, false, None, Some(1000)));
    h.right(&[(Some(1), "v", Some(0)), (Some(2), "w", Some(0))], None);
    h.now.store(500, Ordering::SeqCst);
    h.right(&[(Some(2), "w2", Some(1))], None);
    h.left(&[(Some(1), "a", Some(5)), (Some(2), "b", Some(5))]);
    h.now.store(1200, Ordering::SeqCst);
    assert_eq!(
        h.watermark(10),
        ["[1, a, 5, null, null, null]", "[2, b, 5, 2, w2, 1]", "W10"]
    );
    assert_eq!(h.op.state_rows(), (0, 1));
}

fn random_steps(seed: u64, count: usize) -> Vec<Step> {
    use RowKind::*;
    let mut rng = SmallRng::seed_from_u64(seed);
    let values = ["a", "m", "z"];
    let mut now = 0i64;
    let mut watermark = i64::MIN;
    let mut steps = Vec::new();
    for _ in 0..count {
        let input = rng.random_range(0..2);
        let n = rng.random_range(1..5);
        let mut rows = Vec::new();
        let mut kinds = Vec::new();
        for _ in 0..n {
            now += rng.random_range(0..2000);
            // Up to 8 s out of order: some rows are late.
            let t = now - rng.random_range(0..8000);
            let k = rng.random_bool(0.9).then(|| rng.random_range(0..3));
            rows.push((k, values[rng.random_range(0..values.len())], Some(t)));
            kinds.push([Insert, UpdateAfter, Delete, UpdateBefore][rng.random_range(0..4)]);
        }
        let batch = if input == 0 {
            left_batch(&rows)
        } else {
            right_batch(&rows, Some(&kinds))
        };
        steps.push(Step::Batch(input, batch));
        if rng.random_bool(0.4) && now - 3000 > watermark {
            watermark = now - 3000;
            steps.push(Step::Watermark(watermark));
        }
    }
    steps.push(Step::Watermark(i64::MAX));
    steps
}

#[test]
fn temporal_joins_continue_exactly_after_restore_at_any_parallelism() {
    for (seed, kind, filter) in [
        (1, JoinKind::Inner, None),
        (2, JoinKind::Left, Some(BinaryOp::NotEq)),
        (3, JoinKind::Left, None),
    ] {
        let join = Arc::new(def(kind, true, filter, None));
        let steps = random_steps(seed, 24);
        let make = {
            let join = Arc::clone(&join);
            move |_: usize, _: usize, now: Arc<AtomicI64>| -> Box<dyn Operator> {
                Box::new(
                    TemporalJoinOperator::with_clock(
                        Arc::clone(&join),
                        Arc::new(JobMetrics::default()),
                        Arc::new(move || now.load(Ordering::SeqCst)),
                    )
                    .unwrap()
                    .with_max_parallelism(crate::group_agg::test_support::MAX_PARALLELISM),
                )
            }
        };
        let out = check_checkpoints(&make, &[vec![0], vec![0]], &steps);
        let joined = out
            .iter()
            .flatten()
            .filter(|l| !l.ends_with("NULL|NULL|NULL"))
            .count();
        assert!(joined > 5, "{kind:?}: the scenario joins rows: {out:?}");
    }
}

#[test]
fn restoring_into_another_temporal_join_fails_clearly() {
    let mut h = Harness::new(def(JoinKind::Inner, false, None, None));
    h.right(&[(Some(1), "v", Some(0))], None);
    h.left(&[(Some(1), "x", Some(5))]);
    let snapshot = h.op.snapshot_state(1).unwrap();
    let mut restored = Harness::new(def(JoinKind::Inner, false, None, None));
    restored.op.restore_state(snapshot.clone()).unwrap();
    assert_eq!(restored.op.state_rows(), (1, 1));
    assert_eq!(restored.watermark(5), ["[1, x, 5, 1, v, 0]", "W5"]);
    let mut changed = def(JoinKind::Inner, false, None, None);
    changed.right.schema = side_schema("c");
    let mut other = Harness::new(changed);
    let err = other.op.restore_state(snapshot).unwrap_err().to_string();
    assert!(err.contains("SQL changed"), "{err}");
}

#[path = "tests_changelog.rs"]
mod changelog;
