//! Tests of the interval join: hand-computed outputs for on-time and late rows of every
//! kind, padded rows when state expires, the delayed watermark, and checkpoints restored
//! at other parallelisms.

use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Operator as BinaryOp;
use datafusion::physical_expr::expressions::{binary, Column};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::AtomicI64;
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

/// `(k, a, ts)` joined with `(k, b, ts)` on `k` where `r.ts` is in `[l.ts, l.ts + 10 s]`.
fn def(kind: JoinKind, filter: Option<BinaryOp>) -> IntervalJoin {
    let side = |value: &str| JoinSide {
        schema: side_schema(value),
        updating: false,
        keys: vec![0],
        output_columns: 3,
        state_ttl_ms: None,
    };
    let fields: Vec<Field> = [side_schema("a"), side_schema("b")]
        .iter()
        .flat_map(|s| {
            s.fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect::<Vec<_>>()
        })
        .collect();
    let schema = Schema::new(fields);
    IntervalJoin {
        kind,
        left: side("a"),
        right: side("b"),
        left_time: 2,
        right_time: 2,
        lower_ms: -10_000,
        upper_ms: 0,
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
        output_schema: Arc::new(schema),
    }
}

fn batch(def: &IntervalJoin, input: usize, rows: &[(Option<i64>, &str, i64)]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )),
        Arc::new(TimestampMillisecondArray::from(
            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(Arc::clone(&def.side(input).schema), columns).unwrap()
}

/// Rows as `[k, a, ts, k, b, ts]` (times in ms, NULL as `null`), and watermarks as `W<ms>`.
fn render(out: &mut Output) -> Vec<String> {
    let mut lines = Vec::new();
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
            Message::Watermark(w) => lines.push(format!("W{}", w.0)),
            _ => {}
        }
    }
    lines
}

struct Harness {
    op: IntervalJoinOperator,
    def: Arc<IntervalJoin>,
}

impl Harness {
    fn new(def: IntervalJoin) -> Harness {
        let def = Arc::new(def);
        Harness {
            op: IntervalJoinOperator::new(Arc::clone(&def)).unwrap(),
            def,
        }
    }

    fn push(&mut self, input: usize, rows: &[(Option<i64>, &str, i64)]) -> Vec<String> {
        let mut out = Output::default();
        let b = batch(&self.def, input, rows);
        self.op.process_batch(input, b, &mut out).unwrap();
        render(&mut out)
    }

    fn watermark(&mut self, w: i64) -> Vec<String> {
        let mut out = Output::default();
        self.op.process_watermark(Watermark(w), &mut out).unwrap();
        render(&mut out)
    }
}

#[test]
fn inner_join_within_the_interval_and_a_late_row_joins_what_is_not_cleaned_yet() {
    let mut h = Harness::new(def(JoinKind::Inner, None));
    assert!(h.push(0, &[(Some(1), "x", 0)]).is_empty());
    assert_eq!(
        h.push(1, &[(Some(1), "p", 5000)]),
        ["[1, x, 0, 1, p, 5000]"]
    );
    // A right row out of range does not join.
    assert!(h.push(1, &[(Some(1), "far", 10_001)]).is_empty());
    // The right side's timer (5000 + 0 + 5000 + 1) removes p; the output watermark is
    // held back by 10 s.
    assert_eq!(h.watermark(12_000), ["W2000"]);
    // 'far' (10001) also went: no left row after the watermark can reach back to it.
    assert_eq!(h.op.cached_rows(), (1, 0));
    // Late (8000 < 12000): x is expired (0 <= 12000 - 10000 - 1) but its timer (15001)
    // has not fired, so it still joins, as in Flink; then it is removed. q is not cached.
    assert_eq!(
        h.push(1, &[(Some(1), "q", 8000)]),
        ["[1, x, 0, 1, q, 8000]"]
    );
    assert_eq!(h.op.cached_rows(), (0, 0));
    assert_eq!(h.watermark(20_000), ["W10000"]);
    assert!(h.push(1, &[(Some(1), "r", 21_000)]).is_empty());
}

