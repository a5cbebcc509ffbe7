//! The data of the generated tests: samples, URLs, invalid bodies, denial probes and the
//! rows a test must create first.

use super::*;

/// Resolves each test prerequisite (a referenced table) to that table's create URL and
/// sample; a resource whose prerequisite cannot be created gets no CRUD tests.
pub(super) fn link_prereqs(resources: &mut [Resource]) {
    type Creatable = (String, String, String, String, String, u16, bool, bool);
    let creatable: Vec<Creatable> = resources
        .iter()
        .filter_map(|r| {
            r.entity.as_ref().map(|e| {
                (
                    e.table.clone(),
                    r.tests.collection_url.clone(),
                    r.tests.sample.clone(),
                    r.tests.sample2.clone(),
                    r.tests.id_pointer.clone(),
                    r.tests.create_status,
                    r.tests.crud && r.tests.prereqs.is_empty(),
                    r.tests.soft_delete
                        && r.tests.item_prefix == format!("{}/", r.tests.collection_url)
                        && r.tests.item_suffix.is_empty(),
                )
            })
        })
        .collect();
    for r in resources.iter_mut() {
        let mut ok = true;
        for p in &mut r.tests.prereqs {
            match creatable.iter().find(|c| c.0 == p.body && c.6) {
                Some(c) => {
                    p.url = c.1.clone();
                    p.body = c.2.clone();
                    p.body2 = c.3.clone();
                    p.id_pointer = c.4.clone();
                    p.status = c.5;
                    p.soft = c.7;
                }
                None => ok = false,
            }
        }
        if !ok {
            r.tests.crud = false;
            r.tests.prereqs.clear();
        }
    }
}

