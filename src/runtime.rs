//! The runtime crate (`runtime/` in this repository, crate `apigen-runtime`), embedded in
//! apigen and written into every project it generates as `runtime/` (owner
//! [`Owner::Runtime`]): the code every generated service shares, compiled, linted and
//! unit-tested here. Pure: the files come from the binary.

use crate::model::Database;
use crate::plan::Owner;
use crate::render::File;
use include_dir::{include_dir, Dir};

static RUNTIME: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/runtime");

/// The folder of the runtime crate in a generated project.
pub const DIR: &str = "runtime";

/// The runtime crate's files as they go into a project (`runtime/Cargo.toml`,
/// `runtime/src/…`, `runtime/sql/…`, `runtime/assets/…`, `runtime/README.md`), in path
/// order.
pub fn files() -> Vec<File> {
    let mut out = Vec::new();
    collect(&RUNTIME, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn collect(dir: &Dir<'static>, out: &mut Vec<File>) {
    for f in dir.files() {
        let path = f.path().to_string_lossy().replace('\\', "/");
        let shipped = path == "Cargo.toml"
            || path == "README.md"
            || path.starts_with("src/")
            || path.starts_with("sql/")
            || path.starts_with("assets/");
        if let (true, Some(text)) = (shipped, f.contents_utf8()) {
            out.push(File {
                path: format!("{DIR}/{path}"),
                contents: text.to_string(),
                owner: Owner::Runtime,
            });
        }
    }
    for d in dir.dirs() {
        collect(d, out);
    }
}

/// The account tables the runtime's accounts module reads and writes, in `database`'s
/// dialect: the first statements of every project's migration 0001.
pub fn account_tables(database: Database) -> &'static str {
    match database {
        Database::Sqlite => include_str!("../runtime/sql/sqlite/0001_accounts.sql"),
        Database::Postgres => include_str!("../runtime/sql/postgres/0001_accounts.sql"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crate_ships_its_manifest_sources_sql_and_assets_and_nothing_else() {
        let files = files();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        for want in [
            "runtime/Cargo.toml",
            "runtime/src/lib.rs",
            "runtime/src/auth.rs",
            "runtime/sql/sqlite/0001_accounts.sql",
            "runtime/assets/docs.js",
        ] {
            assert!(paths.contains(&want), "{want} missing from {paths:?}");
        }
        assert!(
            paths.iter().all(|p| p.starts_with("runtime/Cargo.toml")
                || p.starts_with("runtime/README.md")
                || p.starts_with("runtime/src/")
                || p.starts_with("runtime/sql/")
                || p.starts_with("runtime/assets/")),
            "{paths:?}"
        );
        assert!(files.iter().all(|f| f.owner == Owner::Runtime));
    }

    #[test]
    fn the_account_tables_are_the_runtime_s_own() {
        assert!(account_tables(Database::Sqlite).contains("CREATE TABLE \"auth_users\""));
        assert!(account_tables(Database::Postgres).contains("TIMESTAMPTZ"));
    }
}
