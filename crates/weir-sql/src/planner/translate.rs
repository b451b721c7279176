//! Translates an optimised DataFusion logical plan into dataflow nodes: scans become
//! sources, projections and filters become calcs, unions become union nodes, joins
//! become regular joins ([`super::join`]). What a
//! streaming job cannot do yet is refused with a message naming it.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::DFSchemaRef;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_expr::expressions::{lit, Column as PhysicalColumn};
use datafusion::physical_expr::PhysicalExpr;
use weir_operators::{Calc, Union};
use weir_runtime::{Edge, EdgeKind, Node, NodeKind};
use weir_types::{ChangelogKind, OperatorId, ROW_KIND_COLUMN};

use super::{aggregate, datafusion_error, over, source, topn, values, Planner};
use crate::error::{Position, SqlError, SqlResult};

/// A translated stream: the node producing it and its logical schema.
#[derive(Clone)]
pub(crate) struct Stream {
    /// Graph node index.
    pub node: usize,
    /// The schema of the plan node it came from (names and qualifiers for expressions).
    pub schema: DFSchemaRef,
}

/// Translates `plan` and everything below it.
pub(crate) fn translate(p: &mut Planner, plan: &LogicalPlan) -> SqlResult<Stream> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            if scan.fetch.is_some() {
                return Err(SqlError::new("LIMIT is not supported in streaming jobs yet"));
            }
            let table = scan.table_name.table().to_string();
            let node = source::source_node(p, &table)?;
            super::projection::mark_scan(p, &table, scan);
            let full = p.tables[&table].schema.clone();
            let input = Stream {
                node,
                schema: Arc::new(
                    datafusion::common::DFSchema::try_from_qualified_schema(scan.table_name.clone(), &full)
                        .map_err(|e| datafusion_error(e, Position::default()))?,
                ),
            };
            let mut stream = input.clone();
            let identity = scan
                .projection
                .as_ref()
                .is_none_or(|proj| proj.len() == full.fields().len() && proj.iter().enumerate().all(|(i, &j)| i == j));
            if !identity {
                let exprs: Vec<Expr> = scan
                    .projected_schema
                    .columns()
                    .into_iter()
                    .map(|c| Expr::Column(datafusion::common::Column::new(Some(scan.table_name.clone()), c.name)))
                    .collect();
                stream = add_calc(p, &input, None, Some(exprs), scan.projected_schema.clone())?;
            }
            if let Some(filter) = datafusion::logical_expr::utils::conjunction(scan.filters.clone()) {
                stream = add_calc(p, &stream, Some(filter), None, scan.projected_schema.clone())?;
            }
            Ok(Stream {
                node: stream.node,
                schema: scan.projected_schema.clone(),
            })
        }
        LogicalPlan::Projection(projection) => {
            aggregate::check_window_columns_usage(p, &projection.expr)?;
            if let LogicalPlan::Filter(filter) = projection.input.as_ref() {
                let rank = topn::rank_column_name(filter);
                let rank_used = projection
                    .expr
                    .iter()
                    .any(|e| e.column_refs().iter().any(|c| Some(&c.name) == rank.as_ref()));
                if let Some(ranked) = topn::try_window_topn(p, filter, rank_used)? {
                    return add_calc(p, &ranked, None, Some(projection.expr.clone()), projection.schema.clone());
                }
                let input = translate(p, &filter.input)?;
                return add_calc(
                    p,
                    &Stream {
                        node: input.node,
                        schema: filter.input.schema().clone(),
                    },
                    Some(filter.predicate.clone()),
                    Some(projection.expr.clone()),
                    projection.schema.clone(),
                );
            }
            let input = translate(p, &projection.input)?;
            add_calc(p, &input, None, Some(projection.expr.clone()), projection.schema.clone())
        }
        LogicalPlan::Filter(filter) => {
            if let Some(stream) = topn::try_window_topn(p, filter, true)? {
                return Ok(stream);
            }
            aggregate::check_window_columns_usage(p, std::slice::from_ref(&filter.predicate))?;
            let input = translate(p, &filter.input)?;
            add_calc(p, &input, Some(filter.predicate.clone()), None, filter.input.schema().clone())
        }
        LogicalPlan::SubqueryAlias(alias) => {
            let input = translate(p, &alias.input)?;
            Ok(Stream {
                node: input.node,
                schema: alias.schema.clone(),
            })
        }
        LogicalPlan::Union(union) => {
            let mut inputs = union
                .inputs
                .iter()
                .map(|i| translate(p, i))
                .collect::<SqlResult<Vec<_>>>()?;
            let updating = inputs
                .iter()
                .any(|s| p.graph.nodes[s.node].changelog == ChangelogKind::Updating);
            if updating {
                // Append-only inputs join an updating union as inserts.
                for stream in inputs.iter_mut() {
                    if p.graph.nodes[stream.node].changelog == ChangelogKind::AppendOnly {
                        *stream = add_row_kind(p, stream)?;
                    }
                }
            }
            let parallelism = p.options.parallelism();
            let edges: Vec<Edge> = inputs
                .iter()
                .map(|s| Edge {
                    from: s.node,
                    kind: edge_for(p, s.node, parallelism),
                })
                .collect();
            let ids: Vec<OperatorId> = inputs.iter().map(|s| p.graph.nodes[s.node].id).collect();
            let mut schema = Arc::new(union.schema.as_arrow().clone());
            let changelog = if updating {
                schema = with_row_kind(&schema);
                ChangelogKind::Updating
            } else {
                ChangelogKind::AppendOnly
            };
            let node = p.graph.add(Node {
                id: OperatorId::derive("union", &ids),
                name: "Union".into(),
                detail: format!("UNION ALL of {} inputs", inputs.len()),
                parallelism,
                inputs: edges,
                kind: NodeKind::Operator(Union::factory(schema.clone())),
                changelog,
                is_sink: false,
                schema,
            });
            Ok(Stream {
                node,
                schema: union.schema.clone(),
            })
        }
        LogicalPlan::Values(v) => values::values_node(p, &v.schema, &v.values),
        LogicalPlan::EmptyRelation(e) => {
            let rows = if e.produce_one_row { vec![vec![]] } else { vec![] };
            values::values_node(p, &e.schema, &rows)
        }
        LogicalPlan::Aggregate(agg) => super::window_attached::reused_aggregate(p, plan, agg),
        LogicalPlan::Distinct(_) => Err(unsupported(
            "DISTINCT over a stream (an updating aggregation) is not supported by this version of Weir yet",
        )),
        LogicalPlan::Join(join) => super::join::translate_join(p, join),
        LogicalPlan::Window(window) => over::translate_over(p, window),
        LogicalPlan::Sort(_) => Err(unsupported(
            "ORDER BY is not supported on an unbounded stream; remove it (results arrive in stream order)",
        )),
        LogicalPlan::Limit(_) => Err(unsupported("LIMIT is not supported in streaming jobs yet")),
        LogicalPlan::Unnest(_) => Err(unsupported("UNNEST / CROSS JOIN UNNEST is not supported yet")),
        LogicalPlan::Subquery(_) => Err(unsupported("subqueries in expressions are not supported yet")),
        other => Err(unsupported(&format!(
            "the query needs a '{}' step, which Weir cannot run as a stream",
            other.display()
        ))),
    }
}

