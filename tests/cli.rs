//! The `apigen` binary as a user meets it: exit codes (0 ok, 2 bad input), messages that
//! name the file and location, files written, and nothing written on failure.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

fn apigen() -> Command {
    Command::cargo_bin("apigen").expect("binary is built")
}

fn spec(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs `apigen new OUT --spec SPEC` on `text`, expects exit 2 with every `needles` in
/// stderr, and checks nothing was written.
fn refuses(name: &str, text: &str, needles: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let s = spec(tmp.path(), name, text);
    let out = tmp.path().join("out");
    let mut assert = apigen()
        .arg("new")
        .arg(&out)
        .arg("--spec")
        .arg(&s)
        .assert()
        .code(2);
    for n in needles {
        assert = assert.stderr(predicate::str::contains(*n));
    }
    assert!(!out.exists(), "nothing is written for {name}");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "no staging folder is left behind: {leftovers:?}"
    );
}

#[test]
fn missing_file_is_named() {
    apigen()
        .args(["inspect", "no/such/contract.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no/such/contract.yaml"))
        .stderr(predicate::str::contains("no such file"));
}

#[test]
fn invalid_yaml_reports_the_line() {
    refuses(
        "broken.yaml",
        "openapi: 3.0.3\ninfo:\n  title: x\n  version: [1\npaths: {}\n",
        &["broken.yaml:", "invalid YAML", "nothing was written"],
    );
}

#[test]
fn invalid_json_reports_the_line() {
    refuses(
        "broken.json",
        "{\n  \"openapi\": \"3.0.3\",\n  \"info\": {\n}",
        &["broken.json:", "invalid JSON"],
    );
}

#[test]
fn unresolvable_ref_names_its_pointer() {
    let text = "openapi: 3.0.3\ninfo: { title: t, version: '1' }\npaths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: { $ref: '#/components/schemas/Missing' }\n";
    refuses(
        "ref.yaml",
        text,
        &[
            "ref.yaml:11",
            "#/components/schemas/Missing",
            "points at nothing",
            "1 error(s)",
        ],
    );
}

#[test]
fn external_ref_is_refused_with_a_hint() {
    let text = "openapi: 3.0.3\ninfo: { title: t, version: '1' }\npaths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: { $ref: 'other.yaml#/Pet' }\n";
    refuses("ext.yaml", text, &["external $ref", "bundle"]);
}

#[test]
fn swagger_2_is_refused_with_what_to_do() {
    refuses(
        "old.yaml",
        "swagger: '2.0'\ninfo: { title: t, version: '1' }\npaths: {}\n",
        &["Swagger 2.0", "not supported", "convert it to OpenAPI 3"],
    );
}

#[test]
fn unknown_document_kind_is_refused() {
    refuses(
        "what.yaml",
        "hello: world\n",
        &["not an OpenAPI 3 document"],
    );
}

#[test]
fn invalid_domain_spec_names_the_field() {
    refuses(
        "shop.yaml",
        "name: shop\nresources:\n  item:\n    fields:\n      price: { type: money }\n",
        &[
            "shop.yaml:5",
            "#/resources/item/fields/price/type",
            "unknown field type `money`",
        ],
    );
}

#[test]
fn domain_spec_reports_every_problem_at_once() {
    let text = "name: shop\nresources:\n  item:\n    fields:\n      price: { type: money }\n      maker: { ref: nobody }\n";
    refuses(
        "shop.yaml",
        text,
        &[
            "unknown field type `money`",
            "`nobody` is not a resource",
            "2 error(s)",
        ],
    );
}

#[test]
fn invalid_service_name_is_refused() {
    refuses(
        "bad.yaml",
        "name: 9lives!\nresources:\n  cat:\n    fields:\n      name: { type: string }\n",
        &["invalid service name"],
    );
}

#[test]
fn invalid_crate_name_option_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    apigen()
        .arg("new")
        .arg(tmp.path().join("x"))
        .args(["--name", "my-crate!"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid --name"));
    assert!(!tmp.path().join("x").exists());
}

#[test]
fn non_empty_target_is_refused_without_force_and_user_files_survive_force() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("svc");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    apigen()
        .arg("new")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not empty"))
        .stderr(predicate::str::contains("--force"));
    assert!(!out.join("Cargo.toml").exists());
    // With --force the project is written; files apigen does not know are untouched.
    std::fs::create_dir_all(out.join("src/services")).unwrap();
    std::fs::write(out.join("src/services/books.rs"), "// my business logic\n").unwrap();
    apigen()
        .arg("new")
        .arg(&out)
        .arg("--force")
        .assert()
        .success()
        .stdout(predicate::str::contains("kept"));
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("src/services/books.rs")).unwrap(),
        "// my business logic\n"
    );
    assert!(std::fs::read_to_string(out.join("src/lib.rs"))
        .unwrap()
        .contains("@generated by apigen"));
}

#[test]
fn new_writes_a_project_from_the_starter_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("shop");
    apigen()
        .arg("new")
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("wrote"))
        .stdout(predicate::str::contains("cargo run"));
    for f in [
        "Cargo.toml",
        "README.md",
        ".env.example",
        "openapi.json",
        "bookstore.yaml",
        "src/lib.rs",
        "src/services/books.rs",
        "migrations/sqlite/0001_init.up.sql",
        "migrations/postgres/0001_init.down.sql",
        "tests/api/main.rs",
        ".apigen/manifest.json",
    ] {
        assert!(out.join(f).is_file(), "{f} is written");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(".apigen/manifest.json")).unwrap())
            .unwrap();
    let owner = |p: &str| {
        manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == p)
            .map(|f| f["owner"].as_str().unwrap().to_string())
    };
    assert_eq!(owner("src/services/books.rs").as_deref(), Some("user"));
    assert_eq!(owner("src/routes/books.rs").as_deref(), Some("generated"));
}

