//! Source nodes: a table's connector, its computed columns and its watermark. A source
//! whose format reads a changelog (`debezium-json`) is an updating stream: its rows carry
//! the row kind as last column, after the computed ones. An upsert source (`upsert-kafka`)
//! is followed by a changelog normalization keyed by its PRIMARY KEY.

use std::sync::Arc;

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::DFSchema;
use datafusion::logical_expr::{Expr, ExprSchemable, Operator};
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use weir_operators::{Calc, ChangelogNormalize, WatermarkExpression};
use weir_runtime::source::SourceSpec;
use weir_runtime::{Edge, Node, NodeKind};
use weir_types::{ChangelogKind, OperatorId, ROW_KIND_COLUMN};

use super::projection;
use super::translate::{keyed_exchange, physical, with_row_kind};
use super::{datafusion_error, Planner};
use crate::catalog::TableDef;
use crate::error::{SqlError, SqlResult};
use crate::statement::{ColumnKind, WatermarkDef};
use crate::types::flink_type_name;

/// The source node reading `table`, created on first use and shared after that.
pub(crate) fn source_node(p: &mut Planner, table: &str) -> SqlResult<usize> {
    if let Some(&node) = p.sources.get(table) {
        return Ok(node);
    }
    let def = p
        .tables
        .get(table)
        .cloned()
        .ok_or_else(|| SqlError::new(format!("table '{table}' is not in the catalog")))?;
    let descriptor = def.descriptor(&p.base_dir, false);
    let binding = weir_connectors::create_source(&descriptor)
        .map_err(|e| SqlError::at(def.position, e.to_string()))?;

    let updating = binding.changelog == ChangelogKind::Updating;
    let source_schema = Arc::new(
        DFSchema::try_from(def.source_schema().as_ref().clone())
            .map_err(|e| datafusion_error(e, def.position))?,
    );
    // Columns the source needs whatever the queries read (projection pushdown).
    let mut needed: Vec<String> = binding.upsert_key.clone();
    let prepare = if def.has_computed_columns() {
        let mut exprs = Vec::new();
        for column in &def.columns {
            let expr = match &column.kind {
                ColumnKind::Computed(sql) => {
                    let expr = p.sql_expr(sql, &source_schema, column.position)?;
                    needed.extend(projection::referenced(&expr));
                    expr
                }
                _ => Expr::Column(datafusion::common::Column::from_name(column.name.clone())),
            };
            exprs.push(physical(p, &expr, &source_schema).map_err(|e| e.or_at(column.position))?);
        }
        let mut schema = def.schema.clone();
        if updating {
            // The row kind follows the read columns; it stays last.
            exprs.push(Arc::new(PhysicalColumn::new(
                ROW_KIND_COLUMN,
                source_schema.fields().len(),
            )));
            schema = with_row_kind(&schema);
        }
        Some(Calc::new(None, Some(exprs), schema).into_factory())
    } else {
        None
    };
    let event_time = match &def.watermark {
        None => None,
        Some(w) => {
            let table_schema = Arc::new(
                DFSchema::try_from(def.schema.as_ref().clone())
                    .map_err(|e| datafusion_error(e, w.position))?,
            );
            let expr = p.sql_expr(&w.expr, &table_schema, w.position)?;
            needed.extend(projection::referenced(&expr));
            let phys = physical(p, &expr, &table_schema).map_err(|e| e.or_at(w.position))?;
            let mut extractor = WatermarkExpression::new(phys);
            if let Some(column) = monotone_column(&expr) {
                if let Ok(index) = def.schema.index_of(&column) {
                    extractor = extractor.monotone_in(index);
                }
            }
            Some(Arc::new(extractor) as Arc<dyn weir_runtime::EventTimeExtractor>)
        }
    };
    let mut detail = binding.description.clone();
    if let Some(w) = &def.watermark {
        detail.push_str(&format!("; WATERMARK FOR {} AS {}", w.column, w.expr));
    }
    let canonical = format!("source:{}:{:?}", def.name, def.options);
    let node = p.graph.add(Node {
        id: OperatorId::derive(&canonical, &[]),
        name: format!("Source: {}", def.name),
        detail,
        parallelism: binding.parallelism.unwrap_or_else(|| {
            binding
                .max_useful_parallelism
                .map_or(p.options.parallelism(), |n| n.min(p.options.parallelism()))
        }),
        inputs: vec![],
        kind: NodeKind::Source(SourceSpec {
            factory: binding.factory,
            prepare,
            event_time,
        }),
        changelog: binding.changelog,
        is_sink: false,
        schema: if updating {
            with_row_kind(&def.schema)
        } else {
            def.schema.clone()
        },
    });
    projection::register_source(p, &def, node, needed.iter().map(String::as_str));
    let node = if binding.upsert_key.is_empty() {
        node
    } else {
        add_normalize(p, &def, node, &binding.upsert_key)?
    };
    p.sources.insert(def.name.clone(), node);
    Ok(node)
}