/// `schema` with the row-kind column of updating streams appended.
pub(crate) fn with_row_kind(schema: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    Arc::new(Schema::new(fields))
}

/// An append-only stream as an updating one: every row an insert (`+I`).
fn add_row_kind(p: &mut Planner, input: &Stream) -> SqlResult<Stream> {
    let upstream = &p.graph.nodes[input.node];
    let arrow = input.schema.as_arrow();
    let mut exprs: Vec<Arc<dyn PhysicalExpr>> = arrow
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| Arc::new(PhysicalColumn::new(f.name(), i)) as Arc<dyn PhysicalExpr>)
        .collect();
    exprs.push(lit(weir_types::RowKind::Insert as i8));
    let schema = with_row_kind(arrow);
    let node = p.graph.add(Node {
        id: OperatorId::derive("as-inserts", &[upstream.id]),
        name: "Calc".into(),
        detail: "rows as inserts (+I) of an updating stream".into(),
        parallelism: upstream.parallelism,
        inputs: vec![Edge {
            from: input.node,
            kind: EdgeKind::Forward,
        }],
        kind: NodeKind::Operator(Calc::new(None, Some(exprs), schema.clone()).into_factory()),
        changelog: ChangelogKind::Updating,
        is_sink: false,
        schema,
    });
    Ok(Stream {
        node,
        schema: input.schema.clone(),
    })
}

/// Refuses an updating input where `what` needs an append-only one, naming the operator
/// that makes the stream updating.
pub(crate) fn require_append_only(p: &Planner, stream: &Stream, what: &str) -> SqlResult<()> {
    if p.graph.nodes[stream.node].changelog == ChangelogKind::AppendOnly {
        return Ok(());
    }
    Err(SqlError::new(format!(
        "{what} cannot consume update and delete changes, which {} produces; it needs an append-only input",
        describe_update_producer(p, stream.node)
    )))
}

