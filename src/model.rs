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
    /// The path and query parameter structs of `params.rs`, each once.
    pub param_structs: Vec<ParamStruct>,
    /// The model types those structs use.
    pub param_models: Vec<String>,
    /// Validation rule statics, one per schema node (see the generated `schemas.rs`).
    pub schemas: Vec<SchemaNode>,
    pub resources: Vec<Resource>,
    /// Routes grouped by axum path (one `route()` call each).
    pub routes: Vec<Route>,
    /// Where the service's own endpoints go by default ([`ServicePaths::for_routes`]).
    pub service_paths: ServicePaths,
    /// The `axum::routing` functions the router starts its plain routes with (`get`, `post`,
    /// …); routes matched by template name theirs in full.
    pub route_methods: Vec<String>,
    /// The OpenAPI document the service serves at `/openapi.json`, pretty-printed.
    pub openapi_json: String,
    /// Entities in foreign-key order (referenced tables first), for migrations.
    pub tables: Vec<Entity>,
    /// The runtime's account tables, the start of migration 0001, in SQLite's and in
    /// PostgreSQL's dialect.
    pub account_tables_sqlite: String,
    pub account_tables_postgres: String,
    /// A route that takes a JSON body, for the 413/415/400 tests: (method, url).
    pub body_probe: Option<(String, String)>,
    /// A `GET` URL of an operation that reads query parameters (the query-string cap test),
    /// when there is one.
    pub query_probe: Option<String>,
    /// A path no route matches (deeper than every path of the contract, so even a
    /// contract of catch-all templates such as `/{object}/{id}` does not match it).
    pub unknown_route: String,
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

impl Model {
    /// Follows the operations the user wrote in their service files (`written`: module →
    /// function names, as [`crate::user_code`] reads them): their 501 stubs lose the test
    /// that expects 501, and the generated tests of a default the user replaced are left
    /// to the user (a replaced create or read takes the resource's CRUD tests with it).
    pub fn follow_user_code(&mut self, written: &std::collections::BTreeMap<String, Vec<String>>) {
        for r in &mut self.resources {
            let Some(funcs) = written.get(&r.module) else {
                continue;
            };
            let mine = |kind: OperationKind| {
                r.operations
                    .iter()
                    .any(|o| o.kind == kind && o.implemented && funcs.contains(&o.func))
            };
            let t = &mut r.tests;
            t.stubs.retain(|s| !funcs.contains(&s.func));
            if mine(OperationKind::Create) || mine(OperationKind::Read) {
                t.crud = false;
            }
            t.has_list &= !mine(OperationKind::List);
            t.has_replace &= !mine(OperationKind::Replace);
            t.has_update &= !mine(OperationKind::Update);
            t.has_delete &= !mine(OperationKind::Delete);
            if !t.has_list {
                t.filter_param.clear();
                t.sort_newest = false;
                t.scoped_field.clear();
            }
            if mine(OperationKind::Read) {
                t.missing_url.clear();
            }
            let owner_ops_mine = r
                .operations
                .iter()
                .any(|o| o.owner && funcs.contains(&o.func));
            if owner_ops_mine {
                t.owner_role.clear();
            }
            for o in &mut r.operations {
                if funcs.contains(&o.func) {
                    o.written_by_user = true;
                }
            }
        }
    }
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
    /// What each of its files imports.
    pub imports: ResourceImports,
}

/// The names one generated file imports from `crate::models` and `crate::params`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Imports {
    pub models: Vec<String>,
    pub params: Vec<String>,
    /// Routes only: what the handlers take from `apigen_runtime::conditional` (`self` for
    /// `with_etag`, `IfNoneMatchHeader`, `Precondition`), in that order; empty for none.
    pub conditional: Vec<String>,
}

impl Imports {
    /// Adds a model type, once.
    pub fn model(&mut self, name: &str) {
        if !self.models.iter().any(|m| m == name) {
            self.models.push(name.to_string());
        }
    }

    /// Adds a parameter struct, once.
    pub fn param(&mut self, name: &str) {
        if !self.params.iter().any(|m| m == name) {
            self.params.push(name.to_string());
        }
    }
}

