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
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
        Error::Target(format!(
            "{}: invalid manifest: {e}; restore it from version control",
            path.display()
        ))
    })?;
    confine(dir, &path, "contract", &manifest.contract)?;
    for (i, entry) in manifest.files.iter().enumerate() {
        confine(dir, &path, &format!("files[{i}].path"), &entry.path)?;
    }
    Ok(manifest)
}

/// Refuses a path read from the manifest that leaves the project: absolute, with `..`,
/// empty, or (for one that exists) resolving through a symbolic link to a place outside
/// `dir`. `field` names where in the manifest it was read.
fn confine(dir: &Path, manifest: &Path, field: &str, path: &str) -> Result<(), Error> {
    let refuse = |why: &str| {
        Error::Target(format!(
            "{}: {field} is `{path}`, {why}; apigen reads and writes only inside the project (restore the manifest from version control)",
            manifest.display()
        ))
    };
    if crate::write::safe_relative(path).is_err() {
        return Err(refuse("which is outside the project folder"));
    }
    let full = dir.join(path);
    if let (Ok(real), Ok(root)) = (full.canonicalize(), dir.canonicalize()) {
        if !real.starts_with(&root) {
            return Err(refuse(&format!(
                "which leads outside the project folder (to {})",
                real.display()
            )));
        }
    }
    Ok(())
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
        /// For each drop that may be an undeclared rename: what to declare in the contract
        /// so that the migration renames instead ([`rename_hint`]).
        hints: Vec<String>,
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
        "-- @generated by apigen {} from {contract}. Do not edit once applied.\n{}",
        model.generator_version,
        migration_how_to(&model.package)
    );
    let m = migrate::plan(&old, &new, &header);
    if m.is_empty() {
        return Ok(NextMigration::UpToDate);
    }
    let hints = || {
        m.possible_renames
            .iter()
            .map(|r| rename_hint(r, model))
            .collect::<Vec<_>>()
    };
    if !m.impossible.is_empty() {
        return Ok(NextMigration::Refused {
            reasons: m.impossible,
            destructive: false,
            hints: hints(),
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
            hints: hints(),
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
        changes: m
            .changes
            .iter()
            .cloned()
            .chain(m.prechecks.iter().map(|r| {
                format!("pre-check (the migration stops, changing nothing, if rows break it): {r}")
            }))
            .collect(),
    })
}

/// The comment lines every migration file starts with after its `@generated` line: how it
/// must be applied. `sqlite3 app.db < up.sql` and `psql -f` go on after a failed statement
/// (a rebuild whose copy failed would then drop the table); the service's runner applies
/// each file in one transaction, pre-checks first, foreign keys handled.
pub fn migration_how_to(package: &str) -> String {
    format!(
        "-- Apply with `{package} migrate up` or `migrate down` (the service applies ups as it\n-- starts): one transaction, pre-checks first, foreign keys handled, rebuilt tables keep\n-- what apigen did not create. Never pipe it into sqlite3 or psql: they go on after an error.\n"
    )
}

