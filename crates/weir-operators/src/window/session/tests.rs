//! Hand-computed session window cases: out-of-order rows, a row bridging two sessions,
//! late rows, a new session next to a fired one, no keys, NULL keys and times.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::sum::sum_udaf;
use weir_runtime::{JobMetrics, Operator, Output, SubtaskContext};
use weir_types::{Message, Watermark};

use super::super::tests::{agg, batch, fired, input_schema, r, sorted, Ev};
use super::super::FilteredAggregate;
use super::{SessionWindowAggregate, SessionWindowOperator};

/// A session aggregation of `gap_ms` over [`input_schema`], keyed by `k` when `keyed`.
pub(super) fn session_aggregate(
    gap_ms: i64,
    input: &SchemaRef,
    keyed: bool,
    aggregates: Vec<FilteredAggregate>,
) -> SessionWindowAggregate {
    let tz = match input.field(0).data_type() {
        DataType::Timestamp(_, tz) => tz.clone(),
        _ => None,
    };
    let bound = DataType::Timestamp(TimeUnit::Millisecond, tz);
    let mut fields = vec![
        Field::new("window_start", bound.clone(), false),
        Field::new("window_end", bound, false),
    ];
    if keyed {
        fields.push(input.field(1).clone());
    }
    fields.extend(aggregates.iter().map(|(a, _)| a.field().as_ref().clone()));
    SessionWindowAggregate {
        gap_ms,
        time_column: 0,
        key_columns: if keyed { vec![1] } else { vec![] },
        aggregates,
        output_schema: Arc::new(Schema::new(fields)),
        shift: None,
    }
}

/// Runs events through the operator; returns, per event, the messages it emitted.
pub(super) fn drive(
    op: &mut SessionWindowOperator,
    schema: &SchemaRef,
    events: Vec<Ev>,
) -> Vec<Vec<Message>> {
    let mut all = Vec::new();
    for ev in events {
        let mut out = Output::default();
        match ev {
            Ev::Rows(rows) => op.process_batch(0, batch(schema, &rows), &mut out).unwrap(),
            Ev::Wm(w) => op.process_watermark(Watermark(w), &mut out).unwrap(),
        }
        all.push(out.drain().collect());
    }
    all
}

pub(super) fn late(op: &SessionWindowOperator) -> u64 {
    JobMetrics::get(&op.metrics.late_records_dropped)
}

fn count_and_sum(schema: &SchemaRef) -> Vec<FilteredAggregate> {
    vec![
        agg(schema, count_udaf(), "cnt", false, None),
        agg(schema, sum_udaf(), "total", false, None),
    ]
}

