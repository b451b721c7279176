//! Sinks: `INSERT INTO` maps the query's columns onto the table's columns (by position,
//! or by the listed names), casts where Flink would cast implicitly, and refuses the
//! rest with the column, both types and what to write instead.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::physical_expr::expressions::{cast, lit, Column};
use datafusion::physical_expr::PhysicalExpr;
use weir_operators::Calc;
use weir_runtime::{Edge, EdgeKind, Node, NodeKind};
use weir_types::{ChangelogKind, OperatorId, ROW_KIND_COLUMN};

use super::translate::{describe_update_producer, edge_for, with_row_kind, Stream};
use super::{datafusion_error, Planner};
use crate::error::{Position, SqlError, SqlResult};
use crate::statement::Insert;
use crate::types::flink_type_name;

/// Adds the sink of an `INSERT INTO`.
pub(crate) fn add_insert_sink(
    p: &mut Planner,
    insert: &Insert,
    stream: Stream,
    position: Position,
) -> SqlResult<()> {
    let target = InsertTarget {
        table: &insert.table,
        table_position: insert.table_position,
        columns: &insert.columns,
    };
    add_table_sink(p, &target, stream, position)
}

/// The table (and optional column list) an `INSERT INTO` writes.
pub(crate) struct InsertTarget<'a> {
    /// Target table.
    pub table: &'a str,
    /// Where the table name is.
    pub table_position: Position,
    /// Target columns, when listed.
    pub columns: &'a [String],
}