/// What to declare when a drop may be an undeclared rename, in the contract's own terms
/// (domain spec or OpenAPI): Django asks "Did you rename ...?"; apigen runs in CI, so it
/// says which line makes the migration a rename that keeps the data.
pub fn rename_hint(r: &crate::migrate::PossibleRename, model: &Model) -> String {
    use crate::migrate::PossibleRename;
    use crate::resolve::names::singular;
    use heck::ToUpperCamelCase;
    let domain = model.source_kind == "domain";
    match r {
        PossibleRename::Table { from, to } => {
            let (old, new) = (singular(from), singular(to));
            let schema = model
                .tables
                .iter()
                .find(|e| &e.table == to)
                .map(|e| e.type_name.clone())
                .unwrap_or_else(|| new.to_upper_camel_case());
            if domain {
                format!("table {to} may be {from} renamed: if `{new}` was `{old}`, declare it and the migration renames the table, keeping every row: `{new}: {{ renamed_from: {old} }}` (under `resources:`)")
            } else {
                format!("table {to} may be {from} renamed: if schema `{schema}` holds what table {from} held, declare it and the migration renames the table, keeping every row: `x-apigen-renamed-from: {from}` on the schema `{schema}`")
            }
        }
        PossibleRename::Column {
            table,
            from,
            to,
            reference,
        } => {
            let entity = model.tables.iter().find(|e| &e.table == table);
            let new_is_reference = entity.is_some_and(|e| {
                e.foreign_keys
                    .iter()
                    .any(|f| f.contains(&format!("FOREIGN KEY (\"{to}\")")))
            });
            let new_field = entity
                .and_then(|e| e.columns.iter().find(|c| &c.name == to))
                .map(|c| {
                    if !domain {
                        c.json_name.clone()
                    } else if new_is_reference {
                        c.field.strip_suffix("_id").unwrap_or(&c.field).to_string()
                    } else {
                        c.field.clone()
                    }
                })
                .unwrap_or_else(|| to.clone());
            let old_field = if domain {
                let f = if *reference {
                    from.strip_suffix("_id").unwrap_or(from)
                } else {
                    from
                };
                f.to_string()
            } else {
                // The old column's name: `x-apigen-renamed-from` is matched by column.
                from.clone()
            };
            if domain {
                format!("column {table}.{to} may be {table}.{from} renamed: if field `{new_field}` was `{old_field}`, declare it and the migration renames the column, keeping its data: `renamed_from: {old_field}` in the field `{new_field}`")
            } else {
                format!("column {table}.{to} may be {table}.{from} renamed: if property `{new_field}` holds what column {from} held, declare it and the migration renames the column, keeping its data: `x-apigen-renamed-from: {old_field}` on the property `{new_field}`")
            }
        }
    }
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
    /// A file apigen did not write (the user's) at a path apigen now generates: kept as it
    /// is, with apigen's rendering written beside it ([`beside`]).
    Refused,
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
    /// User files written with conflict markers.
    pub fn conflicts(&self) -> Vec<&str> {
        self.of(Change::Conflict)
    }

    /// The user's files kept at paths apigen generates (renderings written beside them).
    pub fn refused(&self) -> Vec<&str> {
        self.of(Change::Refused)
    }

    fn of(&self, change: Change) -> Vec<&str> {
        self.report
            .iter()
            .filter(|(c, _)| *c == change)
            .map(|(_, p)| p.as_str())
            .collect()
    }
}

/// Where apigen puts its rendering of `path` when a file of the user's is in the way:
/// `path.apigen-new` (not a `.rs` file, so the build never picks it up).
pub fn beside(path: &str) -> String {
    format!("{path}.apigen-new")
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

/// Three-way merge of a user-owned file (diff3 style, as `git merge-file --diff3`): `base`
/// is apigen's previous rendering, `ours` the file on disk, `theirs` the new rendering.
/// `Ok` is the clean merge; `Err` the merge with conflict blocks between `<<<<<<< ours`,
/// `||||||| original`, `=======` and `>>>>>>> theirs`, each marker at the start of its own
/// line. A missing final newline in any input is added before merging, so a marker never
/// joins the last line of a side; a clean merge that ends with the user's unterminated last
/// line gives it back without the newline.
pub fn merge(base: &str, ours: &str, theirs: &str) -> Result<String, String> {
    fn terminated(s: &str) -> std::borrow::Cow<'_, str> {
        if s.is_empty() || s.ends_with('\n') {
            s.into()
        } else {
            format!("{s}\n").into()
        }
    }
    let (b, o, t) = (terminated(base), terminated(ours), terminated(theirs));
    match diffy::merge(&b, &o, &t) {
        Ok(mut merged) => {
            if !ours.is_empty() && !ours.ends_with('\n') {
                let last = ours.rsplit('\n').next().unwrap_or(ours);
                if merged.ends_with(&format!("\n{last}\n")) || merged == format!("{last}\n") {
                    merged.pop();
                }
            }
            Ok(merged)
        }
        Err(conflicted) => Err(conflicted),
    }
}

