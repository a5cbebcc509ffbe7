//! The regeneration torture test (issue 21): seeded random scenarios that try to make
//! apigen lose or hide a user's edit.
//!
//! Each scenario creates a project from one of the two example contracts (the domain spec
//! `specs/bookstore.yaml`, the OpenAPI document `specs/tasks.openapi.yaml`), then runs one
//! to three rounds of: random user edits (append a function, change or delete a line,
//! edit the lines a contract change touches, take over a 501 stub, add new files under
//! `src/` and `tests/` — some at paths the next change will generate —, drop a final
//! newline), one random contract change (add, remove or rename a field with
//! `renamed_from`, add or remove a resource, change a constraint, add an action), and
//! `generate` + `migrate` (in either order) or `add-resource`. After every command each edit
//! is classified: kept verbatim, or inside conflict markers the command reported; anything
//! else fails the test with the scenario's seed. Each round also checks that nothing was
//! written outside the project, that exit codes match what happened, that conflict markers
//! start their own line, that `check` is 0 after a clean `generate` + `migrate` and 1 after
//! a hand edit of a generated file or with markers left (when `generate` refuses too and
//! writes nothing), and that the generated tests follow the stubs the user implemented.
//!
//! `APIGEN_TORTURE_CASES` (default 30) scenarios per contract, from `APIGEN_TORTURE_SEED`
//! (default fixed); `scripts/torture.sh` runs the long version. A failure prints the seed
//! of its scenario: rerun it alone with `APIGEN_TORTURE_SEED=<seed> APIGEN_TORTURE_CASES=1`.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_yaml_ng::{Mapping, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Domain,
    OpenApi,
}

impl Kind {
    fn spec(self) -> &'static str {
        match self {
            Kind::Domain => "bookstore.yaml",
            Kind::OpenApi => "tasks.openapi.yaml",
        }
    }
}

/// What an edit promises about the file after any later command.
#[derive(Debug, Clone)]
enum Expect {
    /// These lines, contiguous: outside any conflict, or in the user's side of one.
    Block(Vec<String>),
    /// This whole line: outside any conflict, or in the user's side of one.
    Line(String),
    /// This line was deleted: it may appear again only as often as apigen's new rendering
    /// has it beyond the one the user deleted (or inside apigen's side of a conflict).
    Deleted(String),
    /// The file, byte for byte.
    Exact(String),
    /// apigen's own last line, left without its final newline: whole wherever it is, and
    /// still there unless apigen's new rendering dropped it (the user never changed it).
    Unterminated(String),
}

#[derive(Debug, Clone)]
struct Edit {
    id: u32,
    file: String,
    what: String,
    expect: Expect,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    Kept,
    InMarkers,
    Lost,
}

/// Totals over a run.
#[derive(Debug, Default)]
struct Tally {
    scenarios: usize,
    rounds: usize,
    edits: usize,
    kept: usize,
    in_markers: usize,
    conflicted_runs: usize,
    refused_runs: usize,
    commands: BTreeMap<String, usize>,
}

/// A file's lines, each with where it stands relative to conflict blocks.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Side {
    Outside,
    Ours,
    Original,
    Theirs,
    Marker,
}

fn sides(text: &str) -> Vec<(Side, &str)> {
    let mut side = Side::Outside;
    let mut out = Vec::new();
    for line in text.lines() {
        let starts = |m: &str| line.starts_with(m);
        if starts("<<<<<<<") {
            side = Side::Ours;
            out.push((Side::Marker, line));
        } else if starts("|||||||") && side == Side::Ours {
            side = Side::Original;
            out.push((Side::Marker, line));
        } else if line == "=======" && matches!(side, Side::Ours | Side::Original) {
            side = Side::Theirs;
            out.push((Side::Marker, line));
        } else if starts(">>>>>>>") && side == Side::Theirs {
            side = Side::Outside;
            out.push((Side::Marker, line));
        } else {
            out.push((side, line));
        }
    }
    out
}

fn judge(text: Option<&str>, pristine: Option<&str>, expect: &Expect, conflicted: bool) -> Verdict {
    let Some(text) = text else {
        return Verdict::Lost;
    };
    let lines = sides(text);
    let in_markers = |ok: bool| {
        if ok && conflicted {
            Verdict::InMarkers
        } else {
            Verdict::Lost
        }
    };
    match expect {
        Expect::Exact(bytes) => {
            if text == bytes {
                Verdict::Kept
            } else {
                Verdict::Lost
            }
        }
        Expect::Line(l) => {
            if lines.iter().any(|(s, x)| *s == Side::Outside && x == l) {
                Verdict::Kept
            } else {
                in_markers(lines.iter().any(|(s, x)| *s == Side::Ours && x == l))
            }
        }
        Expect::Block(block) => {
            let n = block.len();
            let found = |side: Side| {
                lines
                    .windows(n)
                    .any(|w| w.iter().zip(block).all(|((s, x), b)| *s == side && x == b))
            };
            if found(Side::Outside) {
                Verdict::Kept
            } else {
                in_markers(found(Side::Ours))
            }
        }
        Expect::Unterminated(l) => {
            if lines.iter().any(|(s, x)| *s == Side::Outside && x == l) {
                Verdict::Kept
            } else if lines.iter().any(|(s, x)| *s == Side::Ours && x == l) {
                in_markers(true)
            } else if pristine.is_some_and(|p| !p.lines().any(|x| x == l)) {
                Verdict::Kept
            } else {
                Verdict::Lost
            }
        }
        Expect::Deleted(l) => {
            let allowed = pristine
                .map(|p| p.lines().filter(|x| x == l).count())
                .unwrap_or(0)
                .saturating_sub(1);
            let visible = lines
                .iter()
                .filter(|(s, x)| matches!(s, Side::Outside | Side::Ours) && x == l)
                .count();
            if visible <= allowed {
                Verdict::Kept
            } else {
                Verdict::Lost
            }
        }
    }
}

