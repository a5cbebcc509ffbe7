//! Migrations that never lose data (issue 20): each case evolves the bookstore contract,
//! runs `apigen migrate`, and applies the new migration to databases that hold realistic
//! rows (NULLs, long strings, values at the limits, rows of several owners), on SQLite and on
//! the real PostgreSQL, as the generated service applies it (SQLite: foreign keys off, one
//! transaction, `PRAGMA foreign_key_check` after; PostgreSQL: one transaction). Every value
//! is compared after the up migration and again after the down migration.
//!
//! Uses the `sqlite3` and `psql` command-line clients. PostgreSQL is reached at
//! `$APIGEN_TEST_DATABASE_URL`'s server (default `postgres://postgres@127.0.0.1:5432`); each
//! case creates and drops a database of its own.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

fn apigen() -> Command {
    Command::cargo_bin("apigen").expect("binary is built")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    fn folder(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }
}

fn pg_server() -> String {
    let url = std::env::var("APIGEN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match url.rsplit_once('/') {
        Some((server, _)) => server.to_string(),
        None => url,
    }
}

/// A database of one dialect, applied to as the generated service applies migrations.
struct Db {
    dialect: Dialect,
    /// SQLite: the file; PostgreSQL: the database name.
    target: String,
    _tmp: Option<tempfile::TempDir>,
}

impl Db {
    fn create(dialect: Dialect, name: &str) -> Db {
        match dialect {
            Dialect::Sqlite => {
                let tmp = tempfile::tempdir().unwrap();
                let file = tmp.path().join("app.db").display().to_string();
                Db {
                    dialect,
                    target: file,
                    _tmp: Some(tmp),
                }
            }
            Dialect::Postgres => {
                static NEXT: std::sync::atomic::AtomicUsize =
                    std::sync::atomic::AtomicUsize::new(0);
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let db = format!("apigen_mig_{name}_{}_{n}", std::process::id());
                psql(
                    &format!("{}/postgres", pg_server()),
                    &format!("DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db};"),
                )
                .unwrap();
                Db {
                    dialect,
                    target: db,
                    _tmp: None,
                }
            }
        }
    }

    /// Runs `sql` as one script; stops at the first error.
    fn exec(&self, sql: &str) -> Result<String, String> {
        match self.dialect {
            Dialect::Sqlite => run_with_stdin(
                std::process::Command::new("sqlite3").args(["-bail", "-batch", &self.target]),
                sql,
            ),
            Dialect::Postgres => psql(&format!("{}/{}", pg_server(), self.target), sql),
        }
    }

    /// Applies one migration file as the service's runner does.
    fn apply(&self, file: &Path) -> Result<(), String> {
        let sql = std::fs::read_to_string(file).unwrap();
        let script = match self.dialect {
            Dialect::Sqlite => format!(
                "PRAGMA foreign_keys = OFF;\nBEGIN;\n{sql}\nCOMMIT;\nPRAGMA foreign_keys = ON;\n"
            ),
            Dialect::Postgres => format!("BEGIN;\n{sql}\nCOMMIT;\n"),
        };
        self.exec(&script)?;
        if self.dialect == Dialect::Sqlite {
            let broken = self.exec("PRAGMA foreign_key_check;")?;
            if !broken.trim().is_empty() {
                return Err(format!("rows break a foreign key: {broken}"));
            }
        }
        Ok(())
    }

    /// Rows of `select` as `|`-separated text, NULL as `<null>`.
    fn rows(&self, select: &str) -> Vec<String> {
        let out = match self.dialect {
            Dialect::Sqlite => self.exec(&format!(".nullvalue <null>\n.separator |\n{select};")),
            Dialect::Postgres => run_with_stdin(
                std::process::Command::new("psql").args([
                    "-X",
                    "-q",
                    "-A",
                    "-t",
                    "-F",
                    "|",
                    "-P",
                    "null=<null>",
                    "-v",
                    "ON_ERROR_STOP=1",
                    &format!("{}/{}", pg_server(), self.target),
                ]),
                &format!("{select};"),
            ),
        }
        .unwrap_or_else(|e| panic!("{select}: {e}"));
        out.lines().map(str::to_string).collect()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if self.dialect == Dialect::Postgres {
            let _ = psql(
                &format!("{}/postgres", pg_server()),
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE);", self.target),
            );
        }
    }
}

