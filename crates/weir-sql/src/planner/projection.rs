//! Projection pushdown into sources: the columns of each source table the job reads.
//!
//! A table's source node is shared by every statement that reads it, so what it must
//! read is known only after the last statement: each scan marks the columns it uses
//! (DataFusion's optimizer has already narrowed its projection), the source marks what
//! it needs itself (the inputs of computed columns, the watermark's columns, the
//! primary key of an upsert source), and once the script is planned each source's
//! factory is asked for a reader of those columns only
//! ([`weir_runtime::SourceFactory::reading_only`]). Columns not read are NULL in the
//! source's rows, which keep the table's schema, so nothing downstream changes (operator
//! ids and checkpoints included).

use std::collections::BTreeMap;

use datafusion::logical_expr::{Expr, TableScan};
use weir_runtime::NodeKind;

use super::Planner;
use crate::catalog::TableDef;
use crate::statement::ColumnKind;

/// What one source table's node reads.
pub(crate) struct SourceReads {
    /// The source node (before any changelog normalization).
    node: usize,
    /// For each column of the table (computed ones included), whether it is read.
    read: Vec<bool>,
}

/// The read columns of every source table, by table name.
pub(crate) type SourceReadsByTable = BTreeMap<String, SourceReads>;

/// Records the source node of `def` and the columns it needs itself: those `needed`
/// names (the computed columns' and the watermark's references, the upsert key).
pub(crate) fn register_source<'a>(
    p: &mut Planner,
    def: &TableDef,
    node: usize,
    needed: impl IntoIterator<Item = &'a str>,
) {
    let mut reads = SourceReads {
        node,
        read: vec![false; def.columns.len()],
    };
    for name in needed {
        mark(&mut reads, def, name);
    }
    p.source_reads.insert(def.name.clone(), reads);
}

/// Marks the columns `scan` reads from its table's source.
pub(crate) fn mark_scan(p: &mut Planner, table: &str, scan: &TableScan) {
    let Some(def) = p.tables.get(table) else {
        return;
    };
    let Some(reads) = p.source_reads.get_mut(table) else {
        return;
    };
    match &scan.projection {
        None => reads.read.iter_mut().for_each(|r| *r = true),
        Some(columns) => {
            for &c in columns {
                if let Some(r) = reads.read.get_mut(c) {
                    *r = true;
                }
            }
        }
    }
    for filter in &scan.filters {
        for column in filter.column_refs() {
            mark(reads, def, &column.name);
        }
    }
}

/// The names of the columns `expr` references.
pub(crate) fn referenced(expr: &Expr) -> Vec<String> {
    expr.column_refs()
        .into_iter()
        .map(|c| c.name.clone())
        .collect()
}

fn mark(reads: &mut SourceReads, def: &TableDef, name: &str) {
    if let Some(i) = def.columns.iter().position(|c| c.name == name) {
        reads.read[i] = true;
    }
}

/// After the last statement: gives each source that reads fewer than all of its
/// columns a factory reading only those, and says so in its `explain` detail.
pub(crate) fn push_down(p: &mut Planner) {
    for (table, reads) in &p.source_reads {
        let Some(def) = p.tables.get(table) else {
            continue;
        };
        // The source's rows hold the table's non-computed columns, in order.
        let (read, names): (Vec<bool>, Vec<&str>) = def
            .columns
            .iter()
            .zip(&reads.read)
            .filter(|(c, _)| !matches!(c.kind, ColumnKind::Computed(_)))
            .map(|(c, &r)| (r, c.name.as_str()))
            .unzip();
        if read.iter().all(|&r| r) {
            continue;
        }
        let node = &mut p.graph.nodes[reads.node];
        let NodeKind::Source(spec) = &mut node.kind else {
            continue;
        };
        if let Some(factory) = spec.factory.reading_only(&read) {
            spec.factory = factory;
            let read_names: Vec<&str> = names
                .iter()
                .zip(&read)
                .filter(|(_, &r)| r)
                .map(|(n, _)| *n)
                .collect();
            node.detail
                .push_str(&format!("; reads columns {}", read_names.join(", ")));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::explain::explain;
    use crate::plan_script;

    /// The explain text of `queries` over a JSON table `t` and a CSV table `c`.
    async fn explain_of(queries: &str) -> String {
        let script = format!(
            "CREATE TABLE t (a BIGINT, b STRING, c DOUBLE, d STRING, ts TIMESTAMP(3),
                            e AS UPPER(d), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
             WITH ('connector' = 'filesystem', 'path' = '.', 'format' = 'json');
             CREATE TABLE c (a BIGINT, b STRING)
             WITH ('connector' = 'filesystem', 'path' = '.', 'format' = 'csv');
             CREATE TABLE out1 (x BIGINT) WITH ('connector' = 'blackhole');
             CREATE TABLE out2 (y STRING) WITH ('connector' = 'blackhole');
             {queries}"
        );
        let job = plan_script(&script, Path::new("."), &[]).await.unwrap();
        explain(&job.graph)
    }

    #[tokio::test]
    async fn a_shared_source_reads_the_columns_of_every_statement_and_its_own() {
        let text = explain_of(
            "INSERT INTO out1 SELECT a FROM t WHERE a > 1;
             INSERT INTO out2 SELECT b FROM t;",
        )
        .await;
        // a and b from the statements; d for the computed column e, ts for the watermark.
        assert!(text.contains("; reads columns a, b, d, ts"), "{text}");
    }

    #[tokio::test]
    async fn every_column_is_read_when_a_query_selects_them_all() {
        let text = explain_of("INSERT INTO out1 SELECT a FROM t; SELECT * FROM t;").await;
        assert!(!text.contains("reads columns"), "{text}");
    }

    #[tokio::test]
    async fn a_format_reading_by_position_reads_every_column() {
        let text = explain_of("INSERT INTO out1 SELECT a FROM c;").await;
        assert!(!text.contains("reads columns"), "{text}");
    }
}
