//! Rate limiting: a token bucket per (bucket, caller) — the GCRA formulation, which
//! admits the same requests as a token bucket of `burst` tokens refilled at
//! `per_minute` a minute.
//!
//! In-process by default (the `governor` crate). Built with the `redis` feature and run
//! with `REDIS_URL` set, every instance shares its buckets through Redis: one Lua script
//! reads and advances the bucket atomically with Redis's own clock, so instances need no
//! clock agreement. If Redis cannot be reached the request is let through and a warning is
//! logged (the limiter protects capacity; it must not become the outage). A build without
//! the feature refuses to start when `REDIS_URL` is set (`config::Config::from_lookup`),
//! rather than limit each instance on its own while you believe the limit is shared.
//!
//! Answers carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
//! (draft-ietf-httpapi-ratelimit-headers) and, on 429, `Retry-After` (RFC 9110 §10.2.3).

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// A named token bucket. Its size comes from configuration (`per_minute`/`burst` of 0)
/// or from the contract (`x-apigen-rate-limit`).
#[derive(Debug)]
pub struct Bucket {
    pub name: &'static str,
    /// Requests a minute; 0: `RATE_LIMIT_PER_MINUTE` (or `AUTH_RATE_LIMIT_PER_MINUTE` for `auth`).
    pub per_minute: u32,
    /// Requests allowed at once; 0: `RATE_LIMIT_BURST` (or `AUTH_RATE_LIMIT_BURST`).
    pub burst: u32,
}

/// Every request an operation of the contract receives, unless the contract says otherwise.
pub static DEFAULT: Bucket = Bucket {
    name: "default",
    per_minute: 0,
    burst: 0,
};
/// Login, registration and refresh: stricter, keyed by client address.
pub static AUTH: Bucket = Bucket {
    name: "auth",
    per_minute: 0,
    burst: 0,
};

/// Who a request is charged to: its API key, else its account, else (anonymous calls) the
/// client's address. Built and hashed without allocating, except for a forwarded address
/// that is not an IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    ApiKey(uuid::Uuid),
    User(uuid::Uuid),
    Address(IpAddr),
    /// No address known (requests driven in memory, as in tests).
    UnknownAddress,
}

/// `key:<id>`, `user:<id>` or `ip:<address>`: the form Redis keys carry.
impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::ApiKey(id) => write!(f, "key:{id}"),
            Key::User(id) => write!(f, "user:{id}"),
            Key::Address(ip) => write!(f, "ip:{ip}"),
            Key::UnknownAddress => f.write_str("ip:unknown"),
        }
    }
}

/// The outcome of charging one request.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Until the bucket is full again (allowed) or the next request may pass (refused).
    pub wait: Duration,
}

// The header names of draft-ietf-httpapi-ratelimit-headers, parsed once rather than per answer.
const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

impl Verdict {
    /// Let through without counting (no bucket, or Redis unreachable).
    fn open(burst: u32) -> Verdict {
        Verdict {
            allowed: true,
            limit: burst,
            remaining: burst,
            wait: Duration::ZERO,
        }
    }

    pub fn write_headers(&self, headers: &mut HeaderMap) {
        let secs = self.wait.as_secs() + u64::from(self.wait.subsec_nanos() > 0);
        headers.insert(RATELIMIT_LIMIT, HeaderValue::from(self.limit));
        headers.insert(RATELIMIT_REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RATELIMIT_RESET, HeaderValue::from(secs));
        if !self.allowed {
            headers.insert(
                axum::http::header::RETRY_AFTER,
                HeaderValue::from(secs.max(1)),
            );
        }
    }
}

type Local = RateLimiter<
    Key,
    governor::state::keyed::DefaultKeyedStateStore<Key>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// The limiter of one service instance.
