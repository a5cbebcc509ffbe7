//! Keeping a project in step with its contract: `apigen generate` and `apigen check` on a
//! real project folder, with user edits, hand edits of generated files, conflicts and
//! removed resources.

mod support;

use predicates::prelude::*;
use std::path::Path;
use support::{apigen, edit, project, read};

fn check(dir: &Path) -> assert_cmd::assert::Assert {
    apigen().arg("check").arg("--dir").arg(dir).assert()
}

fn generate(dir: &Path) -> assert_cmd::assert::Assert {
    apigen().arg("generate").arg("--dir").arg(dir).assert()
}

const ADD_PAGES: (&str, &str) = ("      published_on: { type: date, optional: true }", "      published_on: { type: date, optional: true }\n      pages: { type: integer, minimum: 1, optional: true }");

#[test]
fn a_new_project_matches_its_contract() {
    let (_t, dir) = project();
    check(&dir)
        .success()
        .stdout(predicate::str::contains("matches bookstore.yaml"));
    generate(&dir)
        .success()
        .stdout(predicate::str::contains("up to date"));
}

#[test]
fn check_fails_on_a_hand_edited_generated_file_and_generate_restores_it() {
    let (_t, dir) = project();
    let original = read(&dir, "src/routes/books.rs");
    edit(&dir, "src/routes/books.rs", |s| s + "// sneaky\n");
    check(&dir)
        .code(1)
        .stdout(predicate::str::contains(
            "src/routes/books.rs: edited by hand",
        ))
        .stdout(predicate::str::contains("-// sneaky"));
    generate(&dir)
        .success()
        .stdout(predicate::str::contains("src/routes/books.rs: updated"));
    assert_eq!(read(&dir, "src/routes/books.rs"), original);
    check(&dir).success();
}

#[test]
fn a_field_change_touches_no_user_file() {
    let (_t, dir) = project();
    edit(&dir, "src/services/books.rs", |s| {
        format!("// Business rules for books live here.\n{s}")
    });
    let mine = read(&dir, "src/services/books.rs");
    edit(&dir, "bookstore.yaml", |s| {
        s.replace(ADD_PAGES.0, ADD_PAGES.1)
    });
    check(&dir)
        .code(1)
        .stdout(predicate::str::contains("src/models.rs: out of date"))
        .stdout(predicate::str::contains(
            "src/defaults/books.rs: out of date",
        ))
        .stdout(predicate::str::contains("src/services/books.rs").not());
    generate(&dir)
        .success()
        .stdout(predicate::str::contains("src/services/").not());
    assert_eq!(
        read(&dir, "src/services/books.rs"),
        mine,
        "the user's file is untouched"
    );
    assert!(read(&dir, "src/defaults/books.rs").contains("pages: body.pages"));
    assert!(read(&dir, "src/models.rs").contains("pub pages: Option<i64>"));
}

/// The publish stub of the starter bookstore, as `apigen new` writes it.
const PUBLISH_STUB: &str = "    Err(ApiError::NotImplemented(\"publishBook\"))\n";

/// An implementation of the bookstore's `publish` action that compiles against it.
const PUBLISH: &str = "    let mut book = table::get(&state.db, &path.id, None).await?.ok_or(ApiError::NotFound)?;\n    book.status = Some(crate::models::BookStatus::Published);\n    table::update(&state.db, &path.id, &book, None).await?.ok_or(ApiError::NotFound)\n";

/// Implements `publish` in the user's file (and adds the import it needs).
fn implement_publish(dir: &Path) {
    edit(dir, "src/services/books.rs", |s| {
        s.replace(PUBLISH_STUB, PUBLISH)
            .replace("    _state: &AppState,\n", "    state: &AppState,\n")
            .replace("    _path: BookPath,\n", "    path: BookPath,\n")
            .replace(
                "pub use crate::defaults::books::*;\n",
                "pub use crate::defaults::books::*;\nuse crate::repositories::books as table;\n",
            )
    });
}

#[test]
fn a_new_action_merges_into_the_user_file_and_the_tests_follow_what_the_user_wrote() {
    let (_t, dir) = project();
    assert!(read(&dir, "tests/api/books.rs")
        .contains("async fn publish_book_answers_501_until_implemented"));
    implement_publish(&dir);
    // Generating again follows the user's implementation: no test expects 501 from it.
    generate(&dir).success();
    assert!(!read(&dir, "tests/api/books.rs").contains("publish_book_answers_501"));
    check(&dir).success();
    edit(&dir, "bookstore.yaml", |s| {
        s.replace("actions: [publish]", "actions: [publish, archive]")
    });
    generate(&dir).success().stdout(predicate::str::contains(
        "src/services/books.rs: merged into your edits",
    ));
    let service = read(&dir, "src/services/books.rs");
    assert!(
        service.contains(PUBLISH),
        "the user's implementation is kept"
    );
    assert!(
        service.contains("pub async fn archive_book("),
        "the new action's stub is merged in"
    );
    let tests = read(&dir, "tests/api/books.rs");
    assert!(!tests.contains("publish_book_answers_501"));
    assert!(tests.contains("archive_book_answers_501_until_implemented"));
    check(&dir).success();
}

