//! Tests of the regular join: hand-computed changelogs of every join kind over
//! append-only and updating inputs, extra conditions, NULL keys and state TTL.

use std::sync::atomic::{AtomicI64, Ordering};

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Operator as BinaryOp;
use datafusion::physical_expr::expressions::{binary, Column};
use weir_types::{Message, RowKind};

use super::*;

/// Columns of both sides: `k` (the key) and a string (`a` on the left, `b` on the right).
pub(super) fn side_schema(value: &str) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new(value, DataType::Utf8, true),
    ]))
}

/// A join of `(k, a)` and `(k, b)` on `k`.
pub(super) fn def(
    kind: JoinKind,
    updating: [bool; 2],
    filter: Option<BinaryOp>,
    ttl: [Option<i64>; 2],
) -> RegularJoin {
    let side = |value: &str, i: usize| JoinSide {
        schema: side_schema(value),
        updating: updating[i],
        keys: vec![0],
        output_columns: 2,
        state_ttl_ms: ttl[i],
    };
    let mut fields = vec![
        Field::new("k", DataType::Int64, true),
        Field::new("a", DataType::Utf8, true),
        Field::new("k", DataType::Int64, true),
        Field::new("b", DataType::Utf8, true),
    ];
    let pair_schema = Schema::new(fields.clone());
    let join = RegularJoin {
        kind,
        left: side("a", 0),
        right: side("b", 1),
        filter: filter.map(|op| {
            binary(
                Arc::new(Column::new("a", 1)),
                op,
                Arc::new(Column::new("b", 3)),
                &pair_schema,
            )
            .unwrap()
        }),
        nulls_equal: false,
        output_schema: Arc::new(Schema::empty()),
        cold: None,
    };
    if join.output_updating() {
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    }
    RegularJoin {
        output_schema: Arc::new(Schema::new(fields)),
        ..join
    }
}

