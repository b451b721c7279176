//! Tests of the `canal-json` and `maxwell-json` decoders, with expected rows written by
//! hand from Flink's semantics.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Decimal128Type, Int64Type};

use crate::{format_options, FormatConfig};

use super::*;

/// `id BIGINT, name STRING, weight DECIMAL(10, 2)`.
fn products() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("weight", DataType::Decimal128(10, 2), true),
    ]))
}

fn config(format: &str, pairs: &[(&str, &str)]) -> FormatConfig {
    let options: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    format_options(format, &options).unwrap()
}

/// Rows as `+I[1, a, 5.15]`.
fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let ids = b.column(0).as_primitive::<Int64Type>();
        let names = b.column(1).as_string::<i32>();
        let weights = b.column(2).as_primitive::<Decimal128Type>();
        let kinds = b.column(3).as_primitive::<arrow::datatypes::Int8Type>();
        for r in 0..b.num_rows() {
            let kind = match RowKind::from_i8(kinds.value(r)) {
                Some(RowKind::Insert) => "+I",
                Some(RowKind::UpdateBefore) => "-U",
                Some(RowKind::UpdateAfter) => "+U",
                _ => "-D",
            };
            let cell = |valid: bool, text: String| if valid { text } else { "null".into() };
            out.push(format!(
                "{kind}[{}, {}, {}]",
                cell(ids.is_valid(r), ids.value(r).to_string()),
                cell(names.is_valid(r), names.value(r).to_string()),
                cell(weights.is_valid(r), weights.value_as_string(r)),
            ));
        }
    }
    out
}

const CANAL: &str = r#"{"data":[{"id":"111","name":"scooter","weight":"5.18"},{"id":"112","name":"car","weight":"9.5"}],"database":"inventory","es":1589373515000,"id":3,"isDdl":false,"mysqlType":{"id":"int(11)"},"old":null,"pkNames":["id"],"sql":"","table":"products","ts":1589373515477,"type":"INSERT"}
{"data":[{"id":"111","name":"scooter","weight":"5.15"},{"id":"112","name":"auto","weight":"9.5"}],"database":"inventory","isDdl":false,"old":[{"weight":"5.18"},{"name":"car","weight":null}],"table":"products","type":"UPDATE"}
{"data":null,"database":"inventory","isDdl":true,"sql":"ALTER TABLE products ADD c INT","table":"products","type":"ALTER"}
{"data":null,"database":"inventory","isDdl":false,"table":"products","type":"CREATE"}
{"data":[{"id":"111","name":"scooter","weight":"5.15"}],"database":"inventory","isDdl":false,"old":null,"table":"products","type":"DELETE"}
{"data":[{"id":"1","name":"x","weight":"1"}],"database":"other","isDdl":false,"table":"products","type":"INSERT"}
{"data":[{"id":"abc"}],"database":"inventory","isDdl":false,"table":"orders","type":"INSERT"}"#;

#[test]
fn canal_inserts_updates_deletes_with_old_completed_from_data() {
    let c = config(
        "canal-json",
        &[
            ("canal-json.database.include", "inv.*"),
            ("canal-json.table.include", "products|customers"),
        ],
    );
    assert!(c.produces_changelog());
    let mut d = c.decoder(products()).unwrap();
    let decoded = d.decode(CANAL.as_bytes(), 1).unwrap();
    assert_eq!(
        rows(&decoded.batches),
        [
            "+I[111, scooter, 5.18]",
            "+I[112, car, 9.50]",
            "-U[111, scooter, 5.18]",
            "+U[111, scooter, 5.15]",
            // "weight": null in "old" means it changed from NULL.
            "-U[112, car, null]",
            "+U[112, auto, 9.50]",
            "-D[111, scooter, 5.15]",
        ]
    );
    // Without the include options the other database's row is read, and the other
    // table's row ("id":"abc" for a BIGINT) fails.
    let mut all = config("canal-json", &[]).decoder(products()).unwrap();
    all.set_origin("canal.json");
    let err = all.decode(CANAL.as_bytes(), 1).unwrap_err().to_string();
    assert!(
        err.starts_with("canal.json:7: cannot parse Canal JSON record: "),
        "{err}"
    );
    assert!(
        err.ends_with("set 'canal-json.ignore-parse-errors' = 'true' to skip malformed records")
    );
    let first_six: Vec<&str> = CANAL.lines().take(6).collect();
    let decoded = all.decode(first_six.join("\n").as_bytes(), 1).unwrap();
    assert_eq!(rows(&decoded.batches).last().unwrap(), "+I[1, x, 1.00]");
}

