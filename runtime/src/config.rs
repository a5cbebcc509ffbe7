//! Configuration from environment variables; a generated project's `.env.example` lists
//! every variable and its default.

use crate::Service;
use std::time::Duration;

/// A secret read from the environment: never printed, not even by `{:?}`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Service settings. Secrets come only from the environment and are never logged.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PORT`: TCP port to listen on (default 8080).
    pub port: u16,
    /// `DATABASE_URL`: default [`Service::default_database_url`] (`sqlite://<name>.db`,
    /// created on first run, or `postgres://postgres@127.0.0.1:5432/<name>`).
    pub database_url: String,
    /// `DB_MAX_CONNECTIONS`: pool size (default 10).
    pub db_max_connections: u32,
    /// `DB_ACQUIRE_TIMEOUT_SECS`: wait for a pooled connection at most this long (default 5).
    pub db_acquire_timeout: Duration,
    /// `DB_STATEMENT_TIMEOUT_SECS`: any one query may run at most this long (default 5).
    pub db_statement_timeout: Duration,
    /// `DB_MIN_CONNECTIONS`: connections the pool keeps open when idle (default 0).
    pub db_min_connections: u32,
    /// `DB_IDLE_TIMEOUT_SECS`: a pooled connection unused this long is closed (default 600).
    pub db_idle_timeout: Duration,
    /// `DB_MAX_LIFETIME_SECS`: a pooled connection is replaced after this long, used or
    /// not (default 1800), so server-side state and load balancing are refreshed.
    pub db_max_lifetime: Duration,
    /// `REQUIRE_IF_MATCH`: PUT, PATCH and DELETE of a row must carry `If-Match` (the ETag
    /// read), else 428 (RFC 6585 §3); default false: writes without one still never lose
    /// an update, as each is one conditional statement.
    pub require_if_match: bool,
    /// `IDEMPOTENCY_TTL_SECS`: how long an `Idempotency-Key` and its stored answer are
    /// kept (default 86400: 24 hours).
    pub idempotency_ttl: Duration,
    /// `SOFT_DELETE_RETENTION_DAYS`: soft-deleted rows older than this are purged once a
    /// minute (rows still referenced are kept); default unset: kept until restored.
    pub soft_delete_retention: Option<Duration>,
    /// `AUDIT_RETENTION_DAYS`: audit records older than this are purged once a minute
    /// (default 365; 0 keeps them for ever).
    pub audit_retention: Option<Duration>,
    /// `REQUEST_TIMEOUT_SECS`: a request is answered 503 after this long (default 30).
    pub request_timeout: Duration,
    /// `BODY_LIMIT_BYTES`: request bodies above this are refused with 413 (default 1 MiB).
    pub body_limit_bytes: usize,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins allowed by CORS (default: none).
    pub cors_allowed_origins: Vec<String>,
    /// `CORS_ALLOWED_HEADERS`: comma-separated request headers a cross-origin caller may
    /// send (default: the headers the service reads: `authorization`, `content-type`,
    /// `x-request-id`, `if-match`, `if-none-match`, `idempotency-key`, and the header of
    /// every API-key scheme of the contract, which is always added).
    pub cors_allowed_headers: Vec<String>,
    /// `HEADER_READ_TIMEOUT_SECS`: a client must send a request's whole header within this
    /// long of connecting or of the previous answer; slower connections, and keep-alive
    /// connections idle this long, are closed (default 10).
    pub header_read_timeout: Duration,
    /// `MAX_CONNECTIONS`: connections held at once; more wait in the listen backlog
    /// (default 1024).
    pub max_connections: usize,
    /// `METRICS_TOKEN`: when set, `/metrics` answers only requests bearing
    /// `Authorization: Bearer <METRICS_TOKEN>` (default: unset, `/metrics` is public; keep
    /// it off the public network then).
    pub metrics_token: Option<Secret>,
    /// `SHUTDOWN_GRACE_SECS`: how long shutdown waits for in-flight requests (default 30).
    pub shutdown_grace: Duration,
    /// `APP_ENV`: `production` (default) or `development`. Development alone may run
    /// without `JWT_SECRET` (a throwaway key is made at start-up).
    pub development: bool,
    /// `JWT_SECRET`: the HS256 key of access tokens, at least 32 bytes. Required outside
    /// development.
    pub jwt_secret: Secret,
    /// `ACCESS_TOKEN_TTL_SECS`: access-token lifetime (default 900: 15 minutes).
    pub access_token_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECS`: refresh-token lifetime (default 2592000: 30 days).
    pub refresh_token_ttl: Duration,
    /// `SESSION_MAX_AGE_SECS`: a session (a login and its refresh-token rotations) ends this
    /// long after the login, however often it is refreshed (default 2592000: 30 days).
    pub session_max_age: Duration,
    /// `REGISTRATION_ENABLED`: `POST …/auth/register` is open (default: the contract's
    /// choice, [`Service::registration_open`]; closed unless the contract opens it).
    pub registration_enabled: bool,
    /// `PASSWORD_HASH_CONCURRENCY`: password hashes and checks running at once (argon2id,
    /// 19 MiB each); past it sign-ins answer 503 at once (default: the number of cores).
    pub password_hash_concurrency: usize,
    /// `RATE_LIMIT_PER_MINUTE` / `RATE_LIMIT_BURST`: each caller's token bucket (default 600 / 100).
    pub rate_limit_per_minute: u32,
    pub rate_limit_burst: u32,
    /// `AUTH_RATE_LIMIT_PER_MINUTE` / `AUTH_RATE_LIMIT_BURST`: login, registration and
    /// refresh, per client address (default 10 / 5).
    pub auth_rate_limit_per_minute: u32,
    pub auth_rate_limit_burst: u32,
    /// `REDIS_URL`: share rate limits across instances through Redis (default: in-process).
    /// Needs a build with the `redis` feature; other builds refuse to start when it is set.
    pub redis_url: Option<String>,
    /// `RATE_LIMIT_PREFIX`: prefix of the Redis keys (default: the crate name).
    pub rate_limit_prefix: String,
    /// `TRUSTED_PROXIES`: how many proxies you run in front of the service, each appending
    /// to `X-Forwarded-For`; anonymous callers are keyed by the entry the last of them
    /// wrote (default 0: by the TCP peer). `TRUST_FORWARDED_FOR=true` means 1.
    pub trusted_proxies: usize,
    /// `TRUSTED_PROXY_NETWORKS`: comma-separated networks of your proxies (`10.0.0.0/8`);
    /// instead of a count, the client is the right-most `X-Forwarded-For` entry outside
    /// them, when the peer is inside them (default: none).
    pub trusted_networks: Vec<ipnet::IpNet>,
    /// `HSTS_MAX_AGE_SECS`: send `Strict-Transport-Security` with this max-age (set it when
    /// clients reach the service over TLS; default: not sent).
    pub hsts_max_age: Option<u64>,
    /// `HEALTH_PATH`, `READY_PATH`, `METRICS_PATH`, `OPENAPI_PATH`, `DOCS_PATH`: where the
    /// service's own endpoints are served (default: [`Service::paths`]). Each must be an
    /// absolute path of literal segments, none the same as another, a path of the
    /// contract, or under the account routes.
    pub paths: EndpointPaths,
}

/// The paths the service's own endpoints are served at ([`Config::paths`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPaths {
    pub health: String,
    pub ready: String,
    pub metrics: String,
    pub openapi: String,
    pub docs: String,
}

impl EndpointPaths {
    /// Reads the five variables (defaults from `service`) and checks them. Errors: a path
    /// that is not absolute, holds a parameter or wildcard, is configured twice, is one of
    /// the contract's or lies under the account routes: the router would refuse it.
    fn from_lookup(
        service: &Service,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<EndpointPaths, ConfigError> {
        let d = &service.paths;
        let get =
            |name: &str, default: &str| text(lookup, name).unwrap_or_else(|| default.to_string());
        let paths = EndpointPaths {
            health: get("HEALTH_PATH", d.health),
            ready: get("READY_PATH", d.ready),
            metrics: get("METRICS_PATH", d.metrics),
            openapi: get("OPENAPI_PATH", d.openapi),
            docs: get("DOCS_PATH", d.docs),
        };
        let all = [
            ("HEALTH_PATH", &paths.health),
            ("READY_PATH", &paths.ready),
            ("METRICS_PATH", &paths.metrics),
            ("OPENAPI_PATH", &paths.openapi),
            ("DOCS_PATH", &paths.docs),
        ];
        for (i, (name, path)) in all.iter().enumerate() {
            if !path.starts_with('/')
                || path.contains(['{', '}', '*', '?', '#'])
                || path.contains("//")
            {
                return Err(ConfigError(format!("{name}: `{path}` is not an absolute path of literal segments (write /_service/metrics)")));
            }
            if let Some((other, _)) = all[..i].iter().find(|(_, p)| p == path) {
                return Err(ConfigError(format!(
                    "{name} and {other} are both `{path}`; give each endpoint a path of its own"
                )));
            }
            if service.contract_paths.iter().any(|p| p == path) {
                return Err(ConfigError(format!("{name}: `{path}` is a path of the contract; choose another (the contract's operations keep their paths)")));
            }
            let prefix = service.auth_prefix;
            if !prefix.is_empty()
                && (path.as_str() == prefix || path.starts_with(&format!("{prefix}/")))
            {
                return Err(ConfigError(format!(
                    "{name}: `{path}` is under the account routes ({prefix}); choose another"
                )));
            }
        }
        Ok(paths)
    }
}

/// A variable that is set but cannot be parsed.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Whether `secret` is obviously not random: fewer than 10 different characters (one
/// character repeated, `abab…`), or a placeholder left in a configuration file.
fn weak(secret: &str) -> bool {
    let distinct: std::collections::HashSet<char> = secret.chars().collect();
    let lower = secret.to_ascii_lowercase();
    distinct.len() < 10
        || [
            "changeme",
            "change-me",
            "change_me",
            "example",
            "your-secret",
            "your_secret",
        ]
        .iter()
        .any(|p| lower.contains(p))
}

/// A comma-separated list, its items trimmed and lowercased, blanks left out.
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .collect()
}

/// A variable's trimmed value; unset and blank are the same.
fn text(lookup: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A variable parsed as `T`, or `default` when unset. Errors: set but unparsable.
fn setting<T: std::str::FromStr>(
    lookup: &dyn Fn(&str) -> Option<String>,
    name: &str,
    default: T,
) -> Result<T, ConfigError> {
    match text(lookup, name) {
        Some(v) => v
            .parse()
            .map_err(|_| ConfigError(format!("environment variable {name} has an invalid value"))),
        None => Ok(default),
    }
}

impl Config {
    /// Reads the environment; defaults that name the service come from `service`. Errors:
    /// a variable that is set but malformed, or a missing or short `JWT_SECRET` outside
    /// development.
    pub fn from_env(service: &Service) -> Result<Config, ConfigError> {
        Self::from_lookup(service, &|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (tests pass their own).
    pub fn from_lookup(
        service: &Service,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let var = |name: &str| text(lookup, name);
        let development = var("APP_ENV").is_some_and(|v| {
            v.eq_ignore_ascii_case("development") || v.eq_ignore_ascii_case("dev")
        });
        let jwt_secret = match var("JWT_SECRET") {
            Some(s) if s.len() >= 32 && !development && weak(&s) => return Err(ConfigError("JWT_SECRET is too regular to be a secret (fewer than 10 different characters, or a placeholder); use at least 32 random bytes (for example `openssl rand -base64 48`)".into())),
            Some(s) if s.len() >= 32 => Secret::new(s),
            Some(_) => return Err(ConfigError("JWT_SECRET is shorter than 32 bytes; use at least 32 random bytes (for example `openssl rand -base64 48`)".into())),
            None if development => {
                tracing::warn!("JWT_SECRET is not set: using a throwaway key (APP_ENV=development); tokens will not survive a restart");
                let mut bytes = [0u8; 48];
                getrandom::fill(&mut bytes).map_err(|e| ConfigError(format!("no random source for a development key: {e}")))?;
                Secret::new(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
            }
            None => return Err(ConfigError("JWT_SECRET is not set: set it to at least 32 random bytes (for example `openssl rand -base64 48`), or set APP_ENV=development to run with a throwaway key".into())),
        };
        let redis_url = var("REDIS_URL");
        if redis_url.is_some() && !cfg!(feature = "redis") {
            return Err(ConfigError("REDIS_URL is set, but this build has no Redis support: build with `--features redis` to share rate limits through Redis, or unset REDIS_URL to limit in process".into()));
        }
        Ok(Config {
            port: setting(lookup, "PORT", 8080)?,
            database_url: setting(lookup, "DATABASE_URL", service.default_database_url())?,
            db_max_connections: setting(lookup, "DB_MAX_CONNECTIONS", 10)?,
            db_acquire_timeout: Duration::from_secs(setting(lookup, "DB_ACQUIRE_TIMEOUT_SECS", 5)?),
            db_statement_timeout: Duration::from_secs(setting(
                lookup,
                "DB_STATEMENT_TIMEOUT_SECS",
                5,
            )?),
            db_min_connections: setting(lookup, "DB_MIN_CONNECTIONS", 0)?,
            db_idle_timeout: Duration::from_secs(setting(lookup, "DB_IDLE_TIMEOUT_SECS", 600)?),
            db_max_lifetime: Duration::from_secs(setting(lookup, "DB_MAX_LIFETIME_SECS", 1800)?),
            require_if_match: setting(lookup, "REQUIRE_IF_MATCH", false)?,
            idempotency_ttl: Duration::from_secs(setting(lookup, "IDEMPOTENCY_TTL_SECS", 86_400)?),
            soft_delete_retention: match var("SOFT_DELETE_RETENTION_DAYS") {
                None => None,
                Some(_) => Some(Duration::from_secs(setting::<u64>(lookup, "SOFT_DELETE_RETENTION_DAYS", 0)? * 86_400)),
            },
            audit_retention: match setting::<u64>(lookup, "AUDIT_RETENTION_DAYS", 365)? {
                0 => None,
                days => Some(Duration::from_secs(days * 86_400)),
            },
            request_timeout: Duration::from_secs(setting(lookup, "REQUEST_TIMEOUT_SECS", 30)?),
            body_limit_bytes: setting(lookup, "BODY_LIMIT_BYTES", 1024 * 1024)?,
            cors_allowed_origins: setting(lookup, "CORS_ALLOWED_ORIGINS", String::new())?
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            cors_allowed_headers: list(var("CORS_ALLOWED_HEADERS").as_deref().unwrap_or("authorization,content-type,x-request-id,if-match,if-none-match,idempotency-key,traceparent,tracestate")),
            header_read_timeout: Duration::from_secs(setting(lookup, "HEADER_READ_TIMEOUT_SECS", 10u64)?.max(1)),
            max_connections: setting(lookup, "MAX_CONNECTIONS", 1024usize)?.max(1),
            metrics_token: var("METRICS_TOKEN").map(Secret::new),
            shutdown_grace: Duration::from_secs(setting(lookup, "SHUTDOWN_GRACE_SECS", 30)?),
            development,
            jwt_secret,
            access_token_ttl: Duration::from_secs(setting(lookup, "ACCESS_TOKEN_TTL_SECS", 900)?),
            refresh_token_ttl: Duration::from_secs(setting(
                lookup,
                "REFRESH_TOKEN_TTL_SECS",
                30 * 24 * 3600,
            )?),
            session_max_age: Duration::from_secs(setting(lookup, "SESSION_MAX_AGE_SECS", 30 * 24 * 3600)?),
            registration_enabled: setting(lookup, "REGISTRATION_ENABLED", service.registration_open)?,
            password_hash_concurrency: setting(
                lookup,
                "PASSWORD_HASH_CONCURRENCY",
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )?
            .max(1),
            rate_limit_per_minute: setting(lookup, "RATE_LIMIT_PER_MINUTE", 600)?,
            rate_limit_burst: setting(lookup, "RATE_LIMIT_BURST", 100)?,
            auth_rate_limit_per_minute: setting(lookup, "AUTH_RATE_LIMIT_PER_MINUTE", 10)?,
            auth_rate_limit_burst: setting(lookup, "AUTH_RATE_LIMIT_BURST", 5)?,
            redis_url,
            rate_limit_prefix: var("RATE_LIMIT_PREFIX").unwrap_or_else(|| service.name.to_string()),
            trusted_proxies: setting(lookup, "TRUSTED_PROXIES", usize::from(setting(lookup, "TRUST_FORWARDED_FOR", false)?))?,
            trusted_networks: var("TRUSTED_PROXY_NETWORKS")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(|n| n.parse().map_err(|_| ConfigError(format!("TRUSTED_PROXY_NETWORKS: `{n}` is not a network (write 10.0.0.0/8 or fd00::/8)"))))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?
                .unwrap_or_default(),
            hsts_max_age: Some(setting(lookup, "HSTS_MAX_AGE_SECS", 0u64)?).filter(|age| *age > 0),
            paths: EndpointPaths::from_lookup(service, lookup)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::SERVICE;

    #[test]
    fn the_jwt_secret_is_required_outside_development_and_never_printed() {
        let missing = Config::from_lookup(&SERVICE, &|_| None);
        assert!(missing.unwrap_err().to_string().contains("JWT_SECRET"));
        let short = Config::from_lookup(&SERVICE, &|k| {
            (k == "JWT_SECRET").then(|| "short".to_string())
        });
        assert!(short.unwrap_err().to_string().contains("32 bytes"));
        let dev = Config::from_lookup(&SERVICE, &|k| {
            (k == "APP_ENV").then(|| "development".to_string())
        })
        .expect("development runs without a secret");
        assert!(dev.jwt_secret.expose().len() >= 32);
        assert!(
            !format!("{dev:?}").contains(dev.jwt_secret.expose()),
            "the secret never appears in debug output"
        );
    }

    #[test]
    fn an_obviously_weak_jwt_secret_is_refused_outside_development() {
        for weak in [
            "a".repeat(40),
            "ab".repeat(20),
            "please-changeme-please-changeme-please".to_string(),
        ] {
            let w = weak.clone();
            let err =
                Config::from_lookup(&SERVICE, &move |k| (k == "JWT_SECRET").then(|| w.clone()))
                    .unwrap_err()
                    .to_string();
            assert!(err.contains("too regular"), "{weak}: {err}");
        }
        let strong = "k3J9xQ2mZp7Lw4Rt8Vb1Nc6Hy0Ds5Fg_Ue-Aq";
        assert!(Config::from_lookup(&SERVICE, &|k| (k == "JWT_SECRET")
            .then(|| strong.to_string()))
        .is_ok());
        let dev = |k: &str| match k {
            "APP_ENV" => Some("development".to_string()),
            "JWT_SECRET" => Some("a".repeat(40)),
            _ => None,
        };
        assert!(
            Config::from_lookup(&SERVICE, &dev).is_ok(),
            "development takes any 32 bytes"
        );
    }

    #[test]
    fn defaults_name_the_service_and_bad_values_name_the_variable() {
        let dev = |extra: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                if k == "APP_ENV" {
                    Some("development".to_string())
                } else {
                    extra
                        .iter()
                        .find(|(n, _)| *n == k)
                        .map(|(_, v)| v.to_string())
                }
            }
        };
        let c = Config::from_lookup(&SERVICE, &dev(&[])).unwrap();
        assert_eq!(c.rate_limit_prefix, "fixture");
        assert_eq!(c.database_url, SERVICE.default_database_url());
        assert_eq!((c.port, c.access_token_ttl.as_secs()), (8080, 900));
        let err = Config::from_lookup(&SERVICE, &dev(&[("PORT", "eighty")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("PORT"), "{err}");
    }

    #[test]
    fn registration_follows_the_contract_unless_the_environment_says_otherwise() {
        let closed = Service {
            registration_open: false,
            ..crate::fixture::service()
        };
        let dev = |k: &str| (k == "APP_ENV").then(|| "development".to_string());
        assert!(
            !Config::from_lookup(&closed, &dev)
                .unwrap()
                .registration_enabled,
            "closed unless the contract opens it"
        );
        assert!(
            Config::from_lookup(&SERVICE, &dev)
                .unwrap()
                .registration_enabled
        );
        let opened = |k: &str| match k {
            "APP_ENV" => Some("development".to_string()),
            "REGISTRATION_ENABLED" => Some("true".to_string()),
            _ => None,
        };
        assert!(
            Config::from_lookup(&closed, &opened)
                .unwrap()
                .registration_enabled
        );
    }

    /// Without the `redis` feature, a `REDIS_URL` would be silently ignored: the service
    /// refuses to start instead.
    #[cfg(not(feature = "redis"))]
    #[test]
    fn redis_url_without_the_redis_feature_is_refused() {
        let lookup = |k: &str| match k {
            "APP_ENV" => Some("development".to_string()),
            "REDIS_URL" => Some("redis://127.0.0.1:6379".to_string()),
            _ => None,
        };
        let err = Config::from_lookup(&SERVICE, &lookup)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--features redis"), "{err}");
    }
}
