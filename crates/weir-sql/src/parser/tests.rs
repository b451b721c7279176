//! Parser tests: every statement form, Flink types, and errors with positions.

use arrow::datatypes::{DataType, TimeUnit};

use super::parse_script;
use crate::statement::{ColumnKind, Statement};

#[test]
fn create_table_with_every_column_kind() {
    let sql = "CREATE TABLE orders (\n  id BIGINT NOT NULL,\n  price DECIMAL(10, 2),\n  tags ARRAY<STRING>,\n  attrs MAP<STRING, INT>,\n  address ROW<city STRING, zip INT>,\n  ts TIMESTAMP(3),\n  lts TIMESTAMP_LTZ(3),\n  total AS price * 2,\n  file_name STRING METADATA FROM 'file.name' VIRTUAL,\n  nested ARRAY<ARRAY<INT>>,\n  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND,\n  PRIMARY KEY (id) NOT ENFORCED\n) WITH ('connector' = 'filesystem', 'path' = 'x.json');";
    let statements = parse_script(sql, "UTC").unwrap();
    let Statement::CreateTable(t) = &statements[0].node else {
        panic!("expected CREATE TABLE");
    };
    assert_eq!(t.name, "orders");
    assert_eq!(t.columns.len(), 10);
    assert_eq!(t.columns[0].data_type, Some(DataType::Int64));
    assert!(!t.columns[0].nullable);
    assert_eq!(t.columns[1].data_type, Some(DataType::Decimal128(10, 2)));
    assert!(matches!(t.columns[2].data_type, Some(DataType::List(_))));
    assert!(matches!(t.columns[3].data_type, Some(DataType::Map(_, _))));
    assert!(matches!(t.columns[4].data_type, Some(DataType::Struct(_))));
    assert_eq!(
        t.columns[5].data_type,
        Some(DataType::Timestamp(TimeUnit::Millisecond, None))
    );
    assert_eq!(
        t.columns[6].data_type,
        Some(DataType::Timestamp(
            TimeUnit::Millisecond,
            Some("UTC".into())
        ))
    );
    assert!(matches!(t.columns[7].kind, ColumnKind::Computed(_)));
    assert!(
        matches!(&t.columns[8].kind, ColumnKind::Metadata { key: Some(k), is_virtual: true } if k == "file.name")
    );
    assert!(
        matches!(&t.columns[9].data_type, Some(DataType::List(inner)) if matches!(inner.data_type(), DataType::List(_)))
    );
    assert_eq!(t.watermark.as_ref().unwrap().column, "ts");
    assert_eq!(t.primary_key, vec!["id"]);
    assert_eq!(
        t.options[0],
        ("connector".to_string(), "filesystem".to_string())
    );
    assert_eq!(statements[0].position.line, 1);
    assert_eq!(t.columns[1].position.line, 3);
}

#[test]
fn set_view_insert_statement_set_and_select() {
    let sql = "SET 'parallelism.default' = '4';\nSET table.local-time-zone = 'Asia/Shanghai';\nCREATE TEMPORARY VIEW v AS SELECT 1 AS a;\nINSERT INTO out SELECT * FROM v;\nEXECUTE STATEMENT SET BEGIN\nINSERT INTO a SELECT 1;\nINSERT INTO b (x) SELECT 2;\nEND;\nSELECT * FROM v";
    let statements = parse_script(sql, "UTC").unwrap();
    assert_eq!(statements.len(), 6);
    assert!(
        matches!(&statements[0].node, Statement::Set { key, value } if key == "parallelism.default" && value == "4")
    );
    assert!(
        matches!(&statements[1].node, Statement::Set { key, value } if key == "table.local-time-zone" && value == "Asia/Shanghai")
    );
    assert!(matches!(&statements[2].node, Statement::CreateView(v) if v.name == "v"));
    assert!(matches!(&statements[3].node, Statement::Insert(i) if i.table == "out"));
    match &statements[4].node {
        Statement::StatementSet(inserts) => {
            assert_eq!(inserts.len(), 2);
            assert_eq!(inserts[1].node.columns, vec!["x"]);
            assert_eq!(inserts[1].position.line, 7);
        }
        _ => panic!("expected a statement set"),
    }
    assert!(matches!(&statements[5].node, Statement::Select(_)));
    assert_eq!(statements[5].position.line, 9);
}

#[test]
fn errors_name_line_and_column() {
    let err = parse_script("CREATE TABLE t (\n  a INTEGR\n) WITH ();", "UTC").unwrap_err();
    let p = err.position.unwrap();
    assert_eq!((p.line, p.column), (2, 5));
    assert!(
        err.message.contains("unknown data type 'INTEGR'"),
        "{}",
        err.message
    );

    let err = parse_script("SELECT 1;\nDROP TABLE t;", "UTC").unwrap_err();
    assert_eq!(err.position.unwrap().line, 2);
    assert!(
        err.message.contains("unsupported statement"),
        "{}",
        err.message
    );

    let err =
        parse_script("CREATE TABLE t (id INT, PRIMARY KEY (id)) WITH ();", "UTC").unwrap_err();
    assert!(err.message.contains("NOT ENFORCED"), "{}", err.message);

    let err = parse_script("INSERT INTO t SELECT FROM WHERE;", "UTC").unwrap_err();
    assert_eq!(err.position.unwrap().line, 1);
}
