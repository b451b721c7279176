//! Joins with a table read `FOR SYSTEM_TIME AS OF` (Flink's temporal and lookup joins).
//!
//! DataFusion plans `o JOIN dim FOR SYSTEM_TIME AS OF o.ts AS d ON ...` as a plain join
//! with `dim`; [`super::hints`] remembers which tables the SQL text read that way. A join
//! whose right input is such a table is recognised here and told apart by the time
//! attribute it is read as of:
//! - the left input's event-time attribute (its `WATERMARK FOR` column): an event-time
//!   temporal join against a versioned table (a table with a PRIMARY KEY and a watermark);
//! - a processing-time attribute (a `PROCTIME()` column): a lookup join against an
//!   external table.
//!
//! Flink allows both only as INNER or LEFT joins with the versioned table on the right.
//!
//! The time attribute reaches the plan through a marker predicate in the join condition
//! (see [`super::hints::query_hints`]); it is taken out again here.

use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Column, Result as DfResult};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    ColumnarValue, Expr, Join, JoinType, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};

use super::hints::{VersionedRead, AS_OF_MARKER};
use super::interval_join::is_rowtime;
use super::rank::is_proctime;
use super::translate::Stream;
use super::Planner;
use crate::error::{SqlError, SqlResult};

/// How a versioned table is joined, from the time attribute it is read as of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VersionedJoinKind {
    /// As of the left input's event time: a temporal join against a versioned table.
    EventTime,
    /// As of processing time: a lookup join against an external table.
    ProcessingTime,
}

/// A join recognised as a temporal or lookup join.
pub(crate) struct VersionedJoin {
    /// The table read `FOR SYSTEM_TIME AS OF`.
    pub read: VersionedRead,
    /// The left input's column it is read as of.
    pub as_of: Column,
    /// Event time or processing time.
    pub kind: VersionedJoinKind,
    /// The join's non-equality condition without the `AS OF` marker, if any is left.
    pub filter: Option<Expr>,
}

/// If `join` reads a table `FOR SYSTEM_TIME AS OF`, translates it as a temporal or
/// lookup join (`Some`); else `None`, and the join is a join of two streams.
pub(crate) fn translate_versioned_join(p: &mut Planner, join: &Join) -> Option<SqlResult<Stream>> {
    if let Some(index) = versioned_read_of(p, &join.left) {
        let read = &p.versioned_reads[index].0;
        return Some(Err(SqlError::at(
            read.position,
            format!(
                "{} is read FOR SYSTEM_TIME AS OF but is the left input of its join: the \
                 versioned or lookup table goes on the right, as in `FROM orders AS o JOIN \
                 {} FOR SYSTEM_TIME AS OF o.ts AS d ON o.key = d.key`",
                read.table, read.table
            ),
        )));
    }
    let index = versioned_read_of(p, &join.right)?;
    p.versioned_reads[index].1 = true;
    let read = p.versioned_reads[index].0.clone();
    Some(
        recognise(p, join, read).and_then(|versioned| match versioned.kind {
            VersionedJoinKind::EventTime => {
                super::temporal_join::translate_temporal_join(p, join, versioned)
            }
            VersionedJoinKind::ProcessingTime => {
                super::lookup_join::translate_lookup_join(p, join, versioned)
            }
        }),
    )
}

/// Checks the join kind and the `AS OF` attribute of a join with a versioned read.
fn recognise(p: &Planner, join: &Join, read: VersionedRead) -> SqlResult<VersionedJoin> {
    let at = read.position;
    if !matches!(join.join_type, JoinType::Inner | JoinType::Left) {
        return Err(SqlError::at(
            at,
            format!(
                "{} is read FOR SYSTEM_TIME AS OF in a {} join: temporal and lookup joins are \
                 INNER or LEFT joins",
                read.table, join.join_type
            ),
        ));
    }
    if join.on.is_empty() {
        return Err(SqlError::at(
            at,
            format!(
                "the join with {} FOR SYSTEM_TIME AS OF has no equality between the two \
                 inputs: join it on its key, as in `ON o.key = {}.key`",
                read.table,
                read.name()
            ),
        ));
    }
    let (as_of, filter) = take_marker(join, &read)?;
    let kind = if is_rowtime(p, &join.left, &as_of.name) {
        VersionedJoinKind::EventTime
    } else if is_proctime(p, &join.left, &as_of.name) {
        VersionedJoinKind::ProcessingTime
    } else {
        return Err(SqlError::at(
            at,
            format!(
                "{} is read FOR SYSTEM_TIME AS OF {}, which is neither the event-time \
                 attribute (the WATERMARK FOR column) nor a processing-time attribute (a \
                 PROCTIME() column) of the join's left input",
                read.table, read.as_of
            ),
        ));
    };
    Ok(VersionedJoin {
        read,
        as_of,
        kind,
        filter,
    })
}

