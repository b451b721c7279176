//! Dense ids for the partition keys of a session window. Key columns are converted to
//! Arrow's row format in one vectorised pass per batch; each distinct key is stored once
//! (its row bytes), so the keys of fired sessions are turned back into columns with one
//! `convert_rows` call, and keys without open sessions can be dropped.

use std::collections::HashMap;

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, Rows, SortField};
use weir_types::EngineResult;

/// The distinct keys seen, each with a dense id.
pub(crate) struct KeyStore {
    converter: RowConverter,
    /// Key bytes to id.
    ids: HashMap<Box<[u8]>, u32>,
    /// Key of each id, in the row format.
    rows: Rows,
}

impl KeyStore {
    /// A store for keys of the types in `schema`.
    pub fn new(schema: &SchemaRef) -> EngineResult<KeyStore> {
        let fields = schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields)?;
        let rows = converter.empty_rows(0, 0);
        Ok(KeyStore {
            converter,
            ids: HashMap::new(),
            rows,
        })
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.rows.num_rows()
    }

    /// Sets `out` to the key id of every row of `columns`, adding new keys.
    pub fn intern(&mut self, columns: &[ArrayRef], out: &mut Vec<u32>) -> EngineResult<()> {
        out.clear();
        let batch_rows = self.converter.convert_columns(columns)?;
        out.reserve(batch_rows.num_rows());
        for row in batch_rows.iter() {
            let id = match self.ids.get(row.as_ref()) {
                Some(&id) => id,
                None => {
                    let id = self.rows.num_rows() as u32;
                    self.ids.insert(row.as_ref().into(), id);
                    self.rows.push(row);
                    id
                }
            };
            out.push(id);
        }
        Ok(())
    }

    /// The key columns of the keys `ids`, in that order.
    pub fn columns(&self, ids: &[u32]) -> EngineResult<Vec<ArrayRef>> {
        Ok(self
            .converter
            .convert_rows(ids.iter().map(|&id| self.rows.row(id as usize)))?)
    }

    /// Keeps only the keys `live` (ascending ids), renumbered 0.. in that order. Returns
    /// the new id of every old id (`u32::MAX` for dropped keys).
    pub fn retain(&mut self, live: &[u32]) -> Vec<u32> {
        let mut mapping = vec![u32::MAX; self.len()];
        let mut rows = self.converter.empty_rows(live.len(), 0);
        self.ids.clear();
        for (new, &old) in live.iter().enumerate() {
            let row = self.rows.row(old as usize);
            self.ids.insert(row.as_ref().into(), new as u32);
            rows.push(row);
            if let Some(m) = mapping.get_mut(old as usize) {
                *m = new as u32;
            }
        }
        self.rows = rows;
        mapping
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, AsArray, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    use super::*;

    #[test]
    fn interns_converts_back_and_retains() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let mut store = KeyStore::new(&schema).unwrap();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![
                Some("a"),
                None,
                Some("a"),
                Some("b"),
            ])),
            Arc::new(Int64Array::from(vec![1, 2, 1, 1])),
        ];
        let mut ids = Vec::new();
        store.intern(&columns, &mut ids).unwrap();
        assert_eq!(ids, vec![0, 1, 0, 2]);
        let back = store.columns(&[2, 1]).unwrap();
        let keys = back[0].as_string::<i32>();
        assert_eq!(keys.value(0), "b");
        assert!(keys.is_null(1));
        assert_eq!(back[1].as_primitive::<Int64Type>().values(), &[1, 2]);
        let mapping = store.retain(&[1, 2]);
        assert_eq!(mapping, vec![u32::MAX, 0, 1]);
        store.intern(&columns, &mut ids).unwrap();
        assert_eq!(ids, vec![2, 0, 2, 1]);
    }
}
