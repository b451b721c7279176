//! The changelog model: append-only and updating streams, and Flink's row kinds.

use std::fmt;

/// Name of the Int8 column that carries the [`RowKind`] of each row on an updating stream.
/// Append-only streams do not have it.
pub const ROW_KIND_COLUMN: &str = "__weir_row_kind";

/// The kind of change a row on an updating stream describes (Flink's `RowKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i8)]
pub enum RowKind {
    /// `+I`: a new row.
    Insert = 0,
    /// `-U`: the previous content of an updated row.
    UpdateBefore = 1,
    /// `+U`: the new content of an updated row.
    UpdateAfter = 2,
    /// `-D`: a deleted row.
    Delete = 3,
}

impl RowKind {
    /// Flink's short form: `+I`, `-U`, `+U`, `-D`.
    pub fn short_string(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }

    /// The row kind stored as `value` in the [`ROW_KIND_COLUMN`].
    pub fn from_i8(value: i8) -> Option<RowKind> {
        match value {
            0 => Some(RowKind::Insert),
            1 => Some(RowKind::UpdateBefore),
            2 => Some(RowKind::UpdateAfter),
            3 => Some(RowKind::Delete),
            _ => None,
        }
    }

    /// Whether the row adds to the table (`+I`, `+U`) rather than retracting (`-U`, `-D`).
    pub fn is_accumulate(self) -> bool {
        matches!(self, RowKind::Insert | RowKind::UpdateAfter)
    }
}

impl fmt::Display for RowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_string())
    }
}

/// Whether a stream only appends rows or also updates and deletes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangelogKind {
    /// Only `+I` rows.
    AppendOnly,
    /// `+I`, `-U`, `+U` and `-D` rows, carried in the [`ROW_KIND_COLUMN`].
    Updating,
}

impl fmt::Display for ChangelogKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChangelogKind::AppendOnly => "append-only",
            ChangelogKind::Updating => "updating",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_kind_round_trips_through_i8() {
        for kind in [
            RowKind::Insert,
            RowKind::UpdateBefore,
            RowKind::UpdateAfter,
            RowKind::Delete,
        ] {
            assert_eq!(RowKind::from_i8(kind as i8), Some(kind));
        }
        assert_eq!(RowKind::from_i8(7), None);
        assert_eq!(RowKind::UpdateBefore.to_string(), "-U");
    }
}