/// Adds a sink writing `stream` into a declared table, mapping columns as `INSERT
/// INTO` does.
pub(crate) fn add_table_sink(
    p: &mut Planner,
    insert: &InsertTarget<'_>,
    stream: Stream,
    position: Position,
) -> SqlResult<()> {
    let at = insert.table_position;
    let table = match p.tables.get(insert.table) {
        Some(t) => t.clone(),
        None if p.views.contains(insert.table) => {
            return Err(SqlError::at(
                at,
                format!(
                    "cannot INSERT INTO view '{}': insert into a table",
                    insert.table
                ),
            ))
        }
        None => {
            let known: Vec<&str> = p.tables.keys().map(String::as_str).collect();
            return Err(SqlError::at(
                at,
                format!(
                    "INSERT INTO '{}': no such table; declared tables: {}",
                    insert.table,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
    };
    let target = table.sink_schema();
    let query_schema = Arc::new(stream.schema.as_arrow().clone());
    // Which query column feeds each sink column (None: NULL).
    let sources: Vec<Option<usize>> = if insert.columns.is_empty() {
        if query_schema.fields().len() != target.fields().len() {
            return Err(SqlError::at(
                at,
                format!(
                    "INSERT INTO '{}': the query produces {} columns [{}] but the table has {} columns [{}]",
                    table.name,
                    query_schema.fields().len(),
                    describe(&query_schema),
                    target.fields().len(),
                    describe(&target)
                ),
            ));
        }
        (0..target.fields().len()).map(Some).collect()
    } else {
        let mut by_name = BTreeMap::new();
        for (i, name) in insert.columns.iter().enumerate() {
            if target.index_of(name).is_err() {
                return Err(SqlError::at(
                    at,
                    format!(
                        "table '{}' has no column '{name}' to insert into",
                        table.name
                    ),
                ));
            }
            by_name.insert(name.clone(), i);
        }
        if insert.columns.len() != query_schema.fields().len() {
            return Err(SqlError::at(
                at,
                format!(
                    "INSERT INTO '{}' lists {} columns but the query produces {}",
                    table.name,
                    insert.columns.len(),
                    query_schema.fields().len()
                ),
            ));
        }
        target
            .fields()
            .iter()
            .map(|f| by_name.get(f.name()).copied())
            .collect()
    };
    let mut exprs: Vec<Arc<dyn PhysicalExpr>> = Vec::new();
    for (field, source) in target.fields().iter().zip(&sources) {
        let expr: Arc<dyn PhysicalExpr> = match source {
            None => {
                if !field.is_nullable() {
                    return Err(SqlError::at(
                        at,
                        format!(
                            "column '{}' of table '{}' is NOT NULL and must be inserted",
                            field.name(),
                            table.name
                        ),
                    ));
                }
                let null = ScalarValue::try_from(field.data_type())
                    .map_err(|e| datafusion_error(e, at))?;
                lit(null)
            }
            Some(i) => {
                let from = query_schema.field(*i).data_type();
                let column: Arc<dyn PhysicalExpr> =
                    Arc::new(Column::new(query_schema.field(*i).name(), *i));
                if from == field.data_type() {
                    column
                } else if let Some(shift) = zone_shift(from, field.data_type()) {
                    zone_cast(p, &query_schema, *i, shift, field.data_type())
                        .map_err(|e| e.or_at(at))?
                } else if implicit_cast_allowed(from, field.data_type()) {
                    cast(column, &query_schema, field.data_type().clone())
                        .map_err(|e| datafusion_error(e, at))?
                } else {
                    return Err(SqlError::at(
                        at,
                        format!(
                            "INSERT INTO '{}': column '{}' is {} but the query gives it {} (query column {}, '{}'); convert it with CAST(... AS {})",
                            table.name,
                            field.name(),
                            flink_type_name(field.data_type()),
                            flink_type_name(from),
                            i + 1,
                            query_schema.field(*i).name(),
                            flink_type_name(field.data_type())
                        ),
                    ));
                }
            }
        };
        exprs.push(expr);
    }
    let upstream = &p.graph.nodes[stream.node];
    let mut calc_schema = target.clone();
    if upstream.changelog == ChangelogKind::Updating {
        exprs.push(Arc::new(Column::new(
            ROW_KIND_COLUMN,
            query_schema.fields().len(),
        )));
        calc_schema = with_row_kind(&target);
    }
    let calc = Calc::new(None, Some(exprs), calc_schema.clone());
    let calc_node = p.graph.add(Node {
        id: OperatorId::derive(&format!("sink-map:{}", table.name), &[upstream.id]),
        name: "Calc".into(),
        detail: format!("map to columns of '{}'", table.name),
        parallelism: upstream.parallelism,
        inputs: vec![Edge {
            from: stream.node,
            kind: EdgeKind::Forward,
        }],
        kind: NodeKind::Operator(calc.into_factory()),
        changelog: upstream.changelog,
        is_sink: false,
        schema: calc_schema,
    });
    let descriptor = table.descriptor(&p.base_dir, true);
    add_sink_node(
        p,
        calc_node,
        descriptor,
        &table.name,
        table.position,
        position,
    )
}

/// Adds a `print` sink for a bare `SELECT`, as Flink's SQL client shows query results.
pub(crate) fn add_print_sink(p: &mut Planner, stream: Stream, position: Position) -> SqlResult<()> {
    let schema: SchemaRef = Arc::new(stream.schema.as_arrow().clone());
    let name = format!("select_{}", p.sinks + 1);
    let descriptor = weir_connectors::TableDescriptor {
        name: name.clone(),
        schema,
        metadata: vec![],
        primary_key: vec![],
        options: [("connector".to_string(), "print".to_string())]
            .into_iter()
            .collect(),
        base_dir: p.base_dir.clone(),
    };
    add_sink_node(p, stream.node, descriptor, &name, position, position)
}

/// Adds the sink node of table `name`. Errors about the table's options point at its
/// `CREATE TABLE` (`table_position`); a sink that cannot take the query's updates points
/// at the query (`query_position`).
fn add_sink_node(
    p: &mut Planner,
    input: usize,
    descriptor: weir_connectors::TableDescriptor,
    name: &str,
    table_position: Position,
    query_position: Position,
) -> SqlResult<()> {
    let upstream = &p.graph.nodes[input];
    let changelog = upstream.changelog;
    let binding = weir_connectors::create_sink(&descriptor, changelog).map_err(|e| {
        let refuses_updates = changelog == ChangelogKind::Updating
            && weir_connectors::create_sink(&descriptor, ChangelogKind::AppendOnly).is_ok();
        if refuses_updates {
            SqlError::at(
                query_position,
                format!(
                    "{e}; the updates come from {}",
                    describe_update_producer(p, input)
                ),
            )
        } else {
            SqlError::at(table_position, e.to_string())
        }
    })?;
    let parallelism = binding
        .parallelism
        .unwrap_or_else(|| p.options.parallelism());
    let upstream_id = upstream.id;
    let kind = sink_edge(p, input, &descriptor.primary_key, parallelism);
    p.graph.add(Node {
        id: OperatorId::derive(&format!("sink:{name}:{}", p.sinks), &[upstream_id]),
        name: format!("Sink: {name}"),
        detail: binding.description,
        parallelism,
        inputs: vec![Edge { from: input, kind }],
        kind: NodeKind::Operator(binding.factory),
        changelog,
        is_sink: true,
        schema: descriptor.schema,
    });
    Ok(())
}

/// The edge into a sink of `parallelism`: an updating stream into a table with a PRIMARY
/// KEY at another parallelism is hashed by the key, as Flink's
/// `table.exec.sink.keyed-shuffle` (AUTO) does, so all changes of one key reach one sink
/// subtask in order (an upsert sink then keeps each key's latest row); otherwise
/// [`edge_for`].
fn sink_edge(p: &Planner, input: usize, primary_key: &[String], parallelism: usize) -> EdgeKind {
    let node = &p.graph.nodes[input];
    if node.parallelism != parallelism
        && node.changelog == ChangelogKind::Updating
        && !primary_key.is_empty()
    {
        let keys: Option<Vec<usize>> = primary_key
            .iter()
            .map(|k| node.schema.index_of(k).ok())
            .collect();
        if let Some(keys) = keys {
            return EdgeKind::Hash { keys };
        }
    }
    edge_for(p, input, parallelism)
}

fn describe(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), flink_type_name(f.data_type())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The function converting between TIMESTAMP and TIMESTAMP_LTZ in the session time
/// zone, when `from` and `to` are one and the other.
fn zone_shift(from: &DataType, to: &DataType) -> Option<&'static str> {
    match (from, to) {
        (DataType::Timestamp(_, None), DataType::Timestamp(_, Some(_))) => {
            Some("flink_local_to_ltz")
        }
        (DataType::Timestamp(_, Some(_)), DataType::Timestamp(_, None)) => {
            Some("flink_ltz_to_local")
        }
        _ => None,
    }
}

/// `CAST(shift(column) AS to)`: the implicit conversion between TIMESTAMP and
/// TIMESTAMP_LTZ, in the session time zone as an explicit CAST does (Arrow's cast
/// would read a TIMESTAMP as UTC).
fn zone_cast(
    p: &Planner,
    query_schema: &SchemaRef,
    column: usize,
    shift: &str,
    to: &DataType,
) -> SqlResult<Arc<dyn PhysicalExpr>> {
    use datafusion::logical_expr::expr::{Cast, ScalarFunction};
    use datafusion::logical_expr::Expr;
    let schema = Arc::new(
        datafusion::common::DFSchema::try_from(query_schema.as_ref().clone())
            .map_err(|e| datafusion_error(e, Position::default()))?,
    );
    let udf = p
        .ctx
        .state()
        .scalar_functions()
        .get(shift)
        .cloned()
        .ok_or_else(|| SqlError::new(format!("function {shift} is not registered")))?;
    let name = query_schema.field(column).name();
    let value = Expr::Column(datafusion::common::Column::from_name(name.clone()));
    let shifted = Expr::ScalarFunction(ScalarFunction::new_udf(udf, vec![value]));
    let expr = Expr::Cast(Cast::new(Box::new(shifted), to.clone()));
    super::translate::physical(p, &expr, &schema)
}

/// Whether Flink would convert `from` to `to` without an explicit CAST when inserting:
/// widening numbers, changing timestamp precision, TIMESTAMP to and from TIMESTAMP_LTZ,
/// strings of any length, NULL.
pub(crate) fn implicit_cast_allowed(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    fn numeric_rank(t: &DataType) -> Option<u8> {
        Some(match t {
            Int8 => 1,
            Int16 => 2,
            Int32 => 3,
            Int64 => 4,
            Decimal128(_, _) => 5,
            Float32 => 6,
            Float64 => 7,
            _ => return None,
        })
    }
    match (from, to) {
        (Null, _) => true,
        (Utf8 | LargeUtf8 | Utf8View, Utf8 | LargeUtf8 | Utf8View) => true,
        (Binary | LargeBinary | BinaryView, Binary | LargeBinary | BinaryView) => true,
        // TIMESTAMP and TIMESTAMP_LTZ convert both ways, in the session time zone (the
        // zone of a TIMESTAMP_LTZ type), as in Flink.
        (Timestamp(_, _), Timestamp(_, _)) => true,
        (Time32(_) | Time64(_), Time32(_) | Time64(_)) => true,
        (Decimal128(_, _), Decimal128(_, _)) => true,
        (List(a), List(b)) => implicit_cast_allowed(a.data_type(), b.data_type()),
        (Struct(a), Struct(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b.iter())
                    .all(|(x, y)| implicit_cast_allowed(x.data_type(), y.data_type()))
        }
        (Map(a, _), Map(b, _)) => implicit_cast_allowed(a.data_type(), b.data_type()),
        _ => match (numeric_rank(from), numeric_rank(to)) {
            (Some(f), Some(t)) => f <= t,
            _ => false,
        },
    }
}