#[test]
fn keyed_sessions_merge_fire_and_drop_late_rows() {
    let schema = input_schema(TimeUnit::Millisecond, Some("UTC"));
    let def = session_aggregate(10_000, &schema, true, count_and_sum(&schema));
    let mut op = SessionWindowOperator::new(Arc::new(def), &SubtaskContext::single("s")).unwrap();
    let out = drive(
        &mut op,
        &schema,
        vec![
            // a: [1000, 15000) and [30000, 40000); b: [2000, 12000).
            Ev::Rows(vec![
                (Some(1000), Some("a"), Some(1)),
                (Some(5000), Some("a"), Some(2)),
                (Some(30_000), Some("a"), Some(4)),
                (Some(2000), Some("b"), Some(10)),
                (None, Some("a"), Some(1000)),
            ]),
            // Fires b's session (end - 1 = 11999).
            Ev::Wm(11_999),
            Ev::Rows(vec![
                // Its own window [3000, 13000) has not fired: a new session of b (as in
                // Flink, which forgets fired sessions).
                (Some(3000), Some("b"), Some(5)),
                // [100, 10100) has fired and joins nothing: late.
                (Some(100), Some("c"), Some(9)),
                // a's second session becomes [20000, 40000) (touching [30000, 40000)).
                (Some(20_000), Some("a"), Some(8)),
            ]),
            // [12000, 22000) bridges [1000, 15000) and [20000, 40000): one session.
            Ev::Rows(vec![(Some(12_000), Some("a"), Some(16))]),
            Ev::Wm(12_999),
            Ev::Wm(39_998),
            Ev::Wm(39_999),
            Ev::Wm(i64::MAX),
        ],
    );
    assert!(out[0].is_empty());
    assert_eq!(
        fired(&out[1], 11_999),
        vec![r(&["2000", "12000", "b", "1", "10"])]
    );
    assert_eq!(late(&op), 1);
    assert_eq!(
        fired(&out[4], 12_999),
        vec![r(&["3000", "13000", "b", "1", "5"])]
    );
    assert!(fired(&out[5], 39_998).is_empty());
    assert_eq!(
        fired(&out[6], 39_999),
        vec![r(&["1000", "40000", "a", "5", "31"])]
    );
    assert!(fired(&out[7], i64::MAX).is_empty());
    assert_eq!(op.open_sessions(), 0);
    assert_eq!(op.slots(), 0);
    // The window bounds keep the time column's time zone.
    let Message::Batch(b) = &out[1][0] else {
        panic!("expected a batch")
    };
    assert_eq!(
        b.schema().field(0).data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
}

#[test]
fn without_keys_all_rows_share_sessions_and_null_keys_are_a_key() {
    let schema = input_schema(TimeUnit::Second, None);
    let rows = vec![
        (Some(10), None, Some(1)),
        (Some(12), Some("x"), Some(2)),
        (Some(30), None, Some(4)),
        (Some(14), None, None),
    ];
    // Global: gap 5 s: [10, 19) with 3 rows (COUNT(v) skips the NULL), [30, 35) with 1.
    let def = session_aggregate(5000, &schema, false, count_and_sum(&schema));
    let mut op = SessionWindowOperator::new(Arc::new(def), &SubtaskContext::single("s")).unwrap();
    let out = drive(
        &mut op,
        &schema,
        vec![Ev::Rows(rows.clone()), Ev::Wm(i64::MAX)],
    );
    assert_eq!(
        fired(&out[1], i64::MAX),
        vec![
            r(&["10000", "19000", "2", "3"]),
            r(&["30000", "35000", "1", "4"]),
        ]
    );
    // Keyed: NULL is a key of its own.
    let def = session_aggregate(5000, &schema, true, count_and_sum(&schema));
    let mut op = SessionWindowOperator::new(Arc::new(def), &SubtaskContext::single("s")).unwrap();
    let out = drive(&mut op, &schema, vec![Ev::Rows(rows), Ev::Wm(i64::MAX)]);
    assert_eq!(
        sorted(fired(&out[1], i64::MAX)),
        vec![
            r(&["10000", "19000", "NULL", "1", "1"]),
            r(&["12000", "17000", "x", "1", "2"]),
            r(&["30000", "35000", "NULL", "1", "4"]),
        ]
    );
    assert_eq!(late(&op), 0);
}

#[test]
fn many_keys_fire_in_order_of_end_and_old_keys_are_forgotten() {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let def = session_aggregate(100, &schema, true, count_and_sum(&schema));
    let mut op = SessionWindowOperator::new(Arc::new(def), &SubtaskContext::single("s")).unwrap();
    let keys: Vec<&'static str> = (0..3000)
        .map(|i| &*Box::leak(format!("k{i}").into_boxed_str()))
        .collect();
    let mut out = Output::default();
    for (i, k) in keys.iter().enumerate() {
        let ts = i as i64 * 10;
        op.process_batch(0, batch(&schema, &[(Some(ts), Some(k), Some(1))]), &mut out)
            .unwrap();
        op.process_watermark(Watermark(ts), &mut out).unwrap();
    }
    // Sessions [10 i, 10 i + 100) end at 10 i + 100: 10 fire per watermark step at most.
    assert!(op.open_sessions() <= 11);
    let stored = op.keys.as_ref().map(|k| k.len()).unwrap_or_default();
    assert!(stored <= 1024 + 20, "{stored} keys kept");
    op.process_watermark(Watermark::MAX, &mut out).unwrap();
    let mut ends = Vec::new();
    for m in out.drain() {
        if let Message::Batch(b) = m {
            for row in super::super::tests::rows_of(&b) {
                ends.push(row[1].parse::<i64>().unwrap());
                assert_eq!(row[3..], [String::from("1"), String::from("1")]);
            }
        }
    }
    assert_eq!(ends.len(), 3000);
    assert!(
        ends.windows(2).all(|p| p[0] <= p[1]),
        "sessions out of order"
    );
    assert_eq!(op.open_sessions(), 0);
}

#[test]
fn validation_refuses_a_bad_gap_and_schema() {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let mut def = session_aggregate(0, &schema, true, count_and_sum(&schema));
    assert!(def.validate().is_err());
    def.gap_ms = 10;
    assert!(def.validate().is_ok());
    def.key_columns.clear();
    assert!(def.validate().is_err());
    let factory = session_aggregate(10, &schema, false, vec![]).into_factory();
    let mut op = factory.create(&SubtaskContext::single("s")).unwrap();
    let mut out = Output::default();
    op.process_watermark(Watermark(5), &mut out).unwrap();
    assert!(matches!(
        out.drain().collect::<Vec<_>>()[..],
        [Message::Watermark(Watermark(5))]
    ));
}
