//! The on-disk state of a generated project, and keeping it in step with its contract.
//!
//! Owns `.apigen/` (ARCHITECTURE.md, `src/project.rs`): `manifest.json` lists every file with its
//! owner and the SHA-256 of what apigen last wrote; `pristine/` holds apigen's last
//! rendering of each user-owned file (the base of three-way merges); `schema.json` is the
//! database schema at the last migration. All are text, diff-friendly and meant to be
//! committed. `plan_generate` decides
//! what `apigen generate` writes (merging into user files, never overwriting them);
//! `check` lists drift for `apigen check`. Reading happens here; writing is `write`'s.

use crate::diag::Error;
use crate::model::{Database, Model};
use crate::plan::Owner;
use crate::render::File;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

pub const MANIFEST: &str = ".apigen/manifest.json";
pub const SCHEMA: &str = ".apigen/schema.json";
const PRISTINE: &str = ".apigen/pristine/";

/// `.apigen/manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// apigen version that last wrote the project.
    pub apigen: String,
    /// The contract file, relative to the project folder.
    pub contract: String,
    /// Crate name of the project.
    pub package: String,
    pub database: Database,
    pub files: Vec<ManifestEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub path: String,
    pub owner: Owner,
    /// Hex SHA-256 of the content apigen wrote (for user files: of its rendering).
    pub sha256: String,
}

/// Hex SHA-256 of `text`.
pub fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The path of the pristine copy of a user-owned file.
pub fn pristine_path(path: &str) -> String {
    format!("{PRISTINE}{path}")
}

/// The manifest for rendered `files` (`.apigen/` itself excluded), as pretty JSON.
pub fn manifest_json(model: &Model, files: &[File]) -> String {
    let manifest = Manifest {
        apigen: model.generator_version.clone(),
        contract: model.contract_file.clone(),
        package: model.package.clone(),
        database: model.database,
        files: files
            .iter()
            .filter(|f| !f.path.starts_with(".apigen/"))
            .map(|f| ManifestEntry {
                path: f.path.clone(),
                owner: f.owner,
                sha256: sha256(&f.contents),
            })
            .collect(),
    };
    let mut s = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    s.push('\n');
    s
}

/// The database schema the model implies (`.apigen/schema.json`), as JSON.
pub fn schema_json(model: &Model) -> String {
    crate::migrate::to_json(&crate::migrate::snapshot(model))
}

/// Reads `DIR/.apigen/manifest.json`. Errors: `Error::Target` when `dir` is not a project.
pub fn read_manifest(dir: &Path) -> Result<Manifest, Error> {
    let path = dir.join(MANIFEST);
    if !path.is_file() {
        return Err(Error::Target(format!(
            "{} is not an apigen project (no {MANIFEST}); create one with `apigen new`",
            dir.display()
        )));
    }
    let text = fs_err::read_to_string(&path)?;
    serde_json::from_str(&text).map_err(|e| {
        Error::Target(format!(
            "{}: invalid manifest: {e}; restore it from version control",
            path.display()
        ))
    })
}

/// What `apigen migrate` finds to do.
#[derive(Debug)]
pub enum NextMigration {
    /// The database schema already matches the contract.
    UpToDate,
    /// The change cannot be written: (what, and why) for each refusal, and whether
    /// `--allow-destructive` would write it.
    Refused {
        reasons: Vec<String>,
        destructive: bool,
    },
    /// The migration to write: its stem, its files (path, SQL), the new `schema.json`, and
    /// one line per change.
    Ready {
        stem: String,
        files: Vec<(String, String)>,
        schema: String,
        changes: Vec<String>,
    },
}