/// Every file under `root`, except the `skip` folder (path → bytes).
fn tree(root: &Path, skip: Option<&Path>) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| skip != Some(e.path()))
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect()
}

struct Outcome {
    code: i32,
    out: String,
}

struct Scenario {
    kind: Kind,
    seed: u64,
    rng: ChaCha8Rng,
    _root: tempfile::TempDir,
    root: PathBuf,
    dir: PathBuf,
    next: u32,
    edits: Vec<Edit>,
    /// Lines some edit promises something about, per file: never picked again.
    claimed: BTreeMap<String, BTreeSet<String>>,
    /// Files reported as conflicted by some command of this scenario.
    conflicted: BTreeSet<String>,
    /// (module, function) of the stubs the user implemented.
    implemented: Vec<(String, String)>,
    log: Vec<String>,
    outside: BTreeMap<PathBuf, Vec<u8>>,
}

const NAMES: &[&str] = &[
    "review",
    "shelf",
    "tag",
    "publisher",
    "award",
    "edition",
    "series",
    "genre",
    "prize",
    "venue",
];
const VERBS: &[&str] = &[
    "archive", "feature", "approve", "hide", "promote", "retire", "pin", "lock", "star",
];

impl Scenario {
    fn new(kind: Kind, seed: u64) -> Scenario {
        let root_dir = tempfile::tempdir().unwrap();
        let root = root_dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("outside")).unwrap();
        std::fs::write(root.join("outside/sentinel.txt"), "not the project's\n").unwrap();
        let spec = root.join(kind.spec());
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("specs")
                .join(kind.spec()),
            &spec,
        )
        .unwrap();
        let dir = root.join("project");
        let mut s = Scenario {
            kind,
            seed,
            // The two contracts draw different scenarios from the same seed.
            rng: ChaCha8Rng::seed_from_u64(seed.wrapping_add(if kind == Kind::Domain {
                0
            } else {
                1 << 32
            })),
            _root: root_dir,
            root,
            dir,
            next: 0,
            edits: Vec::new(),
            claimed: BTreeMap::new(),
            conflicted: BTreeSet::new(),
            implemented: Vec::new(),
            log: Vec::new(),
            outside: BTreeMap::new(),
        };
        let out = s.apigen_raw(&[
            "new",
            s.dir.to_str().unwrap(),
            "--spec",
            spec.to_str().unwrap(),
        ]);
        s.ensure(out.code == 0, &format!("apigen new failed: {}", out.out));
        s.outside = tree(&s.root, Some(&s.dir));
        s
    }

    fn fail(&self, why: &str) -> ! {
        panic!(
            "torture scenario failed: {why}\n  contract: {:?}, seed {} (rerun with APIGEN_TORTURE_SEED={} APIGEN_TORTURE_CASES=1 cargo test --test torture)\n  steps:\n    {}",
            self.kind,
            self.seed,
            self.seed,
            self.log.join("\n    ")
        )
    }

    fn ensure(&self, ok: bool, why: &str) {
        if !ok {
            self.fail(why)
        }
    }

    fn apigen_raw(&self, args: &[&str]) -> Outcome {
        let out = Command::new(env!("CARGO_BIN_EXE_apigen"))
            .args(args)
            .output()
            .expect("run apigen");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            out: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    /// Runs `apigen ARGS --dir <project>`, checks nothing outside the project changed.
    fn apigen(&mut self, args: &[&str], tally: &mut Tally) -> Outcome {
        let mut all: Vec<&str> = args.to_vec();
        let dir = self.dir.to_str().unwrap().to_string();
        all.extend(["--dir", &dir]);
        let out = self.apigen_raw(&all);
        *tally.commands.entry(args[0].to_string()).or_default() += 1;
        self.log
            .push(format!("apigen {} -> exit {}", args.join(" "), out.code));
        let outside = tree(&self.root, Some(&self.dir));
        self.ensure(
            outside == self.outside,
            &format!("apigen {} wrote outside the project", args.join(" ")),
        );
        self.ensure(
            !out.out.contains("panicked") && !out.out.contains("internal error"),
            &format!("apigen {} crashed:\n{}", args.join(" "), out.out),
        );
        out
    }

    fn id(&mut self) -> u32 {
        self.next += 1;
        self.next
    }

    fn read(&self, p: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join(p)).ok()
    }

    fn write(&self, p: &str, text: &str) {
        let path = self.dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn manifest(&self) -> serde_json::Value {
        serde_json::from_str(&self.read(".apigen/manifest.json").unwrap()).unwrap()
    }

    /// The user-owned files apigen renders now (the contract excluded).
    fn user_files(&self) -> Vec<String> {
        let m = self.manifest();
        let contract = m["contract"].as_str().unwrap().to_string();
        m["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["owner"] == "user")
            .map(|e| e["path"].as_str().unwrap().to_string())
            .filter(|p| *p != contract && self.dir.join(p).is_file())
            .collect()
    }

    fn generated_files(&self) -> Vec<String> {
        self.manifest()["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["owner"] == "generated")
            .map(|e| e["path"].as_str().unwrap().to_string())
            .filter(|p| p.ends_with(".rs") && self.dir.join(p).is_file())
            .collect()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.rng.random_range(0..items.len())])
        }
    }

    fn claim(&mut self, file: &str, line: &str) {
        self.claimed
            .entry(file.to_string())
            .or_default()
            .insert(line.to_string());
    }

    fn record(&mut self, id: u32, file: &str, what: String, expect: Expect) {
        self.log.push(format!("edit E{id} {file}: {what}"));
        self.edits.push(Edit {
            id,
            file: file.to_string(),
            what,
            expect,
        });
    }

    /// Lines of `file` an edit may change or delete: not blank, not claimed, not already
    /// an edit, unique in the file.
    fn free_lines(&self, file: &str, text: &str) -> Vec<(usize, String)> {
        let claimed = self.claimed.get(file);
        text.lines()
            .enumerate()
            .filter(|(_, l)| {
                !l.trim().is_empty()
                    && !l.contains("user edit")
                    && claimed.is_none_or(|c| !c.contains(*l))
                    && text.lines().filter(|x| x == l).count() == 1
            })
            .map(|(i, l)| (i, l.to_string()))
            .collect()
    }

    fn comment(file: &str) -> &'static str {
        if file.ends_with(".rs") {
            "//"
        } else if file.ends_with(".md") {
            "<!--"
        } else {
            "#"
        }
    }

    /// One random user edit. `future` is the module a coming change adds, if any.
    fn user_edit(&mut self, future: Option<&str>) {
        let files = self.user_files();
        let id = self.id();
        let roll = self.rng.random_range(0..100);
        match roll {
            0..=24 => {
                let Some(file) = self.pick(&files).cloned() else {
                    return;
                };
                let text = self.read(&file).unwrap();
                let c = Self::comment(&file);
                let block: Vec<String> = if file.ends_with(".rs") {
                    vec![
                        format!("/// user edit E{id}: a helper of mine."),
                        format!("pub fn user_edit_{id}() -> u32 {{ // user edit E{id}"),
                        format!("    {id} // user edit E{id}"),
                        format!("}} // user edit E{id}"),
                    ]
                } else {
                    vec![
                        format!("{c} user edit E{id}: a note"),
                        format!("{c} user edit E{id}: more"),
                    ]
                };
                let sep = if text.ends_with('\n') || text.is_empty() {
                    ""
                } else {
                    "\n"
                };
                let new = format!("{text}{sep}\n{}\n", block.join("\n"));
                self.write(&file, &new);
                self.record(
                    id,
                    &file,
                    "append lines at the end".into(),
                    Expect::Block(block),
                );
            }
            25..=44 => {
                // Change a line; half the time one near the end or a stub (where the
                // contract's changes land).
                let Some(file) = self.pick(&files).cloned() else {
                    return;
                };
                let text = self.read(&file).unwrap();
                let mut free = self.free_lines(&file, &text);
                if self.rng.random_bool(0.5) {
                    let n = text.lines().count();
                    let hot: Vec<_> = free
                        .iter()
                        .filter(|(i, l)| {
                            *i + 6 >= n
                                || l.contains("NotImplemented")
                                || l.contains("pub async fn")
                        })
                        .cloned()
                        .collect();
                    if !hot.is_empty() {
                        free = hot;
                    }
                }
                let Some((i, line)) = self.pick(&free).cloned() else {
                    return;
                };
                let changed = format!("{line} {} user edit E{id}", Self::comment(&file));
                let new = replace_line(&text, i, Some(&changed));
                self.write(&file, &new);
                self.claim(&file, &line);
                self.record(
                    id,
                    &file,
                    format!("change line {}: {line:?}", i + 1),
                    Expect::Line(changed),
                );
            }
            45..=56 => {
                let Some(file) = self.pick(&files).cloned() else {
                    return;
                };
                let text = self.read(&file).unwrap();
                let free = self.free_lines(&file, &text);
                let Some((i, line)) = self.pick(&free).cloned() else {
                    return;
                };
                self.write(&file, &replace_line(&text, i, None));
                self.claim(&file, &line);
                self.record(
                    id,
                    &file,
                    format!("delete line {}: {line:?}", i + 1),
                    Expect::Deleted(line),
                );
            }
            57..=66 => {
                // Take over a 501 stub: the generated tests must stop expecting 501.
                let services: Vec<String> = files
                    .iter()
                    .filter(|f| f.starts_with("src/services/") && !f.ends_with("mod.rs"))
                    .cloned()
                    .collect();
                let Some(file) = self.pick(&services).cloned() else {
                    return;
                };
                let text = self.read(&file).unwrap();
                let lines: Vec<&str> = text.lines().collect();
                let Some(i) = lines.iter().position(|l| {
                    l.trim_start().starts_with("Err(ApiError::NotImplemented(")
                        && !l.contains("user edit")
                }) else {
                    return;
                };
                let Some(func) = lines[..i].iter().rev().find_map(|l| {
                    l.trim_start()
                        .strip_prefix("pub async fn ")
                        .and_then(|r| r.split('(').next())
                        .map(str::to_string)
                }) else {
                    return;
                };
                let changed = format!("    Err(ApiError::NotFound) // user edit E{id}");
                self.write(&file, &replace_line(&text, i, Some(&changed)));
                self.claim(&file, lines[i]);
                let module = file
                    .trim_start_matches("src/services/")
                    .trim_end_matches(".rs")
                    .to_string();
                self.implemented.push((module, func.clone()));
                self.record(
                    id,
                    &file,
                    format!("implement {func}"),
                    Expect::Line(changed),
                );
            }
            67..=81 => {
                // A new file: at a path the coming change generates, or one of the user's own.
                let mut paths = vec![format!("src/user_e{id}.rs"), format!("tests/user_e{id}.rs")];
                if let Some(m) = future {
                    paths = vec![
                        format!("src/services/{m}.rs"),
                        format!("src/routes/{m}.rs"),
                        format!("tests/api/{m}.rs"),
                    ];
                }
                let Some(file) = self.pick(&paths).cloned() else {
                    return;
                };
                if self.dir.join(&file).exists() {
                    return;
                }
                let block = vec![
                    format!("//! Mine: user edit E{id}."),
                    format!("pub fn mine_{id}() -> u32 {{ // user edit E{id}"),
                    format!("    {id} // user edit E{id}"),
                    format!("}} // user edit E{id}"),
                ];
                let text = format!("{}\n", block.join("\n"));
                self.write(&file, &text);
                let expect = if file.starts_with("src/services/") {
                    Expect::Block(block)
                } else {
                    Expect::Exact(text)
                };
                self.record(id, &file, "create a file of my own".into(), expect);
            }
            _ => {
                // Drop the final newline (after a line of the user's, half the time).
                let Some(file) = self.pick(&files).cloned() else {
                    return;
                };
                let mut text = self.read(&file).unwrap();
                let own_line = self.rng.random_bool(0.5);
                if own_line {
                    if !text.ends_with('\n') {
                        text.push('\n');
                    }
                    text.push_str(&format!(
                        "{} user edit E{id}: last line",
                        Self::comment(&file)
                    ));
                } else {
                    while text.ends_with('\n') {
                        text.pop();
                    }
                }
                let Some(last) = text.lines().last().map(str::to_string) else {
                    return;
                };
                if last.trim().is_empty() || text.lines().filter(|l| *l == last).count() > 1 {
                    return;
                }
                self.write(&file, &text);
                self.claim(&file, &last);
                let expect = if own_line {
                    Expect::Line(last.clone())
                } else {
                    Expect::Unterminated(last.clone())
                };
                self.record(
                    id,
                    &file,
                    format!("no final newline after {last:?}"),
                    expect,
                );
            }
        }
    }

    fn contract_path(&self) -> String {
        self.manifest()["contract"].as_str().unwrap().to_string()
    }

    fn load_contract(&self) -> Value {
        serde_yaml_ng::from_str(&self.read(&self.contract_path()).unwrap()).unwrap()
    }

    fn save_contract(&self, v: &Value) {
        self.write(&self.contract_path(), &serde_yaml_ng::to_string(v).unwrap());
    }

    /// The modules the contract has now (from the manifest's service files).
    fn modules(&self) -> Vec<String> {
        self.user_files()
            .iter()
            .filter_map(|f| f.strip_prefix("src/services/"))
            .filter(|f| *f != "mod.rs")
            .map(|f| f.trim_end_matches(".rs").to_string())
            .collect()
    }

    fn fresh_name(&mut self) -> Option<String> {
        let modules = self.modules();
        let free: Vec<&str> = NAMES
            .iter()
            .copied()
            .filter(|n| !modules.contains(&apigen::resolve::names::plural(n)))
            .collect();
        self.pick(&free).map(|s| s.to_string())
    }

    /// Picks the round's contract change; returns (description, the module it adds when it
    /// adds one, and whether it runs through `add-resource`).
    fn choose_change(&mut self) -> Change {
        let roll = self.rng.random_range(0..100);
        match roll {
            0..=19 => Change::AddField,
            20..=31 => Change::RemoveField,
            32..=43 => Change::RenameField,
            44..=63 => match self.fresh_name() {
                Some(n) => Change::AddResource {
                    via_command: self.kind == Kind::OpenApi || self.rng.random_bool(0.5),
                    name: n,
                },
                None => Change::AddField,
            },
            64..=71 => Change::RemoveResource,
            72..=83 => Change::Constraint,
            _ => Change::AddAction,
        }
    }

    /// Applies a contract change by editing the contract (not for `add-resource`).
    /// Returns a description, or `None` when it found nothing to change.
    fn apply_change(&mut self, change: &Change) -> Option<String> {
        let id = self.id();
        let mut doc = self.load_contract();
        let said = match self.kind {
            Kind::Domain => domain_change(&mut doc, change, id, &mut self.rng),
            Kind::OpenApi => openapi_change(&mut doc, change, id, &mut self.rng),
        }?;
        self.save_contract(&doc);
        Some(said)
    }

    /// Classifies every edit; fails the scenario on a lost one.
    fn judge_all(&self) -> Vec<Verdict> {
        let mut out = Vec::new();
        for e in &self.edits {
            let text = self.read(&e.file);
            let pristine = self.read(&format!(".apigen/pristine/{}", e.file));
            let v = judge(
                text.as_deref(),
                pristine.as_deref(),
                &e.expect,
                self.conflicted.contains(&e.file),
            );
            if v == Verdict::Lost {
                self.fail(&format!(
                    "edit E{} of {} ({}) was lost or altered; expected {:?}; the file is now:\n{}",
                    e.id,
                    e.file,
                    e.what,
                    e.expect,
                    text.as_deref().unwrap_or("<missing>")
                ));
            }
            out.push(v);
        }
        out
    }

    /// Markers always start their own line, in every file of the project.
    fn markers_start_lines(&self) {
        for (path, bytes) in tree(&self.dir, Some(&self.dir.join("runtime"))) {
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            for line in text.lines() {
                for m in ["<<<<<<<", "|||||||", ">>>>>>>"] {
                    if let Some(at) = line.find(m) {
                        self.ensure(
                            at == 0,
                            &format!(
                                "a conflict marker does not start its line in {}: {line:?}",
                                path.display()
                            ),
                        );
                    }
                }
            }
        }
    }

    /// The reported changes of a `generate`/`add-resource` output: (conflicted, kept yours).
    fn reported(out: &str) -> (Vec<String>, Vec<String>) {
        let grab = |tag: &str| {
            out.lines()
                .filter_map(|l| {
                    l.split_once(": ")
                        .filter(|(_, r)| r.starts_with(tag))
                        .map(|(p, _)| p.to_string())
                })
                .collect::<Vec<_>>()
        };
        (grab("CONFLICT"), grab("KEPT YOURS"))
    }

    /// After a command that may have merged: exit code against what it reported.
    fn after_merge(&mut self, out: &Outcome, tally: &mut Tally) -> bool {
        let (conflicts, refused) = Self::reported(&out.out);
        let expected = if conflicts.is_empty() && refused.is_empty() {
            0
        } else {
            1
        };
        self.ensure(
            out.code == expected,
            &format!(
                "exit {} but the output reports {} conflict(s) and {} kept file(s):\n{}",
                out.code,
                conflicts.len(),
                refused.len(),
                out.out
            ),
        );
        for c in &conflicts {
            self.conflicted.insert(c.clone());
            let text = self.read(c).unwrap_or_default();
            self.ensure(
                text.contains("<<<<<<<"),
                &format!("{c} is reported as conflicted but has no markers"),
            );
        }
        for r in &refused {
            self.ensure(
                self.dir.join(format!("{r}.apigen-new")).is_file(),
                &format!("{r} was kept but apigen's rendering is not beside it"),
            );
        }
        if !conflicts.is_empty() {
            tally.conflicted_runs += 1;
        }
        if !refused.is_empty() {
            tally.refused_runs += 1;
        }
        expected == 0
    }

    /// One round: edits, a change, the commands, the checks. `false` ends the scenario.
    fn round(&mut self, tally: &mut Tally) -> bool {
        tally.rounds += 1;
        let change = self.choose_change();
        let future = match &change {
            Change::AddResource { name, .. } => Some(apigen::resolve::names::plural(name)),
            _ => None,
        };
        for _ in 0..self.rng.random_range(0..=4) {
            let fut = if self.rng.random_bool(0.5) {
                future.clone()
            } else {
                None
            };
            self.user_edit(fut.as_deref());
        }
        let clean = match &change {
            Change::AddResource {
                via_command: true,
                name,
            } => {
                self.log.push(format!("change: add-resource {name}"));
                let args = [
                    "add-resource",
                    name.as_str(),
                    "--field",
                    "label:string",
                    "--field",
                    "rank:integer?",
                ];
                let out = self.apigen(&args, tally);
                self.ensure(
                    out.out.contains("wrote migration"),
                    &format!("add-resource did not migrate:\n{}", out.out),
                );
                self.after_merge(&out, tally)
            }
            _ => {
                let Some(said) = self.apply_change(&change) else {
                    self.log
                        .push(format!("change: {change:?} found nothing to change"));
                    return true;
                };
                self.log.push(format!("change: {said}"));
                let migrate_first = self.rng.random_bool(0.5);
                if migrate_first {
                    self.migrate(tally);
                }
                let out = self.apigen(&["generate"], tally);
                let clean = self.after_merge(&out, tally);
                if !migrate_first {
                    self.migrate(tally);
                }
                clean
            }
        };
        self.judge_all();
        self.markers_start_lines();
        let check = self.apigen(&["check"], tally);
        if !clean {
            self.ensure(
                check.code == 1,
                &format!("check passed over conflicts or kept files:\n{}", check.out),
            );
            if self
                .conflicted
                .iter()
                .any(|f| self.read(f).is_some_and(|t| t.contains("<<<<<<<")))
            {
                self.ensure(
                    check.out.contains("unresolved conflict markers"),
                    "check does not name the markers",
                );
                let before = tree(&self.dir, None);
                let again = self.apigen(&["generate"], tally);
                self.ensure(
                    again.code == 1,
                    &format!("generate passed over markers:\n{}", again.out),
                );
                self.ensure(
                    tree(&self.dir, None) == before,
                    "generate wrote while markers remain",
                );
            }
            return false;
        }
        self.ensure(
            check.code == 0,
            &format!(
                "check fails after a clean generate + migrate:\n{}",
                check.out
            ),
        );
        // The generated tests follow what the user implemented (in a service file that
        // parses: of one that does not, apigen warns that it cannot tell).
        for (module, func) in &self.implemented {
            let service = self
                .read(&format!("src/services/{module}.rs"))
                .unwrap_or_default();
            if apigen::user_code::written_functions(&service).is_none() {
                continue;
            }
            if let Some(tests) = self.read(&format!("tests/api/{module}.rs")) {
                self.ensure(
                    !tests.contains(&format!("fn {func}_answers_501")),
                    &format!("tests/api/{module}.rs still expects 501 from {func}, which the user implemented"),
                );
            }
        }
        // A hand edit of a generated file is drift; generate restores the file.
        if self.rng.random_bool(0.3) {
            let generated = self.generated_files();
            if let Some(file) = self.pick(&generated).cloned() {
                let text = self.read(&file).unwrap();
                self.write(&file, &format!("{text}// hand edit\n"));
                self.log.push(format!("hand edit of generated {file}"));
                let check = self.apigen(&["check"], tally);
                self.ensure(
                    check.code == 1 && check.out.contains("edited by hand"),
                    &format!("check passed over a hand edit of {file}:\n{}", check.out),
                );
                let out = self.apigen(&["generate"], tally);
                self.ensure(
                    out.code == 0,
                    &format!("generate failed to restore {file}:\n{}", out.out),
                );
                let check = self.apigen(&["check"], tally);
                self.ensure(
                    check.code == 0,
                    &format!("check fails after generate restored {file}:\n{}", check.out),
                );
            }
        }
        true
    }

    fn migrate(&mut self, tally: &mut Tally) {
        let out = self.apigen(&["migrate", "--allow-destructive"], tally);
        self.ensure(
            out.code == 0,
            &format!("migrate --allow-destructive failed:\n{}", out.out),
        );
    }
}