fn psql(url: &str, sql: &str) -> Result<String, String> {
    run_with_stdin(
        std::process::Command::new("psql").args(["-X", "-q", "-v", "ON_ERROR_STOP=1", url]),
        sql,
    )
}

fn run_with_stdin(cmd: &mut std::process::Command, input: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() && !stderr.contains("ERROR") && !stderr.contains("Error:") {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(stderr)
    }
}

/// The bookstore project, and its migrations in order.
struct Project {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Project {
    fn new() -> Project {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("shop");
        apigen().arg("new").arg(&dir).assert().success();
        Project { _tmp: tmp, dir }
    }

    fn edit_contract(&self, from: &str, to: &str) {
        let path = self.dir.join("bookstore.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "the contract has no {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    /// A new project whose contract had `from` replaced by `to`, migrated with `args`
    /// (which must succeed), and `apigen migrate`'s output.
    fn migrated(from: &str, to: &str, args: &[&str]) -> (Project, String) {
        let p = Project::new();
        p.edit_contract(from, to);
        let (ok, out) = p.migrate(args);
        assert!(ok, "{out}");
        (p, out)
    }

    /// `apigen migrate ARGS`: its output, and whether it succeeded.
    fn migrate(&self, args: &[&str]) -> (bool, String) {
        let out = apigen()
            .arg("migrate")
            .args(args)
            .arg("--dir")
            .arg(&self.dir)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// The migration files of `dialect` ending in `suffix`, in version order.
    fn files(&self, dialect: Dialect, suffix: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> =
            std::fs::read_dir(self.dir.join("migrations").join(dialect.folder()))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect();
        v.sort();
        v
    }
}

/// Realistic rows for the bookstore's first schema: two authors (one with a NULL bio, one
/// with a 5,000-character bio, one soft-deleted), books with NULL and set optional
/// columns, prices at both limits, two owners.
fn seed(db: &Db) {
    let (uuid, now) = match db.dialect {
        Dialect::Sqlite => ("randomblob(16)", "'2026-01-02T03:04:05Z'"),
        Dialect::Postgres => ("gen_random_uuid()", "'2026-01-02T03:04:05Z'"),
    };
    let long = "x".repeat(5000);
    let sql = format!(
        "INSERT INTO authors (id, name, email, bio, created_at, updated_at, version, deleted_at) VALUES
            ({uuid}, 'Ursula K. Le Guin', 'ursula@example.com', NULL, {now}, {now}, 1, NULL),
            ({uuid}, 'Ted Chiang', 'ted@example.com', '{long}', {now}, {now}, 3, NULL),
            ({uuid}, 'Gone Author', 'gone@example.com', 'O''Brien''s bio', {now}, {now}, 2, {now});
        INSERT INTO books (id, title, author_id, price_cents, status, isbn, published_on, owner_id, created_at, updated_at, version) VALUES
            ({uuid}, 'The Dispossessed', (SELECT id FROM authors WHERE email = 'ursula@example.com'), 0, 'published', '978-0-06-051275-0', '1974-05-01', {uuid}, {now}, {now}, 1),
            ({uuid}, 'Exhalation', (SELECT id FROM authors WHERE email = 'ted@example.com'), 10000000, 'draft', NULL, NULL, NULL, {now}, {now}, 2),
            ({uuid}, 'Stories of Your Life', (SELECT id FROM authors WHERE email = 'ted@example.com'), 1299, 'draft', '0-330-45096-X', NULL, {uuid}, {now}, {now}, 1);"
    );
    db.exec(&sql)
        .unwrap_or_else(|e| panic!("seeding {:?}: {e}", db.dialect));
}

/// Applies every up migration but the last, seeds rows, and returns the database.
fn at_previous(project: &Project, dialect: Dialect, name: &str) -> Db {
    let db = Db::create(dialect, name);
    let ups = project.files(dialect, ".up.sql");
    for f in &ups[..ups.len() - 1] {
        db.apply(f)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
    seed(&db);
    db
}

fn last(project: &Project, dialect: Dialect, suffix: &str) -> PathBuf {
    project.files(dialect, suffix).pop().unwrap()
}

const BOOKS_BEFORE: &str = "SELECT title, CAST(price_cents AS TEXT), COALESCE(status, '<null>'), COALESCE(isbn, '<null>'), COALESCE(CAST(published_on AS TEXT), '<null>'), version, (SELECT email FROM authors a WHERE a.id = b.author_id) FROM books b ORDER BY title";

const AUTHORS: &str = "SELECT name, email, COALESCE(bio, '<null>'), version, CASE WHEN deleted_at IS NULL THEN 'live' ELSE 'deleted' END FROM authors ORDER BY email";

/// [`up_and_down`] on SQLite, then on PostgreSQL.
fn up_and_down_on_both(project: &Project, name: &str, before: &str, after: &str) {
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        up_and_down(project, d, name, before, after);
    }
}

/// One case on one dialect: rows before, the migration up (rows as `after` reads them must
/// equal those `before` read), then down (rows as `before` reads them again).
fn up_and_down(project: &Project, dialect: Dialect, name: &str, before: &str, after: &str) {
    let db = at_previous(project, dialect, name);
    let rows = db.rows(before);
    let authors = db.rows(AUTHORS);
    assert!(!rows.is_empty());
    let up = last(project, dialect, ".up.sql");
    db.apply(&up)
        .unwrap_or_else(|e| panic!("{dialect:?} {}: {e}", up.display()));
    assert_eq!(db.rows(after), rows, "{dialect:?}: values after up");
    assert_eq!(db.rows(AUTHORS), authors, "{dialect:?}: authors after up");
    let down = last(project, dialect, ".down.sql");
    db.apply(&down)
        .unwrap_or_else(|e| panic!("{dialect:?} {}: {e}", down.display()));
    assert_eq!(db.rows(before), rows, "{dialect:?}: values after down");
    assert_eq!(db.rows(AUTHORS), authors, "{dialect:?}: authors after down");
}

#[test]
fn a_declared_rename_of_a_reference_field_is_honoured() {
    let (p, out) = Project::migrated(
        "      author: { ref: author }",
        "      writer: { ref: author, renamed_from: author }",
        &[],
    );
    assert!(
        out.contains("rename column books.author_id to writer_id"),
        "{out}"
    );
    let up = std::fs::read_to_string(last(&p, Dialect::Postgres, ".up.sql")).unwrap();
    assert!(
        up.contains("RENAME COLUMN \"author_id\" TO \"writer_id\""),
        "{up}"
    );
    assert!(!up.contains("DROP COLUMN"), "{up}");
    let after = BOOKS_BEFORE.replace("b.author_id", "b.writer_id");
    up_and_down_on_both(&p, "refrename", BOOKS_BEFORE, &after);
}

#[test]
fn integer_to_string_applies_on_both_dialects_and_keeps_every_value() {
    let (p, _) = Project::migrated(
        "      price_cents: { type: integer, minimum: 0, maximum: 10000000 }",
        "      price_cents: { type: string, max_length: 20 }",
        &[],
    );
    // Both directions keep the values: up writes each integer as its text, down reads the
    // text back (every value came from an integer).
    up_and_down_on_both(&p, "int2str", BOOKS_BEFORE, BOOKS_BEFORE);
}

#[test]
fn a_declared_rename_of_a_resource_renames_its_table_and_keeps_its_rows() {
    let (p, out) = Project::migrated(
        "  book:\n    description: A book in the catalogue.\n",
        "  volume:\n    renamed_from: book\n    description: A book in the catalogue.\n",
        &[],
    );
    assert!(out.contains("rename table books to volumes"), "{out}");
    assert!(out.contains("0002_rename_books_to_volumes"), "{out}");
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        let up = std::fs::read_to_string(last(&p, d, ".up.sql")).unwrap();
        assert!(
            up.contains("ALTER TABLE \"books\" RENAME TO \"volumes\";"),
            "{up}"
        );
        assert!(!up.contains("DROP TABLE"), "{up}");
    }
    let after = BOOKS_BEFORE.replace("FROM books b", "FROM volumes b");
    up_and_down_on_both(&p, "resrename", BOOKS_BEFORE, &after);
    // The renamed table's own constraints and indexes carry its new name, so the next
    // migration finds them: narrowing the title's length replaces `volumes_title_check`.
    apigen()
        .arg("generate")
        .arg("--dir")
        .arg(&p.dir)
        .assert()
        .success();
    p.edit_contract("max_length: 300", "max_length: 400");
    let (ok, out) = p.migrate(&[]);
    assert!(ok, "{out}");
    let db = Db::create(Dialect::Postgres, "resrename2");
    for f in p.files(Dialect::Postgres, ".up.sql") {
        db.apply(&f)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
    let checks = db.rows("SELECT conname FROM pg_constraint WHERE conrelid = 'volumes'::regclass AND conname LIKE '%title%'");
    assert_eq!(checks, vec!["volumes_title_check".to_string()]);
    let long = "t".repeat(350);
    db.exec(&format!("INSERT INTO authors (id, name, email, created_at, updated_at) VALUES (gen_random_uuid(), 'a', 'a@example.com', now(), now()); INSERT INTO volumes (id, title, author_id, price_cents, created_at, updated_at) VALUES (gen_random_uuid(), '{long}', (SELECT id FROM authors), 1, now(), now());"))
        .expect("a 350-character title fits the new limit");
}

/// `apigen migrate` in a project of `spec` after `edit`: (exit code, output).
fn refused_with(spec: Option<&str>, from: &str, to: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let mut new = apigen();
    new.arg("new").arg(&dir);
    if let Some(s) = spec {
        new.arg("--spec")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("specs").join(s));
    }
    new.assert().success();
    let contract = dir.join(spec.unwrap_or("bookstore.yaml"));
    let text = std::fs::read_to_string(&contract).unwrap();
    assert!(text.contains(from), "{from}");
    std::fs::write(&contract, text.replacen(from, to, 1)).unwrap();
    let out = apigen()
        .arg("migrate")
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "refused");
    assert!(!dir.join("migrations/sqlite").read_dir().unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("0002")));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_undeclared_rename_is_refused_with_the_line_to_declare() {
    let err = refused_with(
        None,
        "      author: { ref: author }",
        "      writer: { ref: author }",
    );
    assert!(
        err.contains("hint: column books.writer_id may be books.author_id renamed"),
        "{err}"
    );
    assert!(
        err.contains("`renamed_from: author` in the field `writer`"),
        "{err}"
    );
    let err = refused_with(None, "      bio: {", "      biography: {");
    assert!(
        err.contains("`renamed_from: bio` in the field `biography`"),
        "{err}"
    );
    let err = refused_with(None, "  book:\n", "  volume:\n");
    assert!(
        err.contains("hint: table volumes may be books renamed"),
        "{err}"
    );
    assert!(err.contains("`volume: { renamed_from: book }`"), "{err}");
    let err = refused_with(
        Some("tasks.openapi.yaml"),
        "        owner_email: { type: string, format: email }",
        "        ownerMail: { type: string, format: email }",
    );
    assert!(
        err.contains("`x-apigen-renamed-from: owner_email` on the property `ownerMail`"),
        "{err}"
    );
    // Following the hint makes it a rename.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    apigen()
        .arg("new")
        .arg(&dir)
        .arg("--spec")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/tasks.openapi.yaml"))
        .assert()
        .success();
    let contract = dir.join("tasks.openapi.yaml");
    let text = std::fs::read_to_string(&contract).unwrap();
    std::fs::write(&contract, text.replacen("        owner_email: { type: string, format: email }", "        ownerMail: { type: string, format: email, x-apigen-renamed-from: owner_email }", 1)).unwrap();
    let out = apigen()
        .arg("migrate")
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("rename column projects.owner_email to owner_mail"),
        "{text}"
    );
}

#[test]
fn a_field_made_required_with_a_default_is_not_null_and_its_nulls_take_the_default() {
    let (p, _) = Project::migrated(
        "      bio: { type: text, optional: true, max_length: 5000 }",
        "      bio: { type: text, max_length: 5000, default: \"(no bio yet)\" }",
        &[],
    );
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        let db = at_previous(&p, d, "reqdefault");
        let before = db.rows(AUTHORS);
        assert!(
            before.iter().any(|r| r.contains("|<null>|")),
            "a NULL bio to fill: {before:?}"
        );
        db.apply(&last(&p, d, ".up.sql"))
            .unwrap_or_else(|e| panic!("{d:?}: {e}"));
        let after = db.rows(AUTHORS);
        let expected: Vec<String> = before
            .iter()
            .map(|r| r.replace("|<null>|", "|(no bio yet)|"))
            .collect();
        assert_eq!(
            after, expected,
            "{d:?}: NULLs took the default, every other value kept"
        );
        // The column is NOT NULL now, with the default for rows that omit it.
        let now = if d == Dialect::Sqlite {
            "'2026-01-02T03:04:05Z'"
        } else {
            "now()"
        };
        let id = if d == Dialect::Sqlite {
            "randomblob(16)"
        } else {
            "gen_random_uuid()"
        };
        assert!(db.exec(&format!("INSERT INTO authors (id, name, email, bio, created_at, updated_at) VALUES ({id}, 'n', 'n@example.com', NULL, {now}, {now});")).is_err(), "{d:?}: NOT NULL");
        db.exec(&format!("INSERT INTO authors (id, name, email, created_at, updated_at) VALUES ({id}, 'm', 'm@example.com', {now}, {now});")).unwrap();
        assert_eq!(
            db.rows("SELECT bio FROM authors WHERE email = 'm@example.com'"),
            vec!["(no bio yet)".to_string()]
        );
        db.apply(&last(&p, d, ".down.sql"))
            .unwrap_or_else(|e| panic!("{d:?} down: {e}"));
        assert!(db.exec(&format!("INSERT INTO authors (id, name, email, bio, created_at, updated_at) VALUES ({id}, 'o', 'o@example.com', NULL, {now}, {now});")).is_ok(), "{d:?}: optional again after down");
    }
}

/// Every row of both tables, for "nothing changed" comparisons.
fn everything(db: &Db) -> Vec<String> {
    let mut rows = db.rows(BOOKS_BEFORE);
    rows.extend(db.rows(AUTHORS));
    rows
}

/// A change the seeded rows break: `apigen migrate` names the risk; on both dialects the
/// migration stops before changing anything, naming the table, the column and the rule
/// (PostgreSQL with the count), and every row is as it was.
fn stopped_by_a_precheck(from: &str, to: &str, rule: &str) {
    let (p, out) = Project::migrated(from, to, &["--allow-destructive"]);
    assert!(
        out.contains("pre-check") && out.contains(rule),
        "apigen migrate names the risk:\n{out}"
    );
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        let db = at_previous(&p, d, "precheck");
        let before = everything(&db);
        let err = db
            .apply(&last(&p, d, ".up.sql"))
            .expect_err("the rows break the change");
        assert!(
            err.contains("apigen pre-check failed") && err.contains(rule),
            "{d:?}: {err}"
        );
        if d == Dialect::Postgres {
            assert!(err.contains("row(s) break"), "{d:?}: the count: {err}");
        }
        assert_eq!(everything(&db), before, "{d:?}: nothing changed");
    }
}

