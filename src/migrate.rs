//! Schema migrations: the database schema a model implies, and the next up/down pair that
//! takes a database from the last migrated schema to it.
//!
//! Owns the `Snapshot` recorded in `.apigen/schema.json` and the diff between two of them,
//! per dialect. Pure: it reads nothing and writes nothing; `apigen migrate` in `main.rs`
//! reads the snapshot and the existing migration versions and writes the result.
//!
//! SQLite migrations that rebuild a table rely on the runner switching foreign keys off
//! around them (the generated `db::migrate` does, as SQLite's documentation prescribes).
//!
//! **Invariant:** declared renames (`renamed_from`, `x-apigen-renamed-from`) become
//! `RENAME COLUMN`, never drop + add; destructive changes (dropping a table or a column,
//! narrowing a type) are listed and refused unless allowed; the version number comes from
//! the migrations that exist, never from the clock.

use crate::model::Model;
use serde::{Deserialize, Serialize};

/// The database schema of a model (`.apigen/schema.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Snapshot {
    pub tables: Vec<TableSnap>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSnap {
    pub table: String,
    pub columns: Vec<ColumnSnap>,
    /// Named table constraints (`CONSTRAINT "t_c_fkey" FOREIGN KEY …`), identical in both dialects.
    pub foreign_keys: Vec<String>,
    /// `CREATE INDEX` statements, identical in both dialects.
    pub indexes: Vec<String>,
    /// Declared previous name of the table, or of its resource or schema (`books`, `book`,
    /// `Book`); empty for none. See [`table_renames`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub renamed_from: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSnap {
    pub name: String,
    /// Full column definitions per dialect (as in `CREATE TABLE`).
    pub sqlite: String,
    pub postgres: String,
    pub postgres_type: String,
    pub not_null: bool,
    pub unique: bool,
    pub key: bool,
    /// SQL default literal, or empty.
    pub default: String,
    /// CHECK expression per dialect (empty for none).
    pub sqlite_check: String,
    pub postgres_check: String,
    /// Declared previous name, or empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub renamed_from: String,
}

/// The schema `model` implies.
pub fn snapshot(model: &Model) -> Snapshot {
    Snapshot {
        tables: model
            .tables
            .iter()
            .map(|e| TableSnap {
                table: e.table.clone(),
                columns: e
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| ColumnSnap {
                        name: c.name.clone(),
                        sqlite: e.sqlite_defs[i].clone(),
                        postgres: e.postgres_defs[i].clone(),
                        postgres_type: c.postgres_type.clone(),
                        not_null: c.not_null,
                        unique: c.unique,
                        key: i == 0,
                        default: c.default_sql.clone(),
                        sqlite_check: c.sqlite_checks.join(" AND "),
                        postgres_check: c.postgres_checks.join(" AND "),
                        renamed_from: c.renamed_from.clone(),
                    })
                    .collect(),
                foreign_keys: e.foreign_keys.clone(),
                indexes: e.indexes.clone(),
                renamed_from: e.renamed_from.clone(),
            })
            .collect(),
    }
}

/// Declared table renames from `old` to `new`: (old table, new table) for each new table
/// whose `renamed_from` names a table of `old` that `new` no longer has. The name matches
/// the old table itself, or (a resource or schema name) its snake_case plural.
pub fn table_renames(old: &Snapshot, new: &Snapshot) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in &new.tables {
        if t.renamed_from.is_empty() || old.tables.iter().any(|o| o.table == t.table) {
            continue;
        }
        let raw = t.renamed_from.as_str();
        let plural =
            crate::resolve::names::plural(&crate::resolve::names::snake_ident(raw, "items"));
        let found = old
            .tables
            .iter()
            .find(|o| o.table == raw)
            .or_else(|| old.tables.iter().find(|o| o.table == plural));
        if let Some(o) = found {
            let taken = new.tables.iter().any(|n| n.table == o.table)
                || out.iter().any(|(from, _)| from == &o.table);
            if !taken {
                out.push((o.table.clone(), t.table.clone()));
            }
        }
    }
    out
}

/// A name of table `from`'s own (`books_title_check`, `books_author_id_idx`) as it reads
/// once the table is `to`; other names unchanged.
fn own_name(name: &str, from: &str, to: &str) -> String {
    match name.strip_prefix(&format!("{from}_")) {
        Some(rest) => format!("{to}_{rest}"),
        None => name.to_string(),
    }
}

