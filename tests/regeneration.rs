//! Regeneration never loses or hides a user's edit, and `check` never passes over a
//! conflict (issue 21). One test per defect found by the seeded scenarios of
//! `tests/torture.rs`, named after it.

mod support;

use predicates::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use support::{apigen, edit, project, read, write};

fn run(dir: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    apigen().args(args).arg("--dir").arg(dir).assert()
}

/// Every file under `root` (path → bytes).
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

const REVIEW: &str =
    "  review:\n    fields:\n      stars: { type: integer, minimum: 1, maximum: 5 }\n";

/// Adds a `review` resource to the bookstore contract by hand.
fn add_review_to_contract(dir: &Path) {
    edit(dir, "bookstore.yaml", |s| {
        let at = s.find("\n  book:\n").expect("book resource") + 1;
        format!("{}{REVIEW}{}", &s[..at], &s[at..])
    });
}

const MY_SERVICE: &str = "//! Reviews, my way.\n\npub fn my_review_helper() -> u32 {\n    42\n}\n";

#[test]
fn a_file_the_user_created_is_never_overwritten_by_generate() {
    let (_t, dir) = project();
    write(&dir, "src/services/reviews.rs", MY_SERVICE);
    add_review_to_contract(&dir);
    // A user-owned path: merged with an empty base, so both sides are in the file.
    let out = run(&dir, &["generate"]).code(1);
    out.stdout(predicate::str::contains(
        "src/services/reviews.rs: CONFLICT",
    ));
    let merged = read(&dir, "src/services/reviews.rs");
    assert!(merged.contains(MY_SERVICE.trim_end()), "{merged}");
    assert!(
        merged.contains("pub use crate::defaults::reviews::*;"),
        "{merged}"
    );
    assert!(merged.contains("<<<<<<< ours\n"), "{merged}");
}

#[test]
fn a_file_the_user_created_at_a_generated_path_is_kept_and_the_rendering_written_beside() {
    let (_t, dir) = project();
    let mine = "// my own router\n";
    let my_test = "#[test]\nfn mine() {}\n";
    write(&dir, "src/routes/reviews.rs", mine);
    write(&dir, "tests/api/reviews.rs", my_test);
    add_review_to_contract(&dir);
    run(&dir, &["generate"])
        .code(1)
        .stdout(predicate::str::contains(
            "src/routes/reviews.rs: KEPT YOURS",
        ))
        .stdout(predicate::str::contains("tests/api/reviews.rs: KEPT YOURS"))
        .stdout(predicate::str::contains("src/routes/reviews.rs.apigen-new"));
    assert_eq!(read(&dir, "src/routes/reviews.rs"), mine);
    assert_eq!(read(&dir, "tests/api/reviews.rs"), my_test);
    assert!(read(&dir, "src/routes/reviews.rs.apigen-new").contains("@generated"));
    // The manifest does not claim the user's files, so the next run refuses again...
    assert!(!read(&dir, ".apigen/manifest.json").contains("\"src/routes/reviews.rs\""));
    run(&dir, &["generate"]).code(1);
    assert_eq!(read(&dir, "src/routes/reviews.rs"), mine);
    run(&dir, &["check"])
        .code(1)
        .stdout(predicate::str::contains("apigen did not write it"));
    // ...until the user moves their file away; then apigen writes its own.
    std::fs::remove_file(dir.join("src/routes/reviews.rs")).unwrap();
    std::fs::remove_file(dir.join("tests/api/reviews.rs")).unwrap();
    run(&dir, &["generate"]).success();
    assert!(read(&dir, "src/routes/reviews.rs").contains("@generated"));
}

#[test]
fn a_file_the_user_created_is_never_overwritten_by_add_resource() {
    let (_t, dir) = project();
    write(&dir, "src/services/reviews.rs", MY_SERVICE);
    write(&dir, "src/routes/reviews.rs", "// mine\n");
    run(
        &dir,
        &["add-resource", "review", "--field", "stars:integer"],
    )
    .code(1)
    .stdout(predicate::str::contains(
        "src/services/reviews.rs: CONFLICT",
    ))
    .stdout(predicate::str::contains(
        "src/routes/reviews.rs: KEPT YOURS",
    ))
    .stdout(predicate::str::contains("wrote migration 0002_add_reviews"));
    assert!(read(&dir, "src/services/reviews.rs").contains(MY_SERVICE.trim_end()));
    assert_eq!(read(&dir, "src/routes/reviews.rs"), "// mine\n");
}

