//! Revoked access tokens. An access token is a signed statement that lives until it
//! expires; logging out, deleting or disabling an account and changing its roles must end
//! the tokens already handed out, at once. Each request's token is checked here.
//!
//! Two kinds of revocation, each kept for one access-token lifetime (no token outlives it):
//! a **session** (the refresh-token family a token was issued in: logout, reuse of a spent
//! refresh token), and a **subject** from a moment on (every token of the account issued at
//! or before it: role changes, disabling, deletion). They live in process; with `REDIS_URL`
//! set (and the `redis` feature) they are also written to and read from Redis, so every
//! instance refuses what one revoked. When Redis cannot be reached the check falls back to
//! this instance's own revocations and logs a warning.

use crate::auth::Claims;
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;
use uuid::Uuid;

/// What is revoked: a session, or a subject's tokens issued at or before a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Session(Uuid),
    Subject(Uuid),
}

/// The revocations of one service: (key → (moment in Unix seconds, forget after)).
pub struct Revocations {
    local: RwLock<HashMap<Key, (i64, i64)>>,
    /// How long an entry must be kept: the access-token lifetime.
    keep: Duration,
    #[cfg(feature = "redis")]
    redis: Option<shared::Redis>,
}

impl Revocations {
    /// Revocations kept for `keep` (the access-token lifetime), shared through `redis_url`
    /// when given. Errors: a `redis_url` that is not a Redis URL.
    pub fn new(
        keep: Duration,
        redis_url: Option<&str>,
        prefix: &str,
    ) -> Result<Revocations, Box<dyn std::error::Error>> {
        #[cfg(not(feature = "redis"))]
        let _ = (redis_url, prefix);
        Ok(Revocations {
            local: RwLock::new(HashMap::new()),
            keep,
            #[cfg(feature = "redis")]
            redis: match redis_url {
                Some(url) => Some(shared::Redis::open(url, prefix)?),
                None => None,
            },
        })
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    async fn put(&self, key: Key, at: i64) {
        let forget = Self::now() + self.keep.as_secs() as i64 + 1;
        {
            let mut local = self.local.write().unwrap_or_else(|e| e.into_inner());
            local.retain(|_, (_, until)| *until > Self::now());
            local.insert(key, (at, forget));
        }
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis {
            if let Err(e) = redis.put(key, at, self.keep).await {
                tracing::warn!(error = %e, "revocation not shared: Redis unavailable");
            }
        }
    }

    /// Ends every token of session `sid` (a refresh-token family).
    pub async fn revoke_session(&self, sid: Uuid) {
        self.put(Key::Session(sid), 0).await;
    }

    /// Ends every token of `subject` issued up to now.
    pub async fn revoke_subject(&self, subject: Uuid) {
        self.put(Key::Subject(subject), Self::now()).await;
    }

    /// Whether a token with these claims was revoked (its session, or its subject after it
    /// was issued).
    pub async fn is_revoked(&self, subject: Uuid, claims: &Claims) -> bool {
        let session = claims.sid.as_deref().and_then(|s| Uuid::parse_str(s).ok());
        let revoked = |cutoff: Option<i64>, session_revoked: bool| {
            session_revoked || cutoff.is_some_and(|at| claims.iat <= at)
        };
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis {
            match redis.get(subject, session).await {
                Ok((cutoff, session_revoked)) => return revoked(cutoff, session_revoked),
                Err(e) => {
                    tracing::warn!(error = %e, "revocations read from this instance only: Redis unavailable")
                }
            }
        }
        let local = self.local.read().unwrap_or_else(|e| e.into_inner());
        if local.is_empty() {
            return false;
        }
        let cutoff = local.get(&Key::Subject(subject)).map(|(at, _)| *at);
        let session_revoked = session.is_some_and(|s| local.contains_key(&Key::Session(s)));
        revoked(cutoff, session_revoked)
    }
}

#[cfg(feature = "redis")]
mod shared {
    use super::Key;
    use std::time::Duration;
    use uuid::Uuid;

    pub struct Redis {
        client: redis::Client,
        connection: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
        prefix: String,
    }

