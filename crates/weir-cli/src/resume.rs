//! `weir run`'s checkpoint choices: where checkpoints go when the script does not say,
//! and which checkpoint or savepoint a run starts from (`--fresh`,
//! `--from-checkpoint`, `--from-savepoint`, or by default the latest completed
//! checkpoint of the job's folder, so running the same script again after a crash
//! resumes it).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use weir_runtime::{JobConfig, RestoreFrom};
use weir_state::CheckpointStorage;

/// The checkpoint options of `weir run`.
#[derive(Debug, Default, Clone)]
pub struct ResumeOptions {
    /// `--fresh`: start from the beginning even if a checkpoint exists.
    pub fresh: bool,
    /// `--from-checkpoint PATH`.
    pub from_checkpoint: Option<PathBuf>,
    /// `--from-savepoint PATH`.
    pub from_savepoint: Option<PathBuf>,
    /// `--allow-non-restored-state`.
    pub allow_non_restored_state: bool,
    /// `--savepoint-dir DIR`: a graceful stop writes a savepoint there.
    pub savepoint_dir: Option<PathBuf>,
}

/// The default checkpoint folder of a script: `.weir/checkpoints/<script name>` beside it.
pub fn default_checkpoint_dir(script: &Path) -> PathBuf {
    let stem = script
        .file_stem()
        .map_or_else(|| "job".into(), |s| s.to_string_lossy().into_owned());
    crate::script_dir(script)
        .join(".weir")
        .join("checkpoints")
        .join(stem)
}

/// Completes `config` with the command line's choices and the checkpoint to restore;
/// returns what to tell the user about it.
pub async fn prepare(
    config: &mut JobConfig,
    script: &Path,
    options: &ResumeOptions,
) -> Result<Vec<String>> {
    let explicit = options
        .from_checkpoint
        .as_ref()
        .or(options.from_savepoint.as_ref());
    let Some(checkpoints) = config.checkpoints.as_mut() else {
        if explicit.is_some() || options.savepoint_dir.is_some() {
            bail!(
                "this job takes no checkpoints, so it cannot restore or write one: set \
                 'execution.checkpointing.interval' (e.g. --set execution.checkpointing.interval=10s)"
            );
        }
        return Ok(Vec::new());
    };
    if options.fresh && explicit.is_some() {
        bail!("--fresh starts without state; it cannot be combined with --from-checkpoint or --from-savepoint");
    }
    if checkpoints.dir.is_empty() {
        checkpoints.dir = default_checkpoint_dir(script)
            .to_string_lossy()
            .into_owned();
    }
    if let Some(dir) = &options.savepoint_dir {
        checkpoints.savepoint_dir = Some(dir.to_string_lossy().into_owned());
        checkpoints.savepoint_on_stop = true;
    }
    let mut notes = vec![format!("checkpoints: {}", checkpoints.dir)];
    let restore = if let Some(path) = explicit {
        let path = path.to_string_lossy();
        let checkpoint = CheckpointStorage::open_checkpoint(&path)
            .await
            .with_context(|| format!("cannot restore {path}"))?;
        Some(checkpoint)
    } else if options.fresh {
        None
    } else {
        let storage = CheckpointStorage::open(&checkpoints.dir)
            .await
            .with_context(|| format!("cannot open the checkpoint folder {}", checkpoints.dir))?;
        let latest = storage.latest_completed().await?;
        for skipped in &latest.skipped {
            notes.push(format!("skipped {skipped}"));
        }
        latest.checkpoint
    };
    if let Some(checkpoint) = &restore {
        let kind = if checkpoint.is_savepoint() {
            "savepoint"
        } else {
            "checkpoint"
        };
        notes.push(format!(
            "resuming from {kind} {} at {}{}",
            checkpoint.id(),
            checkpoint.location(),
            if explicit.is_none() {
                " (--fresh starts over)"
            } else {
                ""
            }
        ));
    }
    config.restore = restore.map(|checkpoint| RestoreFrom {
        checkpoint: Arc::new(checkpoint),
        allow_non_restored_state: options.allow_non_restored_state,
    });
    Ok(notes)
}
