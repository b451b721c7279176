//! Tests of the calc operator and of its shared subexpressions.

use super::*;
use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{Field, Schema};
use datafusion::common::DFSchema;
use datafusion::execution::context::ExecutionProps;
use datafusion::functions::expr_fn::{lower, random};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{col, lit, when, Expr};
use datafusion::physical_expr::create_physical_expr;

fn input() -> (SchemaRef, RecordBatch) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, false),
        Field::new("c", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![0, 1, 5, 10])),
            Arc::new(StringArray::from(vec![
                Some("Apple"),
                Some("x"),
                None,
                Some("GOOGLE"),
            ])),
        ],
    )
    .unwrap();
    (schema, batch)
}

fn physical(expr: Expr, schema: &SchemaRef) -> Arc<dyn PhysicalExpr> {
    let df_schema = DFSchema::try_from(schema.as_ref().clone()).unwrap();
    create_physical_expr(
        &expr,
        &df_schema,
        &ExecutionProps::new(),
        &PhysicalPlanningContext::default(),
    )
    .unwrap()
}

fn calc(filter: Option<Expr>, projection: Vec<Expr>, out: Vec<Field>) -> Calc {
    let (schema, _) = input();
    Calc::new(
        filter.map(|f| physical(f, &schema)),
        Some(
            projection
                .into_iter()
                .map(|e| physical(e, &schema))
                .collect(),
        ),
        Arc::new(Schema::new(out)),
    )
}

fn int64s(batch: &RecordBatch, column: usize) -> Vec<Option<i64>> {
    batch
        .column(column)
        .as_primitive::<arrow::datatypes::Int64Type>()
        .iter()
        .collect()
}

#[test]
fn filters_then_projects() {
    let calc = calc(
        Some(col("a").gt(lit(2i64))),
        vec![col("a") * lit(2i64)],
        vec![Field::new("b", DataType::Int64, false)],
    );
    let (_, batch) = input();
    let result = calc.apply(batch).unwrap();
    assert_eq!(int64s(&result, 0), vec![Some(10), Some(20)]);
}

#[test]
fn an_expression_in_the_filter_and_the_projection_is_evaluated_once_before_the_filter() {
    let doubled = || col("a") * lit(2i64);
    let calc = calc(
        Some(doubled().gt(lit(2i64))),
        vec![doubled(), doubled() + lit(1i64)],
        vec![
            Field::new("d", DataType::Int64, false),
            Field::new("e", DataType::Int64, false),
        ],
    );
    assert_eq!(calc.before_filter.exprs.len(), 1);
    assert!(calc.after_filter.is_empty());
    let (_, batch) = input();
    let result = calc.apply(batch).unwrap();
    assert_eq!(result.num_columns(), 2);
    assert_eq!(int64s(&result, 0), vec![Some(10), Some(20)]);
    assert_eq!(int64s(&result, 1), vec![Some(11), Some(21)]);
}

#[test]
fn an_expression_only_in_the_projection_is_shared_after_the_filter_so_dropped_rows_never_see_it() {
    // 10 / a fails for a = 0; the filter drops that row, so sharing 10 / a before the
    // filter would raise an error the query does not have.
    let ten_over_a = || lit(10i64) / col("a");
    let calc = calc(
        Some(col("a").not_eq(lit(0i64))),
        vec![ten_over_a(), ten_over_a() + lit(1i64)],
        vec![
            Field::new("q", DataType::Int64, false),
            Field::new("r", DataType::Int64, false),
        ],
    );
    assert!(calc.before_filter.is_empty());
    assert_eq!(calc.after_filter.exprs.len(), 1);
    let (_, batch) = input();
    let result = calc.apply(batch).unwrap();
    assert_eq!(int64s(&result, 0), vec![Some(10), Some(2), Some(1)]);
    assert_eq!(int64s(&result, 1), vec![Some(11), Some(3), Some(2)]);
}

#[test]
fn an_expression_only_in_case_branches_is_not_shared() {
    // Only rows with a > 0 evaluate 10 / a; evaluating it for every row would fail.
    let ten_over_a = || lit(10i64) / col("a");
    let guarded = || {
        when(col("a").gt(lit(0i64)), ten_over_a())
            .otherwise(lit(0i64))
            .unwrap()
    };
    let calc = calc(
        None,
        vec![guarded(), guarded() + lit(1i64)],
        vec![
            Field::new("q", DataType::Int64, false),
            Field::new("r", DataType::Int64, false),
        ],
    );
    // The whole CASE occurs twice and runs for every row: it is shared; 10 / a is
    // still evaluated inside it for some rows only.
    assert_eq!(calc.after_filter.exprs.len(), 1);
    let calc = self::calc(
        None,
        vec![
            guarded(),
            when(col("a").lt(lit(3i64)), lit(0i64))
                .otherwise(ten_over_a())
                .unwrap(),
        ],
        vec![
            Field::new("q", DataType::Int64, false),
            Field::new("r", DataType::Int64, false),
        ],
    );
    assert!(calc.after_filter.is_empty());
    let (_, batch) = input();
    let result = calc.apply(batch).unwrap();
    assert_eq!(
        int64s(&result, 0),
        vec![Some(0), Some(10), Some(2), Some(1)]
    );
    assert_eq!(int64s(&result, 1), vec![Some(0), Some(0), Some(2), Some(1)]);
}

#[test]
fn the_first_when_of_a_case_runs_for_every_row_so_it_shares_what_the_later_ones_repeat() {
    // As in Nexmark q21: lower(c) in every WHEN.
    let lowered = || lower(col("c"));
    let case = when(lowered().eq(lit("apple")), lit("0"))
        .when(lowered().eq(lit("google")), lit("1"))
        .otherwise(lowered())
        .unwrap();
    let calc = calc(
        None,
        vec![case],
        vec![Field::new("id", DataType::Utf8, true)],
    );
    assert_eq!(calc.after_filter.exprs.len(), 1);
    let (_, batch) = input();
    let result = calc.apply(batch).unwrap();
    let ids: Vec<Option<&str>> = result.column(0).as_string::<i32>().iter().collect();
    assert_eq!(ids, vec![Some("0"), Some("x"), None, Some("1")]);
}

#[test]
fn volatile_expressions_are_not_shared() {
    let calc = calc(
        None,
        vec![random(), random()],
        vec![
            Field::new("x", DataType::Float64, false),
            Field::new("y", DataType::Float64, false),
        ],
    );
    assert!(calc.after_filter.is_empty());
    let (_, batch) = input();
    let result = calc.apply(batch).unwrap();
    let x = result
        .column(0)
        .as_primitive::<arrow::datatypes::Float64Type>();
    let y = result
        .column(1)
        .as_primitive::<arrow::datatypes::Float64Type>();
    assert_ne!(x.values(), y.values());
}

#[test]
fn a_filter_without_projection_keeps_every_input_column() {
    let doubled = || col("a") * lit(2i64);
    let (schema, batch) = input();
    let filter = doubled().gt(lit(2i64)).and(doubled().lt(lit(15i64)));
    let calc = Calc::new(Some(physical(filter, &schema)), None, schema.clone());
    assert_eq!(calc.before_filter.exprs.len(), 1);
    let result = calc.apply(batch).unwrap();
    assert_eq!(result.schema(), schema);
    assert_eq!(int64s(&result, 0), vec![Some(5)]);
}
