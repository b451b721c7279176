//! The `filesystem` sink's two-phase commit with checkpoints.
//!
//! With checkpointing on, a part file is never renamed into place when it is closed
//! (rolled, or at the end of input): it is *staged*. `snapshot_state(id)` closes the
//! file being written, and records every staged file as pending for checkpoint `id`;
//! `notify_checkpoint_complete(id)` renames the pending files of checkpoints `<= id`.
//! A job restored from a checkpoint renames what it lists (a crash after the snapshot,
//! before the notification) and deletes the in-progress files a crashed run left.
//!
//! The sink's snapshot holds two union tables:
//!
//! `pending_files`, one row per staged part file not yet committed:
//!
//! | column          | type   | meaning                                              |
//! |-----------------|--------|------------------------------------------------------|
//! | `checkpoint_id` | UInt64 | the checkpoint that staged it                        |
//! | `subtask`       | UInt32 | the subtask that wrote it                            |
//! | `in_progress`   | Utf8   | its hidden name, relative to the sink's folder       |
//! | `target`        | Utf8   | its final name, relative to the sink's folder        |
//!
//! `writers`, one row per subtask, so that a restore is never empty:
//!
//! | column    | type   | meaning                                                     |
//! |-----------|--------|-------------------------------------------------------------|
//! | `subtask` | UInt32 | the subtask                                                 |
//! | `lineage` | Utf8   | the id every in-progress file of this job carries as suffix |
//! | `path`    | Utf8   | the sink's `path` option, as written                        |
//! | `format`  | Utf8   | the sink's `format` option                                  |
//!
//! A restore refuses a checkpoint whose `path` or `format` differs from the table's.
//!
//! In-progress files are named `.part-<run>-<subtask>-<n>.inprogress.<lineage>`, final
//! files `part-<run>-<subtask>-<n>`. `<run>` is a random UUID of each sink subtask
//! instance, so no run (fresh, restored or restarted) reuses an earlier run's names.
//! `<lineage>` is chosen by a job's first run and kept through its restores: a restore
//! deletes exactly the in-progress files of its lineage written by the old subtasks it
//! is responsible for (old subtask `j` belongs to new subtask `j % parallelism`, for
//! commits and deletions alike), never committed files or other jobs' files.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use arrow::array::{StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use weir_runtime::StateSnapshot;
use weir_types::{EngineError, EngineResult};

use super::state::{column, union_tables};

/// Name of the table of staged, uncommitted part files.
pub(crate) const PENDING_TABLE: &str = "pending_files";
/// Name of the table of the sink's subtasks and their lineage.
pub(crate) const WRITERS_TABLE: &str = "writers";

static PENDING_SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("checkpoint_id", DataType::UInt64, false),
        Field::new("subtask", DataType::UInt32, false),
        Field::new("in_progress", DataType::Utf8, false),
        Field::new("target", DataType::Utf8, false),
    ]))
});

static WRITERS_SCHEMA: LazyLock<Arc<Schema>> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("subtask", DataType::UInt32, false),
        Field::new("lineage", DataType::Utf8, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("format", DataType::Utf8, false),
    ]))
});

/// A closed part file, waiting to be renamed into place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Staged {
    /// The hidden file holding the data.
    pub in_progress: PathBuf,
    /// Where it goes when committed.
    pub target: PathBuf,
}

/// The hidden name of part file `name` of lineage `lineage`.
pub(crate) fn in_progress_name(name: &str, lineage: &str) -> String {
    format!(".{name}.inprogress.{lineage}")
}

/// The subtask and lineage of an in-progress file name of this sink, if it is one.
fn parse_in_progress(name: &str) -> Option<(usize, &str)> {
    let rest = name.strip_prefix(".part-")?;
    let (head, lineage) = rest.split_once(".inprogress.")?;
    let mut parts = head.rsplitn(3, '-');
    let counter = parts.next()?;
    let subtask = parts.next()?;
    let _run = parts.next()?;
    if lineage.is_empty() || counter.is_empty() || !counter.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((subtask.parse().ok()?, lineage))
}

