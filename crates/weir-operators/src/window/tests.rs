//! Tests of the window aggregation: hand-computed TUMBLE/HOP cases, and HOP/CUMULATE
//! against a naive reference that recomputes every window from the raw rows.

use std::sync::Arc;

use arrow::array::{
    Array, Int64Array, StringArray, TimestampMillisecondArray, TimestampSecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::functions_aggregate::average::avg_udaf;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::min_max::max_udaf;
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::logical_expr::{AggregateUDF, Operator as BinOp};
use datafusion::physical_expr::aggregate::AggregateExprBuilder;
use datafusion::physical_expr::expressions::{binary, cast as cast_expr, col, lit};
use weir_types::Message;

use super::*;

/// One input row: event time (ms), key, value.
pub(super) type Row = (Option<i64>, Option<&'static str>, Option<i64>);

pub(super) enum Ev {
    Rows(Vec<Row>),
    Wm(i64),
}

pub(super) fn input_schema(unit: TimeUnit, tz: Option<&str>) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Timestamp(unit, tz.map(Into::into)), true),
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
    ]))
}

pub(super) fn batch(schema: &SchemaRef, rows: &[Row]) -> RecordBatch {
    let ts: ArrayRef = match schema.field(0).data_type() {
        DataType::Timestamp(TimeUnit::Second, tz) => Arc::new(
            TimestampSecondArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())
                .with_timezone_opt(tz.clone()),
        ),
        DataType::Timestamp(_, tz) => Arc::new(
            TimestampMillisecondArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())
                .with_timezone_opt(tz.clone()),
        ),
        other => panic!("bad time type {other}"),
    };
    let k = StringArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>());
    let v = Int64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>());
    RecordBatch::try_new(schema.clone(), vec![ts, Arc::new(k), Arc::new(v)]).unwrap()
}

/// `udaf(v)`, optionally DISTINCT, with an optional `FILTER (WHERE v > gt)`.
pub(super) fn agg(
    schema: &SchemaRef,
    udaf: Arc<AggregateUDF>,
    alias: &str,
    distinct: bool,
    filter_gt: Option<i64>,
) -> FilteredAggregate {
    let v = col("v", schema).unwrap();
    // The planner coerces AVG's argument to DOUBLE, as DataFusion's type coercion does.
    let arg = if udaf.name() == "avg" {
        cast_expr(v.clone(), schema, DataType::Float64).unwrap()
    } else {
        v.clone()
    };
    let expr = AggregateExprBuilder::new(udaf, vec![arg])
        .schema(schema.clone())
        .alias(alias)
        .with_distinct(distinct)
        .build()
        .unwrap();
    let filter = filter_gt.map(|gt| binary(v, BinOp::Gt, lit(gt), schema).unwrap());
    (Arc::new(expr), filter)
}

pub(super) fn window_aggregate(
    spec: WindowSpec,
    input: &SchemaRef,
    keyed: bool,
    aggregates: Vec<FilteredAggregate>,
) -> WindowAggregate {
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
    WindowAggregate {
        window: spec,
        time_column: 0,
        key_columns: if keyed { vec![1] } else { vec![] },
        aggregates,
        output_schema: Arc::new(Schema::new(fields)),
        emit: EmitStrategy::default(),
        late_row: None,
        shift: None,
    }
}

/// Formats output rows: window bounds as epoch millis, other columns as SQL values.
pub(super) fn rows_of(batch: &RecordBatch) -> Vec<Vec<String>> {
    let bounds: Vec<ArrayRef> = (0..2)
        .map(|i| cast(batch.column(i), &DataType::Int64).unwrap())
        .collect();
    (0..batch.num_rows())
        .map(|r| {
            let mut row: Vec<String> = bounds
                .iter()
                .map(|b| {
                    b.as_any()
                        .downcast_ref::<Int64Array>()
                        .unwrap()
                        .value(r)
                        .to_string()
                })
                .collect();
            for c in batch.columns().iter().skip(2) {
                row.push(ScalarValue::try_from_array(c, r).unwrap().to_string());
            }
            row
        })
        .collect()
}

