//! Finding the files a `filesystem` source reads.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// A file to read, with what the metadata columns report about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileInfo {
    /// Where the file is.
    pub path: PathBuf,
    /// The path as the user knows it (the `path` option, joined with the file's path
    /// inside the folder), for error messages.
    pub display: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, epoch milliseconds.
    pub modified_ms: i64,
}

/// The files under `root` (resolved from the option `shown_as`): `root` itself if it is
/// a file, else every visible file below it, recursively, sorted by path. Names starting
/// with `.` or `_` (hidden, in-progress or marker files) are skipped, as Flink does.
pub(crate) fn list_files(root: &Path, shown_as: &str) -> io::Result<Vec<FileInfo>> {
    let meta = fs::metadata(root)?;
    if meta.is_file() {
        return Ok(vec![file_info(root, shown_as.to_string(), &meta)]);
    }
    let mut files = Vec::new();
    walk(root, Path::new(shown_as), &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn walk(dir: &Path, shown: &Path, files: &mut Vec<FileInfo>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name_text = name.to_string_lossy();
        if name_text.starts_with('.') || name_text.starts_with('_') {
            continue;
        }
        let path = entry.path();
        // Follows symbolic links.
        let meta = fs::metadata(&path)?;
        let shown_path = shown.join(&name);
        if meta.is_dir() {
            walk(&path, &shown_path, files)?;
        } else if meta.is_file() {
            let display = shown_path.to_string_lossy().into_owned();
            files.push(file_info(&path, display, &meta));
        }
    }
    Ok(())
}

fn file_info(path: &Path, display: String, meta: &fs::Metadata) -> FileInfo {
    let modified_ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    FileInfo {
        path: path.to_path_buf(),
        display,
        size: meta.len(),
        modified_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_visible_files_recursively_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("b/c")).unwrap();
        fs::create_dir_all(root.join(".hidden")).unwrap();
        for name in [
            "z.json",
            "a.json",
            "b/c/x.json",
            "b/y.json",
            ".part-1.inprogress",
            "_SUCCESS",
            ".hidden/h.json",
        ] {
            fs::write(root.join(name), "{}\n").unwrap();
        }
        let files = list_files(root, "data").unwrap();
        let shown: Vec<&str> = files.iter().map(|f| f.display.as_str()).collect();
        assert_eq!(
            shown,
            vec![
                "data/a.json",
                "data/b/c/x.json",
                "data/b/y.json",
                "data/z.json"
            ]
        );
        assert_eq!(files[0].size, 3);
        assert!(files[0].modified_ms > 0);
        let one = list_files(&root.join("a.json"), "data/a.json").unwrap();
        assert_eq!(one.len(), 1);
        assert!(list_files(&root.join("missing"), "missing").is_err());
    }
}