/// Rewrites the constraint and index names of `text` (a column definition, a foreign key
/// or an index statement of table `from`) and its references to `from` itself, as they
/// read once the table is renamed `to`.
fn renamed_table_text(text: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    // Quoted identifiers: the table itself becomes `to`; its own names take `to`'s prefix.
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..=start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else {
            out.push_str(after);
            return out;
        };
        let ident = &after[..end];
        let before = out[..out.len() - 1].trim_end();
        let is_name = before.ends_with("CONSTRAINT") || before.ends_with("INDEX");
        let replaced = if ident == from {
            to.to_string()
        } else if is_name {
            own_name(ident, from, to)
        } else {
            ident.to_string()
        };
        out.push_str(&replaced);
        out.push('"');
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `t` (a table of the old snapshot) as it reads after being renamed `to`.
fn renamed_table(t: &TableSnap, to: &str) -> TableSnap {
    let from = t.table.as_str();
    let fix = |s: &String| renamed_table_text(s, from, to);
    TableSnap {
        table: to.to_string(),
        columns: t
            .columns
            .iter()
            .map(|c| ColumnSnap {
                sqlite: fix(&c.sqlite),
                postgres: fix(&c.postgres),
                sqlite_check: fix(&c.sqlite_check),
                postgres_check: fix(&c.postgres_check),
                ..c.clone()
            })
            .collect(),
        foreign_keys: t.foreign_keys.iter().map(fix).collect(),
        indexes: t.indexes.iter().map(fix).collect(),
        renamed_from: String::new(),
    }
}

/// `old` with its declared table renames applied (see [`table_renames`]), and the renames.
fn with_renamed_tables(old: &Snapshot, new: &Snapshot) -> (Snapshot, Vec<(String, String)>) {
    let renames = table_renames(old, new);
    let mut out = old.clone();
    for t in &mut out.tables {
        if let Some((_, to)) = renames.iter().find(|(from, _)| from == &t.table) {
            *t = renamed_table(t, to);
        }
    }
    (out, renames)
}

/// The statements that rename table `o` to `to` in one dialect, keeping its rows, with the
/// names of its own constraints and indexes (so later migrations find them under the new
/// name). Foreign keys of other tables follow the table in both dialects (SQLite since
/// 3.26 rewrites them; PostgreSQL refers to the table itself).
fn rename_table_statements(o: &TableSnap, to: &str, postgres: bool) -> Vec<String> {
    let from = o.table.as_str();
    let mut out = vec![format!("ALTER TABLE \"{from}\" RENAME TO \"{to}\";")];
    if postgres {
        let mut names: Vec<String> = vec![format!("{from}_pkey")];
        for text in o
            .columns
            .iter()
            .map(|c| &c.postgres)
            .chain(o.foreign_keys.iter())
        {
            let mut rest = text.as_str();
            while let Some(at) = rest.find("CONSTRAINT \"") {
                let after = &rest[at + 12..];
                let end = after.find('"').unwrap_or(after.len());
                names.push(after[..end].to_string());
                rest = &after[end..];
            }
        }
        for name in names.iter().filter(|n| n.starts_with(&format!("{from}_"))) {
            out.push(format!(
                "ALTER TABLE \"{to}\" RENAME CONSTRAINT \"{name}\" TO \"{}\";",
                own_name(name, from, to)
            ));
        }
        for i in &o.indexes {
            let name = index_name(i);
            if name.starts_with(&format!("{from}_")) {
                out.push(format!(
                    "ALTER INDEX \"{name}\" RENAME TO \"{}\";",
                    own_name(&name, from, to)
                ));
            }
        }
    } else {
        // SQLite cannot rename an index: recreate each under the table's new name.
        for i in &o.indexes {
            out.push(format!("DROP INDEX IF EXISTS \"{}\";", index_name(i)));
            out.push(renamed_table_text(i, from, to));
        }
    }
    out
}

/// The snapshot as pretty JSON with a trailing newline.
pub fn to_json(s: &Snapshot) -> String {
    let mut out = serde_json::to_string_pretty(s).unwrap_or_default();
    out.push('\n');
    out
}

/// A planned migration: its SQL per dialect and direction, and what it does.
#[derive(Debug, Clone, Default)]
pub struct Migration {
    pub sqlite_up: String,
    pub sqlite_down: String,
    pub postgres_up: String,
    pub postgres_down: String,
    /// One line per change, for the user and the file headers.
    pub changes: Vec<String>,
    /// Changes that lose data; refused unless the user allows them.
    pub destructive: Vec<String>,
    /// Changes that cannot be made to a table with rows (a required column without default).
    pub impossible: Vec<String>,
    /// A short snake_case description for the file name (`add_pages_to_books`).
    pub name: String,
    /// What the down migration cannot put back as it was: values the up migration deleted
    /// or rewrote. Each is an `-- apigen:irreversible REASON` line at the top of the down
    /// files, and the service's `migrate down` refuses the step with these reasons unless
    /// forced.
    pub irreversible: Vec<String>,
    /// The risks the up migration checks the data for before it changes anything (the
    /// rules of its [`PreCheck`]s).
    pub prechecks: Vec<String>,
    /// Drops that may be undeclared renames: a table dropped while one is created with
    /// mostly the same columns, or a column dropped while one of the same type is added to
    /// its table. `apigen migrate` shows the `renamed_from` to declare for each.
    pub possible_renames: Vec<PossibleRename>,
}

/// A drop and an add in one migration that look like a rename nobody declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PossibleRename {
    /// Table `from` dropped, `to` created.
    Table { from: String, to: String },
    /// Column `from` of `table` dropped, `to` added; `reference`: `from` held a foreign key.
    Column {
        table: String,
        from: String,
        to: String,
        reference: bool,
    },
}

impl Migration {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Column pairs of one table: (old, new) matched by name or by a declared rename.
struct Pairs<'a> {
    matched: Vec<(&'a ColumnSnap, &'a ColumnSnap)>,
    added: Vec<&'a ColumnSnap>,
    dropped: Vec<&'a ColumnSnap>,
}

fn pair<'a>(old: &'a TableSnap, new: &'a TableSnap, renames: &[(String, String)]) -> Pairs<'a> {
    let mut matched = Vec::new();
    let mut added = Vec::new();
    for n in &new.columns {
        let from = renames
            .iter()
            .find(|(_, to)| to == &n.name)
            .map(|(f, _)| f.as_str());
        let o = old
            .columns
            .iter()
            .find(|o| o.name == n.name)
            .or_else(|| from.and_then(|f| old.columns.iter().find(|o| o.name == f)));
        match o {
            Some(o) => matched.push((o, n)),
            None => added.push(n),
        }
    }
    let dropped = old
        .columns
        .iter()
        .filter(|o| !matched.iter().any(|(m, _)| m.name == o.name))
        .collect();
    Pairs {
        matched,
        added,
        dropped,
    }
}

/// Declared renames of `table` that apply to `old`: (old name, new name).
fn renames_of(old: &TableSnap, new: &TableSnap) -> Vec<(String, String)> {
    new.columns
        .iter()
        .filter(|c| {
            !c.renamed_from.is_empty()
                && !old.columns.iter().any(|o| o.name == c.name)
                && old.columns.iter().any(|o| o.name == c.renamed_from)
        })
        .map(|c| (c.renamed_from.clone(), c.name.clone()))
        .collect()
}

/// `text` from column `a` as it reads after renaming `a` to `b`: the quoted name and the
/// `<table>_<column>_` constraint names change with it.
fn renamed_def(table: &str, a: &ColumnSnap, b: &ColumnSnap, text: &str) -> String {
    if a.name == b.name {
        return text.to_string();
    }
    text.replace(&format!("\"{}\"", a.name), &format!("\"{}\"", b.name))
        .replace(
            &format!("{table}_{}_", a.name),
            &format!("{table}_{}_", b.name),
        )
}

/// Whether column `a` became `b` in more than its name, in one dialect.
fn differs(table: &str, a: &ColumnSnap, b: &ColumnSnap, postgres: bool) -> bool {
    let (old, new) = if postgres {
        (&a.postgres, &b.postgres)
    } else {
        (&a.sqlite, &b.sqlite)
    };
    renamed_def(table, a, b, old) != *new
}

/// A check of the data a migration runs before it changes anything: the rows that would
/// break a change (a tighter CHECK, a new NOT NULL without default, a new unique index, a
/// new foreign key, text that would not convert exactly to an integer) are counted, and the
/// migration stops, naming the table, the column and the rule, when there are any. Atlas
/// and Prisma lint such changes; apigen checks the live rows as the migration applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreCheck {
    /// What would break, for people: `books.title: longer than 250 characters` style.
    pub rule: String,
    /// The table the offending rows are in, as named before the migration (it runs first).
    pub table: String,
    /// Its key column, as named before the migration.
    pub key: String,
    /// The `WHERE` condition that selects the offending rows, per dialect (old names).
    pub sqlite: String,
    pub postgres: String,
}