#[test]
fn a_narrower_length_over_longer_values_stops_before_changing_anything() {
    stopped_by_a_precheck("max_length: 300", "max_length: 10", "books.title");
}

#[test]
fn optional_to_required_over_nulls_stops_before_changing_anything() {
    stopped_by_a_precheck(
        "      bio: { type: text, optional: true, max_length: 5000 }",
        "      bio: { type: text, max_length: 5000 }",
        "authors.bio: required now",
    );
}

#[test]
fn a_unique_constraint_over_duplicates_stops_before_changing_anything() {
    stopped_by_a_precheck(
        "default: draft, read_only: true }",
        "default: draft, read_only: true, unique: true }",
        "unique",
    );
}

#[test]
fn removing_an_enum_value_still_in_use_stops_before_changing_anything() {
    stopped_by_a_precheck(
        "status: { enum: [draft, published]",
        "status: { enum: [draft, archived]",
        "books.status: the new rule",
    );
}

#[test]
fn text_to_integer_over_values_that_are_not_integers_stops_before_changing_anything() {
    stopped_by_a_precheck(
        r#"isbn: { type: string, pattern: "^[0-9-]{10,17}$", unique: owner, optional: true }"#,
        "isbn: { type: integer, unique: owner, optional: true }",
        "books.isbn: text to integer",
    );
}