#[derive(Debug, Clone)]
enum Change {
    AddField,
    RemoveField,
    RenameField,
    AddResource { via_command: bool, name: String },
    RemoveResource,
    Constraint,
    AddAction,
}

fn replace_line(text: &str, i: usize, with: Option<&str>) -> String {
    let mut out = String::new();
    let ends = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (k, l) in lines.iter().enumerate() {
        let l = if k == i {
            match with {
                Some(w) => w,
                None => continue,
            }
        } else {
            l
        };
        out.push_str(l);
        if k + 1 < lines.len() || ends {
            out.push('\n');
        }
    }
    out
}

fn key(s: &str) -> Value {
    Value::String(s.into())
}

fn map_mut<'a>(v: &'a mut Value, k: &str) -> Option<&'a mut Mapping> {
    v.get_mut(k).and_then(Value::as_mapping_mut)
}

fn pick_key(
    m: &Mapping,
    rng: &mut ChaCha8Rng,
    ok: impl Fn(&str, &Value) -> bool,
) -> Option<String> {
    let keys: Vec<String> = m
        .iter()
        .filter_map(|(k, v)| k.as_str().filter(|k| ok(k, v)).map(str::to_string))
        .collect();
    if keys.is_empty() {
        None
    } else {
        Some(keys[rng.random_range(0..keys.len())].clone())
    }
}

