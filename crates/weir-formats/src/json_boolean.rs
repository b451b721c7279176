//! BOOLEAN fields given as JSON strings, read the way Flink's `json` format reads them.
//!
//! Flink's `JsonToRowDataConverters.convertToBoolean` takes a JSON boolean as it is and
//! any other value as `Boolean.parseBoolean(node.asText().trim())`: `"true"` in any case
//! is TRUE, every other text (`"false"`, `"yes"`, `"1"`, a number) is FALSE.
//!
//! arrow-json only accepts JSON booleans for Boolean columns. The decoder therefore
//! decodes a chunk with the real schema first (fast, columnar) and only when that fails
//! (or, with `json.ignore-parse-errors`, when a BOOLEAN column came out with NULLs that a
//! string could have caused) decodes it again with every BOOLEAN, also nested ones, read
//! as text ([`text_booleans`]), then turns the text back into booleans
//! ([`booleans_from_text`]).

use std::sync::Arc;

use arrow::array::{make_array, Array, ArrayData, ArrayRef, AsArray, BooleanArray};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};

/// `schema` with every BOOLEAN, also inside ROW, ARRAY and MAP, read as text; `None`
/// when the schema has no BOOLEAN.
pub(crate) fn text_booleans(schema: &Schema) -> Option<SchemaRef> {
    let mut any = false;
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match text_boolean_type(f.data_type()) {
            Some(t) => {
                any = true;
                f.as_ref().clone().with_data_type(t)
            }
            None => f.as_ref().clone(),
        })
        .collect();
    any.then(|| Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())))
}

/// `t` with its BOOLEANs replaced by strings; `None` when it holds no BOOLEAN.
fn text_boolean_type(t: &DataType) -> Option<DataType> {
    let field =
        |f: &Field| text_boolean_type(f.data_type()).map(|t| Arc::new(f.clone().with_data_type(t)));
    match t {
        DataType::Boolean => Some(DataType::Utf8),
        DataType::List(f) => field(f).map(DataType::List),
        DataType::LargeList(f) => field(f).map(DataType::LargeList),
        DataType::FixedSizeList(f, n) => field(f).map(|f| DataType::FixedSizeList(f, *n)),
        DataType::Map(f, sorted) => field(f).map(|f| DataType::Map(f, *sorted)),
        DataType::Struct(fields) => {
            let changed: Vec<Option<Arc<Field>>> = fields.iter().map(|f| field(f)).collect();
            if changed.iter().all(Option::is_none) {
                return None;
            }
            let fields: Fields = fields
                .iter()
                .zip(changed)
                .map(|(f, c)| c.unwrap_or_else(|| f.clone()))
                .collect();
            Some(DataType::Struct(fields))
        }
        _ => None,
    }
}

/// Java's `Boolean.parseBoolean(text.trim())`.
pub(crate) fn parse_boolean(text: &str) -> bool {
    text.trim().eq_ignore_ascii_case("true")
}

/// Turns a column decoded with [`text_booleans`] types back into a column of type
/// `target`: the text in place of each BOOLEAN is read with [`parse_boolean`].
pub(crate) fn booleans_from_text(array: &ArrayRef, target: &DataType) -> Result<ArrayRef, String> {
    if array.data_type() == target {
        return Ok(array.clone());
    }
    if target == &DataType::Boolean {
        let Some(text) = array.as_string_opt::<i32>() else {
            return Err(format!(
                "expected text for a BOOLEAN, got {}",
                array.data_type()
            ));
        };
        let values: BooleanArray = text.iter().map(|v| v.map(parse_boolean)).collect();
        return Ok(Arc::new(values));
    }
    let child_types: Vec<DataType> = match target {
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => vec![f.data_type().clone()],
        DataType::Struct(fields) => fields.iter().map(|f| f.data_type().clone()).collect(),
        other => return Err(format!("cannot read {other} from {}", array.data_type())),
    };
    let data = array.to_data();
    if data.child_data().len() != child_types.len() {
        return Err(format!("cannot read {target} from {}", array.data_type()));
    }
    let children = data
        .child_data()
        .iter()
        .zip(&child_types)
        .map(|(child, t)| booleans_from_text(&make_array(child.clone()), t).map(|a| a.to_data()))
        .collect::<Result<Vec<ArrayData>, String>>()?;
    let rebuilt = data
        .into_builder()
        .data_type(target.clone())
        .child_data(children)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(make_array(rebuilt))
}