/// The first operator upstream of `node` whose output is updating while its inputs are
/// append-only: the one that turns the stream into an updating one.
pub(crate) fn describe_update_producer(p: &Planner, node: usize) -> String {
    let mut current = node;
    loop {
        let n = &p.graph.nodes[current];
        let updating_input = n
            .inputs
            .iter()
            .find(|e| p.graph.nodes[e.from].changelog == ChangelogKind::Updating);
        match updating_input {
            Some(edge) => current = edge.from,
            None => {
                let what = n.detail.split(';').next().unwrap_or_default();
                return format!("{} ({what}) [operator {}]", n.name, n.id);
            }
        }
    }
}

fn unsupported(message: &str) -> SqlError {
    SqlError::new(message.to_string())
}

/// The edge kind joining a node of parallelism `from` to one of parallelism `to`.
pub(crate) fn edge_between(from: usize, to: usize) -> EdgeKind {
    if from == to {
        EdgeKind::Forward
    } else {
        EdgeKind::Rebalance
    }
}

/// The edge from node `from` to a node of parallelism `to`: forward at equal
/// parallelism, else rebalance; an updating stream is hashed by all its columns instead,
/// so the insert and the retractions of one row stay in order on one path.
pub(crate) fn edge_for(p: &Planner, from: usize, to: usize) -> EdgeKind {
    let node = &p.graph.nodes[from];
    if node.parallelism == to {
        return EdgeKind::Forward;
    }
    if node.changelog == ChangelogKind::Updating {
        let columns = node.schema.fields().len().saturating_sub(1);
        return EdgeKind::Hash {
            keys: (0..columns).collect(),
        };
    }
    EdgeKind::Rebalance
}

/// The parallelism and input edge of a keyed operator reading node `from`: rows hashed by
/// `keys` to `parallelism.default` subtasks, or, without keys, all rows to one subtask.
pub(crate) fn keyed_exchange(p: &Planner, from: usize, keys: &[usize]) -> (usize, EdgeKind) {
    let upstream = p.graph.nodes[from].parallelism;
    if keys.is_empty() {
        return (1, edge_between(upstream, 1));
    }
    let parallelism = p.options.parallelism();
    let edge = if parallelism == 1 && upstream == 1 {
        EdgeKind::Forward
    } else {
        EdgeKind::Hash {
            keys: keys.to_vec(),
        }
    };
    (parallelism, edge)
}

/// Plans `expr` as a physical expression over `schema`.
pub(crate) fn physical(
    p: &Planner,
    expr: &Expr,
    schema: &DFSchemaRef,
) -> SqlResult<Arc<dyn PhysicalExpr>> {
    p.ctx
        .state()
        .create_physical_expr(expr.clone(), schema)
        .map_err(|e| datafusion_error(e, Position::default()))
}

/// Adds a calc node after `input`.
pub(crate) fn add_calc(
    p: &mut Planner,
    input: &Stream,
    filter: Option<Expr>,
    projection: Option<Vec<Expr>>,
    output: DFSchemaRef,
) -> SqlResult<Stream> {
    let filter_phys = filter
        .as_ref()
        .map(|f| physical(p, f, &input.schema))
        .transpose()?;
    let projection_phys = projection
        .as_ref()
        .map(|exprs| {
            exprs
                .iter()
                .map(|e| physical(p, e, &input.schema))
                .collect::<SqlResult<Vec<_>>>()
        })
        .transpose()?;
    let mut detail = Vec::new();
    if let Some(f) = &filter {
        detail.push(format!("where {f}"));
    }
    if let Some(exprs) = &projection {
        detail.push(format!(
            "select {}",
            exprs
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let detail = detail.join("; ");
    let upstream = &p.graph.nodes[input.node];
    let mut schema = Arc::new(output.as_arrow().clone());
    let mut projection_phys = projection_phys;
    if upstream.changelog == ChangelogKind::Updating {
        // The row kind travels as the last column, after the logical ones.
        schema = with_row_kind(&schema);
        if let Some(exprs) = projection_phys.as_mut() {
            exprs.push(Arc::new(PhysicalColumn::new(
                ROW_KIND_COLUMN,
                input.schema.fields().len(),
            )));
        }
    }
    let calc = Calc::new(filter_phys, projection_phys, schema.clone());
    let node = Node {
        id: OperatorId::derive(&format!("calc:{detail}"), &[upstream.id]),
        name: "Calc".into(),
        detail,
        parallelism: upstream.parallelism,
        inputs: vec![Edge {
            from: input.node,
            kind: EdgeKind::Forward,
        }],
        kind: NodeKind::Operator(calc.into_factory()),
        changelog: upstream.changelog,
        is_sink: false,
        schema,
    };
    let index = p.graph.add(node);
    Ok(Stream {
        node: index,
        schema: output,
    })
}