#[test]
fn a_tighter_rule_over_clean_rows_applies_and_keeps_them() {
    let (p, out) = Project::migrated("max_length: 300", "max_length: 100", &[]);
    assert!(out.contains("pre-check"), "{out}");
    up_and_down_on_both(&p, "cleanrule", BOOKS_BEFORE, BOOKS_BEFORE);
}

#[test]
fn turning_soft_delete_on_over_existing_rows_applies_and_keeps_them() {
    // Its partial unique index filters on the `deleted_at` column the same migration adds:
    // the duplicate pre-check must not read that column from the old table.
    let (p, _) = Project::migrated(
        "    description: A book in the catalogue.\n    owned: true\n",
        "    description: A book in the catalogue.\n    owned: true\n    soft_delete: true\n",
        &[],
    );
    up_and_down_on_both(&p, "softon", BOOKS_BEFORE, BOOKS_BEFORE);
}

/// A column of keys becomes a reference (`translator_id: uuid` → `translator: {ref:
/// author}`, the same column) while one row's key leads nowhere: on both dialects the
/// migration stops before changing anything, naming the column and the rule; once the
/// orphan is cleared it applies, up and down, keeping the reference that was sound.
#[test]
fn a_reference_over_orphan_rows_stops_before_changing_anything() {
    let field = "      published_on: { type: date, optional: true }\n";
    let (p, _) = Project::migrated(
        field,
        &format!("{field}      translator_id: {{ type: uuid, optional: true }}\n"),
        &[],
    );
    p.edit_contract(
        "      translator_id: { type: uuid, optional: true }\n",
        "      translator: { ref: author, optional: true }\n",
    );
    let (ok, out) = p.migrate(&[]);
    let rule = "books.translator_id: a reference to authors now, and these rows refer to none";
    assert!(
        ok && out.contains(rule),
        "apigen migrate names the risk:\n{out}"
    );
    let translators = "SELECT title, COALESCE((SELECT email FROM authors a WHERE a.id = b.translator_id), CASE WHEN translator_id IS NULL THEN '<null>' ELSE '<orphan>' END) FROM books b ORDER BY title";
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        let db = at_previous(&p, d, "orphans");
        let nowhere = match d {
            Dialect::Sqlite => "randomblob(16)",
            Dialect::Postgres => "gen_random_uuid()",
        };
        db.exec(&format!(
            "UPDATE books SET translator_id = (SELECT id FROM authors WHERE email = 'ursula@example.com') WHERE title = 'Exhalation';
             UPDATE books SET translator_id = {nowhere} WHERE title = 'The Dispossessed';"
        ))
        .unwrap();
        let before = (everything(&db), db.rows(translators));
        let up = last(&p, d, ".up.sql");
        let err = db.apply(&up).expect_err("the orphan breaks the reference");
        assert!(
            err.contains("apigen pre-check failed") && err.contains("books.translator_id"),
            "{d:?}: {err}"
        );
        assert_eq!(
            (everything(&db), db.rows(translators)),
            before,
            "{d:?}: nothing changed"
        );
        db.exec("UPDATE books SET translator_id = NULL WHERE title = 'The Dispossessed';")
            .unwrap();
        let sound = db.rows(translators);
        assert!(
            sound.contains(&"Exhalation|ursula@example.com".to_string()),
            "{sound:?}"
        );
        db.apply(&up).unwrap_or_else(|e| panic!("{d:?}: {e}"));
        assert_eq!(db.rows(translators), sound, "{d:?}: after up");
        db.apply(&last(&p, d, ".down.sql"))
            .unwrap_or_else(|e| panic!("{d:?}: {e}"));
        assert_eq!(db.rows(translators), sound, "{d:?}: after down");
    }
}

