//! The `apigen` command line: parses arguments, calls the core, prints, maps errors to exit
//! codes (0 success, 1 `check` found drift, 2 invalid input or usage).

use anyhow::Context;
use apigen::load::{load_file, load_str, Loaded};
use apigen::model::Database;
use apigen::resolve::ResolveOptions;
use apigen::{Diagnostic, Error, Severity};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "apigen",
    version,
    about = "Turn an API contract into a production-grade Rust web service, and keep it in step."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Db {
    Sqlite,
    Postgres,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Format {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum CheckFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Create a project from a contract (OpenAPI 3.0/3.1 or an apigen domain spec).
    New {
        /// Folder to create; must be empty or missing unless --force.
        dir: PathBuf,
        /// The contract; without it, a starter bookstore domain spec.
        #[arg(long)]
        spec: Option<PathBuf>,
        /// Database of the generated service (default: the contract's, else sqlite).
        #[arg(long, value_enum)]
        database: Option<Db>,
        /// Crate name of the generated project (default: from the contract's title).
        #[arg(long)]
        name: Option<String>,
        /// Folder of templates overriding the embedded ones (same layout as apigen's templates/).
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Write into a non-empty folder (files you own there are kept).
        #[arg(long)]
        force: bool,
        /// Print what would be written, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Re-render a project from its contract: generated files are rewritten, your files are
    /// three-way merged (conflicts are marked and make the exit code 1), never overwritten.
    Generate {
        /// The project folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Print what would change, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// CI gate: exit 1 with a unified diff when generated code, the served OpenAPI document
    /// or the database schema (unmigrated changes) is out of step with the contract.
    Check {
        /// The project folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
        #[arg(long)]
        templates: Option<PathBuf>,
    },
    /// Write the next migration pair (up and down, SQLite and PostgreSQL) that takes the
    /// database from the last migrated schema to the one the contract now implies.
    Migrate {
        /// The project folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Description in the file name (default: from the change, `add_pages_to_books`).
        #[arg(long)]
        name: Option<String>,
        /// Allow dropping tables or columns and narrowing types (their data is lost).
        #[arg(long)]
        allow_destructive: bool,
        /// Print the SQL, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Add a resource to the project's contract and regenerate everything it touches,
    /// migration included. Fields: NAME:TYPE[?][:unique], e.g. title:string, rating:integer?,
    /// author:ref:author, status:enum:draft|published, email:email:unique.
    AddResource {
        /// Singular snake_case name (`review`).
        name: String,
        /// A field, NAME:TYPE[?][:unique]; repeat for each field.
        #[arg(long = "field", required = true)]
        field: Vec<String>,
        /// Rows belong to the user who created them (domain specs).
        #[arg(long)]
        owned: bool,
        /// The project folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Print the change to the contract, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the resolved model and every diagnostic, writing nothing.
    Inspect {
        /// The contract to read.
        file: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        #[arg(long, value_enum)]
        database: Option<Db>,
    },
}

/// Stack for the worker thread: deeply nested contracts recurse deeply in deserialisation
/// (serde's buffering of untagged and flattened types uses large frames). Only the pages
/// actually touched are committed.
const STACK_BYTES: usize = 256 * 1024 * 1024;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let worker = std::thread::Builder::new()
        .name("apigen".into())
        .stack_size(STACK_BYTES)
        .spawn(move || run(cli));
    let result = match worker {
        Ok(handle) => handle.join().unwrap_or_else(|_| {
            Err(anyhow::anyhow!(
                "internal error: apigen crashed; please report it with the contract that caused it"
            ))
        }),
        Err(e) => Err(anyhow::anyhow!("cannot start the worker thread: {e}")),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            match e.downcast_ref::<Error>() {
                Some(Error::Invalid(diags)) => print_diagnostics(diags),
                _ => eprintln!("error: {e:#}"),
            }
            ExitCode::from(2)
        }
    }
}

fn print_diagnostics(diags: &[Diagnostic]) {
    for d in diags {
        eprintln!("{d}");
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    if errors > 0 {
        eprintln!("{errors} error(s), {warnings} warning(s); nothing was written");
    }
}

fn options(database: Option<Db>, name: Option<String>) -> anyhow::Result<ResolveOptions> {
    if let Some(n) = &name {
        if let Some(why) = apigen::resolve::names::package_name_problem(n) {
            anyhow::bail!("invalid --name `{n}`: {why}");
        }
    }
    Ok(ResolveOptions {
        database: database.map(|d| match d {
            Db::Sqlite => Database::Sqlite,
            Db::Postgres => Database::Postgres,
        }),
        package: name,
    })
}

fn load(spec: Option<&PathBuf>) -> anyhow::Result<Loaded> {
    Ok(match spec {
        Some(p) => {
            if !p.exists() {
                anyhow::bail!("{}: no such file; pass the path of an OpenAPI document or an apigen domain spec", p.display());
            }
            apigen::timing::stage("load", || load_file(p))?
        }
        None => load_str("bookstore.yaml", apigen::STARTER_SPEC)?,
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::New {
            dir,
            spec,
            database,
            name,
            templates,
            force,
            dry_run,
        } => {
            let loaded = load(spec.as_ref())?;
            let opts = options(database, name)?;
            if let Some(t) = &templates {
                if !t.is_dir() {
                    anyhow::bail!(
                        "{}: --templates must be a folder laid out like apigen's templates/",
                        t.display()
                    );
                }
            }
            let mut generated = apigen::generate(&apigen::Input {
                loaded: &loaded,
                opts: &opts,
                templates: templates.as_deref(),
                contract_name: None,
                user_code: &Default::default(),
            })?;
            warn(&generated);
            let kept_yours = if force && dir.is_dir() {
                apigen::project::keep_unknown_files(&dir, &mut generated.files)?
            } else {
                Vec::new()
            };
            let report = apigen::timing::stage("write", || {
                apigen::write::write_project(
                    &dir,
                    &generated.files,
                    force,
                    dry_run,
                    generated.scratch.as_ref().map(|t| t.path()),
                )
            })
            .with_context(|| format!("writing {}", dir.display()))?;
            let verb = if dry_run { "would write" } else { "wrote" };
            for p in &report.written {
                if dry_run {
                    println!("{verb} {}", dir.join(p).display());
                }
            }
            for p in &report.kept {
                println!("kept {} (yours)", dir.join(p).display());
            }
            let m = &generated.model;
            let ops: usize = m.resources.iter().map(|r| r.operations.len()).sum();
            let stubs: usize = m
                .resources
                .iter()
                .flat_map(|r| &r.operations)
                .filter(|o| !o.implemented)
                .count();
            println!(
                "{verb} {} files for `{}` ({} resources, {ops} operations, {stubs} answering 501 until implemented) in {}",
                report.written.len(),
                m.package,
                m.resources.len(),
                dir.display()
            );
            for p in &kept_yours {
                println!(
                    "{}: KEPT YOURS: apigen did not write this file and generates one here; its rendering is in {} (move your file elsewhere, or delete it, then run `apigen generate`)",
                    dir.join(p).display(),
                    apigen::project::beside(p)
                );
            }
            if !kept_yours.is_empty() {
                eprintln!(
                    "{} file(s) of yours stand where apigen generates one, and were kept",
                    kept_yours.len()
                );
                return Ok(ExitCode::from(1));
            }
            if !dry_run {
                println!("next: cd {} && cargo run", dir.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate {
            dir,
            templates,
            dry_run,
        } => run_generate(&dir, templates.as_deref(), dry_run),
        Command::AddResource {
            name,
            field,
            owned,
            dir,
            dry_run,
        } => add_resource(&dir, &name, &field, owned, dry_run),
        Command::Check {
            dir,
            format,
            templates,
        } => {
            let (old, generated) = apigen::regenerate(&dir, templates.as_deref())?;
            let drift = apigen::project::check(&dir, &old, &generated.files)?;
            match format {
                CheckFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({ "clean": drift.is_empty(), "drift": drift })
                    )?
                ),
                CheckFormat::Text => {
                    for d in &drift {
                        println!("{}: {}", d.path, d.reason);
                    }
                    for d in &drift {
                        print!("{}", d.diff);
                    }
                    if drift.is_empty() {
                        println!("{} matches {}", dir.display(), old.contract);
                    } else {
                        eprintln!("{} file(s) out of step with the contract", drift.len());
                    }
                }
            }
            Ok(if drift.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Migrate {
            dir,
            name,
            allow_destructive,
            dry_run,
        } => migrate(&dir, name, allow_destructive, dry_run),
        Command::Inspect {
            file,
            format,
            database,
        } => {
            let loaded = load(Some(&file))?;
            let opts = options(database, None)?;
            let model =
                match apigen::timing::stage("resolve", || apigen::resolve::resolve(&loaded, &opts))
                {
                    Ok(m) => m,
                    Err(Error::Invalid(diags)) => {
                        if format == Format::Json {
                            println!(
                                "{}",
                                serde_json::to_string_pretty(
                                    &serde_json::json!({ "model": null, "diagnostics": diags })
                                )?
                            );
                        }
                        print_diagnostics(&diags);
                        return Ok(ExitCode::from(2));
                    }
                    Err(e) => return Err(e.into()),
                };
            match format {
                Format::Json => {
                    let mut v = serde_json::to_value(&model)?;
                    if let Some(o) = v.as_object_mut() {
                        o.remove("openapi_json");
                    }
                    println!(
                        "{}",
                        serde_json::to_string_pretty(
                            &serde_json::json!({ "model": v, "diagnostics": model.diagnostics })
                        )?
                    );
                }
                Format::Table => print_table(&model),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `apigen generate`: exit 0; 1 when a user file got conflict markers, a file of the
/// user's stands where apigen generates one, or markers from an earlier run are still
/// unresolved (then nothing is written).
fn run_generate(
    dir: &std::path::Path,
    templates: Option<&std::path::Path>,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let (old, generated) = apigen::regenerate(dir, templates)?;
    if let Some(code) = refuse_unresolved(dir, &old)? {
        return Ok(code);
    }
    warn(&generated);
    let plan = apigen::project::plan_generate(dir, &old, &generated.files)?;
    if !dry_run {
        apigen::write::apply(dir, &plan.writes, &plan.deletes)?;
    }
    let code = report_generate(&plan, dry_run);
    if plan.report.is_empty() {
        println!("{} is up to date with {}", dir.display(), old.contract);
    }
    Ok(code)
}

/// Exit 1, after naming every file and line, when a file of the user's still holds conflict
/// markers: merging into it again would bury them.
fn refuse_unresolved(
    dir: &std::path::Path,
    manifest: &apigen::project::Manifest,
) -> anyhow::Result<Option<ExitCode>> {
    let found = apigen::project::unresolved_conflicts(dir, manifest)?;
    if found.is_empty() {
        return Ok(None);
    }
    for (path, lines) in &found {
        eprintln!("error: {path}: {}", apigen::project::marker_lines(lines));
    }
    eprintln!("nothing was written: resolve the conflict markers in {} file(s) (keep what you want, delete the marker lines), then run the command again", found.len());
    Ok(Some(ExitCode::from(1)))
}

/// Prints one line per change of a generation; exit 1 when it left conflicts or refused to
/// overwrite a file of the user's.
fn report_generate(plan: &apigen::project::GeneratePlan, dry_run: bool) -> ExitCode {
    use apigen::project::Change;
    for (change, path) in &plan.report {
        let what = match change {
            Change::Created => "created".to_string(),
            Change::Updated => "updated".to_string(),
            Change::Merged => "merged into your edits".to_string(),
            Change::Conflict => "CONFLICT (resolve the <<<<<<< markers)".to_string(),
            Change::Refused => format!(
                "KEPT YOURS: apigen did not write this file and generates one here; its rendering is in {} (move your file elsewhere, or delete it, then run `apigen generate`)",
                apigen::project::beside(path)
            ),
            Change::Removed => "removed (no longer in the contract)".to_string(),
            Change::KeptOrphan => {
                "kept (no longer in the contract, but edited or yours: delete it when ready)"
                    .to_string()
            }
        };
        println!("{}{path}: {what}", if dry_run { "would be " } else { "" });
    }
    let conflicts = plan.conflicts();
    if !conflicts.is_empty() {
        eprintln!(
            "{} file(s) have conflicts: {}",
            conflicts.len(),
            conflicts.join(", ")
        );
    }
    let refused = plan.refused();
    if !refused.is_empty() {
        eprintln!(
            "{} file(s) of yours stand where apigen generates one, and were kept: {}",
            refused.len(),
            refused.join(", ")
        );
    }
    if conflicts.is_empty() && refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `apigen add-resource`: adds the resource to the contract file (keeping its formatting
/// and comments), regenerates and writes the migration. Everything is decided before
/// anything is written: a refused migration, an invalid addition or unresolved markers
/// exit 2 (or 1 for markers) with the project untouched; then the contract, the files and
/// the migration are written together ([`apigen::write::apply`], all or nothing). Exit 1
/// when the regeneration left conflicts or kept a file of the user's.
fn add_resource(
    dir: &std::path::Path,
    name: &str,
    fields: &[String],
    owned: bool,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let manifest = apigen::project::read_manifest(dir)?;
    let path = dir.join(&manifest.contract);
    let loaded = load_file(&path)?;
    let opts = ResolveOptions {
        database: Some(manifest.database),
        package: Some(manifest.package.clone()),
    };
    let (resource, new_text) = apigen::add::add_resource(&loaded, name, fields, owned, &opts)?;
    if dry_run {
        print!(
            "{}",
            apigen::project::unified(&manifest.contract, &loaded.text, &new_text)
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(code) = refuse_unresolved(dir, &manifest)? {
        return Ok(code);
    }
    let new_loaded = load_str(&path.display().to_string(), &new_text)?;
    let generated = apigen::regenerate_from(dir, &manifest, &new_loaded, None)?;
    warn(&generated);
    let plan = apigen::project::plan_generate(dir, &manifest, &generated.files)?;
    let migration_name = format!("add_{}", apigen::resolve::names::plural(&resource));
    let Some(migration) = plan_migration(
        dir,
        &generated.model,
        &manifest.contract,
        Some(&migration_name),
        false,
    )?
    else {
        eprintln!("nothing was written: {} is unchanged", manifest.contract);
        return Ok(ExitCode::from(2));
    };
    let mut writes = vec![apigen::render::File {
        path: manifest.contract.clone(),
        contents: new_text,
        owner: apigen::plan::Owner::User,
    }];
    writes.extend(plan.writes.iter().cloned());
    if let Some(m) = &migration {
        writes.extend(m.files.iter().map(|(p, sql)| apigen::render::File {
            path: p.clone(),
            contents: sql.clone(),
            owner: apigen::plan::Owner::Generated,
        }));
        writes.push(apigen::render::File {
            path: apigen::project::SCHEMA.into(),
            contents: m.schema.clone(),
            owner: apigen::plan::Owner::Generated,
        });
    }
    apigen::write::apply(dir, &writes, &plan.deletes)?;
    println!("added `{resource}` to {}", manifest.contract);
    let code = report_generate(&plan, false);
    match &migration {
        Some(m) => {
            for c in &m.changes {
                println!("  {c}");
            }
            println!(
                "wrote migration {} (up and down, SQLite and PostgreSQL)",
                m.stem
            );
        }
        None => println!(
            "the database schema is up to date with {}",
            manifest.contract
        ),
    }
    Ok(code)
}

/// A migration ready to write.
struct Migration {
    stem: String,
    files: Vec<(String, String)>,
    schema: String,
    changes: Vec<String>,
}

/// The next migration for `model`: `Some(None)` when the schema is up to date,
/// `Some(Some(m))` when one is to be written, `None` when it is refused (the reasons are
/// printed).
fn plan_migration(
    dir: &std::path::Path,
    model: &apigen::model::Model,
    contract: &str,
    name: Option<&str>,
    allow_destructive: bool,
) -> anyhow::Result<Option<Option<Migration>>> {
    use apigen::project::NextMigration;
    match apigen::project::next_migration(dir, model, contract, name, allow_destructive)? {
        NextMigration::UpToDate => Ok(Some(None)),
        NextMigration::Refused {
            reasons,
            destructive,
            hints,
        } => {
            for r in &reasons {
                eprintln!("error: {r}");
            }
            for h in &hints {
                eprintln!("hint: {h}");
            }
            if destructive {
                eprintln!("refused: pass --allow-destructive to write this migration (the data is lost when it runs)");
            } else {
                eprintln!("no migration was written");
            }
            Ok(None)
        }
        NextMigration::Ready {
            stem,
            files,
            schema,
            changes,
        } => Ok(Some(Some(Migration {
            stem,
            files,
            schema,
            changes,
        }))),
    }
}

/// `apigen migrate`: exit 0 when written (or nothing to do), 2 when refused.
fn migrate(
    dir: &std::path::Path,
    name: Option<String>,
    allow_destructive: bool,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let (manifest, generated) = apigen::regenerate(dir, None)?;
    let Some(migration) = plan_migration(
        dir,
        &generated.model,
        &manifest.contract,
        name.as_deref(),
        allow_destructive,
    )?
    else {
        return Ok(ExitCode::from(2));
    };
    let Some(m) = migration else {
        println!(
            "the database schema is up to date with {}",
            manifest.contract
        );
        return Ok(ExitCode::SUCCESS);
    };
    for c in &m.changes {
        println!("  {c}");
    }
    if dry_run {
        for (path, sql) in &m.files {
            println!("--- would write {path}\n{sql}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut writes: Vec<apigen::render::File> = m
        .files
        .iter()
        .map(|(p, sql)| apigen::render::File {
            path: p.clone(),
            contents: sql.clone(),
            owner: apigen::plan::Owner::Generated,
        })
        .collect();
    writes.push(apigen::render::File {
        path: apigen::project::SCHEMA.into(),
        contents: m.schema,
        owner: apigen::plan::Owner::Generated,
    });
    apigen::write::apply(dir, &writes, &[])?;
    println!("wrote migration {} (up and down, SQLite and PostgreSQL); run `apigen generate` if the code is not yet up to date", m.stem);
    Ok(ExitCode::SUCCESS)
}

fn warn(generated: &apigen::Generated) {
    for d in &generated.model.diagnostics {
        if d.severity >= Severity::Warning {
            eprintln!("{d}");
        }
    }
    for (path, why) in &generated.unformatted {
        eprintln!(
            "warning: {path} was not formatted: {}",
            why.lines().next().unwrap_or("")
        );
    }
}

fn print_table(m: &apigen::model::Model) {
    println!(
        "{} {} ({} contract, {:?}, crate `{}`)",
        m.title, m.api_version, m.source_kind, m.database, m.package
    );
    for r in &m.resources {
        match &r.entity {
            Some(e) => println!(
                "\nresource {} — table `{}` of {} (key `{}`, {})",
                r.module,
                e.table,
                e.type_name,
                e.key.name,
                e.key_strategy.as_str()
            ),
            None => println!("\nresource {} — no table", r.module),
        }
        if let Some(e) = &r.entity {
            for c in &e.columns {
                println!(
                    "    column {:<24} {:<16} {}{}",
                    c.name,
                    c.sqlite_type,
                    if c.not_null { "not null" } else { "null" },
                    if c.unique { ", unique" } else { "" }
                );
            }
        }
        for o in &r.operations {
            let state = if o.implemented {
                o.kind.as_str().to_string()
            } else {
                format!("501: {}", o.not_implemented_reason)
            };
            println!(
                "  {:<7} {:<40} {:<28} {}",
                o.method_upper, o.path, o.func, state
            );
        }
    }
    println!(
        "\n{} types, {} schema nodes",
        m.types.len(),
        m.schemas.len()
    );
    for d in &m.diagnostics {
        println!("{d}");
    }
}
