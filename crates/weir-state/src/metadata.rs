//! The `_metadata` file of a checkpoint and the handles subtasks hand back after
//! writing their snapshots.
//!
//! The coordinator collects one [`StateHandle`] per subtask, adds them per operator to a
//! [`CheckpointMetadata`] and asks the storage to complete the checkpoint, which writes
//! the metadata as JSON, last. Validation of read metadata is here too.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::changelog::{ChangelogFile, ChangelogHandle};
use crate::error::{StateError, StateResult};
use crate::layout::operator_dir_name;
use crate::native::{NativeFileEntry, NativeHandle, SHARED_DIR};
use crate::snapshot::TableKind;

/// The newest metadata format this build writes and reads: 2 adds native (RocksDB)
/// state, 3 incremental in-memory chains. Metadata without either is written as
/// version 1, and without chains as version 2, which older builds read too.
pub const FORMAT_VERSION: u32 = 3;

/// The version of metadata with native state but no chains.
pub(crate) const NATIVE_VERSION: u32 = 2;

/// The version of metadata without native state.
pub(crate) const TABLES_ONLY_VERSION: u32 = 1;

/// One table's segment inside a subtask file: an Arrow IPC file of its own, stored at
/// `offset..offset + length`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableEntry {
    /// The table's name.
    pub name: String,
    /// Keyed or union.
    pub kind: TableKind,
    /// Byte offset of the segment in the file.
    pub offset: u64,
    /// Byte length of the segment.
    pub length: u64,
    /// Rows in the segment.
    pub rows: u64,
    /// For keyed tables: the smallest and largest key group present, so a restoring
    /// subtask skips files that hold none of its key groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_groups: Option<[u32; 2]>,
    /// CRC32C of the schema's description: tables of one name must agree within a
    /// checkpoint. Only compared within one checkpoint (one Weir build wrote it).
    pub schema_fingerprint: String,
}

/// A subtask's stored snapshot file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    /// Path relative to the checkpoint folder, `<operator-dir>/<subtask>.arrow`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// `crc32c:<8 hex digits>` of the whole file.
    pub checksum: String,
    /// The tables in the file, in order.
    pub tables: Vec<TableEntry>,
}

/// What one subtask's `write_snapshot` stored; the coordinator adds it to the metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateHandle {
    /// The operator whose subtask wrote it.
    pub operator_id: String,
    /// The subtask index.
    pub subtask: usize,
    /// The file, or `None` for an empty snapshot (nothing is stored).
    pub file: Option<StoredFile>,
    /// The subtask's native (RocksDB) state, if it keeps some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<NativeHandle>,
    /// The subtask's incremental in-memory chain, if it keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog: Option<ChangelogHandle>,
}

impl StateHandle {
    /// Bytes stored by this checkpoint (0 for an empty snapshot).
    pub fn size(&self) -> u64 {
        self.file.as_ref().map_or(0, |f| f.size)
            + self.native.as_ref().map_or(0, |n| n.uploaded)
            + self.changelog.as_ref().map_or(0, |c| c.uploaded)
    }

    /// Names of the tables stored.
    pub fn table_names(&self) -> Vec<&str> {
        self.file.as_ref().map_or_else(Vec::new, |f| {
            f.tables.iter().map(|t| t.name.as_str()).collect()
        })
    }
}

/// One operator's state in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorState {
    /// The parallelism the operator ran at.
    pub parallelism: usize,
    /// Per subtask index, its file (`null` for an empty snapshot).
    pub subtasks: Vec<Option<StoredFile>>,
    /// Per subtask index, its native state (absent when no subtask has any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub native: Vec<Option<NativeHandle>>,
    /// Per subtask index, its incremental in-memory chain (absent when no subtask has
    /// one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changelog: Vec<Option<ChangelogHandle>>,
}

impl OperatorState {
    /// The native states of the subtasks that have one, with their subtask index.
    pub fn native_handles(&self) -> impl Iterator<Item = (usize, &NativeHandle)> {
        self.native
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
    }

    /// The chains of the subtasks that have one, with their subtask index.
    pub fn changelog_handles(&self) -> impl Iterator<Item = (usize, &ChangelogHandle)> {
        self.changelog
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)))
    }
}

/// The contents of `_metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMetadata {
    /// Format version, [`FORMAT_VERSION`] when written by this build.
    pub format_version: u32,
    /// The checkpoint id.
    pub checkpoint_id: u64,
    /// When the coordinator triggered it, milliseconds since the Unix epoch.
    pub trigger_time_ms: u64,
    /// True for a savepoint (set by the storage when completing a savepoint).
    pub savepoint: bool,
    /// Number of key groups (`pipeline.max-parallelism`).
    pub max_parallelism: usize,
    /// Per operator id, its state.
    pub operators: BTreeMap<String, OperatorState>,
    /// Opaque job description from the coordinator (e.g. the SQL's fingerprint).
    pub job: serde_json::Value,
}