#[test]
fn left_join_pads_rows_when_they_expire_or_arrive_too_late() {
    let mut h = Harness::new(def(JoinKind::Left, None));
    assert!(h
        .push(0, &[(Some(1), "x", 0), (Some(2), "y", 0)])
        .is_empty());
    assert_eq!(
        h.push(1, &[(Some(1), "p", 3000)]),
        ["[1, x, 0, 1, p, 3000]"]
    );
    let mut at_16s = h.watermark(16_000);
    at_16s.sort();
    assert_eq!(at_16s, ["W6000", "[2, y, 0, null, null, null]"]);
    // Its whole range has expired: no join, not cached, padded at once.
    assert_eq!(
        h.push(0, &[(Some(3), "z", 1000)]),
        ["[3, z, 1000, null, null, null]"]
    );
    // NULL keys and times never join.
    assert_eq!(
        h.push(0, &[(None, "n", 20_000)]),
        ["[null, n, 20000, null, null, null]"]
    );
    assert_eq!(h.op.cached_rows(), (0, 0));
}

#[test]
fn full_join_pads_both_sides_and_extra_conditions_apply() {
    let mut h = Harness::new(def(JoinKind::Full, Some(BinaryOp::Lt)));
    assert!(h
        .push(1, &[(Some(5), "s", 0), (Some(1), "a", 0)])
        .is_empty());
    // 'm' < 'a' is false: no join; 'm' < 's' joins.
    assert!(h.push(0, &[(Some(1), "m", 0)]).is_empty());
    assert_eq!(h.push(0, &[(Some(5), "m", 0)]), ["[5, m, 0, 5, s, 0]"]);
    let mut end = h.watermark(i64::MAX);
    end.sort();
    assert_eq!(
        end,
        [
            "WMAX".replace("MAX", &i64::MAX.to_string()),
            "[1, m, 0, null, null, null]".to_string(),
            "[null, null, null, 1, a, 0]".to_string(),
        ]
    );
    assert_eq!(h.op.cached_rows(), (0, 0));
}

fn random_steps(seed: u64, count: usize, def: &IntervalJoin) -> Vec<Step> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let values = ["a", "m", "z"];
    let mut now = 0i64;
    let mut watermark = i64::MIN;
    let mut steps = Vec::new();
    for _ in 0..count {
        let input = rng.random_range(0..2);
        let rows: Vec<(Option<i64>, &str, i64)> = (0..rng.random_range(1..4))
            .map(|_| {
                now += rng.random_range(0..3000);
                // Some rows are up to 15 s out of order: late ones among them.
                let t = now - rng.random_range(0..15_000);
                let k = rng.random_bool(0.9).then(|| rng.random_range(0..3));
                (k, values[rng.random_range(0..values.len())], t)
            })
            .collect();
        steps.push(Step::Batch(input, batch(def, input, &rows)));
        if rng.random_bool(0.4) && now - 5000 > watermark {
            watermark = now - 5000;
            steps.push(Step::Watermark(watermark));
        }
    }
    steps.push(Step::Watermark(i64::MAX));
    steps
}

#[test]
fn interval_joins_continue_exactly_after_restore_at_any_parallelism() {
    for (seed, kind, filter) in [
        (1, JoinKind::Inner, None),
        (2, JoinKind::Left, Some(BinaryOp::NotEq)),
        (3, JoinKind::Right, None),
        (4, JoinKind::Full, Some(BinaryOp::Lt)),
    ] {
        let join = Arc::new(def(kind, filter));
        let steps = random_steps(seed, 16, &join);
        let make = {
            let join = Arc::clone(&join);
            move |_: usize, _: usize, _: Arc<AtomicI64>| -> Box<dyn Operator> {
                Box::new(
                    IntervalJoinOperator::new(Arc::clone(&join))
                        .unwrap()
                        .with_max_parallelism(crate::group_agg::test_support::MAX_PARALLELISM),
                )
            }
        };
        let out = check_checkpoints(&make, &[vec![0], vec![0]], &steps);
        let rows = out.iter().flatten().count();
        assert!(rows > 5, "{kind:?}: the scenario joins rows: {out:?}");
    }
}

#[test]
fn restoring_into_another_interval_join_fails_clearly() {
    let join = Arc::new(def(JoinKind::Inner, None));
    let mut op = IntervalJoinOperator::new(Arc::clone(&join)).unwrap();
    let mut out = Output::default();
    op.process_batch(0, batch(&join, 0, &[(Some(1), "x", 0)]), &mut out)
        .unwrap();
    let snapshot = op.snapshot_state(1).unwrap();
    let mut other = def(JoinKind::Inner, None);
    other.left.keys = vec![1];
    let mut restored = IntervalJoinOperator::new(Arc::new(other)).unwrap();
    let err = restored.restore_state(snapshot).unwrap_err().to_string();
    assert!(err.contains("SQL changed"), "{err}");
}
