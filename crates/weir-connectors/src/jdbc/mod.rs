//! The `jdbc` connector, for PostgreSQL: a database table used as the table of a lookup
//! join and as a sink, with the option names of Flink's JDBC connector. It speaks
//! PostgreSQL's protocol itself (tokio-postgres; no JDBC driver, no libpq).
//!
//! ```sql
//! CREATE TABLE customers (id BIGINT, name STRING, country STRING,
//!                         PRIMARY KEY (id) NOT ENFORCED)
//! WITH ('connector' = 'jdbc', 'url' = 'jdbc:postgresql://127.0.0.1:5432/shop',
//!       'table-name' = 'customers', 'username' = 'weir', 'password' = '...');
//! ```
//!
//! Options: `url` (`jdbc:postgresql://host[:port]/database`), `table-name` (used as
//! written, so `schema.table` works; columns are quoted, so their names match case),
//! `username`, `password`, `driver` (optional, `org.postgresql.Driver`);
//! `sink.buffer-flush.max-rows` (default 100), `sink.buffer-flush.interval` (default
//! 1 s), `sink.max-retries` (default 3), `sink.parallelism`; Flink's `lookup.*`
//! options ([`crate::lookup_options`]). Types: [`types`].
//!
//! A lookup is by the columns the join equates, whatever they are: a key that is not
//! unique gives several rows. The sink upserts by the PRIMARY KEY when the table has one
//! (`-U` rows skipped, `-D` rows deleted), else appends and refuses updating input. See
//! [`client`] for the statements and [`crate::store_sink`] for flushing and delivery.
//! Scanning a jdbc table is not supported.

mod client;
#[cfg(test)]
mod tests;
pub mod types;

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{Schema, SchemaRef};
use tokio_postgres::Config;
use weir_runtime::{LookupTable, LookupTableFactory};
use weir_types::{ChangelogKind, EngineResult};

use crate::descriptor::{ConnectorError, TableDescriptor};
use crate::lookup_options::read_lookup_options;
use crate::options::Options;
use crate::store_sink::{self, FlushPolicy, StoreWriter};
use crate::{LookupBinding, SinkBinding};
use client::{PgClient, PgLookup, PgTable, PgWriter};

/// A jdbc table's options, read and checked.
struct JdbcTable {
    config: Config,
    address: String,
    table: Arc<PgTable>,
    flush: FlushPolicy,
    lookup: weir_runtime::LookupOptions,
    parallelism: Option<usize>,
}

fn hint(address: &str) -> String {
    format!(
        "check that PostgreSQL runs and accepts connections at {address}, and the table's \
         'url', 'username' and 'password' options"
    )
}

/// `jdbc:postgresql://host[:port]/database[?...]` as host, port and database.
fn parse_url(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("jdbc:postgresql://")?;
    let rest = rest.split('?').next()?;
    let (authority, database) = rest.split_once('/')?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => (authority, 5432),
    };
    if host.is_empty() || database.is_empty() {
        return None;
    }
    Some((host.to_string(), port, database.to_string()))
}