#[test]
fn a_schema_change_without_a_migration_is_drift() {
    let (_t, dir) = project();
    edit(&dir, "bookstore.yaml", |s| {
        s.replace(ADD_PAGES.0, ADD_PAGES.1)
    });
    generate(&dir).success();
    check(&dir)
        .code(1)
        .stdout(predicate::str::contains(
            ".apigen/schema.json: the contract changes the database schema",
        ))
        .stdout(predicate::str::contains("apigen migrate"));
}

#[test]
fn conflicting_edits_get_markers_and_a_non_zero_exit() {
    let (_t, dir) = project();
    // The user adds a function at the very end, where the contract's new action goes too.
    edit(&dir, "src/services/books.rs", |s| {
        s + "\n/// Books on sale this week. // mine\npub fn featured() -> Vec<String> {\n    Vec::new()\n}\n"
    });
    edit(&dir, "bookstore.yaml", |s| {
        s.replace("actions: [publish]", "actions: [publish, archive]")
    });
    generate(&dir)
        .code(1)
        .stdout(predicate::str::contains("src/services/books.rs: CONFLICT"))
        .stderr(predicate::str::contains("have conflicts"));
    let service = read(&dir, "src/services/books.rs");
    assert!(
        service.contains("<<<<<<<") && service.contains(">>>>>>>"),
        "standard conflict markers"
    );
    assert!(
        service.contains("// mine"),
        "the user's side is in the file"
    );
}

#[test]
fn files_of_a_removed_resource_are_deleted_only_when_untouched() {
    let (_t, dir) = project();
    edit(&dir, "tests/api/books.rs", |s| s + "// my extra test\n");
    edit(&dir, "bookstore.yaml", |s| {
        let start = s.find("  book:\n").unwrap();
        s[..start].to_string()
    });
    generate(&dir)
        .success()
        .stdout(predicate::str::contains("src/routes/books.rs: removed"))
        .stdout(predicate::str::contains("tests/api/books.rs: kept"))
        .stdout(predicate::str::contains("src/services/books.rs: kept"));
    assert!(!dir.join("src/routes/books.rs").exists());
    assert!(
        dir.join("tests/api/books.rs").exists(),
        "an edited generated file is never deleted"
    );
    assert!(
        dir.join("src/services/books.rs").exists(),
        "a user file is never deleted"
    );
}

#[test]
fn dry_run_and_json_output() {
    let (_t, dir) = project();
    edit(&dir, "bookstore.yaml", |s| {
        s.replace(ADD_PAGES.0, ADD_PAGES.1)
    });
    let before = read(&dir, "src/models.rs");
    apigen()
        .arg("generate")
        .arg("--dir")
        .arg(&dir)
        .arg("--dry-run")
        .assert()
        .success()
        .stdout(predicate::str::contains("would be src/models.rs: updated"));
    assert_eq!(
        read(&dir, "src/models.rs"),
        before,
        "a dry run writes nothing"
    );
    let out = apigen()
        .arg("check")
        .arg("--dir")
        .arg(&dir)
        .args(["--format", "json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["clean"], false);
    assert!(v["drift"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["path"] == "src/models.rs"
            && d["diff"].as_str().unwrap().contains("+++ b/src/models.rs")));
}

#[test]
fn not_a_project_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    apigen()
        .arg("check")
        .arg("--dir")
        .arg(tmp.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not an apigen project"));
    apigen()
        .arg("generate")
        .arg("--dir")
        .arg(tmp.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("apigen new"));
}

#[test]
fn an_invalid_contract_change_writes_nothing() {
    let (_t, dir) = project();
    edit(&dir, "bookstore.yaml", |s| {
        s.replace("type: email", "type: mail")
    });
    let before = read(&dir, "src/models.rs");
    generate(&dir)
        .code(2)
        .stderr(predicate::str::contains("unknown field type `mail`"))
        .stderr(predicate::str::contains("bookstore.yaml:"));
    assert_eq!(read(&dir, "src/models.rs"), before);
}

#[test]
fn a_destructive_change_is_refused_without_the_flag() {
    let (_t, dir) = project();
    edit(&dir, "bookstore.yaml", |s| {
        s.replace(
            "      bio: { type: text, optional: true, max_length: 5000 }\n",
            "",
        )
    });
    apigen()
        .arg("migrate")
        .arg("--dir")
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "destructive change: dropping column authors.bio deletes its data",
        ))
        .stderr(predicate::str::contains("--allow-destructive"));
    assert!(
        !dir.join("migrations/sqlite/0002_drop_bio_from_authors.up.sql")
            .exists(),
        "nothing is written"
    );
    apigen()
        .arg("migrate")
        .arg("--dir")
        .arg(&dir)
        .arg("--allow-destructive")
        .assert()
        .success();
    let up = read(
        &dir,
        "migrations/postgres/0002_drop_bio_from_authors.up.sql",
    );
    assert!(
        up.contains("ALTER TABLE \"authors\" DROP COLUMN \"bio\";"),
        "{up}"
    );
    check(&dir).code(1); // the code is not regenerated yet
    generate(&dir).success();
    check(&dir).success();
}