impl Resolver<'_> {
    pub(super) fn tests(&mut self, res: &Resource, entity: Option<&EntityChoice>) -> ResourceTests {
        let mut t = ResourceTests {
            id_pointer: if self.envelope {
                "/data/id".into()
            } else {
                "/id".into()
            },
            list_pointer: if self.envelope {
                "/data".into()
            } else {
                String::new()
            },
            ..ResourceTests::default()
        };
        // Stubs: a concrete URL and a valid body for each operation that answers 501.
        let mut names = Namespace::new();
        let refused = |s: &Self, o: &Operation| {
            s.sec
                .as_ref()
                .and_then(|sec| sec.info(&o.guard))
                .is_some_and(|i| i.refuses_all)
        };
        for o in &res.operations {
            // Operations no credential can reach are covered by the denial matrix.
            if o.implemented || refused(self, o) {
                continue;
            }
            let Some(url) = self.sample_url(o) else {
                continue;
            };
            let body = match &o.body {
                Some(b) if b.mode == BodyMode::Json => {
                    let node = self.tb.node_of(&b.schema);
                    match node.and_then(|n| self.tb.sample(n, 0, 0)) {
                        Some(v) => v.to_string(),
                        None if !b.required => String::new(),
                        None => continue,
                    }
                }
                Some(_) => "{}".to_string(),
                None => String::new(),
            };
            if o.method == "head" && !o.success_ty.is_empty() {
                continue;
            }
            let json_body = o.body.as_ref().is_some_and(|b| b.mode == BodyMode::Json);
            // An owner-only action reaches the user's code only for a row that exists.
            let row_url = o
                .path_params
                .iter()
                .find(|p| p.field == o.owned_row)
                .and_then(|p| serde_json::from_str::<String>(&p.name_lit).ok())
                .and_then(|name| self.sample_url_keeping(o, &name))
                .unwrap_or_default();
            t.stubs.push(StubCase {
                name: names.claim(o.func.trim_end_matches('_')),
                func: o.func.clone(),
                json_body,
                method: o.method_upper.clone(),
                url,
                row_url,
                body,
            });
        }
        let Some(e) = entity else { return t };
        let Some(ent) = &res.entity else { return t };
        // The created row's key, where the answer holds it (`/id`, `/connection_id`).
        t.id_pointer = format!(
            "{}/{}",
            if self.envelope { "/data" } else { "" },
            ent.key.json_name.replace('~', "~0").replace('/', "~1")
        );
        let find = |k: &str| {
            res.operations
                .iter()
                .find(|o| o.kind == operation_kind(k) && o.implemented && o.scope.is_empty())
        };
        let create = find("create");
        let read = find("read");
        t.has_list = find("list").is_some();
        t.has_read = read.is_some();
        // Tests address rows through the read operation's URL; item operations elsewhere
        // (another path or parameter name) are not driven by these tests.
        // Replace and update tests change the create sample, so they also need the create's body.
        let create_body = create
            .and_then(|c| c.body.as_ref())
            .map(|b| b.schema.clone());
        let same_path = |k: &str| find(k).is_some_and(|o| read.is_some_and(|r| r.path == o.path));
        let same_body = |k: &str| {
            find(k).is_some_and(|o| o.body.as_ref().map(|b| b.schema.clone()) == create_body)
        };
        t.has_replace = same_path("replace") && same_body("replace");
        // Update may take its own (merge-patch) schema; checked against the field the test
        // changes once that is chosen, below.
        t.has_update = same_path("update")
            && find("update")
                .is_some_and(|o| o.body.as_ref().is_some_and(|b| b.mode == BodyMode::Patch));
        t.has_delete = same_path("delete");
        if let Some(l) = find("list") {
            t.list_url = self.sample_url(l).unwrap_or_default();
            t.list_mode = l.paging.mode;
            if !l.paging.limit_query.is_empty() && l.paging.min_limit <= l.paging.max_limit {
                t.limit_param = l.paging.limit_query.clone();
                t.limit_small = l.paging.min_limit;
                // The test creates two rows.
                t.limit_small_rows = l.paging.min_limit.min(2);
                t.limit_max = l.paging.max_limit;
                t.limit_over = l.paging.max_limit.checked_add(1);
            }
            if !l.list_wrapper.is_empty() {
                t.list_pointer = ptr("", &l.list_wrapper);
            }
        }
        if let Some(r) = read {
            t.missing_url = self.sample_url(r).unwrap_or_default();
            if let (Some(i), Some(j)) = (r.path.rfind('{'), r.path.rfind('}')) {
                t.item_prefix = r.path[..i].to_string();
                t.item_suffix = r.path[j + 1..].to_string();
            }
            let _ = ent;
        }
        if let Some(l) = find("list") {
            t.collection_url = l.path.clone();
        }
        let Some(c) = create else { return t };
        if res
            .operations
            .iter()
            .any(|o| o.implemented && refused(self, o))
        {
            return t;
        }
        t.collection_url = c.path.clone();
        t.create_status = c.success_status;
        t.delete_status = find("delete").map(|d| d.success_status).unwrap_or(204);
        let Some(b) = &c.body else { return t };
        let Some(bnode) = self.tb.node_of(&b.schema) else {
            return t;
        };
        let (Some(s1), Some(s2)) = (self.tb.sample(bnode, 0, 0), self.tb.sample(bnode, 1, 0))
        else {
            self.diag(
                Severity::Info,
                "",
                format!(
                    "no valid sample body for `{}`; its CRUD tests are not generated",
                    c.operation_id
                ),
                "add `example` values to the schema's properties",
            );
            return t;
        };
        // Scoped creates, non-JSON success bodies, or paths with other params cannot be driven simply.
        if c.path_params.iter().any(|_| true) || (c.success_ty.is_empty() && read.is_none()) {
            return t;
        }
        t.has_create = true;
        // Refs to other tables need those rows first: only resources without FKs get CRUD tests.
        let node = &self.tb.nodes[bnode];
        for p in node.properties.iter().filter(|p| p.references.is_some()) {
            let n = &self.tb.nodes[p.node];
            let missing = match (n.kind, n.format) {
                (_, Some("uuid")) => "\"00000000-0000-7000-8000-00000000dead\"".to_string(),
                ("integer", _) => "2147480000".to_string(),
                _ => "\"no-such-row\"".to_string(),
            };
            // Filled in by `link_prereqs` once every resource is known.
            t.prereqs.push(Prereq {
                missing,
                soft: false,
                field: p.name.clone(),
                url: String::new(),
                body2: String::new(),
                body: self.table_of_domain_ref(p.references.as_deref().unwrap_or_default()),
                id_pointer: String::new(),
                status: 0,
            });
        }
        t.crud = !c.success_ty.is_empty();
        // Filtering, sorting and nested lists, when the contract offers them.
        if let Some(l) = find("list") {
            for f in &l.filters {
                let Some(qp) = l.query_params.iter().find(|p| p.field == f.query_field) else {
                    continue;
                };
                let name: String = serde_json::from_str(&qp.name_lit).unwrap_or_default();
                let (Some(a), Some(b)) = (s1.get(&name), s2.get(&name)) else {
                    continue;
                };
                let is_ref = node
                    .properties
                    .iter()
                    .any(|p| p.name == name && p.references.is_some());
                if a != b && (a.is_string() || a.is_boolean() || a.is_number()) && !is_ref {
                    t.filter_param = name;
                    t.filter_value = match a {
                        Value::String(s) => percent_encode(s),
                        other => other.to_string(),
                    };
                    t.filter_json = a.to_string();
                    t.filter_fn = format!(
                        "list_filters_by_{}",
                        snake_ident(&t.filter_param, "value").trim_end_matches('_')
                    );
                    break;
                }
            }
            for f in l
                .filters
                .iter()
                .filter(|f| f.filter.ends_with(crate::model::MANY_SUFFIX))
            {
                let Some(qp) = l.query_params.iter().find(|p| p.field == f.query_field) else {
                    continue;
                };
                let param: String = serde_json::from_str(&qp.name_lit).unwrap_or_default();
                let Some(prop) = node
                    .properties
                    .iter()
                    .find(|p| p.name == param || crate::resolve::names::plural(&p.name) == param)
                else {
                    continue;
                };
                let (Some(a), Some(b)) = (s1.get(&prop.name), s2.get(&prop.name)) else {
                    continue;
                };
                let text = |v: &Value| match v {
                    Value::String(s) => Some(percent_encode(s)),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                };
                if let (Some(x), Some(y)) = (text(a), text(b)) {
                    if a != b && prop.references.is_none() {
                        t.many_param = param;
                        t.many_prop = prop.name.clone();
                        t.many_a = x;
                        t.many_b = y;
                        break;
                    }
                }
            }
            if let Some(u) = l.unapplied_query.first() {
                if let Some(qp) = l.query_params.iter().find(|p| p.field == u.field) {
                    let base = qp.ty.trim_start_matches("Option<").trim_end_matches('>');
                    let value = match base {
                        "bool" => Some("true"),
                        "i32" | "i64" | "f64" | "f32" => Some("1"),
                        "String" | "Vec<String" => Some("x"),
                        _ => None,
                    };
                    if let Some(v) = value {
                        t.unapplied_param = u.name.clone();
                        t.unapplied_value = v.to_string();
                    }
                }
            }
            t.sort_newest =
                ent.sorts.iter().any(|s| s.value == "-createdAt") && !l.paging.sort.is_empty();
        }
        let nested = res.operations.iter().find(|o| {
            o.kind == OperationKind::List
                && o.implemented
                && o.scope.len() == 1
                && o.path_params.len() == 1
        });
        if let Some(nested) = nested {
            let pname: String =
                serde_json::from_str(&nested.path_params[0].name_lit).unwrap_or_default();
            if let (Some(i), Some(j)) = (nested.path.find('{'), nested.path.find('}')) {
                if base_has(&s1, &pname) {
                    t.scoped_prefix = nested.path[..i].to_string();
                    t.scoped_suffix = nested.path[j + 1..].to_string();
                    t.scoped_field = pname;
                }
            }
        }
        t.write_only = node
            .properties
            .iter()
            .filter(|p| p.write_only && base_has(&s1, &p.name))
            .map(|p| p.name.clone())
            .collect();
        let entity_props = &self.tb.nodes[e.ty.node].properties;
        t.roundtrip = node
            .properties
            .iter()
            .filter(|p| {
                // Timestamps by these names are set by the server whatever the body says.
                !["createdAt", "created_at", "updatedAt", "updated_at"].contains(&p.name.as_str())
                    && !p.write_only
                    && base_has(&s1, &p.name)
                    && entity_props
                        .iter()
                        .any(|x| x.name == p.name && !x.write_only && x.ty.rust == p.ty.rust)
            })
            .map(|p| p.name.clone())
            .collect();
        t.sample = s1.to_string();
        t.sample2 = s2.to_string();
        // A field to change in replace/update: the first non-key, writable string or number field.
        for p in &node.properties {
            if p.read_only || p.write_only || p.name == ent.key.json_name || p.references.is_some()
            {
                continue;
            }
            let n = &self.tb.nodes[p.node];
            if matches!(n.kind, "string" | "integer" | "number")
                && n.format.is_none_or(|f| f != "uuid")
                && !p.unique
                && !p.unique_per_owner
            {
                if let (Some(a), Some(b)) =
                    (self.tb.sample(p.node, 0, 1), self.tb.sample(p.node, 2, 1))
                {
                    if a != b {
                        if t.change_field.is_empty() {
                            t.change_field = p.name.clone();
                            t.change_value = b.to_string();
                        }
                        t.concurrent_changes.push(Change {
                            field: p.name.clone(),
                            value: b.to_string(),
                        });
                    }
                }
            }
        }
        let patch_node = find("update")
            .and_then(|o| o.body.as_ref())
            .and_then(|b| self.tb.node_of(&b.schema))
            .map(|i| &self.tb.nodes[i]);
        // The update test also sends an unknown member when the patch schema refuses them.
        t.patch_refuses_unknown =
            patch_node.is_some_and(|n| matches!(n.additional, Additional::Deny));
        if t.has_update && !same_body("update") {
            // A separate patch schema must accept the field the test changes.
            t.has_update = patch_node.is_some_and(|n| {
                n.properties
                    .iter()
                    .any(|p| p.name == t.change_field && !p.read_only)
            });
            let accepted = |f: &str| {
                patch_node.is_some_and(|n| n.properties.iter().any(|p| p.name == f && !p.read_only))
            };
            t.concurrent_changes.retain(|c| accepted(&c.field));
        }
        t.etag = read.is_some_and(|r| r.etag);
        t.soft_delete = !ent.deleted_column.is_empty() && t.has_delete && t.has_read;
        let item_path = read.map(|r| r.path.clone()).unwrap_or_default();
        t.restore = t.soft_delete
            && res.operations.iter().any(|o| {
                o.kind == OperationKind::Restore
                    && o.implemented
                    && o.path == format!("{item_path}/restore")
            });
        t.list_deleted =
            t.soft_delete && find("list").is_some_and(|l| !l.paging.deleted.is_empty());
        if !t.has_update || t.concurrent_changes.len() < 2 {
            t.concurrent_changes.clear();
        }
        // Invalid bodies, one per kind of constraint the contract declares.
        let base = s1.as_object().cloned().unwrap_or_default();
        let mut cases = Namespace::new();
        let mut push = |name: &str,
                        field: &str,
                        body: serde_json::Map<String, Value>,
                        out: &mut Vec<InvalidCase>| {
            out.push(InvalidCase {
                name: cases.claim(&snake_ident(name, "case")),
                body: Value::Object(body).to_string(),
                field: field.to_string(),
            });
        };
        let mut out = Vec::new();
        let mut unknown = base.clone();
        unknown.insert("unexpectedField".into(), Value::Bool(true));
        if matches!(node.additional, Additional::Deny) {
            push("unknown_field", "unexpectedField", unknown, &mut out);
        }
        let mut control_probed = false;
        for p in &node.properties {
            let n = &self.tb.nodes[p.node];
            let fname = snake_ident(&p.name, "field");
            if p.read_only {
                let ro = self
                    .tb
                    .sample(p.node, 0, 1)
                    .unwrap_or(Value::String("x".into()));
                let mut b = base.clone();
                b.insert(p.name.clone(), ro);
                push(&format!("{fname} read only"), &p.name, b, &mut out);
                continue;
            }
            if p.required && p.default.is_none() {
                let mut b = base.clone();
                b.remove(&p.name);
                push(&format!("{fname} missing"), &p.name, b, &mut out);
            }
            let mut bad = |suffix: &str, v: Value| {
                let mut b = base.clone();
                b.insert(p.name.clone(), v);
                push(&format!("{fname} {suffix}"), &p.name, b, &mut out);
            };
            match n.kind {
                "string" => {
                    bad("wrong type", Value::from(12345));
                    if let Some(m) = n.max_length {
                        if m < 10_000 {
                            bad("too long", Value::String("x".repeat(m as usize + 1)));
                        }
                    }
                    if let Some(m) = n.min_length.filter(|m| *m > 0) {
                        bad("too short", Value::String("x".repeat(m as usize - 1)));
                    }
                    if n.pattern.is_some() && n.enum_values.is_empty() {
                        bad("pattern mismatch", Value::String("\u{1}!".into()));
                    }
                    if n.enum_values.is_empty() && !n.allow_control && !control_probed {
                        // PostgreSQL cannot store NUL; the service refuses it on both databases.
                        control_probed = true;
                        bad("control characters", Value::String("a\u{0}b".into()));
                    }
                    if !n.enum_values.is_empty() {
                        bad(
                            "not in enum",
                            Value::String("definitely-not-allowed".into()),
                        );
                    } else if let Some(f) = n.format {
                        if n.pattern.is_none() {
                            bad(
                                &format!("bad {f}"),
                                Value::String("not a valid value".into()),
                            );
                        }
                    }
                }
                "integer" | "number" => {
                    bad("wrong type", Value::String("abc".into()));
                    if let Some(m) = n.minimum.filter(|m| *m > -1e15 && *m > i32::MIN as f64) {
                        bad("below minimum", Value::from(m as i64 - 1));
                    }
                    if let Some(m) = n.maximum.filter(|m| *m < 1e15 && *m < i32::MAX as f64) {
                        bad("above maximum", Value::from(m as i64 + 1));
                    }
                }
                "boolean" => bad("wrong type", Value::String("yes".into())),
                "array" => bad("wrong type", Value::String("not a list".into())),
                _ => {}
            }
        }
        t.invalid_cases = out;
        if let Some(u) = node.properties.iter().find(|p| {
            (p.unique || p.unique_per_owner) && !p.read_only && base.contains_key(&p.name)
        }) {
            t.unique_field = u.name.clone();
            t.unique_fn = format!(
                "duplicate_{}_is_409",
                snake_ident(&u.name, "value").trim_end_matches('_')
            );
        }
        // Ownership: non-admins who may create rows and use the owner-only item
        // operations, each with a bearer token alone.
        if t.crud && t.has_read {
            if let Some(sec) = &self.sec {
                let owned: Vec<&Operation> = ["read", "replace", "update", "delete"]
                    .into_iter()
                    .filter(|k| match *k {
                        "read" => t.has_read,
                        "replace" => t.has_replace,
                        "update" => t.has_update,
                        _ => t.has_delete,
                    })
                    .filter_map(find)
                    .filter(|o| o.owner)
                    .collect();
                let create_info = sec.info(&c.guard);
                let infos: Vec<_> = owned.iter().filter_map(|o| sec.info(&o.guard)).collect();
                if let Some(ci) = create_info.filter(|ci| {
                    !owned.is_empty()
                        && infos.len() == owned.len()
                        && ci.bearer
                        && infos.iter().all(|i| i.bearer)
                }) {
                    let candidates = if ci.roles.is_empty() {
                        vec!["member".to_string()]
                    } else {
                        ci.roles.clone()
                    };
                    if let Some(role) = candidates.into_iter().find(|r| {
                        r != sec.admin_role()
                            && infos
                                .iter()
                                .all(|i| i.roles.is_empty() || i.roles.contains(r))
                    }) {
                        t.owner_methods = owned.iter().map(|o| o.method_upper.clone()).collect();
                        t.owner_actions = t
                            .stubs
                            .iter()
                            .filter(|s| !s.row_url.is_empty())
                            .filter(|s| {
                                res.operations.iter().any(|o| {
                                    o.func == s.func
                                        && sec.info(&o.guard).is_some_and(|i| {
                                            i.bearer
                                                && (i.roles.is_empty() || i.roles.contains(&role))
                                        })
                                })
                            })
                            .map(|s| OwnerAction {
                                method: s.method.clone(),
                                row_url: s.row_url.clone(),
                                body: s.body.clone(),
                            })
                            .collect();
                        // Unique per owner: another owner may hold the same value, when no
                        // value of the sample is unique across the table.
                        let in_sample = |p: &&Prop| !p.read_only && base.contains_key(&p.name);
                        if !node.properties.iter().filter(in_sample).any(|p| p.unique) {
                            let per_owner = node
                                .properties
                                .iter()
                                .filter(|p| p.unique_per_owner && !p.read_only)
                                .find_map(|p| {
                                    // A value the sample (already created by the owner) does not hold.
                                    let v = (3..8)
                                        .filter_map(|k| self.tb.sample(p.node, k, 1))
                                        .find(|v| base.get(&p.name) != Some(v))?;
                                    Some((p, v))
                                });
                            if let Some((p, v)) = per_owner {
                                t.owner_unique_field = p.name.clone();
                                t.owner_unique_value = v.to_string();
                            }
                        }
                        t.owner_role = role;
                    }
                }
            }
        }
        t
    }

    /// The operation's path with each parameter replaced by a valid sample value.
    pub(super) fn sample_url(&self, o: &Operation) -> Option<String> {
        self.sample_url_keeping(o, "")
    }

    /// [`Self::sample_url`], with path parameter `keep` (its contract name) written
    /// `{key}` for the test to fill with a row's key.
    pub(super) fn sample_url_keeping(&self, o: &Operation, keep: &str) -> Option<String> {
        let node = self.tb.node_of(&o.path_schema)?;
        let mut url = o.path.clone();
        for p in self.tb.nodes[node].properties.clone() {
            if p.name == keep {
                url = url.replace(&format!("{{{}}}", p.name), "{key}");
                continue;
            }
            let text_of = |v: Value| match v {
                Value::String(s) => s,
                Value::Array(a) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            // A path segment cannot be empty (an `example: ""` would make `//`, which no
            // route matches): the first sample that is not.
            let text = (0..4)
                .filter_map(|k| self.tb.sample(p.node, k, 1))
                .map(text_of)
                .find(|t| !t.is_empty())?;
            url = url.replace(&format!("{{{}}}", p.name), &percent_encode(&text));
        }
        let qnode = self.tb.node_of(&o.query_schema)?;
        let mut qs = Vec::new();
        for p in self.tb.nodes[qnode].properties.clone() {
            if !p.required {
                continue;
            }
            let v = self.tb.sample(p.node, 0, 1)?;
            let vals = match v {
                Value::Array(a) => a,
                other => vec![other],
            };
            for v in vals {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                qs.push(format!(
                    "{}={}",
                    percent_encode(&p.name),
                    percent_encode(&text)
                ));
            }
        }
        if !qs.is_empty() {
            url = format!("{url}?{}", qs.join("&"));
        }
        Some(url)
    }
}
