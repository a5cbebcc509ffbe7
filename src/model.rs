//! The resolved model: the one thing templates see.
//!
//! Owns the data shapes produced by `resolve` and consumed by `plan` and `render`. Every
//! name, Rust type, SQL type and literal is computed before it lands here, so templates only
//! loop and branch. **Invariant:** nothing in a `Model` depends on the clock, the machine or
//! hash-map order, so rendering it twice gives the same bytes.

use crate::diag::Diagnostic;
use serde::Serialize;

/// Which SQL database the generated service uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Database {
    #[default]
    Sqlite,
    Postgres,
}

impl Database {
    /// Parses `sqlite` or `postgres` (also `postgresql`, `pg`).
    pub fn parse(s: &str) -> Option<Database> {
        match s.to_ascii_lowercase().as_str() {
            "sqlite" => Some(Database::Sqlite),
            "postgres" | "postgresql" | "pg" => Some(Database::Postgres),
            _ => None,
        }
    }
}

/// A whole service.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    /// Crate name of the generated project (snake_case, a valid Rust identifier).
    pub package: String,
    pub title: String,
    /// The contract's own version (`info.version`).
    pub api_version: String,
    /// apigen's version, written in every generated header.
    pub generator_version: String,
    /// File name of the contract inside the generated project (`contract.yaml`, say).
    pub contract_file: String,
    /// `openapi` or `domain`.
    pub source_kind: String,
    pub database: Database,
    /// Success bodies are wrapped as `{"data": …, "meta": …, "error": null}` (domain specs).
    pub envelope: bool,
    /// Named Rust types (structs, string enums, unions, aliases), in dependency-free order.
    pub types: Vec<RustType>,
    /// Validation rule statics, one per schema node (see the generated `schemas.rs`).
    pub schemas: Vec<SchemaNode>,
    pub resources: Vec<Resource>,
    /// Routes grouped by axum path (one `route()` call each).
    pub routes: Vec<Route>,
    /// The OpenAPI document the service serves at `/openapi.json`, pretty-printed.
    pub openapi_json: String,
    /// Entities in foreign-key order (referenced tables first), for migrations.
    pub tables: Vec<Entity>,
    /// A route that takes a JSON body, for the 413/415/400 tests: (method, url).
    pub body_probe: Option<(String, String)>,
    /// Security schemes, roles and every operation's requirement.
    pub security: Security,
    /// How error bodies look: apigen's own, or the contract's error schema.
    pub errors: ErrorFormat,
    /// Some list is answered inside the contract's own wrapper object (`respond::wrapped`).
    pub list_wrappers: bool,
    /// The regex crate of the service's `pattern` rules: `regex-lite`, or `regex` when a
    /// pattern needs Unicode classes (see `resolve::types::pattern_compiles`).
    pub regex_crate: String,
    /// Problems and notes found while resolving; never rendered.
    #[serde(skip)]
    pub diagnostics: Vec<Diagnostic>,
}

/// A named Rust type in the generated `models.rs`.
#[derive(Debug, Clone, Serialize)]
pub struct RustType {
    /// PascalCase, unique in the project.
    pub name: String,
    /// One line of documentation, already safe inside a `///` comment.
    pub doc: String,
    /// `struct`, `enum` (string enum) or `union` (oneOf/anyOf, untagged).
    pub kind: String,
    pub fields: Vec<StructField>,
    pub variants: Vec<Variant>,
    /// Ident of the validation static for this type.
    pub schema: String,
    /// A string enum stored in a TEXT column needs sqlx encode/decode impls.
    pub sql_text: bool,
}

/// One field of a generated struct.
#[derive(Debug, Clone, Serialize)]
pub struct StructField {
    /// snake_case Rust identifier (keywords get a trailing underscore).
    pub name: String,
    /// Full Rust type, `Option<…>` included.
    pub ty: String,
    pub doc: String,
    /// Contents of the `#[serde(…)]` attribute, or empty.
    pub serde: String,
}