impl PreCheck {
    /// The statement that stops the migration when the count is not 0: PostgreSQL raises
    /// with the count; SQLite inserts the count into a temporary table whose named CHECK
    /// fails (its error message names the rule).
    ///
    /// Two comment lines before it carry the rule and the query of the offending rows' keys
    /// (`-- apigen:pre-check RULE`, `-- apigen:rows SELECT …`), which the service's
    /// `migrate status` runs against a live database before anything is applied.
    fn sql(&self, postgres: bool) -> String {
        let count = self.count(postgres);
        let marker = format!(
            "-- apigen:pre-check {}\n-- apigen:rows {}\n",
            self.rule.replace('\n', " "),
            self.rows(postgres)
        );
        if postgres {
            format!(
                "{marker}DO $apigen$ DECLARE n bigint; BEGIN SELECT ({count}) INTO n; IF n > 0 THEN RAISE EXCEPTION 'apigen pre-check failed: % row(s) break %; fix them (`migrate status` lists their keys), then migrate again', n, '{}'; END IF; END $apigen$;",
                self.rule.replace('\'', "''")
            )
        } else {
            format!(
                "{marker}CREATE TEMP TABLE \"_apigen_precheck\" (\"rows\" INTEGER CONSTRAINT \"apigen pre-check failed: rows break {}; fix them (`migrate status` lists their keys), then migrate again\" CHECK (\"rows\" = 0));\nINSERT INTO \"_apigen_precheck\" SELECT ({count});\nDROP TABLE \"_apigen_precheck\";",
                self.rule.replace('"', "'"),
            )
        }
    }

    /// `SELECT count(*)` of the offending rows.
    fn count(&self, postgres: bool) -> String {
        format!(
            "SELECT count(*) FROM \"{}\" WHERE {}",
            self.table,
            if postgres {
                &self.postgres
            } else {
                &self.sqlite
            }
        )
    }

    /// The keys of the first 20 offending rows, as text (a SQLite UUID key, stored as a
    /// 16-byte BLOB, in its hyphenated form). One line.
    pub fn rows(&self, postgres: bool) -> String {
        let k = format!("\"{}\"", self.key);
        let key = if postgres {
            format!("CAST({k} AS TEXT)")
        } else {
            let h = format!("hex({k})");
            format!("CASE WHEN typeof({k}) = 'blob' AND length({k}) = 16 THEN lower(substr({h}, 1, 8) || '-' || substr({h}, 9, 4) || '-' || substr({h}, 13, 4) || '-' || substr({h}, 17, 4) || '-' || substr({h}, 21)) WHEN typeof({k}) = 'blob' THEN lower({h}) ELSE CAST({k} AS TEXT) END")
        };
        format!(
            "SELECT {key} FROM \"{}\" WHERE {} ORDER BY 1 LIMIT 20",
            self.table,
            if postgres {
                &self.postgres
            } else {
                &self.sqlite
            }
        )
    }
}

/// `text` (written for column `b`) with `b`'s quoted name replaced by `a`'s.
fn as_old(text: &str, a: &ColumnSnap, b: &ColumnSnap) -> String {
    text.replace(&format!("\"{}\"", b.name), &format!("\"{}\"", a.name))
}

