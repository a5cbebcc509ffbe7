//! apigen's core: load → resolve → plan → render → write.
//!
//! Each stage is a module named after it; `generate` chains the pure ones. Everything
//! here is a library with no terminal I/O; `main.rs` is the thin command-line front.
//! See ARCHITECTURE.md for the code map and invariants.

pub mod add;
pub mod diag;
pub mod fmt;
#[doc(hidden)]
pub mod fuzzing;
pub mod load;
pub mod migrate;
pub mod model;
pub mod plan;
pub mod project;
pub mod render;
pub mod resolve;
pub mod spec;
pub mod timing;
pub mod write;

pub use diag::{Diagnostic, Error, Severity};

use plan::Owner;
use render::File;
use std::path::Path;

/// The starter domain spec `apigen new` uses without `--spec`.
pub const STARTER_SPEC: &str = include_str!("../specs/bookstore.yaml");

/// A generated project in memory.
#[derive(Debug)]
pub struct Generated {
    pub model: model::Model,
    pub files: Vec<File>,
    /// Rust files rustfmt could not format, with the reason.
    pub unformatted: Vec<(String, String)>,
    /// rustfmt's scratch folder (see [`fmt::Formatted::scratch`]), for
    /// [`write::write_project`] to move formatted files from; removed when this is dropped.
    pub scratch: Option<tempfile::TempDir>,
}

/// Resolves, plans, renders and formats a project for `loaded`. The contract is copied into
/// the project as `contract_name` (a user-owned file); `.apigen/manifest.json` records
/// every file's owner, and `.apigen/pristine/` the rendering of user-owned files (the base
/// of later three-way merges).
///
/// Errors: `Error::Invalid` with every diagnostic when the contract has errors;
/// `Error::Template` when a template fails.
pub fn generate(
    loaded: &load::Loaded,
    opts: &resolve::ResolveOptions,
    templates: Option<&Path>,
) -> Result<Generated, Error> {
    let model = timing::stage("resolve", || resolve::resolve(loaded, opts))?;
    let planned = timing::stage("plan", || plan::plan(&model));
    let contract_name = contract_file_name(&loaded.file, &planned);
    render_project(model, &planned, loaded, templates, contract_name)
}

/// Like `generate`, keeping the contract's file name in the project (`apigen generate`).
pub fn generate_named(
    loaded: &load::Loaded,
    opts: &resolve::ResolveOptions,
    templates: Option<&Path>,
    contract_name: &str,
) -> Result<Generated, Error> {
    let model = resolve::resolve(loaded, opts)?;
    let planned = plan::plan(&model);
    render_project(
        model,
        &planned,
        loaded,
        templates,
        contract_name.to_string(),
    )
}

fn render_project(
    mut model: model::Model,
    planned: &[plan::PlannedFile],
    loaded: &load::Loaded,
    templates: Option<&Path>,
    contract_name: String,
) -> Result<Generated, Error> {
    model.contract_file = contract_name.clone();
    let env = render::environment(templates)?;
    let mut files = timing::stage("render", || render::render(&env, &model, planned))?;
    let formatted = timing::stage("rustfmt", || fmt::format_rust(&mut files));
    let mut extra = vec![File {
        path: contract_name,
        contents: loaded.text.clone(),
        owner: Owner::User,
    }];
    for f in files.iter().filter(|f| f.owner == Owner::User) {
        extra.push(File {
            path: project::pristine_path(&f.path),
            contents: f.contents.clone(),
            owner: Owner::Generated,
        });
    }
    files.extend(extra);
    files.push(File {
        path: project::SCHEMA.into(),
        contents: project::schema_json(&model),
        owner: Owner::Generated,
    });
    let manifest = project::manifest_json(&model, &files);
    files.push(File {
        path: project::MANIFEST.into(),
        contents: manifest,
        owner: Owner::Generated,
    });
    Ok(Generated {
        model,
        files,
        unformatted: formatted.failed,
        scratch: formatted.scratch,
    })
}

/// The contract's file name inside the project: its own name, unless that clashes with a
/// generated file, then `contract.<ext>`.
fn contract_file_name(source: &str, planned: &[plan::PlannedFile]) -> String {
    let name = Path::new(source)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("contract.yaml")
        .to_string();
    let ext = Path::new(&name)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("yaml")
        .to_string();
    let clashes = planned.iter().any(|p| p.path == name)
        || name.starts_with('.')
        || name.contains(|c: char| c.is_control());
    if clashes {
        format!("contract.{ext}")
    } else {
        name
    }
}
