//! Test helpers: a `SessionContext` with the Flink functions and a small table `t`, and
//! runners that render query results as `a|b|c` lines (NULL shown as `NULL`).
//!
//! Table `t` (ordered by `id`):
//!
//! | id | ts                      | ltz (UTC)           | s                     | p       | n          |
//! |----|-------------------------|---------------------|-----------------------|---------|------------|
//! | 1  | 2024-01-02 03:04:05.678 | 2024-01-01 23:30:00 | '2024-01-02 03:04:05' | 'yyyy'  | 1704164645 |
//! | 2  | NULL                    | NULL                | NULL                  | 'HH:mm' | NULL       |
//! | 3  | 1999-12-31 23:59:59     | 1970-01-01 00:00:00 | 'bad'                 | NULL    | 0          |

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::register_flink_functions;

/// Result type of async tests.
pub(crate) type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// A context with the Flink functions, the session zone `zone` and the table `t`.
pub(crate) fn context(zone: Option<&str>) -> Result<SessionContext> {
    let mut config = SessionConfig::new().with_target_partitions(1);
    config.options_mut().execution.time_zone = zone.map(str::to_owned);
    let ctx = SessionContext::new_with_config(config);
    register_flink_functions(&ctx)?;
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3]))),
        (
            "ts",
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(1_704_164_645_678),
                None,
                Some(946_684_799_000),
            ])),
        ),
        (
            "ltz",
            Arc::new(
                TimestampMillisecondArray::from(vec![Some(1_704_151_800_000), None, Some(0)])
                    .with_timezone("UTC"),
            ),
        ),
        (
            "s",
            Arc::new(StringArray::from(vec![
                Some("2024-01-02 03:04:05"),
                None,
                Some("bad"),
            ])),
        ),
        (
            "p",
            Arc::new(StringArray::from(vec![Some("yyyy"), Some("HH:mm"), None])),
        ),
        (
            "n",
            Arc::new(Int64Array::from(vec![Some(1_704_164_645), None, Some(0)])),
        ),
    ];
    let batch = RecordBatch::try_from_iter(columns)?;
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
    ctx.register_table("t", Arc::new(table))?;
    Ok(ctx)
}

/// Runs `sql` in a UTC session.
pub(crate) async fn run(sql: &str) -> Result<Vec<String>> {
    run_with(&context(None)?, sql).await
}

/// Runs `sql` in a session whose time zone is `zone`.
pub(crate) async fn run_in_zone(sql: &str, zone: &str) -> Result<Vec<String>> {
    run_with(&context(Some(zone))?, sql).await
}

/// Runs `sql` on `ctx`, one `a|b|c` line per row.
pub(crate) async fn run_with(ctx: &SessionContext, sql: &str) -> Result<Vec<String>> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let options = FormatOptions::default().with_null("NULL");
    let mut lines = Vec::new();
    for batch in &batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect();
            lines.push(cells.join("|"));
        }
    }
    Ok(lines)
}