impl CheckpointMetadata {
    /// Metadata of checkpoint `checkpoint_id` with no operators yet.
    pub fn new(
        checkpoint_id: u64,
        trigger_time_ms: u64,
        max_parallelism: usize,
        job: serde_json::Value,
    ) -> Self {
        CheckpointMetadata {
            format_version: FORMAT_VERSION,
            checkpoint_id,
            trigger_time_ms,
            savepoint: false,
            max_parallelism,
            operators: BTreeMap::new(),
            job,
        }
    }

    /// Adds an operator's state from the handles of all its `parallelism` subtasks
    /// (in any order). Checks every subtask is there exactly once and that tables of one
    /// name agree in kind and schema across subtasks.
    pub fn add_operator(
        &mut self,
        operator_id: &str,
        parallelism: usize,
        handles: Vec<StateHandle>,
    ) -> StateResult<()> {
        let invalid = |reason: String| StateError::InvalidMetadata {
            checkpoint_id: self.checkpoint_id,
            reason,
        };
        if self.operators.contains_key(operator_id) {
            return Err(invalid(format!("operator {operator_id:?} added twice")));
        }
        let mut subtasks: Vec<Option<Option<StoredFile>>> = vec![None; parallelism];
        let mut native: Vec<Option<NativeHandle>> = vec![None; parallelism];
        let mut changelog: Vec<Option<ChangelogHandle>> = vec![None; parallelism];
        for handle in handles {
            if handle.operator_id != operator_id {
                return Err(invalid(format!(
                    "a handle of operator {:?} given for operator {operator_id:?}",
                    handle.operator_id
                )));
            }
            let slot = subtasks.get_mut(handle.subtask).ok_or_else(|| {
                invalid(format!(
                    "operator {operator_id:?} runs at parallelism {parallelism}, \
                     but has a handle of subtask {}",
                    handle.subtask
                ))
            })?;
            if slot.is_some() {
                return Err(invalid(format!(
                    "operator {operator_id:?}: two handles of subtask {}",
                    handle.subtask
                )));
            }
            *slot = Some(handle.file);
            native[handle.subtask] = handle.native;
            changelog[handle.subtask] = handle.changelog;
        }
        let mut files = Vec::with_capacity(parallelism);
        for (subtask, slot) in subtasks.into_iter().enumerate() {
            files.push(slot.ok_or_else(|| {
                invalid(format!(
                    "operator {operator_id:?}: no handle of subtask {subtask} \
                     (of {parallelism})"
                ))
            })?);
        }
        if native.iter().all(Option::is_none) {
            native.clear();
        }
        if changelog.iter().all(Option::is_none) {
            changelog.clear();
        }
        let state = OperatorState {
            parallelism,
            subtasks: files,
            native,
            changelog,
        };
        check_operator(operator_id, &state, self.max_parallelism).map_err(invalid)?;
        let dir = operator_dir_name(operator_id);
        if let Some(other) = self
            .operators
            .keys()
            .find(|other| operator_dir_name(other) == dir)
        {
            return Err(invalid(format!(
                "operators {other:?} and {operator_id:?} map to one folder {dir:?}"
            )));
        }
        self.operators.insert(operator_id.to_string(), state);
        Ok(())
    }

    /// Bytes this checkpoint stored: all subtask files, and the native files it
    /// uploaded (not those earlier checkpoints stored).
    pub fn total_size(&self) -> u64 {
        let files: u64 = self
            .operators
            .values()
            .flat_map(|o| o.subtasks.iter().flatten())
            .map(|f| f.size)
            .sum();
        let native: u64 = self
            .operators
            .values()
            .flat_map(|o| o.native_handles())
            .map(|(_, n)| n.uploaded)
            .sum();
        let chains: u64 = self
            .operators
            .values()
            .flat_map(|o| o.changelog_handles())
            .map(|(_, c)| c.uploaded)
            .sum();
        files + native + chains
    }

    /// Bytes of the whole state, including native files stored by earlier checkpoints.
    pub fn full_size(&self) -> u64 {
        let files: u64 = self
            .operators
            .values()
            .flat_map(|o| o.subtasks.iter().flatten())
            .map(|f| f.size)
            .sum();
        let native: u64 = self
            .operators
            .values()
            .flat_map(|o| o.native_handles())
            .map(|(_, n)| n.size())
            .sum();
        let chains: u64 = self.changelog_files().map(|f| f.file.size).sum();
        files + native + chains
    }

    /// Whether any operator has native state (the metadata is then version 2).
    pub fn has_native(&self) -> bool {
        self.operators.values().any(|o| !o.native.is_empty())
    }