    impl Redis {
        /// Errors: `url` is not a Redis URL. Connects on first use.
        pub fn open(url: &str, prefix: &str) -> Result<Redis, redis::RedisError> {
            Ok(Redis {
                client: redis::Client::open(url)?,
                connection: tokio::sync::OnceCell::new(),
                prefix: prefix.to_string(),
            })
        }

        fn name(&self, key: Key) -> String {
            match key {
                Key::Session(id) => format!("{}:revoked:session:{id}", self.prefix),
                Key::Subject(id) => format!("{}:revoked:subject:{id}", self.prefix),
            }
        }

        async fn connection(&self) -> Result<redis::aio::ConnectionManager, redis::RedisError> {
            Ok(self
                .connection
                .get_or_try_init(|| async { self.client.get_connection_manager().await })
                .await?
                .clone())
        }

        pub async fn put(
            &self,
            key: Key,
            at: i64,
            keep: Duration,
        ) -> Result<(), redis::RedisError> {
            let mut c = self.connection().await?;
            let mut cmd = redis::cmd("SET");
            cmd.arg(self.name(key))
                .arg(at)
                .arg("EX")
                .arg(keep.as_secs().max(1));
            let set = cmd.query_async::<()>(&mut c);
            tokio::time::timeout(Duration::from_secs(1), set)
                .await
                .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "timed out")))?
        }

        /// The subject's cutoff and whether the session is revoked, in one round trip.
        pub async fn get(
            &self,
            subject: Uuid,
            session: Option<Uuid>,
        ) -> Result<(Option<i64>, bool), redis::RedisError> {
            let mut c = self.connection().await?;
            let session_key = session.map_or_else(
                || format!("{}:revoked:session:none", self.prefix),
                |s| self.name(Key::Session(s)),
            );
            let mut cmd = redis::cmd("MGET");
            cmd.arg(self.name(Key::Subject(subject))).arg(session_key);
            let get = cmd.query_async::<(Option<i64>, Option<i64>)>(&mut c);
            let (cutoff, session) = tokio::time::timeout(Duration::from_secs(1), get)
                .await
                .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "timed out")))??;
            Ok((cutoff, session.is_some()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(iat: i64, sid: Option<Uuid>) -> Claims {
        Claims {
            sub: String::new(),
            iss: String::new(),
            aud: String::new(),
            iat,
            nbf: iat,
            exp: iat + 900,
            jti: String::new(),
            sid: sid.map(|s| s.to_string()),
            roles: vec![],
            scope: String::new(),
        }
    }

    #[tokio::test]
    async fn a_revoked_session_and_a_subject_s_earlier_tokens_are_refused() {
        let r = Revocations::new(Duration::from_secs(900), None, "t").unwrap();
        let (alice, bob, session, other) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let now = chrono::Utc::now().timestamp();
        assert!(!r.is_revoked(alice, &claims(now, Some(session))).await);
        r.revoke_session(session).await;
        assert!(r.is_revoked(alice, &claims(now, Some(session))).await);
        assert!(
            !r.is_revoked(alice, &claims(now, Some(other))).await,
            "another session lives on"
        );
        r.revoke_subject(bob).await;
        assert!(
            r.is_revoked(bob, &claims(now - 10, None)).await,
            "issued before the change"
        );
        assert!(
            !r.is_revoked(bob, &claims(now + 10, None)).await,
            "issued after it"
        );
        assert!(!r.is_revoked(alice, &claims(now - 10, None)).await);
    }

    #[tokio::test]
    async fn entries_are_forgotten_after_one_token_lifetime() {
        let r = Revocations::new(Duration::from_secs(0), None, "t").unwrap();
        let s = Uuid::now_v7();
        r.revoke_session(s).await;
        r.local
            .write()
            .unwrap()
            .values_mut()
            .for_each(|(_, until)| *until = 0);
        r.revoke_session(Uuid::now_v7()).await;
        assert_eq!(
            r.local.read().unwrap().len(),
            1,
            "the expired entry was pruned"
        );
    }
}
