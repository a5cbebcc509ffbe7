//! Golden snapshots: every file apigen generates for each example contract in `specs/`,
//! one insta snapshot per file under `snapshots/`. Review changes like code
//! (`cargo insta review`); never accept them blindly.

use apigen::load::{load_file, Loaded};
use apigen::model::Database;
use apigen::plan::Owner;
use apigen::resolve::ResolveOptions;
use std::path::Path;

/// A new project from `loaded`, as `apigen new` renders it.
fn generate(loaded: &Loaded, opts: &ResolveOptions) -> apigen::Generated {
    apigen::generate(&apigen::Input {
        loaded,
        opts,
        templates: None,
        contract_name: None,
        user_code: &Default::default(),
    })
    .expect("example spec generates")
}

fn snapshot_project(spec: &str, database: Database, prefix: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let loaded = load_file(&root.join("specs").join(spec)).expect("example spec loads");
    let opts = ResolveOptions {
        database: Some(database),
        package: None,
    };
    let generated = generate(&loaded, &opts);
    assert!(
        generated.unformatted.is_empty(),
        "rustfmt failed on {:?}",
        generated.unformatted
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root.join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        // The runtime crate is the same in every project, and tested where it is written.
        for f in generated.files.iter().filter(|f| f.owner != Owner::Runtime) {
            let name = format!("{prefix}__{}", f.path.replace(['/', '.'], "_"));
            insta::assert_snapshot!(name, &f.contents);
        }
    });
    // The set of files is part of the contract too.
    let listing: Vec<String> = generated
        .files
        .iter()
        .map(|f| format!("{:?} {}", f.owner, f.path))
        .collect();
    settings.bind(|| insta::assert_snapshot!(format!("{prefix}__file_list"), listing.join("\n")));
}

#[test]
fn bookstore_domain_spec_sqlite() {
    snapshot_project("bookstore.yaml", Database::Sqlite, "bookstore");
}

#[test]
fn bookstore_domain_spec_postgres_differences() {
    // Only the files that depend on the database are snapshotted a second time.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let loaded = load_file(&root.join("specs/bookstore.yaml")).unwrap();
    let generated = generate(
        &loaded,
        &ResolveOptions {
            database: Some(Database::Postgres),
            package: None,
        },
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root.join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for f in generated.files.iter().filter(|f| {
            [
                "Cargo.toml",
                "src/lib.rs",
                "tests/api/common.rs",
                "src/repositories/books.rs",
                "src/defaults/books.rs",
                "migrations/postgres/0001_init.up.sql",
            ]
            .contains(&f.path.as_str())
        }) {
            insta::assert_snapshot!(
                format!("bookstore_pg__{}", f.path.replace(['/', '.'], "_")),
                &f.contents
            );
        }
    });
}

#[test]
fn tasks_openapi_31() {
    snapshot_project("tasks.openapi.yaml", Database::Sqlite, "tasks");
}

#[test]
fn generation_is_deterministic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for spec in ["bookstore.yaml", "tasks.openapi.yaml"] {
        let loaded = load_file(&root.join("specs").join(spec)).unwrap();
        let a = generate(&loaded, &ResolveOptions::default()).files;
        let b = generate(&loaded, &ResolveOptions::default()).files;
        assert_eq!(a, b, "{spec} renders identically twice");
    }
}
