//! Entities: the schema a resource stores in a table, its columns, SQL and table order.

use super::*;

/// An entity chosen for a group, before columns are built.
pub(super) struct EntityChoice {
    pub(super) ty: Ty,
    pub(super) key_prop: usize,
}

/// The SQL column for a JSON property name: snake_case, never starting with a digit.
pub fn column_name(json_name: &str) -> String {
    let s = json_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .to_snake_case();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("c_{s}")
    } else {
        s
    }
}

/// A contract `default` as an SQL literal valid in SQLite and PostgreSQL, when it is a
/// scalar (objects and arrays get no SQL default).
pub(super) fn sql_literal(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(format!("'{}'", s.replace('\'', "''"))),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "TRUE".into() } else { "FALSE".into() }),
        _ => None,
    }
}

/// One column definition of `CREATE TABLE` / `ADD COLUMN`. Constraints carry explicit
/// names (`<table>_<column>_key`, `_check`) so later migrations can drop or replace them.
pub fn column_def(
    table: &str,
    c: &Column,
    is_key: bool,
    key_strategy: KeyStrategy,
    postgres: bool,
) -> String {
    let ty = if postgres {
        &c.postgres_type
    } else {
        &c.sqlite_type
    };
    let mut def = format!("\"{}\" {ty}", c.name);
    if is_key {
        def.push_str(if postgres || key_strategy == KeyStrategy::Integer {
            " PRIMARY KEY"
        } else {
            " PRIMARY KEY NOT NULL"
        });
        return def;
    }
    if c.not_null {
        def.push_str(" NOT NULL");
    }
    if !c.default_sql.is_empty() {
        def.push_str(&format!(" DEFAULT {}", c.default_sql));
    }
    if c.unique {
        def.push_str(&format!(" CONSTRAINT \"{table}_{}_key\" UNIQUE", c.name));
    }
    let checks = if postgres {
        &c.postgres_checks
    } else {
        &c.sqlite_checks
    };
    if !checks.is_empty() {
        def.push_str(&format!(
            " CONSTRAINT \"{table}_{}_check\" CHECK ({})",
            c.name,
            checks.join(" AND ")
        ));
    }
    def
}

/// Entities ordered so that a table comes after every table it references.
pub(super) fn table_order(resources: &[Resource]) -> Vec<Entity> {
    let mut pending: Vec<Entity> = resources.iter().filter_map(|r| r.entity.clone()).collect();
    let mut out: Vec<Entity> = Vec::new();
    while !pending.is_empty() {
        let names: Vec<String> = pending.iter().map(|e| e.table.clone()).collect();
        let ready = pending.iter().position(|e| {
            !e.foreign_keys.iter().any(|fk| {
                names
                    .iter()
                    .any(|n| n != &e.table && fk.contains(&format!("REFERENCES \"{n}\"")))
            })
        });
        let i = ready.unwrap_or(0);
        out.push(pending.remove(i));
    }
    out
}

pub(super) fn base_has(v: &Value, key: &str) -> bool {
    v.as_object().is_some_and(|o| o.contains_key(key))
}