/// The pre-checks of the migration from `old` to `new` (see [`PreCheck`]).
pub fn prechecks(old: &Snapshot, new: &Snapshot) -> Vec<PreCheck> {
    let (renamed, table_renames) = with_renamed_tables(old, new);
    let original = |table: &str| -> String {
        table_renames
            .iter()
            .find(|(_, to)| to == table)
            .map(|(from, _)| from.clone())
            .unwrap_or_else(|| table.to_string())
    };
    let mut out = Vec::new();
    for t in &new.tables {
        let Some(o) = renamed.tables.iter().find(|o| o.table == t.table) else {
            continue;
        };
        let table = original(&t.table);
        let key = o
            .columns
            .iter()
            .find(|c| c.key)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| "id".to_string());
        let renames = renames_of(o, t);
        let p = pair(o, t, &renames);
        let check = |rule: String, sqlite: String, postgres: String| PreCheck {
            rule,
            table: table.clone(),
            key: key.clone(),
            sqlite,
            postgres,
        };
        // Rows whose values of `cols` (under `cond`) appear more than once.
        let duplicated = |cols: &[String], cond: &str| {
            let list = cols.join(", ");
            let lhs = if cols.len() == 1 {
                list.clone()
            } else {
                format!("({list})")
            };
            format!("{cond} AND {lhs} IN (SELECT {list} FROM \"{table}\" WHERE {cond} GROUP BY {list} HAVING count(*) > 1)")
        };
        for (a, b) in &p.matched {
            let (qa, name) = (format!("\"{}\"", a.name), format!("{}.{}", t.table, b.name));
            let retyped = a.postgres_type != b.postgres_type;
            let check_changed = renamed_def(&t.table, a, b, &a.postgres_check) != b.postgres_check;
            if check_changed && !retyped && !b.postgres_check.is_empty() {
                out.push(check(
                    format!("{name}: the new rule {}", b.postgres_check),
                    format!(
                        "{qa} IS NOT NULL AND NOT ({})",
                        as_old(&b.sqlite_check, a, b)
                    ),
                    format!(
                        "{qa} IS NOT NULL AND NOT ({})",
                        as_old(&b.postgres_check, a, b)
                    ),
                ));
            }
            if !a.not_null && b.not_null && b.default.is_empty() && !b.key {
                let c = format!("{qa} IS NULL");
                out.push(check(
                    format!("{name}: required now (NOT NULL, no default), and NULL in these rows"),
                    c.clone(),
                    c,
                ));
            }
            if !a.unique && b.unique && !b.key {
                let c = duplicated(std::slice::from_ref(&qa), &format!("{qa} IS NOT NULL"));
                out.push(check(
                    format!("{name}: unique now, and these values appear more than once"),
                    c.clone(),
                    c,
                ));
            }
            let integer = |ty: &str| ty.starts_with("BIGINT") || ty.starts_with("INTEGER");
            if a.postgres_type == "TEXT" && integer(&b.postgres_type) {
                out.push(check(
                    format!("{name}: text to integer, and these values are not exactly an integer (leading zeros, signs, other text)"),
                    format!("{qa} IS NOT NULL AND CAST(CAST({qa} AS INTEGER) AS TEXT) <> {qa}"),
                    format!("{qa} IS NOT NULL AND {qa} !~ '^-?(0|[1-9][0-9]*)$'"),
                ));
            }
            if a.postgres_type == "DOUBLE PRECISION" && integer(&b.postgres_type) {
                out.push(check(
                    format!("{name}: number to integer, and these values have a fraction (PostgreSQL would round them)"),
                    format!("{qa} IS NOT NULL AND {qa} <> CAST({qa} AS INTEGER)"),
                    format!("{qa} IS NOT NULL AND {qa} <> trunc({qa})"),
                ));
            }
        }
        let old_col = |new_name: &str| -> String {
            p.matched
                .iter()
                .find(|(_, b)| b.name == new_name)
                .map(|(a, _)| a.name.clone())
                .unwrap_or_else(|| new_name.to_string())
        };
        let added_cols: Vec<&str> = p.added.iter().map(|c| c.name.as_str()).collect();
        // New unique indexes: duplicates among the rows they cover.
        for i in t
            .indexes
            .iter()
            .filter(|i| i.starts_with("CREATE UNIQUE INDEX") && !o.indexes.contains(i))
        {
            let Some((cols, filter)) = index_columns(i) else {
                continue;
            };
            if cols.iter().any(|c| added_cols.contains(&c.as_str())) {
                continue;
            }
            let old_cols: Vec<String> =
                cols.iter().map(|c| format!("\"{}\"", old_col(c))).collect();
            let mut cond: Vec<String> = old_cols
                .iter()
                .map(|c| format!("{c} IS NOT NULL"))
                .collect();
            // A condition on a column this migration adds holds for every existing row alike
            // (they all take its default), so the old rows are checked without it.
            let filter =
                filter.filter(|f| !added_cols.iter().any(|c| f.contains(&format!("\"{c}\""))));
            if let Some(f) = &filter {
                let mut f = f.clone();
                for c in &cols {
                    f = f.replace(&format!("\"{c}\""), &format!("\"{}\"", old_col(c)));
                }
                cond.push(format!("({f})"));
            }
            let c = duplicated(&old_cols, &cond.join(" AND "));
            out.push(check(
                format!(
                    "{}: unique ({}) now, and these values appear more than once",
                    t.table,
                    cols.join(", ")
                ),
                c.clone(),
                c,
            ));
        }
        // New foreign keys: rows whose reference leads nowhere.
        for f in t
            .foreign_keys
            .iter()
            .filter(|f| !o.foreign_keys.contains(f))
        {
            let Some((col, target, target_key)) = foreign_key_parts(f) else {
                continue;
            };
            if added_cols.contains(&col.as_str()) {
                continue;
            }
            let target_old = original(&target);
            let oc = old_col(&col);
            // A table the same migration creates is empty: every reference to it is an orphan.
            let c = if old.tables.iter().any(|x| x.table == target_old) {
                format!(
                    "\"{oc}\" IS NOT NULL AND \"{oc}\" NOT IN (SELECT \"{target_key}\" FROM \"{target_old}\")"
                )
            } else {
                format!("\"{oc}\" IS NOT NULL")
            };
            out.push(check(
                format!(
                    "{}.{col}: a reference to {target} now, and these rows refer to none",
                    t.table
                ),
                c.clone(),
                c,
            ));
        }
    }
    out
}

/// The columns of an index statement and its `WHERE` condition, if any.
fn index_columns(stmt: &str) -> Option<(Vec<String>, Option<String>)> {
    let on = stmt.find(" ON ")?;
    let open = stmt[on..].find('(')? + on;
    let close = stmt[open..].find(')')? + open;
    let cols = stmt[open + 1..close]
        .split(',')
        .map(|c| c.trim().trim_matches('"').to_string())
        .collect();
    let filter = stmt[close..]
        .split_once(" WHERE ")
        .map(|(_, w)| w.trim_end_matches(';').to_string());
    Some((cols, filter))
}

/// (column, referenced table, referenced key) of `CONSTRAINT … FOREIGN KEY ("c") REFERENCES "t" ("k")`.
fn foreign_key_parts(fk: &str) -> Option<(String, String, String)> {
    let quoted: Vec<&str> = fk.split('"').skip(1).step_by(2).collect();
    // name, column, table, key
    match quoted.as_slice() {
        [_, col, table, key, ..] => Some((col.to_string(), table.to_string(), key.to_string())),
        _ => None,
    }
}

/// Column `a` becomes `b`, required where it was optional, with a default: existing NULLs
/// take the default in the same migration, before the column is made NOT NULL.
fn backfills(a: &ColumnSnap, b: &ColumnSnap) -> bool {
    !a.not_null && b.not_null && !b.default.is_empty() && !b.key
}

/// A type change that keeps every value (`INTEGER` → `BIGINT`, anything → `TEXT`).
fn widening(old: &str, new: &str) -> bool {
    old == new
        || new == "TEXT"
        || (old.starts_with("INTEGER") && new.starts_with("BIGINT"))
        || (old == "INTEGER" && new == "DOUBLE PRECISION")
}

fn create_table(t: &TableSnap, postgres: bool) -> String {
    let mut defs: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            if postgres {
                c.postgres.clone()
            } else {
                c.sqlite.clone()
            }
        })
        .collect();
    defs.extend(t.foreign_keys.iter().cloned());
    let mut out = format!(
        "CREATE TABLE \"{}\" (\n    {}\n);\n",
        t.table,
        defs.join(",\n    ")
    );
    for i in &t.indexes {
        out.push_str(i);
        out.push('\n');
    }
    out
}

/// The `-- apigen:rebuild {JSON}` line before a SQLite table rebuild: what apigen's snapshot
/// knows of the table (`o`, already under its new name if the migration renames it). The
/// service's migration runner reads it and carries through the rebuild every column,
/// index and trigger the live table has beyond these (a user's own migration may have
/// added them), or stops naming what it cannot carry.
///
/// JSON members: `before` (the table's name before the migration), `table` (after), `key`
/// (its key column), `columns` and `indexes` (the names apigen created).
fn rebuild_marker(
    o: &TableSnap,
    original: &Snapshot,
    table_renames: &[(String, String)],
) -> String {
    let before = table_renames
        .iter()
        .find(|(_, to)| to == &o.table)
        .map(|(from, _)| from.clone())
        .unwrap_or_else(|| o.table.clone());
    // Index names before the migration's table rename, and after it.
    let mut indexes: Vec<String> = o.indexes.iter().map(|i| index_name(i)).collect();
    if let Some(t) = original.tables.iter().find(|t| t.table == before) {
        indexes.extend(t.indexes.iter().map(|i| index_name(i)));
    }
    indexes.sort();
    indexes.dedup();
    let marker = serde_json::json!({
        "before": before,
        "table": o.table,
        "key": o.columns.iter().find(|c| c.key).map(|c| c.name.as_str()).unwrap_or("id"),
        "columns": o.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        "indexes": indexes,
    });
    format!("-- apigen:rebuild {marker}")
}