/// A variant of a string enum (`value_lit` is the JSON string as a Rust literal) or of a
/// union (`ty` is the wrapped Rust type).
#[derive(Debug, Clone, Serialize)]
pub struct Variant {
    pub name: String,
    pub value_lit: String,
    pub ty: String,
}

/// One node of the validation tables: the runtime validator walks these statics.
/// Option-valued fields hold Rust literals (`None`, `Some(3)`).
#[derive(Debug, Clone, Serialize)]
pub struct SchemaNode {
    pub ident: String,
    /// `any`, `string`, `integer`, `number`, `boolean`, `array`, `object`, `union`.
    pub kind: String,
    pub nullable: bool,
    /// The rule's field initialisers that differ from its `ANY` value, each followed by
    /// `, ` (`min_length: Some(1), trim: true, `); empty when there are none.
    pub rule: String,
    /// Array items node ident (or the empty string).
    pub items: String,
    pub properties: Vec<PropNode>,
    /// `Deny`, `Allow` or `Schema(&IDENT)`.
    pub additional: String,
    /// Union alternatives (node idents).
    pub variants: Vec<String>,
}

/// A property of an object node.
#[derive(Debug, Clone, Serialize)]
pub struct PropNode {
    pub name_lit: String,
    pub schema: String,
    pub required: bool,
    pub read_only: bool,
    pub write_only: bool,
    /// The JSON text of a default applied to input when the property is absent, as a Rust
    /// string literal; empty when there is none.
    pub default: String,
}

/// A group of operations sharing a path prefix; a module in `routes/`, `services/` and,
/// when it has a table, `repositories/`.
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    /// snake_case module name, unique and never a Rust keyword.
    pub module: String,
    /// Human name for docs ("pet").
    pub label: String,
    pub entity: Option<Entity>,
    pub operations: Vec<Operation>,
    /// Generated tests for this resource.
    pub tests: ResourceTests,
}

/// A table-backed model type.
#[derive(Debug, Clone, Serialize)]
pub struct Entity {
    /// The Rust struct stored in the table.
    pub type_name: String,
    pub table: String,
    /// Columns in declaration order; the key first.
    pub columns: Vec<Column>,
    pub key: Column,
    /// `uuid` (server makes UUIDv7 when absent), `uuid_string`, `integer` (database assigns).
    pub key_strategy: String,
    /// Rust type of the key value (`uuid::Uuid`, `i64`, `String`).
    pub key_ty: String,
    /// Foreign keys as SQL (`FOREIGN KEY (author_id) REFERENCES authors (id)`), per dialect.
    pub foreign_keys: Vec<String>,
    /// Secondary indexes to create (`CREATE INDEX …`), identical in both dialects.
    pub indexes: Vec<String>,
    /// `created_at`/`updated_at` field names when present (set by the server).
    pub created_field: String,
    pub updated_field: String,
    /// Columns a list may filter on (`?name=value`), each with its query field.
    pub filters: Vec<Filter>,
    /// Columns a list may sort on: (json name, column).
    pub sorts: Vec<SortKey>,
    /// The statements of the repository, in the project's dialect.
    pub sql: EntitySql,
    /// Column definitions per dialect (`"name" TEXT NOT NULL CHECK (…)`).
    pub sqlite_defs: Vec<String>,
    pub postgres_defs: Vec<String>,
    /// Bind expressions of the update statement, in placeholder order (key last, separately).
    pub update_binds: Vec<String>,
    /// Default sort column and whether a created-at column exists.
    pub default_sort: String,
    /// `.bind(*key)` or `.bind(key.clone())`, by whether the key type is `Copy`.
    pub key_bind: String,
    /// How repository functions take the key: `&str` for strings, else `&K`.
    pub key_ref_ty: String,
    /// The SQL column holding the owning account (`x-apigen-owned`), or empty.
    pub owner_column: String,
}