pub struct Limiter {
    quotas: HashMap<&'static str, (u32, u32)>,
    local: HashMap<&'static str, Local>,
    clock: DefaultClock,
    #[cfg(feature = "redis")]
    redis: Option<shared::Redis>,
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

/// A limiter that cannot be built from the configuration.
pub type LimiterError = Box<dyn std::error::Error>;

impl Limiter {
    /// Builds the buckets from configuration and the contract's own (`contract`, the
    /// generated `security::BUCKETS`). Errors: an unparsable `REDIS_URL`.
    pub fn new(
        config: &crate::config::Config,
        contract: &[&'static Bucket],
    ) -> Result<Limiter, LimiterError> {
        let mut quotas = HashMap::new();
        quotas.insert(
            DEFAULT.name,
            (config.rate_limit_per_minute, config.rate_limit_burst),
        );
        quotas.insert(
            AUTH.name,
            (
                config.auth_rate_limit_per_minute,
                config.auth_rate_limit_burst,
            ),
        );
        for b in contract {
            quotas.insert(b.name, (b.per_minute, b.burst));
        }
        let local = quotas
            .iter()
            .map(|(name, (per_minute, burst))| {
                (
                    *name,
                    RateLimiter::keyed(quota(*per_minute, *burst))
                        .with_middleware::<StateInformationMiddleware>(),
                )
            })
            .collect();
        Ok(Limiter {
            quotas,
            local,
            clock: DefaultClock::default(),
            #[cfg(feature = "redis")]
            redis: match &config.redis_url {
                Some(url) => Some(shared::Redis::open(url, &config.rate_limit_prefix)?),
                None => None,
            },
        })
    }

    /// Charges one request of `key` to `bucket`.
    pub async fn check(&self, bucket: &Bucket, key: Key) -> Verdict {
        let (per_minute, burst) = self.quotas.get(bucket.name).copied().unwrap_or((60, 10));
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis {
            match redis.check(bucket, &key, per_minute, burst).await {
                Ok(v) => return v,
                Err(e) => {
                    tracing::warn!(error = %e, "rate limiter: Redis unavailable, request let through");
                    return Verdict::open(burst);
                }
            }
        }
        let Some(limiter) = self.local.get(bucket.name) else {
            return Verdict::open(burst);
        };
        let interval = Duration::from_secs(60) / per_minute.max(1);
        match limiter.check_key(&key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Verdict {
                    allowed: true,
                    limit: burst,
                    remaining,
                    wait: interval * (burst.saturating_sub(remaining)),
                }
            }
            Err(not_until) => Verdict {
                allowed: false,
                limit: burst,
                remaining: 0,
                wait: not_until.wait_time_from(self.clock.now()),
            },
        }
    }

    /// Forgets in-process buckets that are full again, so memory follows active callers.
    pub fn prune(&self) {
        for l in self.local.values() {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// Buckets shared through Redis (the `redis` feature).
#[cfg(feature = "redis")]
mod shared {
    use super::{Bucket, Key, Verdict};
    use std::time::Duration;

    pub struct Redis {
        client: redis::Client,
        connection: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
        prefix: String,
    }

    /// GCRA in Redis. KEYS[1]: the bucket key. ARGV: emission interval (µs), burst.
    /// Returns {allowed, remaining, wait µs}.
    const SCRIPT: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local capacity = interval * burst
local after = tat + interval
if after - now > capacity then
  return {0, 0, after - capacity - now}
end
redis.call('SET', KEYS[1], after, 'PX', math.ceil((after - now) / 1000) + 1)
return {1, math.floor((capacity - (after - now)) / interval), after - now}
";

    impl Redis {
        /// Errors: `url` is not a Redis URL. Connects on first use, not here.
        pub fn open(url: &str, prefix: &str) -> Result<Redis, redis::RedisError> {
            Ok(Redis {
                client: redis::Client::open(url)?,
                connection: tokio::sync::OnceCell::new(),
                prefix: prefix.to_string(),
            })
        }

        /// Charges one request; errors when Redis cannot be reached within a second.
        pub async fn check(
            &self,
            bucket: &Bucket,
            key: &Key,
            per_minute: u32,
            burst: u32,
        ) -> Result<Verdict, redis::RedisError> {
            let connection = self
                .connection
                .get_or_try_init(|| async { self.client.get_connection_manager().await })
                .await?;
            let mut connection = connection.clone();
            let interval_us = 60_000_000u64 / u64::from(per_minute.max(1));
            let script = redis::Script::new(SCRIPT);
            let (allowed, remaining, wait_us): (i64, i64, i64) = tokio::time::timeout(
                Duration::from_secs(1),
                script
                    .key(format!("{}:{}:{key}", self.prefix, bucket.name))
                    .arg(interval_us)
                    .arg(burst.max(1))
                    .invoke_async(&mut connection),
            )
            .await
            .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "timed out")))??;
            Ok(Verdict {
                allowed: allowed == 1,
                limit: burst,
                remaining: remaining.max(0) as u32,
                wait: Duration::from_micros(wait_us.max(0) as u64),
            })
        }
    }
}

/// Shared by every clone of the application state.
pub type SharedLimiter = Arc<Limiter>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_caller_as_redis_keys_carry_it() {
        let id = uuid::Uuid::nil();
        assert_eq!(Key::ApiKey(id).to_string(), format!("key:{id}"));
        assert_eq!(Key::User(id).to_string(), format!("user:{id}"));
        assert_eq!(
            Key::Address("10.0.0.1".parse().unwrap()).to_string(),
            "ip:10.0.0.1"
        );
        assert_eq!(Key::UnknownAddress.to_string(), "ip:unknown");
    }