    /// Whether any operator has an incremental in-memory chain (the metadata is then
    /// version 3).
    pub fn has_changelog(&self) -> bool {
        self.operators.values().any(|o| !o.changelog.is_empty())
    }

    /// Every file of every chain (all under the location's `shared/` folder).
    pub fn changelog_files(&self) -> impl Iterator<Item = &ChangelogFile> {
        self.operators
            .values()
            .flat_map(|o| o.changelog_handles())
            .flat_map(|(_, c)| c.files.iter())
    }

    /// Every native file, with whether it is shared: (path, size, checksum, shared).
    pub fn native_files(&self) -> impl Iterator<Item = &NativeFileEntry> {
        self.operators
            .values()
            .flat_map(|o| o.native_handles())
            .flat_map(|(_, n)| n.files.iter())
    }

    /// Checks the whole structure (after parsing a `_metadata`): subtask counts, table
    /// agreement, key groups within `max_parallelism`, relative file paths.
    pub(crate) fn check(&self) -> Result<(), String> {
        for (operator_id, state) in &self.operators {
            check_operator(operator_id, state, self.max_parallelism)?;
        }
        Ok(())
    }
}

fn check_operator(
    operator_id: &str,
    state: &OperatorState,
    max_parallelism: usize,
) -> Result<(), String> {
    if state.parallelism == 0 || state.subtasks.len() != state.parallelism {
        return Err(format!(
            "operator {operator_id:?} has parallelism {} but {} subtask entries",
            state.parallelism,
            state.subtasks.len()
        ));
    }
    if !state.native.is_empty() && state.native.len() != state.parallelism {
        return Err(format!(
            "operator {operator_id:?} has parallelism {} but {} native state entries",
            state.parallelism,
            state.native.len()
        ));
    }
    for (_, native) in state.native_handles() {
        let [lo, hi] = native.key_groups;
        if lo > hi || hi as usize >= max_parallelism {
            return Err(format!(
                "operator {operator_id:?}: native state of key groups {lo}..={hi}, \
                 but max parallelism is {max_parallelism}"
            ));
        }
        for file in &native.files {
            check_relative_path(&file.path)?;
            if file.shared != file.path.starts_with(&format!("{SHARED_DIR}/")) {
                return Err(format!(
                    "operator {operator_id:?}: native file {} is {} but stored at {}",
                    file.name,
                    if file.shared { "shared" } else { "private" },
                    file.path
                ));
            }
        }
    }
    if !state.changelog.is_empty() && state.changelog.len() != state.parallelism {
        return Err(format!(
            "operator {operator_id:?} has parallelism {} but {} incremental chain entries",
            state.parallelism,
            state.changelog.len()
        ));
    }
    for (_, chain) in state.changelog_handles() {
        let [lo, hi] = chain.key_groups;
        if lo > hi || hi as usize >= max_parallelism {
            return Err(format!(
                "operator {operator_id:?}: incremental chain of key groups {lo}..={hi}, \
                 but max parallelism is {max_parallelism}"
            ));
        }
        // A base holding no key stores no file: such a chain starts with a delta.
        if let Some(late) = chain.files.iter().skip(1).find(|f| f.full) {
            return Err(format!(
                "operator {operator_id:?}: an incremental chain has a base ({}) after \
                 its first file",
                late.file.path
            ));
        }
        for file in &chain.files {
            check_relative_path(&file.file.path)?;
            if !file.file.path.starts_with(&format!("{SHARED_DIR}/")) {
                return Err(format!(
                    "operator {operator_id:?}: incremental chain file {} is not under {SHARED_DIR}/",
                    file.file.path
                ));
            }
        }
    }
    let mut tables: HashMap<&str, (&TableKind, &str)> = HashMap::new();
    for file in state.subtasks.iter().flatten() {
        check_relative_path(&file.path)?;
        let mut end = 0u64;
        for t in &file.tables {
            if t.offset < end || t.offset.saturating_add(t.length) > file.size {
                return Err(format!(
                    "operator {operator_id:?}: table {:?} in {} lies outside the file \
                     or overlaps another table",
                    t.name, file.path
                ));
            }
            end = t.offset + t.length;
            if let Some([_, hi]) = t.key_groups {
                if hi as usize >= max_parallelism {
                    return Err(format!(
                        "operator {operator_id:?}: table {:?} has key group {hi}, \
                         but max parallelism is {max_parallelism}",
                        t.name
                    ));
                }
            }
            match tables.get(t.name.as_str()) {
                None => {
                    tables.insert(&t.name, (&t.kind, &t.schema_fingerprint));
                }
                Some((kind, fingerprint)) => {
                    if **kind != t.kind || *fingerprint != t.schema_fingerprint {
                        return Err(format!(
                            "operator {operator_id:?}: table {:?} differs in kind or \
                             schema between subtasks",
                            t.name
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn check_relative_path(path: &str) -> Result<(), String> {
    let ok = !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if ok {
        Ok(())
    } else {
        Err(format!("file path {path:?} is not a plain relative path"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(op: &str, subtask: usize, table: Option<(&str, TableKind, &str)>) -> StateHandle {
        StateHandle {
            operator_id: op.into(),
            subtask,
            file: table.map(|(name, kind, fingerprint)| StoredFile {
                path: format!("{op}/{subtask}.arrow"),
                size: 10,
                checksum: "crc32c:00000000".into(),
                tables: vec![TableEntry {
                    name: name.into(),
                    kind,
                    offset: 0,
                    length: 10,
                    rows: 1,
                    key_groups: (kind == TableKind::Keyed).then_some([0, 1]),
                    schema_fingerprint: fingerprint.into(),
                }],
            }),
            native: None,
            changelog: None,
        }
    }

    #[test]
    fn add_operator_needs_every_subtask_once() {
        let mut md = CheckpointMetadata::new(3, 0, 128, serde_json::Value::Null);
        let t = Some(("t", TableKind::Keyed, "f"));
        let err = md
            .add_operator("op", 2, vec![handle("op", 0, t)])
            .unwrap_err();
        assert!(err.to_string().contains("no handle of subtask 1"), "{err}");
        let err = md
            .add_operator("op", 2, vec![handle("op", 0, t), handle("op", 0, t)])
            .unwrap_err();
        assert!(
            err.to_string().contains("two handles of subtask 0"),
            "{err}"
        );
        let err = md
            .add_operator("op", 1, vec![handle("op", 0, t), handle("op", 1, t)])
            .unwrap_err();
        assert!(err.to_string().contains("handle of subtask 1"), "{err}");
        let err = md
            .add_operator("op", 1, vec![handle("other", 0, t)])
            .unwrap_err();
        assert!(err.to_string().contains("given for operator"), "{err}");
        md.add_operator("op", 2, vec![handle("op", 1, None), handle("op", 0, t)])
            .expect("complete operator");
        assert_eq!(md.operators["op"].subtasks[1], None);
        let err = md
            .add_operator("op", 1, vec![handle("op", 0, None)])
            .unwrap_err();
        assert!(err.to_string().contains("added twice"), "{err}");
    }

    #[test]
    fn tables_of_one_name_must_agree_across_subtasks() {
        let mut md = CheckpointMetadata::new(3, 0, 128, serde_json::Value::Null);
        let err = md
            .add_operator(
                "op",
                2,
                vec![
                    handle("op", 0, Some(("t", TableKind::Keyed, "a"))),
                    handle("op", 1, Some(("t", TableKind::Keyed, "b"))),
                ],
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("differs in kind or schema"),
            "{err}"
        );
        let err = md
            .add_operator(
                "op",
                2,
                vec![
                    handle("op", 0, Some(("t", TableKind::Keyed, "a"))),
                    handle("op", 1, Some(("t", TableKind::Union, "a"))),
                ],
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("differs in kind or schema"),
            "{err}"
        );
    }

    #[test]
    fn check_rejects_escaping_paths_and_out_of_range_key_groups() {
        let mut md = CheckpointMetadata::new(3, 0, 1, serde_json::Value::Null);
        let err = md
            .add_operator(
                "op",
                1,
                vec![handle("op", 0, Some(("t", TableKind::Keyed, "a")))],
            )
            .unwrap_err();
        assert!(err.to_string().contains("max parallelism is 1"), "{err}");
        let mut md = CheckpointMetadata::new(3, 0, 128, serde_json::Value::Null);
        let mut h = handle("op", 0, Some(("t", TableKind::Union, "a")));
        if let Some(f) = h.file.as_mut() {
            f.path = "../../etc/passwd".into();
        }
        let err = md.add_operator("op", 1, vec![h]).unwrap_err();
        assert!(
            err.to_string().contains("not a plain relative path"),
            "{err}"
        );
    }

    #[test]
    fn metadata_json_round_trips() {
        let mut md = CheckpointMetadata::new(9, 1234, 128, serde_json::json!({"sql": "abc"}));
        md.add_operator(
            "op",
            1,
            vec![handle("op", 0, Some(("t", TableKind::Keyed, "a")))],
        )
        .expect("add");
        let json = serde_json::to_string_pretty(&md).expect("serialize");
        assert!(json.contains("\"kind\": \"keyed\""), "{json}");
        let back: CheckpointMetadata = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, md);
        assert_eq!(back.total_size(), 10);
        assert!(back.check().is_ok());
    }
}