/// Parameterised SQL of one table, placeholders in the project's dialect (`?1` / `$1`).
/// Every statement that returns rows ends in `RETURNING` all columns, key first.
#[derive(Debug, Clone, Serialize)]
pub struct EntitySql {
    /// `SELECT <columns> FROM "<table>"`, to which lists append filters and ordering.
    pub select: String,
    /// The quoted key column (`"id"`), the tie-breaker of every ordering.
    pub key: String,
    pub count: String,
    /// Binds: the key.
    pub get: String,
    /// Binds: every column, key first.
    pub insert: String,
    /// Binds: every column but the key (the database assigns it).
    pub insert_without_key: String,
    /// Binds: `Entity::update_binds`, then the key.
    pub update: String,
    /// Binds: the key.
    pub delete: String,
}

/// A table column backing one struct field.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    /// SQL column name (snake_case, quoted where needed by the templates).
    pub name: String,
    /// Rust field on the entity struct.
    pub field: String,
    pub json_name: String,
    pub sqlite_type: String,
    pub postgres_type: String,
    pub not_null: bool,
    pub unique: bool,
    /// CHECK expressions per dialect (without `CHECK`).
    pub sqlite_checks: Vec<String>,
    pub postgres_checks: Vec<String>,
    /// Type passed to `row.try_get::<T, _>()`, and what turns it into the field's type.
    pub row_ty: String,
    pub row_suffix: String,
    /// Expression binding the field of `e` (the entity) as a query argument.
    pub bind: String,
    /// SQL default literal (valid in both dialects), or empty: the contract's `default`.
    pub default_sql: String,
    /// The column's previous name when the contract declares a rename, or empty.
    pub renamed_from: String,
}

