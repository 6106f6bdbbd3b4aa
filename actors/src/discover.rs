//! `discover` directories (DESIGN sections 8, 10 and 12): every schema file and workflow file in
//! them, read in the background after the ports are bound (by the registry actor) and by the
//! command line in local mode.
//!
//! A directory is read one level deep, in file-name order; hidden files and files that do not
//! end in `.toml`, `.json`, `.yaml` or `.yml` are left alone. A TOML or JSON file whose top level
//! has `models` is a schema file; every other file is a workflow file (YAML files always are).
//! Nothing found here stops anything else: a file that does not read fails only what it
//! declares, with the reason.

use flowgate::workflow::{self, FileFormat, Workflow};
use flowgate::{Error, ModelDef};
use std::path::{Path, PathBuf};

/// A workflow file found in a directory.
#[derive(Debug, Clone)]
pub struct WorkflowFile {
    /// The file.
    pub path: PathBuf,
    /// The workflow's name: its `name`, or the file's stem when it has none or does not read.
    pub name: String,
    /// The workflow, or why the file does not give one (the error names the file).
    pub workflow: Result<Workflow, Error>,
}

/// What the directories hold.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Schema files and their models (or why they do not read).
    pub models: Vec<(PathBuf, Result<Vec<ModelDef>, Error>)>,
    /// Workflow files.
    pub workflows: Vec<WorkflowFile>,
    /// Directories that could not be read, with the reason.
    pub unreadable: Vec<String>,
}

impl Scan {
    /// The models of every schema file that reads.
    pub fn model_defs(&self) -> Vec<ModelDef> {
        self.models
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .flatten()
            .cloned()
            .collect()
    }

    /// Why the schema files that do not read do not, and the directories that could not be
    /// read, one line each.
    pub fn model_errors(&self) -> Vec<String> {
        let mut out = self.unreadable.clone();
        out.extend(
            self.models
                .iter()
                .filter_map(|(_, r)| r.as_ref().err().map(Error::to_string)),
        );
        out
    }
}

/// Reads the directories.
pub fn scan(dirs: &[PathBuf]) -> Scan {
    let mut scan = Scan::default();
    for dir in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                scan.unreadable
                    .push(format!("{}: cannot read the directory: {e}", dir.display()));
                continue;
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && !is_hidden(p))
            .collect();
        files.sort();
        for path in files {
            let Some(format) = FileFormat::from_path(&path) else {
                continue;
            };
            read_file(&mut scan, path, format);
        }
    }
    scan
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn read_file(scan: &mut Scan, path: PathBuf, format: FileFormat) {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            let workflow = Err(Error::invalid(format!(
                "{}: cannot read the file: {e}",
                path.display()
            )));
            scan.workflows.push(WorkflowFile {
                path,
                name: stem,
                workflow,
            });
            return;
        }
    };
    let top = workflow::top_level(&text, format);
    let declares_models =
        format != FileFormat::Yaml && top.as_ref().is_some_and(|m| m.contains_key("models"));
    if declares_models {
        let models = flowgate::model::read_schema_file(&path);
        scan.models.push((path, models));
        return;
    }
    let workflow = workflow::load(&path);
    let name = match &workflow {
        Ok(w) => w.name().to_string(),
        Err(_) => top
            .as_ref()
            .and_then(|m| m.get("name"))
            .and_then(|n| n.as_str())
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .unwrap_or(stem),
    };
    scan.workflows.push(WorkflowFile {
        path,
        name,
        workflow,
    });
}
