//! Lookup joins: `o JOIN dim FOR SYSTEM_TIME AS OF o.proc_time AS d ON o.k = d.k`,
//! with `proc_time` a processing-time attribute (`PROCTIME()`) of the left input and
//! `dim` a table of a lookup connector (redis, jdbc), becomes a
//! [`weir_operators::LookupJoin`] chained after the left input (forward edge, the
//! input's parallelism: nothing is repartitioned, no state is kept).
//!
//! The right input's plan (the table's scan, its projection and the filters DataFusion
//! pushed into it: conditions on the table alone) is not run as a source: it becomes the
//! operator's right-side filter and projection, evaluated over the rows a lookup
//! returns. The join's equalities name the table's columns it is looked up by; the
//! connector decides which it can use (redis: the whole primary key; jdbc: any), the
//! others are checked after the lookup with the rest of the ON condition.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, DFSchemaRef, TableReference};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, ExprSchemable, Join, JoinType, LogicalPlan};
use weir_operators::{JoinKind, LookupJoin};
use weir_runtime::{Edge, EdgeKind, Node, NodeKind};
use weir_types::{ChangelogKind, OperatorId};

use super::join::keyed_side;
use super::translate::{physical, require_append_only, translate, Stream};
use super::versioned::VersionedJoin;
use super::{datafusion_error, Planner};
use crate::error::{SqlError, SqlResult};

/// The right input of a lookup join as expressions over the table's columns.
struct RightSide {
    /// The table's columns, qualified as the scan qualifies them.
    table_schema: DFSchemaRef,
    /// Conditions on the table alone.
    filters: Vec<Expr>,
    /// The right input's columns.
    exprs: Vec<Expr>,
}

/// Translates a join recognised as a lookup join.
pub(crate) fn translate_lookup_join(
    p: &mut Planner,
    join: &Join,
    versioned: VersionedJoin,
) -> SqlResult<Stream> {
    let read = &versioned.read;
    let at = read.position;
    let table = p.tables.get(&read.table).cloned().ok_or_else(|| {
        let why = if p.views.contains(&read.table) {
            format!(
                "'{}' is a view read FOR SYSTEM_TIME AS OF the processing time {}: a lookup \
                     join reads a table of a lookup connector (redis, jdbc), not a \
                     view",
                read.table, versioned.as_of
            )
        } else {
            format!("table '{}' is not in the catalog", read.table)
        };
        SqlError::at(at, why)
    })?;
    let refuse = |message: String| SqlError::at(at, message);
    if table.has_computed_columns() || table.watermark.is_some() {
        return Err(refuse(format!(
            "lookup table {} has computed columns or a WATERMARK: a table read by a lookup \
             join has only physical columns",
            read.table
        )));
    }
    let right = right_side(p, &join.right, &read.table)?;
    // The table's columns the join equates with the left input, and the left side of each.
    let mut equalities: Vec<(String, Expr, (Expr, Expr))> = Vec::new();
    for (l, r) in &join.on {
        let resolved = substitute(r, join.right.schema(), &right.exprs)?;
        let column = match strip_casts(&resolved) {
            Expr::Column(c) => c.name.clone(),
            _ => {
                return Err(refuse(format!(
                    "the lookup join with {} equates {r} with the left input: the table side \
                     of each equality must be a column of the table",
                    read.table
                )))
            }
        };
        equalities.push((column, l.clone(), (l.clone(), r.clone())));
    }
    let descriptor = table.descriptor(&p.base_dir, false);
    let names: Vec<String> = equalities.iter().map(|e| e.0.clone()).collect();
    let binding = weir_connectors::create_lookup(&descriptor, &names)
        .map_err(|e| SqlError::at(table.position, e.to_string()))?;
    let table_schema = binding.factory.schema();
    let key_columns = binding.factory.key_columns().to_vec();
    let mut left_keys = Vec::new();
    let mut used = vec![false; equalities.len()];
    for key in &key_columns {
        let Some(i) = equalities.iter().position(|e| &e.0 == key) else {
            return Err(refuse(format!(
                "the lookup join with {} does not equate its key column {key} with the left input",
                read.table
            )));
        };
        used[i] = true;
        let field = table_schema
            .field_with_name(key)
            .map_err(|e| refuse(e.to_string()))?;
        let left = &equalities[i].1;
        let left_type = left
            .get_type(join.left.schema())
            .map_err(|e| datafusion_error(e, at))?;
        left_keys.push(if &left_type == field.data_type() {
            left.clone()
        } else {
            Expr::Cast(datafusion::logical_expr::Cast::new(
                Box::new(left.clone()),
                field.data_type().clone(),
            ))
        });
    }
    // Equalities the store is not looked up by are checked after the lookup.
    let mut conditions: Vec<Expr> = equalities
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(e, _)| e.2 .0.clone().eq(e.2 .1.clone()))
        .collect();
    conditions.extend(versioned.filter.clone());
    let condition = conjunction(conditions);

    let left_input = translate(p, &join.left)?;
    require_append_only(p, &left_input, "a lookup join")?;
    let (left, (left_key_indices, left_width)) =
        keyed_side(p, &left_input, &join.left, &left_keys)?;
    let filter = condition
        .as_ref()
        .map(|f| physical(p, f, &join.schema))
        .transpose()?;
    let right_filter = conjunction(right.filters.clone())
        .map(|f| physical(p, &f, &right.table_schema))
        .transpose()?;
    let right_projection = right
        .exprs
        .iter()
        .map(|e| physical(p, e, &right.table_schema))
        .collect::<SqlResult<Vec<_>>>()?;
    let arrow = join.schema.as_arrow();
    let output_schema = Arc::new(arrow::datatypes::Schema::new(
        arrow
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let f = f.as_ref().clone();
                if i >= left_width {
                    f.with_nullable(true)
                } else {
                    f
                }
            })
            .collect::<Vec<_>>(),
    ));
    let kind = match join.join_type {
        JoinType::Left => JoinKind::Left,
        _ => JoinKind::Inner,
    };
    let on_text = equalities
        .iter()
        .map(|e| format!("{} = {}", e.2 .0, e.2 .1))
        .collect::<Vec<_>>()
        .join(", ");
    let mut detail = format!(
        "lookup {} join with {} ({}) on [{on_text}]",
        kind.sql(),
        read.table,
        binding.description
    );
    if let Some(c) = &condition {
        detail.push_str(&format!("; and {c}"));
    }
    if let Some(f) = conjunction(right.filters.clone()) {
        detail.push_str(&format!("; rows of {} where {f}", read.table));
    }
    detail.push_str(&format!(
        "; lookup keys [{}]; {}; no state; one batched lookup per input batch for keys missing \
         from the cache",
        key_columns.join(", "),
        binding.options.describe()
    ));
    let upstream = &p.graph.nodes[left.node];
    let (parallelism, upstream_id) = (upstream.parallelism, upstream.id);
    let def = LookupJoin {
        kind,
        table: binding.factory,
        options: binding.options,
        left_keys: left_key_indices,
        left_width,
        right_filter,
        right_projection,
        filter,
        output_schema: output_schema.clone(),
    };
    let node = p.graph.add(Node {
        id: OperatorId::derive(
            &format!(
                "lookup-join:{}:{}:[{on_text}]:{}",
                read.table,
                kind.sql(),
                condition.map(|c| c.to_string()).unwrap_or_default()
            ),
            &[upstream_id],
        ),
        name: "LookupJoin".into(),
        detail,
        parallelism,
        inputs: vec![Edge {
            from: left.node,
            kind: EdgeKind::Forward,
        }],
        kind: NodeKind::Operator(def.into_factory()),
        changelog: ChangelogKind::AppendOnly,
        is_sink: false,
        schema: output_schema,
    });
    Ok(Stream {
        node,
        schema: join.schema.clone(),
    })
}