/// An equality filter. On an operation: `query_field` is the query struct's field, `column`
/// the entity field it fills, `bind` the expression reading it. On an entity: `query_field`
/// is the entity field, `column` the SQL column, `bind` the Rust type, `copy` whether it is `Copy`.
#[derive(Debug, Clone, Serialize)]
pub struct Filter {
    pub query_field: String,
    pub column: String,
    pub bind: String,
    pub copy: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SortKey {
    pub json_name: String,
    pub column: String,
    /// The query value as a Rust literal (`"-title"`) and its direction.
    pub value_lit: String,
    pub descending: bool,
}

/// One OpenAPI operation.
#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    /// Handler and service function name, unique within its module.
    pub func: String,
    pub operation_id: String,
    pub doc: String,
    /// Lowercase HTTP method (`get`), the axum routing function's name.
    pub method: String,
    pub method_upper: String,
    /// The path as the contract writes it.
    pub path: String,
    /// The axum route (`/pets/{id}`), with parameter names shared by sibling routes.
    pub route: String,
    /// `list`, `create`, `read`, `replace`, `update`, `delete` or `custom`.
    pub kind: String,
    /// The service method has a working default (repository-backed); otherwise it answers 501.
    pub implemented: bool,
    /// Why the operation answers 501 (shown in the stub's doc comment).
    pub not_implemented_reason: String,
    /// Path parameters in route order.
    pub path_params: Vec<Param>,
    pub path_struct: String,
    pub path_schema: String,
    pub query_params: Vec<Param>,
    pub query_struct: String,
    pub query_schema: String,
    pub body: Option<Body>,
    /// The success status (`201`) and its Rust `StatusCode` constant name (`CREATED`).
    pub success_status: u16,
    pub success_const: String,
    /// Rust type of the success body, or empty for no body.
    pub success_ty: String,
    /// Assignments building the entity from `body` and `key` in create / replace.
    pub assigns: Vec<Assign>,
    /// Expression converting that parameter into the key type.
    pub key_expr: String,
    /// Filters of a nested collection: (entity column, path param field).
    pub scope: Vec<Scope>,
    /// Query struct fields that map to `limit` / `offset` / `page` / `cursor` / `sort`.
    pub limit_field: String,
    pub offset_field: String,
    pub page_field: String,
    pub cursor_field: String,
    pub sort_field: String,
    /// Filters used by this list (subset of the entity's filters present in the query).
    pub filters: Vec<Filter>,
    /// The operation id as a Rust string literal.
    pub op_id_lit: String,
    /// Rust type the service function returns inside `Result` (`()` for no body).
    pub service_ret: String,
    /// `empty`, `json` or `page` (a list whose meta goes in the envelope).
    pub response_kind: String,
    /// Type of the `body` argument of the service (empty when it takes none).
    pub body_arg: String,
    /// For lists: `cursor`, `offset` (page/perPage with a total) or `plain`.
    pub list_mode: String,
    /// Rust expressions for a list's page size and offset.
    pub limit_expr: String,
    pub offset_expr: String,
    /// Expression giving the requested sort key as `Option<&str>`, or empty.
    pub sort_access: String,
    /// Expression for the create's client-supplied key (`Option<K>`), strategy applied.
    pub create_key_expr: String,
    /// Expression for the `Location` header of a create, or empty.
    pub location_expr: String,
    /// The service needs `let now = chrono::Utc::now();`.
    pub uses_now: bool,
    /// A list reads its query struct (else the argument is `_query`).
    pub query_used: bool,
    /// A list's filter literal leaves fields unset (`..Default::default()` is needed).
    pub filter_rest: bool,
    /// Fields a PATCH may change: (entity field, JSON name literal).
    pub patch_fields: Vec<Assign>,
    /// Field to set to `now` on PATCH (`Some(now)` when optional), or empty.
    pub touch_expr: String,
    /// Ident of this operation's `Requirement` static in the generated `security.rs`.
    pub guard: String,
    /// Who may call it, in one line (for the generated README).
    pub access: String,
    /// Non-admin callers only reach their own rows (`x-apigen-owner`).
    pub owner: bool,
    /// Expression for the owner filter passed to owned repositories (`None` or
    /// `caller.owner_filter()`); empty when the entity is not owned.
    pub owner_expr: String,
    /// The service reads its `caller` argument.
    pub caller_used: bool,
    /// A list answered inside an object: the JSON name of its array property (`data`), or
    /// empty for a bare array (or the domain envelope, which `response_kind` "page" covers).
    pub list_wrapper: String,
}

