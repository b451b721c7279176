//! `weir test --update`: writes a case's actual outputs as its new expectations,
//! editing only the sinks' `expected` / `final` / `output` arrays so that comments, layout and
//! the rest of the file stay as the user wrote them.

use toml_edit::{Array, DocumentMut, Item, Table, Value};

use super::case::Check;

/// `text` with the expectations of `sinks` (name and new rows) replaced or added.
pub fn updated_text(text: &str, sinks: &[(String, Check)]) -> Result<String, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    let sinks_item = doc.entry("sinks").or_insert_with(|| {
        let mut table = Table::new();
        table.set_implicit(true);
        Item::Table(table)
    });
    let sinks_table = sinks_item
        .as_table_like_mut()
        .ok_or("'sinks' is not a table")?;
    for (name, check) in sinks {
        let sink = sinks_table
            .entry(name)
            .or_insert_with(|| Item::Table(Table::new()))
            .as_table_like_mut()
            .ok_or_else(|| format!("'sinks.{name}' is not a table"))?;
        let (key, rows) = match check {
            Check::Changelog(rows) => ("expected", rows),
            Check::Final(rows) => ("final", rows),
            Check::Output(rows) => ("output", rows),
        };
        for other in ["expected", "final", "output"] {
            if other != key {
                sink.remove(other);
            }
        }
        sink.insert(key, Item::Value(Value::Array(multiline(rows))));
    }
    Ok(doc.to_string())
}

/// An array with one row per line.
fn multiline(rows: &[String]) -> Array {
    let mut array = Array::new();
    for row in rows {
        let mut value = Value::from(row.as_str());
        value.decor_mut().set_prefix("\n  ");
        array.push_formatted(value);
    }
    if !rows.is_empty() {
        array.set_trailing_comma(true);
        array.set_trailing("\n");
    }
    array
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_expectations_and_keeps_the_rest() {
        let text = "# my case\n[sources.a]\nrows = [{ x = 1 }]  # input\n\n[sinks.out]\nexpected = [\"+I[0]\"]\nordered = true\n";
        let new = updated_text(
            text,
            &[
                (
                    "out".into(),
                    Check::Changelog(vec!["+I[1]".into(), "+I[2]".into()]),
                ),
                ("totals".into(), Check::Final(vec!["[a, 1]".into()])),
                ("files".into(), Check::Output(vec![r#"{"a":1}"#.into()])),
            ],
        )
        .unwrap();
        assert_eq!(
            new,
            "# my case\n[sources.a]\nrows = [{ x = 1 }]  # input\n\n[sinks.out]\nexpected = [\n  \"+I[1]\",\n  \"+I[2]\",\n]\nordered = true\n\n[sinks.totals]\nfinal = [\n  \"[a, 1]\",\n]\n\n[sinks.files]\noutput = [\n  '{\"a\":1}',\n]\n"
        );
    }
}