/// The imports of a resource's files: its routes, its default implementations, the user's
/// service file (its custom actions' stubs), its repository.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ResourceImports {
    pub routes: Imports,
    pub defaults: Imports,
    pub services: Imports,
    pub repository: Imports,
}

/// A table-backed model type.
#[derive(Debug, Clone, Serialize)]
pub struct Entity {
    /// The Rust struct stored in the table.
    pub type_name: String,
    pub table: String,
    /// `x-apigen-renamed-from` on the schema (domain spec: the resource's `renamed_from`):
    /// the previous table, or the previous schema or resource name (`Book`, `book`), whose
    /// table the migration renames to `table`. Empty for none.
    pub renamed_from: String,
    /// Columns in declaration order; the key first.
    pub columns: Vec<Column>,
    pub key: Column,
    /// How a new row gets its key.
    pub key_strategy: KeyStrategy,
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
    /// The columns the update statement sets, in placeholder order (the key, the creation
    /// time and the owner are never overwritten).
    pub update_columns: Vec<Column>,
    /// The columns a replace (PUT) sets, when it must leave read-only ones alone (empty: it
    /// sets `update_columns`, through `update`).
    pub replace_columns: Vec<Column>,
    /// The column a list sorts on when the client asks for no order: the creation time when
    /// there is one, else the key.
    pub default_sort: String,
    /// How repository functions take the key: `&str` for strings, else `&K`.
    pub key_ref_ty: String,
    /// The SQL column holding the owning account (`x-apigen-owned`), or empty.
    pub owner_column: String,
    /// The row's version: 1 on insert, one more on every write. Item answers carry it as
    /// their entity tag, and writes are conditional on it (RFC 9110 §13).
    pub version: VersionColumn,
    /// The fields that refer to rows of other tables: a write that breaks a foreign key
    /// checks them to name the dangling one (422).
    pub references: Vec<Reference>,
    /// The columns a list can be ordered by (its sorts and the default), each with what a
    /// keyset cursor needs to seek past a row.
    pub seek_columns: Vec<SeekColumn>,
    /// Soft delete (`x-apigen-soft-delete`): the column and field holding when the row was
    /// deleted (NULL: live); empty when DELETE removes rows.
    pub deleted_column: String,
    pub deleted_field: String,
}

/// A column a list orders by: a cursor stores the last row's value of it.
#[derive(Debug, Clone, Serialize)]
pub struct SeekColumn {
    /// SQL column name, and the entity struct's field.
    pub name: String,
    pub field: String,
    /// The Rust type of its values, without `Option`.
    pub ty: String,
    /// The column holds NULLs (the field is an `Option`).
    pub nullable: bool,
}

/// The version column of a table (`version`, BIGINT NOT NULL DEFAULT 1).
#[derive(Debug, Clone, Serialize, Default)]
pub struct VersionColumn {
    /// SQL column name.
    pub column: String,
    /// Rust field on the entity struct.
    pub field: String,
    /// Part of the answer body (a domain spec, or a contract declaring a read-only integer
    /// `version`); else an internal field the struct never serialises.
    pub exposed: bool,
}

/// A field holding the key of a row in another table.
#[derive(Debug, Clone, Serialize)]
pub struct Reference {
    /// Rust field on the entity struct, and its JSON name.
    pub field: String,
    pub json_name: String,
    /// `SELECT 1 FROM "<table>" WHERE "id" = <placeholder 1>`.
    pub exists_sql: String,
    /// The field is an `Option` (no reference when `None`).
    pub optional: bool,
    /// Bound by value rather than by reference.
    pub copy: bool,
    /// The referenced table soft-deletes: its deleted rows still satisfy the foreign key,
    /// so writes check the reference first.
    pub soft: bool,
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
    /// Binds: `update_columns`, then the key, the owner filter (owned tables) and the
    /// expected version (NULL: any); sets the version one higher.
    pub update: String,
    /// Binds: `replace_columns` in order, then the key: an UPDATE that leaves the
    /// read-only columns as they are (PUT cannot change what only the server sets).
    pub replace: String,
    /// Binds: the key (then the owner filter, then the expected version or NULL). With soft
    /// delete: the deletion time first, and it sets `deleted_at` rather than removing.
    pub delete: String,
    /// Binds: the key. Clears `deleted_at` of a deleted row (soft delete only).
    pub restore: String,
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
    /// Type passed to `row.try_get::<T, _>()` (`sqlx::types::Json<T>` for JSON columns).
    pub row_ty: String,
    /// Stored as JSON text (`sqlx::types::Json`): nested objects, arrays, free-form values.
    pub json: bool,
    /// The field is an `Option`.
    pub optional: bool,
    /// The field's type is `Copy` (bound by value, not by reference).
    pub copy: bool,
    /// SQL default literal (valid in both dialects), or empty: the contract's `default`.
    pub default_sql: String,
    /// The column's previous name when the contract declares a rename, or empty.
    pub renamed_from: String,
    /// Write-only or a password (`format: password`): the audit trail names it when it
    /// changes but never records its value.
    pub hidden: bool,
}

