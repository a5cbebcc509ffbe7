//! Raw input types for apigen's own domain spec (the YAML format teams write by hand).
//!
//! Owns the serde shape of the domain spec, and nothing else: no defaults are applied
//! and no names are computed here (that is `resolve`). The published JSON Schema for this
//! format lives in `specs/domain-spec.schema.json`; keep the two in step.

use indexmap::IndexMap;
use serde::Deserialize;

/// A domain spec: a service described by its resources rather than by its HTTP surface.
///
/// ```yaml
/// name: bookstore
/// database: sqlite
/// resources:
///   book:
///     fields:
///       title: { type: string, max_length: 300 }
/// ```
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DomainSpec {
    /// Service name: becomes the crate name (snake_case) and the API title.
    pub name: String,
    /// Human title for the served OpenAPI document; defaults to `name`.
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Contract version (`info.version`); defaults to `1.0.0`.
    #[serde(default)]
    pub version: Option<String>,
    /// `sqlite` (default) or `postgres`; `apigen new --database` overrides it.
    #[serde(default)]
    pub database: Option<String>,
    /// Path prefix for every resource; defaults to `/api/v1`.
    #[serde(default)]
    pub base_path: Option<String>,
    /// List paging style: `cursor` (default) or `offset`.
    #[serde(default)]
    pub pagination: Option<String>,
    /// Authentication and roles (enforced by the security layer).
    #[serde(default)]
    pub auth: Option<AuthSpec>,
    /// Resources by singular snake_case name, in the order they are declared.
    pub resources: IndexMap<String, ResourceSpec>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    /// Role names; the first is the administrator (passes every check), the last is given
    /// to self-registered accounts unless `default_role` names another.
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub default_role: Option<String>,
    /// `open`: anyone may create an account (`POST …/auth/register`); `closed` (the
    /// default): accounts come from an administrator (`create-user`).
    #[serde(default)]
    pub registration: Option<String>,
    /// The OAuth2-style scopes each role's access tokens carry (`role: [scope, …]`); a role
    /// not listed holds none. The administrator passes every scope check.
    #[serde(default)]
    pub scopes: IndexMap<String, Vec<String>>,
}

/// A token bucket: `per_minute` requests a minute, at most `burst` at once.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    pub per_minute: u32,
    #[serde(default)]
    pub burst: Option<u32>,
}

/// One resource: a table, a model type and its CRUD operations.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    #[serde(default)]
    pub description: Option<String>,
    /// Plural used in URLs and the table name; defaults to the English plural of the name.
    #[serde(default)]
    pub plural: Option<String>,
    /// SQL table name; defaults to the plural.
    #[serde(default)]
    pub table: Option<String>,
    /// Rows belong to the user who created them (`owner_id`).
    #[serde(default)]
    pub owned: bool,
    /// Deleting sets `deleted_at` instead of removing the row.
    #[serde(default)]
    pub soft_delete: bool,
    /// The resource's previous name (`volume: {renamed_from: book}`): the migration renames
    /// its table (`ALTER TABLE books RENAME TO volumes`), keeping every row, instead of
    /// dropping one table and creating another.
    #[serde(default)]
    pub renamed_from: Option<String>,
    /// `required`: creates and updates must carry `Idempotency-Key` (400 without); by
    /// default the header is honoured when sent.
    #[serde(default)]
    pub idempotency: Option<String>,
    /// Fields by camelCase or snake_case name, in order.
    pub fields: IndexMap<String, FieldSpec>,
    /// Which callers may do what, per operation or action: `public`, `authenticated`,
    /// `owner` (signed in; non-admins reach only their own rows), or a list of roles.
    /// With an `auth` section, an operation left out is for the admin role only.
    #[serde(default)]
    pub access: IndexMap<String, serde_json::Value>,
    /// A rate limit of the resource's own for each of its operations.
    #[serde(default)]
    pub rate_limit: Option<RateLimitSpec>,
    /// Fields a list may filter on by equality; defaults to enum, boolean and `ref` fields.
    #[serde(default)]
    pub filters: Option<Vec<String>>,
    /// Fields a list may sort on; defaults to `createdAt` and every unique or enum field.
    #[serde(default)]
    pub sort: Option<Vec<String>>,
    /// Operations to leave out, among `list`, `create`, `read`, `replace`, `update`, `delete`.
    #[serde(default)]
    pub except: Vec<String>,
    /// Custom actions, served as `POST /{plural}/{id}/{action}`; they answer 501 until implemented.
    #[serde(default)]
    pub actions: Vec<String>,
}

/// One field. Exactly one of `type`, `enum` or `ref` says what it holds.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// `string`, `text`, `integer`, `bigint`, `number`, `boolean`, `uuid`, `email`, `url`,
    /// `date`, `datetime` or `json`.
    #[serde(default, rename = "type")]
    pub ty: Option<String>,
    /// Allowed values of a string field.
    #[serde(default, rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    /// Another resource this field points at (a foreign key to its id).
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
    /// The field may be left out (and is NULL in the table).
    #[serde(default)]
    pub optional: bool,
    /// `true`: no two rows hold the same value; `owner`: no two rows of one owner do (an
    /// owned resource only).
    #[serde(default)]
    pub unique: Unique,
    /// Set by the server only: refused in request bodies (400), kept by PUT and PATCH, and
    /// written by service code (an action). Needs a `default` or `optional: true`.
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub default: Option<serde_json::Value>,
    #[serde(default)]
    pub min_length: Option<u64>,
    #[serde(default)]
    pub max_length: Option<u64>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub minimum: Option<f64>,
    #[serde(default)]
    pub maximum: Option<f64>,
    /// Strip leading and trailing white space before validating.
    #[serde(default)]
    pub trim: bool,
    #[serde(default)]
    pub description: Option<String>,
    /// A valid example value; used in docs and in the generated tests.
    #[serde(default)]
    pub example: Option<serde_json::Value>,
    /// The field's previous name, so a migration renames the column instead of dropping it.
    #[serde(default)]
    pub renamed_from: Option<String>,
}

/// A field's uniqueness: `unique: true` (across the table) or `unique: owner` (among one
/// owner's rows: another owner's value is neither refused nor revealed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unique {
    #[default]
    No,
    Global,
    PerOwner,
}

impl Unique {
    /// Unique in either sense.
    pub fn any(self) -> bool {
        self != Unique::No
    }
}

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Unique, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Scope(String),
        }
        match Raw::deserialize(d)? {
            Raw::Flag(true) => Ok(Unique::Global),
            Raw::Flag(false) => Ok(Unique::No),
            Raw::Scope(s) if s == "owner" => Ok(Unique::PerOwner),
            Raw::Scope(s) if s == "global" => Ok(Unique::Global),
            Raw::Scope(s) => Err(serde::de::Error::custom(format!(
                "`unique: {s}` is not a uniqueness: write `true` (across the table) or `owner` (among one owner's rows)"
            ))),
        }
    }
}
