//! Tests of the OVER aggregation: ROWS and RANGE frames by hand, peers, late rows.

use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{Field, Schema};
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::min_max::max_udaf;
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::logical_expr::AggregateUDF;
use datafusion::physical_expr::aggregate::AggregateExprBuilder;
use datafusion::physical_expr::expressions::col;
use weir_types::Message;

use super::*;

fn input_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("v", DataType::Int64, true),
    ]))
}

fn operator(
    frame: OverFrame,
    udafs: &[Arc<AggregateUDF>],
) -> (OverAggregateOperator, Arc<JobMetrics>) {
    let schema = input_schema();
    let aggregates: Vec<Arc<AggregateFunctionExpr>> = udafs
        .iter()
        .enumerate()
        .map(|(i, u)| {
            Arc::new(
                AggregateExprBuilder::new(u.clone(), vec![col("v", &schema).unwrap()])
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
    let def = OverAggregate {
        partition_columns: vec![0],
        time_column: 1,
        frame,
        aggregates,
        output_schema: Arc::new(Schema::new(fields)),
    };
    let ctx = SubtaskContext::single("over");
    let metrics = Arc::clone(&ctx.metrics);
    (
        OverAggregateOperator::new(Arc::new(def), &ctx).unwrap(),
        metrics,
    )
}

fn push(op: &mut OverAggregateOperator, rows: &[(&str, i64, i64)]) {
    let batch = RecordBatch::try_new(
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
        ],
    )
    .unwrap();
    let mut out = Output::default();
    op.process_batch(0, batch, &mut out).unwrap();
    assert!(out.is_empty(), "rows wait for the watermark");
}

/// Fires at `watermark`: the output rows as `k t v agg...`.
fn fire(op: &mut OverAggregateOperator, watermark: i64) -> Vec<String> {
    let mut out = Output::default();
    op.process_watermark(Watermark(watermark), &mut out)
        .unwrap();
    let mut lines = Vec::new();
    for m in out.drain() {
        let Message::Batch(b) = m else { continue };
        for row in 0..b.num_rows() {
            let v: Vec<String> = (0..b.num_columns())
                .map(|c| {
                    let s = ScalarValue::try_from_array(b.column(c), row).unwrap();
                    match s {
                        ScalarValue::TimestampMillisecond(Some(t), _) => t.to_string(),
                        other => other.to_string(),
                    }
                })
                .collect();
            lines.push(v.join(" "));
        }
    }
    lines
}

#[test]
fn rows_frame_sums_the_previous_row_in_time_order() {
    let (mut op, _) = operator(OverFrame::Rows(Some(1)), &[sum_udaf(), max_udaf()]);
    push(
        &mut op,
        &[
            ("a", 1, 1),
            ("a", 3, 10),
            ("b", 2, 7),
            ("a", 2, 100),
            ("a", 9, 5),
        ],
    );
    assert_eq!(
        fire(&mut op, 5),
        vec![
            "a 1 1 1 1",
            "a 2 100 101 100",
            "a 3 10 110 100",
            "b 2 7 7 7"
        ]
    );
    assert_eq!(fire(&mut op, 9), vec!["a 9 5 15 10"]);
}

#[test]
fn range_frame_includes_peers_and_drops_rows_older_than_the_interval() {
    let (mut op, _) = operator(OverFrame::Range(Some(2)), &[sum_udaf()]);
    push(
        &mut op,
        &[
            ("a", 1, 1),
            ("a", 2, 2),
            ("a", 2, 3),
            ("a", 5, 4),
            ("a", 3, 10),
        ],
    );
    assert_eq!(
        fire(&mut op, 10),
        vec!["a 1 1 1", "a 2 2 6", "a 2 3 6", "a 3 10 16", "a 5 4 14"]
    );
}

#[test]
fn unbounded_frame_and_late_rows() {
    let (mut op, metrics) = operator(OverFrame::Rows(None), &[count_udaf()]);
    push(&mut op, &[("a", 1, 1), ("a", 4, 1)]);
    assert_eq!(fire(&mut op, 4), vec!["a 1 1 1", "a 4 1 2"]);
    // 'a' has been processed up to 4: a row at 3 is late; one at 6 is not.
    push(&mut op, &[("a", 3, 1), ("a", 6, 1), ("b", 3, 1)]);
    assert_eq!(fire(&mut op, 6), vec!["a 6 1 3", "b 3 1 1"]);
    assert_eq!(JobMetrics::get(&metrics.late_records_dropped), 1);
}