/// An equality filter a repository's list takes: the field of its `Filter` struct, the SQL
/// column it compares, and the field's Rust type (inside the `Option`).
#[derive(Debug, Clone, Serialize)]
pub struct Filter {
    pub field: String,
    pub column: String,
    pub ty: String,
    /// Membership: the filter holds a list, and a row matches when its column equals any
    /// of the values (`?tags=a&tags=b`, `?tags=a,b` → `"tag" IN ('a', 'b')`).
    pub many: bool,
}

/// The suffix of a membership filter's field (`tag_one_of` filters `tag` by a list).
pub const MANY_SUFFIX: &str = "_one_of";

/// A query parameter apigen's implementation of an operation does not apply.
#[derive(Debug, Clone, Serialize)]
pub struct UnappliedParam {
    /// The query struct's field.
    pub field: String,
    /// The parameter as the contract names it.
    pub name: String,
}

/// A query parameter of a list that filters it: the query struct's field, the repository
/// filter's field it fills, and whether the parameter is required (then it always filters).
#[derive(Debug, Clone, Serialize)]
pub struct QueryFilter {
    pub query_field: String,
    pub filter: String,
    pub required: bool,
}

/// One ordering a list accepts: the query value (`-title`), the SQL column, the direction.
#[derive(Debug, Clone, Serialize)]
pub struct SortKey {
    pub value: String,
    pub column: String,
    pub descending: bool,
}

/// How a new row gets its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStrategy {
    /// A UUID column: the client's, or a UUIDv7 made by the server.
    Uuid,
    /// A string key holding a UUID when the client sends none.
    UuidString,
    /// An integer the database assigns (identity / rowid).
    Integer,
}

impl KeyStrategy {
    /// The name `inspect` and the model's JSON use (`uuid`, `uuid_string`, `integer`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStrategy::Uuid => "uuid",
            KeyStrategy::UuidString => "uuid_string",
            KeyStrategy::Integer => "integer",
        }
    }
}

/// What an operation does, by its method and whether its path is an item
/// (`/pets/{id}`) or a collection (`/pets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OperationKind {
    List,
    Create,
    Read,
    Replace,
    Update,
    Delete,
    /// Brings back a soft-deleted row (`POST /books/{id}/restore`, `x-apigen-restore`).
    Restore,
    /// Anything else: an action (`POST /books/{id}/publish`), written by the user.
    Custom,
}

impl OperationKind {
    /// The name `inspect` and the model's JSON use (`list`, `create`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::List => "list",
            OperationKind::Create => "create",
            OperationKind::Read => "read",
            OperationKind::Replace => "replace",
            OperationKind::Update => "update",
            OperationKind::Delete => "delete",
            OperationKind::Restore => "restore",
            OperationKind::Custom => "custom",
        }
    }
}

/// How a request body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyMode {
    /// A JSON body, validated whole.
    Json,
    /// A JSON Merge Patch (RFC 7396): required properties may be absent.
    Patch,
    /// Form, multipart, XML…: the operation answers 501.
    Unsupported,
}

/// What a successful answer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseKind {
    /// No body.
    Empty,
    /// The service's value as JSON.
    Json,
    /// A list's rows and `meta` in the envelope.
    Page,
}