#[test]
fn migrate_versions_follow_existing_files_and_never_rewrite_them() {
    let (_t, dir) = project();
    edit(&dir, "bookstore.yaml", |s| {
        s.replace(ADD_PAGES.0, ADD_PAGES.1)
    });
    apigen()
        .arg("migrate")
        .arg("--dir")
        .arg(&dir)
        .assert()
        .success()
        .stdout(predicate::str::contains("0002_add_pages_to_books"));
    let first = read(&dir, "migrations/sqlite/0002_add_pages_to_books.up.sql");
    assert!(
        first.contains("ALTER TABLE \"books\" ADD COLUMN \"pages\" INTEGER"),
        "{first}"
    );
    apigen()
        .arg("migrate")
        .arg("--dir")
        .arg(&dir)
        .assert()
        .success()
        .stdout(predicate::str::contains("up to date"));
    edit(&dir, "bookstore.yaml", |s| {
        s.replace("      pages: { type: integer, minimum: 1, optional: true }", "      pages: { type: integer, minimum: 1, optional: true }\n      edition: { type: integer, optional: true }")
    });
    apigen()
        .arg("migrate")
        .arg("--dir")
        .arg(&dir)
        .args(["--name", "add edition"])
        .assert()
        .success();
    assert!(dir
        .join("migrations/postgres/0003_add_edition.down.sql")
        .exists());
    assert_eq!(
        read(&dir, "migrations/sqlite/0002_add_pages_to_books.up.sql"),
        first,
        "an existing migration is never rewritten"
    );
}

#[test]
fn add_resource_edits_the_contract_and_keeps_its_comments() {
    let (_t, dir) = project();
    apigen()
        .arg("add-resource")
        .arg("review")
        .args([
            "--field",
            "body:text",
            "--field",
            "stars:integer?",
            "--field",
            "book:ref:book",
            "--dir",
        ])
        .arg(&dir)
        .assert()
        .success()
        .stdout(predicate::str::contains("added `review`"))
        .stdout(predicate::str::contains("src/routes/reviews.rs: created"))
        .stdout(predicate::str::contains("0002_add_reviews"));
    let contract = read(&dir, "bookstore.yaml");
    assert!(
        contract.starts_with("# apigen domain spec: a small bookstore."),
        "comments are kept"
    );
    assert!(contract.contains("  review:\n    fields:\n      body: { type: text }\n      stars: { type: integer, optional: true }\n      book: { ref: book }\n"), "{contract}");
    check(&dir).success();
    for (name, field, error) in [
        ("review", "x:string", "exists already"),
        ("Bad-Name", "x:string", "invalid resource name"),
        ("thing", "x:money", "unknown type `money`"),
    ] {
        apigen()
            .arg("add-resource")
            .arg(name)
            .args(["--field", field, "--dir"])
            .arg(&dir)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(error));
    }
}

#[test]
fn add_resource_to_an_openapi_contract_designs_it_as_a_domain_spec_resource() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tasks");
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/tasks.openapi.yaml");
    apigen()
        .arg("new")
        .arg(&dir)
        .arg("--spec")
        .arg(&spec)
        .assert()
        .success();
    apigen()
        .arg("add-resource")
        .arg("note")
        .args(["--field", "body:text", "--field", "task:ref:task", "--dir"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(predicate::str::contains("0002_add_notes"));
    let contract = read(&dir, "tasks.openapi.yaml");
    // The same design as a domain spec's resource: a merge-patch schema for PATCH, a nested
    // list per reference; bare bodies page by number; errors answer with the contract's own
    // error schema; the reference takes the referenced key's type (Task ids are integers).
    for want in [
        "NotePatch:",
        "/tasks/{taskId}/notes:",
        "name: perPage",
        "operationId: updateNote",
    ] {
        assert!(contract.contains(want), "{want} missing from the contract");
    }
    let doc: serde_json::Value = serde_yaml_ng::from_str(&contract).unwrap();
    assert_eq!(
        doc.pointer("/components/schemas/Note/properties/taskId/type")
            .unwrap(),
        "integer"
    );
    assert_eq!(
        doc.pointer("/paths/~1notes~1{id}/patch/requestBody/content/application~1json/schema/$ref")
            .unwrap(),
        "#/components/schemas/NotePatch"
    );
    let error = doc
        .pointer("/paths/~1notes/post/responses/400/$ref")
        .unwrap();
    assert_eq!(error, "#/components/responses/Problem");
    check(&dir).success();
}