/// Runs events through the operator; returns, per event, the messages it emitted.
pub(super) fn drive(
    op: &mut WindowAggregateOperator,
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

/// The rows of a watermark's output, checking that the watermark comes last.
pub(super) fn fired(messages: &[Message], watermark: i64) -> Vec<Vec<String>> {
    let (last, batches) = messages.split_last().expect("watermark forwarded");
    assert!(matches!(last, Message::Watermark(Watermark(w)) if *w == watermark));
    batches
        .iter()
        .flat_map(|m| match m {
            Message::Batch(b) => rows_of(b),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

pub(super) fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

pub(super) fn r(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

pub(super) fn late(op: &WindowAggregateOperator) -> u64 {
    JobMetrics::get(&op.metrics.late_records_dropped)
}

#[test]
fn tumble_count_sum_max_filter_per_key_with_late_rows() {
    let schema = input_schema(TimeUnit::Millisecond, Some("UTC"));
    let def = window_aggregate(
        WindowSpec::Tumble {
            size_ms: 10_000,
            offset_ms: 0,
        },
        &schema,
        true,
        vec![
            agg(&schema, count_udaf(), "cnt", false, None),
            agg(&schema, sum_udaf(), "total", false, None),
            agg(&schema, max_udaf(), "top", false, None),
            agg(&schema, count_udaf(), "big", false, Some(2)),
        ],
    );
    let ctx = SubtaskContext::single("window");
    let mut op = WindowAggregateOperator::new(Arc::new(def), &ctx).unwrap();
    let out = drive(
        &mut op,
        &schema,
        vec![
            Ev::Rows(vec![
                (Some(1000), Some("a"), Some(1)),
                (Some(12_000), Some("a"), Some(5)),
                (Some(3000), Some("b"), Some(2)),
                (Some(2000), Some("a"), Some(3)),
                (Some(4000), None, Some(4)),
                (Some(5000), Some("b"), None),
                (None, Some("z"), Some(1000)),
            ]),
            Ev::Wm(9998),
            Ev::Wm(9999),
            Ev::Rows(vec![
                (Some(5000), Some("a"), Some(100)),
                (Some(15_000), Some("b"), Some(7)),
                (Some(11_000), Some("a"), Some(1)),
                (Some(9999), Some("c"), Some(1)),
                (Some(-5000), Some("c"), Some(1)),
            ]),
            Ev::Wm(15_000),
            Ev::Wm(19_999),
            Ev::Rows(vec![(Some(25_000), Some("c"), Some(9))]),
            Ev::Wm(i64::MAX),
        ],
    );
    assert!(out[0].is_empty());
    assert!(fired(&out[1], 9998).is_empty());
    assert_eq!(
        sorted(fired(&out[2], 9999)),
        vec![
            r(&["0", "10000", "NULL", "1", "4", "4", "1"]),
            r(&["0", "10000", "a", "2", "4", "3", "1"]),
            r(&["0", "10000", "b", "1", "2", "2", "0"]),
        ]
    );
    assert_eq!(late(&op), 3);
    assert!(fired(&out[4], 15_000).is_empty());
    assert_eq!(
        sorted(fired(&out[5], 19_999)),
        vec![
            r(&["10000", "20000", "a", "2", "6", "5", "1"]),
            r(&["10000", "20000", "b", "1", "7", "7", "1"]),
        ]
    );
    assert_eq!(
        fired(&out[7], i64::MAX),
        vec![r(&["20000", "30000", "c", "1", "9", "9", "1"])]
    );
    assert_eq!(op.live_slices(), 0);
    // The window bounds keep the time column's time zone.
    let Message::Batch(b) = &out[2][0] else {
        panic!("expected a batch")
    };
    assert_eq!(
        b.schema().field(0).data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
}

#[test]
fn tumble_with_offset_without_keys_fires_everything_at_max() {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let def = window_aggregate(
        WindowSpec::Tumble {
            size_ms: 10_000,
            offset_ms: 2000,
        },
        &schema,
        false,
        vec![agg(&schema, count_udaf(), "cnt", false, None)],
    );
    // Through the factory, as the runtime creates it.
    let mut op = def
        .into_factory()
        .create(&SubtaskContext::single("window"))
        .unwrap();
    let mut out = Output::default();
    let rows = [
        (Some(1000), Some("x"), Some(1)),
        (Some(2000), Some("x"), Some(2)),
        (Some(11_999), Some("x"), Some(3)),
        (Some(-8000), Some("x"), Some(4)),
        (Some(12_000), Some("x"), Some(5)),
    ];
    op.process_batch(0, batch(&schema, &rows), &mut out)
        .unwrap();
    assert!(out.is_empty());
    op.process_watermark(Watermark::MAX, &mut out).unwrap();
    let messages: Vec<Message> = out.drain().collect();
    // Windows in order of their end, in one coalesced batch.
    assert_eq!(
        fired(&messages, i64::MAX),
        vec![
            r(&["-8000", "2000", "2"]),
            r(&["2000", "12000", "2"]),
            r(&["12000", "22000", "1"]),
        ]
    );
    assert_eq!(messages.len(), 2);
}

#[test]
fn seconds_time_column_gives_millisecond_bounds() {
    let schema = input_schema(TimeUnit::Second, Some("+08:00"));
    let def = window_aggregate(
        WindowSpec::Tumble {
            size_ms: 10_000,
            offset_ms: 0,
        },
        &schema,
        true,
        vec![agg(&schema, avg_udaf(), "mean", false, None)],
    );
    let mut op = WindowAggregateOperator::new(Arc::new(def), &SubtaskContext::single("w")).unwrap();
    let out = drive(
        &mut op,
        &schema,
        vec![
            Ev::Rows(vec![
                (Some(1), Some("a"), Some(1)),
                (Some(9), Some("a"), Some(2)),
                (Some(11), Some("a"), Some(4)),
            ]),
            Ev::Wm(9999),
            Ev::Wm(i64::MAX),
        ],
    );
    assert_eq!(fired(&out[1], 9999), vec![r(&["0", "10000", "a", "1.5"])]);
    assert_eq!(
        fired(&out[2], i64::MAX),
        vec![r(&["10000", "20000", "a", "4"])]
    );
}

#[test]
fn hop_late_row_counts_only_for_unfired_windows() {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let def = window_aggregate(
        WindowSpec::Hop {
            size_ms: 10_000,
            slide_ms: 5000,
            offset_ms: 0,
        },
        &schema,
        true,
        vec![
            agg(&schema, count_udaf(), "cnt", false, None),
            agg(&schema, sum_udaf(), "total", false, None),
        ],
    );
    let mut op = WindowAggregateOperator::new(Arc::new(def), &SubtaskContext::single("w")).unwrap();
    let out = drive(
        &mut op,
        &schema,
        vec![
            Ev::Rows(vec![(Some(7000), Some("a"), Some(1))]),
            Ev::Wm(9999),
            // Slice [5000, 10000): window [0, 10000) fired, [5000, 15000) not: added.
            // Slice [0, 5000): windows [-5000, 5000) and [0, 10000) fired: late.
            Ev::Rows(vec![
                (Some(6000), Some("a"), Some(2)),
                (Some(3000), Some("a"), Some(4)),
            ]),
            Ev::Wm(i64::MAX),
        ],
    );
    assert_eq!(
        fired(&out[1], 9999),
        vec![r(&["0", "10000", "a", "1", "1"])]
    );
    assert_eq!(
        fired(&out[3], i64::MAX),
        vec![r(&["5000", "15000", "a", "2", "3"])]
    );
    assert_eq!(late(&op), 1);
    assert_eq!(op.live_slices(), 0);
}

#[test]
fn rejects_bad_specs_and_schemas() {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let mut def = window_aggregate(
        WindowSpec::Hop {
            size_ms: 1000,
            slide_ms: 2000,
            offset_ms: 0,
        },
        &schema,
        true,
        vec![agg(&schema, count_udaf(), "cnt", false, None)],
    );
    assert!(def.validate().is_err());
    def.window = WindowSpec::Tumble {
        size_ms: 1000,
        offset_ms: 0,
    };
    assert!(def.validate().is_ok());
    def.key_columns.clear();
    assert!(def.validate().is_err());
}

#[test]
fn windows_of_local_time_fire_at_the_instant_of_their_end() {
    // Session zone +08:00: the time column holds local wall-clock times (as the window
    // functions write them), watermarks are UTC instants. The local day
    // [1970-01-02 00:00, 1970-01-03 00:00) ends at 1970-01-02T16:00Z.
    const HOUR: i64 = 3_600_000;
    let schema = input_schema(TimeUnit::Millisecond, None);
    let mut def = window_aggregate(
        WindowSpec::Tumble {
            size_ms: 24 * HOUR,
            offset_ms: 0,
        },
        &schema,
        false,
        vec![agg(&schema, count_udaf(), "cnt", false, None)],
    );
    def.shift = TimeShift::new("+08:00").unwrap();
    let mut op = WindowAggregateOperator::new(Arc::new(def), &SubtaskContext::single("w")).unwrap();
    let day = 24 * HOUR;
    let out = drive(
        &mut op,
        &schema,
        vec![
            // Local 1970-01-02 01:00 and 23:00.
            Ev::Rows(vec![
                (Some(day + HOUR), Some("a"), Some(1)),
                (Some(day + 23 * HOUR), Some("a"), Some(1)),
            ]),
            // 1970-01-02T15:59:59.998Z is local 23:59:59.998: not yet.
            Ev::Wm(day + 16 * HOUR - 2),
            Ev::Wm(day + 16 * HOUR - 1),
            // Local 1970-01-03 00:30, then the watermark of local 1970-01-03 02:00 (a
            // UTC-aligned window would have fired at 1970-01-03T00:00Z only).
            Ev::Rows(vec![(Some(2 * day + HOUR / 2), Some("a"), Some(1))]),
            Ev::Wm(day + 18 * HOUR),
            Ev::Wm(i64::MAX),
        ],
    );
    assert!(fired(&out[1], day + 16 * HOUR - 2).is_empty());
    assert_eq!(
        fired(&out[2], day + 16 * HOUR - 1),
        vec![r(&[&day.to_string(), &(2 * day).to_string(), "2"])]
    );
    assert!(fired(&out[4], day + 18 * HOUR).is_empty());
    assert_eq!(
        fired(&out[5], i64::MAX),
        vec![r(&[&(2 * day).to_string(), &(3 * day).to_string(), "1"])]
    );
}