/// How a list pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ListMode {
    /// `?cursor=&limit=`, `meta.nextCursor`.
    Cursor,
    /// `?page=&perPage=` (or `offset`), `meta.total`.
    Offset,
    /// One page of at most the maximum size, or the contract's own `limit`/`offset`.
    #[default]
    Plain,
}

/// The query parameters a list pages and sorts with (struct fields; empty: none).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Paging {
    pub mode: ListMode,
    pub limit: String,
    pub offset: String,
    pub page: String,
    pub cursor: String,
    pub sort: String,
    /// The boolean `deleted` parameter of a soft-deleting table's list: administrators
    /// list the deleted rows (empty: none).
    pub deleted: String,
    /// The most rows one page holds, when `limit` names a page-size parameter: the
    /// parameter's `maximum` in the contract (a larger request is refused by validation),
    /// else the larger of the service's page cap (100) and the parameter's `default`. A
    /// request above it is 400, never a shorter page the client cannot tell from the last.
    pub max_limit: i64,
    /// The page-size parameter's name in the query, when it is optional (for the tests),
    /// and the smallest page it accepts (its `minimum`, at least 1).
    pub limit_query: String,
    pub min_limit: i64,
    /// The sort parameter is a string enum (else a plain string).
    pub sort_enum: bool,
}

/// Where one field of a stored row comes from when a create or replace builds it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Source {
    /// The body's field of this name, as it is (`wrap`: inside `Some`).
    Body { field: String, wrap: bool },
    /// The key from the path (`wrap`: inside `Some`).
    Key { wrap: bool },
    /// The caller's subject (`required`: the nil UUID when there is none).
    Caller { required: bool },
    /// The time of the request (`wrap`: inside `Some`).
    Now { wrap: bool },
    /// `None`.
    Nothing,
    /// The type's default (the database or a later step sets it).
    Default,
    /// A Rust expression: the contract's `default` of a read-only field, which requests
    /// cannot set (`BookStatus::Draft`, `Some("new".to_string())`).
    Value { expr: String },
}

/// How a create finds the key of its new row.
#[derive(Debug, Clone, Serialize, Default)]
pub struct CreateKey {
    /// The body's field holding a client-chosen key, or empty.
    pub body_field: String,
    /// That field is an `Option`.
    pub optional: bool,
}

/// One member of a PATCH body: the stored field it changes, the patch struct's field, and
/// whether the stored value is an `Option` the patch does not make nullable (`wrap`: the new
/// value goes in `Some`).
#[derive(Debug, Clone, Serialize)]
pub struct PatchField {
    pub field: String,
    pub patch: String,
    pub wrap: bool,
}

/// A field set to the time of the request on every change (`updatedAt`).
#[derive(Debug, Clone, Serialize)]
pub struct Touch {
    pub field: String,
    pub optional: bool,
}