/// The right input `plan` as filters and expressions over the columns of `table`.
fn right_side(p: &Planner, plan: &LogicalPlan, table: &str) -> SqlResult<RightSide> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let def = p
                .tables
                .get(scan.table_name.table())
                .ok_or_else(|| SqlError::new(format!("table '{table}' is not in the catalog")))?;
            let schema = def.source_schema();
            let table_schema = Arc::new(
                DFSchema::try_from_qualified_schema(scan.table_name.clone(), &schema)
                    .map_err(|e| datafusion_error(e, def.position))?,
            );
            let indices: Vec<usize> = match &scan.projection {
                Some(projection) => projection.clone(),
                None => (0..schema.fields().len()).collect(),
            };
            let exprs = indices
                .iter()
                .map(|&i| column(&scan.table_name, schema.field(i).name()))
                .collect();
            Ok(RightSide {
                table_schema,
                filters: scan.filters.clone(),
                exprs,
            })
        }
        LogicalPlan::SubqueryAlias(alias) => right_side(p, &alias.input, table),
        LogicalPlan::Projection(projection) => {
            let mut inner = right_side(p, &projection.input, table)?;
            inner.exprs = projection
                .expr
                .iter()
                .map(|e| substitute(e, projection.input.schema(), &inner.exprs))
                .collect::<SqlResult<_>>()?;
            Ok(inner)
        }
        LogicalPlan::Filter(filter) => {
            let mut inner = right_side(p, &filter.input, table)?;
            let predicate = substitute(&filter.predicate, filter.input.schema(), &inner.exprs)?;
            inner.filters.push(predicate);
            Ok(inner)
        }
        other => Err(SqlError::new(format!(
            "the lookup table {table} is read through a '{}' step: a lookup join reads the \
             table's columns, filtered by conditions on them, and nothing else",
            other.display()
        ))),
    }
}

fn column(table: &TableReference, name: &str) -> Expr {
    Expr::Column(datafusion::common::Column::new(Some(table.clone()), name))
}

/// `expr` over `schema` with each column replaced by its expression in `exprs`.
fn substitute(expr: &Expr, schema: &DFSchemaRef, exprs: &[Expr]) -> SqlResult<Expr> {
    expr.clone()
        .transform_up(|e| match &e {
            Expr::Column(c) => {
                let i = schema.index_of_column(c)?;
                let replaced = exprs.get(i).cloned().ok_or_else(|| {
                    datafusion::error::DataFusionError::Internal(format!("no expression for {c}"))
                })?;
                Ok(Transformed::yes(replaced))
            }
            _ => Ok(Transformed::no(e)),
        })
        .map(|t| t.data)
        .map_err(|e| datafusion_error(e, Default::default()))
}

/// `expr` without the casts around it.
fn strip_casts(expr: &Expr) -> &Expr {
    match expr {
        Expr::Cast(c) => strip_casts(&c.expr),
        Expr::TryCast(c) => strip_casts(&c.expr),
        Expr::Alias(a) => strip_casts(&a.expr),
        other => other,
    }
}
