//! Weir's connectors: sources and sinks, configured with Flink's option names.
//!
//! The planner describes each `CREATE TABLE` as a [`TableDescriptor`]; [`create_source`]
//! and [`create_sink`] pick the connector named by its `connector` option, validate the
//! options (unknown ones are refused, as Flink does) and return the runtime factories.
//! Inside a [`mock::MockRun`]'s scope they check the options the same way but return
//! in-memory mocks instead (`weir test`), except for the tables the run declares. A
//! mocked table may name a connector this build lacks (a job for Kafka tested on a build
//! without it): that is a warning of the run, not an error.

pub mod blackhole;
pub mod datagen;
pub mod descriptor;
pub mod dirty;
pub mod filesystem;
pub mod jdbc;
pub mod kafka;
pub mod lookup_options;
pub mod mock;
pub mod nexmark;
pub mod options;
pub mod print;
pub mod redis;
mod shards;
mod store_sink;
#[cfg(any(test, feature = "test-support"))]
pub mod test_servers;

pub use descriptor::{ConnectorError, MetadataColumn, TableDescriptor};

use std::sync::Arc;

use weir_runtime::{LookupOptions, LookupTableFactory, OperatorFactory, SourceFactory};
use weir_types::ChangelogKind;

/// Names of the connectors this build has, for error messages and `--help`.
pub const CONNECTORS: &[&str] = &[
    "blackhole",
    "datagen",
    "filesystem",
    "jdbc",
    "kafka",
    "nexmark",
    "print",
    "redis",
    "upsert-kafka",
];

/// Connectors whose tables a lookup join can read (`JOIN t FOR SYSTEM_TIME AS OF
/// o.proc_time`).
pub const LOOKUP_CONNECTORS: &[&str] = &["jdbc", "redis"];

/// A table's source: its factory and a one-line description for `explain`.
pub struct SourceBinding {
    /// Creates the source's readers.
    pub factory: Arc<dyn SourceFactory>,
    /// E.g. `filesystem(path=data/bids.json, format=json)`.
    pub description: String,
    /// Whether the source ends by itself.
    pub bounded: bool,
    /// The most subtasks that can have work (e.g. the number of files); the source runs
    /// at no more than this, so no subtask sits idle holding watermarks back.
    pub max_useful_parallelism: Option<usize>,
    /// A parallelism the source insists on (`scan.parallelism`), used instead of
    /// `parallelism.default`.
    pub parallelism: Option<usize>,
    /// Whether the source reads plain rows or a changelog (a format such as
    /// `debezium-json`): an updating source's batches end with
    /// [`weir_types::ROW_KIND_COLUMN`].
    pub changelog: ChangelogKind,
    /// For an upsert source (`upsert-kafka`): the key columns (the PRIMARY KEY). Its
    /// batches are updating but say only "key now has row" (`+I`/`+U`) and "key is gone"
    /// (`-D` with only the key set); the planner puts a changelog normalization after it
    /// that turns them into full retractions. Empty for other sources.
    pub upsert_key: Vec<String>,
}

/// A table's sink: its factory and a one-line description for `explain`.
pub struct SinkBinding {
    /// Creates the sink subtasks (operators that emit nothing).
    pub factory: Arc<dyn OperatorFactory>,
    /// E.g. `print`.
    pub description: String,
    /// A parallelism the sink insists on (`sink.parallelism`), if any.
    pub parallelism: Option<usize>,
}

/// A table a lookup join reads: its clients, its `lookup.*` options and a description
/// for `explain`.
pub struct LookupBinding {
    /// Creates the clients (one per join subtask).
    pub factory: Arc<dyn LookupTableFactory>,
    /// Cache, retries and timeout.
    pub options: LookupOptions,
    /// E.g. `redis at 127.0.0.1:6379 (db 0), key customer:id`.
    pub description: String,
}