fn yaml(s: &str) -> Value {
    serde_yaml_ng::from_str(s).unwrap()
}

/// A change to the bookstore domain spec.
fn domain_change(
    doc: &mut Value,
    change: &Change,
    id: u32,
    rng: &mut ChaCha8Rng,
) -> Option<String> {
    let resources = map_mut(doc, "resources")?;
    let referenced: BTreeSet<String> = resources
        .values()
        .filter_map(|r| r.get("fields").and_then(Value::as_mapping))
        .flat_map(|f| f.values())
        .filter_map(|f| f.get("ref").and_then(Value::as_str).map(str::to_string))
        .collect();
    let res = pick_key(resources, rng, |_, _| true)?;
    match change {
        Change::AddField => {
            let fields = map_mut(resources.get_mut(res.as_str())?, "fields")?;
            fields.insert(
                key(&format!("note_{id}")),
                yaml("{type: string, optional: true, max_length: 100}"),
            );
            Some(format!("add field note_{id} to {res}"))
        }
        Change::RemoveField => {
            let fields = map_mut(resources.get_mut(res.as_str())?, "fields")?;
            let f = pick_key(fields, rng, |_, v| {
                v.get("optional").and_then(Value::as_bool) == Some(true) && v.get("ref").is_none()
            })?;
            fields.remove(f.as_str());
            Some(format!("remove field {res}.{f}"))
        }
        Change::RenameField => {
            let r = resources.get_mut(res.as_str())?;
            let fields = map_mut(r, "fields")?;
            if fields.len() < 2 {
                return None;
            }
            let f = pick_key(fields, rng, |_, v| v.get("ref").is_none())?;
            let mut v = fields.remove(f.as_str())?;
            let base = f.split("_r").next().unwrap_or(&f).to_string();
            let new = format!("{base}_r{id}");
            v.as_mapping_mut()?.insert(key("renamed_from"), key(&f));
            fields.insert(key(&new), v);
            Some(format!("rename field {res}.{f} to {new} (renamed_from)"))
        }
        Change::AddResource { name, .. } => {
            resources.insert(
                key(name),
                yaml("{fields: {label: {type: string, max_length: 50}, rank: {type: integer, optional: true}}}"),
            );
            Some(format!("add resource {name} to the contract"))
        }
        Change::RemoveResource => {
            if resources.len() < 2 {
                return None;
            }
            let r = pick_key(resources, rng, |k, _| !referenced.contains(k))?;
            resources.remove(r.as_str());
            Some(format!("remove resource {r}"))
        }
        Change::Constraint => {
            let fields = map_mut(resources.get_mut(res.as_str())?, "fields")?;
            let f = pick_key(fields, rng, |_, v| v.get("max_length").is_some())?;
            let field = fields.get_mut(f.as_str())?.as_mapping_mut()?;
            let old = field.get("max_length")?.as_u64()?;
            let new = if rng.random_bool(0.5) {
                old * 2
            } else {
                (old / 2).max(10)
            };
            field.insert(key("max_length"), Value::from(new));
            Some(format!("max_length of {res}.{f}: {old} -> {new}"))
        }
        Change::AddAction => {
            let r = resources.get_mut(res.as_str())?.as_mapping_mut()?;
            let actions = r
                .entry(key("actions"))
                .or_insert_with(|| Value::Sequence(Vec::new()));
            let list = actions.as_sequence_mut()?;
            let free: Vec<&str> = VERBS
                .iter()
                .copied()
                .filter(|v| !list.iter().any(|a| a.as_str() == Some(v)))
                .collect();
            if free.is_empty() {
                return None;
            }
            let verb = free[rng.random_range(0..free.len())];
            list.push(key(verb));
            Some(format!("add action {verb} to {res}"))
        }
    }
}

