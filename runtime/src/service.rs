//! [`Service`]: what the contract says about the service as a whole, as one static the
//! generated `lib.rs` defines and hands to [`crate::app`], [`crate::cli::main`] and the test
//! harness.

use crate::auth::Roles;
use crate::error::ErrorFormat;
use crate::ratelimit::Bucket;
use sqlx::migrate::Migrator;
use std::sync::OnceLock;

/// The contract's facts about the whole service.
#[derive(Debug)]
pub struct Service {
    /// The crate name (`bookstore`): the issuer of its access tokens (RFC 7519 `iss`), the
    /// realm of its challenges (RFC 9110 §11.6.1), the prefix of its API keys and Redis
    /// keys, and the name of its default database.
    pub name: &'static str,
    /// Success bodies of the account routes are wrapped as `{"data": …, "meta": …, "error":
    /// null}` (services designed from a domain spec).
    pub envelope: bool,
    /// The shape of every error body.
    pub errors: &'static ErrorFormat,
    /// The contract's roles and the scopes each role's tokens carry.
    pub roles: &'static Roles,
    /// The request headers the contract's API keys travel in (CORS allows them).
    pub api_key_headers: &'static [&'static str],
    /// The rate-limit buckets the contract declares (`x-apigen-rate-limit`).
    pub buckets: &'static [&'static Bucket],
    /// Path prefix of the account routes (`/api/v1/auth`).
    pub auth_prefix: &'static str,
    /// Anyone may create an account through `POST {auth_prefix}/register` (the contract's
    /// `registration: open`); otherwise accounts come from an administrator
    /// (`create-user`). `REGISTRATION_ENABLED` overrides it.
    pub registration_open: bool,
    /// The OpenAPI document served at `/openapi.json`, byte for byte.
    pub openapi_json: &'static str,
    /// The reference page served at `/docs`.
    pub docs_html: &'static str,
    /// The project's migrations (`sqlx::migrate!`), run at start-up.
    pub migrator: &'static Migrator,
    /// Tables whose DELETE keeps the row (soft delete, a `deleted_at` column): with
    /// `SOFT_DELETE_RETENTION_DAYS` set, rows deleted longer ago are purged.
    pub soft_delete_tables: &'static [&'static str],
    /// Where the service's own endpoints are served when the environment does not say
    /// (`HEALTH_PATH`, …; [`crate::Config::paths`]). apigen moves one aside
    /// (`/_service/metrics`) when the contract claims its path: the contract always wins.
    pub paths: Paths,
    /// Every path the contract routes (axum templates, `/pets/{id}`): a configured path of
    /// the service's own endpoints may not be one of them.
    pub contract_paths: &'static [&'static str],
}

/// The paths of the service's own endpoints: liveness, readiness, Prometheus metrics, the
/// served OpenAPI document and the reference page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub health: &'static str,
    pub ready: &'static str,
    pub metrics: &'static str,
    pub openapi: &'static str,
    pub docs: &'static str,
}

impl Paths {
    /// `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`.
    pub const DEFAULT: Paths = Paths {
        health: "/healthz",
        ready: "/readyz",
        metrics: "/metrics",
        openapi: "/openapi.json",
        docs: "/docs",
    };
}

static INSTALLED: OnceLock<&'static Service> = OnceLock::new();

impl Service {
    /// Makes `self` the service of this process, for what has no state to read it from
    /// (an [`crate::ApiError`] turning into a response). The first call wins: a process
    /// serves one contract.
    pub fn install(&'static self) {
        let _ = INSTALLED.set(self);
    }

    /// The installed service, if any.
    pub fn current() -> Option<&'static Service> {
        INSTALLED.get().copied()
    }

    /// The database a service uses when `DATABASE_URL` is unset.
    pub fn default_database_url(&self) -> String {
        if cfg!(feature = "postgres") {
            format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
        } else {
            format!("sqlite://{}.db", self.name)
        }
    }
}
