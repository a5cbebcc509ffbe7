//! The state every handler and guard receives.

use crate::config::Config;
use crate::db::Pool;
use crate::ratelimit::{Limiter, LimiterError, SharedLimiter};
use crate::revocation::Revocations;
use crate::Service;
use std::sync::Arc;

/// The state every handler and guard receives: one shared allocation, so handing it on
/// costs one reference-count increment. Its fields are reached through `Deref`
/// (`state.db`, `state.config`, `state.limiter`, `state.service`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares.
pub struct Shared {
    pub db: Pool,
    pub config: Config,
    pub limiter: SharedLimiter,
    /// The contract's facts about the service.
    pub service: &'static Service,
    /// Permits for password hashing: `PASSWORD_HASH_CONCURRENCY` at once.
    pub hashing: Arc<tokio::sync::Semaphore>,
    /// Access tokens revoked before they expire.
    pub revocations: Revocations,
    /// The last `/readyz` probe, reused for a second.
    pub readiness: crate::health::Readiness,
    /// Seals and opens list cursors (keyed from `JWT_SECRET`).
    pub cursors: crate::pagination::CursorSeal,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// The state of `service` over `db`; installs `service` for the process
    /// ([`Service::install`]). Errors: a `REDIS_URL` that is not a Redis URL.
    pub fn new(service: &'static Service, db: Pool, config: Config) -> Result<Self, LimiterError> {
        service.install();
        let limiter = Arc::new(Limiter::new(&config, service.buckets)?);
        let hashing = Arc::new(tokio::sync::Semaphore::new(
            config.password_hash_concurrency,
        ));
        let revocations = Revocations::new(
            config.access_token_ttl,
            config.redis_url.as_deref(),
            &config.rate_limit_prefix,
        )?;
        let cursors = crate::pagination::CursorSeal::new(config.jwt_secret.expose().as_bytes());
        Ok(AppState(Arc::new(Shared {
            cursors,
            db,
            config,
            limiter,
            service,
            hashing,
            revocations,
            readiness: crate::health::Readiness::default(),
        })))
    }
}
