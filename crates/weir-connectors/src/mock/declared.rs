//! Tables a test runs through their *declared* connectors instead of mocks
//! (`connector = "declared"` in a `weir test` case), and what those sinks wrote.
//!
//! A declared source is created by its real connector with the table's own options
//! (relative paths resolve against the script's folder, as in production). A declared
//! sink is created by its real connector too, but writes where the test can read it back
//! and nothing leaks: a `filesystem` sink's relative `path` is resolved against the run's
//! temporary output folder (an absolute path is refused), and a `print` sink's lines are
//! captured instead of reaching standard output or error. [`DeclaredOutput`] is what such
//! a sink wrote, as lines.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::descriptor::{ConnectorError, TableDescriptor};

use super::MockRun;

/// Which tables of a run use their declared connectors, and where declared sinks write.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    /// Source tables read through their declared connector.
    pub sources: BTreeSet<String>,
    /// Sink tables written through their declared connector.
    pub sinks: BTreeSet<String>,
    /// The folder relative paths of declared sinks resolve against (a temporary one).
    pub output_dir: PathBuf,
}

/// A declared sink the planned job writes.
#[derive(Debug, Clone)]
pub(super) struct DeclaredSink {
    /// The table as the sink was created (its base folder redirected).
    pub(super) descriptor: TableDescriptor,
    /// What a `print` sink printed.
    pub(super) printed: Arc<Mutex<Vec<u8>>>,
}

/// What a declared sink wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredOutput {
    /// The lines written: a `filesystem` sink's lines of all finished (visible) files
    /// under its path, file by file in path order; a `print` sink's printed lines, without
    /// the subtask number (`id:3> ` is `id> `); nothing for other connectors.
    pub lines: Vec<String>,
    /// Hidden or in-progress files (names starting with `.` or `_`) left in a
    /// `filesystem` sink's folder, relative to it.
    pub in_progress: Vec<String>,
}

impl MockRun {
    /// A run whose `declared` tables use their real connectors.
    pub fn with_declared(declared: Declared) -> MockRun {
        let run = MockRun::new();
        run.state().declared = declared;
        run
    }

    /// The run's temporary folder, which relative paths of what a test writes (declared
    /// sinks, dead-letter folders) resolve against.
    pub(crate) fn output_dir(&self) -> PathBuf {
        self.state().declared.output_dir.clone()
    }

    /// Notes that mocked table `table` names `connector`, which this build lacks.
    pub(crate) fn warn_unknown_connector(&self, table: &TableDescriptor, connector: &str) {
        let message = format!(
            "{}; weir test mocks table '{}' anyway, but the job cannot run on this build",
            ConnectorError::unknown_connector(table, connector),
            table.name
        );
        let mut state = self.state();
        if !state.warnings.contains(&message) {
            state.warnings.push(message);
        }
    }

    /// Notes that this build cannot run mocked table `table` the way the job uses it
    /// (`reason`, e.g. a connector that can be written but not read yet).
    pub(crate) fn warn_cannot_run(&self, table: &TableDescriptor, reason: &ConnectorError) {
        let message = format!(
            "{reason}; weir test mocks table '{}' anyway, but the job cannot run on this build",
            table.name
        );
        let mut state = self.state();
        if !state.warnings.contains(&message) {
            state.warnings.push(message);
        }
    }

    /// Warnings of planning in this run (connectors this build lacks).
    pub fn warnings(&self) -> Vec<String> {
        self.state().warnings.clone()
    }

    /// Whether source table `table` reads through its declared connector; notes it.
    pub(crate) fn reads_declared(&self, table: &str) -> bool {
        let mut state = self.state();
        let declared = state.declared.sources.contains(table);
        if declared && !state.declared_read.iter().any(|t| t == table) {
            state.declared_read.push(table.to_string());
        }
        declared
    }

    /// The declared source tables the planned job reads.
    pub fn declared_sources_read(&self) -> Vec<String> {
        self.state().declared_read.clone()
    }

    /// The declared sink tables the planned job writes.
    pub fn declared_sinks_written(&self) -> Vec<String> {
        self.state()
            .declared_written
            .iter()
            .map(|s| s.descriptor.name.clone())
            .collect()
    }

    /// For a declared sink table, the descriptor its real connector is created with:
    /// relative paths resolve against the output folder. `None` for a mocked sink.
    pub(crate) fn declared_sink(
        &self,
        table: &TableDescriptor,
    ) -> Result<Option<TableDescriptor>, ConnectorError> {
        let mut state = self.state();
        if !state.declared.sinks.contains(&table.name) {
            return Ok(None);
        }
        if let Some(path) = table.options.get("path") {
            let bare = path
                .strip_prefix("file://")
                .or_else(|| path.strip_prefix("file:"))
                .unwrap_or(path);
            if Path::new(bare).is_absolute() {
                return Err(ConnectorError::Unsupported {
                    table: table.name.clone(),
                    message: format!(
                        "weir test writes a declared sink under a temporary folder, but 'path' = '{path}' is absolute: make it relative to the script"
                    ),
                });
            }
        }
        let mut descriptor = table.clone();
        descriptor.base_dir = state.declared.output_dir.clone();
        if !state
            .declared_written
            .iter()
            .any(|s| s.descriptor.name == table.name)
        {
            state.declared_written.push(DeclaredSink {
                descriptor: descriptor.clone(),
                printed: Arc::default(),
            });
        }
        Ok(Some(descriptor))
    }