#[test]
fn dry_run_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("svc");
    apigen()
        .arg("new")
        .arg(&out)
        .arg("--dry-run")
        .assert()
        .success()
        .stdout(predicate::str::contains("would write"))
        .stdout(predicate::str::contains("src/lib.rs"));
    assert!(!out.exists());
}

#[test]
fn database_flag_selects_postgres() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("svc");
    apigen()
        .arg("new")
        .arg(&out)
        .args(["--database", "postgres"])
        .assert()
        .success();
    let cargo = std::fs::read_to_string(out.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("\"postgres\""), "{cargo}");
    assert!(std::fs::read_to_string(out.join("src/lib.rs"))
        .unwrap()
        .contains("migrations/postgres"));
}

#[test]
fn templates_override_one_file_and_refuse_unknown_names() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("tpl");
    std::fs::create_dir_all(t.join("src")).unwrap();
    std::fs::write(
        t.join("README.md.j2"),
        "# {{ model.title }} (house style)\n",
    )
    .unwrap();
    let out = tmp.path().join("svc");
    apigen()
        .arg("new")
        .arg(&out)
        .arg("--templates")
        .arg(&t)
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(out.join("README.md")).unwrap(),
        "# Bookstore API (house style)\n"
    );
    std::fs::write(t.join("src/nonsense.rs.j2"), "x").unwrap();
    let out2 = tmp.path().join("svc2");
    apigen()
        .arg("new")
        .arg(&out2)
        .arg("--templates")
        .arg(&t)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no embedded template is named `src/nonsense.rs.j2`",
        ));
    assert!(!out2.exists());
}

#[test]
fn override_template_with_an_undefined_value_fails_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("tpl");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(t.join("README.md.j2"), "{{ model.no_such_field }}\n").unwrap();
    let out = tmp.path().join("svc");
    apigen()
        .arg("new")
        .arg(&out)
        .arg("--templates")
        .arg(&t)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("README.md.j2"));
    assert!(!out.exists());
}

#[test]
fn unsupported_constructs_are_named_and_still_generate() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tmp.path().join("tasks");
    apigen()
        .arg("new")
        .arg(&out)
        .arg("--spec")
        .arg(root.join("specs/tasks.openapi.yaml"))
        .assert()
        .success()
        .stderr(predicate::str::contains("tasks.openapi.yaml:"))
        .stderr(predicate::str::contains(
            "multipart/form-data are not served yet",
        ));
    assert!(std::fs::read_to_string(out.join("src/services/tasks.rs"))
        .unwrap()
        .contains("NotImplemented(\"uploadAttachment\")"));
}

#[test]
fn inspect_prints_the_model_and_writes_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    apigen()
        .arg("inspect")
        .arg(root.join("specs/bookstore.yaml"))
        .assert()
        .success()
        .stdout(predicate::str::contains("resource books"))
        .stdout(predicate::str::contains("/api/v1/books/{id}"));
    let out = apigen()
        .arg("inspect")
        .arg(root.join("specs/tasks.openapi.yaml"))
        .args(["--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).expect("json output");
    assert_eq!(v["model"]["title"], "Task Tracker");
    assert!(v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["severity"] == "warning"));
}

#[test]
fn inspect_json_lists_errors_and_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let s = spec(
        tmp.path(),
        "shop.yaml",
        "name: shop\nresources:\n  item:\n    fields:\n      price: { type: money }\n",
    );
    let out = apigen()
        .arg("inspect")
        .arg(&s)
        .args(["--format", "json"])
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v["diagnostics"][0]["pointer"],
        "/resources/item/fields/price/type"
    );
    assert_eq!(v["diagnostics"][0]["line"], 5);
}

#[test]
fn usage_errors_exit_2() {
    apigen().arg("frobnicate").assert().code(2);
    apigen().args(["new"]).assert().code(2);
}

#[test]
fn paths_differing_inside_a_segment_share_a_route_told_apart_by_template() {
    let tmp = tempfile::tempdir().unwrap();
    let op = |id: &str, method: &str| {
        format!("    {method}:\n      operationId: {id}\n      parameters: [ {{ name: id, in: path, required: true, schema: {{ type: string }} }} ]\n      responses: {{ \"200\": {{ description: ok }} }}\n")
    };
    // `/files/{id}.json` beside `/files/{id}`, and a Google-style custom method.
    let text = format!(
        "openapi: 3.0.3\ninfo: {{ title: Clash, version: \"1\" }}\npaths:\n  /files/{{id}}:\n{}  /files/{{id}}.json:\n{}  /files/{{id}}:archive:\n{}",
        op("getFile", "get"),
        op("getFileJson", "get"),
        op("archiveFile", "post")
    );
    let file = spec(tmp.path(), "clash.yaml", &text);
    let out = apigen()
        .arg("new")
        .arg(tmp.path().join("clash"))
        .arg("--spec")
        .arg(&file)
        .assert()
        .success()
        .get_output()
        .clone();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !said.contains("same route"),
        "no operation is skipped:\n{said}"
    );
    let routes = std::fs::read_to_string(tmp.path().join("clash/src/routes/mod.rs")).unwrap();
    assert_eq!(routes.matches("route_service(").count(), 1, "{routes}");
    for needle in [
        "ByTemplate",
        "Piece::Lit(\".json\")",
        "Piece::Lit(\":archive\")",
        "get_file_json",
        "archive_file",
        "get_file",
    ] {
        assert!(routes.contains(needle), "{needle}:\n{routes}");
    }
}