impl Resolver<'_> {
    /// Chooses the entity schema of a group: the item GET response, else the collection
    /// GET's array items, else the create body. It must be an object with a key.
    pub(super) fn choose_entity(&mut self, coll: &str, ops: Vec<&RawOp>) -> Option<EntityChoice> {
        let mut candidates: Vec<(ReferenceOr<Schema>, String, bool)> = Vec::new();
        let mut item_param = None;
        for o in &ops {
            let p = placement(&o.path);
            if o.method == "get" {
                if let Some((_, Some(s), sp, _)) = self.success(o) {
                    let (s, sp) = self.payload(s, &sp);
                    let (s, sp) = if p.item {
                        Self::decorated_ref(&s, &sp).unwrap_or((s, sp))
                    } else {
                        match self.list_wrapper(&s, &sp) {
                            Some((_, a, ap)) => (a, ap),
                            None => (s, sp),
                        }
                    };
                    if p.item {
                        item_param = o
                            .path
                            .rsplit('/')
                            .next()
                            .map(|s| s.trim_matches(['{', '}']).to_string());
                        candidates.insert(0, (s, sp, false));
                    } else {
                        candidates.push((s, sp, true));
                    }
                }
            }
        }
        // Only groups that can be read get a table; a group without a GET is actions only.
        let (schema, sp, is_array) = candidates.into_iter().next()?;
        let (schema, sp) = if is_array {
            self.array_items(&schema, &sp)?
        } else {
            (schema, sp)
        };
        // Entities must be named component schemas so every operation shares one type.
        if matches!(schema, ReferenceOr::Item(_)) {
            return None;
        }
        let ty = self.tb.ty(&schema, &sp, "entity");
        let named = ty.named?;
        if self.tb.types[named].kind != "struct" {
            return None;
        }
        let props = &self.tb.nodes[ty.node].properties;
        let key_prop = item_param
            .as_ref()
            .and_then(|p| props.iter().position(|x| &x.name == p))
            .or_else(|| props.iter().position(|x| x.name == "id"))?;
        let key = &props[key_prop];
        if !matches!(key.ty.sql, Sql::Int32 | Sql::Int64 | Sql::Uuid | Sql::Text) || key.write_only
        {
            self.diag(Severity::Info, &ptr("/paths", coll), format!("the key `{}` of `{}` is not an integer, UUID or string; the operations answer 501", key.name, ty.rust), "");
            return None;
        }
        Some(EntityChoice { ty, key_prop })
    }

    pub(super) fn column_for(
        &mut self,
        p: &Prop,
        field: &StructField,
        cols: &mut Namespace,
        is_key: bool,
    ) -> Column {
        let name = cols.claim(&column_name(&p.name));
        let optional = field.ty.starts_with("Option<");
        let inner = field
            .ty
            .strip_prefix("Option<")
            .and_then(|s| s.strip_suffix('>'))
            .unwrap_or(&field.ty)
            .to_string();
        let node = &self.tb.nodes[p.node];
        let node_nullable = node.nullable;
        let (lite, pg) = match &p.ty.sql {
            Sql::Text => ("TEXT", "TEXT"),
            Sql::Int32 => ("INTEGER", "INTEGER"),
            Sql::Int64 => ("INTEGER", "BIGINT"),
            Sql::Real => ("REAL", "DOUBLE PRECISION"),
            Sql::Bool => ("BOOLEAN", "BOOLEAN"),
            Sql::Uuid => ("BLOB", "UUID"),
            Sql::DateTime => ("TEXT", "TIMESTAMPTZ"),
            Sql::Date => ("TEXT", "DATE"),
            Sql::Enum(_) => ("TEXT", "TEXT"),
            Sql::Json => ("TEXT", "JSONB"),
        };
        let q = format!("\"{name}\"");
        let mut lite_checks = Vec::new();
        let mut pg_checks = Vec::new();
        match &p.ty.sql {
            Sql::Enum(_) | Sql::Text if !node.enum_values.is_empty() => {
                let list = node
                    .enum_values
                    .iter()
                    .filter_map(|v| v.as_str())
                    .map(|v| format!("'{}'", v.replace('\'', "''")))
                    .collect::<Vec<_>>()
                    .join(", ");
                lite_checks.push(format!("{q} IN ({list})"));
                pg_checks.push(format!("{q} IN ({list})"));
            }
            Sql::Text => {
                if let Some(m) = node.max_length {
                    lite_checks.push(format!("length({q}) <= {m}"));
                    pg_checks.push(format!("char_length({q}) <= {m}"));
                }
            }
            Sql::Int32 | Sql::Int64 | Sql::Real => {
                let num = |v: f64| {
                    if matches!(p.ty.sql, Sql::Real) {
                        format!("{v:?}")
                    } else {
                        format!("{}", v as i64)
                    }
                };
                if let Some(m) = node.minimum.filter(|m| *m > i32::MIN as f64) {
                    let op = if node.exclusive_minimum { ">" } else { ">=" };
                    lite_checks.push(format!("{q} {op} {}", num(m)));
                    pg_checks.push(format!("{q} {op} {}", num(m)));
                }
                if let Some(m) = node.maximum.filter(|m| *m < i32::MAX as f64) {
                    let op = if node.exclusive_maximum { "<" } else { "<=" };
                    lite_checks.push(format!("{q} {op} {}", num(m)));
                    pg_checks.push(format!("{q} {op} {}", num(m)));
                }
            }
            _ => {}
        }
        let (lite, pg) = if is_key && matches!(p.ty.sql, Sql::Int32 | Sql::Int64) {
            (
                "INTEGER",
                if p.ty.sql == Sql::Int32 {
                    "INTEGER GENERATED BY DEFAULT AS IDENTITY"
                } else {
                    "BIGINT GENERATED BY DEFAULT AS IDENTITY"
                },
            )
        } else {
            (lite, pg)
        };
        let json = p.ty.sql == Sql::Json;
        let row_ty = match (json, optional) {
            (true, true) => format!("Option<sqlx::types::Json<{inner}>>"),
            (true, false) => format!("sqlx::types::Json<{inner}>"),
            (false, _) => field.ty.clone(),
        };
        Column {
            name,
            field: field.name.clone(),
            json_name: p.name.clone(),
            sqlite_type: lite.to_string(),
            postgres_type: pg.to_string(),
            // A property with a default is never absent from a row (the service fills the
            // default in), so unless the schema allows null its column is NOT NULL.
            not_null: !optional
                || is_key
                || (p.default.as_ref().is_some_and(|d| !d.is_null()) && !node_nullable),
            unique: p.unique && !is_key,
            sqlite_checks: lite_checks,
            postgres_checks: pg_checks,
            copy: !json && is_copy(&field.ty, &self.tb.enums),
            row_ty,
            json,
            optional,
            default_sql: p.default.as_ref().and_then(sql_literal).unwrap_or_default(),
            hidden: p.write_only || node.format == Some("password"),
            renamed_from: p
                .renamed_from
                .as_deref()
                .map(column_name)
                .unwrap_or_default(),
        }
    }

    pub(super) fn entity(&mut self, e: &EntityChoice, module: &str) -> Entity {
        let named = e.ty.named.unwrap_or_default();
        let rtype = self.tb.types[named].clone();
        let props = self.tb.nodes[e.ty.node].properties.clone();
        let ext_table = self.raw_schema_ext(&e.ty.rust, "x-apigen-table");
        let table = ext_table.unwrap_or_else(|| snake_ident(module, "items"));
        if ["auth_users", "auth_refresh_tokens", "auth_api_keys"].contains(&table.as_str()) {
            let pointer = self.schema_pointer(&e.ty.rust);
            self.diag(
                Severity::Error,
                &pointer,
                format!("table `{table}` is the generated service's own account table"),
                "name the table with `x-apigen-table`",
            );
        }
        let mut cols = Namespace::new();
        let mut columns = Vec::new();
        for (i, (p, f)) in props.iter().zip(rtype.fields.iter()).enumerate() {
            columns.push(self.column_for(p, f, &mut cols, i == e.key_prop));
        }
        let key = columns.remove(e.key_prop);
        columns.insert(0, key.clone());
        // The row version: the contract's own read-only integer `version` when it declares
        // one (a domain spec always does), else a column of apigen's that answers never show.
        let declared = props.iter().zip(rtype.fields.iter()).position(|(p, f)| {
            p.name == "version"
                && p.read_only
                && matches!(p.ty.sql, Sql::Int64 | Sql::Int32)
                && f.ty == "i64"
        });
        let version = match declared {
            Some(i) => {
                let field = rtype.fields[i].name.clone();
                let col = columns
                    .iter_mut()
                    .find(|c| c.field == field)
                    .expect("declared column");
                col.not_null = true;
                col.default_sql = "1".into();
                VersionColumn {
                    column: col.name.clone(),
                    field,
                    exposed: true,
                }
            }
            None => {
                let (name, field) = self.hidden_column(
                    named,
                    &mut cols,
                    &mut columns,
                    ["version", "row_version", "apigen_row_version"],
                    "i64",
                    "The row's version (its entity tag); kept out of answers.",
                    ("INTEGER", "BIGINT"),
                    "1",
                );
                VersionColumn {
                    column: name,
                    field,
                    exposed: false,
                }
            }
        };
        // Soft delete: a `deleted_at` column of apigen's; a row is live while it is NULL.
        let soft = self.raw_schema_flag(&e.ty.rust, "x-apigen-soft-delete");
        let (deleted_column, deleted_field) = if soft {
            let (name, field) = self.hidden_column(
                named,
                &mut cols,
                &mut columns,
                ["deleted_at", "row_deleted_at", "apigen_deleted_at"],
                "Option<chrono::DateTime<chrono::Utc>>",
                "When the row was deleted (soft delete); `None` while it is live. Kept out of answers.",
                ("TEXT", "TIMESTAMPTZ"),
                "",
            );
            (name, field)
        } else {
            (String::new(), String::new())
        };
        // Unique among live rows only: a partial unique index instead of a constraint, so a
        // deleted row's value can be used again.
        let live_where = if soft {
            format!(" WHERE \"{deleted_column}\" IS NULL")
        } else {
            String::new()
        };
        let mut partial_unique = Vec::new();
        if soft {
            for c in columns.iter_mut().skip(1) {
                if c.unique {
                    c.unique = false;
                    partial_unique.push(format!(
                        "CREATE UNIQUE INDEX \"{table}_{n}_key\" ON \"{table}\" (\"{n}\"){live_where};",
                        n = c.name
                    ));
                }
            }
        }
        let kp = &props[e.key_prop];
        let key_inner = rtype.fields[e.key_prop]
            .ty
            .strip_prefix("Option<")
            .and_then(|s| s.strip_suffix('>'))
            .unwrap_or(&rtype.fields[e.key_prop].ty)
            .to_string();
        let key_strategy = match kp.ty.sql {
            Sql::Uuid => KeyStrategy::Uuid,
            Sql::Text => KeyStrategy::UuidString,
            _ => KeyStrategy::Integer,
        };
        let ts = |names: &[&str]| {
            props
                .iter()
                .zip(rtype.fields.iter())
                .find(|(p, _)| names.contains(&p.name.as_str()) && p.ty.sql == Sql::DateTime)
                .map(|(_, f)| f.name.clone())
                .unwrap_or_default()
        };
        let created_field = ts(&["createdAt", "created_at"]);
        let updated_field = ts(&["updatedAt", "updated_at"]);
        let mut foreign_keys = Vec::new();
        let mut indexes = partial_unique;
        let mut references = Vec::new();
        for (p, c) in props.iter().zip(rtype.fields.iter()) {
            let col = columns.iter().find(|x| x.field == c.name).cloned();
            if let (Some(target), Some(col)) = (&p.references, col) {
                let ttable = self.table_of_domain_ref(target);
                let tsoft = self.raw_schema_flag(&pascal_ident(target, ""), "x-apigen-soft-delete");
                references.push(Reference {
                    field: col.field.clone(),
                    json_name: col.json_name.clone(),
                    exists_sql: format!(
                        "SELECT 1 FROM \"{ttable}\" WHERE \"id\" = {}{}",
                        if self.database == Database::Postgres {
                            "$1"
                        } else {
                            "?1"
                        },
                        if tsoft {
                            " AND \"deleted_at\" IS NULL"
                        } else {
                            ""
                        }
                    ),
                    optional: col.optional,
                    copy: col.copy,
                    soft: tsoft,
                });
                foreign_keys.push(format!(
                    "CONSTRAINT \"{table}_{c}_fkey\" FOREIGN KEY (\"{c}\") REFERENCES \"{ttable}\" (\"id\")",
                    c = col.name
                ));
                indexes.push(format!(
                    "CREATE INDEX \"{table}_{}_idx\" ON \"{table}\" (\"{}\");",
                    col.name, col.name
                ));
            }
        }
        // `x-apigen-unique: owner`: unique among one owner's rows, a composite unique index
        // (rows without an owner never clash: SQL treats NULLs as distinct).
        let owned_table = self.raw_schema_flag(&e.ty.rust, "x-apigen-owned");
        for (p, c) in props.iter().zip(rtype.fields.iter()) {
            if !p.unique_per_owner {
                continue;
            }
            let Some(col) = columns.iter().find(|x| x.field == c.name) else {
                continue;
            };
            if owned_table && columns.iter().any(|x| x.name == "owner_id") {
                indexes.push(format!(
                    "CREATE UNIQUE INDEX \"{table}_owner_id_{c}_key\" ON \"{table}\" (\"owner_id\", \"{c}\"){live_where};",
                    c = col.name
                ));
            } else {
                let pointer = self.schema_pointer(&e.ty.rust);
                self.diag(
                    Severity::Error,
                    &ptr(&ptr(&ptr(&pointer, "properties"), &p.name), "x-apigen-unique"),
                    format!("`{}` is unique per owner, but `{}` has no owner", p.name, e.ty.rust),
                    "mark the schema `x-apigen-owned: true` with an `ownerId` property, or write `x-apigen-unique: true`",
                );
            }
        }
        let database = self.database;
        let ph = move |i: usize| {
            if database == Database::Postgres {
                format!("${i}")
            } else {
                format!("?{i}")
            }
        };
        let quoted = |cols: &[Column]| {
            cols.iter()
                .map(|c| format!("\"{}\"", c.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let placeholders = |n: usize| (1..=n).map(ph).collect::<Vec<_>>().join(", ");
        let all = quoted(&columns);
        let returning = format!(" RETURNING {all}");
        let select_sql = format!("SELECT {all} FROM \"{table}\"");
        let key_sql = format!("\"{}\"", columns[0].name);
        // `x-apigen-owned`: the `owner_id` column is set once, on create, from the caller.
        let owned = self.raw_schema_flag(&e.ty.rust, "x-apigen-owned");
        let owner_column = if owned {
            match columns.iter().find(|c| c.name == "owner_id") {
                Some(c) => c.name.clone(),
                None => {
                    let pointer = self.schema_pointer(&e.ty.rust);
                    self.diag(Severity::Error, &ptr(&pointer, "x-apigen-owned"), format!("`{}` is `x-apigen-owned` but has no `ownerId` property to hold the owner", e.ty.rust), "add `ownerId: {type: string, format: uuid, readOnly: true, nullable: true}`");
                    String::new()
                }
            }
        } else {
            String::new()
        };
        let updated: Vec<Column> = columns[1..]
            .iter()
            .filter(|c| {
                c.field != created_field
                    && c.name != owner_column
                    && c.name != version.column
                    && c.name != deleted_column
            })
            .cloned()
            .collect();
        let bump = format!("\"{v}\" = \"{v}\" + 1", v = version.column);
        let set = |cols: &[Column]| {
            cols.iter()
                .enumerate()
                .map(|(i, c)| format!("\"{}\" = {}", c.name, ph(i + 1)))
                .chain(std::iter::once(bump.clone()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let assignments = set(&updated);
        // A replace (PUT) keeps what only the server sets: read-only columns other than the
        // update time, which service code changes through `update`.
        let server_set: Vec<&str> = props
            .iter()
            .zip(rtype.fields.iter())
            .filter(|(p, f)| p.read_only && f.name != updated_field)
            .map(|(_, f)| f.name.as_str())
            .collect();
        let replaced: Vec<Column> = updated
            .iter()
            .filter(|c| !server_set.contains(&c.field.as_str()))
            .cloned()
            .collect();
        let replace_assignments = set(&replaced);
        // Owned tables: every keyed statement takes the owner filter as its last argument
        // (NULL: any owner), so another owner's row is simply not found.
        let owner_sql = |i: usize| {
            if owner_column.is_empty() {
                String::new()
            } else if database == Database::Postgres {
                format!(
                    " AND ({}::uuid IS NULL OR \"{owner_column}\" = {})",
                    ph(i),
                    ph(i)
                )
            } else {
                format!(" AND ({} IS NULL OR \"{owner_column}\" = {})", ph(i), ph(i))
            }
        };
        // Every write by key is conditional on the version it read (the last argument;
        // NULL: any version), so no concurrent change is overwritten unseen.
        let version_sql = |i: usize| {
            let v = &version.column;
            if database == Database::Postgres {
                format!(" AND ({}::BIGINT IS NULL OR \"{v}\" = {})", ph(i), ph(i))
            } else {
                format!(" AND ({} IS NULL OR \"{v}\" = {})", ph(i), ph(i))
            }
        };
        let owner_binds = usize::from(!owner_column.is_empty());
        let live = if soft {
            format!(" AND \"{deleted_column}\" IS NULL")
        } else {
            String::new()
        };
        let v = &version.column;
        let sql = EntitySql {
            get: format!("{select_sql} WHERE {key_sql} = {}{live}{}", ph(1), owner_sql(2)),
            count: format!("SELECT COUNT(*) FROM \"{table}\""),
            insert: format!(
                "INSERT INTO \"{table}\" ({all}) VALUES ({}){returning}",
                placeholders(columns.len())
            ),
            insert_without_key: format!(
                "INSERT INTO \"{table}\" ({}) VALUES ({}){returning}",
                quoted(&columns[1..]),
                placeholders(columns.len() - 1)
            ),
            update: format!(
                "UPDATE \"{table}\" SET {assignments} WHERE {key_sql} = {}{live}{}{}{returning}",
                ph(updated.len() + 1),
                owner_sql(updated.len() + 2),
                version_sql(updated.len() + 2 + owner_binds)
            ),
            replace: format!(
                "UPDATE \"{table}\" SET {replace_assignments} WHERE {key_sql} = {}{live}{}{}{returning}",
                ph(replaced.len() + 1),
                owner_sql(replaced.len() + 2),
                version_sql(replaced.len() + 2 + owner_binds)
            ),
            delete: if soft {
                format!(
                    "UPDATE \"{table}\" SET \"{deleted_column}\" = {}, \"{v}\" = \"{v}\" + 1 WHERE {key_sql} = {}{live}{}{}",
                    ph(1),
                    ph(2),
                    owner_sql(3),
                    version_sql(3 + owner_binds)
                )
            } else {
                format!(
                    "DELETE FROM \"{table}\" WHERE {key_sql} = {}{}{}",
                    ph(1),
                    owner_sql(2),
                    version_sql(2 + owner_binds)
                )
            },
            restore: if soft {
                format!(
                    "UPDATE \"{table}\" SET \"{deleted_column}\" = NULL, \"{v}\" = \"{v}\" + 1 WHERE {key_sql} = {} AND \"{deleted_column}\" IS NOT NULL{returning}",
                    ph(1)
                )
            } else {
                String::new()
            },
            select: select_sql,
            key: key_sql,
        };
        Entity {
            type_name: e.ty.rust.clone(),
            renamed_from: self
                .raw_schema_ext(&e.ty.rust, "x-apigen-renamed-from")
                .unwrap_or_default(),
            table,
            key: key.clone(),
            key_ty: key_inner,
            key_strategy,
            columns,
            foreign_keys,
            indexes,
            created_field,
            updated_field,
            filters: vec![],
            sorts: vec![],
            sql,
            sqlite_defs: vec![],
            postgres_defs: vec![],
            replace_columns: if replaced.len() == updated.len() {
                vec![]
            } else {
                replaced
            },
            update_columns: updated,
            default_sort: String::new(),
            key_ref_ty: String::new(),
            owner_column,
            version,
            references,
            seek_columns: vec![],
            deleted_column,
            deleted_field,
        }
    }

    /// A column of apigen's own that answers never show (the row version, `deleted_at`):
    /// a `#[serde(skip)]` field on the entity struct named by the first of `fields` the
    /// struct does not use, and a column named after the first one. `ty` is the field's
    /// Rust type (an `Option` makes the column nullable), `types` its SQLite and PostgreSQL
    /// types, `default` its SQL default (or empty). Returns (column, field).
    #[allow(clippy::too_many_arguments)]
    fn hidden_column(
        &mut self,
        named: usize,
        cols: &mut Namespace,
        columns: &mut Vec<Column>,
        fields: [&str; 3],
        ty: &str,
        doc: &str,
        types: (&str, &str),
        default: &str,
    ) -> (String, String) {
        let t = &mut self.tb.types[named];
        let field = fields
            .into_iter()
            .find(|n| !t.fields.iter().any(|f| f.name == *n && f.serde != "skip"))
            .unwrap_or(fields[2])
            .to_string();
        if !t.fields.iter().any(|f| f.name == field) {
            t.fields.push(StructField {
                name: field.clone(),
                ty: ty.into(),
                doc: doc.into(),
                serde: "skip".into(),
            });
        }
        let name = cols.claim(fields[0]);
        let optional = ty.starts_with("Option<");
        columns.push(Column {
            name: name.clone(),
            field: field.clone(),
            json_name: String::new(),
            sqlite_type: types.0.into(),
            postgres_type: types.1.into(),
            not_null: !optional,
            unique: false,
            sqlite_checks: vec![],
            postgres_checks: vec![],
            row_ty: ty.into(),
            json: false,
            optional,
            copy: true,
            default_sql: default.into(),
            renamed_from: String::new(),
            hidden: false,
        });
        (name, field)
    }

    /// The JSON pointer of a named type's schema in the document.
    pub(super) fn schema_pointer(&self, type_name: &str) -> String {
        self.tb
            .component_of(type_name)
            .map(String::from)
            .unwrap_or_else(|| format!("/components/schemas/{type_name}"))
    }

    pub(super) fn raw_schema_ext(&self, type_name: &str, key: &str) -> Option<String> {
        self.raw
            .pointer(&self.schema_pointer(type_name))?
            .get(key)
            .and_then(Value::as_str)
            .map(String::from)
    }

    /// A boolean extension on a named schema (`x-apigen-owned: true`).
    pub(super) fn raw_schema_flag(&self, type_name: &str, key: &str) -> bool {
        self.raw
            .pointer(&self.schema_pointer(type_name))
            .and_then(|s| s.get(key))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub(super) fn table_of_domain_ref(&self, resource: &str) -> String {
        self.raw_schema_ext(&pascal_ident(resource, ""), "x-apigen-table")
            .unwrap_or_else(|| crate::resolve::names::plural(resource))
    }
}

/// Whether a Rust type spelled `ty` is `Copy` (primitives, UUIDs, chrono values, string
/// enums, and `Option`s of those), so generated code passes it by value.
pub(super) fn is_copy(ty: &str, enums: &std::collections::HashSet<String>) -> bool {
    let inner = ty
        .strip_prefix("Option<")
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(ty);
    matches!(
        inner,
        "i32"
            | "i64"
            | "f64"
            | "bool"
            | "uuid::Uuid"
            | "chrono::DateTime<chrono::Utc>"
            | "chrono::NaiveDate"
    ) || enums.contains(inner)
}