/// The 1-based numbers of the lines of `text` that are conflict markers left by a merge:
/// lines that start with `<<<<<<<`, `|||||||` or `>>>>>>>` followed by a space or the end
/// of the line. (`=======` alone is not counted: Markdown underlines headings with it.)
pub fn conflict_markers(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            ["<<<<<<<", "|||||||", ">>>>>>>"].iter().any(|m| {
                line.strip_prefix(m)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\r']))
            })
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// Files of the user's in `dir` that still hold conflict markers, with the marker lines
/// ([`conflict_markers`]): every user-owned file of the manifest, the contract, and every
/// file under `src/` and `tests/` (so files apigen never wrote are included).
/// Files that are not UTF-8 text are skipped.
pub fn unresolved_conflicts(
    dir: &Path,
    manifest: &Manifest,
) -> Result<Vec<(String, Vec<usize>)>, Error> {
    let mut paths: std::collections::BTreeSet<String> = manifest
        .files
        .iter()
        .filter(|e| e.owner == Owner::User)
        .map(|e| e.path.clone())
        .collect();
    paths.insert(manifest.contract.clone());
    for top in ["src", "tests"] {
        for entry in walkdir::WalkDir::new(dir.join(top))
            .follow_links(false)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
        {
            if let Ok(rel) = entry.path().strip_prefix(dir) {
                let rel = rel.to_string_lossy().replace('\\', "/");
                if !rel.ends_with(".apigen-new") {
                    paths.insert(rel);
                }
            }
        }
    }
    let mut out = Vec::new();
    for path in paths {
        let Ok(bytes) = std::fs::read(dir.join(&path)) else {
            continue;
        };
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        let lines = conflict_markers(&text);
        if !lines.is_empty() {
            out.push((path, lines));
        }
    }
    Ok(out)
}

/// `unresolved conflict markers at lines 3, 9, 12` (or `at line 3`).
pub fn marker_lines(lines: &[usize]) -> String {
    let numbers: Vec<String> = lines.iter().map(usize::to_string).collect();
    format!(
        "unresolved conflict markers at line{} {}",
        if numbers.len() == 1 { "" } else { "s" },
        numbers.join(", ")
    )
}

/// Decides what `apigen generate` writes. Generated files are rewritten; user-owned files
/// are three-way merged ([`merge`]; base: the pristine copy, ours: the file on disk,
/// theirs: the new rendering) and never overwritten; existing migrations and `schema.json`
/// are never rewritten (that is `apigen migrate`'s job); files of removed resources are
/// deleted only when generated and untouched since apigen wrote them.
///
/// A file on disk that apigen did not write (its path is not in the old manifest) is the
/// user's and is never overwritten: at a user-owned path it is merged with an empty base
/// (both sides survive, as one conflict where they differ); at a generated path it is kept
/// as it is, apigen's rendering goes [`beside`] it, and the manifest leaves the path out
/// (so the next run refuses again until the user moves or deletes the file).
pub fn plan_generate(
    dir: &Path,
    old: &Manifest,
    new_files: &[File],
) -> Result<GeneratePlan, Error> {
    let mut plan = GeneratePlan::default();
    let known = |path: &str| old.files.iter().any(|e| e.path == path);
    let mut refused: Vec<String> = Vec::new();
    for f in new_files {
        let on_disk = read_opt(dir, &f.path)?;
        if f.path == old.contract
            || f.path == MANIFEST
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
                if disk == f.contents {
                    continue;
                }
                if known(&f.path) {
                    plan.writes.push(f.clone());
                    plan.report.push((Change::Updated, f.path.clone()));
                } else {
                    let aside = beside(&f.path);
                    if read_opt(dir, &aside)?.as_deref() != Some(f.contents.as_str()) {
                        plan.writes.push(File {
                            path: aside,
                            contents: f.contents.clone(),
                            owner: Owner::User,
                        });
                    }
                    refused.push(f.path.clone());
                    plan.report.push((Change::Refused, f.path.clone()));
                }
            }
            (Owner::User, Some(ours)) => {
                let pristine = if known(&f.path) {
                    read_opt(dir, &pristine_path(&f.path))?
                } else {
                    None
                };
                let base = pristine.unwrap_or_default();
                if f.contents == base || ours == f.contents {
                    continue;
                }
                if ours == base {
                    plan.writes.push(f.clone());
                    plan.report.push((Change::Updated, f.path.clone()));
                    continue;
                }
                let (contents, change) = match merge(&base, &ours, &f.contents) {
                    Ok(merged) => (merged, Change::Merged),
                    Err(conflicted) => (conflicted, Change::Conflict),
                };
                if contents != ours {
                    plan.writes.push(File {
                        path: f.path.clone(),
                        contents,
                        owner: Owner::User,
                    });
                    plan.report.push((change, f.path.clone()));
                }
            }
        }
    }
    if let Some(f) = new_files.iter().find(|f| f.path == MANIFEST) {
        let contents = manifest_without(&f.contents, &refused)?;
        if read_opt(dir, MANIFEST)?.as_deref() != Some(contents.as_str()) {
            plan.writes.push(File {
                path: MANIFEST.into(),
                contents,
                owner: Owner::Generated,
            });
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

/// The rendered manifest `json` without the entries of `paths` (files of the user's that
/// apigen kept in place of its rendering, so that it never takes them for its own).
fn manifest_without(json: &str, paths: &[String]) -> Result<String, Error> {
    if paths.is_empty() {
        return Ok(json.to_string());
    }
    let mut manifest: Manifest = serde_json::from_str(json)
        .map_err(|e| Error::Target(format!("internal error: rendered manifest: {e}")))?;
    manifest.files.retain(|e| !paths.contains(&e.path));
    let mut s = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    s.push('\n');
    Ok(s)
}

/// For `apigen new --force` into an existing folder: every generated or runtime file of
/// `files` whose path holds a different file that apigen did not write (no manifest in
/// `dir` lists it) is moved [`beside`] that path in `files`, and left out of the manifest,
/// so the user's file is kept. Returns the paths kept. User-owned files are kept by
/// [`crate::write::write_project`] itself.
pub fn keep_unknown_files(dir: &Path, files: &mut [File]) -> Result<Vec<String>, Error> {
    let known: Vec<String> = read_manifest(dir)
        .map(|m| m.files.into_iter().map(|e| e.path).collect())
        .unwrap_or_default();
    let mut kept = Vec::new();
    for f in files.iter_mut() {
        if f.owner == Owner::User || f.path.starts_with(".apigen/") || known.contains(&f.path) {
            continue;
        }
        if let Some(disk) = read_opt(dir, &f.path)? {
            if disk != f.contents {
                kept.push(f.path.clone());
                f.path = beside(&f.path);
                f.owner = Owner::Generated;
            }
        }
    }
    if let Some(m) = files.iter_mut().find(|f| f.path == MANIFEST) {
        m.contents = manifest_without(&m.contents, &kept)?;
    }
    Ok(kept)
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
///
/// Unresolved conflict markers in any file of the user's ([`unresolved_conflicts`]) are
/// drift too, listed first with their line numbers.
pub fn check(dir: &Path, old: &Manifest, new_files: &[File]) -> Result<Vec<Drift>, Error> {
    let mut drift: Vec<Drift> = unresolved_conflicts(dir, old)?
        .into_iter()
        .map(|(path, lines)| Drift {
            reason: format!(
                "{}; resolve them (keep what you want, delete the marker lines), then run `apigen generate`",
                marker_lines(&lines)
            ),
            path,
            diff: String::new(),
        })
        .collect();
    let known = |path: &str| old.files.iter().any(|e| e.path == path);
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
                if disk != f.contents && !known(&f.path) {
                    drift.push(Drift {
                        path: f.path.clone(),
                        reason: format!("yours (apigen did not write it), at a path apigen generates; apigen's rendering is in {}: move your file elsewhere, or delete it and run `apigen generate`", beside(&f.path)),
                        diff: unified(&f.path, &disk, &f.contents),
                    });
                } else if disk != f.contents {
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
            (Owner::User, Some(_)) if !known(&f.path) => {
                drift.push(Drift { path: f.path.clone(), reason: "yours (apigen did not write it), and apigen now renders a file at this path; run `apigen generate` to merge the two (nothing of yours is dropped)".into(), diff: String::new() });
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