/// Whether a BOOLEAN inside `array` (at any depth) has a NULL: with
/// `json.ignore-parse-errors`, a string given for a BOOLEAN field decodes as NULL.
pub(crate) fn has_boolean_nulls(array: &dyn Array) -> bool {
    fn walk(data: &ArrayData) -> bool {
        match data.data_type() {
            DataType::Boolean => data.null_count() > 0,
            _ => data.child_data().iter().any(walk),
        }
    }
    text_boolean_type(array.data_type()).is_some() && walk(&array.to_data())
}

#[cfg(test)]
mod tests {
    use arrow::array::{ListBuilder, StringArray, StringBuilder, StructArray};

    use super::*;

    #[test]
    fn parses_like_java() {
        for (text, expected) in [
            ("true", true),
            ("TRUE", true),
            (" True ", true),
            ("false", false),
            ("yes", false),
            ("1", false),
            ("", false),
        ] {
            assert_eq!(parse_boolean(text), expected, "{text}");
        }
    }

    #[test]
    fn text_schema_only_when_there_are_booleans() {
        let plain = Schema::new(vec![Field::new("a", DataType::Int32, true)]);
        assert!(text_booleans(&plain).is_none());
        let row = DataType::Struct(Fields::from(vec![
            Field::new("x", DataType::Int32, true),
            Field::new("ok", DataType::Boolean, true),
        ]));
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Boolean, false),
            Field::new("r", row, true),
        ]);
        let text = text_booleans(&schema).unwrap();
        assert_eq!(text.field(0).data_type(), &DataType::Int32);
        assert_eq!(text.field(1).data_type(), &DataType::Utf8);
        assert!(!text.field(1).is_nullable());
        let DataType::Struct(fields) = text.field(2).data_type() else {
            panic!("struct expected");
        };
        assert_eq!(fields[1].data_type(), &DataType::Utf8);
    }

    #[test]
    fn converts_flat_and_nested_text() {
        let flat: ArrayRef = Arc::new(StringArray::from(vec![Some("true"), Some("FALSE"), None]));
        let back = booleans_from_text(&flat, &DataType::Boolean).unwrap();
        let back = back.as_boolean();
        assert_eq!(
            back.iter().collect::<Vec<_>>(),
            vec![Some(true), Some(false), None]
        );
        assert!(has_boolean_nulls(back));

        let mut builder = ListBuilder::new(StringBuilder::new());
        builder.values().append_value("true");
        builder.values().append_null();
        builder.append(true);
        builder.append(false);
        let list: ArrayRef = Arc::new(builder.finish());
        let target = DataType::new_list(DataType::Boolean, true);
        let back = booleans_from_text(&list, &target).unwrap();
        assert_eq!(back.data_type(), &target);
        let values = back.as_list::<i32>().values().as_boolean().clone();
        assert_eq!(values.iter().collect::<Vec<_>>(), vec![Some(true), None]);
        assert!(back.is_null(1));

        let row: ArrayRef = Arc::new(StructArray::from(vec![(
            Arc::new(Field::new("ok", DataType::Utf8, true)),
            Arc::new(StringArray::from(vec!["True", "no"])) as ArrayRef,
        )]));
        let target = DataType::Struct(Fields::from(vec![Field::new(
            "ok",
            DataType::Boolean,
            true,
        )]));
        let back = booleans_from_text(&row, &target).unwrap();
        assert_eq!(back.data_type(), &target);
        let ok = back.as_struct().column(0).as_boolean().clone();
        assert_eq!(ok.iter().collect::<Vec<_>>(), vec![Some(true), Some(false)]);
        assert!(!has_boolean_nulls(back.as_ref()));
    }
}
