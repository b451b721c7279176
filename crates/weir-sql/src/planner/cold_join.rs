//! Hot/cold join state: `/*+ COLD_STATE('orders' = 'orders_cold') */` on a regular join
//! gives the input `orders` a cold table, a `redis` or `jdbc` table that a batch job
//! loads with the input's older rows (`INSERT INTO orders_cold SELECT ... FROM` files).
//! The join keeps only recent rows of that input in state (with a `STATE_TTL` hint or
//! `table.exec.state.ttl`) and looks up a key it has no row for in the cold table
//! ([`weir_operators::ColdSide`]).
//!
//! The cold input must be append-only and unique on the join key (one row per key, as
//! orders per order id), not an outer side of the join, and joined on plain columns that
//! are the cold table's key, in its order; the cold table has every column of the input
//! the query uses, by name.

use arrow::datatypes::Schema;
use datafusion::logical_expr::LogicalPlan;
use weir_operators::{ColdSide, JoinKind, JoinSide};

use super::hints::input_names;
use super::Planner;
use crate::error::{SqlError, SqlResult};

/// The cold side of a regular join of `plans` (left, right) with `sides`, if a
/// `COLD_STATE` hint names one of its inputs; and a line for `explain`.
pub(crate) fn cold_side(
    p: &Planner,
    kind: JoinKind,
    plans: [&LogicalPlan; 2],
    sides: [&JoinSide; 2],
) -> SqlResult<Option<(ColdSide, String)>> {
    let mut hinted = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        for name in input_names(plan) {
            if let Some(table) = p.join_cold_hints.get(&name) {
                hinted.push((i, name, table.clone()));
                break;
            }
        }
    }
    let (side, input, table_name) =
        match hinted.as_slice() {
            [] => return Ok(None),
            [one] => one.clone(),
            _ => return Err(SqlError::new(
                "COLD_STATE names both inputs of a join: only one input can keep its older rows \
                 in a cold table",
            )),
        };
    let refuse =
        |why: String| SqlError::new(format!("COLD_STATE('{input}' = '{table_name}'): {why}"));
    let outer = if side == 0 {
        kind.left_outer()
    } else {
        kind.right_outer()
    };
    if outer {
        return Err(refuse(format!(
            "{input} is an outer side of this {} join; a cold input must be joined INNER or \
             be the non-preserved side of a LEFT/RIGHT join",
            kind.sql()
        )));
    }
    let join_side = sides[side];
    if join_side.updating {
        return Err(refuse(format!(
            "{input} is an updating stream; a cold input must be append-only"
        )));
    }
    if join_side.schema.fields().len() != join_side.output_columns {
        return Err(refuse(format!(
            "{input} is joined on expressions; join it on its columns"
        )));
    }
    let table = p.tables.get(&table_name).ok_or_else(|| {
        refuse(format!(
            "there is no table '{table_name}'; declare it with CREATE TABLE (connector 'redis' \
             or 'jdbc')"
        ))
    })?;
    let key_names: Vec<String> = join_side
        .keys
        .iter()
        .map(|&k| join_side.schema.field(k).name().clone())
        .collect();
    let descriptor = table.descriptor(&p.base_dir, false);
    let binding = weir_connectors::create_lookup(&descriptor, &key_names)
        .map_err(|e| refuse(e.to_string()))?;
    if binding.factory.key_columns() != key_names.as_slice() {
        return Err(refuse(format!(
            "{table_name} is looked up by [{}] but the join equates {input}'s [{}]; join on \
             the cold table's key, in its order",
            binding.factory.key_columns().join(", "),
            key_names.join(", ")
        )));
    }
    let table_schema = binding.factory.schema();
    let columns = join_side
        .schema
        .fields()
        .iter()
        .map(|field| {
            table_schema.index_of(field.name()).map_err(|_| {
                refuse(format!(
                    "{table_name} has no column {} that the query reads from {input} \
                     (it has {})",
                    field.name(),
                    column_names(&table_schema)
                ))
            })
        })
        .collect::<SqlResult<Vec<_>>>()?;
    let explain = format!(
        "cold state of {input}: keys with no row of it in state are looked up in {} ({})",
        table_name, binding.description
    );
    Ok(Some((
        ColdSide {
            side,
            table: binding.factory,
            options: binding.options,
            columns,
        },
        explain,
    )))
}

fn column_names(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
