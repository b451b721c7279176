//! Tests of updating emission (allowed lateness, early fire), with outputs computed by
//! hand. Rows print as `kind, start ms, end ms, [key,] values...`.

use std::sync::Arc;

use arrow::array::Int8Array;
use arrow::datatypes::TimeUnit;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::sum::sum_udaf;
use weir_types::{Message, RowKind};

use super::tests::{agg, drive, input_schema, late, rows_of, window_aggregate, Ev, Row};
use super::*;

/// The rows of all batches in `messages`, the row kind first.
fn changes(messages: &[Message]) -> Vec<String> {
    let mut rows = Vec::new();
    for m in messages {
        let Message::Batch(b) = m else { continue };
        let kinds = b
            .column(b.num_columns() - 1)
            .as_any()
            .downcast_ref::<Int8Array>()
            .expect("row kind column");
        let data = b.project(&(0..b.num_columns() - 1).collect::<Vec<_>>()).unwrap();
        for (i, row) in rows_of(&data).into_iter().enumerate() {
            let kind = RowKind::from_i8(kinds.value(i)).expect("kind");
            rows.push(format!("{} {}", kind.short_string(), row.join(",")));
        }
    }
    rows
}

fn operator(spec: WindowSpec, keyed: bool, emit: EmitStrategy) -> WindowAggregateOperator {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let mut aggregates = vec![agg(&schema, count_udaf(), "cnt", false, None)];
    if keyed {
        aggregates.push(agg(&schema, sum_udaf(), "total", false, None));
    }
    let mut def = window_aggregate(spec, &schema, keyed, aggregates);
    def.emit = emit;
    WindowAggregateOperator::new(Arc::new(def), &SubtaskContext::single("w")).unwrap()
}

