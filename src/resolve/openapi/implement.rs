//! The default implementation of each operation a table serves: filters and sorts of its
//! lists, the entity's SQL column definitions, and the typed data templates read (answer
//! kinds, keys, paging, merge-patch structs, `Location`, imports).

use super::*;

impl Resolver<'_> {
    /// Fills entity-level filters and sorts from the implemented operations.
    pub(super) fn finish_operations(&mut self, res: &mut Resource) {
        let Some(e) = &mut res.entity else { return };
        let mut wanted: Vec<String> = Vec::new();
        for o in &res.operations {
            let fields = o.filters.iter().map(|f| &f.filter);
            for f in fields.chain(o.scope.iter().map(|s| &s.column)) {
                if !wanted.contains(f) {
                    wanted.push(f.clone());
                }
            }
        }
        e.filters = wanted
            .iter()
            .filter_map(|field| {
                let (base, many) = match field.strip_suffix(crate::model::MANY_SUFFIX) {
                    Some(b) if !e.columns.iter().any(|c| c.field == *field) => (b, true),
                    _ => (field.as_str(), false),
                };
                let c = e.columns.iter().find(|c| c.field == base)?;
                let inner = c
                    .row_ty
                    .strip_prefix("Option<")
                    .and_then(|s| s.strip_suffix('>'))
                    .unwrap_or(&c.row_ty);
                Some(Filter {
                    field: field.clone(),
                    column: c.name.clone(),
                    ty: inner.to_string(),
                    many,
                })
            })
            .collect();
        // Sort keys come from the sort parameter's enum values (`name`, `-name`).
        let mut sorts: Vec<SortKey> = Vec::new();
        for o in &res.operations {
            if o.paging.sort.is_empty() {
                continue;
            }
            let Some(n) = self
                .tb
                .node_of(&o.query_schema)
                .map(|i| self.tb.nodes[i].clone())
            else {
                continue;
            };
            let Some(p) = n.properties.iter().find(|p| p.name == "sort") else {
                continue;
            };
            for v in &self.tb.nodes[p.node].enum_values {
                let Some(v) = v.as_str() else { continue };
                let name = v.trim_start_matches('-');
                if let Some(c) = e.columns.iter().find(|c| c.json_name == name) {
                    if !sorts.iter().any(|s| s.value == v) {
                        sorts.push(SortKey {
                            value: v.to_string(),
                            column: c.name.clone(),
                            descending: v.starts_with('-'),
                        });
                    }
                }
            }
        }
        e.sorts = sorts;
    }

    /// The entity's column definitions and defaults, and what each operation's default
    /// implementation and handler need, as typed data.
    pub(super) fn finalize(&mut self, res: &mut Resource, choice: Option<&EntityChoice>) {
        let envelope = self.envelope;
        if let Some(e) = &mut res.entity {
            let key_col = e.key.name.clone();
            for (i, c) in e.columns.iter().enumerate() {
                e.sqlite_defs
                    .push(column_def(&e.table, c, i == 0, e.key_strategy, false));
                e.postgres_defs
                    .push(column_def(&e.table, c, i == 0, e.key_strategy, true));
            }
            for fk in &e.foreign_keys {
                e.sqlite_defs.push(fk.clone());
                e.postgres_defs.push(fk.clone());
            }
            e.default_sort = e
                .columns
                .iter()
                .find(|c| !e.created_field.is_empty() && c.field == e.created_field)
                .map(|c| c.name.clone())
                .unwrap_or(key_col.clone());
            // The orderings a list seeks through: its sorts and the default. Each gets an
            // index on (column, key), so a page seeks rather than scans; filters and the
            // owner get one each.
            let mut seek: Vec<SeekColumn> = Vec::new();
            let columns = std::iter::once(e.default_sort.clone())
                .chain(e.sorts.iter().map(|s| s.column.clone()));
            for name in columns {
                let Some(c) = e.columns.iter().find(|c| c.name == name && !c.json) else {
                    continue;
                };
                if seek.iter().any(|s| s.name == c.name) {
                    continue;
                }
                let ty = c
                    .row_ty
                    .strip_prefix("Option<")
                    .and_then(|t| t.strip_suffix('>'))
                    .unwrap_or(&c.row_ty)
                    .to_string();
                seek.push(SeekColumn {
                    name: c.name.clone(),
                    field: c.field.clone(),
                    ty,
                    nullable: c.optional,
                });
            }
            let mut wanted: Vec<Vec<String>> = Vec::new();
            for s in &seek {
                if s.name != key_col {
                    wanted.push(vec![s.name.clone(), key_col.clone()]);
                }
            }
            for f in &e.filters {
                if f.column != key_col {
                    wanted.push(vec![f.column.clone()]);
                }
            }
            if !e.owner_column.is_empty() {
                wanted.push(vec![e.owner_column.clone()]);
            }
            for cols in wanted {
                let table = &e.table;
                let name = format!("{table}_{}_idx", cols.join("_"));
                let list = cols
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                // An index whose leading columns are these already serves them.
                let covered = e.indexes.iter().any(|i| {
                    i.contains(&format!("ON \"{table}\" ({list}"))
                        || i.contains(&format!("\"{name}\""))
                });
                if !covered {
                    e.indexes
                        .push(format!("CREATE INDEX \"{name}\" ON \"{table}\" ({list});"));
                }
            }
            e.seek_columns = seek;
            e.key_ref_ty = if e.key_ty == "String" {
                "&str".into()
            } else {
                format!("&{}", e.key_ty)
            };
        }
        let entity = res.entity.clone();
        // The contract's item paths end in `/` (`/things/{id}/`): so does `Location`.
        let item_slash = res.operations.iter().any(|o| {
            matches!(
                o.kind,
                OperationKind::Read
                    | OperationKind::Replace
                    | OperationKind::Update
                    | OperationKind::Delete
            ) && o.path.ends_with('/')
        });
        for op in &mut res.operations {
            op.response_kind = if op.success_ty.is_empty() {
                ResponseKind::Empty
            } else if op.implemented && op.kind == OperationKind::List && envelope {
                ResponseKind::Page
            } else {
                ResponseKind::Json
            };
            op.service_ret = match op.response_kind {
                ResponseKind::Empty => "()".into(),
                ResponseKind::Page => format!(
                    "Page<{}>",
                    entity
                        .as_ref()
                        .map(|e| e.type_name.clone())
                        .unwrap_or_default()
                ),
                ResponseKind::Json => op.success_ty.clone(),
            };
            let writes = matches!(
                op.kind,
                OperationKind::Create | OperationKind::Replace | OperationKind::Update
            );
            if op.implemented && writes {
                if let Some(b) = &mut op.body {
                    b.required = true;
                }
            }
            op.body_arg = match &op.body {
                Some(b) if b.mode == BodyMode::Json && b.required => b.ty.clone(),
                Some(b) if b.mode == BodyMode::Json => format!("Option<{}>", b.ty),
                Some(b) if b.mode == BodyMode::Patch => b.ty.clone(),
                _ => String::new(),
            };
            let Some(e) = &entity else { continue };
            // The stored row is the answer: its version is the entity tag.
            op.etag = matches!(
                op.kind,
                OperationKind::Read
                    | OperationKind::Create
                    | OperationKind::Replace
                    | OperationKind::Update
                    | OperationKind::Restore
            ) && op.response_kind == ResponseKind::Json
                && op.service_ret.trim_start_matches("crate::models::") == e.type_name;
            if !op.implemented {
                continue;
            }
            if op.kind == OperationKind::List {
                op.paging.mode = if !op.paging.cursor.is_empty() {
                    ListMode::Cursor
                } else if !op.paging.page.is_empty() {
                    ListMode::Offset
                } else {
                    ListMode::Plain
                };
                if e.sorts.is_empty() {
                    op.paging.sort.clear();
                }
            }
            if op.kind == OperationKind::Create {
                let key_json = e.key.json_name.clone();
                if let Some((f, false)) = op
                    .body
                    .as_ref()
                    .and_then(|b| self.body_field(&b.ty, &key_json))
                {
                    op.create_key = CreateKey {
                        optional: f.ty.starts_with("Option<"),
                        body_field: f.name,
                    };
                }
                if !op.success_ty.is_empty() && op.path_params.is_empty() {
                    op.location = Some(Location {
                        key_field: e.key.field.clone(),
                        optional: e.key.optional,
                        prefix: format!("{}/", op.path.trim_end_matches('/')),
                        suffix: if item_slash {
                            "/".into()
                        } else {
                            String::new()
                        },
                    });
                }
            }
            if op.kind == OperationKind::Update {
                self.merge_patch(op, e, choice);
                if !e.updated_field.is_empty() {
                    let optional = e
                        .columns
                        .iter()
                        .find(|c| c.field == e.updated_field)
                        .is_some_and(|c| c.optional);
                    op.touch = Some(Touch {
                        field: e.updated_field.clone(),
                        optional,
                    });
                }
            }
            op.uses_now = op
                .assigns
                .iter()
                .any(|a| matches!(a.source, Source::Now { .. }));
            op.checks_parent = op.scope.iter().any(|s| !s.parent_sql.is_empty());
            op.filter_rest = e.filters.len() > op.filters.len() + op.scope.len();
        }
        self.imports(res);
    }

    /// The PATCH body of `op` as a merge-patch struct (RFC 7396): one field per property the
    /// body may change, `Option<T>` (absent: unchanged), or `Option<Option<T>>` where `null`
    /// clears a stored `Option`. It takes the body type's name when that type is the
    /// contract's own patch schema, else `<Entity>Patch`.
    fn merge_patch(&mut self, op: &mut Operation, e: &Entity, choice: Option<&EntityChoice>) {
        let Some(b) = op.body.clone() else { return };
        let (Some(node), Some(c)) = (self.tb.node_of(&b.schema), choice) else {
            return;
        };
        let body_node = self.tb.nodes[node].clone();
        let entity_node = self.tb.nodes[c.ty.node].clone();
        let mut fields = Vec::new();
        let mut names = Namespace::new();
        for p in &body_node.properties {
            let Some(ep) = entity_node.properties.iter().find(|x| x.name == p.name) else {
                continue;
            };
            if ep.read_only || p.read_only || p.name == e.key.json_name {
                continue;
            }
            let Some(col) = e.columns.iter().find(|c| c.json_name == p.name) else {
                continue;
            };
            let Some(ty) = self.tb.type_of(&e.type_name).and_then(|i| {
                self.tb.types[i]
                    .fields
                    .iter()
                    .find(|f| f.name == col.field)
                    .map(|f| f.ty.clone())
            }) else {
                continue;
            };
            let nullable = self.tb.nodes[p.node].nullable;
            let field = names.claim(&col.field);
            let (patch_ty, wrap, nullable) =
                match ty.strip_prefix("Option<").and_then(|t| t.strip_suffix('>')) {
                    Some(_) if nullable => (format!("Option<{ty}>"), false, true),
                    Some(inner) => (format!("Option<{inner}>"), true, false),
                    None => (format!("Option<{ty}>"), false, false),
                };
            let mut serde = Vec::new();
            if field != p.name {
                serde.push(format!("rename = {}", rust_str(&p.name)));
            }
            serde.push("default".into());
            if nullable {
                serde.push("deserialize_with = \"apigen_runtime::patch::nullable\"".into());
            }
            serde.push("skip_serializing_if = \"Option::is_none\"".into());
            fields.push(StructField {
                name: field.clone(),
                ty: patch_ty,
                doc: String::new(),
                serde: serde.join(", "),
            });
            op.patch.push(PatchField {
                field: col.field.clone(),
                patch: field,
                wrap,
            });
        }
        let doc = format!(
            "The changes a PATCH of {} makes (JSON Merge Patch, RFC 7396): a member left out keeps its value{}.",
            with_article(&e.type_name),
            if op.patch.iter().any(|_| true) { ", `null` clears an optional one" } else { "" }
        );
        let name = self.tb.merge_patch_type(
            &b.ty,
            &format!("{}Patch", e.type_name),
            &b.schema,
            &doc,
            fields,
        );
        op.body_arg = name.clone();
        if let Some(body) = &mut op.body {
            body.ty = name;
        }
    }

    /// What each generated file of `res` imports from `models` and `params`.
    fn imports(&self, res: &mut Resource) {
        let mut routes = Imports::default();
        let mut defaults = Imports::default();
        let mut services = Imports::default();
        for op in &res.operations {
            for s in [&op.path_struct, &op.query_struct] {
                if !s.is_empty() {
                    routes.param(s);
                    if op.kind == OperationKind::Custom {
                        services.param(s);
                    } else {
                        defaults.param(s);
                    }
                }
            }
            let body_ty = op.body.as_ref().map(|b| b.ty.as_str()).unwrap_or_default();
            let names = |ty: &str| self.model_names(ty);
            if !op.body_arg.is_empty() {
                for n in names(body_ty) {
                    routes.model(&n);
                }
            }
            let signature = [op.body_arg.as_str(), op.service_ret.as_str()];
            let into = if op.kind == OperationKind::Custom {
                &mut services
            } else {
                &mut defaults
            };
            for ty in signature {
                for n in names(ty) {
                    into.model(&n);
                }
            }
            if let (false, Some(e)) = (op.owned_row.is_empty(), &res.entity) {
                services.model(&e.type_name);
            }
            for a in op.assigns.iter().filter(|_| op.implemented) {
                if let Source::Value { expr } = &a.source {
                    for n in self.model_names(expr) {
                        defaults.model(&n);
                    }
                }
            }
        }
        let mut repository = Imports::default();
        if let Some(e) = &res.entity {
            repository.model(&e.type_name);
            let column_types = e.columns.iter().map(|c| c.row_ty.as_str());
            for ty in column_types.chain(e.filters.iter().map(|f| f.ty.as_str())) {
                for n in self.model_names(ty) {
                    repository.model(&n);
                }
            }
            if res.operations.iter().any(|o| {
                o.implemented && matches!(o.kind, OperationKind::Create | OperationKind::Replace)
            }) {
                defaults.model(&e.type_name);
            }
        }
        res.imports = ResourceImports {
            routes,
            defaults,
            services,
            repository,
        };
    }

    /// The contract's named types a Rust type spelled `ty` mentions (`Option<Vec<Pet>>` →
    /// `Pet`), for a file's `use crate::models::{…}`.
    pub(super) fn model_names(&self, ty: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for word in ty.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if !word.is_empty() && self.tb.type_of(word).is_some() && !out.iter().any(|w| w == word)
            {
                out.push(word.to_string());
            }
        }
        out
    }
}