/// The left input's column named by `FOR SYSTEM_TIME AS OF` (the marker's first
/// argument), and the join's filter without the marker.
fn take_marker(join: &Join, read: &VersionedRead) -> SqlResult<(Column, Option<Expr>)> {
    let mut as_of = None;
    let mut rest = Vec::new();
    for predicate in join.filter.iter().flat_map(split_conjunction) {
        match predicate {
            Expr::ScalarFunction(f) if f.name() == AS_OF_MARKER && as_of.is_none() => {
                as_of = Some(f.args.first().cloned());
            }
            other => rest.push(other.clone()),
        }
    }
    let not_a_column = || {
        SqlError::at(
            read.position,
            format!(
                "FOR SYSTEM_TIME AS OF {}: name a time attribute of the join's left input, \
                 as in `FOR SYSTEM_TIME AS OF o.order_time`",
                read.as_of
            ),
        )
    };
    let column = match as_of.flatten().map(Expr::unalias) {
        Some(Expr::Column(c)) => c,
        _ => return Err(not_a_column()),
    };
    if join.left.schema().index_of_column(&column).is_err() {
        return Err(not_a_column());
    }
    Ok((column, conjunction(rest)))
}

/// The marker function `__weir_system_time_as_of(time, column)`: always true, volatile so
/// that DataFusion neither folds it nor moves it out of the join condition. The planner
/// removes it from every join; it never runs.
pub(crate) fn as_of_marker_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(AsOfMarker {
        signature: Signature::any(2, Volatility::Volatile),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct AsOfMarker {
    signature: Signature,
}

impl ScalarUDFImpl for AsOfMarker {
    fn name(&self) -> &str {
        AS_OF_MARKER
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        exec_err!("{AS_OF_MARKER} stands for FOR SYSTEM_TIME AS OF and is not evaluated")
    }
}

/// The index in `p.versioned_reads` of the table or view `plan` reads, if it is one read
/// `FOR SYSTEM_TIME AS OF` (seen through aliases, projections and filters).
fn versioned_read_of(p: &Planner, plan: &LogicalPlan) -> Option<usize> {
    let mut alias = None;
    let mut plan = plan;
    loop {
        match plan {
            LogicalPlan::SubqueryAlias(a) => {
                // A view is inlined under an alias of its name.
                let table = a.alias.table();
                if p.views.contains(table) {
                    let name = alias.as_deref().unwrap_or(table);
                    let read = p
                        .versioned_reads
                        .iter()
                        .position(|(read, _)| read.table == table && read.name() == name);
                    if read.is_some() {
                        return read;
                    }
                }
                alias.get_or_insert_with(|| table.to_string());
                plan = &a.input;
            }
            LogicalPlan::Projection(projection) => plan = &projection.input,
            LogicalPlan::Filter(filter) => plan = &filter.input,
            LogicalPlan::TableScan(scan) => {
                let table = scan.table_name.table();
                let name = alias.as_deref().unwrap_or(table);
                return p
                    .versioned_reads
                    .iter()
                    .position(|(read, _)| read.table == table && read.name() == name);
            }
            _ => return None,
        }
    }
}

/// Fails on the first table read `FOR SYSTEM_TIME AS OF` that no join consumed.
pub(crate) fn check_all_joined(p: &Planner) -> SqlResult<()> {
    match p.versioned_reads.iter().find(|(_, joined)| !joined) {
        Some((read, _)) => Err(SqlError::at(
            read.position,
            format!(
                "{} is read FOR SYSTEM_TIME AS OF outside a join: FOR SYSTEM_TIME AS OF \
                 belongs to the right input of a temporal or lookup join, as in `FROM orders \
                 AS o JOIN {} FOR SYSTEM_TIME AS OF o.ts AS d ON o.key = d.key`",
                read.table, read.table
            ),
        )),
        None => Ok(()),
    }
}