fn index_name(stmt: &str) -> String {
    stmt.split('"').nth(1).unwrap_or_default().to_string()
}

/// SQL taking a database from `old` to `new` in one dialect, with `renames` per table.
fn statements(old: &Snapshot, new: &Snapshot, postgres: bool, rebuilds: &mut bool) -> Vec<String> {
    let mut out: Vec<String> = prechecks(old, new)
        .iter()
        .map(|c| c.sql(postgres))
        .collect();
    let (renamed, table_renames) = with_renamed_tables(old, new);
    for (from, to) in &table_renames {
        if let Some(o) = old.tables.iter().find(|o| &o.table == from) {
            out.extend(rename_table_statements(o, to, postgres));
        }
    }
    let original = old;
    let old = &renamed;
    for t in &new.tables {
        let Some(o) = old.tables.iter().find(|o| o.table == t.table) else {
            out.push(create_table(t, postgres));
            continue;
        };
        let renames = renames_of(o, t);
        let p = pair(o, t, &renames);
        let changed: Vec<(&ColumnSnap, &ColumnSnap)> = p
            .matched
            .iter()
            .filter(|(a, b)| differs(&t.table, a, b, postgres))
            .copied()
            .collect();
        let fks_changed = o.foreign_keys != t.foreign_keys;
        let table = &t.table;
        if !postgres {
            // SQLite's ALTER TABLE adds plain columns, renames and drops simple ones; anything
            // else rebuilds the table (https://www.sqlite.org/lang_altertable.html, "otheralter").
            let add_ok = p
                .added
                .iter()
                .all(|c| !c.unique && !c.key && (!c.not_null || !c.default.is_empty()));
            // Any mention counts: a partial index's WHERE reads the column too.
            let indexed = |c: &ColumnSnap| {
                o.indexes
                    .iter()
                    .any(|i| i.contains(&format!("\"{}\"", c.name)))
                    || o.foreign_keys
                        .iter()
                        .any(|f| f.contains(&format!("(\"{}\")", c.name)))
            };
            let drop_ok = p.dropped.iter().all(|c| !c.unique && !c.key && !indexed(c));
            if !changed.is_empty() || fks_changed || !add_ok || !drop_ok {
                *rebuilds = true;
                out.push(rebuild_marker(o, original, &table_renames));
                let tmp = format!("_apigen_new_{table}");
                let mut shape = t.clone();
                shape.table = tmp.clone();
                shape.indexes.clear();
                out.push(create_table(&shape, false));
                let to: Vec<String> = p
                    .matched
                    .iter()
                    .map(|(_, n)| format!("\"{}\"", n.name))
                    .collect();
                // A column that becomes required with a default: its NULLs take the default.
                let from: Vec<String> = p
                    .matched
                    .iter()
                    .map(|(o, n)| {
                        if backfills(o, n) {
                            format!("COALESCE(\"{}\", {})", o.name, n.default)
                        } else {
                            format!("\"{}\"", o.name)
                        }
                    })
                    .collect();
                out.push(format!(
                    "INSERT INTO \"{tmp}\" ({}) SELECT {} FROM \"{table}\";",
                    to.join(", "),
                    from.join(", ")
                ));
                out.push(format!("DROP TABLE \"{table}\";"));
                out.push(format!("ALTER TABLE \"{tmp}\" RENAME TO \"{table}\";"));
                for i in &t.indexes {
                    out.push(i.clone());
                }
                continue;
            }
        }
        for (from, to) in &renames {
            out.push(format!(
                "ALTER TABLE \"{table}\" RENAME COLUMN \"{from}\" TO \"{to}\";"
            ));
            // PostgreSQL keeps constraint names on a column rename; rename them too, so later
            // migrations find them under the column's new name.
            if postgres {
                if let Some(old_col) = o.columns.iter().find(|c| &c.name == from) {
                    if old_col.unique {
                        out.push(format!("ALTER TABLE \"{table}\" RENAME CONSTRAINT \"{table}_{from}_key\" TO \"{table}_{to}_key\";"));
                    }
                    if !old_col.postgres_check.is_empty() {
                        out.push(format!("ALTER TABLE \"{table}\" RENAME CONSTRAINT \"{table}_{from}_check\" TO \"{table}_{to}_check\";"));
                    }
                }
            }
        }
        for c in &p.added {
            out.push(format!(
                "ALTER TABLE \"{table}\" ADD COLUMN {};",
                if postgres { &c.postgres } else { &c.sqlite }
            ));
        }
        for c in &p.dropped {
            out.push(format!(
                "ALTER TABLE \"{table}\" DROP COLUMN \"{}\";",
                c.name
            ));
        }
        // Only PostgreSQL reaches here with changed columns. The old CHECK and default go
        // before a type change (both are written for the old type: `ALTER ... TYPE` fails
        // when the check no longer applies or the default cannot be cast), the new ones
        // after it.
        for (a, b) in &changed {
            let col = &b.name;
            let retyped = a.postgres_type != b.postgres_type;
            let check_changed = renamed_def(table, a, b, &a.postgres_check) != b.postgres_check;
            if (check_changed || retyped) && !a.postgres_check.is_empty() {
                out.push(format!(
                    "ALTER TABLE \"{table}\" DROP CONSTRAINT IF EXISTS \"{table}_{col}_check\";"
                ));
            }
            if retyped && !a.default.is_empty() {
                out.push(format!(
                    "ALTER TABLE \"{table}\" ALTER COLUMN \"{col}\" DROP DEFAULT;"
                ));
            }
            if retyped {
                let ty = b
                    .postgres_type
                    .split(" GENERATED")
                    .next()
                    .unwrap_or(&b.postgres_type);
                out.push(format!("ALTER TABLE \"{table}\" ALTER COLUMN \"{col}\" TYPE {ty} USING \"{col}\"::{ty};"));
            }
            if backfills(a, b) {
                out.push(format!(
                    "UPDATE \"{table}\" SET \"{col}\" = {} WHERE \"{col}\" IS NULL;",
                    b.default
                ));
            }
            if a.not_null != b.not_null && !b.key {
                out.push(format!(
                    "ALTER TABLE \"{table}\" ALTER COLUMN \"{col}\" {} NOT NULL;",
                    if b.not_null { "SET" } else { "DROP" }
                ));
            }
            if retyped && !b.default.is_empty() {
                out.push(format!(
                    "ALTER TABLE \"{table}\" ALTER COLUMN \"{col}\" SET DEFAULT {};",
                    b.default
                ));
            } else if a.default != b.default && !retyped {
                if b.default.is_empty() {
                    out.push(format!(
                        "ALTER TABLE \"{table}\" ALTER COLUMN \"{col}\" DROP DEFAULT;"
                    ));
                } else {
                    out.push(format!(
                        "ALTER TABLE \"{table}\" ALTER COLUMN \"{col}\" SET DEFAULT {};",
                        b.default
                    ));
                }
            }
            if a.unique != b.unique {
                out.push(format!(
                    "ALTER TABLE \"{table}\" DROP CONSTRAINT IF EXISTS \"{table}_{}_key\";",
                    a.name
                ));
                if b.unique {
                    out.push(format!("ALTER TABLE \"{table}\" ADD CONSTRAINT \"{table}_{col}_key\" UNIQUE (\"{col}\");"));
                }
            }
            if (check_changed || retyped) && !b.postgres_check.is_empty() {
                out.push(format!(
                    "ALTER TABLE \"{table}\" ADD CONSTRAINT \"{table}_{col}_check\" CHECK ({});",
                    b.postgres_check
                ));
            }
        }
        if fks_changed && postgres {
            for f in o
                .foreign_keys
                .iter()
                .filter(|f| !t.foreign_keys.contains(f))
            {
                out.push(format!(
                    "ALTER TABLE \"{table}\" DROP CONSTRAINT IF EXISTS \"{}\";",
                    index_name(f)
                ));
            }
            for f in t
                .foreign_keys
                .iter()
                .filter(|f| !o.foreign_keys.contains(f))
            {
                out.push(format!("ALTER TABLE \"{table}\" ADD {f};"));
            }
        }
        for i in o.indexes.iter().filter(|i| !t.indexes.contains(i)) {
            out.push(format!("DROP INDEX IF EXISTS \"{}\";", index_name(i)));
        }
        for i in t.indexes.iter().filter(|i| !o.indexes.contains(i)) {
            out.push(i.clone());
        }
    }
    for o in old
        .tables
        .iter()
        .rev()
        .filter(|o| !new.tables.iter().any(|t| t.table == o.table))
    {
        out.push(format!("DROP TABLE \"{}\";", o.table));
    }
    out
}