/// A change to the task tracker's OpenAPI document.
fn openapi_change(
    doc: &mut Value,
    change: &Change,
    id: u32,
    rng: &mut ChaCha8Rng,
) -> Option<String> {
    let schemas_with_props = ["Project", "NewTask"];
    let schema_name = schemas_with_props[rng.random_range(0..2)];
    match change {
        Change::AddField => {
            let props = map_mut(
                doc.get_mut("components")?
                    .get_mut("schemas")?
                    .get_mut(schema_name)?,
                "properties",
            )?;
            props.insert(
                key(&format!("note{id}")),
                yaml("{type: string, maxLength: 100}"),
            );
            Some(format!("add property note{id} to {schema_name}"))
        }
        Change::RemoveField | Change::RenameField | Change::Constraint => {
            let schema = doc
                .get_mut("components")?
                .get_mut("schemas")?
                .get_mut(schema_name)?;
            let required: Vec<String> = schema
                .get("required")
                .and_then(Value::as_sequence)
                .map(|s| {
                    s.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let props = map_mut(schema, "properties")?;
            match change {
                Change::RemoveField => {
                    let p = pick_key(props, rng, |k, v| {
                        !required.iter().any(|r| r == k) && v.get("readOnly").is_none()
                    })?;
                    props.remove(p.as_str());
                    Some(format!("remove property {schema_name}.{p}"))
                }
                Change::RenameField => {
                    let p = pick_key(props, rng, |k, v| {
                        !required.iter().any(|r| r == k)
                            && v.get("readOnly").is_none()
                            && v.get("$ref").is_none()
                    })?;
                    let mut v = props.remove(p.as_str())?;
                    let new = format!("{}R{id}", p.split('R').next().unwrap_or(&p));
                    v.as_mapping_mut()?
                        .insert(key("x-apigen-renamed-from"), key(&p));
                    props.insert(key(&new), v);
                    Some(format!("rename property {schema_name}.{p} to {new}"))
                }
                _ => {
                    let p = pick_key(props, rng, |_, v| v.get("maxLength").is_some())?;
                    let field = props.get_mut(p.as_str())?.as_mapping_mut()?;
                    let old = field.get("maxLength")?.as_u64()?;
                    let new = if rng.random_bool(0.5) {
                        old * 2
                    } else {
                        (old / 2).max(10)
                    };
                    field.insert(key("maxLength"), Value::from(new));
                    Some(format!("maxLength of {schema_name}.{p}: {old} -> {new}"))
                }
            }
        }
        Change::AddResource { .. } => None,
        Change::RemoveResource => {
            let paths = map_mut(doc, "paths")?;
            let groups: BTreeSet<String> = paths
                .keys()
                .filter_map(|k| k.as_str())
                .filter_map(|k| k.split('/').nth(1).map(str::to_string))
                .collect();
            if groups.len() < 2 {
                return None;
            }
            let groups: Vec<String> = groups.into_iter().collect();
            let g = groups[rng.random_range(0..groups.len())].clone();
            paths.retain(|k, _| k.as_str().and_then(|k| k.split('/').nth(1)) != Some(g.as_str()));
            Some(format!("remove the paths of /{g}"))
        }
        Change::AddAction => {
            let paths = map_mut(doc, "paths")?;
            if !paths.contains_key("/projects/{projectId}") {
                return None;
            }
            let free: Vec<&str> = VERBS
                .iter()
                .copied()
                .filter(|v| !paths.contains_key(format!("/projects/{{projectId}}/{v}").as_str()))
                .collect();
            if free.is_empty() {
                return None;
            }
            let verb = free[rng.random_range(0..free.len())];
            let op = format!(
                "{{post: {{operationId: {verb}Project, parameters: [{{name: projectId, in: path, required: true, schema: {{type: string, format: uuid}}}}], responses: {{'200': {{description: Done., content: {{application/json: {{schema: {{$ref: '#/components/schemas/Project'}}}}}}}}}}}}}}"
            );
            paths.insert(key(&format!("/projects/{{projectId}}/{verb}")), yaml(&op));
            Some(format!("add action {verb}Project"))
        }
    }
}

fn cases() -> usize {
    std::env::var("APIGEN_TORTURE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
}

fn base_seed() -> u64 {
    std::env::var("APIGEN_TORTURE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x21_2026)
}

fn torture(kind: Kind) {
    let mut tally = Tally::default();
    for case in 0..cases() {
        let seed = base_seed() + case as u64;
        let mut s = Scenario::new(kind, seed);
        tally.scenarios += 1;
        let rounds = s.rng.random_range(1..=3);
        for _ in 0..rounds {
            if !s.round(&mut tally) {
                break;
            }
        }
        for v in s.judge_all() {
            tally.edits += 1;
            match v {
                Verdict::Kept => tally.kept += 1,
                Verdict::InMarkers => tally.in_markers += 1,
                Verdict::Lost => unreachable!("judge_all fails on a lost edit"),
            }
        }
    }
    let mut line = String::new();
    let _ = write!(
        line,
        "torture {kind:?}: {} scenarios, {} rounds, {} edits: {} kept verbatim, {} inside reported conflict markers, 0 lost or altered; {} runs with conflicts, {} with kept files of the user's; commands {:?}",
        tally.scenarios,
        tally.rounds,
        tally.edits,
        tally.kept,
        tally.in_markers,
        tally.conflicted_runs,
        tally.refused_runs,
        tally.commands
    );
    println!("{line}");
    assert!(tally.edits > 0, "the scenarios made no edits");
}

#[test]
fn no_edit_is_lost_across_regenerations_of_a_domain_spec_project() {
    torture(Kind::Domain);
}

#[test]
fn no_edit_is_lost_across_regenerations_of_an_openapi_project() {
    torture(Kind::OpenApi);
}

#[test]
fn the_judge_catches_a_lost_edit() {
    let block = vec![
        "a // user edit E1".to_string(),
        "b // user edit E1".to_string(),
    ];
    let expect = Expect::Block(block.clone());
    assert_eq!(
        judge(
            Some("x\na // user edit E1\nb // user edit E1\n"),
            None,
            &expect,
            false
        ),
        Verdict::Kept
    );
    assert_eq!(
        judge(Some("x\na // user edit E1\n"), None, &expect, false),
        Verdict::Lost
    );
    let conflicted = "<<<<<<< ours\na // user edit E1\nb // user edit E1\n||||||| original\n=======\nc\n>>>>>>> theirs\n";
    assert_eq!(
        judge(Some(conflicted), None, &expect, true),
        Verdict::InMarkers
    );
    assert_eq!(
        judge(Some(conflicted), None, &expect, false),
        Verdict::Lost,
        "markers the command did not report"
    );
    let theirs_only = "<<<<<<< ours\n||||||| original\n=======\na // user edit E1\nb // user edit E1\n>>>>>>> theirs\n";
    assert_eq!(judge(Some(theirs_only), None, &expect, true), Verdict::Lost);
    let deleted = Expect::Deleted("fn f() {}".into());
    assert_eq!(
        judge(Some("x\n"), Some("fn f() {}\n"), &deleted, false),
        Verdict::Kept
    );
    assert_eq!(
        judge(Some("fn f() {}\n"), Some("fn f() {}\n"), &deleted, false),
        Verdict::Lost
    );
    assert_eq!(
        judge(
            Some("fn f() {}\n"),
            Some("fn f() {}\nfn f() {}\n"),
            &deleted,
            false
        ),
        Verdict::Kept
    );
    let unterminated = Expect::Unterminated("pub mod books;".into());
    let kept = judge(
        Some("pub mod a;\n"),
        Some("pub mod a;\n"),
        &unterminated,
        false,
    );
    assert_eq!(kept, Verdict::Kept, "apigen dropped its own line");
    let lost = judge(
        Some("pub mod a;\n"),
        Some("pub mod a;\npub mod books;\n"),
        &unterminated,
        false,
    );
    assert_eq!(lost, Verdict::Lost);
    let line = Expect::Line("// mine".into());
    assert_eq!(
        judge(Some("x// mine\n"), None, &line, false),
        Verdict::Lost,
        "a glued line is not whole"
    );
    assert_eq!(
        judge(None, None, &Expect::Exact("x".into()), false),
        Verdict::Lost
    );
}
