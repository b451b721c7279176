//! Names of folders and files inside a checkpoint location (see docs/checkpoints.md,
//! "Layout"):
//!
//! ```text
//! <dir>/chk-<id>/_metadata
//! <dir>/chk-<id>/<operator-dir>/<subtask>.arrow
//! <savepoint-dir>/savepoint-<id>-<random>/...       (same inside)
//! ```

/// Name of the metadata file written last into a checkpoint folder.
pub const METADATA_FILE: &str = "_metadata";

/// Prefix of checkpoint folder names: `chk-<id>`.
pub const CHECKPOINT_PREFIX: &str = "chk-";

/// Prefix of savepoint folder names: `savepoint-<id>-<random>`.
pub const SAVEPOINT_PREFIX: &str = "savepoint-";

/// Longest operator-derived part of a folder name.
const MAX_OPERATOR_DIR: usize = 96;

/// The folder name of checkpoint `id`.
pub fn checkpoint_dir_name(id: u64) -> String {
    format!("{CHECKPOINT_PREFIX}{id}")
}

/// The checkpoint id of a folder named `chk-<id>`, if it is one.
pub fn parse_checkpoint_dir_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(CHECKPOINT_PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The folder name of a savepoint of checkpoint `id`, with a random suffix so two
/// savepoints into one folder never collide.
pub fn savepoint_dir_name(id: u64, random: u32) -> String {
    format!("{SAVEPOINT_PREFIX}{id}-{random:08x}")
}

/// A path-safe folder name for an operator id: ids made only of ASCII letters, digits,
/// `-` and `_` (at most 96 of them) are used as they are; any other id becomes its safe
/// characters (others replaced by `_`, cut to 96) followed by `-x` and the id's CRC32C
/// in hex, so distinct ids get distinct folders. The metadata maps ids to files, so the
/// name never has to be decoded.
pub fn operator_dir_name(operator_id: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if !operator_id.is_empty()
        && operator_id.len() <= MAX_OPERATOR_DIR
        && operator_id.chars().all(safe)
        && !operator_id.contains("-x")
    {
        return operator_id.to_string();
    }
    let cleaned: String = operator_id
        .chars()
        .map(|c| if safe(c) { c } else { '_' })
        .take(MAX_OPERATOR_DIR)
        .collect();
    format!("{cleaned}-x{:08x}", crc32c::crc32c(operator_id.as_bytes()))
}

/// The file of one subtask's snapshot, relative to the checkpoint folder.
pub fn subtask_file(operator_id: &str, subtask: usize) -> String {
    format!("{}/{subtask}.arrow", operator_dir_name(operator_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_names_round_trip_and_reject_others() {
        assert_eq!(checkpoint_dir_name(42), "chk-42");
        assert_eq!(parse_checkpoint_dir_name("chk-42"), Some(42));
        for bad in [
            "chk-",
            "chk-4x",
            "chk--1",
            "ckp-1",
            "savepoint-1-00",
            "chk-+1",
        ] {
            assert_eq!(parse_checkpoint_dir_name(bad), None, "{bad}");
        }
        assert_eq!(savepoint_dir_name(7, 0xab), "savepoint-7-000000ab");
    }

    #[test]
    fn operator_dirs_are_path_safe_and_distinct() {
        assert_eq!(
            operator_dir_name("GroupAggregate-3a9f01"),
            "GroupAggregate-3a9f01"
        );
        let ids = [
            "../etc",
            "a/b",
            "a_b",
            "a b",
            ".",
            "..",
            "",
            "é",
            "x-x1234",
            "Window[1]",
        ];
        let mut names = std::collections::HashSet::new();
        for id in ids {
            let name = operator_dir_name(id);
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{id:?} -> {name:?}"
            );
            assert!(!name.is_empty());
            assert!(names.insert(name), "{id:?} collides");
        }
        let long = "y".repeat(500);
        assert!(operator_dir_name(&long).len() <= MAX_OPERATOR_DIR + 10);
        assert_eq!(subtask_file("op", 3), "op/3.arrow");
    }
}