/// The old snapshot with declared renames turned around, so diffing `new → old` renames back.
fn reversed(old: &Snapshot, new: &Snapshot) -> (Snapshot, Snapshot) {
    let (old_renamed, table_renames) = with_renamed_tables(old, new);
    let mut from = new.clone();
    let mut to = old.clone();
    for t in &mut from.tables {
        t.columns.iter_mut().for_each(|c| c.renamed_from.clear());
        t.renamed_from.clear();
    }
    for t in &mut to.tables {
        t.columns.iter_mut().for_each(|c| c.renamed_from.clear());
        t.renamed_from.clear();
        let now = match table_renames.iter().find(|(f, _)| f == &t.table) {
            Some((_, to_name)) => {
                t.renamed_from = to_name.clone();
                to_name.clone()
            }
            None => t.table.clone(),
        };
        if let (Some(o), Some(n)) = (
            old_renamed.tables.iter().find(|x| x.table == now),
            new.tables.iter().find(|x| x.table == now),
        ) {
            for (a, b) in renames_of(o, n) {
                if let Some(c) = t.columns.iter_mut().find(|c| c.name == a) {
                    c.renamed_from = b;
                }
            }
        }
    }
    (from, to)
}

fn file(body: &[String], rebuilds: bool, header: &str) -> String {
    let mut out = String::new();
    out.push_str(header);
    if rebuilds {
        // The SQLite table-rebuild procedure (https://www.sqlite.org/lang_altertable.html,
        // "otheralter") needs foreign keys off, which SQLite ignores inside a transaction;
        // the generated service's `db::migrate` turns them off around the migrator's
        // transaction and runs `PRAGMA foreign_key_check` after it.
        out.push_str(
            "-- Rebuilds tables: run with foreign keys off (the service's db::migrate does).\n",
        );
    }
    for s in body {
        out.push_str(s);
        if !s.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// Plans the migration from `old` to `new`. `header` starts every file (comment lines).
pub fn plan(old: &Snapshot, new: &Snapshot, header: &str) -> Migration {
    let mut m = Migration::default();
    let (renamed, table_renames) = with_renamed_tables(old, new);
    for (from, to) in &table_renames {
        m.changes.push(format!("rename table {from} to {to}"));
    }
    let original = old;
    let old = &renamed;
    for t in &new.tables {
        match old.tables.iter().find(|o| o.table == t.table) {
            None => m.changes.push(format!("create table {}", t.table)),
            Some(o) => {
                let renames = renames_of(o, t);
                let p = pair(o, t, &renames);
                for (a, b) in &renames {
                    m.changes
                        .push(format!("rename column {}.{a} to {b}", t.table));
                }
                for c in &p.added {
                    m.changes.push(format!("add column {}.{}", t.table, c.name));
                    if c.not_null && c.default.is_empty() && !c.key {
                        m.impossible.push(format!("{}.{} is required and has no default, so existing rows would have no value; give it a `default` or make it optional", t.table, c.name));
                    }
                }
                for c in &p.dropped {
                    m.changes
                        .push(format!("drop column {}.{}", t.table, c.name));
                    m.destructive.push(format!(
                        "dropping column {}.{} deletes its data",
                        t.table, c.name
                    ));
                    m.irreversible.push(format!(
                        "the values of {}.{}, which the up migration dropped, cannot come back (the column returns {})",
                        t.table,
                        c.name,
                        if c.not_null && c.default.is_empty() { "empty, and as NOT NULL without a default it cannot be added back to a table with rows" } else { "holding NULL or its default" }
                    ));
                    let base_type = |c: &ColumnSnap| {
                        c.postgres_type
                            .split(" GENERATED")
                            .next()
                            .unwrap_or_default()
                            .to_string()
                    };
                    for n in p.added.iter().filter(|n| base_type(n) == base_type(c)) {
                        m.possible_renames.push(PossibleRename::Column {
                            table: t.table.clone(),
                            from: c.name.clone(),
                            to: n.name.clone(),
                            reference: o
                                .foreign_keys
                                .iter()
                                .any(|f| f.contains(&format!("FOREIGN KEY (\"{}\")", c.name))),
                        });
                    }
                }
                for (a, b) in &p.matched {
                    if backfills(a, b) {
                        m.changes.push(format!(
                            "fill NULLs of {}.{} with its default {}",
                            t.table, b.name, b.default
                        ));
                        m.irreversible.push(format!(
                            "the NULLs of {}.{} that the up migration set to {} stay {} (which rows held NULL is not recorded)",
                            t.table, b.name, b.default, b.default
                        ));
                    }
                    if differs(&t.table, a, b, false) || differs(&t.table, a, b, true) {
                        m.changes
                            .push(format!("change column {}.{}", t.table, b.name));
                        if !widening(&a.postgres_type, &b.postgres_type) {
                            m.destructive.push(format!(
                                "changing {}.{} from {} to {} narrows its type",
                                t.table, b.name, a.postgres_type, b.postgres_type
                            ));
                            // Text or a number to integer is exact once its pre-check
                            // passed: every value was an integer (its canonical text), and
                            // comes back as it was.
                            let integer =
                                |ty: &str| ty.starts_with("BIGINT") || ty.starts_with("INTEGER");
                            let checked =
                                matches!(a.postgres_type.as_str(), "TEXT" | "DOUBLE PRECISION");
                            if !(checked && integer(&b.postgres_type)) {
                                m.irreversible.push(format!(
                                    "the values of {}.{} that the change from {} to {} rounded or cut cannot come back",
                                    t.table, b.name, a.postgres_type, b.postgres_type
                                ));
                            }
                        }
                    }
                }
                if o.foreign_keys != t.foreign_keys {
                    m.changes
                        .push(format!("change foreign keys of {}", t.table));
                }
                if o.indexes != t.indexes {
                    m.changes.push(format!("change indexes of {}", t.table));
                }
            }
        }
    }
    for o in old
        .tables
        .iter()
        .filter(|o| !new.tables.iter().any(|t| t.table == o.table))
    {
        m.changes.push(format!("drop table {}", o.table));
        m.destructive
            .push(format!("dropping table {} deletes all its rows", o.table));
        m.irreversible.push(format!(
            "the rows of table {}, which the up migration dropped, cannot come back (the table returns empty)",
            o.table
        ));
        let names = |t: &TableSnap| -> Vec<String> {
            t.columns
                .iter()
                .filter(|c| !c.key)
                .map(|c| c.name.clone())
                .collect()
        };
        let before = names(o);
        for t in new
            .tables
            .iter()
            .filter(|t| !old.tables.iter().any(|x| x.table == t.table))
        {
            let shared = names(t).iter().filter(|c| before.contains(c)).count();
            if shared * 2 >= before.len().max(1) {
                m.possible_renames.push(PossibleRename::Table {
                    from: o.table.clone(),
                    to: t.table.clone(),
                });
            }
        }
    }
    if m.changes.is_empty() {
        return m;
    }
    // Index changes follow the columns they serve (a new sortable column gets its index):
    // the migration is named by the one other change when there is one.
    let principal: Vec<String> = m
        .changes
        .iter()
        .filter(|c| !c.starts_with("change indexes of ") && !c.starts_with("fill NULLs of "))
        .cloned()
        .collect();
    m.name = match (
        m.changes.as_slice(),
        principal.as_slice(),
        table_renames.as_slice(),
    ) {
        (_, _, [(from, to)]) => format!("rename_{from}_to_{to}"),
        ([one], _, _) | (_, [one], _) => file_name_of(one),
        _ => "update_schema".to_string(),
    };
    let old = original;
    m.prechecks = prechecks(old, new).into_iter().map(|c| c.rule).collect();
    let (down_from, down_to) = reversed(old, new);
    for postgres in [false, true] {
        let mut rebuild_up = false;
        let mut rebuild_down = false;
        let up = statements(old, new, postgres, &mut rebuild_up);
        let down = statements(&down_from, &down_to, postgres, &mut rebuild_down);
        let up_file = file(&up, rebuild_up, header);
        let mut down_header = header.to_string();
        for c in &m.irreversible {
            down_header.push_str(&format!("-- apigen:irreversible {c}\n"));
        }
        let down_file = file(&down, rebuild_down, &down_header);
        if postgres {
            m.postgres_up = up_file;
            m.postgres_down = down_file;
        } else {
            m.sqlite_up = up_file;
            m.sqlite_down = down_file;
        }
    }
    m
}

/// A file-name description of one change: `add column books.pages` → `add_pages_to_books`.
fn file_name_of(change: &str) -> String {
    let words: Vec<&str> = change.split_whitespace().collect();
    let split = |tc: &str| {
        tc.split_once('.')
            .map(|(t, c)| (t.to_string(), c.to_string()))
            .unwrap_or_default()
    };
    match words.as_slice() {
        ["create", "table", t] => format!("create_{t}"),
        ["drop", "table", t] => format!("drop_{t}"),
        ["add", "column", tc] => {
            let (t, c) = split(tc);
            format!("add_{c}_to_{t}")
        }
        ["drop", "column", tc] => {
            let (t, c) = split(tc);
            format!("drop_{c}_from_{t}")
        }
        ["change", "column", tc] => {
            let (t, c) = split(tc);
            format!("change_{c}_in_{t}")
        }
        ["rename", "column", tc, "to", new] => {
            let (t, c) = split(tc);
            format!("rename_{c}_to_{new}_in_{t}")
        }
        _ => "update_schema".to_string(),
    }
}

/// The file stem of migration `version`: `0002_add_pages`, from `requested` (`--name`,
/// lowercased, anything but letters and digits becoming `_`) or the migration's own name.
/// Errors: a requested name with no letter or digit.
pub fn file_stem(version: u32, requested: Option<&str>, own: &str) -> Result<String, String> {
    let name = match requested {
        Some(n) => {
            let n: String = n
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            if n.trim_matches('_').is_empty() {
                return Err(format!(
                    "invalid --name `{}`: use letters, digits and `_`",
                    requested.unwrap_or_default()
                ));
            }
            n
        }
        None => own.to_string(),
    };
    Ok(format!("{version:04}_{name}"))
}

/// The four files of migration `stem` with their SQL: up and down, SQLite and PostgreSQL.
pub fn files(stem: &str, m: &Migration) -> Vec<(String, String)> {
    vec![
        (
            format!("migrations/sqlite/{stem}.up.sql"),
            m.sqlite_up.clone(),
        ),
        (
            format!("migrations/sqlite/{stem}.down.sql"),
            m.sqlite_down.clone(),
        ),
        (
            format!("migrations/postgres/{stem}.up.sql"),
            m.postgres_up.clone(),
        ),
        (
            format!("migrations/postgres/{stem}.down.sql"),
            m.postgres_down.clone(),
        ),
    ]
}

/// The next migration version: one more than the highest `NNNN_` prefix among `names`.
pub fn next_version<'a>(names: impl Iterator<Item = &'a str>) -> u32 {
    names
        .filter_map(|n| n.split('_').next().and_then(|v| v.parse::<u32>().ok()))
        .max()
        .unwrap_or(0)
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: &str, not_null: bool) -> ColumnSnap {
        let def = format!("\"{name}\" {ty}{}", if not_null { " NOT NULL" } else { "" });
        ColumnSnap {
            name: name.into(),
            sqlite: def.clone(),
            postgres: def,
            postgres_type: ty.into(),
            not_null,
            unique: false,
            key: false,
            default: String::new(),
            sqlite_check: String::new(),
            postgres_check: String::new(),
            renamed_from: String::new(),
        }
    }

    fn table(cols: Vec<ColumnSnap>) -> Snapshot {
        Snapshot {
            tables: vec![TableSnap {
                table: "t".into(),
                columns: cols,
                foreign_keys: vec![],
                indexes: vec![],
                renamed_from: String::new(),
            }],
        }
    }

    #[test]
    fn a_renamed_table_takes_its_own_names_and_leaves_other_tables_alone() {
        let text = r#"CONSTRAINT "books_shelf_id_fkey" FOREIGN KEY ("shelf_id") REFERENCES "books_archive" ("id"), CONSTRAINT "books_parent_fkey" FOREIGN KEY ("parent") REFERENCES "books" ("id")"#;
        assert_eq!(
            renamed_table_text(text, "books", "volumes"),
            r#"CONSTRAINT "volumes_shelf_id_fkey" FOREIGN KEY ("shelf_id") REFERENCES "books_archive" ("id"), CONSTRAINT "volumes_parent_fkey" FOREIGN KEY ("parent") REFERENCES "volumes" ("id")"#
        );
        assert_eq!(
            renamed_table_text(
                r#"CREATE UNIQUE INDEX "books_isbn_key" ON "books" ("isbn");"#,
                "books",
                "volumes"
            ),
            r#"CREATE UNIQUE INDEX "volumes_isbn_key" ON "volumes" ("isbn");"#
        );
        // A column named like the table keeps its name.
        assert_eq!(
            renamed_table_text(r#""books_count" INTEGER"#, "books", "volumes"),
            r#""books_count" INTEGER"#
        );
    }

    #[test]
    fn a_declared_table_rename_is_a_rename_both_ways() {
        let old = table(vec![col("id", "BIGINT", true), col("name", "TEXT", true)]);
        let mut new = old.clone();
        new.tables[0].table = "u".into();
        new.tables[0].renamed_from = "t".into();
        let m = plan(&old, &new, "");
        assert_eq!(m.changes, vec!["rename table t to u".to_string()]);
        assert!(m.destructive.is_empty(), "{:?}", m.destructive);
        assert!(m.postgres_up.contains("ALTER TABLE \"t\" RENAME TO \"u\";"));
        assert!(m
            .postgres_down
            .contains("ALTER TABLE \"u\" RENAME TO \"t\";"));
        assert!(!m.sqlite_up.contains("DROP TABLE"));
        // Undeclared, it is a drop and a create, flagged as a possible rename.
        new.tables[0].renamed_from.clear();
        let m = plan(&old, &new, "");
        assert!(!m.destructive.is_empty());
        assert_eq!(
            m.possible_renames,
            vec![PossibleRename::Table {
                from: "t".into(),
                to: "u".into()
            }]
        );
    }

    #[test]
    fn adding_an_optional_column_is_an_alter() {
        let m = plan(
            &table(vec![col("a", "TEXT", true)]),
            &table(vec![col("a", "TEXT", true), col("b", "TEXT", false)]),
            "",
        );
        assert_eq!(m.changes, vec!["add column t.b"]);
        assert_eq!(m.name, "add_b_to_t");
        assert!(
            m.sqlite_up
                .contains("ALTER TABLE \"t\" ADD COLUMN \"b\" TEXT;"),
            "{}",
            m.sqlite_up
        );
        assert!(
            m.sqlite_down
                .contains("ALTER TABLE \"t\" DROP COLUMN \"b\";"),
            "{}",
            m.sqlite_down
        );
        assert!(m.destructive.is_empty() && m.impossible.is_empty());
    }

    #[test]
    fn a_declared_rename_is_a_rename_both_ways() {
        let mut b = col("title", "TEXT", true);
        b.renamed_from = "name".into();
        let m = plan(&table(vec![col("name", "TEXT", true)]), &table(vec![b]), "");
        assert!(
            m.postgres_up
                .contains("RENAME COLUMN \"name\" TO \"title\""),
            "{}",
            m.postgres_up
        );
        assert!(
            m.postgres_down
                .contains("RENAME COLUMN \"title\" TO \"name\""),
            "{}",
            m.postgres_down
        );
        assert!(
            !m.sqlite_up.contains("DROP"),
            "never drop + add: {}",
            m.sqlite_up
        );
        assert!(m.destructive.is_empty());
    }

    #[test]
    fn drops_and_narrowing_are_destructive() {
        let m = plan(
            &table(vec![col("a", "TEXT", true), col("b", "BIGINT", false)]),
            &table(vec![col("a", "INTEGER", true)]),
            "",
        );
        assert_eq!(m.destructive.len(), 2, "{:?}", m.destructive);
        assert!(
            m.sqlite_up.contains("run with foreign keys off"),
            "a type change rebuilds the SQLite table"
        );
        assert!(
            m.sqlite_up
                .contains("INSERT INTO \"_apigen_new_t\" (\"a\") SELECT \"a\" FROM \"t\";"),
            "{}",
            m.sqlite_up
        );
        assert!(
            m.postgres_up
                .contains("ALTER COLUMN \"a\" TYPE INTEGER USING \"a\"::INTEGER"),
            "{}",
            m.postgres_up
        );
    }

    #[test]
    fn a_required_column_without_default_cannot_be_added() {
        let m = plan(
            &table(vec![col("a", "TEXT", true)]),
            &table(vec![col("a", "TEXT", true), col("b", "TEXT", true)]),
            "",
        );
        assert_eq!(m.impossible.len(), 1);
    }

    #[test]
    fn versions_follow_the_existing_files() {
        assert_eq!(
            next_version(["0001_init.up.sql", "0002_x.up.sql", "0002_x.down.sql"].into_iter()),
            3
        );
        assert_eq!(next_version(std::iter::empty()), 1);
    }
}
