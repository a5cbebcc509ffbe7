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
pub mod runtime;
pub mod spec;
pub mod timing;
pub mod user_code;
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

/// What a project is generated from.
pub struct Input<'a> {
    pub loaded: &'a load::Loaded,
    pub opts: &'a resolve::ResolveOptions,
    /// A folder of template overrides (`--templates`).
    pub templates: Option<&'a Path>,
    /// The contract's file name inside the project; `None` for a new project (its own
    /// name, unless that clashes with a generated file).
    pub contract_name: Option<&'a str>,
    /// The operations the user wrote in their service files (module → functions,
    /// [`user_code::read_services`]); empty for a new project.
    pub user_code: &'a std::collections::BTreeMap<String, Vec<String>>,
}

/// Resolves, plans, renders and formats a project. The contract is copied into the project
/// (a user-owned file); `.apigen/manifest.json` records every file's owner, and
/// `.apigen/pristine/` the rendering of user-owned files (the base of later three-way
/// merges); `runtime/` holds the runtime crate.
///
/// Errors: `Error::Invalid` with every diagnostic when the contract has errors;
/// `Error::Template` when a template fails.
pub fn generate(input: &Input<'_>) -> Result<Generated, Error> {
    let mut model = timing::stage("resolve", || resolve::resolve(input.loaded, input.opts))?;
    model.follow_user_code(input.user_code);
    let planned = timing::stage("plan", || plan::plan(&model));
    let contract_name = match input.contract_name {
        Some(name) => name.to_string(),
        None => contract_file_name(&input.loaded.file, &planned),
    };
    render_project(
        model,
        &planned,
        input.loaded,
        input.templates,
        contract_name,
    )
}

/// Re-renders the project in `dir` from its own contract, with the database and crate name
/// it was created with, following what the user wrote in `src/services/`. Returns the old
/// manifest and the new rendering. Errors: `dir` is no apigen project, its contract cannot
/// be read, or it has errors.
pub fn regenerate(
    dir: &Path,
    templates: Option<&Path>,
) -> Result<(project::Manifest, Generated), Error> {
    let manifest = project::read_manifest(dir)?;
    let contract = dir.join(&manifest.contract);
    let mut loaded = load::load_file(&contract)?;
    loaded.file = contract.display().to_string();
    let generated = regenerate_from(dir, &manifest, &loaded, templates)?;
    Ok((manifest, generated))
}

/// Like [`regenerate`] for a contract already loaded (`apigen add-resource` renders the
/// changed contract before it writes anything) and the project's `manifest`.
pub fn regenerate_from(
    dir: &Path,
    manifest: &project::Manifest,
    loaded: &load::Loaded,
    templates: Option<&Path>,
) -> Result<Generated, Error> {
    let opts = resolve::ResolveOptions {
        database: Some(manifest.database),
        package: Some(manifest.package.clone()),
    };
    let (user_code, unreadable) = user_code::read_services(dir);
    let mut generated = generate(&Input {
        loaded,
        opts: &opts,
        templates,
        contract_name: Some(&manifest.contract),
        user_code: &user_code,
    })?;
    for path in unreadable {
        generated.model.diagnostics.push(
            Diagnostic::new(Severity::Warning, &path, "", "this file does not parse as Rust, so apigen cannot tell which operations you wrote in it; the generated tests expect apigen's defaults")
                .hint("resolve any conflict markers, then run `apigen generate` again"),
        );
    }
    Ok(generated)
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
    files.extend(runtime::files());
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
