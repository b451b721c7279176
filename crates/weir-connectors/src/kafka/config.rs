//! Options shared by the `kafka` and `upsert-kafka` connectors: the topics, the client's
//! `properties.*`, and the key and value formats with the columns each one carries
//! (Flink's `key.format`, `key.fields`, `key.fields-prefix`, `value.format`,
//! `value.fields-include`).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use rdkafka::ClientConfig;
use weir_formats::FormatConfig;

use crate::descriptor::{ConnectorError, TableDescriptor};
use crate::filesystem::format_error;
use crate::options::Options;

/// The topics a table reads or writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Topics {
    /// `topic`: one name, or several separated by `;` (a sink writes only one).
    Names(Vec<String>),
    /// `topic-pattern`: a regular expression matched against whole topic names.
    Pattern(String),
}

/// Which physical columns the message value carries (`value.fields-include`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueFieldsInclude {
    /// `ALL` (Flink's default for `kafka`): every physical column, key columns too.
    All,
    /// `EXCEPT_KEY` (the default for `upsert-kafka`): the key columns only in the key.
    ExceptKey,
}

/// The message key's format and columns.
#[derive(Debug, Clone)]
pub(crate) struct KeyFormat {
    /// `key.format` with its `key.<format>.*` options.
    pub format: FormatConfig,
    /// The table columns the key carries, in key order (`key.fields`, or the PRIMARY KEY
    /// of an `upsert-kafka` table).
    pub columns: Vec<String>,
    /// `key.fields-prefix`: stripped from the column names to get the key's field names.
    pub prefix: String,
}

/// A Kafka table's options, as both connectors read them.
#[derive(Debug, Clone)]
pub(crate) struct KafkaConfig {
    /// The topics.
    pub topics: Topics,
    /// The `properties.*` options, without the prefix, passed to librdkafka.
    pub properties: BTreeMap<String, String>,
    /// The key format, if messages have keyed columns.
    pub key: Option<KeyFormat>,
    /// `value.format` (or `format`) with its options.
    pub value: FormatConfig,
    /// The physical columns (the table's columns without metadata columns).
    pub physical: SchemaRef,
    /// The physical columns the value carries.
    pub value_columns: Vec<String>,
}

impl KafkaConfig {
    /// Reads the shared options; `upsert` for `upsert-kafka` (key = PRIMARY KEY,
    /// `EXCEPT_KEY` by default, `key.format` required).
    pub(crate) fn read(
        options: &mut Options<'_>,
        upsert: bool,
    ) -> Result<KafkaConfig, ConnectorError> {
        let table = options.table().clone();
        let topics = read_topics(options)?;
        options.allow_prefix("properties.");
        let properties: BTreeMap<String, String> = table
            .options
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("properties.")
                    .map(|k| (k.to_string(), v.clone()))
            })
            .collect();
        if !properties.contains_key("bootstrap.servers") {
            return Err(ConnectorError::MissingOption {
                table: table.name.clone(),
                option: "properties.bootstrap.servers".into(),
                hint:
                    "add 'properties.bootstrap.servers' = 'host:9092' (the brokers to connect to)"
                        .into(),
            });
        }
        let physical = Arc::new(Schema::new(
            table
                .schema
                .fields()
                .iter()
                .filter(|f| !table.is_metadata(f.name()))
                .map(|f| f.as_ref().clone())
                .collect::<Vec<Field>>(),
        ));
        let value = read_value_format(options, &table)?;
        let key = read_key_format(options, &table, &physical, upsert)?;
        let include = match options.get("value.fields-include") {
            None if upsert => ValueFieldsInclude::ExceptKey,
            None => ValueFieldsInclude::All,
            Some(v) => match v.trim().to_ascii_uppercase().as_str() {
                "ALL" => ValueFieldsInclude::All,
                "EXCEPT_KEY" => ValueFieldsInclude::ExceptKey,
                _ => {
                    return Err(options.invalid(
                        "value.fields-include",
                        v,
                        "expected 'ALL' or 'EXCEPT_KEY'",
                    ))
                }
            },
        };
        if let Some(k) = &key {
            if !k.prefix.is_empty() && include == ValueFieldsInclude::All {
                return Err(options.invalid(
                    "value.fields-include",
                    "ALL",
                    "'key.fields-prefix' needs 'value.fields-include' = 'EXCEPT_KEY' (as in Flink)",
                ));
            }
        }
        let key_columns: &[String] = key.as_ref().map(|k| k.columns.as_slice()).unwrap_or(&[]);
        let value_columns = physical
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|c| include == ValueFieldsInclude::All || !key_columns.contains(c))
            .collect();
        Ok(KafkaConfig {
            topics,
            properties,
            key,
            value,
            physical,
            value_columns,
        })
    }

    /// A librdkafka configuration with the table's `properties.*` (the caller adds its
    /// own settings, such as `enable.auto.commit`, after these).
    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        config
    }

    /// `properties.bootstrap.servers`.
    pub(crate) fn bootstrap_servers(&self) -> &str {
        self.properties
            .get("bootstrap.servers")
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The schema of the decoded (or encoded) message value: the value columns.
    pub(crate) fn value_schema(&self) -> SchemaRef {
        project(&self.physical, &self.value_columns, "")
    }

    /// The schema of the message key, field names without `key.fields-prefix`.
    pub(crate) fn key_schema(&self) -> Option<SchemaRef> {
        self.key
            .as_ref()
            .map(|k| project(&self.physical, &k.columns, &k.prefix))
    }
}