/// Creates the lookup side of a table joined `FOR SYSTEM_TIME AS OF` a processing-time
/// attribute. `equalities` are the table's columns that the join equates with columns
/// of its left input; the binding's [`LookupTableFactory::key_columns`] are those the
/// store is looked up by (the others are checked after the lookup). Creating it does
/// not connect.
pub fn create_lookup(
    table: &TableDescriptor,
    equalities: &[String],
) -> Result<LookupBinding, ConnectorError> {
    let connector = table.connector()?;
    if let Some(run) = mock::current() {
        if !run.reads_declared(&table.name) {
            return Err(ConnectorError::Unsupported {
                table: table.name.clone(),
                message: format!(
                    "weir test cannot mock the lookup table '{}' yet: run it against its \
                     store by declaring it in the case (connector = \"declared\")",
                    table.name
                ),
            });
        }
    }
    match connector {
        "redis" => redis::create_lookup(table, equalities),
        "jdbc" => jdbc::create_lookup(table, equalities),
        c if CONNECTORS.contains(&c) => Err(ConnectorError::Unsupported {
            table: table.name.clone(),
            message: format!(
                "connector '{connector}' cannot be looked up: a lookup join (FOR SYSTEM_TIME AS OF a processing-time attribute) reads a table of connector {}",
                LOOKUP_CONNECTORS.join(" or ")
            ),
        }),
        _ => Err(ConnectorError::unknown_connector(table, connector)),
    }
}

/// Creates the source of a table, from its `connector` option.
pub fn create_source(table: &TableDescriptor) -> Result<SourceBinding, ConnectorError> {
    match mock::current() {
        Some(run) if !run.reads_declared(&table.name) => {
            // Checks the options as the real source would, without reading any file.
            match table.connector()? {
                c if !CONNECTORS.contains(&c) => run.warn_unknown_connector(table, c),
                "filesystem" => filesystem::validate_source(table)?,
                "upsert-kafka" => {
                    if let Some(reason) = kafka::validate_upsert_source(table)? {
                        run.warn_cannot_run(table, &reason);
                    }
                }
                _ => drop(real_source(table)?),
            }
            Ok(run.source_binding(table))
        }
        _ => real_source(table),
    }
}

/// The source of a table's declared connector.
fn real_source(table: &TableDescriptor) -> Result<SourceBinding, ConnectorError> {
    let connector = table.connector()?;
    match connector {
        "datagen" => datagen::create_source(table),
        "nexmark" => nexmark::create_source(table),
        "filesystem" => filesystem::create_source(table),
        "kafka" => kafka::create_source(table, false),
        "upsert-kafka" => kafka::create_source(table, true),
        "redis" | "jdbc" => Err(ConnectorError::Unsupported {
            table: table.name.clone(),
            message: format!(
                "connector '{connector}' cannot be scanned (in this version): join it as a lookup table (`JOIN {} FOR SYSTEM_TIME AS OF o.proc_time AS d ON o.key = d.key`, with `proc_time AS PROCTIME()` a column of the left table) or write it with INSERT INTO",
                table.name
            ),
        }),
        "print" | "blackhole" => Err(ConnectorError::Unsupported {
            table: table.name.clone(),
            message: format!("connector '{connector}' is a sink only; it cannot be read from"),
        }),
        _ => Err(ConnectorError::unknown_connector(table, connector)),
    }
}

/// Creates the sink of a table for a stream of `changelog` kind. A sink that cannot take
/// updates refuses an updating stream here, before the job starts.
pub fn create_sink(
    table: &TableDescriptor,
    changelog: ChangelogKind,
) -> Result<SinkBinding, ConnectorError> {
    if let Some(run) = mock::current() {
        if let Some(declared) = run.declared_sink(table)? {
            return real_sink(&declared, changelog);
        }
        // Checks the options and the changelog as the real sink would; creates nothing.
        match table.connector()? {
            c if !CONNECTORS.contains(&c) => run.warn_unknown_connector(table, c),
            _ => drop(real_sink(table, changelog)?),
        }
        return Ok(run.sink_binding(table, changelog));
    }
    real_sink(table, changelog)
}

/// The sink of a table's declared connector (creating it writes nothing yet).
fn real_sink(
    table: &TableDescriptor,
    changelog: ChangelogKind,
) -> Result<SinkBinding, ConnectorError> {
    let connector = table.connector()?;
    match connector {
        "filesystem" => filesystem::create_sink(table, changelog),
        "print" => print::create_sink(table),
        "blackhole" => blackhole::create_sink(table),
        "redis" => redis::create_sink(table, changelog),
        "jdbc" => jdbc::create_sink(table, changelog),
        "kafka" => kafka::sink::create_sink(table, changelog, false),
        "upsert-kafka" => kafka::sink::create_sink(table, changelog, true),
        "datagen" | "nexmark" => Err(ConnectorError::Unsupported {
            table: table.name.clone(),
            message: format!("connector '{connector}' is a source only; it cannot be written to"),
        }),
        _ => Err(ConnectorError::unknown_connector(table, connector)),
    }
}
