//! Tests of the window join: hand-computed outputs of every kind for out-of-order and
//! late rows, several windows firing on one watermark, HOP rows joining in each of their
//! windows, joins without keys, and checkpoints restored at other parallelisms.

use std::sync::atomic::AtomicI64;

use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Operator as BinaryOp;
use datafusion::physical_expr::expressions::{binary, Column};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weir_types::Message;

use super::*;
use crate::join::test_support::{check_checkpoints, Step};

const TUMBLE: WindowSpec = WindowSpec::Tumble {
    size_ms: 10_000,
    offset_ms: 0,
};
const HOP: WindowSpec = WindowSpec::Hop {
    size_ms: 10_000,
    slide_ms: 5_000,
    offset_ms: 0,
};

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

/// `(k, <value>, ts, window_start, window_end)`.
fn side_schema(value: &str) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new(value, DataType::Utf8, true),
        Field::new("ts", ts_type(), true),
        Field::new("window_start", ts_type(), true),
        Field::new("window_end", ts_type(), true),
    ]))
}

/// `(k, a, ts, ws, we)` joined with `(k, b, ts, ws, we)` on `k` (or on nothing) in the
/// windows of `window`, whose window columns hold slices unless it is a TUMBLE.
fn def(
    kind: WindowJoinKind,
    window: WindowSpec,
    keyed: bool,
    filter: Option<BinaryOp>,
) -> WindowJoin {
    let side = |value: &str| JoinSide {
        schema: side_schema(value),
        updating: false,
        keys: if keyed { vec![0] } else { vec![] },
        output_columns: 5,
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
    let output = match kind.filtering() {
        Some((side, _)) => Schema::new(schema.fields()[side * 5..side * 5 + 5].to_vec()),
        None => schema.clone(),
    };
    let columns = WindowColumns {
        end: 4,
        start: Some(3),
        time: None,
        assign: !matches!(window, WindowSpec::Tumble { .. }),
    };
    WindowJoin {
        kind,
        left: side("a"),
        right: side("b"),
        window,
        left_window: columns,
        right_window: columns,
        filter: filter.map(|op| {
            binary(
                Arc::new(Column::new("a", 1)),
                op,
                Arc::new(Column::new("b", 6)),
                &schema,
            )
            .unwrap()
        }),
        nulls_equal: false,
        shift: None,
        output_schema: Arc::new(output),
    }
}

/// A batch of rows `(k, value, ts)`, with window columns as the table function writes
/// them: the row's slice.
fn batch(def: &WindowJoin, input: usize, rows: &[(Option<i64>, &str, i64)]) -> RecordBatch {
    let slice = def.window.slice_size();
    let starts: Vec<i64> = rows.iter().map(|r| r.2 - r.2.rem_euclid(slice)).collect();
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
        Arc::new(TimestampMillisecondArray::from(starts.clone())),
        Arc::new(TimestampMillisecondArray::from(
            starts.iter().map(|s| s + slice).collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(Arc::clone(&def.side(input).schema), columns).unwrap()
}

/// Rows as `[k, a, ts, ws, we | k, b, ts, ws, we]` in seconds (NULL as `null`), sorted
/// within each batch, and watermarks as `W<ms>`.
fn render(out: &mut Output) -> Vec<String> {
    let mut lines = Vec::new();
    for message in out.drain() {
        match message {
            Message::Batch(b) => {
                let mut rows: Vec<String> = (0..b.num_rows())
                    .map(|row| {
                        let values: Vec<String> = b
                            .columns()
                            .iter()
                            .map(|c| match ScalarValue::try_from_array(c, row).unwrap() {
                                v if v.is_null() => "null".to_string(),
                                ScalarValue::TimestampMillisecond(Some(t), _) => {
                                    format!("{}", t / 1000)
                                }
                                v => v.to_string(),
                            })
                            .collect();
                        if values.len() == 5 {
                            format!("[{}]", values.join(", "))
                        } else {
                            format!("[{} | {}]", values[..5].join(", "), values[5..].join(", "))
                        }
                    })
                    .collect();
                rows.sort();
                lines.extend(rows);
            }
            Message::Watermark(w) => lines.push(format!("W{}", w.0)),
            _ => {}
        }
    }
    lines
}

struct Harness {
    op: WindowJoinOperator,
    def: Arc<WindowJoin>,
    metrics: Arc<JobMetrics>,
}

impl Harness {
    fn new(def: WindowJoin) -> Harness {
        let def = Arc::new(def);
        let metrics = Arc::new(JobMetrics::default());
        Harness {
            op: WindowJoinOperator::new(Arc::clone(&def), Arc::clone(&metrics), None).unwrap(),
            def,
            metrics,
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

    fn late(&self) -> u64 {
        JobMetrics::get(&self.metrics.late_records_dropped)
    }
}

#[test]
fn inner_join_fires_windows_in_order_when_the_watermark_passes_their_end() {
    let mut h = Harness::new(def(WindowJoinKind::Inner, TUMBLE, true, None));
    // Out of order within and across windows; nothing is emitted before the watermark.
    assert!(h
        .push(0, &[(Some(1), "x", 12_000), (Some(1), "y", 3_000)])
        .is_empty());
    assert!(h
        .push(1, &[(Some(1), "p", 7_000), (Some(2), "q", 1_000)])
        .is_empty());
    assert!(h.push(1, &[(Some(1), "r", 15_000)]).is_empty());
    assert!(h.push(0, &[(Some(1), "z", 9_999)]).is_empty());
    assert_eq!(h.op.buffered(), (3, 3, 2));
    // The first window ends at 10 s: it fires at watermark 9.999 s, not before.
    assert_eq!(h.watermark(9_998), ["W9998"]);
    // Both windows fire on one watermark, in order, before the watermark.
    assert_eq!(
        h.watermark(25_000),
        [
            "[1, y, 3, 0, 10 | 1, p, 7, 0, 10]",
            "[1, z, 9, 0, 10 | 1, p, 7, 0, 10]",
            "[1, x, 12, 10, 20 | 1, r, 15, 10, 20]",
            "W25000",
        ]
    );
    assert_eq!(h.op.buffered(), (0, 0, 0));
    assert_eq!(h.late(), 0);
}

#[test]
fn late_rows_are_dropped_and_counted() {
    let mut h = Harness::new(def(WindowJoinKind::Full, TUMBLE, true, None));
    // Nothing is late before the first watermark.
    assert!(h.push(0, &[(Some(1), "x", 1_000)]).is_empty());
    assert_eq!(
        h.watermark(9_999),
        ["[1, x, 1, 0, 10 | null, null, null, null, null]", "W9999"]
    );
    // Window [0, 10) has fired: its rows are late, even a FULL join's; [10, 20) is open.
    assert!(h
        .push(1, &[(Some(1), "p", 2_000), (Some(1), "q", 10_000)])
        .is_empty());
    assert!(h.push(0, &[(Some(1), "y", 9_000)]).is_empty());
    assert_eq!(h.late(), 2);
    assert_eq!(h.op.buffered(), (0, 1, 1));
    // A watermark that does not advance changes nothing.
    assert!(h.watermark(9_000).is_empty());
    assert_eq!(
        h.watermark(i64::MAX),
        [
            "[null, null, null, null, null | 1, q, 10, 10, 20]".to_string(),
            format!("W{}", i64::MAX),
        ]
    );
}

#[test]
fn outer_joins_pad_unmatched_rows_and_conditions_apply() {
    let rows_left = [
        (Some(1), "m", 1_000),
        (Some(2), "n", 2_000),
        (None, "o", 3_000),
    ];
    let rows_right = [
        (Some(1), "a", 4_000),
        (Some(1), "z", 5_000),
        (Some(3), "c", 6_000),
    ];
    let run = |kind: WindowJoinKind| {
        // 'm' < 'z' joins; 'm' < 'a' does not.
        let mut h = Harness::new(def(kind, TUMBLE, true, Some(BinaryOp::Lt)));
        h.push(0, &rows_left);
        h.push(1, &rows_right);
        let mut out = h.watermark(20_000);
        out.retain(|l| !l.starts_with('W'));
        out
    };
    let joined = "[1, m, 1, 0, 10 | 1, z, 5, 0, 10]";
    let left = [
        "[2, n, 2, 0, 10 | null, null, null, null, null]",
        "[null, o, 3, 0, 10 | null, null, null, null, null]",
    ];
    let right = [
        "[null, null, null, null, null | 1, a, 4, 0, 10]",
        "[null, null, null, null, null | 3, c, 6, 0, 10]",
    ];
    fn sorted(mut v: Vec<&str>) -> Vec<&str> {
        v.sort();
        v
    }
    assert_eq!(run(WindowJoinKind::Inner), [joined]);
    assert_eq!(
        run(WindowJoinKind::Left),
        sorted([vec![joined], left.to_vec()].concat())
    );
    assert_eq!(
        run(WindowJoinKind::Right),
        sorted([vec![joined], right.to_vec()].concat())
    );
    assert_eq!(
        run(WindowJoinKind::Full),
        sorted([vec![joined], left.to_vec(), right.to_vec()].concat())
    );
}

#[test]
fn semi_and_anti_joins_output_one_side_once() {
    let run = |kind: WindowJoinKind| {
        // 'm' < 'z' joins; 'm' < 'a' does not; x (key 2) joins twice.
        let mut h = Harness::new(def(kind, TUMBLE, true, Some(BinaryOp::Lt)));
        h.push(
            0,
            &[
                (Some(1), "m", 1_000),
                (Some(2), "b", 2_000),
                (None, "o", 3_000),
            ],
        );
        h.push(1, &[(Some(1), "a", 4_000), (Some(1), "z", 5_000)]);
        h.push(
            1,
            &[
                (Some(2), "x", 6_000),
                (Some(2), "y", 7_000),
                (Some(3), "c", 8_000),
            ],
        );
        let mut out = h.watermark(20_000);
        out.retain(|l| !l.starts_with('W'));
        out
    };
    assert_eq!(
        run(WindowJoinKind::LeftSemi),
        ["[1, m, 1, 0, 10]", "[2, b, 2, 0, 10]"]
    );
    assert_eq!(run(WindowJoinKind::LeftAnti), ["[null, o, 3, 0, 10]"]);
    assert_eq!(
        run(WindowJoinKind::RightSemi),
        ["[1, z, 5, 0, 10]", "[2, x, 6, 0, 10]", "[2, y, 7, 0, 10]"]
    );
    assert_eq!(
        run(WindowJoinKind::RightAnti),
        ["[1, a, 4, 0, 10]", "[3, c, 8, 0, 10]"]
    );
}

#[test]
fn hop_rows_join_in_every_window_they_belong_to() {
    // HOP 10 s every 5 s: slices of 5 s, each in two windows.
    let mut h = Harness::new(def(WindowJoinKind::Left, HOP, true, None));
    assert!(h.push(0, &[(Some(1), "x", 7_000)]).is_empty());
    assert!(h.push(1, &[(Some(1), "p", 3_000)]).is_empty());
    assert!(h.push(1, &[(Some(1), "q", 12_000)]).is_empty());
    // x is in [0, 10) and [5, 15); p in [-5, 5) and [0, 10); q in [5, 15) and [10, 20).
    assert_eq!(h.op.buffered(), (2, 4, 4));
    assert_eq!(
        h.watermark(9_999),
        ["[1, x, 7, 0, 10 | 1, p, 3, 0, 10]", "W9999"]
    );
    // x's window [5, 15) is still open: a late p' (2 s) whose windows all fired is
    // dropped, while a row at 8 s still joins in [5, 15) only.
    assert!(h.push(1, &[(Some(1), "p2", 2_000)]).is_empty());
    assert_eq!(h.late(), 1);
    assert!(h.push(1, &[(Some(1), "r", 8_000)]).is_empty());
    assert_eq!(
        h.watermark(30_000),
        [
            "[1, x, 7, 5, 15 | 1, q, 12, 5, 15]",
            "[1, x, 7, 5, 15 | 1, r, 8, 5, 15]",
            "W30000",
        ]
    );
    assert_eq!(h.op.buffered(), (0, 0, 0));
}

#[test]
fn a_join_without_keys_matches_every_pair_of_a_window() {
    let mut h = Harness::new(def(WindowJoinKind::Inner, TUMBLE, false, None));
    h.push(0, &[(Some(1), "x", 1_000), (Some(2), "y", 11_000)]);
    h.push(1, &[(Some(3), "p", 2_000), (None, "q", 3_000)]);
    assert_eq!(
        h.watermark(20_000),
        [
            "[1, x, 1, 0, 10 | 3, p, 2, 0, 10]",
            "[1, x, 1, 0, 10 | null, q, 3, 0, 10]",
            "W20000",
        ]
    );
}

fn random_steps(seed: u64, count: usize, def: &WindowJoin) -> Vec<Step> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let values = ["a", "m", "z"];
    let mut now = 0i64;
    let mut watermark = i64::MIN;
    let mut steps = Vec::new();
    for _ in 0..count {
        let input = rng.random_range(0..2);
        let rows: Vec<(Option<i64>, &str, i64)> = (0..rng.random_range(1..5))
            .map(|_| {
                now += rng.random_range(0..2500);
                // Some rows are up to 12 s out of order: late ones among them.
                let t = now - rng.random_range(0..12_000);
                let k = rng.random_bool(0.9).then(|| rng.random_range(0..3));
                (k, values[rng.random_range(0..values.len())], t)
            })
            .collect();
        steps.push(Step::Batch(input, batch(def, input, &rows)));
        if rng.random_bool(0.4) && now - 3000 > watermark {
            watermark = now - 3000;
            steps.push(Step::Watermark(watermark));
        }
    }
    steps.push(Step::Watermark(i64::MAX));
    steps
}

#[test]
fn window_joins_continue_exactly_after_restore_at_any_parallelism() {
    for (seed, kind, window, filter) in [
        (1, WindowJoinKind::Inner, TUMBLE, None),
        (2, WindowJoinKind::Left, HOP, Some(BinaryOp::NotEq)),
        (3, WindowJoinKind::Right, TUMBLE, None),
        (4, WindowJoinKind::Full, HOP, Some(BinaryOp::Lt)),
        (5, WindowJoinKind::LeftAnti, HOP, None),
    ] {
        let join = Arc::new(def(kind, window, true, filter));
        let steps = random_steps(seed, 18, &join);
        let make = {
            let join = Arc::clone(&join);
            move |_: usize, _: usize, _: Arc<AtomicI64>| -> Box<dyn Operator> {
                Box::new(
                    WindowJoinOperator::new(
                        Arc::clone(&join),
                        Arc::new(JobMetrics::default()),
                        None,
                    )
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
fn restoring_into_another_window_join_fails_clearly() {
    let join = Arc::new(def(WindowJoinKind::Inner, TUMBLE, true, None));
    let metrics = Arc::new(JobMetrics::default());
    let mut op = WindowJoinOperator::new(Arc::clone(&join), Arc::clone(&metrics), None).unwrap();
    let mut out = Output::default();
    op.process_batch(0, batch(&join, 0, &[(Some(1), "x", 0)]), &mut out)
        .unwrap();
    let snapshot = op.snapshot_state(1).unwrap();
    let mut other = def(WindowJoinKind::Inner, TUMBLE, true, None);
    let mut fields: Vec<Field> = other
        .left
        .schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[1] = Field::new("a", DataType::Int64, true);
    other.left.schema = Arc::new(Schema::new(fields));
    let mut restored = WindowJoinOperator::new(Arc::new(other), metrics, None).unwrap();
    let err = restored.restore_state(snapshot).unwrap_err().to_string();
    assert!(err.contains("SQL changed"), "{err}");
}