fn rows(rows: &[(i64, &'static str, i64)]) -> Ev {
    Ev::Rows(rows.iter().map(|&(t, k, v)| -> Row { (Some(t), Some(k), Some(v)) }).collect())
}

fn run(op: &mut WindowAggregateOperator, events: Vec<Ev>) -> Vec<Vec<String>> {
    let schema = input_schema(TimeUnit::Millisecond, None);
    drive(op, &schema, events).iter().map(|m| changes(m)).collect()
}

const LATENESS_5S: EmitStrategy = EmitStrategy {
    allow_lateness_ms: 5_000,
    early_fire_delay_ms: None,
};

#[test]
fn allowed_lateness_updates_a_fired_tumble_window_until_it_expires() {
    let tumble = WindowSpec::Tumble {
        size_ms: 10_000,
        offset_ms: 0,
    };
    let mut op = operator(tumble, true, LATENESS_5S);
    let out = run(
        &mut op,
        vec![
            rows(&[(1_000, "a", 1), (2_000, "a", 2), (3_000, "b", 5)]),
            Ev::Wm(9_999),
            rows(&[(4_000, "a", 10)]),
            rows(&[(5_000, "c", 7)]),
            Ev::Wm(14_998),
            rows(&[(6_000, "b", 1)]),
            Ev::Wm(14_999),
            rows(&[(7_000, "a", 1)]),
        ],
    );
    let expected: Vec<Vec<&str>> = vec![
        vec![],
        vec!["+I 0,10000,a,2,3", "+I 0,10000,b,1,5"],
        vec!["-U 0,10000,a,2,3", "+U 0,10000,a,3,13"],
        vec!["+I 0,10000,c,1,7"],
        vec![],
        vec!["-U 0,10000,b,1,5", "+U 0,10000,b,2,6"],
        vec![],
        vec![],
    ];
    assert_eq!(out, expected);
    assert_eq!(late(&op), 1, "the row after window end - 1 + lateness is dropped");
    assert_eq!(op.live_slices(), 0);
    assert_eq!(op.tracked_windows(), 0);
}

#[test]
fn a_late_hop_row_updates_only_the_windows_within_lateness() {
    let hop = WindowSpec::Hop {
        size_ms: 10_000,
        slide_ms: 5_000,
        offset_ms: 0,
    };
    let mut op = operator(hop, false, LATENESS_5S);
    let out = run(
        &mut op,
        vec![
            rows(&[(1_000, "a", 1), (6_000, "a", 1), (7_000, "a", 1)]),
            Ev::Wm(9_999),
            // Slice [0, 5 s): its window ending at 5 s is past lateness, the one at 10 s not.
            rows(&[(3_000, "a", 1)]),
            // Slice [5 s, 10 s): the window at 10 s is updated, the one at 15 s is open.
            rows(&[(8_000, "a", 1)]),
            Ev::Wm(14_999),
            rows(&[(9_000, "a", 1)]),
            rows(&[(4_000, "a", 1)]),
            Ev::Wm(19_999),
        ],
    );
    let expected: Vec<Vec<&str>> = vec![
        vec![],
        vec!["+I -5000,5000,1", "+I 0,10000,3"],
        vec!["-U 0,10000,3", "+U 0,10000,4"],
        vec!["-U 0,10000,4", "+U 0,10000,5"],
        vec!["+I 5000,15000,3"],
        vec!["-U 5000,15000,3", "+U 5000,15000,4"],
        vec![],
        vec![],
    ];
    assert_eq!(out, expected);
    assert_eq!(late(&op), 1);
    assert_eq!(op.live_slices(), 0);
}

#[test]
fn a_late_cumulate_row_updates_every_unexpired_window_of_its_period() {
    let cumulate = WindowSpec::Cumulate {
        step_ms: 5_000,
        max_size_ms: 15_000,
        offset_ms: 0,
    };
    let lateness = EmitStrategy {
        allow_lateness_ms: 10_000,
        early_fire_delay_ms: None,
    };
    let mut op = operator(cumulate, false, lateness);
    let out = run(
        &mut op,
        vec![
            rows(&[(1_000, "a", 1), (6_000, "a", 1)]),
            Ev::Wm(9_999),
            rows(&[(2_000, "a", 1)]),
            Ev::Wm(14_999),
            rows(&[(3_000, "a", 1)]),
            Ev::Wm(30_000),
        ],
    );
    let expected: Vec<Vec<&str>> = vec![
        vec![],
        vec!["+I 0,5000,1", "+I 0,10000,2"],
        vec!["-U 0,5000,1", "+U 0,5000,2", "-U 0,10000,2", "+U 0,10000,3"],
        vec!["+I 0,15000,3"],
        vec!["-U 0,10000,3", "+U 0,10000,4", "-U 0,15000,3", "+U 0,15000,4"],
        vec![],
    ];
    assert_eq!(out, expected);
    assert_eq!(late(&op), 0);
    assert_eq!(op.live_slices(), 0);
    assert_eq!(op.tracked_windows(), 0);
}

#[test]
fn early_fire_with_delay_zero_emits_after_every_batch_and_final_only_if_changed() {
    let tumble = WindowSpec::Tumble {
        size_ms: 10_000,
        offset_ms: 0,
    };
    let early = EmitStrategy {
        allow_lateness_ms: 0,
        early_fire_delay_ms: Some(0),
    };
    let mut op = operator(tumble, true, early);
    let out = run(
        &mut op,
        vec![
            rows(&[(1_000, "a", 1), (2_000, "b", 2)]),
            rows(&[(3_000, "a", 4)]),
            rows(&[(12_000, "a", 1)]),
            Ev::Wm(9_999),
            rows(&[(4_000, "a", 1)]),
            rows(&[(13_000, "a", 0)]),
            rows(&[(14_000, "b", 0), (15_000, "b", 0)]),
            Ev::Wm(19_999),
        ],
    );
    let expected: Vec<Vec<&str>> = vec![
        vec!["+I 0,10000,a,1,1", "+I 0,10000,b,1,2"],
        vec!["-U 0,10000,a,1,1", "+U 0,10000,a,2,5"],
        vec!["+I 10000,20000,a,1,1"],
        vec![],
        vec![],
        vec!["-U 10000,20000,a,1,1", "+U 10000,20000,a,2,1"],
        vec!["+I 10000,20000,b,2,0"],
        vec![],
    ];
    assert_eq!(out, expected);
    assert_eq!(late(&op), 1);
    assert_eq!(op.live_slices(), 0);
    assert_eq!(op.tracked_windows(), 0);
}

#[test]
fn early_fire_with_a_long_delay_emits_the_final_result_once() {
    let tumble = WindowSpec::Tumble {
        size_ms: 10_000,
        offset_ms: 0,
    };
    let early = EmitStrategy {
        allow_lateness_ms: 0,
        early_fire_delay_ms: Some(3_600_000),
    };
    let mut op = operator(tumble, true, early);
    let out = run(
        &mut op,
        vec![
            rows(&[(1_000, "a", 1)]),
            rows(&[(2_000, "a", 2)]),
            Ev::Wm(9_999),
        ],
    );
    let expected: Vec<Vec<&str>> = vec![vec![], vec![], vec!["+I 0,10000,a,2,3"]];
    assert_eq!(out, expected);
}