/// The `Location` of a created row: the path and the key field of the answer.
#[derive(Debug, Clone, Serialize)]
pub struct Location {
    pub key_field: String,
    pub optional: bool,
    /// The created item's URL is `{prefix}{key}{suffix}`: the collection path with one
    /// `/`, and `/` when the contract's item paths end with one.
    pub prefix: String,
    pub suffix: String,
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
    pub kind: OperationKind,
    /// The service function has a working default (repository-backed); otherwise it answers
    /// 501.
    pub implemented: bool,
    /// Why the operation answers 501 (shown in the stub's doc comment).
    pub not_implemented_reason: String,
    /// Path parameters in route order, their struct (shared by the operations of one
    /// resource that take the same parameters) and its validation node.
    pub path_params: Vec<Param>,
    pub path_struct: String,
    /// When a captured segment holds several parameters or text around one: the Rust
    /// expression of its templates (`&[extract::Segment::Split(&[…])]`) for
    /// `extract::path_segments`; empty otherwise.
    pub path_segments: String,
    pub path_schema: String,
    pub query_params: Vec<Param>,
    pub query_struct: String,
    pub query_schema: String,
    pub body: Option<Body>,
    /// The success status (`201`) and its `StatusCode` constant name (`CREATED`).
    pub success_status: u16,
    pub success_const: String,
    /// Rust type of the success body, or empty for no body.
    pub success_ty: String,
    pub response_kind: ResponseKind,
    /// Rust type the service function returns inside `Result` (`()` for no body).
    pub service_ret: String,
    /// Type of the service function's `body` argument (empty when it takes none); for an
    /// implemented PATCH, the merge-patch struct.
    pub body_arg: String,
    /// A list answered inside an object: the JSON name of its array property (`data`), or
    /// empty for a bare array (or the domain envelope, which `ResponseKind::Page` covers).
    pub list_wrapper: String,
    // What the default implementation does (implemented operations only).
    /// The path parameter's field holding the row's key (item operations).
    pub key_field: String,
    /// How a create keys its new row.
    pub create_key: CreateKey,
    /// How a create or replace builds the stored row, field by field.
    pub assigns: Vec<Assign>,
    /// Filters of a nested collection, from its path parameters.
    pub scope: Vec<Scope>,
    /// A list's paging and sort parameters.
    pub paging: Paging,
    /// Query parameters that filter a list.
    pub filters: Vec<QueryFilter>,
    /// What a PATCH may change.
    pub patch: Vec<PatchField>,
    /// The field a change sets to the time of the request.
    pub touch: Option<Touch>,
    /// A create answers with `Location`.
    pub location: Option<Location>,
    /// The default implementation needs the time of the request.
    pub uses_now: bool,
    /// A nested list first checks that its parent row exists (some scope has `parent_sql`).
    pub checks_parent: bool,
    /// A list reads its query struct (else the argument is `_query`).
    pub query_used: bool,
    /// Optional query parameters apigen's implementation does not apply (neither a filter
    /// nor paging): a request that sends one answers 501 naming it, rather than the
    /// parameter being ignored. The user's own implementation may apply them.
    pub unapplied_query: Vec<UnappliedParam>,
    /// A list's filter leaves fields unset (`..Default::default()` is needed).
    pub filter_rest: bool,
    /// Ident of this operation's `Requirement` static in the generated `security.rs`.
    pub guard: String,
    /// The user's service file defines this operation's function (see
    /// [`Model::follow_user_code`]).
    pub written_by_user: bool,
    /// Who may call it, in one line (for the generated README).
    pub access: String,
    /// Non-admin callers only reach their own rows (`x-apigen-owner`).
    pub owner: bool,
    /// The default implementation reads its `caller` argument.
    pub caller_used: bool,
    /// An owner-only custom action on one row (`POST /books/{id}/publish`): the path
    /// struct's field holding the row's key. The handler loads the row through the owner
    /// filter (another owner's row is 404) and hands it to the action. Empty otherwise.
    pub owned_row: String,
    /// The answer is the stored row: it carries an `ETag`, and a read honours
    /// `If-None-Match` (304).
    pub etag: bool,
    /// A replace, update or delete: the handler reads `If-Match` and the service function
    /// takes the precondition.
    pub conditional: bool,
    /// A read whose answer carries an `ETag`: the handler takes `If-None-Match` (the
    /// runtime's `conditional::IfNoneMatchHeader`) and may answer 304.
    pub if_none_match: bool,
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
    /// Anyone may create an account (`x-apigen-auth.registration: open`); else only an
    /// administrator can (`create-user`).
    pub registration_open: bool,
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
    /// The request headers the contract's API keys travel in, lowercase (CORS allows them).
    pub api_key_headers: Vec<String>,
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
    /// Ident of the rate-limit bucket (the runtime's `DEFAULT` or a contract bucket).
    pub bucket: String,
    /// The runtime's `idempotency::Policy` variant: `Optional` for POST and PATCH,
    /// `Required` with `x-apigen-idempotency: required`, `Off` otherwise.
    pub idempotency: String,
    /// `deprecated: true` on the operation: what its answers announce.
    pub deprecation: Option<Deprecation>,
}

