//! Joins: a join with a table read `FOR SYSTEM_TIME AS OF` is a temporal or lookup join
//! ([`super::versioned`]); a DataFusion `Join` with equality keys becomes a window join when it equates the
//! window bounds of two window table functions ([`super::window_join`]), an interval join
//! when its condition bounds the distance of two event-time attributes
//! ([`super::interval_join`]), else a regular join ([`weir_operators::RegularJoin`]); both are fed by their inputs
//! hash-partitioned by the keys.
//! Key expressions that are not plain columns (or whose types differ between the sides)
//! are computed by a calc appended to the input. Joins Weir cannot run yet are refused
//! with a message naming what is supported.

use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::NullEquality;
use datafusion::logical_expr::type_coercion::binary::comparison_coercion;
use datafusion::logical_expr::{
    Expr, ExprSchemable, Join, JoinType, LogicalPlan, LogicalPlanBuilder,
};
use weir_operators::{JoinKind, JoinSide, RegularJoin};
use weir_runtime::{Edge, Node, NodeKind, OperatorFactory};
use weir_types::{ChangelogKind, OperatorId};

use super::hints::input_names;
use super::interval_join::{add_interval_join, interval_bounds};
use super::translate::{add_calc, keyed_exchange, physical, translate, with_row_kind, Stream};
use super::window_join::{translate_window_join, window_equalities};
use super::{datafusion_error, Planner};
use crate::error::{Position, SqlError, SqlResult};

/// What Weir's joins support, for error messages.
pub(crate) const SUPPORTED: &str =
    "Weir runs regular joins: INNER, LEFT, RIGHT and FULL OUTER JOIN with at \
     least one equality between the two inputs in ON (extra conditions may be added with AND), \
     interval joins (those with l.ts BETWEEN r.ts - INTERVAL .. AND r.ts + INTERVAL .. on \
     event-time attributes) and window joins (two TUMBLE, HOP or CUMULATE windows joined with \
     L.window_start = R.window_start AND L.window_end = R.window_end), event-time \
     temporal joins (INNER or LEFT JOIN v FOR SYSTEM_TIME AS OF l.ts ON l.key = v.key, v a \
     table with a PRIMARY KEY and a WATERMARK) and lookup joins (INNER or LEFT JOIN t FOR \
     SYSTEM_TIME AS OF o.proc_time, with proc_time a PROCTIME() column and t a redis or \
     jdbc table, on equalities with the table's lookup key)";