#[test]
fn conflict_markers_start_their_own_line_when_the_file_has_no_final_newline() {
    let (_t, dir) = project();
    // The user's last line has no newline, where the contract's new action goes too.
    edit(&dir, "src/services/books.rs", |s| s + "\n// my note");
    edit(&dir, "bookstore.yaml", |s| {
        s.replace("actions: [publish]", "actions: [publish, archive]")
    });
    run(&dir, &["generate"]).code(1);
    let service = read(&dir, "src/services/books.rs");
    assert!(
        service.lines().any(|l| l == "// my note"),
        "the user's line stays whole:\n{service}"
    );
    for marker in ["<<<<<<<", "|||||||", "=======", ">>>>>>>"] {
        for (i, _) in service.match_indices(marker) {
            assert!(
                i == 0 || service.as_bytes()[i - 1] == b'\n',
                "{marker} does not start its line:\n{service}"
            );
        }
    }
}

#[test]
fn a_clean_merge_keeps_a_missing_final_newline() {
    let (_t, dir) = project();
    edit(&dir, "src/services/books.rs", |s| {
        format!("// my header\n{}", s.trim_end_matches('\n'))
    });
    edit(&dir, "bookstore.yaml", |s| {
        s.replace("actions: [publish]", "actions: [archive, publish]")
    });
    run(&dir, &["generate"]).success();
    let service = read(&dir, "src/services/books.rs");
    assert!(service.starts_with("// my header\n"));
    assert!(service.contains("pub async fn archive_book("));
}