/// A deprecated operation (OpenAPI Operation Object `deprecated: true`), rendered into the
/// runtime's `auth::Deprecation`: `Deprecation` (RFC 9745) and `Sunset` (RFC 8594) headers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Deprecation {
    /// Unix seconds of `x-apigen-deprecated-at`; 0 without it (deprecated since an unknown
    /// date, which RFC 9745 allows as any date in the past).
    pub since: i64,
    /// `x-sunset` or `x-apigen-sunset` as an IMF-fixdate (RFC 9110 §5.6.7), or empty.
    pub sunset: String,
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
    /// A protected operation a bearer token alone can call: the sign-in and revocation
    /// tests have one to call (an operation that also admits anonymous callers does not
    /// count: the tests' `PROBES` leave those out).
    pub bearer: bool,
    /// A protected state-changing operation a cookie API key alone can call (CSRF test).
    pub cookie_changes: bool,
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
    /// The operation id.
    pub operation: String,
    /// The operation is deprecated: its answers announce it.
    pub deprecation: Option<Deprecation>,
}

/// A struct of an operation's path or query parameters.
#[derive(Debug, Clone, Serialize)]
pub struct ParamStruct {
    pub name: String,
    /// What it holds: "Path parameters of `GET /books/{id}` and 3 more operations."
    pub doc: String,
    pub fields: Vec<Param>,
    /// It carries `apigen_sent`, the names the request's query held: an operation using it
    /// refuses parameters it does not apply when they are sent, and a default the
    /// contract gives them does not count as sent.
    pub sent: bool,
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
    /// The serialization style (OpenAPI 3 section 4.8.12.4) when the service does not parse
    /// it: `pipeDelimited`, `spaceDelimited`, `deepObject` (query), `label`, `matrix`
    /// (path). Empty for `form` and `simple`, which it parses (arrays exploded as
    /// repeated keys or comma-separated).
    pub unparsed_style: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Body {
    pub ty: String,
    pub schema: String,
    pub required: bool,
    pub mode: BodyMode,
}

/// One field of a row a create or replace builds.
#[derive(Debug, Clone, Serialize)]
pub struct Assign {
    pub field: String,
    pub source: Source,
}

/// A nested list's filter from a path parameter: the repository filter's field and the
/// path struct's field.
#[derive(Debug, Clone, Serialize)]
pub struct Scope {
    pub column: String,
    pub param: String,
    /// The parameter's type is `Copy` (passed by value).
    pub copy: bool,
    /// `SELECT 1 FROM "<parent>" WHERE "id" = <bind>` when the scoping property is a foreign
    /// key, else empty: a nested list answers 404 when its parent row does not exist
    /// (an empty page would claim the parent has no children).
    pub parent_sql: String,
}

/// One axum route: a path and its method handlers.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    pub path: String,
    /// `get(routes::pets::list_pets).post(…)`, built from handler paths: the operations of
    /// the contract path whose segments are whole parameters.
    pub handlers: Vec<RouteHandler>,
    /// Contract paths that share this route but split a segment by a template
    /// (`/v1/{name}:test` beside `/v1/{name}`), most specific first; served through the
    /// runtime's `extract::ByTemplate` when not empty.
    #[serde(default)]
    pub variants: Vec<RouteVariant>,
}