/// Translates a join.
pub(crate) fn translate_join(p: &mut Planner, join: &Join) -> SqlResult<Stream> {
    if let Some(versioned) = super::versioned::translate_versioned_join(p, join) {
        return versioned;
    }
    if let Some(windows) = window_equalities(join)? {
        return translate_window_join(p, join, windows);
    }
    let kind = match join.join_type {
        JoinType::Inner => JoinKind::Inner,
        JoinType::Left => JoinKind::Left,
        JoinType::Right => JoinKind::Right,
        JoinType::Full => JoinKind::Full,
        other => {
            return Err(SqlError::new(format!(
                "a {other} join (from IN, EXISTS or a semi/anti join) is not supported yet; {SUPPORTED}"
            )))
        }
    };
    if join.on.is_empty() {
        let what = match &join.filter {
            Some(filter) => format!("only the condition {filter}, without an equality"),
            None => "no condition (a cross join)".to_string(),
        };
        return Err(SqlError::new(format!(
            "this join of two streams has {what}: an unbounded stream cannot be joined without \
             equality keys; {SUPPORTED}"
        )));
    }
    let (left_keys, right_keys) = coerced_keys(join, &join.on)?;
    let left_input = translate(p, &join.left)?;
    let right_input = translate(p, &join.right)?;
    let (left, left_side) = keyed_side(p, &left_input, &join.left, &left_keys)?;
    let (right, right_side) = keyed_side(p, &right_input, &join.right, &right_keys)?;
    let updating = |s: &Stream| p.graph.nodes[s.node].changelog == ChangelogKind::Updating;
    let (left_updating, right_updating) = (updating(&left), updating(&right));
    if !left_updating && !right_updating {
        if let Some(bounds) = interval_bounds(p, join) {
            let sides = [(left, left_side), (right, right_side)];
            return add_interval_join(p, join, kind, bounds, sides);
        }
    }
    let filter = join
        .filter
        .as_ref()
        .map(|f| physical(p, f, &join.schema))
        .transpose()?;
    let ttl = |plan: &LogicalPlan| -> (Option<i64>, String) {
        let names = input_names(plan);
        let hinted = names
            .iter()
            .find_map(|n| p.join_ttl_hints.get(n).map(|t| (n, *t)));
        match hinted {
            Some((name, ms)) => ((ms > 0).then_some(ms), format!("STATE_TTL hint for {name}")),
            None => (p.options.state_ttl_ms(), "table.exec.state.ttl".into()),
        }
    };
    let (left_ttl, left_ttl_source) = ttl(&join.left);
    let (right_ttl, right_ttl_source) = ttl(&join.right);
    let mut def = RegularJoin {
        kind,
        left: JoinSide {
            schema: Arc::new(left.schema.as_arrow().clone()),
            updating: left_updating,
            keys: left_side.0,
            output_columns: left_side.1,
            state_ttl_ms: left_ttl,
        },
        right: JoinSide {
            schema: Arc::new(right.schema.as_arrow().clone()),
            updating: right_updating,
            keys: right_side.0,
            output_columns: right_side.1,
            state_ttl_ms: right_ttl,
        },
        filter,
        nulls_equal: join.null_equality == NullEquality::NullEqualsNull,
        output_schema: Arc::new(join.schema.as_arrow().clone()),
        cold: None,
    };
    let cold =
        super::cold_join::cold_side(p, kind, [&join.left, &join.right], [&def.left, &def.right])?;
    let cold_text = cold
        .as_ref()
        .map(|(_, text)| format!("; {text}"))
        .unwrap_or_default();
    def.cold = cold.map(|(side, _)| side);
    let output_updating = def.output_updating();
    if output_updating {
        def.output_schema = with_row_kind(&def.output_schema);
    }
    let on_text = join
        .on
        .iter()
        .map(|(l, r)| format!("{l} = {r}"))
        .collect::<Vec<_>>()
        .join(", ");
    let filter_text = join
        .filter
        .as_ref()
        .map(|f| format!("; and {f}"))
        .unwrap_or_default();
    let retention = |name: Vec<String>, ttl: Option<i64>, source: &str, updating: bool| {
        let name = name.first().cloned().unwrap_or_else(|| "input".into());
        let rows = if updating { "live rows" } else { "every row" };
        match ttl {
            Some(ms) => format!("{name}: {rows}, each kept {} after its last write ({source})", human(ms)),
            None => format!("{name}: {rows}, kept forever (set table.exec.state.ttl or a STATE_TTL hint to bound it)"),
        }
    };
    let detail = format!(
        "regular {} join on [{on_text}]{filter_text}; {} output; state: {}; {}; state size grows with the rows of both inputs (not the number of keys); a key with many rows on both sides costs its matches on every row",
        kind.sql(),
        if output_updating { "updating" } else { "append-only" },
        retention(input_names(&join.left), left_ttl, &left_ttl_source, left_updating),
        retention(input_names(&join.right), right_ttl, &right_ttl_source, right_updating),
    ) + &cold_text;
    let filter_id = join
        .filter
        .as_ref()
        .map(|f| f.to_string())
        .unwrap_or_default();
    let node = add_keyed_join_node(
        p,
        KeyedJoinNode {
            inputs: [
                (left.node, def.left.keys.clone()),
                (right.node, def.right.keys.clone()),
            ],
            id: format!("join:{}:[{on_text}]:{filter_id}", kind.sql()),
            name: "Join",
            detail,
            schema: Arc::clone(&def.output_schema),
            factory: def.into_factory(),
            changelog: if output_updating {
                ChangelogKind::Updating
            } else {
                ChangelogKind::AppendOnly
            },
        },
    );
    Ok(Stream {
        node,
        schema: join.schema.clone(),
    })
}