/// A batch of input `input` of `def`: rows `(kind, k, value)`.
pub(super) fn batch(
    def: &RegularJoin,
    input: usize,
    rows: &[(RowKind, Option<i64>, &str)],
) -> RecordBatch {
    let side = def.side(input);
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )),
    ];
    let mut fields: Vec<Field> = side
        .schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    if side.updating {
        columns.push(Arc::new(Int8Array::from(
            rows.iter().map(|r| r.0 as i8).collect::<Vec<_>>(),
        )));
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

struct Harness {
    op: JoinOperator,
    def: Arc<RegularJoin>,
    now: Arc<AtomicI64>,
}

impl Harness {
    fn new(def: RegularJoin) -> Harness {
        let def = Arc::new(def);
        let now = Arc::new(AtomicI64::new(0));
        let clock_now = Arc::clone(&now);
        let clock: Clock = Arc::new(move || clock_now.load(Ordering::SeqCst));
        let op = JoinOperator::with_clock(Arc::clone(&def), Arc::new(JobMetrics::default()), clock)
            .unwrap();
        Harness { op, def, now }
    }

    /// Feeds rows to input `input` at processing time `at`; the output as `+I[1, x, ...]`.
    fn push(
        &mut self,
        at: i64,
        input: usize,
        rows: &[(RowKind, Option<i64>, &str)],
    ) -> Vec<String> {
        self.now.store(at, Ordering::SeqCst);
        let mut out = Output::default();
        let b = batch(&self.def, input, rows);
        self.op.process_batch(input, b, &mut out).unwrap();
        render(&mut out)
    }
}

/// The rows of `out` in order, in Flink's print form.
fn render(out: &mut Output) -> Vec<String> {
    let mut lines = Vec::new();
    for message in out.drain() {
        let Message::Batch(b) = message else { continue };
        let updating = b.schema().fields().last().unwrap().name() == ROW_KIND_COLUMN;
        let width = b.num_columns() - usize::from(updating);
        for row in 0..b.num_rows() {
            let kind = if updating {
                let v = b.column(width).as_primitive::<Int8Type>().value(row);
                RowKind::from_i8(v).unwrap()
            } else {
                RowKind::Insert
            };
            let values: Vec<String> = (0..width)
                .map(|c| {
                    let v = ScalarValue::try_from_array(b.column(c), row).unwrap();
                    if v.is_null() {
                        "null".into()
                    } else {
                        v.to_string()
                    }
                })
                .collect();
            lines.push(format!("{}[{}]", kind.short_string(), values.join(", ")));
        }
    }
    lines
}

use RowKind::{Delete as D, Insert as I, UpdateAfter as UA, UpdateBefore as UB};

#[test]
fn left_join_pads_and_retracts_the_padding_at_the_first_match() {
    let mut h = Harness::new(def(JoinKind::Left, [false, false], None, [None, None]));
    assert!(h.push(0, 1, &[(I, Some(1), "p")]).is_empty());
    assert_eq!(
        h.push(0, 0, &[(I, Some(1), "x"), (I, Some(2), "y")]),
        ["+I[1, x, 1, p]", "+I[2, y, null, null]"]
    );
    assert_eq!(
        h.push(0, 1, &[(I, Some(2), "q"), (I, Some(2), "r")]),
        ["-D[2, y, null, null]", "+I[2, y, 2, q]", "+I[2, y, 2, r]"]
    );
    // A NULL key matches nothing, not even another NULL key.
    assert_eq!(h.push(0, 0, &[(I, None, "z")]), ["+I[null, z, null, null]"]);
    assert!(h.push(0, 1, &[(I, None, "n")]).is_empty());
    assert_eq!(h.op.stored_rows(), (2, 3), "NULL keys are not stored");
}

#[test]
fn right_join_mirrors_the_left_join() {
    let mut h = Harness::new(def(JoinKind::Right, [false, false], None, [None, None]));
    assert_eq!(h.push(0, 1, &[(I, Some(2), "q")]), ["+I[null, null, 2, q]"]);
    assert_eq!(
        h.push(0, 0, &[(I, Some(2), "y")]),
        ["-D[null, null, 2, q]", "+I[2, y, 2, q]"]
    );
}

#[test]
fn full_join_of_updating_inputs_re_pads_when_the_last_match_goes() {
    let mut h = Harness::new(def(JoinKind::Full, [true, true], None, [None, None]));
    assert_eq!(h.push(0, 0, &[(I, Some(1), "x")]), ["+I[1, x, null, null]"]);
    assert_eq!(
        h.push(0, 1, &[(I, Some(1), "p")]),
        ["-D[1, x, null, null]", "+I[1, x, 1, p]"]
    );
    assert_eq!(
        h.push(0, 1, &[(UB, Some(1), "p"), (UA, Some(1), "q")]),
        [
            "-D[1, x, 1, p]",
            "+I[1, x, null, null]",
            "-D[1, x, null, null]",
            "+I[1, x, 1, q]"
        ]
    );
    assert_eq!(
        h.push(0, 0, &[(D, Some(1), "x")]),
        ["-D[1, x, 1, q]", "+I[null, null, 1, q]"]
    );
    assert_eq!(h.op.stored_rows(), (0, 1));
}

#[test]
fn inner_join_of_updating_inputs_passes_updates_on() {
    let mut h = Harness::new(def(JoinKind::Inner, [false, true], None, [None, None]));
    assert!(h.push(0, 0, &[(I, Some(1), "x")]).is_empty());
    assert_eq!(h.push(0, 1, &[(I, Some(1), "p")]), ["+I[1, x, 1, p]"]);
    assert_eq!(
        h.push(0, 1, &[(UB, Some(1), "p"), (UA, Some(1), "q")]),
        ["-U[1, x, 1, p]", "+U[1, x, 1, q]"]
    );
    assert_eq!(h.push(0, 1, &[(D, Some(1), "q")]), ["-D[1, x, 1, q]"]);
    // Retracting a row never seen changes nothing.
    assert!(h.push(0, 1, &[(D, Some(7), "q")]).is_empty());
}

#[test]
fn inner_join_of_append_only_inputs_is_append_only_with_duplicates() {
    let join = def(JoinKind::Inner, [false, false], None, [None, None]);
    assert!(!join.output_updating());
    assert_eq!(join.output_schema.fields().len(), 4);
    let mut h = Harness::new(join);
    assert!(h
        .push(0, 0, &[(I, Some(1), "x"), (I, Some(1), "x")])
        .is_empty());
    assert_eq!(
        h.push(0, 1, &[(I, Some(1), "p"), (I, Some(3), "p")]),
        ["+I[1, x, 1, p]", "+I[1, x, 1, p]"]
    );
}

#[test]
fn extra_conditions_decide_which_pairs_match() {
    let mut h = Harness::new(def(
        JoinKind::Inner,
        [false, false],
        Some(BinaryOp::Lt),
        [None, None],
    ));
    assert!(h.push(0, 0, &[(I, Some(1), "m")]).is_empty());
    assert_eq!(
        h.push(0, 1, &[(I, Some(1), "a"), (I, Some(1), "z")]),
        ["+I[1, m, 1, z]"]
    );
    let mut h = Harness::new(def(
        JoinKind::Left,
        [false, true],
        Some(BinaryOp::Lt),
        [None, None],
    ));
    assert_eq!(h.push(0, 0, &[(I, Some(1), "m")]), ["+I[1, m, null, null]"]);
    assert!(h.push(0, 1, &[(I, Some(1), "a")]).is_empty());
    assert_eq!(
        h.push(0, 1, &[(I, Some(1), "z")]),
        ["-D[1, m, null, null]", "+I[1, m, 1, z]"]
    );
    // The row that did not satisfy the condition retracts nothing.
    assert!(h.push(0, 1, &[(D, Some(1), "a")]).is_empty());
    assert_eq!(
        h.push(0, 1, &[(D, Some(1), "z")]),
        ["-D[1, m, 1, z]", "+I[1, m, null, null]"]
    );
}

#[test]
fn rows_not_written_for_the_ttl_are_gone() {
    let mut h = Harness::new(def(
        JoinKind::Inner,
        [false, false],
        None,
        [Some(1000), Some(1000)],
    ));
    assert!(h.push(0, 0, &[(I, Some(1), "x")]).is_empty());
    assert_eq!(h.push(500, 1, &[(I, Some(1), "p")]), ["+I[1, x, 1, p]"]);
    assert!(h.push(2000, 1, &[(I, Some(1), "q")]).is_empty());
    assert_eq!(h.push(2100, 0, &[(I, Some(1), "y")]), ["+I[1, y, 1, q]"]);
    assert_eq!(h.op.stored_rows(), (1, 1));
    // Per side: a left side kept for long still matches.
    let mut h = Harness::new(def(
        JoinKind::Inner,
        [false, false],
        None,
        [Some(60_000), Some(1000)],
    ));
    assert!(h.push(0, 0, &[(I, Some(1), "x")]).is_empty());
    assert_eq!(h.push(5000, 1, &[(I, Some(1), "p")]), ["+I[1, x, 1, p]"]);
    assert!(h.push(9000, 0, &[(I, Some(1), "y")]).is_empty());
}

#[test]
fn an_expired_outer_row_is_not_retracted() {
    let mut h = Harness::new(def(
        JoinKind::Left,
        [false, false],
        None,
        [Some(1000), Some(1000)],
    ));
    assert_eq!(h.push(0, 0, &[(I, Some(1), "x")]), ["+I[1, x, null, null]"]);
    assert!(h.push(5000, 1, &[(I, Some(1), "p")]).is_empty());
    let mut out = Output::default();
    h.op.process_watermark(Watermark(1), &mut out).unwrap();
    assert_eq!(h.op.stored_rows(), (0, 1));
}

#[test]
fn mismatched_key_types_are_refused() {
    let mut join = def(JoinKind::Inner, [false, false], None, [None, None]);
    join.right.keys = vec![1];
    let err = JoinOperator::with_clock(
        Arc::new(join),
        Arc::new(JobMetrics::default()),
        system_clock(),
    );
    assert!(err.is_err());
}