/// One contract path of a shared [`Route`]: see the runtime's `extract::Variant`.
#[derive(Debug, Clone, Serialize)]
pub struct RouteVariant {
    /// `(1, &[apigen_runtime::extract::Piece::Param, …])` per split segment, as Rust.
    pub segments: Vec<String>,
    /// The methods it serves, uppercase.
    pub methods: Vec<String>,
    pub handlers: Vec<RouteHandler>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteHandler {
    pub method: String,
    pub module: String,
    pub func: String,
    /// Ident of the operation's requirement in `security.rs`.
    pub guard: String,
    /// The contract path of the operation.
    pub path: String,
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
    /// How that list pages (its paging test follows).
    pub list_mode: ListMode,
    pub has_list: bool,
    pub has_create: bool,
    pub has_read: bool,
    pub has_replace: bool,
    pub has_update: bool,
    /// The update's patch schema refuses unknown members (`additionalProperties: false`).
    pub patch_refuses_unknown: bool,
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
    /// A membership filter the two samples disagree on: the query name, the property, and
    /// each sample's value as URL text (`?tags=a` finds one row, `?tags=a&tags=b` both).
    pub many_param: String,
    pub many_prop: String,
    pub many_a: String,
    pub many_b: String,
    /// A query parameter of the list apigen does not apply, and a value for it: a request
    /// that sends it answers 501.
    pub unapplied_param: String,
    pub unapplied_value: String,
    /// The list's optional page-size parameter (query name): a page holds what is asked
    /// (`limit_small` rows, at least the parameter's minimum: `limit_small_rows` of the
    /// test's two), all rows at its maximum (`limit_max`), and a request for `limit_over`
    /// (one more, when that is an integer) is 400, never a shorter page.
    pub limit_param: String,
    pub limit_small: i64,
    pub limit_small_rows: i64,
    pub limit_max: i64,
    pub limit_over: Option<i64>,
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
    /// Owner-only actions on one row the ownership test also calls: (method, URL with
    /// `{key}`, body or empty).
    pub owner_actions: Vec<OwnerAction>,
    /// A field of the sample unique per owner (`x-apigen-unique: owner`) that the
    /// ownership test has another owner reuse, or empty.
    pub owner_unique_field: String,
    /// A valid value of it (JSON text).
    pub owner_unique_value: String,
    /// Item answers carry an `ETag` and the read honours `If-None-Match`.
    pub etag: bool,
    /// DELETE keeps the row, marked deleted (soft delete); `restore` and `list_deleted`:
    /// `POST {item}/restore` brings it back, and the list takes `deleted=true`.
    pub soft_delete: bool,
    pub restore: bool,
    pub list_deleted: bool,
    /// Fields a PATCH may change, each with a new value (JSON text): the concurrency test
    /// sends one PATCH per field at once and expects every change kept.
    pub concurrent_changes: Vec<Change>,
}

/// A field and a new value for it (JSON text).
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub field: String,
    pub value: String,
}

/// An owner-only action the ownership test calls on another owner's row (404) and on the
/// caller's own (not 404).
#[derive(Debug, Clone, Serialize)]
pub struct OwnerAction {
    pub method: String,
    pub row_url: String,
    pub body: String,
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
    /// A value of the field that refers to no row (JSON text), for the 422 test.
    pub missing: String,
    /// The referenced resource soft-deletes and its item URL is `url/{id}`: a reference to
    /// a deleted row is 422 too.
    pub soft: bool,
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
    /// The operation's service function (a user who writes it takes the stub's place).
    pub func: String,
    /// The operation reads a JSON body (so it can probe the 413/415/400 guards).
    pub json_body: bool,
    pub method: String,
    pub url: String,
    /// For an owner-only action on one row: the URL with `{key}` where the row's key goes
    /// (the test creates the row first); empty otherwise.
    pub row_url: String,
    pub body: String,
}

/// The shape of every error body (`resolve::errors`), as the data the runtime's
/// `ErrorFormat` holds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ErrorFormat {
    /// apigen's own format (`apigen`), inside the envelope (`envelope`), or the contract's
    /// (`contract`, then `objects` describe it).
    pub kind: String,
    /// `Content-Type` of error responses: `application/json` or the contract's own
    /// (`application/problem+json`, RFC 9457 §3).
    pub media_type: String,
    /// The body's objects, nested ones before those that hold them; the last is the body.
    pub objects: Vec<ErrorObject>,
    /// The body carries apigen's own `error` object (`code`, `message`, `details`,
    /// `requestId`), so tests can read the machine code and field errors.
    pub extended: bool,
    /// The contract schema the body follows (its `$ref` or pointer); empty for apigen's own.
    pub schema: String,
}

impl ErrorFormat {
    /// The body's shape in one line, members by what they hold:
    /// `{ "code": Status, "message": Message }`; apigen's own formats are `apigen` and
    /// `envelope`. For `inspect` and tests.
    pub fn shape(&self) -> String {
        match self.objects.last() {
            Some(root) => self.object_shape(root),
            None => self.kind.clone(),
        }
    }