/// The down file of a migration that dropped a column says, in a line the service's
/// `migrate down` reads, that the values cannot come back.
#[test]
fn a_down_that_cannot_restore_is_marked_irreversible() {
    let (p, _) = Project::migrated(
        "      published_on: { type: date, optional: true }\n",
        "",
        &["--allow-destructive"],
    );
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        let down = std::fs::read_to_string(last(&p, d, ".down.sql")).unwrap();
        assert!(
            down.contains("-- apigen:irreversible the values of books.published_on, which the up migration dropped, cannot come back"),
            "{d:?}:\n{down}"
        );
        let up = std::fs::read_to_string(last(&p, d, ".up.sql")).unwrap();
        assert!(!up.contains("apigen:irreversible"), "{d:?}:\n{up}");
        assert!(
            up.contains("migrate up"),
            "the header says how to apply it:\n{up}"
        );
    }
}

/// Text that is exactly an integer converts to that integer on both dialects, and the down
/// migration gives the same text back.
#[test]
fn text_to_integer_over_integer_text_converts_exactly_both_ways() {
    let (p, _) = Project::migrated(
        r#"isbn: { type: string, pattern: "^[0-9-]{10,17}$", unique: owner, optional: true }"#,
        "isbn: { type: integer, unique: owner, optional: true }",
        &["--allow-destructive"],
    );
    let isbns = "SELECT title, COALESCE(CAST(isbn AS TEXT), '<null>') FROM books ORDER BY title";
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        let (type_of, integer) = match d {
            Dialect::Sqlite => ("typeof(isbn)", "integer"),
            Dialect::Postgres => ("pg_typeof(isbn)::text", "bigint"),
        };
        let typed = format!("SELECT title, CASE WHEN isbn IS NULL THEN '<null>' ELSE {type_of} END FROM books ORDER BY title");
        let db = at_previous(&p, d, "textint");
        db.exec("UPDATE books SET isbn = '9780060512750' WHERE title = 'The Dispossessed'; UPDATE books SET isbn = '9780330450966' WHERE title = 'Stories of Your Life';")
            .unwrap();
        let before = db.rows(isbns);
        db.apply(&last(&p, d, ".up.sql"))
            .unwrap_or_else(|e| panic!("{d:?}: {e}"));
        assert_eq!(db.rows(isbns), before, "{d:?}: the same numbers");
        assert_eq!(
            db.rows(&typed),
            [
                "Exhalation|<null>".to_string(),
                format!("Stories of Your Life|{integer}"),
                format!("The Dispossessed|{integer}")
            ],
            "{d:?}: stored as integers"
        );
        db.apply(&last(&p, d, ".down.sql"))
            .unwrap_or_else(|e| panic!("{d:?}: {e}"));
        assert_eq!(db.rows(isbns), before, "{d:?}: the same text after down");
    }
}