/// The next migration of the project in `dir` for `model` (the contract's rendering): the
/// difference between `.apigen/schema.json` and the schema `model` implies, numbered after
/// every file in `migrations/`, named `requested` (`--name`) or after the change. Reads,
/// never writes. Errors: a missing or unreadable `schema.json`, an invalid name, or a
/// migration file of that name that exists already (a migration is never rewritten).
pub fn next_migration(
    dir: &Path,
    model: &Model,
    contract: &str,
    requested: Option<&str>,
    allow_destructive: bool,
) -> Result<NextMigration, Error> {
    use crate::migrate;
    let snapshot_path = dir.join(SCHEMA);
    if !snapshot_path.is_file() {
        return Err(Error::Target(format!("{}: missing; it records the schema of the last migration (restore it from version control)", snapshot_path.display())));
    }
    let old: migrate::Snapshot = serde_json::from_str(&fs_err::read_to_string(&snapshot_path)?)
        .map_err(|e| {
            Error::Target(format!(
                "{}: invalid schema snapshot ({e}); restore it from version control",
                snapshot_path.display()
            ))
        })?;
    let new = migrate::snapshot(model);
    let mut names: Vec<String> = Vec::new();
    for d in ["migrations/sqlite", "migrations/postgres"] {
        if let Ok(entries) = fs_err::read_dir(dir.join(d)) {
            names.extend(
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned()),
            );
        }
    }
    let version = migrate::next_version(names.iter().map(String::as_str));
    let header = format!(
        "-- @generated by apigen {} from {contract}. Do not edit once applied.\n",
        model.generator_version
    );
    let m = migrate::plan(&old, &new, &header);
    if m.is_empty() {
        return Ok(NextMigration::UpToDate);
    }
    if !m.impossible.is_empty() {
        return Ok(NextMigration::Refused {
            reasons: m.impossible,
            destructive: false,
        });
    }
    if !m.destructive.is_empty() && !allow_destructive {
        let reasons = m
            .destructive
            .iter()
            .map(|d| format!("destructive change: {d}"))
            .collect();
        return Ok(NextMigration::Refused {
            reasons,
            destructive: true,
        });
    }
    let stem = migrate::file_stem(version, requested, &m.name).map_err(Error::Target)?;
    let files = migrate::files(&stem, &m);
    if let Some((path, _)) = files.iter().find(|(p, _)| dir.join(p).exists()) {
        return Err(Error::Target(format!(
            "{} exists already; an existing migration is never rewritten",
            dir.join(path).display()
        )));
    }
    Ok(NextMigration::Ready {
        stem,
        files,
        schema: migrate::to_json(&new),
        changes: m.changes,
    })
}

/// What `apigen generate` did (or, in a dry run, would do) to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Created,
    Updated,
    /// A user-owned file into which the contract's changes merged cleanly.
    Merged,
    /// A user-owned file written with conflict markers; the user must resolve them.
    Conflict,
    /// A generated file of something the contract no longer has, deleted.
    Removed,
    /// A file of something the contract no longer has, kept because it was edited or is yours.
    KeptOrphan,
}

/// Files to write and delete, and a report line for each change.
#[derive(Debug, Default)]
pub struct GeneratePlan {
    pub writes: Vec<File>,
    pub deletes: Vec<String>,
    pub report: Vec<(Change, String)>,
}

impl GeneratePlan {
    pub fn conflicts(&self) -> Vec<&str> {
        self.report
            .iter()
            .filter(|(c, _)| *c == Change::Conflict)
            .map(|(_, p)| p.as_str())
            .collect()
    }
}

fn read_opt(dir: &Path, path: &str) -> Result<Option<String>, Error> {
    let p = dir.join(path);
    if p.is_file() {
        Ok(Some(fs_err::read_to_string(p)?))
    } else {
        Ok(None)
    }
}

fn is_migration(path: &str) -> bool {
    path.starts_with("migrations/")
}

/// Decides what `apigen generate` writes. Generated files are rewritten; user-owned files
/// are three-way merged (base: pristine copy, ours: the file on disk, theirs: the new
/// rendering) and never overwritten; existing migrations and `schema.json` are never
/// rewritten (that is `apigen migrate`'s job); files of removed resources are deleted only
/// when generated and untouched since apigen wrote them.
pub fn plan_generate(
    dir: &Path,
    old: &Manifest,
    new_files: &[File],
) -> Result<GeneratePlan, Error> {
    let mut plan = GeneratePlan::default();
    for f in new_files {
        let on_disk = read_opt(dir, &f.path)?;
        if f.path == old.contract
            || (f.path == SCHEMA && on_disk.is_some())
            || (is_migration(&f.path) && on_disk.is_some())
        {
            continue;
        }
        if f.path.starts_with(".apigen/") {
            if on_disk.as_deref() != Some(f.contents.as_str()) {
                plan.writes.push(f.clone());
            }
            continue;
        }
        match (f.owner, on_disk) {
            (_, None) => {
                plan.writes.push(f.clone());
                plan.report.push((Change::Created, f.path.clone()));
            }
            (Owner::Generated | Owner::Runtime, Some(disk)) => {
                if disk != f.contents {
                    plan.writes.push(f.clone());
                    plan.report.push((Change::Updated, f.path.clone()));
                }
            }
            (Owner::User, Some(ours)) => {
                let base = read_opt(dir, &pristine_path(&f.path))?.unwrap_or_else(|| ours.clone());
                if f.contents == base || ours == f.contents {
                    continue;
                }
                if ours == base {
                    plan.writes.push(f.clone());
                    plan.report.push((Change::Updated, f.path.clone()));
                    continue;
                }
                match diffy::merge(&base, &ours, &f.contents) {
                    Ok(merged) => {
                        plan.writes.push(File {
                            path: f.path.clone(),
                            contents: merged,
                            owner: Owner::User,
                        });
                        plan.report.push((Change::Merged, f.path.clone()));
                    }
                    Err(conflicted) => {
                        plan.writes.push(File {
                            path: f.path.clone(),
                            contents: conflicted,
                            owner: Owner::User,
                        });
                        plan.report.push((Change::Conflict, f.path.clone()));
                    }
                }
            }
        }
    }
    for entry in &old.files {
        if new_files.iter().any(|f| f.path == entry.path) || !dir.join(&entry.path).is_file() {
            continue;
        }
        let disk = read_opt(dir, &entry.path)?.unwrap_or_default();
        if matches!(entry.owner, Owner::Generated | Owner::Runtime)
            && !is_migration(&entry.path)
            && sha256(&disk) == entry.sha256
        {
            plan.deletes.push(entry.path.clone());
            plan.report.push((Change::Removed, entry.path.clone()));
        } else {
            plan.report.push((Change::KeptOrphan, entry.path.clone()));
        }
    }
    Ok(plan)
}

