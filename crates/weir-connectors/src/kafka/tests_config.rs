//! Tests of the shared Kafka options.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};

use super::config::{KafkaConfig, Topics};
use crate::descriptor::{MetadataColumn, TableDescriptor};
use crate::options::Options;

fn table(options: &[(&str, &str)], primary_key: &[&str]) -> TableDescriptor {
    TableDescriptor {
        name: "orders".into(),
        schema: Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Int64, true),
            Field::new("amount", DataType::Float64, true),
            Field::new("part", DataType::Int32, true),
        ])),
        metadata: vec![MetadataColumn {
            column: "part".into(),
            key: "partition".into(),
            is_virtual: true,
        }],
        primary_key: primary_key.iter().map(|s| s.to_string()).collect(),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        base_dir: ".".into(),
    }
}

fn read(t: &TableDescriptor, upsert: bool) -> Result<KafkaConfig, String> {
    let mut options = Options::new(t, "kafka");
    let config = KafkaConfig::read(&mut options, upsert).map_err(|e| e.to_string())?;
    options.finish().map_err(|e| e.to_string())?;
    Ok(config)
}

const BASE: [(&str, &str); 3] = [
    ("connector", "kafka"),
    ("properties.bootstrap.servers", "127.0.0.1:9092"),
    ("topic", "a; b"),
];

#[test]
fn topics_properties_and_value_columns() {
    let mut o = BASE.to_vec();
    o.push(("format", "json"));
    o.push(("json.ignore-parse-errors", "true"));
    o.push(("properties.group.id", "g1"));
    let c = read(&table(&o, &[]), false).unwrap();
    assert_eq!(c.topics, Topics::Names(vec!["a".into(), "b".into()]));
    assert_eq!(c.properties["group.id"], "g1");
    assert_eq!(c.bootstrap_servers(), "127.0.0.1:9092");
    assert!(c.value.ignores_parse_errors());
    assert_eq!(c.value_columns, vec!["user_id", "amount"]);
    assert!(c.key.is_none());
}

#[test]
fn key_fields_with_prefix_and_except_key() {
    let mut o = BASE.to_vec();
    o.extend([
        ("value.format", "json"),
        ("key.format", "csv"),
        ("key.fields", "user_id"),
        ("key.fields-prefix", "user_"),
        ("value.fields-include", "EXCEPT_KEY"),
        ("key.csv.field-delimiter", "|"),
    ]);
    let c = read(&table(&o, &[]), false).unwrap();
    assert_eq!(c.value_columns, vec!["amount"]);
    let key = c.key_schema().unwrap();
    assert_eq!(key.field(0).name(), "id");
    // With ALL, a prefix is refused, as in Flink.
    let o2: Vec<_> = o
        .iter()
        .copied()
        .filter(|(k, _)| *k != "value.fields-include")
        .collect();
    let err = read(&table(&o2, &[]), false).unwrap_err();
    assert!(err.contains("EXCEPT_KEY"), "{err}");
}

#[test]
fn upsert_key_is_the_primary_key() {
    let mut o = BASE.to_vec();
    o.extend([("value.format", "json"), ("key.format", "json")]);
    let c = read(&table(&o, &["user_id"]), true).unwrap();
    assert_eq!(c.key.unwrap().columns, vec!["user_id"]);
    assert_eq!(c.value_columns, vec!["amount"]);
    let err = read(&table(&o, &[]), true).unwrap_err();
    assert!(err.contains("PRIMARY KEY"), "{err}");
}

#[test]
fn clear_errors_for_missing_and_conflicting_options() {
    let t = table(
        &[("connector", "kafka"), ("topic", "a"), ("format", "json")],
        &[],
    );
    assert!(read(&t, false)
        .unwrap_err()
        .contains("properties.bootstrap.servers"));
    let mut o = BASE.to_vec();
    o.push(("topic-pattern", "a.*"));
    o.push(("format", "json"));
    assert!(read(&table(&o, &[]), false)
        .unwrap_err()
        .contains("not both"));
    let mut o = BASE.to_vec();
    o.push(("format", "json"));
    o.push(("key.fields", "user_id"));
    assert!(read(&table(&o, &[]), false)
        .unwrap_err()
        .contains("key.format"));
    let mut o = BASE.to_vec();
    o.push(("format", "json"));
    o.push(("key.format", "json"));
    o.push(("key.fields", "part"));
    assert!(read(&table(&o, &[]), false)
        .unwrap_err()
        .contains("physical column"));
    let mut o = BASE.to_vec();
    o.push(("format", "json"));
    o.push(("json.bogus", "1"));
    assert!(read(&table(&o, &[]), false).unwrap_err().contains("bogus"));
}
