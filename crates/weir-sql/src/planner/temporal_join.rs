//! Event-time temporal joins: `FROM o JOIN r FOR SYSTEM_TIME AS OF o.ts AS r ON o.k =
//! r.k`, where `o.ts` is the left input's event-time attribute and `r` a versioned table
//! (a PRIMARY KEY and a WATERMARK) or a versioned view ([`super::versioned_view`]),
//! translated into
//! [`weir_operators::join::temporal::TemporalJoin`].
//!
//! As Flink (`TemporalJoinRewriteWithUniqueKeyRule`), the equalities of `ON` must cover
//! the versioned table's whole primary key: those on primary-key columns are the join
//! keys (both inputs are hash-partitioned by them); other equalities join the extra
//! condition that the version valid at the left time must satisfy. The left input may be
//! a changelog (as in Flink, each row joins the version valid at its time and keeps its
//! kind: the output is then updating); the right one may be a changelog (`debezium-json`)
//! or append-only (each row a new version of its key). The right table's event-time column is kept through
//! DataFusion's projection pruning, since the versions are ordered by it.

use std::sync::Arc;

use datafusion::common::NullEquality;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, Join, JoinType};
use weir_operators::join::temporal::TemporalJoin;
use weir_operators::{JoinKind, JoinSide};
use weir_types::ChangelogKind;

use super::join::{add_keyed_join_node, KeyedJoinNode};
use super::join::{coerced_keys, human, keyed_side};
use super::temporal_inputs::{keep_column, pull_up_filters, strip_markers};
use super::translate::{physical, translate, with_row_kind, Stream};
use super::versioned::VersionedJoin;
use super::versioned_view::versioned_view;
use super::{datafusion_error, Planner};
use crate::error::{Position, SqlError, SqlResult};

