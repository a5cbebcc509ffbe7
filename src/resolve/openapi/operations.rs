//! Operations: parameters, request bodies and success responses of each operation, and
//! whether a table can serve it (its kind, key, scope, paging, filters, body mapping).

use super::*;

/// An operation's success response: status, JSON schema (if any), the pointer of that
/// schema (or of the response), and its non-JSON media types.
pub(super) type Success = (u16, Option<ReferenceOr<Schema>>, String, Vec<String>);

/// `http::StatusCode` associated constant for a code, or `from_u16` for unusual ones.
pub(super) fn status_const(code: u16) -> String {
    let name = match code {
        200 => "OK",
        201 => "CREATED",
        202 => "ACCEPTED",
        203 => "NON_AUTHORITATIVE_INFORMATION",
        204 => "NO_CONTENT",
        205 => "RESET_CONTENT",
        206 => "PARTIAL_CONTENT",
        207 => "MULTI_STATUS",
        _ => "OK",
    };
    name.to_string()
}

impl Resolver<'_> {
    /// The JSON media type of a content map (`application/json`, `*+json`, `*/*`).
    pub(super) fn json_media(
        content: &IndexMap<String, MediaType>,
    ) -> Option<(&String, &MediaType)> {
        content
            .iter()
            .find(|(k, _)| {
                k.split(';')
                    .next()
                    .is_some_and(|t| t.trim() == "application/json")
            })
            .or_else(|| {
                content.iter().find(|(k, _)| {
                    k.contains("+json") || k.as_str() == "*/*" || k.as_str() == "application/*"
                })
            })
    }

    /// The success response of an operation: (status, JSON schema if any, pointer, non-JSON content types).
    pub(super) fn success(&mut self, o: &RawOp) -> Option<Success> {
        let mut best: Option<(u16, &ReferenceOr<Response>, String)> = None;
        for (code, resp) in o.op.responses.responses.iter() {
            let (n, key) = match code {
                StatusCode::Code(n) => (*n, n.to_string()),
                StatusCode::Range(r) => (*r * 100, format!("{r}XX")),
            };
            if (200..300).contains(&n) && best.as_ref().is_none_or(|b| n < b.0) {
                best = Some((n, resp, ptr(&ptr(&o.pointer, "responses"), &key)));
            }
        }
        let (code, resp, rptr) = best?;
        let resp = resp.clone();
        let (resp, rptr) = self.deref::<Response>(&resp, &rptr)?;
        let json = Self::json_media(&resp.content)
            .and_then(|(k, m)| m.schema.clone().map(|s| (k.clone(), s)));
        let others: Vec<String> = resp.content.keys().cloned().collect();
        match json {
            Some((k, s)) => Some((
                code,
                Some(s),
                ptr(&ptr(&ptr(&rptr, "content"), &k), "schema"),
                vec![],
            )),
            None => Some((code, None, rptr, others)),
        }
    }

    /// Strips the `{data, meta, error}` envelope when the document declares one.
    pub(super) fn payload(
        &mut self,
        s: ReferenceOr<Schema>,
        pointer: &str,
    ) -> (ReferenceOr<Schema>, String) {
        if !self.envelope {
            return (s, pointer.to_string());
        }
        let schema = match &s {
            ReferenceOr::Item(x) => Some((x.clone(), pointer.to_string())),
            ReferenceOr::Reference { reference } => self
                .tb
                .deref_schema(reference, pointer)
                .map(|(t, s)| (s, t)),
        };
        if let Some((schema, base)) = schema {
            if let openapiv3::SchemaKind::Type(openapiv3::Type::Object(o)) = &schema.schema_kind {
                if let Some(d) = o.properties.get("data") {
                    let d = match d {
                        ReferenceOr::Reference { reference } => ReferenceOr::Reference {
                            reference: reference.clone(),
                        },
                        ReferenceOr::Item(b) => ReferenceOr::Item(b.as_ref().clone()),
                    };
                    return (d, ptr(&ptr(&base, "properties"), "data"));
                }
            }
        }
        (s, pointer.to_string())
    }

    /// A response schema that decorates one named schema: `allOf: [{$ref: X}, {…}]` whose
    /// other parts only add optional properties (hypermedia `links`, say; train-travel's
    /// responses are built this way). Every body of `X` conforms to it (JSON Schema allOf),
    /// so a CRUD operation can answer with `X` itself. Returns the `$ref` part and its
    /// pointer; `None` for anything else (a part with `required`, two references, …).
    pub(super) fn decorated_ref(
        s: &ReferenceOr<Schema>,
        pointer: &str,
    ) -> Option<(ReferenceOr<Schema>, String)> {
        let ReferenceOr::Item(schema) = s else {
            return None;
        };
        let parts = match &schema.schema_kind {
            openapiv3::SchemaKind::AllOf { all_of } => all_of,
            openapiv3::SchemaKind::Any(a)
                if !a.all_of.is_empty() && a.properties.is_empty() && a.required.is_empty() =>
            {
                &a.all_of
            }
            _ => return None,
        };
        let adds_optional_only = |x: &Schema| match &x.schema_kind {
            openapiv3::SchemaKind::Type(openapiv3::Type::Object(o)) => o.required.is_empty(),
            openapiv3::SchemaKind::Any(a) => {
                a.required.is_empty()
                    && a.all_of.is_empty()
                    && a.one_of.is_empty()
                    && a.any_of.is_empty()
                    && a.typ.as_deref().is_none_or(|t| t == "object")
            }
            _ => false,
        };
        let mut found = None;
        for (i, part) in parts.iter().enumerate() {
            match part {
                ReferenceOr::Reference { .. } if found.is_none() => {
                    found = Some((part.clone(), ptr(&ptr(pointer, "allOf"), &i.to_string())))
                }
                ReferenceOr::Item(x) if adds_optional_only(x) => {}
                _ => return None,
            }
        }
        found
    }

    /// A list response wrapped in an object: exactly one array property (`data`, `items`,
    /// …) beside optional ones only (`links`, `meta`), collected through `$ref` and allOf.
    /// Returns the property's name, its array schema and pointer. `None` when the schema is
    /// not such an object (a bare array, or a wrapper with other required members, which
    /// apigen cannot fill).
    pub(super) fn list_wrapper(
        &mut self,
        s: &ReferenceOr<Schema>,
        pointer: &str,
    ) -> Option<(String, ReferenceOr<Schema>, String)> {
        let mut props = IndexMap::new();
        let mut required = Vec::new();
        let mut additional = None;
        if !self
            .tb
            .collect_object(s, pointer, &mut props, &mut required, &mut additional, 0)
        {
            return None;
        }
        let mut arrays = Vec::new();
        for (name, (ps, pp)) in &props {
            let resolved = match ps {
                ReferenceOr::Item(x) => Some(x.clone()),
                ReferenceOr::Reference { reference } => {
                    self.tb.deref_schema(reference, pp).map(|x| x.1)
                }
            };
            if let Some(openapiv3::SchemaKind::Type(openapiv3::Type::Array(_))) =
                resolved.map(|x| x.schema_kind)
            {
                arrays.push((name.clone(), ps.clone(), pp.clone()));
            }
        }
        match arrays.as_slice() {
            [(name, _, _)] if required.iter().all(|r| r == name) => arrays.pop(),
            _ => None,
        }
    }

    /// The items of an array schema (following one `$ref`), with a decorated item
    /// (`decorated_ref`) replaced by the schema it decorates.
    pub(super) fn array_items(
        &mut self,
        s: &ReferenceOr<Schema>,
        pointer: &str,
    ) -> Option<(ReferenceOr<Schema>, String)> {
        let (resolved, base) = match s {
            ReferenceOr::Item(x) => (x.clone(), pointer.to_string()),
            ReferenceOr::Reference { reference } => {
                let (t, x) = self.tb.deref_schema(reference, pointer)?;
                (x, t)
            }
        };
        let openapiv3::SchemaKind::Type(openapiv3::Type::Array(a)) = resolved.schema_kind else {
            return None;
        };
        let items = crate::resolve::types::unbox(a.items.as_ref()?);
        let ip = ptr(&base, "items");
        Some(Self::decorated_ref(&items, &ip).unwrap_or((items, ip)))
    }

    /// Resolves parameters of one location into a struct + object node.
    pub(super) fn params(
        &mut self,
        o: &RawOp,
        location: &str,
        struct_hint: &str,
    ) -> (Vec<Param>, usize, Vec<(String, Ty)>, String) {
        let mut merged: IndexMap<String, (Parameter, String)> = IndexMap::new();
        let shared: Vec<(ReferenceOr<Parameter>, String)> = o
            .shared_params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    p.clone(),
                    ptr(&ptr(&ptr("/paths", &o.path), "parameters"), &i.to_string()),
                )
            })
            .collect();
        let own: Vec<(ReferenceOr<Parameter>, String)> =
            o.op.parameters
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    (
                        p.clone(),
                        ptr(&ptr(&o.pointer, "parameters"), &i.to_string()),
                    )
                })
                .collect();
        for (p, pp) in shared.into_iter().chain(own) {
            if let Some((param, at)) = self.deref::<Parameter>(&p, &pp) {
                let loc = match &param {
                    Parameter::Query { .. } => "query",
                    Parameter::Path { .. } => "path",
                    Parameter::Header { .. } => "header",
                    Parameter::Cookie { .. } => "cookie",
                };
                if loc == location {
                    merged.insert(param.parameter_data_ref().name.clone(), (param, at));
                } else if (loc == "header" || loc == "cookie")
                    && location == "query"
                    && param.parameter_data_ref().required
                {
                    self.diag(
                        Severity::Info,
                        &at,
                        format!(
                            "required {loc} parameter `{}` is not checked by the generated handler",
                            param.parameter_data_ref().name
                        ),
                        "read it from the request headers in the service if you need it",
                    );
                }
            }
        }
        // Path parameters follow the order in the path template.
        if location == "path" {
            let order: Vec<String> = super::paths::template_params(&o.path);
            let mut sorted = IndexMap::new();
            for name in &order {
                match merged.shift_remove(name) {
                    Some(v) => {
                        sorted.insert(name.clone(), v);
                    }
                    None => {
                        self.diag(Severity::Warning, &o.pointer, format!("path parameter `{name}` of `{}` is not declared; it is read as a string", o.path), "declare it under `parameters` with `in: path`");
                        let p: Parameter = serde_json::from_value(serde_json::json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})).expect("static parameter");
                        sorted.insert(name.clone(), (p, o.pointer.clone()));
                    }
                }
            }
            merged = sorted;
        }
        let node = self.tb.nodes.len();
        let ident = struct_hint.to_string();
        let mut obj = Node {
            ident: String::new(),
            kind: "object",
            additional: Additional::Deny,
            ..Node::default()
        };
        let mut fields = Namespace::new();
        let mut out = Vec::new();
        let mut tys = Vec::new();
        let merged_params: Vec<Parameter> = merged.values().map(|(p, _)| p.clone()).collect();
        for (name, (param, at)) in merged {
            let data = param.parameter_data_ref();
            let ty = match &data.format {
                ParameterSchemaOrContent::Schema(s) => {
                    self.tb
                        .ty(s, &ptr(&at, "schema"), &format!("{struct_hint} {name}"))
                }
                ParameterSchemaOrContent::Content(_) => {
                    self.tb.any(&format!("{struct_hint} {name}"))
                }
            };
            let kind = self.tb.nodes[ty.node].kind;
            let ty = if kind == "object"
                || kind == "union"
                || (kind == "array"
                    && self.tb.nodes[self.tb.nodes[ty.node].items.unwrap_or(ty.node)].kind
                        == "object")
            {
                self.diag(Severity::Warning, &at, format!("{location} parameter `{name}` is an object; it is accepted as free-form JSON text"), "use scalar or array parameters for a typed handler");
                let t = self.tb.any(&format!("{struct_hint} {name}"));
                self.tb.nodes[t.node].kind = "any";
                t
            } else {
                ty
            };
            let required = data.required || location == "path";
            let field = fields.claim(&snake_ident(&name, "param"));
            let rust = if ty.boxed {
                format!("Box<{}>", ty.rust)
            } else {
                ty.rust.clone()
            };
            let rust = if required {
                rust
            } else {
                format!("Option<{rust}>")
            };
            let mut serde = Vec::new();
            if field != name {
                serde.push(format!("rename = {}", rust_str(&name)));
            }
            if !required {
                serde.push("default".to_string());
            }
            let default = match &data.format {
                ParameterSchemaOrContent::Schema(ReferenceOr::Item(s)) => {
                    s.schema_data.default.clone()
                }
                _ => None,
            };
            let default = default.and_then(|d| self.tb.fit_default(ty.node, d, &at));
            obj.properties.push(Prop {
                name: name.clone(),
                node: ty.node,
                required,
                read_only: false,
                write_only: false,
                default,
                ty: ty.clone(),
                unique: false,
                unique_per_owner: false,
                references: None,
                renamed_from: None,
            });
            let unparsed_style = match &param {
                Parameter::Query { style, .. } => match style {
                    openapiv3::QueryStyle::Form => "",
                    openapiv3::QueryStyle::SpaceDelimited => "spaceDelimited",
                    openapiv3::QueryStyle::PipeDelimited => "pipeDelimited",
                    openapiv3::QueryStyle::DeepObject => "deepObject",
                },
                Parameter::Path { style, .. } => match style {
                    openapiv3::PathStyle::Simple => "",
                    openapiv3::PathStyle::Label => "label",
                    openapiv3::PathStyle::Matrix => "matrix",
                },
                _ => "",
            }
            .to_string();
            out.push(Param {
                field,
                name_lit: rust_str(&name),
                ty: rust,
                required,
                serde: serde.join(", "),
                unparsed_style,
            });
            tys.push((name, ty));
        }
        let _ = node;
        obj.ident = self.claim_node_ident(&ident);
        let index = self.tb.push_node(obj);
        // Operations declaring the same parameters share one struct (see `operation`).
        let signature = serde_json::to_string(&merged_params).unwrap_or_default();
        (out, index, tys, signature)
    }

    pub(super) fn claim_node_ident(&mut self, hint: &str) -> String {
        // Node idents share the builder's namespace through a throwaway node.
        let t = self.tb.any(hint);
        let ident = self.tb.nodes[t.node].ident.clone();
        self.tb.nodes.pop();
        ident
    }

    pub(super) fn operation(
        &mut self,
        o: &RawOp,
        route: &str,
        is_item: bool,
        entity: Option<&EntityChoice>,
        funcs: &mut Namespace,
        foreign: bool,
    ) -> Operation {
        let op_id =
            o.op.operation_id
                .clone()
                .unwrap_or_else(|| format!("{} {}", o.method, o.path));
        let func = funcs.claim(&snake_ident(&op_id, "operation"));
        let pascal = pascal_ident(&func, "Operation");
        let kind = match (o.method, is_item) {
            ("get", false) => "list",
            ("post", false) => "create",
            ("get", true) => "read",
            ("put", true) => "replace",
            ("patch", true) => "update",
            ("delete", true) => "delete",
            _ => "custom",
        };
        let is_action =
            o.op.extensions
                .get("x-apigen-action")
                .and_then(Value::as_bool)
                .unwrap_or(false);
        let kind = if is_action || foreign { "custom" } else { kind };
        // `POST …/{id}/restore` marked `x-apigen-restore`: brings back a soft-deleted row.
        let restores =
            o.op.extensions
                .get("x-apigen-restore")
                .and_then(Value::as_bool)
                == Some(true);
        let kind = if restores && o.method == "post" {
            "restore"
        } else {
            kind
        };
        let (path_params, path_node, path_tys, path_struct) = self.path_params(o, &pascal);
        let (query_params, query_node, query_tys, _) =
            self.params(o, "query", &format!("{pascal} query"));
        let mut reasons: Vec<String> = Vec::new();
        for p in path_params.iter().filter(|p| !p.unparsed_style.is_empty()) {
            let name: String = serde_json::from_str(&p.name_lit).unwrap_or_default();
            reasons.push(format!(
                "its path parameter `{name}` has style `{}`, which the service does not parse",
                p.unparsed_style
            ));
            self.diag(
                Severity::Warning,
                &o.pointer,
                format!("path parameter `{name}` of `{} {}` has style `{}`, which the service does not parse: the operation answers 501", o.method.to_uppercase(), o.path, p.unparsed_style),
                "use the default `simple` style for path parameters",
            );
        }
        let body = self.request_body(o, &pascal, &mut reasons);
        let mut list_wrapper = String::new();
        let (status, success_ty, success_node) = self.success_response(
            o,
            kind,
            entity.is_some(),
            &pascal,
            &mut reasons,
            &mut list_wrapper,
        );
        let mut op = Operation {
            func: func.clone(),
            operation_id: op_id.clone(),
            doc: doc_line(
                o.op.summary
                    .as_deref()
                    .or(o.op.description.as_deref())
                    .unwrap_or(&op_id),
            ),
            method: o.method.to_string(),
            method_upper: o.method.to_uppercase(),
            path: o.path.clone(),
            route: route.to_string(),
            kind: operation_kind(kind),
            implemented: false,
            not_implemented_reason: String::new(),
            path_struct,
            path_segments: path_segments_expr(&o.path),
            path_schema: self.tb.nodes[path_node].ident.clone(),
            path_params,
            query_struct: if query_params.is_empty() {
                String::new()
            } else {
                self.tb.type_names.claim(&format!("{pascal}Query"))
            },
            query_schema: self.tb.nodes[query_node].ident.clone(),
            query_params,
            body,
            success_status: status,
            success_const: status_const(status),
            success_ty,
            response_kind: ResponseKind::Json,
            service_ret: String::new(),
            body_arg: String::new(),
            list_wrapper,
            key_field: String::new(),
            create_key: CreateKey::default(),
            assigns: vec![],
            scope: vec![],
            paging: Paging::default(),
            filters: vec![],
            patch: vec![],
            touch: None,
            location: None,
            uses_now: false,
            checks_parent: false,
            query_used: false,
            unapplied_query: vec![],
            filter_rest: false,
            guard: String::new(),
            written_by_user: false,
            access: String::new(),
            owner: false,
            caller_used: false,
            owned_row: String::new(),
            etag: false,
            conditional: matches!(kind, "replace" | "update" | "delete"),
            if_none_match: false,
        };
        // Decide whether the entity can serve this operation.
        if !reasons.is_empty() {
            op.not_implemented_reason = reasons.join("; ");
            return op;
        }
        let Some(e) = entity else {
            op.not_implemented_reason = if kind == "custom" {
                "it is a custom action".into()
            } else {
                "no table backs this path (no readable object schema with a key)".into()
            };
            return op;
        };
        self.implement(
            &mut op,
            e,
            kind,
            &path_tys,
            &query_tys,
            success_node.as_deref(),
        );
        op
    }

    /// The path parameters of `o`, shared with an earlier operation of the resource that
    /// takes the same ones (one struct and validation node for both: `BookPath` rather
    /// than `GetBookPath`, `ReplaceBookPath`, …): the parameters, the node, their types and
    /// the struct's name (empty when there are none).
    fn path_params(
        &mut self,
        o: &RawOp,
        pascal: &str,
    ) -> (Vec<Param>, usize, Vec<(String, Ty)>, String) {
        let before = (self.tb.nodes.len(), self.tb.types.len());
        let (path_params, mut path_node, mut path_tys, signature) =
            self.params(o, "path", &format!("{pascal} path"));
        let mut path_struct = String::new();
        // One struct (and validation node) for every operation of the resource that takes
        // the same path parameters: `BookPath` rather than `GetBookPath`, `ReplaceBookPath`, ….
        if !path_params.is_empty() {
            match self.path_structs.get(&signature) {
                Some((node, name, tys)) => {
                    if self.tb.types.len() == before.1 {
                        self.tb.discard_nodes_from(before.0);
                    }
                    path_node = *node;
                    path_struct = name.clone();
                    path_tys = tys.clone();
                }
                None => {
                    // Claimed beside the model's types: routes import both by name.
                    path_struct = self.tb.type_names.claim(&format!("{pascal}Path"));
                    self.path_structs.insert(
                        signature,
                        (path_node, path_struct.clone(), path_tys.clone()),
                    );
                }
            }
        }
        (path_params, path_node, path_tys, path_struct)
    }

    /// The request body of `o`: JSON (typed from its schema), or a media type the service
    /// does not read (the operation then answers 501, and `reasons` says why).
    fn request_body(&mut self, o: &RawOp, pascal: &str, reasons: &mut Vec<String>) -> Option<Body> {
        let mut body = None;
        if let Some(rb) = &o.op.request_body {
            let rbptr = ptr(&o.pointer, "requestBody");
            if let Some((rb, at)) = self.deref::<RequestBody>(rb, &rbptr) {
                match Self::json_media(&rb.content).map(|(k, m)| (k.clone(), m.schema.clone())) {
                    Some((k, Some(s))) => {
                        let others: Vec<String> =
                            rb.content.keys().filter(|x| **x != k).cloned().collect();
                        if !others.is_empty() {
                            self.diag(Severity::Info, &ptr(&at, "content"), format!("`{} {}` reads {k} bodies only; {} answer 415 and are left out of the served document", o.method.to_uppercase(), o.path, others.join(", ")), "implement the other media types by hand if clients send them");
                            for m in others {
                                self.unserved_media.push((ptr(&at, "content"), m));
                            }
                        }
                        let sp = ptr(&ptr(&ptr(&at, "content"), &k), "schema");
                        let ty = self.tb.ty(&s, &sp, &format!("{pascal} body"));
                        body = Some(Body {
                            ty: ty.rust.clone(),
                            schema: self.tb.nodes[ty.node].ident.clone(),
                            required: rb.required,
                            mode: BodyMode::Json,
                        });
                    }
                    Some((_, None)) => {
                        let ty = self.tb.any(&format!("{pascal} body"));
                        body = Some(Body {
                            ty: ty.rust.clone(),
                            schema: self.tb.nodes[ty.node].ident.clone(),
                            required: rb.required,
                            mode: BodyMode::Json,
                        });
                    }
                    None => {
                        let types: Vec<String> = rb.content.keys().cloned().collect();
                        self.diag(Severity::Warning, &ptr(&at, "content"), format!("request bodies of type {} are not served yet; `{} {}` answers 501", types.join(", "), o.method.to_uppercase(), o.path), "add an `application/json` body to the operation, or implement this handler by hand");
                        reasons.push(format!(
                            "its request body ({}) is not served yet",
                            types.join(", ")
                        ));
                        body = Some(Body {
                            ty: String::new(),
                            schema: String::new(),
                            required: rb.required,
                            mode: BodyMode::Unsupported,
                        });
                    }
                }
            }
        }
        body
    }

    /// The success status of `o`, the Rust type of its body (empty for none) and that type
    /// again when it is JSON. Where a table can back the operation, a list wrapped in an
    /// object (`list_wrapper` gets its member) or an entity decorated with optional members
    /// is answered with the entity itself (see `list_wrapper`, `decorated_ref`), so a stub
    /// keeps the contract's full type.
    fn success_response(
        &mut self,
        o: &RawOp,
        kind: &str,
        has_entity: bool,
        pascal: &str,
        reasons: &mut Vec<String>,
        list_wrapper: &mut String,
    ) -> (u16, String, Option<String>) {
        match self.success(o) {
            Some((code, Some(s), sp, _)) => {
                let (s, sp) = self.payload(s, &sp);
                let crud = has_entity && kind != "custom";
                let hint = format!("{pascal} response");
                let rust = match kind {
                    "list" if crud => {
                        let (arr, ap) = match self.list_wrapper(&s, &sp) {
                            Some((name, a, ap)) => {
                                *list_wrapper = name;
                                (a, ap)
                            }
                            None => (s.clone(), sp.clone()),
                        };
                        match self.array_items(&arr, &ap) {
                            Some((items, ip)) => {
                                format!(
                                    "Vec<{}>",
                                    self.tb.ty(&items, &ip, &format!("{pascal} item")).rust
                                )
                            }
                            None => self.tb.ty(&s, &sp, &hint).rust,
                        }
                    }
                    _ if crud => match Self::decorated_ref(&s, &sp) {
                        Some((r, rp)) => self.tb.ty(&r, &rp, &hint).rust,
                        None => self.tb.ty(&s, &sp, &hint).rust,
                    },
                    _ => self.tb.ty(&s, &sp, &hint).rust,
                };
                (code, rust.clone(), Some(rust))
            }
            Some((code, None, rp, others)) => {
                if !others.is_empty() {
                    self.diag(
                        Severity::Warning,
                        &ptr(&rp, "content"),
                        format!(
                            "responses of type {} are not served yet; `{} {}` answers 501",
                            others.join(", "),
                            o.method.to_uppercase(),
                            o.path
                        ),
                        "declare an `application/json` response, or implement this handler by hand",
                    );
                    reasons.push(format!(
                        "its response ({}) is not served yet",
                        others.join(", ")
                    ));
                }
                (code, String::new(), None)
            }
            None => {
                let code = match kind {
                    "create" => 201,
                    "delete" => 204,
                    _ => 200,
                };
                self.diag(
                    Severity::Info,
                    &ptr(&o.pointer, "responses"),
                    format!(
                        "`{} {}` declares no 2xx response; it answers {code} on success",
                        o.method.to_uppercase(),
                        o.path
                    ),
                    "declare the success response in the contract",
                );
                (code, String::new(), None)
            }
        }
    }

    /// Decides whether entity `e` can serve `op` (of `kind`) and fills in how: its key,
    /// scope, paging, filters and the body's mapping onto the row. Otherwise the operation
    /// answers 501 and `not_implemented_reason` says why.
    fn implement(
        &mut self,
        op: &mut Operation,
        e: &EntityChoice,
        kind: &str,
        path_tys: &[(String, Ty)],
        query_tys: &[(String, Ty)],
        success_node: Option<&str>,
    ) {
        let ent_ty = e.ty.rust.clone();
        let props = self.tb.nodes[e.ty.node].properties.clone();
        let fields = self.tb.types[e.ty.named.unwrap_or_default()].fields.clone();
        let success_fits = |want_vec: bool| match success_node {
            Some(t) if want_vec => t == format!("Vec<{ent_ty}>"),
            Some(t) => t == ent_ty,
            None => false,
        };
        let mut why = String::new();
        // Key parameter for item operations: the last path parameter.
        if matches!(kind, "read" | "replace" | "update" | "delete" | "restore") {
            if let Some((pname, pty)) = path_tys.last() {
                let key_ty = &props[e.key_prop].ty;
                let pf = op
                    .path_params
                    .last()
                    .map(|p| p.field.clone())
                    .unwrap_or_default();
                // Exact types only: an integer parameter cannot address the UUIDs a string key
                // gets (regression: atlassian.com/jira.json).
                if pty.rust == key_ty.rust {
                    op.key_field = pf;
                } else {
                    why = format!(
                        "path parameter `{pname}` is a {} but the key `{}` is a {}",
                        pty.rust, props[e.key_prop].name, key_ty.rust
                    );
                }
            }
        }
        // Scope: every other path parameter must match an entity property of the same type.
        let scope_params: Vec<(String, Ty)> = match kind {
            "list" => path_tys.to_vec(),
            "create" if !path_tys.is_empty() => {
                why = "creating under a parent path is not generated yet".into();
                vec![]
            }
            _ if path_tys.len() > 1 => {
                why = "item operations under a parent path are not generated yet".into();
                vec![]
            }
            _ => vec![],
        };
        for (pname, pty) in &scope_params {
            let pf = op
                .path_params
                .iter()
                .find(|p| p.name_lit == rust_str(pname))
                .map(|p| p.field.clone())
                .unwrap_or_default();
            match props
                .iter()
                .zip(fields.iter())
                .find(|(p, _)| &p.name == pname && p.ty.rust == pty.rust)
            {
                Some((p, f)) => op.scope.push(Scope {
                    column: f.name.clone(),
                    param: pf,
                    copy: is_copy(&pty.rust, &self.tb.enums),
                    parent_sql: p.references.as_ref().map_or(String::new(), |target| {
                        let ph = if self.database == Database::Postgres {
                            "$1"
                        } else {
                            "?1"
                        };
                        // A soft-deleted parent is gone: its nested list is 404.
                        let live = if self
                            .raw_schema_flag(&pascal_ident(target, ""), "x-apigen-soft-delete")
                        {
                            " AND \"deleted_at\" IS NULL"
                        } else {
                            ""
                        };
                        format!(
                            "SELECT 1 FROM \"{}\" WHERE \"id\" = {ph}{live}",
                            self.table_of_domain_ref(target)
                        )
                    }),
                }),
                None => {
                    why =
                        format!("path parameter `{pname}` does not match a property of `{ent_ty}`");
                }
            }
        }
        if why.is_empty() {
            match kind {
                "list" => {
                    if !success_fits(true) {
                        why = format!("its success response is not a list of `{ent_ty}`");
                    }
                }
                "read" => {
                    if !success_fits(false) {
                        why = format!("its success response is not a `{ent_ty}`");
                    }
                }
                "restore" => {
                    if !self.raw_schema_flag(&ent_ty, "x-apigen-soft-delete") {
                        why = format!("`{ent_ty}` is not soft-deleted (`x-apigen-soft-delete`)");
                    } else if !success_fits(false) {
                        why = format!("its success response is not a `{ent_ty}`");
                    }
                }
                "delete" => {
                    if !op.success_ty.is_empty() {
                        why = "its success response has a body".into();
                    }
                }
                "create" | "replace" => {
                    if !(success_fits(false) || op.success_ty.is_empty()) {
                        why = format!("its success response is not a `{ent_ty}`");
                    } else {
                        match &op.body {
                            Some(b) if b.mode == BodyMode::Json => {
                                match self.assigns(e, &b.ty, kind) {
                                    // A body sharing no field with the entity would be ignored.
                                    Ok(a)
                                        if !a
                                            .iter()
                                            .any(|x| matches!(x.source, Source::Body { .. })) =>
                                    {
                                        why = format!("its request body has no field of `{ent_ty}`")
                                    }
                                    Ok(a) => op.assigns = a,
                                    Err(w) => why = w,
                                }
                            }
                            _ => why = "it has no JSON request body".into(),
                        }
                    }
                }
                "update" => {
                    if !(success_fits(false) || op.success_ty.is_empty()) {
                        why = format!("its success response is not a `{ent_ty}`");
                    } else if !matches!(&op.body, Some(b) if b.mode == BodyMode::Json) {
                        why = "it has no JSON request body".into();
                    } else if let Some(b) = &mut op.body {
                        b.mode = BodyMode::Patch;
                    }
                }
                _ => why = "it is a custom action".into(),
            }
        }
        if why.is_empty() {
            op.implemented = true;
            // Paging and sorting parameters the contract declares (only a list reads them).
            let list_params = if kind == "list" { query_tys } else { &[] };
            let soft = self.raw_schema_flag(&ent_ty, "x-apigen-soft-delete");
            // A page-size parameter without a `maximum`: the cap the service chose for it.
            let mut uncapped: Option<(String, i64)> = None;
            for (p, (name, ty)) in op.query_params.iter().zip(list_params.iter()) {
                let base = p.ty.trim_start_matches("Option<").trim_end_matches('>');
                let is_int = base == "i64" || base == "i32";
                let paging = &mut op.paging;
                match name.as_str() {
                    "limit" | "perPage" | "per_page" | "pageSize" | "page_size" if is_int => {
                        let node = &self.tb.nodes[ty.node];
                        paging.limit = p.field.clone();
                        // The default as the service applies it (`"1000"` read as 1000).
                        let default = node
                            .default
                            .as_ref()
                            .and_then(|d| self.tb.fit(ty.node, d))
                            .and_then(|d| d.as_i64());
                        paging.max_limit = page_cap(node, default);
                        if !p.required {
                            paging.limit_query = name.clone();
                        }
                        paging.min_limit = node.minimum.map_or(1, |m| {
                            let m = if node.exclusive_minimum { m + 1.0 } else { m };
                            m.ceil().clamp(1.0, i64::MAX as f64) as i64
                        });
                        if page_maximum(node).is_none() {
                            uncapped = Some((name.clone(), paging.max_limit));
                        }
                    }
                    "offset" | "skip" if is_int => paging.offset = p.field.clone(),
                    "page" if is_int => paging.page = p.field.clone(),
                    "cursor" if base == "String" => paging.cursor = p.field.clone(),
                    "deleted" if base == "bool" && soft => paging.deleted = p.field.clone(),
                    "sort" => {
                        paging.sort = p.field.clone();
                        paging.sort_enum = base != "String";
                    }
                    _ => {}
                }
            }
            if let Some((name, cap)) = uncapped {
                self.diag(
                    Severity::Info,
                    &ptr(&ptr("/paths", &op.path), &op.method),
                    format!("page-size parameter `{name}` of `{} {}` has no maximum: a page holds at most {cap} rows, and a request for more answers 400", op.method_upper, op.path),
                    &format!("declare `maximum` on `{name}` to publish the limit (the service then serves pages up to it)"),
                );
            }
            let paging = &op.paging;
            let understood = [
                &paging.limit,
                &paging.offset,
                &paging.page,
                &paging.cursor,
                &paging.sort,
                &paging.deleted,
            ];
            if kind == "list" {
                for (p, (name, ty)) in op.query_params.iter().zip(query_tys.iter()) {
                    if understood.iter().any(|u| **u == p.field) || !p.unparsed_style.is_empty() {
                        continue;
                    }
                    let scalar =
                        |x: &Prop| !matches!(x.ty.sql, Sql::Json) && !x.ty.rust.starts_with("Vec<");
                    let equal = props
                        .iter()
                        .zip(fields.iter())
                        .find(|(x, _)| &x.name == name && x.ty.rust == ty.rust && scalar(x));
                    // An array of the property's type, named after it or its plural
                    // (`tags` for `tag`): membership.
                    let member = props.iter().zip(fields.iter()).find(|(x, _)| {
                        (&x.name == name || crate::resolve::names::plural(&x.name) == *name)
                            && ty.rust == format!("Vec<{}>", x.ty.rust)
                            && scalar(x)
                    });
                    let filter = match (equal, member) {
                        (Some((_, f)), _) => f.name.clone(),
                        (None, Some((_, f))) => format!("{}{}", f.name, crate::model::MANY_SUFFIX),
                        (None, None) => continue,
                    };
                    // The path already fixes this column (biapi's `id_connection` in both
                    // the path and the query of `/connections/{id_connection}/logs`): the
                    // query parameter stays unapplied, so a request sending it is refused
                    // rather than filtered one way and silently not the other.
                    if op.scope.iter().any(|s| s.column == filter) {
                        continue;
                    }
                    // A required parameter always filters.
                    op.filters.push(QueryFilter {
                        query_field: p.field.clone(),
                        filter,
                        required: !p.ty.starts_with("Option<"),
                    });
                }
            }
            // A list must honour every required query parameter, or it would ignore it.
            let used: Vec<String> = understood
                .iter()
                .map(|f| f.to_string())
                .chain(op.filters.iter().map(|f| f.query_field.clone()))
                .collect();
            if let Some(p) = op
                .query_params
                .iter()
                .find(|p| p.required && !used.contains(&p.field))
            {
                op.implemented = false;
                op.filters.clear();
                op.not_implemented_reason = format!("its required query parameter {} is not a filter, page or sort parameter apigen understands", p.name_lit);
            }
            if op.implemented {
                op.unapplied_query = op
                    .query_params
                    .iter()
                    .filter(|p| !used.contains(&p.field))
                    .map(|p| UnappliedParam {
                        field: p.field.clone(),
                        name: serde_json::from_str(&p.name_lit).unwrap_or_default(),
                    })
                    .collect();
                if !op.unapplied_query.is_empty() {
                    let names: Vec<String> = op
                        .query_params
                        .iter()
                        .filter(|p| op.unapplied_query.iter().any(|u| u.field == p.field))
                        .map(|p| {
                            let name: String =
                                serde_json::from_str(&p.name_lit).unwrap_or_default();
                            if p.unparsed_style.is_empty() {
                                format!("`{name}`")
                            } else {
                                format!(
                                    "`{name}` (style `{}`, which the service does not parse)",
                                    p.unparsed_style
                                )
                            }
                        })
                        .collect();
                    self.diag(
                        Severity::Warning,
                        &ptr(&ptr("/paths", &op.path), &op.method),
                        format!("query parameter(s) {} of `{} {}` are not applied by apigen's implementation: a request that sends one answers 501, naming it", names.join(", "), op.method_upper, op.path),
                        "take the operation over in its service file to apply them (a list filters by a parameter named like a property, or its plural for an array: `tags` for `tag`)",
                    );
                }
            }
            op.query_used = (!used.iter().all(String::is_empty) || !op.unapplied_query.is_empty())
                && op.implemented;
        } else {
            op.not_implemented_reason = why;
        }
    }

    /// How to build the entity from `body` (create / replace): one assignment per field.
    pub(super) fn assigns(
        &mut self,
        e: &EntityChoice,
        body_ty: &str,
        kind: &str,
    ) -> Result<Vec<Assign>, String> {
        let props = self.tb.nodes[e.ty.node].properties.clone();
        let fields = self.tb.types[e.ty.named.unwrap_or_default()].fields.clone();
        let body_fields: Vec<(Prop, StructField)> = match self
            .tb
            .type_of(body_ty)
            .filter(|&i| self.tb.types[i].kind == "struct")
        {
            Some(i) => {
                let node = self
                    .tb
                    .node_of(&self.tb.types[i].schema)
                    .unwrap_or_default();
                self.tb.nodes[node]
                    .properties
                    .clone()
                    .into_iter()
                    .zip(self.tb.types[i].fields.clone())
                    .collect()
            }
            None => {
                return Err(format!(
                    "its request body `{body_ty}` is not an object type"
                ))
            }
        };
        let owned = self.raw_schema_flag(&e.ty.rust, "x-apigen-owned");
        let mut out = Vec::new();
        for (i, (p, f)) in props.iter().zip(fields.iter()).enumerate() {
            let optional = f.ty.starts_with("Option<");
            let source = if owned
                && kind == "create"
                && (p.name == "ownerId" || p.name == "owner_id")
                && p.ty.sql == Sql::Uuid
            {
                // The owner is whoever creates the row; a replace keeps it (the UPDATE
                // statement does not set the owner column).
                Source::Caller {
                    required: !optional,
                }
            } else if i == e.key_prop {
                if kind == "replace" {
                    Source::Key { wrap: optional }
                } else if optional {
                    Source::Nothing
                } else {
                    Source::Default
                }
            } else if (p.name == "createdAt"
                || p.name == "created_at"
                || p.name == "updatedAt"
                || p.name == "updated_at")
                && p.ty.sql == Sql::DateTime
            {
                Source::Now { wrap: optional }
            } else if let Some(expr) = p.read_only.then(|| self.default_expr(p, &f.ty)).flatten() {
                // Server-set: the contract's default, whatever the body (which may not
                // carry it) says.
                Source::Value { expr }
            } else if let Some((bp, bf)) = body_fields
                .iter()
                .find(|(bp, _)| bp.name == p.name && !bp.read_only)
            {
                if bf.ty == f.ty {
                    Source::Body {
                        field: bf.name.clone(),
                        wrap: false,
                    }
                } else if f.ty == format!("Option<{}>", bf.ty) {
                    Source::Body {
                        field: bf.name.clone(),
                        wrap: true,
                    }
                } else {
                    return Err(format!(
                        "the body's `{}` ({}) does not fit the stored `{}` ({})",
                        bp.name, bf.ty, p.name, f.ty
                    ));
                }
            } else if optional {
                Source::Nothing
            } else if f.ty.starts_with("Vec<")
                || p.read_only
                    && matches!(
                        p.ty.sql,
                        Sql::Text
                            | Sql::Int32
                            | Sql::Int64
                            | Sql::Real
                            | Sql::Bool
                            | Sql::Uuid
                            | Sql::DateTime
                    )
            {
                Source::Default
            } else {
                return Err(format!(
                    "the stored `{}` cannot be filled from the request body",
                    p.name
                ));
            };
            out.push(Assign {
                field: f.name.clone(),
                source,
            });
        }
        Ok(out)
    }

    /// The contract's `default` of `p` as a Rust expression of type `ty` (`Option<…>`
    /// wrapped in `Some`): a string enum's variant, a string, a number or a boolean; `None`
    /// for no default or another type.
    fn default_expr(&self, p: &Prop, ty: &str) -> Option<String> {
        let d = p.default.as_ref()?;
        let (inner, wrap) = match ty.strip_prefix("Option<").and_then(|t| t.strip_suffix('>')) {
            Some(inner) => (inner, true),
            None => (ty, false),
        };
        let expr = match (inner, d) {
            ("String", Value::String(s)) => format!("{}.to_string()", rust_str(s)),
            ("bool", Value::Bool(b)) => b.to_string(),
            ("i32" | "i64", Value::Number(n)) if n.is_i64() => n.to_string(),
            ("f64" | "f32", Value::Number(n)) => {
                let v = n.as_f64()?;
                if v.fract() == 0.0 {
                    format!("{v:.1}")
                } else {
                    v.to_string()
                }
            }
            (name, Value::String(s)) => {
                let t = self.tb.type_of(name).map(|i| &self.tb.types[i])?;
                let lit = rust_str(s);
                let v = t
                    .variants
                    .iter()
                    .find(|v| t.kind == "enum" && v.value_lit == lit)?;
                format!("{name}::{}", v.name)
            }
            _ => return None,
        };
        Some(if wrap { format!("Some({expr})") } else { expr })
    }

    /// The body struct field for a JSON property, with its read-only flag.
    pub(super) fn body_field(&self, body_ty: &str, prop: &str) -> Option<(StructField, bool)> {
        let t = self
            .tb
            .type_of(body_ty)
            .filter(|&i| self.tb.types[i].kind == "struct")
            .map(|i| &self.tb.types[i])?;
        let node = self.tb.node_of(&t.schema).map(|i| &self.tb.nodes[i])?;
        node.properties
            .iter()
            .zip(t.fields.iter())
            .find(|(p, _)| p.name == prop)
            .map(|(p, f)| (f.clone(), p.read_only))
    }
}