/// The contract's security (OpenAPI 3.0.3 §4.7.27 Security Scheme Object, §4.7.30
/// Security Requirement Object) and apigen's `x-apigen-auth` roles.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Security {
    pub schemes: Vec<SecurityScheme>,
    /// One per operation, in operation order.
    pub requirements: Vec<Requirement>,
    pub roles: Vec<String>,
    /// Passes every role, scope and owner check (the first role).
    pub admin_role: String,
    /// Given to self-registered accounts (the last role, unless `default_role` says).
    pub default_role: String,
    /// The scopes each role's access tokens carry.
    pub role_scopes: Vec<RoleScopes>,
    pub buckets: Vec<RateBucket>,
    /// Path prefix of the account routes (`/auth`, `/api/v1/auth`).
    pub auth_prefix: String,
    /// Test data: how the admin test client authenticates per route, and the probes of
    /// the denial matrix.
    pub route_creds: Vec<RouteCreds>,
    pub probes: Vec<Probe>,
    /// Which denial tests have protected operations to probe (a test is generated only then).
    pub probed: Probed,
    /// Some scheme is basic / an API key / a bearer token (tests set up those credentials).
    pub has_basic: bool,
    pub has_api_key: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecurityScheme {
    /// SCREAMING_SNAKE ident of the static.
    pub ident: String,
    /// The name in `components.securitySchemes`.
    pub name: String,
    /// `Bearer`, `Basic` or `ApiKey`.
    pub kind: String,
    /// For API keys: `Header`, `Query` or `Cookie`, and the parameter name.
    pub location: String,
    pub param: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Requirement {
    pub ident: String,
    pub operation: String,
    /// One line for the doc comment.
    pub summary: String,
    /// OR of ANDs; an empty inner list admits anonymous callers.
    pub alternatives: Vec<Vec<Need>>,
    pub roles: Vec<String>,
    pub owner: bool,
    /// Query parameters that carry this operation's API keys and that the operation does
    /// not declare itself: removed from the query once checked.
    pub strip_query: Vec<String>,
    /// Ident of the rate-limit bucket (`crate::ratelimit::DEFAULT` or a contract bucket).
    pub bucket: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Need {
    /// Ident of the scheme static.
    pub scheme: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleScopes {
    pub role: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RateBucket {
    pub ident: String,
    pub name: String,
    pub per_minute: u32,
    pub burst: u32,
}

/// The credentials the admin test client sends to one route: `bearer`, `basic`,
/// `header:<name>`, `query:<name>` or `cookie:<name>`. Empty: none needed.
#[derive(Debug, Clone, Serialize)]
pub struct RouteCreds {
    pub method: String,
    pub route: String,
    pub creds: Vec<String>,
}

/// Whether any protected probe has: credentials at all, roles, scopes, a basic alternative,
/// an API-key alternative, no satisfiable alternative.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Probed {
    pub any: bool,
    pub roles: bool,
    pub scoped: bool,
    pub basic: bool,
    pub api_key: bool,
    pub refuses_all: bool,
}

/// One protected operation in the generated denial-matrix tests.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub method: String,
    pub url: String,
    /// Anonymous callers are admitted (an empty alternative).
    pub anonymous: bool,
    /// No credential can satisfy the requirement (every request is 401).
    pub refuses_all: bool,
    /// An alternative needs only a bearer token: token-based denials apply.
    pub bearer: bool,
    /// A bearer token without scopes is refused (every bearer-only alternative has scopes).
    pub scoped: bool,
    /// Scopes that satisfy a bearer-only alternative.
    pub scopes: Vec<String>,
    /// Roles required (`x-apigen-roles`); a token with another role is 403.
    pub roles: Vec<String>,
    /// A non-admin role that is admitted (empty: only admins, or any role).
    pub allowed_role: String,
    /// An alternative that is one API key alone: its credential (`header:X-Key`), or empty.
    pub api_key: String,
    /// An alternative is a password (HTTP basic) alone.
    pub basic: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Param {
    /// Rust field name.
    pub field: String,
    /// Name in the contract, as a Rust string literal.
    pub name_lit: String,
    pub ty: String,
    pub required: bool,
    pub serde: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Body {
    pub ty: String,
    pub schema: String,
    pub required: bool,
    /// `json`, or `unsupported` (form, multipart, XML…: the operation answers 501).
    pub mode: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Assign {
    pub field: String,
    pub expr: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Scope {
    pub column: String,
    pub bind: String,
    /// `SELECT 1 FROM "<parent>" WHERE "id" = <bind>` when the scoping property is a foreign
    /// key, else empty: a nested list answers 404 when its parent row does not exist
    /// (an empty page would claim the parent has no children).
    pub parent_sql: String,
}

/// One axum route: a path and its method handlers.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    pub path: String,
    /// `get(routes::pets::list_pets).post(…)`, built from handler paths.
    pub handlers: Vec<RouteHandler>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteHandler {
    pub method: String,
    pub module: String,
    pub func: String,
    /// Ident of the operation's requirement in `security.rs`.
    pub guard: String,
}

/// Test data for a resource, computed from its schemas.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ResourceTests {
    /// Whether CRUD happy-path tests can be generated (a valid sample exists).
    pub crud: bool,
    /// A valid create body as JSON text, and a second distinct one.
    pub sample: String,
    pub sample2: String,
    /// Collection and item URLs used by tests (item with `{id}` to replace).
    pub collection_url: String,
    /// The item URL around its key: `prefix + id + suffix`.
    pub item_prefix: String,
    pub item_suffix: String,
    /// A URL for the list operation, with valid required query parameters.
    pub list_url: String,
    /// How that list pages: `cursor`, `offset` or `plain` (its paging test follows).
    pub list_mode: String,
    pub has_list: bool,
    pub has_create: bool,
    pub has_read: bool,
    pub has_replace: bool,
    pub has_update: bool,
    pub has_delete: bool,
    /// Status codes the contract declares for those operations.
    pub create_status: u16,
    pub delete_status: u16,
    /// JSON pointer of the id in a created/read body (`/id` or `/data/id`).
    pub id_pointer: String,
    /// JSON pointer of the rows in a list body: empty (a bare array), `/data` (the
    /// envelope) or the contract's own wrapper property (`/items`).
    pub list_pointer: String,
    /// A field to change in replace / update, as (json name, new value JSON).
    pub change_field: String,
    pub change_value: String,
    /// Invalid create bodies, one per constraint kind.
    pub invalid_cases: Vec<InvalidCase>,
    /// A unique field for the 409 test, or empty; `unique_fn` names its test.
    pub unique_field: String,
    pub unique_fn: String,
    /// Name of the filter test function.
    pub filter_fn: String,
    /// A path to a missing row for the 404 test (empty when no read operation).
    pub missing_url: String,
    /// Operations answering 501 (method, concrete URL) for the stub tests.
    pub stubs: Vec<StubCase>,
    /// A filter the two samples disagree on: (query name, value as URL text, JSON value).
    pub filter_param: String,
    pub filter_value: String,
    pub filter_json: String,
    /// The list sorts by `-createdAt` (newest first) when asked.
    pub sort_newest: bool,
    /// A nested list (`/authors/{authorId}/books`): URL around the parent id, and the body
    /// field holding that id.
    pub scoped_prefix: String,
    pub scoped_suffix: String,
    pub scoped_field: String,
    /// Properties of the sample the read must return unchanged (in the body and the entity).
    pub roundtrip: Vec<String>,
    /// Write-only properties of the sample: accepted, never returned.
    pub write_only: Vec<String>,
    /// Rows to create first because the sample refers to them (foreign keys).
    pub prereqs: Vec<Prereq>,
    /// Ownership test: a non-admin role that may create rows and use the owner-only
    /// item operations (empty: no test), and those operations' methods.
    pub owner_role: String,
    pub owner_methods: Vec<String>,
}

/// A referenced row a test creates first; its id goes into `field` of the sample.
#[derive(Debug, Clone, Serialize)]
pub struct Prereq {
    pub field: String,
    pub url: String,
    /// Two distinct valid bodies, so two rows can refer to two different parents.
    pub body: String,
    pub body2: String,
    pub id_pointer: String,
    pub status: u16,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvalidCase {
    /// Test function suffix (`title_too_long`).
    pub name: String,
    pub body: String,
    /// JSON name of the field the error must name.
    pub field: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StubCase {
    pub name: String,
    /// The operation reads a JSON body (so it can probe the 413/415/400 guards).
    pub json_body: bool,
    pub method: String,
    pub url: String,
    pub body: String,
}

/// The shape of every error body (`resolve::errors`).
#[derive(Debug, Clone, Serialize, Default)]
pub struct ErrorFormat {
    /// `Content-Type` of error responses: `application/json` or the contract's own
    /// (`application/problem+json`, RFC 9457 §3).
    pub media_type: String,
    /// A `serde_json::json!` body over `status`, `code`, `message`, `details` and
    /// `request_id`.
    pub body_expr: String,
    /// The body carries apigen's own `error` object (`code`, `message`, `details`,
    /// `requestId`), so tests can read the machine code and field errors.
    pub extended: bool,
    /// The contract schema the body follows (its `$ref` or pointer); empty for apigen's own.
    pub schema: String,
}