/// Puts a changelog normalization after an upsert source (Flink's ChangelogNormalize):
/// the rows, hash-partitioned by the key, become a changelog with full retractions.
fn add_normalize(
    p: &mut Planner,
    def: &TableDef,
    source: usize,
    key: &[String],
) -> SqlResult<usize> {
    let key_columns = key
        .iter()
        .map(|name| {
            def.schema.index_of(name).map_err(|_| {
                SqlError::at(
                    def.position,
                    format!("table '{}': key column '{name}' is not a column", def.name),
                )
            })
        })
        .collect::<SqlResult<Vec<usize>>>()?;
    let (parallelism, edge) = keyed_exchange(p, source, &key_columns);
    let source_id = p.graph.nodes[source].id;
    let normalize = ChangelogNormalize {
        schema: def.schema.clone(),
        key_columns,
        state_ttl_ms: p.options.state_ttl_ms(),
    };
    Ok(p.graph.add(Node {
        id: OperatorId::derive(&format!("normalize:[{}]", key.join(",")), &[source_id]),
        name: "ChangelogNormalize".into(),
        detail: format!(
            "upsert stream to changelog: last row per key [{}]; state: one row per key{}",
            key.join(", "),
            match p.options.state_ttl_ms() {
                Some(ttl) => format!(", kept {ttl} ms after its last write (table.exec.state.ttl)"),
                None => String::new(),
            }
        ),
        parallelism,
        inputs: vec![Edge {
            from: source,
            kind: edge,
        }],
        kind: NodeKind::Operator(normalize.into_factory()),
        changelog: ChangelogKind::Updating,
        is_sink: false,
        schema: with_row_kind(&def.schema),
    }))
}

/// Checks a `WATERMARK FOR` clause when its table is declared: the column exists and is a
/// TIMESTAMP(p) or TIMESTAMP_LTZ(p) with p of 0 to 3, and the expression is a timestamp.
pub(crate) fn check_watermark(p: &Planner, table: &TableDef, w: &WatermarkDef) -> SqlResult<()> {
    let field = table.schema.field_with_name(&w.column).map_err(|_| {
        SqlError::at(
            w.position,
            format!(
                "WATERMARK FOR '{}': table '{}' has no such column",
                w.column, table.name
            ),
        )
    })?;
    if !is_rowtime_type(field.data_type()) {
        return Err(SqlError::at(
            w.position,
            format!(
                "WATERMARK FOR '{}': the event-time column must be TIMESTAMP(p) or TIMESTAMP_LTZ(p) with precision 0 to 3, not {}",
                w.column,
                flink_type_name(field.data_type())
            ),
        ));
    }
    let schema = DFSchema::try_from(table.schema.as_ref().clone())
        .map_err(|e| datafusion_error(e, w.position))?;
    let expr = p.sql_expr(&w.expr, &schema, w.position)?;
    let data_type = expr
        .get_type(&schema)
        .map_err(|e| datafusion_error(e, w.position))?;
    if !matches!(data_type, DataType::Timestamp(_, _)) {
        return Err(SqlError::at(
            w.position,
            format!(
                "the watermark expression must be a timestamp, but '{}' is {}",
                w.expr,
                flink_type_name(&data_type)
            ),
        ));
    }
    Ok(())
}

/// The column a watermark expression grows with, when it is `col`, `col - constant` or
/// `col + constant` (the usual `ts - INTERVAL '5' SECOND`).
fn monotone_column(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Column(c) => Some(c.name.clone()),
        Expr::BinaryExpr(b) if matches!(b.op, Operator::Minus | Operator::Plus) => {
            match (b.left.as_ref(), b.right.as_ref()) {
                (Expr::Column(c), Expr::Literal(_, _)) => Some(c.name.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

fn is_rowtime_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Timestamp(TimeUnit::Second | TimeUnit::Millisecond, _)
    )
}