    fn object_shape(&self, o: &ErrorObject) -> String {
        let members: Vec<String> = o
            .members
            .iter()
            .map(|m| {
                let v = match &m.value {
                    ErrorValue::Json(text) => text.clone(),
                    ErrorValue::Object(ident) => {
                        match self.objects.iter().find(|x| x.ident == *ident) {
                            Some(inner) => self.object_shape(inner),
                            None => "apigen".to_string(),
                        }
                    }
                    other => format!("{other:?}"),
                };
                format!("{:?}: {v}", m.name)
            })
            .collect();
        format!("{{ {} }}", members.join(", "))
    }
}

/// One object of an error body: the ident of its static and its members.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorObject {
    pub ident: String,
    pub members: Vec<ErrorMember>,
}

/// One member of an error body object.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorMember {
    pub name: String,
    pub value: ErrorValue,
}

/// What one member holds: the names of the runtime's `ErrorValue` variants; `Json` carries
/// the JSON text, `Object` the ident of the nested object (and apigen's own error object is
/// `Apigen`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "arg")]
pub enum ErrorValue {
    Status,
    StatusText,
    Reason,
    Code,
    Message,
    Details,
    RequestId,
    Json(String),
    Object(String),
}

/// The default paths of the generated service's own endpoints (liveness, readiness,
/// metrics, the served document, the reference page): `/healthz`, `/readyz`, `/metrics`,
/// `/openapi.json`, `/docs`, except where the contract routes that path itself, whatever
/// the method: the contract's operation keeps it and the endpoint moves to `/_service/…`
/// (with more underscores while that is taken too). The runtime reads overrides from the
/// environment (`HEALTH_PATH`, …).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ServicePaths {
    pub health: String,
    pub ready: String,
    pub metrics: String,
    pub openapi: String,
    pub docs: String,
    /// Those that moved from their default: (default, path).
    pub moved: Vec<(String, String)>,
}

impl ServicePaths {
    /// The paths for a contract whose routes are `routes` and whose account routes live
    /// under `auth_prefix` (never claimed: apigen moves those itself).
    pub fn for_routes(routes: &[Route], auth_prefix: &str) -> ServicePaths {
        let taken = |p: &str| {
            routes.iter().any(|r| r.path == p)
                || p == auth_prefix
                || p.starts_with(&format!("{auth_prefix}/"))
        };
        let place = |default: &str| {
            if !taken(default) {
                return default.to_string();
            }
            let mut dir = "/_service".to_string();
            loop {
                let candidate = format!("{dir}{default}");
                if !taken(&candidate) {
                    return candidate;
                }
                dir.push('_');
            }
        };
        let [health, ready, metrics, openapi, docs] =
            ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"].map(place);
        let moved = [
            ("/healthz", &health),
            ("/readyz", &ready),
            ("/metrics", &metrics),
            ("/openapi.json", &openapi),
            ("/docs", &docs),
        ]
        .into_iter()
        .filter(|(d, p)| d != p)
        .map(|(d, p)| (d.to_string(), p.clone()))
        .collect();
        ServicePaths {
            health,
            ready,
            metrics,
            openapi,
            docs,
            moved,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(paths: &[&str]) -> Vec<Route> {
        paths
            .iter()
            .map(|p| Route {
                path: p.to_string(),
                handlers: vec![],
                variants: vec![],
            })
            .collect()
    }

    #[test]
    fn the_service_endpoints_move_aside_from_paths_the_contract_claims() {
        let free = ServicePaths::for_routes(&routes(&["/pets", "/pets/{id}"]), "/auth");
        assert_eq!(free.health, "/healthz");
        assert_eq!(free.docs, "/docs");
        assert!(free.moved.is_empty());
        let claimed = ServicePaths::for_routes(
            &routes(&["/metrics", "/docs", "/_service/docs", "/openapi.json"]),
            "/auth",
        );
        assert_eq!(claimed.metrics, "/_service/metrics");
        assert_eq!(claimed.docs, "/_service_/docs", "past a taken fallback too");
        assert_eq!(claimed.openapi, "/_service/openapi.json");
        assert_eq!(claimed.health, "/healthz");
        assert_eq!(claimed.moved.len(), 3);
    }
}
