//! The late-data table (`SET 'weir.late-data.table' = 'name'`): operators that drop late
//! rows and are planned while the option is set write those rows to the named table.
//!
//! Each such operator's factory is wrapped so that its subtasks get a writer on the
//! job's late-data queue (`weir_runtime::late`); after the last statement, one source
//! node reading that queue is added, with a sink into the table, mapped by position as
//! `INSERT INTO table SELECT operator, event_time, watermark, row` would be.

use std::sync::Arc;

use datafusion::common::DFSchema;
use datafusion::logical_expr::{Expr, LogicalPlan, Projection, SubqueryAlias};
use weir_runtime::source::SourceSpec;
use weir_runtime::{late_data_schema, LateData, LateDataSource, Node, NodeKind, RoutesLateRows};
use weir_types::{ChangelogKind, OperatorId};

use super::sink::{add_table_sink, InsertTarget};
use super::translate::Stream;
use super::Planner;
use crate::error::{Position, SqlError, SqlResult};

/// Routes the late rows of operator node `node` to the late-data table, when the
/// session names one.
pub(crate) fn route_late_rows(p: &mut Planner, node: usize) -> SqlResult<()> {
    let Some(table) = p.options.late_data_table().map(str::to_string) else {
        return Ok(());
    };
    let data = match &p.late_data {
        Some((current, data)) if *current == table => Arc::clone(data),
        Some((current, _)) => {
            return Err(SqlError::new(format!(
                "'weir.late-data.table' names '{table}', but earlier statements already write \
                 late rows to '{current}': a job has one late-data table"
            )))
        }
        None => {
            let data = LateData::new();
            p.late_data = Some((table.clone(), Arc::clone(&data)));
            data
        }
    };
    let n = &mut p.graph.nodes[node];
    if let NodeKind::Operator(inner) = &n.kind {
        data.expect_producers(n.parallelism);
        n.kind = NodeKind::Operator(Arc::new(RoutesLateRows {
            inner: Arc::clone(inner),
            data,
            label: format!("{} {}", n.name, n.id),
        }));
        n.detail
            .push_str(&format!("; late rows to table '{table}'"));
    }
    Ok(())
}

/// Adds the source of late rows and its sink into the late-data table, if any operator
/// routes late rows there.
pub(crate) fn add_late_data_sink(p: &mut Planner) -> SqlResult<()> {
    let Some((table, data)) = p.late_data.clone() else {
        if let Some(table) = p.options.late_data_table() {
            let warning = format!(
                "'weir.late-data.table' names '{table}', but no statement after it has an \
                 operator that drops late rows (window aggregation, session window, window \
                 Top-N or deduplication, window join, OVER): nothing will be written to it"
            );
            p.warnings.push(warning);
        }
        return Ok(());
    };
    if !p.tables.contains_key(&table) {
        return Err(SqlError::new(format!(
            "'weir.late-data.table' names '{table}', which is not a declared table: declare it \
             with CREATE TABLE {table} (operator STRING, event_time TIMESTAMP(3), \
             current_watermark TIMESTAMP(3), `row` STRING) WITH (...)"
        )));
    }
    let schema = late_data_schema();
    let node = p.graph.add(Node {
        id: OperatorId::derive(&format!("late-data:{table}"), &[]),
        name: "Source: late rows".into(),
        detail: format!("rows dropped as late by the operators routing them to '{table}'"),
        parallelism: 1,
        inputs: vec![],
        kind: NodeKind::Source(SourceSpec {
            factory: Arc::new(LateDataSource { data }),
            prepare: None,
            event_time: None,
        }),
        changelog: ChangelogKind::AppendOnly,
        is_sink: false,
        schema: Arc::clone(&schema),
    });
    let df_schema = DFSchema::try_from(schema.as_ref().clone())
        .map_err(|e| SqlError::new(format!("late-data schema: {e}")))?;
    let stream = Stream {
        node,
        schema: Arc::new(df_schema),
    };
    let target = InsertTarget {
        table: &table,
        table_position: Position::default(),
        columns: &[],
    };
    add_table_sink(p, &target, stream, Position::default()).map_err(|e| {
        SqlError::new(format!(
            "the late-data table '{table}' (operator STRING, event_time TIMESTAMP(3), \
             current_watermark TIMESTAMP(3), `row` STRING) cannot be written: {e}"
        ))
    })?;
    p.sinks += 1;
    Ok(())
}

/// For a window aggregation whose rows go to a late-data table: its input plan with the
/// event-time column the window is computed from (which the optimizer prunes, since the
/// aggregation reads only the window columns), and that column's name. `None` when
/// the input is not the projection computing the window columns; late rows then carry
/// the columns the aggregation reads, and the window start as their time.
pub(crate) fn with_row_time(
    input: &LogicalPlan,
    window_start: &Expr,
) -> Option<(LogicalPlan, String)> {
    if let LogicalPlan::SubqueryAlias(alias) = input {
        let (plan, name) = with_row_time(&alias.input, window_start)?;
        let plan = SubqueryAlias::try_new(Arc::new(plan), alias.alias.clone()).ok()?;
        return Some((LogicalPlan::SubqueryAlias(plan), name));
    }
    let LogicalPlan::Projection(projection) = input else {
        return None;
    };
    let Expr::Column(column) = window_start else {
        return None;
    };
    let index = projection
        .schema
        .fields()
        .iter()
        .position(|f| f.name() == &column.name)?;
    let mut defining = &projection.expr[index];
    while let Expr::Alias(alias) = defining {
        defining = &alias.expr;
    }
    let Expr::ScalarFunction(f) = defining else {
        return None;
    };
    let Some(Expr::Column(time)) = f.args.first() else {
        return None;
    };
    if projection
        .schema
        .fields()
        .iter()
        .any(|f| f.name() == &time.name)
    {
        return Some((input.clone(), time.name.clone()));
    }
    let mut exprs = projection.expr.clone();
    exprs.push(Expr::Column(time.clone()));
    let plan = Projection::try_new(exprs, Arc::clone(&projection.input)).ok()?;
    Some((LogicalPlan::Projection(plan), time.name.clone()))
}