/// Translates an event-time temporal join recognised by [`super::versioned`].
pub(crate) fn translate_temporal_join(
    p: &mut Planner,
    join: &Join,
    versioned: VersionedJoin,
) -> SqlResult<Stream> {
    let read = &versioned.read;
    let at = read.position;
    let what = format!(
        "{} is joined FOR SYSTEM_TIME AS OF the event time {}",
        read.table, versioned.as_of
    );
    let VersionedSide {
        primary_key,
        rowtime,
        is_view,
    } = versioned_side(p, join, &versioned, &what)?;
    let kind = match join.join_type {
        JoinType::Inner => JoinKind::Inner,
        _ => JoinKind::Left,
    };

    // Keys: the equalities on the primary key, in its order; the others are conditions.
    let right_column = |e: &Expr| match e.clone().unalias() {
        Expr::Column(c) => Some(c),
        Expr::Cast(cast) => match *cast.expr {
            Expr::Column(c) => Some(c),
            _ => None,
        },
        _ => None,
    };
    let mut keys = Vec::new();
    let mut used = vec![false; join.on.len()];
    for pk in &primary_key {
        let found = join.on.iter().enumerate().find(|(i, (_, r))| {
            !used[*i]
                && right_column(r)
                    .is_some_and(|c| &c.name == pk && join.right.schema().has_column(&c))
        });
        match found {
            Some((i, pair)) => {
                used[i] = true;
                keys.push(pair.clone());
            }
            None => {
                return Err(SqlError::at(
                    at,
                    format!(
                        "{what}: the join's equalities must cover the versioned table's whole \
                         primary key ({}), but none equates {}.{pk} with the left input; \
                         join it as in `ON o.{pk} = {}.{pk}`",
                        primary_key.join(", "),
                        read.name(),
                        read.name()
                    ),
                ));
            }
        }
    }
    let mut conditions: Vec<Expr> = join
        .on
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|((l, r), _)| l.clone().eq(r.clone()))
        .collect();
    conditions.extend(versioned.filter.iter().cloned());
    // Conditions DataFusion pushed into the versioned table apply to the chosen version.
    let name = join
        .right
        .schema()
        .iter()
        .find_map(|(q, _)| q.map(|q| q.table().to_string()))
        .unwrap_or_else(|| read.name().to_string());
    let rebuild_failed = |input: &str| {
        SqlError::at(
            at,
            format!("{what}: the join's {input} input could not be rebuilt for a temporal join"),
        )
    };
    let (right_unfiltered, pulled) =
        pull_up_filters(&join.right, &name).ok_or_else(|| rebuild_failed("right"))?;
    for condition in &pulled {
        let unread = condition
            .column_refs()
            .into_iter()
            .find(|c| !join.right.schema().has_column(c))
            .cloned();
        if let Some(column) = unread {
            return Err(SqlError::at(
                at,
                format!(
                    "{what}: the condition {condition} on the versioned table names {column}, \
                     which the query does not otherwise read; a temporal join evaluates it on \
                     the version valid at the left row's time, so select {column} too"
                ),
            ));
        }
    }
    conditions.extend(pulled);
    let condition = conjunction(conditions);
    let left_plan = strip_markers(&join.left).ok_or_else(|| rebuild_failed("left"))?;

    let right_plan = keep_column(p, &right_unfiltered, &rowtime).ok_or_else(|| {
        SqlError::at(
            at,
            format!(
                "{what}: its event-time attribute {rowtime} cannot be read through the \
                 projection of the join's right input"
            ),
        )
    })?;
    let right_width = join.right.schema().fields().len();
    let right_time = right_plan
        .schema()
        .fields()
        .iter()
        .position(|f| f.name() == &rowtime)
        .ok_or_else(|| SqlError::at(at, format!("{what}: {rowtime} is not read")))?;

    let (left_keys, right_keys) = coerced_keys(join, &keys)?;
    let left_input = translate(p, &left_plan)?;
    // As in Flink, a changelog left input is joined row by row, each row keeping its kind.
    let left_updating = p.graph.nodes[left_input.node].changelog == ChangelogKind::Updating;
    let right_input = translate(p, &right_plan)?;
    let (left, (left_key_indices, left_width)) =
        keyed_side(p, &left_input, &left_plan, &left_keys)?;
    let (right, (right_key_indices, _)) = keyed_side(p, &right_input, &right_plan, &right_keys)?;
    let left_time = left
        .schema
        .index_of_column(&versioned.as_of)
        .map_err(|e| datafusion_error(e, Position::default()))?;
    let right_updating = p.graph.nodes[right.node].changelog == ChangelogKind::Updating;
    if is_view && right_updating {
        return Err(SqlError::at(
            at,
            format!(
                "{what}, but the input of the versioned view {} is a changelog: a versioned \
                 view deduplicates an append-only stream of versions; declare the changelog as \
                 a versioned table instead (CREATE TABLE ... (PRIMARY KEY (k) NOT ENFORCED, \
                 WATERMARK FOR ts AS ...))",
                read.table
            ),
        ));
    }
    let ttl = p.options.state_ttl_ms();
    let filter = condition
        .as_ref()
        .map(|f| physical(p, f, &join.schema))
        .transpose()?;
    let def = TemporalJoin {
        kind,
        left: JoinSide {
            schema: Arc::new(left.schema.as_arrow().clone()),
            updating: left_updating,
            keys: left_key_indices,
            output_columns: left_width,
            state_ttl_ms: None,
        },
        right: JoinSide {
            schema: Arc::new(right.schema.as_arrow().clone()),
            updating: right_updating,
            keys: right_key_indices,
            output_columns: right_width,
            state_ttl_ms: ttl,
        },
        left_time,
        right_time,
        filter,
        nulls_equal: join.null_equality == NullEquality::NullEqualsNull,
        right_keeps_last: is_view,
        output_schema: if left_updating {
            with_row_kind(join.schema.as_arrow())
        } else {
            Arc::new(join.schema.as_arrow().clone())
        },
    };

    let on_text = keys
        .iter()
        .map(|(l, r)| format!("{l} = {r}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rest = condition
        .as_ref()
        .map(|f| format!("; and {f}"))
        .unwrap_or_default();
    let retention = match ttl {
        Some(ms) => format!(
            "; a key's versions expire {} after its last change (table.exec.state.ttl)",
            human(ms)
        ),
        None => String::new(),
    };
    let detail = format!(
        "temporal {} join (event time) on key [{on_text}] as of {} against versioned table {} \
         (primary key [{}], event time {rowtime}, {} input){rest}; {} output, each \
         left row emitted when the watermark passes its time; state: the versions of each key \
         retained until superseded below the watermark (the newest at or below it and the \
         newer ones){retention}, plus the left rows waiting for the watermark; output \
         watermark = the input watermark",
        kind.sql(),
        versioned.as_of,
        read.table,
        primary_key.join(", "),
        if is_view {
            "versioned view: the rows of its input, a row older than its key's newest version \
             dropped as the view's deduplication drops it"
        } else if right_updating {
            "changelog"
        } else {
            "append-only"
        },
        if left_updating {
            "updating (each left row's kind passed on)"
        } else {
            "append-only"
        },
    );
    let node = add_keyed_join_node(
        p,
        KeyedJoinNode {
            inputs: [
                (left.node, def.left.keys.clone()),
                (right.node, def.right.keys.clone()),
            ],
            id: format!(
                "temporal-join:{}:[{on_text}]:{}{rest}",
                kind.sql(),
                versioned.as_of
            ),
            name: "TemporalJoin",
            detail,
            schema: Arc::clone(&def.output_schema),
            factory: def.into_factory(),
            changelog: if left_updating {
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

/// The versioned table's key and event-time attribute, of a table or a versioned view.
struct VersionedSide {
    primary_key: Vec<String>,
    rowtime: String,
    is_view: bool,
}

/// The key and event time of the versioned table read by `versioned`, or why it is not
/// one.
fn versioned_side(
    p: &Planner,
    join: &Join,
    versioned: &VersionedJoin,
    what: &str,
) -> SqlResult<VersionedSide> {
    let read = &versioned.read;
    let at = read.position;
    if p.views.contains(&read.table) {
        return match versioned_view(p, &join.right) {
            Ok(view) => Ok(VersionedSide {
                primary_key: view.primary_key,
                rowtime: view.rowtime,
                is_view: true,
            }),
            Err(why) => Err(SqlError::at(
                at,
                format!(
                    "{what}, but {} is a view that is not a versioned view: {why}. A versioned \
                     view keeps the last row per key by event time, as `CREATE VIEW {} AS \
                     SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts \
                     DESC) AS rn FROM t) WHERE rn = 1` with ts the WATERMARK FOR column of t",
                    read.table, read.table
                ),
            )),
        };
    }
    let table = p
        .tables
        .get(&read.table)
        .ok_or_else(|| SqlError::at(at, format!("{} is not a table of the catalog", read.table)))?;
    if table.primary_key.is_empty() {
        return Err(SqlError::at(
            at,
            format!(
                "{what}, but it has no primary key: an event-time temporal join needs a \
                 versioned table, with PRIMARY KEY (...) NOT ENFORCED and a WATERMARK, as in \
                 `CREATE TABLE {} (..., PRIMARY KEY (id) NOT ENFORCED, WATERMARK FOR ts AS ts)`",
                read.table
            ),
        ));
    }
    let Some(watermark) = table.watermark.as_ref() else {
        return Err(SqlError::at(
            at,
            format!(
                "{what}, but it has no event-time attribute: a versioned table needs a \
                 WATERMARK FOR its time column, which orders its versions"
            ),
        ));
    };
    Ok(VersionedSide {
        primary_key: table.primary_key.clone(),
        rowtime: watermark.column.clone(),
        is_view: false,
    })
}