/// Renames a staged file into place. Idempotent: a file already renamed (the target
/// exists, the in-progress file does not), or whose target already has the same
/// content, is skipped. Errors when neither exists (the staged data is lost) or when
/// the target holds other data.
pub(crate) fn commit(staged: &Staged) -> EngineResult<()> {
    let Staged {
        in_progress,
        target,
    } = staged;
    let context = || format!("cannot commit part file '{}'", target.display());
    if !exists(in_progress).map_err(|e| EngineError::io(context(), e))? {
        if exists(target).map_err(|e| EngineError::io(context(), e))? {
            return Ok(());
        }
        return Err(EngineError::Config(format!(
            "cannot commit part file '{}': neither it nor its staged file '{}' exists \
             (were files removed from the sink's folder?)",
            target.display(),
            in_progress.display()
        )));
    }
    if exists(target).map_err(|e| EngineError::io(context(), e))? {
        if same_content(in_progress, target).map_err(|e| EngineError::io(context(), e))? {
            return fs::remove_file(in_progress).map_err(|e| EngineError::io(context(), e));
        }
        return Err(EngineError::Config(format!(
            "cannot commit part file '{}': it already exists with other content",
            target.display()
        )));
    }
    fs::rename(in_progress, target).map_err(|e| EngineError::io(context(), e))
}

fn exists(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn same_content(a: &Path, b: &Path) -> io::Result<bool> {
    if fs::metadata(a)?.len() != fs::metadata(b)?.len() {
        return Ok(false);
    }
    let (mut a, mut b) = (File::open(a)?, File::open(b)?);
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = a.read(&mut x)?;
        if n == 0 {
            return Ok(true);
        }
        b.read_exact(&mut y[..n])?;
        if x[..n] != y[..n] {
            return Ok(false);
        }
    }
}

/// Makes the renames in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> EngineResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| EngineError::io(format!("cannot sync folder '{}'", dir.display()), e))
}

/// What identifies a sink subtask's output: where and how it writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Writer<'a> {
    /// The sink's folder.
    pub dir: &'a Path,
    /// The `path` option as written.
    pub path: &'a str,
    /// The `format` option.
    pub format: &'a str,
    /// The subtask.
    pub subtask: usize,
}

/// The sink's snapshot: `pending` (checkpoint id and file) of a subtask, and its lineage.
pub(crate) fn snapshot(
    writer: Writer<'_>,
    lineage: &str,
    pending: &[(u64, Staged)],
) -> EngineResult<StateSnapshot> {
    let Writer {
        dir,
        subtask,
        path,
        format,
    } = writer;
    let relative = |path: &Path| -> String {
        path.strip_prefix(dir)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    };
    let subtask = u32::try_from(subtask)
        .map_err(|_| EngineError::Internal(format!("subtask {subtask} out of range")))?;
    let pending_batch = RecordBatch::try_new(
        PENDING_SCHEMA.clone(),
        vec![
            Arc::new(UInt64Array::from_iter_values(pending.iter().map(|p| p.0))),
            Arc::new(UInt32Array::from(vec![subtask; pending.len()])),
            Arc::new(StringArray::from_iter_values(
                pending.iter().map(|p| relative(&p.1.in_progress)),
            )),
            Arc::new(StringArray::from_iter_values(
                pending.iter().map(|p| relative(&p.1.target)),
            )),
        ],
    )?;
    let writers = RecordBatch::try_new(
        WRITERS_SCHEMA.clone(),
        vec![
            Arc::new(UInt32Array::from(vec![subtask])),
            Arc::new(StringArray::from(vec![lineage])),
            Arc::new(StringArray::from(vec![path])),
            Arc::new(StringArray::from(vec![format])),
        ],
    )?;
    let mut snapshot = StateSnapshot::new();
    snapshot
        .add_union(PENDING_TABLE, pending_batch)
        .and_then(|()| snapshot.add_union(WRITERS_TABLE, writers))
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    Ok(snapshot)
}

/// What a restoring subtask does with a checkpoint's sink tables.
#[derive(Debug)]
pub(crate) struct Recovery {
    /// The lineage to keep writing under.
    pub lineage: Option<String>,
    /// Every lineage the checkpoint names.
    pub lineages: BTreeSet<String>,
    /// Staged files of the old subtasks this subtask is responsible for.
    pub to_commit: Vec<Staged>,
}

