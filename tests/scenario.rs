//! The evolution scenario, end to end, on SQLite and on the real PostgreSQL: a new project,
//! rows written through the running service's API, the user's own edits, contract changes
//! (a new field, a renamed field, a resource added with `add-resource`, a unique index),
//! then `migrate`, `generate` and `check`; the project's tests pass, the earlier rows are
//! still there with their data, and the user's edits are still there.
//!
//! Generated projects build in `target/e2e`, shared with `tests/e2e.rs`. PostgreSQL is
//! reached at `$APIGEN_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! each scenario uses a database of its own, created and dropped with `psql`.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn apigen(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_apigen"))
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .expect("run apigen");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "apigen {args:?} failed:\n{text}");
    text
}

fn cargo(dir: &Path, args: &[&str], envs: &[(&str, &str)]) {
    let out = support::output_within(
        Command::new(env!("CARGO"))
            .args(args)
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", root().join("target/e2e"))
            .env_remove("RUSTFLAGS")
            .envs(envs.iter().copied()),
        support::CARGO_LIMIT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "cargo {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// One HTTP/1.1 request to the service on `port`; returns the status and the body.
/// The signing key the scenario's service runs with (from the environment, as in production).
const JWT_SECRET: &str = "scenario-secret-0123456789-abcdefghijklmnopqrstuvwxyz";

/// One HTTP/1.1 request; `token` (an access token, or empty) goes in `Authorization`.
fn http(
    port: u16,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the service");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.unwrap_or("");
    let auth = if token.is_empty() {
        String::new()
    } else {
        format!("authorization: Bearer {token}\r\n")
    };
    let req = format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len());
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let text = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        unchunk(rest)
    } else {
        rest.to_string()
    };
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

fn unchunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Builds and starts the project's service on a free port against `database_url`.
fn start(dir: &Path, package: &str, database_url: &str) -> (Service, u16) {
    cargo(dir, &["build"], &[]);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(root().join("target/e2e/debug").join(package))
        .current_dir(dir)
        .env("PORT", port.to_string())
        .env("DATABASE_URL", database_url)
        .env("JWT_SECRET", JWT_SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the service");
    let service = Service(child);
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the service did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (service, port)
}

/// Runs the project's built binary with `args` against `database_url`: whether it exited 0,
/// and what it printed.
fn binary(dir: &Path, package: &str, database_url: &str, args: &[&str]) -> (bool, String) {
    let out = support::output_within(
        Command::new(root().join("target/e2e/debug").join(package))
            .args(args)
            .current_dir(dir)
            .env("DATABASE_URL", database_url)
            .env("JWT_SECRET", JWT_SECRET)
            .env("RUST_LOG", "warn"),
        Duration::from_secs(120),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// One value a query reads straight from the database (`sqlite3` or `psql`).
fn query(database: &str, url: &str, select: &str) -> String {
    let out = match database {
        "sqlite" => Command::new("sqlite3")
            .arg(url.trim_start_matches("sqlite://"))
            .arg(select)
            .output(),
        _ => Command::new("psql")
            .args([url, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", select])
            .output(),
    }
    .expect("sqlite3 and psql are installed");
    assert!(
        out.status.success(),
        "{select}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn edit(dir: &Path, p: &str, f: impl FnOnce(String) -> String) {
    let path = dir.join(p);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, f(text)).unwrap();
}

fn psql(sql: &str) {
    let url = std::env::var("APIGEN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let out = Command::new("psql")
        .arg(&url)
        .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql is installed");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn scenario(database: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let package = format!("evolve_{database}");
    let dir = tmp.path().join(&package);
    let out = Command::new(env!("CARGO_BIN_EXE_apigen"))
        .arg("new")
        .arg(&dir)
        .args(["--database", database, "--name", &package])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (url, _db) = match database {
        "sqlite" => (
            format!("sqlite://{}", tmp.path().join("data.db").display()),
            None,
        ),
        _ => {
            let base = std::env::var("APIGEN_TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let name = format!("apigen_scenario_{}", std::process::id());
            psql(&format!("DROP DATABASE IF EXISTS {name}"));
            psql(&format!("CREATE DATABASE {name}"));
            let url = match base.rsplit_once('/') {
                Some((server, _)) => format!("{server}/{name}"),
                None => base.clone(),
            };
            (url, Some(DropDb(name)))
        }
    };

    // 1. Rows written through the API, by an administrator created with the service's own
    // command and signed in over HTTP; anonymous writes are refused.
    let (service, port) = start(&dir, &package, &url);
    let created = support::output_within(
        Command::new(root().join("target/e2e/debug").join(&package))
            .args([
                "create-user",
                "--email",
                "admin@example.com",
                "--role",
                "admin",
            ])
            .current_dir(&dir)
            .env("DATABASE_URL", &url)
            .env("JWT_SECRET", JWT_SECRET)
            .env("NEW_USER_PASSWORD", "a long admin password"),
        Duration::from_secs(120),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        created.status.success(),
        "create-user: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    let (status, login) = http(
        port,
        "",
        "POST",
        "/api/v1/auth/login",
        Some(r#"{"email": "admin@example.com", "password": "a long admin password"}"#),
    );
    assert_eq!(status, 200, "{login}");
    let token = login["data"]["accessToken"].as_str().unwrap().to_string();
    let (status, _) = http(
        port,
        "",
        "POST",
        "/api/v1/authors",
        Some(r#"{"name": "Anonymous", "email": "anon@example.com"}"#),
    );
    assert_eq!(status, 401, "anonymous writes are refused");
    let (status, author) = http(
        port,
        &token,
        "POST",
        "/api/v1/authors",
        Some(
            r#"{"name": "Ursula K. Le Guin", "email": "ursula@example.com", "bio": "Wrote Earthsea."}"#,
        ),
    );
    assert_eq!(status, 201, "{author}");
    let author_id = author["data"]["id"].as_str().unwrap().to_string();
    let (status, book) = http(
        port,
        &token,
        "POST",
        "/api/v1/books",
        Some(&format!(
            r#"{{"title": "A Wizard of Earthsea", "authorId": "{author_id}", "priceCents": 999}}"#
        )),
    );
    assert_eq!(status, 201, "{book}");
    drop(service);

    // 2. The user's own edits: a note in a service, the bookstore's `publish` action
    // implemented, and a test of their own.
    edit(&dir, "src/services/authors.rs", |s| {
        s.replace("//! Business logic for authors: yours to edit.", "//! Business logic for authors: yours to edit.\n//! House rule: authors are never deleted on Fridays (not enforced yet).")
    });
    edit(&dir, "src/services/books.rs", |s| {
        s.replace(
            "    Err(ApiError::NotImplemented(\"publishBook\"))\n",
            PUBLISH,
        )
        .replace("    _state: &AppState,\n", "    state: &AppState,\n")
        .replace("    _path: BookPath,\n", "    path: BookPath,\n")
        .replace(
            "use crate::params::BookPath;\n",
            "use crate::params::BookPath;\nuse crate::repositories::books as table;\n",
        )
    });
    std::fs::write(
        dir.join("tests/house_rules.rs"),
        "#[test]\nfn house_rules_hold() {\n    assert_eq!(2 + 2, 4);\n}\n",
    )
    .unwrap();
    // A migration of the user's own: a column and an index apigen knows nothing of, applied
    // with the service's `migrate up`, and a value in it for the book.
    let own = dir.join("migrations").join(database);
    std::fs::write(
        own.join("0002_shelf_codes.up.sql"),
        "-- Ours: where each book stands in the shop.\nALTER TABLE books ADD COLUMN shelf_code TEXT NOT NULL DEFAULT 'unsorted';\nCREATE INDEX books_shelf_code ON books (shelf_code);\n",
    )
    .unwrap();
    std::fs::write(
        own.join("0002_shelf_codes.down.sql"),
        "DROP INDEX books_shelf_code;\nALTER TABLE books DROP COLUMN shelf_code;\n",
    )
    .unwrap();
    cargo(&dir, &["build"], &[]);
    let (ok, out) = binary(&dir, &package, &url, &["migrate", "up"]);
    assert!(ok && out.contains("applied 0002"), "{out}");
    query(database, &url, "UPDATE books SET shelf_code = 'B7'");

    // 3. Contract changes: a new field, a renamed field, a unique index, soft delete turned
    // on for books (which have rows); then a new resource.
    // The shorter title rebuilds the books table on SQLite.
    edit(&dir, "bookstore.yaml", |s| {
        s.replace("    description: A book in the catalogue.\n    owned: true\n", "    description: A book in the catalogue.\n    owned: true\n    soft_delete: true\n")
            .replace("title: { type: string, min_length: 1, max_length: 300,", "title: { type: string, min_length: 1, max_length: 250,")
            .replace("      bio: { type: text, optional: true, max_length: 5000 }", "      biography: { type: text, optional: true, max_length: 5000, renamed_from: bio }\n      website: { type: url, optional: true }")
            .replace("      name: { type: string, min_length: 1, max_length: 200, trim: true, example: Ursula K. Le Guin }", "      name: { type: string, min_length: 1, max_length: 200, trim: true, unique: true, example: Ursula K. Le Guin }")
    });
    let migrated = apigen(&dir, &["migrate"]);
    assert!(
        migrated.contains("rename column authors.bio to biography"),
        "{migrated}"
    );
    assert!(migrated.contains("wrote migration 0003_"), "{migrated}");
    apigen(&dir, &["generate"]);
    // `migrate status` runs the pending migration's pre-checks against the live rows.
    cargo(&dir, &["build"], &[]);
    let (ok, status) = binary(&dir, &package, &url, &["migrate", "status"]);
    assert!(ok, "{status}");
    assert!(status.contains("0002 shelf codes"), "{status}");
    assert!(
        status.contains("pre-check 0003 clear: books.title"),
        "{status}"
    );
    let added = Command::new(env!("CARGO_BIN_EXE_apigen"))
        .args([
            "add-resource",
            "review",
            "--field",
            "body:text",
            "--field",
            "stars:integer?",
            "--field",
            "book:ref:book",
            "--dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );

    // 4. The project is in step, and its tests pass.
    let checked = apigen(&dir, &["check"]);
    assert!(checked.contains("matches"), "{checked}");
    cargo(&dir, &["test"], &[("DATABASE_URL", &url)]);

    // 5. The earlier rows are still there with their data, under the new schema.
    let (service, port) = start(&dir, &package, &url);
    let (status, got) = http(
        port,
        &token,
        "GET",
        &format!("/api/v1/authors/{author_id}"),
        None,
    );
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        got["data"]["biography"], "Wrote Earthsea.",
        "the renamed column kept its data: {got}"
    );
    assert_eq!(got["data"]["name"], "Ursula K. Le Guin");
    let (status, books) = http(port, &token, "GET", "/api/v1/books", None);
    assert_eq!(status, 200);
    assert_eq!(books["data"][0]["title"], "A Wizard of Earthsea");
    let book_id = books["data"][0]["id"].as_str().unwrap().to_string();
    let (status, published) = http(
        port,
        &token,
        "POST",
        &format!("/api/v1/books/{book_id}/publish"),
        None,
    );
    assert_eq!(
        status, 200,
        "the user's implementation of the action answers: {published}"
    );
    assert_eq!(published["data"]["status"], "published", "{published}");
    // Soft delete, turned on over existing rows: a deleted book is gone for reads, kept
    // in the table, and comes back whole.
    let book_url = format!("/api/v1/books/{book_id}");
    let (status, _) = http(port, &token, "DELETE", &book_url, None);
    assert_eq!(status, 204, "delete a book");
    let (status, _) = http(port, &token, "GET", &book_url, None);
    assert_eq!(status, 404, "a deleted book is not found");
    let (status, restored) = http(port, &token, "POST", &format!("{book_url}/restore"), None);
    assert_eq!(status, 200, "restore: {restored}");
    assert_eq!(
        restored["data"]["title"], "A Wizard of Earthsea",
        "{restored}"
    );
    assert_eq!(restored["data"]["status"], "published", "{restored}");
    let (status, review) = http(
        port,
        &token,
        "POST",
        "/api/v1/reviews",
        Some(&format!(
            r#"{{"body": "Timeless.", "stars": 5, "bookId": "{}"}}"#,
            books["data"][0]["id"].as_str().unwrap()
        )),
    );
    assert_eq!(status, 201, "the added resource works: {review}");
    let (status, dup) = http(
        port,
        &token,
        "POST",
        "/api/v1/authors",
        Some(r#"{"name": "Ursula K. Le Guin", "email": "other@example.com"}"#),
    );
    assert_eq!(status, 409, "the new unique index holds: {dup}");
    drop(service);
    // The user's own column kept its value through apigen's migrations (a table rebuild on
    // SQLite), and its index is still there.
    let index = match database {
        "sqlite" => {
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'books_shelf_code'"
        }
        _ => "SELECT count(*) FROM pg_indexes WHERE indexname = 'books_shelf_code'",
    };
    let shelf = "SELECT shelf_code FROM books";
    assert_eq!(query(database, &url, shelf), "B7");
    assert_eq!(query(database, &url, index), "1");
    // Down and up again with the service's commands: 0004 (reviews), then 0003; the
    // user's column survives both ways. Migration 0001's down is irreversible.
    let (ok, out) = binary(&dir, &package, &url, &["migrate", "down", "--to", "2"]);
    assert!(
        ok && out.contains("reverted 0004") && out.contains("reverted 0003"),
        "{out}"
    );
    assert_eq!(query(database, &url, shelf), "B7");
    assert_eq!(query(database, &url, index), "1");
    let (ok, out) = binary(&dir, &package, &url, &["migrate", "up"]);
    assert!(
        ok && out.contains("applied 0003") && out.contains("applied 0004"),
        "{out}"
    );
    assert_eq!(query(database, &url, shelf), "B7");
    let (ok, out) = binary(&dir, &package, &url, &["migrate", "down", "--to", "0"]);
    assert!(
        !ok && out.contains("migration 1 (init) cannot be reverted exactly"),
        "{out}"
    );
    let (ok, out) = binary(&dir, &package, &url, &["migrate", "status"]);
    assert!(
        ok && out.contains("0004") && !out.contains("pending"),
        "nothing was reverted: {out}"
    );

    // 6. The user's edits are still there.
    assert!(std::fs::read_to_string(dir.join("src/services/authors.rs"))
        .unwrap()
        .contains("House rule"));
    assert!(dir.join("tests/house_rules.rs").exists());
    let books = std::fs::read_to_string(dir.join("src/services/books.rs")).unwrap();
    assert!(books.contains(PUBLISH), "the user's action is kept");
    let tests = std::fs::read_to_string(dir.join("tests/api/books.rs")).unwrap();
    assert!(
        !tests.contains("publish_book_answers_501"),
        "no generated test expects 501 from an action the user wrote"
    );
}

/// The user's implementation of the bookstore's `publish` action: the book's status
/// becomes `published`.
const PUBLISH: &str = "    let mut book = table::get(&state.db, &path.id, None).await?.ok_or(ApiError::NotFound)?;\n    book.status = Some(crate::models::BookStatus::Published);\n    table::update(&state.db, &path.id, &book, None).await?.ok_or(ApiError::NotFound)\n";

/// Drops a scenario's PostgreSQL database at the end.
struct DropDb(String);

impl Drop for DropDb {
    fn drop(&mut self) {
        let url = std::env::var("APIGEN_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let _ = Command::new("psql")
            .arg(&url)
            .args([
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0),
            ])
            .output();
    }
}

#[test]
fn evolve_a_project_on_sqlite() {
    scenario("sqlite");
}

#[test]
fn evolve_a_project_on_postgres() {
    scenario("postgres");
}