/// The key expressions of both sides for the equalities `pairs` of `join`, cast to a
/// common type where the two sides' types differ.
pub(crate) fn coerced_keys(
    join: &Join,
    pairs: &[(Expr, Expr)],
) -> SqlResult<(Vec<Expr>, Vec<Expr>)> {
    let mut left_keys = Vec::new();
    let mut right_keys = Vec::new();
    for (l, r) in pairs {
        let lt = l
            .get_type(join.left.schema())
            .map_err(|e| datafusion_error(e, Position::default()))?;
        let rt = r
            .get_type(join.right.schema())
            .map_err(|e| datafusion_error(e, Position::default()))?;
        if lt == rt {
            left_keys.push(l.clone());
            right_keys.push(r.clone());
            continue;
        }
        let common = comparison_coercion(&lt, &rt).ok_or_else(|| {
            SqlError::new(format!(
                "the join keys {l} ({lt}) and {r} ({rt}) cannot be compared"
            ))
        })?;
        left_keys.push(cast(l, &lt, &common));
        right_keys.push(cast(r, &rt, &common));
    }
    Ok((left_keys, right_keys))
}

/// A two-input join operator, both inputs hash-partitioned by their join keys.
pub(crate) struct KeyedJoinNode {
    /// The left and the right input: their node and key columns.
    pub inputs: [(usize, Vec<usize>); 2],
    /// What identifies the operator among runs of the same SQL (with its inputs' ids).
    pub id: String,
    /// Its name in `explain`.
    pub name: &'static str,
    /// What `explain` says about it.
    pub detail: String,
    pub factory: Arc<dyn OperatorFactory>,
    pub changelog: ChangelogKind,
    /// Its output columns (the row kind last when updating).
    pub schema: SchemaRef,
}

/// Adds a join operator fed by both inputs through hash exchanges on their keys; returns
/// its node.
pub(crate) fn add_keyed_join_node(p: &mut Planner, node: KeyedJoinNode) -> usize {
    let [(left, left_keys), (right, right_keys)] = node.inputs;
    let (parallelism, left_edge) = keyed_exchange(p, left, &left_keys);
    let (_, right_edge) = keyed_exchange(p, right, &right_keys);
    let ids = [p.graph.nodes[left].id, p.graph.nodes[right].id];
    p.graph.add(Node {
        id: OperatorId::derive(&node.id, &ids),
        name: node.name.into(),
        detail: node.detail,
        parallelism,
        inputs: vec![
            Edge {
                from: left,
                kind: left_edge,
            },
            Edge {
                from: right,
                kind: right_edge,
            },
        ],
        kind: NodeKind::Operator(node.factory),
        changelog: node.changelog,
        is_sink: false,
        schema: node.schema,
    })
}

/// `expr` of type `from` cast to `to` (unchanged when equal).
fn cast(expr: &Expr, from: &DataType, to: &DataType) -> Expr {
    if from == to {
        expr.clone()
    } else {
        Expr::Cast(datafusion::logical_expr::Cast::new(
            Box::new(expr.clone()),
            to.clone(),
        ))
    }
}

/// A join input with its key columns: the stream, the key indices and the output width.
pub(crate) type KeyedSide = (Stream, (Vec<usize>, usize));

/// The input of one side with its key columns: `(stream, (key indices, output width))`.
/// Keys that are plain columns are used as they are; otherwise a calc appends the key
/// expressions as columns after the input's own.
pub(crate) fn keyed_side(
    p: &mut Planner,
    input: &Stream,
    plan: &LogicalPlan,
    keys: &[Expr],
) -> SqlResult<(Stream, (Vec<usize>, usize))> {
    let width = input.schema.fields().len();
    let plain: Option<Vec<usize>> = keys
        .iter()
        .map(|k| match k {
            Expr::Column(c) => input.schema.index_of_column(c).ok(),
            _ => None,
        })
        .collect();
    if let Some(indices) = plain {
        return Ok((input.clone(), (indices, width)));
    }
    let mut exprs: Vec<Expr> = input
        .schema
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let mut indices = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        indices.push(exprs.len());
        exprs.push(key.clone().alias(format!("__weir_join_key_{i}")));
    }
    let projected = LogicalPlanBuilder::from(plan.clone())
        .project(exprs.clone())
        .and_then(|b| b.build())
        .map_err(|e| datafusion_error(e, Position::default()))?;
    let stream = add_calc(p, input, None, Some(exprs), projected.schema().clone())?;
    Ok((stream, (indices, width)))
}

/// A duration in milliseconds for people: `1 d`, `12 h`, `90 s`, `250 ms`.
pub(crate) fn human(ms: i64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("min", 60_000),
        ("s", 1000),
    ] {
        if ms >= size && ms % size == 0 {
            return format!("{} {unit}", ms / size);
        }
    }
    format!("{ms} ms")
}