/// A down migration that the rows written since its up would break stops before changing
/// anything, on both dialects, instead of failing half-way or rewriting values: an enum
/// value the up added and a row now uses, a fraction in a column the up made a number.
/// Once the rows fit again, it applies and keeps them.
#[test]
fn a_down_the_new_rows_would_break_stops_instead_of_rewriting_them() {
    let cases = [
        (
            "status: { enum: [draft, published]",
            "status: { enum: [draft, published, archived]",
            "UPDATE books SET status = 'archived' WHERE title = 'Exhalation';",
            "books.status: the new rule",
            "UPDATE books SET status = 'draft' WHERE title = 'Exhalation';",
            BOOKS_BEFORE,
        ),
        (
            "price_cents: { type: integer, minimum: 0, maximum: 10000000 }",
            "price_cents: { type: number, minimum: 0, maximum: 10000000 }",
            "UPDATE books SET price_cents = 12.5 WHERE title = 'Exhalation';",
            "books.price_cents: number to integer",
            "UPDATE books SET price_cents = 13 WHERE title = 'Exhalation';",
            // 13.0 as a number, 13 as an integer: the same value.
            "SELECT title, CAST(price_cents AS BIGINT), status FROM books ORDER BY title",
        ),
    ];
    for (from, to, break_it, rule, fix, values) in cases {
        let (p, _) = Project::migrated(from, to, &["--allow-destructive"]);
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            let db = at_previous(&p, d, "downcheck");
            db.apply(&last(&p, d, ".up.sql"))
                .unwrap_or_else(|e| panic!("{d:?} {to}: {e}"));
            db.exec(break_it).unwrap();
            let before = everything(&db);
            let err = db
                .apply(&last(&p, d, ".down.sql"))
                .expect_err("the new rows break the down migration");
            assert!(
                err.contains("apigen pre-check failed") && err.contains(rule),
                "{d:?} {to}: {err}"
            );
            assert_eq!(everything(&db), before, "{d:?} {to}: nothing changed");
            db.exec(fix).unwrap();
            let fixed = (db.rows(values), db.rows(AUTHORS));
            db.apply(&last(&p, d, ".down.sql"))
                .unwrap_or_else(|e| panic!("{d:?} {to}: {e}"));
            assert_eq!(
                (db.rows(values), db.rows(AUTHORS)),
                fixed,
                "{d:?} {to}: after down"
            );
        }
    }
}