/// Reads a restored snapshot for `writer`, a subtask of `parallelism`. Errors when the
/// checkpoint's sink wrote elsewhere or in another format.
pub(crate) fn recovery(
    snapshot: StateSnapshot,
    writer: Writer<'_>,
    parallelism: usize,
) -> EngineResult<Recovery> {
    let Writer { dir, subtask, .. } = writer;
    let mut tables = union_tables(
        snapshot,
        &[
            (PENDING_TABLE, &PENDING_SCHEMA),
            (WRITERS_TABLE, &WRITERS_SCHEMA),
        ],
        "the filesystem sink",
    )?
    .into_iter();
    let (pending, writers) = (
        tables.next().unwrap_or_default(),
        tables.next().unwrap_or_default(),
    );
    let mut lineages = BTreeSet::new();
    for batch in &writers {
        let column_of = |name: &str| column::<StringArray>(batch, name);
        lineages.extend(column_of("lineage")?.iter().flatten().map(str::to_string));
        for (option, now) in [("path", writer.path), ("format", writer.format)] {
            if let Some(then) = column_of(option)?.iter().flatten().find(|v| *v != now) {
                return Err(EngineError::Config(format!(
                    "the checkpoint's sink has '{option}' = '{then}', the table has '{now}'; \
                     the job's SQL changed since the checkpoint was taken"
                )));
            }
        }
    }
    let resolve = |name: &str| -> EngineResult<PathBuf> {
        let path = Path::new(name);
        if path.is_absolute() || path.components().any(|c| c.as_os_str() == "..") {
            return Err(EngineError::Config(format!(
                "the checkpoint names part file '{name}' outside the sink's folder"
            )));
        }
        Ok(dir.join(path))
    };
    let mut to_commit = Vec::new();
    for batch in &pending {
        let subtasks = column::<UInt32Array>(batch, "subtask")?;
        let in_progress = column::<StringArray>(batch, "in_progress")?;
        let target = column::<StringArray>(batch, "target")?;
        for i in 0..batch.num_rows() {
            if subtasks.value(i) as usize % parallelism.max(1) != subtask {
                continue;
            }
            to_commit.push(Staged {
                in_progress: resolve(in_progress.value(i))?,
                target: resolve(target.value(i))?,
            });
        }
    }
    Ok(Recovery {
        lineage: lineages.first().cloned(),
        lineages,
        to_commit,
    })
}

/// Deletes the in-progress files in `dir` of one of `lineages` written by an old
/// subtask that subtask `subtask` of `parallelism` is responsible for. Returns how many.
pub(crate) fn delete_strays(
    dir: &Path,
    lineages: &BTreeSet<String>,
    subtask: usize,
    parallelism: usize,
) -> EngineResult<usize> {
    let context = || format!("cannot list folder '{}'", dir.display());
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(EngineError::io(context(), e)),
    };
    let mut deleted = 0;
    for entry in entries {
        let entry = entry.map_err(|e| EngineError::io(context(), e))?;
        let name = entry.file_name();
        let Some((owner, lineage)) = name.to_str().and_then(parse_in_progress) else {
            continue;
        };
        if !lineages.contains(lineage) || owner % parallelism.max(1) != subtask {
            continue;
        }
        let path = entry.path();
        match fs::remove_file(&path) {
            Ok(()) => deleted += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(EngineError::io(
                    format!("cannot delete stray file '{}'", path.display()),
                    e,
                ))
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_progress_names_parse_back() {
        let run = "0f0e0d0c-0b0a-4908-8706-050403020100";
        let name = in_progress_name(&format!("part-{run}-12-3"), "lin-eage");
        assert_eq!(parse_in_progress(&name), Some((12, "lin-eage")));
        assert_eq!(parse_in_progress(&format!("part-{run}-12-3")), None);
        assert_eq!(parse_in_progress(".part-x-1-2.inprogress."), None);
        assert_eq!(parse_in_progress(".part-x-a-2.inprogress.l"), None);
        assert_eq!(parse_in_progress(".other-x-1-2.inprogress.l"), None);
    }

    #[test]
    fn commit_is_idempotent_and_refuses_to_lose_or_overwrite_data() {
        let dir = tempfile::tempdir().unwrap();
        let staged = Staged {
            in_progress: dir.path().join(".part-a-0-0.inprogress.l"),
            target: dir.path().join("part-a-0-0"),
        };
        fs::write(&staged.in_progress, "rows").unwrap();
        commit(&staged).unwrap();
        assert_eq!(fs::read_to_string(&staged.target).unwrap(), "rows");
        commit(&staged).unwrap();
        // A copy of the committed file (a commit interrupted between copy and delete).
        fs::write(&staged.in_progress, "rows").unwrap();
        commit(&staged).unwrap();
        assert!(!staged.in_progress.exists());
        fs::write(&staged.in_progress, "other").unwrap();
        let err = commit(&staged).unwrap_err().to_string();
        assert!(err.contains("already exists with other content"), "{err}");
        fs::remove_file(&staged.in_progress).unwrap();
        fs::remove_file(&staged.target).unwrap();
        let err = commit(&staged).unwrap_err().to_string();
        assert!(err.contains("neither it nor its staged file"), "{err}");
    }
}