/// One way the project differs from what its contract gives.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub path: String,
    pub reason: String,
    /// Unified diff from the file on disk to what it should be (empty when not a text change).
    pub diff: String,
}

/// Lists drift for `apigen check`: generated files that differ from the rendering (hand
/// edits included), missing files, user-owned files whose rendering changed since the last
/// `apigen generate`, and database-schema changes without a migration.
pub fn check(dir: &Path, old: &Manifest, new_files: &[File]) -> Result<Vec<Drift>, Error> {
    let mut drift = Vec::new();
    for f in new_files {
        if f.path == old.contract || f.path == MANIFEST || f.path.starts_with(PRISTINE) {
            continue;
        }
        let on_disk = read_opt(dir, &f.path)?;
        if f.path == SCHEMA {
            let recorded = on_disk.unwrap_or_default();
            if recorded != f.contents {
                drift.push(Drift {
                    path: f.path.clone(),
                    reason: "the contract changes the database schema, and no migration records it; run `apigen migrate`".into(),
                    diff: unified(SCHEMA, &recorded, &f.contents),
                });
            }
            continue;
        }
        match (f.owner, on_disk) {
            (_, None) => drift.push(Drift {
                path: f.path.clone(),
                reason: "missing; run `apigen generate`".into(),
                diff: unified(&f.path, "", &f.contents),
            }),
            (Owner::Runtime, Some(disk)) => {
                if disk != f.contents {
                    drift.push(Drift {
                        path: f.path.clone(),
                        reason: "differs from the runtime crate of this apigen (upgraded, or edited by hand); run `apigen generate`".into(),
                        diff: unified(&f.path, &disk, &f.contents),
                    });
                }
            }
            (Owner::Generated, Some(disk)) => {
                if is_migration(&f.path) {
                    continue;
                }
                if disk != f.contents {
                    let reason = if old
                        .files
                        .iter()
                        .any(|e| e.path == f.path && e.sha256 == sha256(&disk))
                    {
                        "out of date with the contract; run `apigen generate`"
                    } else {
                        "edited by hand (generated files are rewritten; move the change into a service or a template override)"
                    };
                    drift.push(Drift {
                        path: f.path.clone(),
                        reason: reason.into(),
                        diff: unified(&f.path, &disk, &f.contents),
                    });
                }
            }
            (Owner::User, Some(_)) => {
                let base = read_opt(dir, &pristine_path(&f.path))?.unwrap_or_default();
                if base != f.contents {
                    drift.push(Drift { path: f.path.clone(), reason: "yours, and the contract changed what apigen would write; run `apigen generate` to merge".into(), diff: unified(&f.path, &base, &f.contents) });
                }
            }
        }
    }
    Ok(drift)
}

/// A unified diff with `a/` and `b/` paths, as `git diff` prints.
pub fn unified(path: &str, old: &str, new: &str) -> String {
    let patch = diffy::create_patch(old, new).to_string();
    let body = patch
        .split_once('\n')
        .and_then(|(_, rest)| rest.split_once('\n'))
        .map(|(_, rest)| rest)
        .unwrap_or("");
    format!("--- a/{path}\n+++ b/{path}\n{body}")
}