#[test]
fn check_and_generate_fail_while_conflict_markers_remain() {
    let (_t, dir) = project();
    edit(&dir, "src/services/books.rs", |s| {
        s + "\npub fn featured() {}\n"
    });
    edit(&dir, "bookstore.yaml", |s| {
        s.replace("actions: [publish]", "actions: [publish, archive]")
    });
    run(&dir, &["generate"]).code(1);
    let conflicted = read(&dir, "src/services/books.rs");
    let line = conflicted
        .lines()
        .position(|l| l.starts_with("<<<<<<<"))
        .unwrap()
        + 1;
    let before = tree(&dir);
    run(&dir, &["check"])
        .code(1)
        .stdout(predicate::str::contains(format!(
            "src/services/books.rs: unresolved conflict markers at lines {line}"
        )));
    run(&dir, &["generate"])
        .code(1)
        .stderr(predicate::str::contains(format!(
            "src/services/books.rs: unresolved conflict markers at lines {line}"
        )))
        .stderr(predicate::str::contains("nothing was written"));
    assert_eq!(tree(&dir), before, "generate wrote nothing");
    // Markers in a file apigen never wrote count too.
    write(
        &dir,
        "src/mine.rs",
        "<<<<<<< ours\nfn a() {}\n=======\n>>>>>>> theirs\n",
    );
    run(&dir, &["check"])
        .code(1)
        .stdout(predicate::str::contains(
            "src/mine.rs: unresolved conflict markers at lines 1, 4",
        ));
    // Resolved: both back to 0.
    std::fs::remove_file(dir.join("src/mine.rs")).unwrap();
    let resolved: String = conflicted
        .lines()
        .filter(|l| {
            !["<<<<<<<", "|||||||", "=======", ">>>>>>>"]
                .iter()
                .any(|m| l.starts_with(m))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    write(&dir, "src/services/books.rs", &resolved);
    run(&dir, &["generate"]).success();
    run(&dir, &["check"]).success();
}

#[test]
fn add_resource_writes_nothing_when_its_migration_is_refused() {
    let (_t, dir) = project();
    // A destructive change waits in the contract, not yet migrated.
    edit(&dir, "bookstore.yaml", |s| {
        s.replace(
            "      bio: { type: text, optional: true, max_length: 5000 }\n",
            "",
        )
    });
    let before = tree(&dir);
    run(
        &dir,
        &["add-resource", "review", "--field", "stars:integer"],
    )
    .code(2)
    .stderr(predicate::str::contains("destructive change"))
    .stderr(predicate::str::contains("nothing was written"));
    assert_eq!(tree(&dir), before, "exit 2 means nothing was written");
}

#[test]
fn a_manifest_pointing_outside_the_project_is_refused() {
    let (tmp, dir) = project();
    let outside = tmp.path().join("x.yaml");
    std::fs::copy(dir.join("bookstore.yaml"), &outside).unwrap();
    let original = std::fs::read(&outside).unwrap();
    for contract in ["../x.yaml", outside.to_str().unwrap()] {
        edit(&dir, ".apigen/manifest.json", |s| {
            let v: serde_json::Value = serde_json::from_str(&s).unwrap();
            let mut v = v;
            v["contract"] = contract.into();
            serde_json::to_string_pretty(&v).unwrap()
        });
        for args in [
            &["add-resource", "review", "--field", "stars:integer"][..],
            &["generate"],
            &["check"],
            &["migrate"],
        ] {
            run(&dir, args)
                .code(2)
                .stderr(predicate::str::contains("outside the project"));
        }
        assert_eq!(std::fs::read(&outside).unwrap(), original);
    }
    // A symbolic link inside the project that leads outside is refused the same way.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&outside, dir.join("link.yaml")).unwrap();
        edit(&dir, ".apigen/manifest.json", |s| {
            let mut v: serde_json::Value = serde_json::from_str(&s).unwrap();
            v["contract"] = "link.yaml".into();
            serde_json::to_string_pretty(&v).unwrap()
        });
        run(
            &dir,
            &["add-resource", "review", "--field", "stars:integer"],
        )
        .code(2)
        .stderr(predicate::str::contains("leads outside the project"));
        assert_eq!(std::fs::read(&outside).unwrap(), original);
    }
}

#[test]
fn generated_tests_follow_an_operation_the_user_implemented() {
    let (_t, dir) = project();
    assert!(read(&dir, "tests/api/books.rs").contains("publish_book_answers_501_until_implemented"));
    edit(&dir, "src/services/books.rs", |s| {
        s.replace(
            "    Err(ApiError::NotImplemented(\"publishBook\"))\n",
            "    Err(ApiError::NotFound)\n",
        )
    });
    // Any later regeneration, with or without a contract change, follows the user.
    run(&dir, &["generate"]).success();
    assert!(!read(&dir, "tests/api/books.rs").contains("publish_book_answers_501"));
    add_review_to_contract(&dir);
    run(&dir, &["generate"]).success();
    run(&dir, &["migrate"]).success();
    assert!(!read(&dir, "tests/api/books.rs").contains("publish_book_answers_501"));
    run(&dir, &["check"]).success();
}

#[test]
fn new_with_force_never_overwrites_a_file_apigen_did_not_write() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("svc");
    write(&dir, "src/main.rs", "fn main() { println!(\"mine\"); }\n");
    write(&dir, "src/services/books.rs", "// my business logic\n");
    apigen()
        .arg("new")
        .arg(&dir)
        .arg("--force")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("src/main.rs: KEPT YOURS"));
    assert_eq!(
        read(&dir, "src/main.rs"),
        "fn main() { println!(\"mine\"); }\n"
    );
    assert_eq!(
        read(&dir, "src/services/books.rs"),
        "// my business logic\n"
    );
    assert!(read(&dir, "src/main.rs.apigen-new").contains("@generated"));
    assert!(!read(&dir, ".apigen/manifest.json").contains("\"src/main.rs\""));
    // apigen's own files, listed in the manifest, are rewritten by a second `new --force`.
    edit(&dir, "src/lib.rs", |s| s + "// stale\n");
    std::fs::remove_file(dir.join("src/main.rs")).unwrap();
    apigen()
        .arg("new")
        .arg(&dir)
        .arg("--force")
        .assert()
        .success();
    assert!(!read(&dir, "src/lib.rs").contains("// stale"));
    assert!(read(&dir, "src/main.rs").contains("@generated"));
}