    /// Where a declared `print` sink of `table` writes its lines, `None` when the table is
    /// not a declared sink of this run.
    pub(crate) fn print_capture(&self, table: &str) -> Option<Arc<Mutex<Vec<u8>>>> {
        self.state()
            .declared_written
            .iter()
            .find(|s| s.descriptor.name == table)
            .map(|s| s.printed.clone())
    }

    /// What declared sink `table` wrote, `None` when the job has no such declared sink.
    pub fn declared_output(&self, table: &str) -> Option<std::io::Result<DeclaredOutput>> {
        let sink = self
            .state()
            .declared_written
            .iter()
            .find(|s| s.descriptor.name == table)
            .cloned()?;
        let connector = sink.descriptor.options.get("connector").map(String::as_str);
        Some(match connector {
            Some("print") => {
                let printed = sink
                    .printed
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .clone();
                Ok(DeclaredOutput {
                    lines: String::from_utf8_lossy(&printed)
                        .lines()
                        .map(str::to_string)
                        .collect(),
                    in_progress: Vec::new(),
                })
            }
            Some("filesystem") => {
                let path = sink.descriptor.options.get("path").cloned();
                let root = crate::filesystem::resolve_path(
                    &sink.descriptor,
                    path.as_deref().unwrap_or("."),
                );
                let mut output = DeclaredOutput::default();
                read_folder(&root, &root, &mut output).map(|()| output)
            }
            _ => Ok(DeclaredOutput::default()),
        })
    }
}

/// Adds the lines of the visible files under `dir` (in path order) to `output`, and the
/// hidden ones to its `in_progress`. A folder that does not exist holds nothing.
fn read_folder(root: &Path, dir: &Path, output: &mut DeclaredOutput) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if name.starts_with('.') || name.starts_with('_') {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            output.in_progress.push(relative.display().to_string());
        } else if path.is_dir() {
            read_folder(root, &path, output)?;
        } else {
            let text = std::fs::read_to_string(&path)?;
            output.lines.extend(text.lines().map(str::to_string));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow::array::{ArrayRef, Int32Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;
    use weir_runtime::{Output, SubtaskContext};
    use weir_types::ChangelogKind;

    use super::*;

    fn table(name: &str, options: &[(&str, &str)]) -> TableDescriptor {
        TableDescriptor {
            name: name.into(),
            schema: Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, true)])),
            metadata: vec![],
            primary_key: vec![],
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            base_dir: "/the/job".into(),
        }
    }

    fn run(output_dir: &Path) -> MockRun {
        MockRun::with_declared(Declared {
            sources: BTreeSet::new(),
            sinks: ["files", "shown", "abs"].map(String::from).into(),
            output_dir: output_dir.to_path_buf(),
        })
    }

    #[tokio::test]
    async fn declared_sinks_write_where_the_test_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let run = run(dir.path());
        let files = table(
            "files",
            &[
                ("connector", "filesystem"),
                ("path", "out"),
                ("format", "csv"),
            ],
        );
        let shown = table(
            "shown",
            &[("connector", "print"), ("print-identifier", "id")],
        );
        let absolute = table(
            "abs",
            &[
                ("connector", "filesystem"),
                ("path", "/tmp/x"),
                ("format", "csv"),
            ],
        );
        let mocked = table("mocked", &[("connector", "print")]);
        let (files_sink, shown_sink, refused) = run
            .scope(async {
                assert!(crate::create_sink(&mocked, ChangelogKind::AppendOnly).is_ok());
                (
                    crate::create_sink(&files, ChangelogKind::AppendOnly).unwrap(),
                    crate::create_sink(&shown, ChangelogKind::AppendOnly).unwrap(),
                    crate::create_sink(&absolute, ChangelogKind::AppendOnly).err(),
                )
            })
            .await;
        assert!(refused.unwrap().to_string().contains("is absolute"));
        assert_eq!(run.declared_sinks_written(), ["files", "shown"]);
        assert!(run.declared_output("mocked").is_none());
        let column: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
        let batch = RecordBatch::try_from_iter(vec![("a", column)]).unwrap();
        for (sink, subtask) in [(&files_sink, 1), (&shown_sink, 2)] {
            let ctx = SubtaskContext {
                subtask,
                parallelism: 4,
                ..SubtaskContext::single("sink")
            };
            let mut operator = sink.factory.create(&ctx).unwrap();
            let mut out = Output::default();
            operator.process_batch(0, batch.clone(), &mut out).unwrap();
            operator.finish(&mut out).unwrap();
        }
        let written = run.declared_output("files").unwrap().unwrap();
        assert_eq!(written.lines, ["1", "2"]);
        assert!(written.in_progress.is_empty(), "{written:?}");
        assert!(dir.path().join("out").is_dir());
        // Printed with the identifier but without the subtask number.
        let printed = run.declared_output("shown").unwrap().unwrap();
        assert_eq!(printed.lines, ["id> +I[1]", "id> +I[2]"]);
    }

    #[test]
    fn hidden_files_are_in_progress() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/part-1"), "b\n").unwrap();
        std::fs::write(dir.path().join("part-0"), "a\nc\n").unwrap();
        std::fs::write(dir.path().join(".part-2.inprogress.x"), "d\n").unwrap();
        let mut output = DeclaredOutput::default();
        read_folder(dir.path(), dir.path(), &mut output).unwrap();
        assert_eq!(output.lines, ["a", "c", "b"]);
        assert_eq!(output.in_progress, [".part-2.inprogress.x"]);
        let mut nothing = DeclaredOutput::default();
        read_folder(&dir.path().join("no"), &dir.path().join("no"), &mut nothing).unwrap();
        assert_eq!(nothing, DeclaredOutput::default());
    }
}