/// The columns `names` of `schema`, with `prefix` stripped from their names.
fn project(schema: &Schema, names: &[String], prefix: &str) -> SchemaRef {
    Arc::new(Schema::new(
        names
            .iter()
            .filter_map(|n| schema.field_with_name(n).ok())
            .map(|f| {
                let name = f.name().strip_prefix(prefix).unwrap_or(f.name());
                f.as_ref().clone().with_name(name)
            })
            .collect::<Vec<Field>>(),
    ))
}

/// `topic` or `topic-pattern` (exactly one).
fn read_topics(options: &mut Options<'_>) -> Result<Topics, ConnectorError> {
    let topic = options.get("topic");
    let pattern = options.get("topic-pattern");
    match (topic, pattern) {
        (Some(_), Some(_)) => Err(options.invalid(
            "topic-pattern",
            pattern.unwrap_or_default(),
            "set either 'topic' or 'topic-pattern', not both",
        )),
        (Some(t), None) => {
            let names: Vec<String> = t
                .split(';')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect();
            if names.is_empty() {
                return Err(options.invalid(
                    "topic",
                    t,
                    "expected a topic name (or names separated by ';')",
                ));
            }
            Ok(Topics::Names(names))
        }
        (None, Some(p)) => Ok(Topics::Pattern(p.to_string())),
        (None, None) => Err(ConnectorError::MissingOption {
            table: options.table().name.clone(),
            option: "topic".into(),
            hint: "add 'topic' = 'orders' (or 'topic-pattern' = 'orders-.*' for a source)".into(),
        }),
    }
}

/// `value.format` or `format`, with `value.<format>.*` or `<format>.*` options.
fn read_value_format(
    options: &mut Options<'_>,
    table: &TableDescriptor,
) -> Result<FormatConfig, ConnectorError> {
    let (format, prefix) = match (options.get("value.format"), options.get("format")) {
        (Some(_), Some(_)) => {
            return Err(options.invalid(
                "format",
                options
                    .table()
                    .options
                    .get("format")
                    .map(String::as_str)
                    .unwrap_or_default(),
                "set either 'format' or 'value.format', not both",
            ))
        }
        (Some(f), None) => (f, format!("value.{f}.")),
        (None, Some(f)) => (f, format!("{f}.")),
        (None, None) => {
            return Err(ConnectorError::MissingOption {
                table: table.name.clone(),
                option: "value.format".into(),
                hint: "add 'value.format' = 'json' (or 'format' = 'json')".into(),
            })
        }
    };
    format_with_prefix(options, table, format, &prefix)
}

/// `key.format`, `key.fields`, `key.fields-prefix`; for `upsert-kafka` the key columns
/// are the PRIMARY KEY.
fn read_key_format(
    options: &mut Options<'_>,
    table: &TableDescriptor,
    physical: &Schema,
    upsert: bool,
) -> Result<Option<KeyFormat>, ConnectorError> {
    let format = options.get("key.format");
    let fields = options.get("key.fields");
    let prefix = options
        .get("key.fields-prefix")
        .unwrap_or_default()
        .to_string();
    let Some(format) = format else {
        if upsert {
            return Err(ConnectorError::MissingOption {
                table: table.name.clone(),
                option: "key.format".into(),
                hint: "an upsert-kafka table writes its PRIMARY KEY as the message key: add \
                       'key.format' = 'json'"
                    .into(),
            });
        }
        if let Some(f) = fields {
            return Err(options.invalid("key.fields", f, "'key.fields' needs 'key.format'"));
        }
        return Ok(None);
    };
    let columns: Vec<String> = if upsert {
        if let Some(f) = fields {
            return Err(options.invalid(
                "key.fields",
                f,
                "an upsert-kafka table's key is its PRIMARY KEY; remove 'key.fields'",
            ));
        }
        if table.primary_key.is_empty() {
            return Err(ConnectorError::Unsupported {
                table: table.name.clone(),
                message: "an upsert-kafka table needs a PRIMARY KEY (the message key): add \
                          PRIMARY KEY (col) NOT ENFORCED"
                    .into(),
            });
        }
        table.primary_key.clone()
    } else {
        let Some(f) = fields else {
            return Err(ConnectorError::MissingOption {
                table: table.name.clone(),
                option: "key.fields".into(),
                hint:
                    "name the columns the message key carries, e.g. 'key.fields' = 'user_id;region'"
                        .into(),
            });
        };
        f.split(';')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    };
    for column in &columns {
        if physical.field_with_name(column).is_err() {
            return Err(options.invalid(
                "key.fields",
                column,
                "not a physical column of the table (metadata and computed columns cannot be key fields)",
            ));
        }
        if !column.starts_with(&prefix) {
            return Err(options.invalid(
                "key.fields-prefix",
                &prefix,
                &format!("key column '{column}' does not start with the prefix"),
            ));
        }
    }
    let format = format_with_prefix(options, table, format, &format!("key.{format}."))?;
    Ok(Some(KeyFormat {
        format,
        columns,
        prefix,
    }))
}

/// Reads format `format`'s options from the keys starting with `prefix` (e.g.
/// `value.json.`), seen by the format as `<format>.*`.
fn format_with_prefix(
    options: &mut Options<'_>,
    table: &TableDescriptor,
    format: &str,
    prefix: &str,
) -> Result<FormatConfig, ConnectorError> {
    options.allow_prefix(prefix);
    let own: BTreeMap<String, String> = table
        .options
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(prefix)
                .map(|rest| (format!("{format}.{rest}"), v.clone()))
        })
        .collect();
    weir_formats::format_options(format, &own).map_err(|e| format_error(table, e))
}