#[test]
fn canal_malformed_messages() {
    let mut d = config("canal-json", &[]).decoder(products()).unwrap();
    let cases = [
        (
            r#"{"type":"TRUNCATE","data":null}"#,
            "unknown \"type\" value \"TRUNCATE\"",
        ),
        (
            r#"{"type":"INSERT","data":null}"#,
            "the message has no \"data\"",
        ),
        (
            r#"{"type":"UPDATE","data":[{"id":1}],"old":[]}"#,
            "\"old\" has 0 rows and \"data\" 1",
        ),
        (r#"{"data":[{"id":1}]}"#, "the message has no \"type\""),
        ("[1]", "not a change message"),
        ("{\"type\":", "not JSON"),
    ];
    for (line, reason) in cases {
        let err = d.decode(line.as_bytes(), 1).unwrap_err().to_string();
        assert!(err.contains(reason), "{line}: {err}");
    }
    let lenient = config("canal-json", &[("canal-json.ignore-parse-errors", "true")]);
    let mut d = lenient.decoder(products()).unwrap();
    let text = "{\"type\":\"TRUNCATE\"}\n{\"type\":\"INSERT\",\"data\":[{\"id\":5}]}\n";
    let decoded = d.decode(text.as_bytes(), 1).unwrap();
    assert_eq!(decoded.skipped, 1);
    assert_eq!(rows(&decoded.batches), ["+I[5, null, null]"]);
    let err = format_options(
        "canal-json",
        &[("canal-json.table.include".to_string(), "(".to_string())].into(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("invalid value '(' for option 'canal-json.table.include'"),
        "{err}"
    );
}

const MAXWELL: &str = r#"{"database":"test","table":"products","type":"insert","ts":1477053217,"xid":23396,"commit":true,"data":{"id":111,"name":"scooter","weight":5.18}}
{"database":"test","table":"products","type":"update","ts":1477053218,"data":{"id":111,"name":"scooter","weight":5.15},"old":{"weight":5.18}}
{"database":"test","table":"products","type":"delete","data":{"id":111,"name":"scooter","weight":5.15}}"#;

#[test]
fn maxwell_inserts_updates_deletes() {
    let c = config(
        "maxwell-json",
        &[("maxwell-json.timestamp-format.standard", "ISO-8601")],
    );
    assert!(c.produces_changelog());
    let mut d = c.decoder(products()).unwrap();
    let decoded = d.decode(MAXWELL.as_bytes(), 1).unwrap();
    assert_eq!(
        rows(&decoded.batches),
        [
            "+I[111, scooter, 5.18]",
            "-U[111, scooter, 5.18]",
            "+U[111, scooter, 5.15]",
            "-D[111, scooter, 5.15]",
        ]
    );
    d.set_origin("maxwell.json");
    let err = d
        .decode(br#"{"type":"bootstrap-insert","data":{"id":1}}"#, 9)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("maxwell.json:9: cannot parse Maxwell JSON record: unknown \"type\" value \"bootstrap-insert\""),
        "{err}"
    );
    let err = d
        .decode(br#"{"type":"update","data":{"id":1}}"#, 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("the message has no \"old\" object"), "{err}");
    assert!(c.encoder(&products()).is_err());
    assert!(format_options(
        "maxwell-json",
        &[("maxwell-json.database.include".to_string(), "x".to_string())].into()
    )
    .is_err());
}

#[test]
fn messages_give_their_rows_with_their_indices() {
    let mut d = config("canal-json", &[])
        .message_decoder(products())
        .unwrap();
    let lines: Vec<&str> = CANAL.lines().collect();
    let messages: Vec<&[u8]> = vec![
        lines[1].as_bytes(), // an update of two rows: four rows
        lines[2].as_bytes(), // DDL: none
        b"{oops",
        lines[4].as_bytes(), // a delete: one row
    ];
    let out = d.decode_messages(&messages).unwrap();
    assert_eq!(out.row_messages, vec![0, 0, 0, 0, 3]);
    assert_eq!(rows(&out.batches).len(), 5);
    let bad: Vec<usize> = out.bad.iter().map(|b| b.index).collect();
    assert_eq!(bad, vec![2]);
    let mut m = config("maxwell-json", &[])
        .message_decoder(products())
        .unwrap();
    let lines: Vec<&[u8]> = MAXWELL.lines().map(str::as_bytes).collect();
    let out = m.decode_messages(&lines).unwrap();
    assert_eq!(out.row_messages, vec![0, 1, 1, 2]);
}
