//! The catalog of a session: tables declared with `CREATE TABLE` and their schemas.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use weir_connectors::{MetadataColumn, TableDescriptor};

use crate::error::Position;
use crate::statement::{ColumnDef, ColumnKind, CreateTable, WatermarkDef};

/// A table of the catalog.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// Name as declared.
    pub name: String,
    /// Columns in declaration order.
    pub columns: Vec<ColumnDef>,
    /// All columns, computed ones included, with their types: what queries see.
    pub schema: SchemaRef,
    /// The watermark definition.
    pub watermark: Option<WatermarkDef>,
    /// Primary key columns.
    pub primary_key: Vec<String>,
    /// `WITH` options.
    pub options: BTreeMap<String, String>,
    /// Where `CREATE TABLE` starts.
    pub position: Position,
}

impl TableDef {
    /// Builds a table from its statement; `schema` comes from the planner, which resolves
    /// the types of computed columns.
    pub fn new(create: &CreateTable, schema: SchemaRef, position: Position) -> TableDef {
        TableDef {
            name: create.name.clone(),
            columns: create.columns.clone(),
            schema,
            watermark: create.watermark.clone(),
            primary_key: create.primary_key.clone(),
            options: create.options.iter().cloned().collect(),
            position,
        }
    }

    /// The columns a source reads: physical and metadata columns, in declaration order.
    pub fn source_schema(&self) -> SchemaRef {
        self.schema_of(|c| !matches!(c.kind, ColumnKind::Computed(_)))
    }

    /// The columns a sink writes: physical and non-virtual metadata columns.
    pub fn sink_schema(&self) -> SchemaRef {
        self.schema_of(|c| match c.kind {
            ColumnKind::Physical => true,
            ColumnKind::Computed(_) => false,
            ColumnKind::Metadata { is_virtual, .. } => !is_virtual,
        })
    }

    fn schema_of(&self, keep: impl Fn(&ColumnDef) -> bool) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .zip(self.schema.fields())
            .filter(|(c, _)| keep(c))
            .map(|(_, f)| f.as_ref().clone())
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// Whether the table has computed columns.
    pub fn has_computed_columns(&self) -> bool {
        self.columns
            .iter()
            .any(|c| matches!(c.kind, ColumnKind::Computed(_)))
    }

    /// What a connector is told about this table, for reading (`for_sink` false) or writing.
    pub fn descriptor(&self, base_dir: &Path, for_sink: bool) -> TableDescriptor {
        let schema = if for_sink {
            self.sink_schema()
        } else {
            self.source_schema()
        };
        let metadata = self
            .columns
            .iter()
            .filter_map(|c| match &c.kind {
                ColumnKind::Metadata { key, is_virtual } if schema.index_of(&c.name).is_ok() => {
                    Some(MetadataColumn {
                        column: c.name.clone(),
                        key: key.clone().unwrap_or_else(|| c.name.clone()),
                        is_virtual: *is_virtual,
                    })
                }
                _ => None,
            })
            .collect();
        TableDescriptor {
            name: self.name.clone(),
            schema,
            metadata,
            primary_key: self.primary_key.clone(),
            options: self.options.clone(),
            base_dir: base_dir.to_path_buf(),
        }
    }
}
