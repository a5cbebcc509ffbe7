//! The runtime crate in the builds `cargo test` at the top does not make: PostgreSQL with
//! Redis and OTLP span export, and the `regex` engine. `cargo test` itself runs the runtime's unit tests on
//! SQLite; here they run again on PostgreSQL (`$APIGEN_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`) with the Redis-backed limiter
//! (`$APIGEN_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`), and clippy checks every
//! feature combination a generated project can ask for.
//!
//! Builds in `target/e2e`, which the generated projects of `tests/e2e.rs` share.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cargo(args: &[&str]) {
    let db = std::env::var("APIGEN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let redis =
        std::env::var("APIGEN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(root())
        .env("CARGO_TARGET_DIR", root().join("target/e2e"))
        .env("DATABASE_URL", db)
        .env("REDIS_URL", redis)
        .env_remove("RUSTFLAGS")
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_runtime_is_lint_clean_and_tested_on_postgres_with_redis_otel_and_with_regex() {
    for features in [
        "postgres,redis,unicode-patterns,otel",
        "sqlite,unicode-patterns,otel",
    ] {
        cargo(&[
            "clippy",
            "--locked",
            "-p",
            "apigen-runtime",
            "--all-targets",
            "--no-default-features",
            "--features",
            features,
            "--",
            "-D",
            "warnings",
        ]);
    }
    cargo(&[
        "test",
        "--locked",
        "-p",
        "apigen-runtime",
        "--no-default-features",
        "--features",
        "postgres,redis,otel",
    ]);
}