    fn limiter(per_minute: u32, burst: u32) -> Limiter {
        static CONTRACT: Bucket = Bucket {
            name: "contract",
            per_minute: 60,
            burst: 1,
        };
        let mut config =
            crate::testing::test_config(&crate::fixture::SERVICE, "sqlite::memory:", &[]);
        config.rate_limit_per_minute = per_minute;
        config.rate_limit_burst = burst;
        Limiter::new(&config, &[&CONTRACT]).unwrap()
    }

    #[tokio::test]
    async fn a_bucket_admits_its_burst_then_refuses_with_the_wait() {
        let limiter = limiter(60, 3);
        let alice = Key::User(uuid::Uuid::now_v7());
        let verdicts: Vec<bool> = futures_all(&limiter, &DEFAULT, &alice, 4).await;
        assert_eq!(verdicts, [true, true, true, false]);
        let refused = limiter.check(&DEFAULT, alice.clone()).await;
        assert!(
            !refused.allowed
                && refused.remaining == 0
                && refused.wait > Duration::ZERO
                && refused.wait <= Duration::from_secs(1)
        );
        // Another caller has a bucket of its own.
        assert!(
            limiter
                .check(&DEFAULT, Key::User(uuid::Uuid::now_v7()))
                .await
                .allowed
        );
    }

    #[tokio::test]
    async fn contract_buckets_take_their_own_size() {
        let limiter = limiter(600, 100);
        static CONTRACT: Bucket = Bucket {
            name: "contract",
            per_minute: 0,
            burst: 0,
        };
        let key = Key::UnknownAddress;
        assert!(limiter.check(&CONTRACT, key.clone()).await.allowed);
        assert!(
            !limiter.check(&CONTRACT, key).await.allowed,
            "the contract's bucket holds one request"
        );
    }

    #[test]
    fn verdicts_write_the_ratelimit_headers_and_retry_after_when_refused() {
        let mut headers = HeaderMap::new();
        Verdict {
            allowed: false,
            limit: 5,
            remaining: 0,
            wait: Duration::from_millis(1500),
        }
        .write_headers(&mut headers);
        assert_eq!(headers["ratelimit-limit"], "5");
        assert_eq!(headers["ratelimit-remaining"], "0");
        assert_eq!(headers["ratelimit-reset"], "2");
        assert_eq!(headers["retry-after"], "2");
        let mut headers = HeaderMap::new();
        Verdict::open(5).write_headers(&mut headers);
        assert!(headers.get("retry-after").is_none());
    }

    async fn futures_all(limiter: &Limiter, bucket: &Bucket, key: &Key, n: usize) -> Vec<bool> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(limiter.check(bucket, key.clone()).await.allowed);
        }
        out
    }

    /// Two instances sharing one Redis share one limit. Needs the `redis` feature and
    /// `REDIS_URL` (skipped without it).
    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn redis_limits_are_shared_across_instances() {
        use crate::fixture::app_with;
        use axum::http::StatusCode;
        let Ok(url) = std::env::var("REDIS_URL") else {
            eprintln!("skipped: set REDIS_URL to test the Redis-backed limiter");
            return;
        };
        let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
        let settings = [
            ("REDIS_URL", url.as_str()),
            ("RATE_LIMIT_PREFIX", prefix.as_str()),
            ("RATE_LIMIT_PER_MINUTE", "60"),
            ("RATE_LIMIT_BURST", "4"),
        ];
        let one = app_with(&settings).await;
        let two = app_with(&settings).await;
        // Both instances sign with the same key, so one token stands for one caller on both.
        let t = crate::testing::token(
            &one.state,
            uuid::Uuid::now_v7(),
            &["reader".to_string()],
            &[],
        );
        let auth = [("authorization", t.as_str())];
        for i in 0..4 {
            let app = if i % 2 == 0 { &one } else { &two };
            let r = app.send_raw("GET", "/auth/me", None, &auth).await;
            assert_eq!(r.status, StatusCode::OK, "request {i}: {}", r.body);
        }
        let r = one.send_raw("GET", "/auth/me", None, &auth).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
        let r = two.send_raw("GET", "/auth/me", None, &auth).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
        assert!(r.headers.contains_key("retry-after"));
    }
}