impl JdbcTable {
    fn read(table: &TableDescriptor) -> Result<JdbcTable, ConnectorError> {
        let mut options = Options::new(table, "jdbc");
        let unsupported = |message: String| ConnectorError::Unsupported {
            table: table.name.clone(),
            message,
        };
        let url = options.required("url", "add 'url' = 'jdbc:postgresql://host:5432/database'")?;
        let (host, port, database) = parse_url(url).ok_or_else(|| {
            options.invalid(
                "url",
                url,
                "expected jdbc:postgresql://host[:port]/database (this version connects to \
                 PostgreSQL only)",
            )
        })?;
        let name = options
            .required(
                "table-name",
                "add 'table-name' = '<the table in the database>'",
            )?
            .to_string();
        let mut config = Config::new();
        config
            .host(&host)
            .port(port)
            .dbname(&database)
            .application_name("weir")
            .connect_timeout(Duration::from_secs(10));
        if let Some(user) = options.get("username") {
            config.user(user);
        }
        if let Some(password) = options.get("password") {
            config.password(password);
        }
        if let Some(driver) = options.get("driver") {
            if driver != "org.postgresql.Driver" {
                return Err(options.invalid(
                    "driver",
                    driver,
                    "this version connects to PostgreSQL only: 'org.postgresql.Driver', or leave it out",
                ));
            }
        }
        let address = format!("{host}:{port}/{database}");
        let flush = FlushPolicy::read(
            &mut options,
            (100, Duration::from_secs(1), 3),
            format!("PostgreSQL at {address} (table {name})"),
            hint(&address),
        )?;
        let lookup = read_lookup_options(&mut options)?;
        let parallelism = crate::filesystem::sink_parallelism(&mut options)?;
        options.finish()?;
        if let Some(m) = table.metadata.first() {
            return Err(unsupported(format!(
                "connector 'jdbc' has no metadata; remove metadata column '{}'",
                m.column
            )));
        }
        let mut pg_types = Vec::new();
        for field in table.schema.fields() {
            let pg = types::postgres_type(field.data_type())
                .filter(|_| types::fits(field.data_type()))
                .ok_or_else(|| {
                    unsupported(format!(
                        "column '{}' has type {}, which the jdbc connector cannot carry",
                        field.name(),
                        field.data_type()
                    ))
                })?;
            pg_types.push(pg);
        }
        let primary_key = table
            .primary_key
            .iter()
            .map(|k| {
                table.schema.index_of(k).map_err(|_| {
                    unsupported(format!(
                        "PRIMARY KEY column '{k}' is not a column of the table"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let schema: SchemaRef = Arc::new(Schema::new(
            table
                .schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        ));
        Ok(JdbcTable {
            config,
            address,
            table: Arc::new(PgTable {
                name,
                schema,
                pg_types,
                primary_key,
            }),
            flush,
            lookup,
            parallelism,
        })
    }
}

/// Creates a jdbc sink for `table`: upserts by PRIMARY KEY, or appends when the table
/// has none (then refusing an updating stream).
pub fn create_sink(
    table: &TableDescriptor,
    changelog: ChangelogKind,
) -> Result<SinkBinding, ConnectorError> {
    let jdbc = JdbcTable::read(table)?;
    let upsert = !jdbc.table.primary_key.is_empty();
    if !upsert && changelog == ChangelogKind::Updating {
        return Err(ConnectorError::Unsupported {
            table: table.name.clone(),
            message: "the table has no PRIMARY KEY, so the jdbc sink appends rows and cannot \
                      take updates or deletes; declare PRIMARY KEY (...) NOT ENFORCED (a \
                      unique key of the database table) to write upserts"
                .into(),
        });
    }
    let description = format!(
        "jdbc {} sink into {} at PostgreSQL {}; flush every {} rows{}, on checkpoints and at \
         end; at-least-once{}",
        if upsert { "upsert" } else { "append" },
        jdbc.table.name,
        jdbc.address,
        jdbc.flush.max_rows,
        jdbc.flush
            .interval
            .map(|d| format!(" or {d:?}"))
            .unwrap_or_default(),
        if upsert { " (idempotent upserts)" } else { "" }
    );
    let (config, pg_table) = (jdbc.config.clone(), jdbc.table.clone());
    let make = Arc::new(move || -> EngineResult<Arc<dyn StoreWriter>> {
        Ok(Arc::new(PgWriter {
            client: PgClient::new(config.clone()),
            table: pg_table.clone(),
        }))
    });
    Ok(SinkBinding {
        factory: store_sink::factory(jdbc.flush, make),
        description,
        parallelism: jdbc.parallelism,
    })
}

/// Creates the lookup side of `table`, looked up by every column of `equalities`.
pub fn create_lookup(
    table: &TableDescriptor,
    equalities: &[String],
) -> Result<LookupBinding, ConnectorError> {
    let jdbc = JdbcTable::read(table)?;
    let mut keys: Vec<String> = Vec::new();
    for column in equalities {
        if !keys.contains(column) {
            keys.push(column.clone());
        }
    }
    let key_indices = keys
        .iter()
        .map(|k| {
            table
                .schema
                .index_of(k)
                .map_err(|_| ConnectorError::Unsupported {
                    table: table.name.clone(),
                    message: format!("'{k}' is not a column of the table"),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let description = format!(
        "jdbc table {} at PostgreSQL {}",
        jdbc.table.name, jdbc.address
    );
    let options = jdbc.lookup.clone();
    Ok(LookupBinding {
        factory: Arc::new(JdbcLookupFactory {
            table: table.name.clone(),
            keys,
            key_indices,
            jdbc,
        }),
        options,
        description,
    })
}

struct JdbcLookupFactory {
    table: String,
    keys: Vec<String>,
    key_indices: Vec<usize>,
    jdbc: JdbcTable,
}

impl LookupTableFactory for JdbcLookupFactory {
    fn schema(&self) -> SchemaRef {
        self.jdbc.table.schema.clone()
    }

    fn key_columns(&self) -> &[String] {
        &self.keys
    }

    fn describe(&self) -> String {
        format!(
            "jdbc table '{}' ({}) at PostgreSQL {}",
            self.table, self.jdbc.table.name, self.jdbc.address
        )
    }

    fn unreachable_hint(&self) -> String {
        hint(&self.jdbc.address)
    }

    fn create(&self) -> EngineResult<Arc<dyn LookupTable>> {
        Ok(Arc::new(PgLookup {
            client: PgClient::new(self.jdbc.config.clone()),
            table: self.jdbc.table.clone(),
            keys: self.key_indices.clone(),
        }))
    }
}