/// The kind named `kind` (`list`, `create`, …).
pub(super) fn operation_kind(kind: &str) -> OperationKind {
    match kind {
        "list" => OperationKind::List,
        "create" => OperationKind::Create,
        "read" => OperationKind::Read,
        "replace" => OperationKind::Replace,
        "update" => OperationKind::Update,
        "delete" => OperationKind::Delete,
        "restore" => OperationKind::Restore,
        _ => OperationKind::Custom,
    }
}

/// The `extract::path_segments` templates of `path` routed as `route`, as a Rust
/// expression; empty when every captured segment is one whole parameter.
fn path_segments_expr(path: &str) -> String {
    use super::paths::{segment_templates, TemplatePiece};
    let templates = segment_templates(path);
    if templates.iter().all(Option::is_none) {
        return String::new();
    }
    let parts: Vec<String> = templates
        .iter()
        .map(|t| match t {
            None => "extract::Segment::Whole".to_string(),
            Some(pieces) => {
                let ps: Vec<String> = pieces
                    .iter()
                    .map(|p| match p {
                        TemplatePiece::Lit(l) => format!("extract::Piece::Lit({})", rust_str(l)),
                        TemplatePiece::Param(_) => "extract::Piece::Param".to_string(),
                    })
                    .collect();
                format!("extract::Segment::Split(&[{}])", ps.join(", "))
            }
        })
        .collect();
    format!("&[{}]", parts.join(", "))
}

/// The most rows one page of a list holds, from its page-size parameter's schema: the
/// contract's `maximum` (one less when exclusive), else the larger of [`MAX_PAGE`] and
/// the parameter's `default`, so a list the contract pages by 1,000 rows is never cut to
/// 100 without a sign (an offset client would take the short page for the last one).
fn page_cap(limit: &crate::resolve::types::Node, default: Option<i64>) -> i64 {
    match page_maximum(limit) {
        Some(max) => max.floor().clamp(1.0, i64::MAX as f64) as i64,
        None => default.unwrap_or(0).max(MAX_PAGE),
    }
}

/// The largest page the contract's page-size parameter allows (one less than an exclusive
/// `maximum`), if it chose one: the bound `format: int32` implies is no page size (a page of
/// 2^31 rows is no cap at all).
fn page_maximum(limit: &crate::resolve::types::Node) -> Option<f64> {
    let max = limit.maximum.filter(|m| *m < i32::MAX as f64)?;
    Some(if limit.exclusive_maximum {
        max - 1.0
    } else {
        max
    })
}
