//! Accounts, sessions and API keys, served under the service's
//! [`auth_prefix`](crate::Service::auth_prefix):
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /register` | anyone where the contract opens registration (`REGISTRATION_ENABLED` overrides); else 403 | creates an account with the default role ([`Roles::default`](crate::auth::Roles::default)) |
//! | `POST /login` | anyone | email + password → access token (JWT) + refresh token |
//! | `POST /refresh` | holder of a refresh token | rotates it: a new pair; the old token is spent |
//! | `POST /logout` | holder of a refresh token | revokes its whole family |
//! | `GET /me` | any authenticated caller | who the credential says you are |
//! | `POST /api-keys`, `GET /api-keys`, `DELETE /api-keys/{id}` | the administrator role | issue (the key is shown once), list, revoke |
//! | `GET /audit` | the administrator role | the audit trail, newest first ([`crate::audit`]) |
//!
//! Refresh tokens and API keys are stored as SHA-256 hashes; passwords as argon2id PHC
//! strings. Presenting a refresh token that was already rotated revokes every token of
//! its family (OAuth 2.0 Security BCP, RFC 9700 §4.14.2): a stolen token dies with
//! its first reuse. Every answer that carries a secret is `Cache-Control: no-store`.

use crate::auth::{no_store, Caller, Location, Need, Requirement, Scheme, SchemeKind, Via};
use crate::db::Pool;
use crate::error::ApiError;
use crate::state::AppState;
use crate::validation::{
    Additional, ArrayRule, Format, Kind, Mode, ObjectRule, Property, Schema, StringRule,
};
use axum::extract::{Path, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

/// An account.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub roles: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

// ---- request bodies -------------------------------------------------------------------

const STRING: Kind = Kind::String(StringRule {
    min_length: Some(1),
    max_length: Some(200),
    pattern: None,
    format: None,
    enum_values: &[],
    trim: false,
    lowercase: false,
    allow_control: false,
});
static EMAIL: Schema = Schema {
    nullable: false,
    kind: Kind::String(StringRule {
        min_length: Some(3),
        max_length: Some(254),
        pattern: None,
        format: Some(Format::Email),
        enum_values: &[],
        trim: true,
        lowercase: true,
        allow_control: false,
    }),
};
/// 8 to 128 characters (NIST SP 800-63B §3.1.1.2 minimum; the cap bounds hashing cost).
static PASSWORD: Schema = Schema {
    nullable: false,
    kind: Kind::String(StringRule {
        min_length: Some(8),
        max_length: Some(128),
        pattern: None,
        format: None,
        enum_values: &[],
        trim: false,
        lowercase: false,
        allow_control: false,
    }),
};
static TOKEN: Schema = Schema {
    nullable: false,
    kind: Kind::String(StringRule {
        min_length: Some(1),
        max_length: Some(200),
        pattern: None,
        format: None,
        enum_values: &[],
        trim: false,
        lowercase: false,
        allow_control: false,
    }),
};
static NAME: Schema = Schema {
    nullable: false,
    kind: STRING,
};
static WORD: Schema = Schema {
    nullable: false,
    kind: Kind::String(StringRule {
        min_length: Some(1),
        max_length: Some(100),
        pattern: Some("^[^\\s]+$"),
        format: None,
        enum_values: &[],
        trim: false,
        lowercase: false,
        allow_control: false,
    }),
};
static WORDS: Schema = Schema {
    nullable: false,
    kind: Kind::Array(ArrayRule {
        items: &WORD,
        min_items: None,
        max_items: Some(50),
        unique_items: true,
    }),
};
static CREDENTIALS: Schema = Schema {
    nullable: false,
    kind: Kind::Object(ObjectRule {
        properties: &[
            Property {
                name: "email",
                schema: &EMAIL,
                required: true,
                read_only: false,
                write_only: false,
                default: None,
            },
            Property {
                name: "password",
                schema: &PASSWORD,
                required: true,
                read_only: false,
                write_only: true,
                default: None,
            },
        ],
        additional: Additional::Deny,
    }),
};
static REFRESH: Schema = Schema {
    nullable: false,
    kind: Kind::Object(ObjectRule {
        properties: &[Property {
            name: "refreshToken",
            schema: &TOKEN,
            required: true,
            read_only: false,
            write_only: false,
            default: None,
        }],
        additional: Additional::Deny,
    }),
};
static NEW_KEY: Schema = Schema {
    nullable: false,
    kind: Kind::Object(ObjectRule {
        properties: &[
            Property {
                name: "name",
                schema: &NAME,
                required: true,
                read_only: false,
                write_only: false,
                default: None,
            },
            Property {
                name: "roles",
                schema: &WORDS,
                required: false,
                read_only: false,
                write_only: false,
                default: Some("[]"),
            },
            Property {
                name: "scopes",
                schema: &WORDS,
                required: false,
                read_only: false,
                write_only: false,
                default: Some("[]"),
            },
        ],
        additional: Additional::Deny,
    }),
};

#[derive(Deserialize)]
struct CredentialsBody {
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshBody {
    refresh_token: String,
}

#[derive(Deserialize)]
struct NewKeyBody {
    name: String,
    roles: Vec<String>,
    scopes: Vec<String>,
}

// ---- who may call what ----------------------------------------------------------------

static ACCESS_TOKEN: Scheme = Scheme {
    name: "accessToken",
    kind: SchemeKind::Bearer,
};
static ADMIN_KEY: Scheme = Scheme {
    name: "apiKey",
    kind: SchemeKind::ApiKey {
        location: Location::Header,
        param: "x-api-key",
    },
};
static OPEN: Requirement = Requirement {
    operation: "auth",
    alternatives: &[&[]],
    roles: &[],
    admin_only: false,
    owner: false,
    strip_query: &[],
    bucket: &crate::ratelimit::AUTH,
    idempotency: crate::idempotency::Policy::Off,
    deprecation: None,
};
static SIGNED_IN: Requirement = Requirement {
    operation: "me",
    alternatives: &[
        &[Need {
            scheme: &ACCESS_TOKEN,
            scopes: &[],
        }],
        &[Need {
            scheme: &ADMIN_KEY,
            scopes: &[],
        }],
    ],
    roles: &[],
    admin_only: false,
    owner: false,
    strip_query: &[],
    bucket: &crate::ratelimit::DEFAULT,
    idempotency: crate::idempotency::Policy::Off,
    deprecation: None,
};
static ADMIN: Requirement = Requirement {
    operation: "apiKeys",
    alternatives: &[
        &[Need {
            scheme: &ACCESS_TOKEN,
            scopes: &[],
        }],
        &[Need {
            scheme: &ADMIN_KEY,
            scopes: &[],
        }],
    ],
    roles: &[],
    admin_only: true,
    owner: false,
    strip_query: &[],
    bucket: &crate::ratelimit::DEFAULT,
    idempotency: crate::idempotency::Policy::Off,
    deprecation: None,
};
/// The audit listing: administrators only, as for API keys.
static AUDIT: Requirement = Requirement {
    operation: "auditTrail",
    ..ADMIN
};

/// The account routes under the service's `auth_prefix`, each behind its guard.
pub fn router(state: &AppState) -> Router<AppState> {
    use crate::auth::Guard;
    use axum::routing::{delete, get, patch, post};
    let at = |path: &str| format!("{}{path}", state.service.auth_prefix);
    Router::new()
        .route(
            &at("/register"),
            post(register.layer(Guard::new(state, &OPEN))),
        )
        .route(&at("/login"), post(login.layer(Guard::new(state, &OPEN))))
        .route(
            &at("/refresh"),
            post(refresh.layer(Guard::new(state, &OPEN))),
        )
        .route(&at("/logout"), post(logout.layer(Guard::new(state, &OPEN))))
        .route(&at("/me"), get(me.layer(Guard::new(state, &SIGNED_IN))))
        .route(
            &at("/api-keys"),
            post(create_api_key.layer(Guard::new(state, &ADMIN)))
                .get(list_api_keys.layer(Guard::new(state, &ADMIN))),
        )
        .route(
            &at("/api-keys/{id}"),
            delete(revoke_api_key.layer(Guard::new(state, &ADMIN))),
        )
        .route(
            &at("/audit"),
            get(crate::audit::list_handler.layer(Guard::new(state, &AUDIT))),
        )
        .route(
            &at("/users/{id}"),
            patch(change_user.layer(Guard::new(state, &ADMIN)))
                .delete(remove_user.layer(Guard::new(state, &ADMIN))),
        )
}

// ---- handlers -------------------------------------------------------------------------

async fn register(
    State(state): State<AppState>,
    body: crate::extract::RawBody,
) -> Result<Response, ApiError> {
    if !state.config.registration_enabled {
        return Err(ApiError::Forbidden);
    }
    let body: CredentialsBody = crate::extract::json(body, &CREDENTIALS, Mode::Body)?;
    let user = create_user(
        &state,
        &body.email,
        &body.password,
        &[state.service.roles.default.to_string()],
    )
    .await?;
    Ok(no_store(crate::respond::body(
        state.service.envelope,
        StatusCode::CREATED,
        &user,
    )))
}

async fn login(
    State(state): State<AppState>,
    body: crate::extract::RawBody,
) -> Result<Response, ApiError> {
    let body: CredentialsBody = crate::extract::json(body, &CREDENTIALS, Mode::Body)?;
    let Some(user) = verify_login(&state, &body.email, &body.password).await? else {
        crate::observability::security(
            crate::observability::SecurityEvent::SignInFailed,
            "login",
            "wrong password, or no such enabled account",
        );
        return Err(ApiError::InvalidCredentials);
    };
    let pair = start_session(&state, &user).await?;
    Ok(no_store(crate::respond::body(
        state.service.envelope,
        StatusCode::OK,
        &pair,
    )))
}

async fn refresh(
    State(state): State<AppState>,
    body: crate::extract::RawBody,
) -> Result<Response, ApiError> {
    let body: RefreshBody = crate::extract::json(body, &REFRESH, Mode::Body)?;
    let pair = rotate(&state, &body.refresh_token).await?;
    Ok(no_store(crate::respond::body(
        state.service.envelope,
        StatusCode::OK,
        &pair,
    )))
}

async fn logout(
    State(state): State<AppState>,
    body: crate::extract::RawBody,
) -> Result<Response, ApiError> {
    let body: RefreshBody = crate::extract::json(body, &REFRESH, Mode::Body)?;
    let hash = crate::auth::token_hash(&body.refresh_token);
    let family: Option<Uuid> =
        sqlx::query("SELECT family_id FROM auth_refresh_tokens WHERE token_hash = $1")
            .bind(&hash)
            .fetch_optional(&state.db)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
    // Logging out with an unknown token is not an error: the session is gone either way.
    if let Some(family) = family {
        revoke_family(&state, family).await?;
    }
    Ok(no_store(crate::respond::empty(StatusCode::NO_CONTENT)))
}

async fn me(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let via = match caller.via {
        Via::AccessToken => "accessToken",
        Via::Password => "password",
        Via::ApiKey(_) => "apiKey",
        Via::Anonymous => "anonymous",
    };
    Ok(no_store(crate::respond::body(
        state.service.envelope,
        StatusCode::OK,
        &json!({ "subject": caller.subject, "roles": caller.roles, "scopes": caller.scopes, "via": via }),
    )))
}

async fn create_api_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: crate::extract::RawBody,
) -> Result<Response, ApiError> {
    let body: NewKeyBody = crate::extract::json(body, &NEW_KEY, Mode::Body)?;
    let (key, issued) = issue_api_key(
        &state,
        &body.name,
        &body.roles,
        &body.scopes,
        caller.subject,
    )
    .await?;
    let mut out = serde_json::to_value(&issued)?;
    out["key"] = json!(key);
    Ok(no_store(crate::respond::body(
        state.service.envelope,
        StatusCode::CREATED,
        &out,
    )))
}

async fn list_api_keys(State(state): State<AppState>) -> Result<Response, ApiError> {
    let rows = sqlx::query("SELECT id, name, prefix, roles, scopes, created_at, revoked_at FROM auth_api_keys ORDER BY created_at, id").fetch_all(&state.db).await?;
    let keys = rows
        .iter()
        .map(api_key_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(no_store(crate::respond::body(
        state.service.envelope,
        StatusCode::OK,
        &keys,
    )))
}

async fn revoke_api_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| {
        ApiError::Validation(vec![crate::validation::FieldError {
            field: "id".into(),
            issue: "must be a UUID".into(),
        }])
    })?;
    if revoke_api_key_by_id(&state.db, id).await? {
        Ok(crate::respond::empty(StatusCode::NO_CONTENT))
    } else {
        Err(ApiError::NotFound)
    }
}

// ---- accounts -------------------------------------------------------------------------

/// Creates an account. Errors: 409 when the email is taken.
pub async fn create_user(
    state: &AppState,
    email: &str,
    password: &str,
    roles: &[String],
) -> Result<User, ApiError> {
    let hash = crate::auth::hash_password(state, password.to_string()).await?;
    let now = chrono::Utc::now();
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO auth_users (id, email, password_hash, roles, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)")
        .bind(id)
        .bind(email.trim().to_lowercase())
        .bind(hash)
        .bind(roles.join(" "))
        .bind(now)
        .execute(&state.db)
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => ApiError::Conflict("an account with this email exists".into()),
            other => other,
        })?;
    Ok(User {
        id,
        email: email.trim().to_lowercase(),
        roles: roles.to_vec(),
        created_at: now,
    })
}

/// The account whose email and password these are; `None` for any mismatch, with the
/// same cost whether or not the email exists.
pub async fn verify_login(
    state: &AppState,
    email: &str,
    password: &str,
) -> Result<Option<User>, ApiError> {
    let row = sqlx::query(
        "SELECT id, email, password_hash, roles, created_at FROM auth_users WHERE email = $1",
    )
    .bind(email.trim().to_lowercase())
    .fetch_optional(&state.db)
    .await?;
    let stored: Option<String> = row
        .as_ref()
        .map(|r| r.try_get("password_hash"))
        .transpose()?;
    if !crate::auth::verify_password(state, password.to_string(), stored).await? {
        return Ok(None);
    }
    let Some(r) = row else { return Ok(None) };
    Ok(Some(User {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        roles: words(&r.try_get::<String, _>("roles")?),
        created_at: r.try_get("created_at")?,
    }))
}

/// An access token and the refresh token that renews it (RFC 6749 §5.1 names).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

async fn start_session(state: &AppState, user: &User) -> Result<TokenPair, ApiError> {
    let family = Uuid::now_v7();
    let now = chrono::Utc::now();
    let refresh = store_refresh_token(user.id, family, expiry(state, now, now), &state.db).await?;
    pair(state, user.id, &user.roles, family, refresh)
}

/// When a refresh token of a session begun at `started` and issued at `now` expires: a
/// refresh-token lifetime after it, but never past the session's absolute lifetime.
fn expiry(
    state: &AppState,
    started: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> chrono::DateTime<chrono::Utc> {
    let days30 = chrono::Duration::days(30);
    let sliding =
        now + chrono::Duration::from_std(state.config.refresh_token_ttl).unwrap_or(days30);
    let absolute =
        started + chrono::Duration::from_std(state.config.session_max_age).unwrap_or(days30);
    sliding.min(absolute)
}

fn pair(
    state: &AppState,
    subject: Uuid,
    roles: &[String],
    session: Uuid,
    refresh_token: String,
) -> Result<TokenPair, ApiError> {
    let scopes = state.service.roles.scopes_for(roles);
    let access_token = crate::auth::issue_access_token(
        state,
        subject,
        roles,
        &scopes,
        Some(session),
        state.config.access_token_ttl,
    )?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.config.access_token_ttl.as_secs(),
    })
}

async fn store_refresh_token<'e, E: sqlx::Executor<'e, Database = crate::db::Db>>(
    user: Uuid,
    family: Uuid,
    expires: chrono::DateTime<chrono::Utc>,
    db: E,
) -> Result<String, ApiError> {
    let token = crate::auth::random_token()?;
    let now = chrono::Utc::now();
    sqlx::query("INSERT INTO auth_refresh_tokens (id, user_id, family_id, token_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(Uuid::now_v7())
        .bind(user)
        .bind(family)
        .bind(crate::auth::token_hash(&token))
        .bind(expires)
        .bind(now)
        .execute(db)
        .await?;
    Ok(token)
}

/// Ends a session: its refresh tokens, and the access tokens issued in it.
async fn revoke_family(state: &AppState, family: Uuid) -> Result<(), ApiError> {
    sqlx::query("UPDATE auth_refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL").bind(chrono::Utc::now()).bind(family).execute(&state.db).await?;
    state.revocations.revoke_session(family).await;
    Ok(())
}

/// Spends `token` and issues the next pair of its family. A spent or revoked token
/// revokes the family (reuse detection); an unknown or expired one, or one whose session
/// is older than `SESSION_MAX_AGE_SECS`, is 401.
async fn rotate(state: &AppState, token: &str) -> Result<TokenPair, ApiError> {
    let hash = crate::auth::token_hash(token);
    let row = sqlx::query("SELECT t.id, t.user_id, t.family_id, t.expires_at, t.revoked_at, u.roles FROM auth_refresh_tokens t JOIN auth_users u ON u.id = t.user_id WHERE t.token_hash = $1").bind(&hash).fetch_optional(&state.db).await?;
    let Some(row) = row else {
        return Err(ApiError::InvalidCredentials);
    };
    let id: Uuid = row.try_get("id")?;
    let user: Uuid = row.try_get("user_id")?;
    let family: Uuid = row.try_get("family_id")?;
    let expires: chrono::DateTime<chrono::Utc> = row.try_get("expires_at")?;
    let revoked: Option<chrono::DateTime<chrono::Utc>> = row.try_get("revoked_at")?;
    let roles = words(&row.try_get::<String, _>("roles")?);
    if revoked.is_some() {
        crate::observability::security(
            crate::observability::SecurityEvent::RefreshTokenReused,
            "refreshToken",
            &format!(
                "a spent refresh token of family {family} was presented: the family is revoked"
            ),
        );
        revoke_family(state, family).await?;
        return Err(ApiError::InvalidCredentials);
    }
    let now = chrono::Utc::now();
    if expires < now {
        return Err(ApiError::InvalidCredentials);
    }
    let started: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT MIN(created_at) FROM auth_refresh_tokens WHERE family_id = $1")
            .bind(family)
            .fetch_one(&state.db)
            .await?;
    if expiry(state, started, now) <= now {
        return Err(ApiError::InvalidCredentials);
    }
    let mut tx = state.db.begin().await?;
    // Only one of two concurrent rotations of the same token may win.
    let spent = sqlx::query(
        "UPDATE auth_refresh_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
    )
    .bind(chrono::Utc::now())
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if spent != 1 {
        tx.rollback().await?;
        revoke_family(state, family).await?;
        return Err(ApiError::InvalidCredentials);
    }
    let next = store_refresh_token(user, family, expiry(state, started, now), &mut *tx).await?;
    tx.commit().await?;
    pair(state, user, &roles, family, next)
}

// ---- account administration -------------------------------------------------------------

/// Refuses roles the contract does not declare and scopes it does not declare (the
/// administrator's are all of them): 400 naming each.
fn check_grants(state: &AppState, roles: &[String], scopes: &[String]) -> Result<(), ApiError> {
    let defined = state.service.roles;
    let declared: &[&str] = defined
        .scopes
        .iter()
        .find(|(r, _)| *r == defined.admin)
        .map_or(&[], |(_, s)| s);
    let mut errors = Vec::new();
    for r in roles.iter().filter(|r| !defined.all.contains(&r.as_str())) {
        errors.push(crate::validation::FieldError {
            field: "roles".into(),
            issue: format!("`{r}` is not a role of this service"),
        });
    }
    for s in scopes.iter().filter(|s| !declared.contains(&s.as_str())) {
        errors.push(crate::validation::FieldError {
            field: "scopes".into(),
            issue: format!("`{s}` is not a scope of this service"),
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Gives account `id` these roles; the access tokens it holds end at once (they carry the
/// old roles). False when there is no such account. Errors: a role the contract does not
/// declare (400).
pub async fn set_roles(state: &AppState, id: Uuid, roles: &[String]) -> Result<bool, ApiError> {
    check_grants(state, roles, &[])?;
    let changed = sqlx::query("UPDATE auth_users SET roles = $1, updated_at = $2 WHERE id = $3")
        .bind(roles.join(" "))
        .bind(chrono::Utc::now())
        .bind(id)
        .execute(&state.db)
        .await?
        .rows_affected()
        == 1;
    if changed {
        state.revocations.revoke_subject(id).await;
    }
    Ok(changed)
}

/// The password hash of a disabled account: no password verifies against it.
const DISABLED: &str = "!disabled";

/// Disables account `id`: it can no longer sign in, and its sessions and access tokens end
/// at once. False when there is no such account.
pub async fn disable_user(state: &AppState, id: Uuid) -> Result<bool, ApiError> {
    let changed =
        sqlx::query("UPDATE auth_users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(DISABLED)
            .bind(chrono::Utc::now())
            .bind(id)
            .execute(&state.db)
            .await?
            .rows_affected()
            == 1;
    if changed {
        sqlx::query("UPDATE auth_refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL").bind(chrono::Utc::now()).bind(id).execute(&state.db).await?;
        state.revocations.revoke_subject(id).await;
    }
    Ok(changed)
}

/// Deletes account `id` and its refresh tokens; its access tokens end at once. False when
/// there is no such account.
pub async fn delete_user(state: &AppState, id: Uuid) -> Result<bool, ApiError> {
    let mut tx = state.db.begin().await?;
    sqlx::query("DELETE FROM auth_refresh_tokens WHERE user_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let gone = sqlx::query("DELETE FROM auth_users WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    tx.commit().await?;
    if gone {
        state.revocations.revoke_subject(id).await;
    }
    Ok(gone)
}

static CHANGE_USER: Schema = Schema {
    nullable: false,
    kind: Kind::Object(ObjectRule {
        properties: &[
            Property {
                name: "roles",
                schema: &WORDS,
                required: false,
                read_only: false,
                write_only: false,
                default: None,
            },
            Property {
                name: "disabled",
                schema: &Schema::BOOLEAN,
                required: false,
                read_only: false,
                write_only: false,
                default: None,
            },
        ],
        additional: Additional::Deny,
    }),
};

#[derive(Deserialize)]
struct ChangeUserBody {
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    disabled: Option<bool>,
}

fn user_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::Validation(vec![crate::validation::FieldError {
            field: "id".into(),
            issue: "must be a UUID".into(),
        }])
    })
}

/// `PATCH …/users/{id}`: `{"roles": [...]}` and/or `{"disabled": true}` (administrators).
async fn change_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: crate::extract::RawBody,
) -> Result<Response, ApiError> {
    let id = user_id(&id)?;
    let body: ChangeUserBody = crate::extract::json(body, &CHANGE_USER, Mode::Body)?;
    let mut found = true;
    if let Some(roles) = &body.roles {
        found &= set_roles(&state, id, roles).await?;
    }
    if body.disabled == Some(true) {
        found &= disable_user(&state, id).await?;
    }
    if found {
        Ok(crate::respond::empty(StatusCode::NO_CONTENT))
    } else {
        Err(ApiError::NotFound)
    }
}

/// `DELETE …/users/{id}` (administrators).
async fn remove_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if delete_user(&state, user_id(&id)?).await? {
        Ok(crate::respond::empty(StatusCode::NO_CONTENT))
    } else {
        Err(ApiError::NotFound)
    }
}

// ---- API keys -------------------------------------------------------------------------

fn api_key_row(r: &crate::db::DbRow) -> Result<ApiKey, sqlx::Error> {
    Ok(ApiKey {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        roles: words(&r.try_get::<String, _>("roles")?),
        scopes: words(&r.try_get::<String, _>("scopes")?),
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

/// Issues an API key. Returns the key (shown this once; only its hash is kept) and its record.
pub async fn issue_api_key(
    state: &AppState,
    name: &str,
    roles: &[String],
    scopes: &[String],
    owner: Option<Uuid>,
) -> Result<(String, ApiKey), ApiError> {
    check_grants(state, roles, scopes)?;
    let key = format!(
        "{}_{}",
        state
            .service
            .name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect::<String>(),
        crate::auth::random_token()?
    );
    let prefix: String = key.chars().take(key.find('_').unwrap_or(0) + 7).collect();
    let id = Uuid::now_v7();
    let now = chrono::Utc::now();
    sqlx::query("INSERT INTO auth_api_keys (id, name, prefix, key_hash, roles, scopes, owner_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(id)
        .bind(name)
        .bind(&prefix)
        .bind(crate::auth::token_hash(&key))
        .bind(roles.join(" "))
        .bind(scopes.join(" "))
        .bind(owner)
        .bind(now)
        .execute(&state.db)
        .await?;
    Ok((
        key,
        ApiKey {
            id,
            name: name.to_string(),
            prefix,
            roles: roles.to_vec(),
            scopes: scopes.to_vec(),
            created_at: now,
            revoked_at: None,
        },
    ))
}

/// Revokes a key; false when there is no such live key.
pub async fn revoke_api_key_by_id(db: &Pool, id: Uuid) -> Result<bool, ApiError> {
    Ok(
        sqlx::query(
            "UPDATE auth_api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(chrono::Utc::now())
        .bind(id)
        .execute(db)
        .await?
        .rows_affected()
            == 1,
    )
}

/// The caller a live API key stands for, or `None`: a principal of its own (its subject
/// is the key's id, so the rows it creates are the key's, not its issuer's), with the
/// roles and scopes it was issued.
pub async fn api_key_caller(state: &AppState, key: &str) -> Result<Option<Caller>, ApiError> {
    let row = sqlx::query(
        "SELECT id, roles, scopes, revoked_at IS NOT NULL AS revoked FROM auth_api_keys WHERE key_hash = $1",
    )
    .bind(crate::auth::token_hash(key))
    .fetch_optional(&state.db)
    .await?;
    let Some(r) = row else { return Ok(None) };
    if r.try_get::<bool, _>("revoked")? {
        let id: Uuid = r.try_get("id")?;
        crate::observability::security(
            crate::observability::SecurityEvent::RevokedKeyUsed,
            "-",
            &format!("revoked API key {id} presented"),
        );
        return Ok(None);
    }
    Ok(Some(Caller::new(
        Some(r.try_get("id")?),
        words(&r.try_get::<String, _>("roles")?),
        words(&r.try_get::<String, _>("scopes")?),
        Via::ApiKey(r.try_get("id")?),
        state.service.roles,
    )))
}

#[cfg(test)]
mod tests {
    use crate::fixture::{app, app_with};
    use crate::testing::{Reply, TestApp};
    use axum::http::StatusCode;
    use serde_json::Value;

    const PREFIX: &str = "/auth";
    const JSON: (&str, &str) = ("content-type", "application/json");

    /// The answer's payload (the fixture has no envelope).
    fn data(v: &Value) -> &Value {
        v
    }

    async fn post(app: &TestApp, path: &str, body: &str) -> Reply {
        app.send_raw("POST", &format!("{PREFIX}{path}"), Some(body), &[JSON])
            .await
    }

    /// Registers `email` and logs in; returns (access token, refresh token).
    async fn sign_up(app: &TestApp, email: &str) -> (String, String) {
        let creds =
            serde_json::json!({ "email": email, "password": "a long enough password" }).to_string();
        let r = post(app, "/register", &creds).await;
        assert_eq!(r.status, StatusCode::CREATED, "register: {}", r.body);
        let r = post(app, "/login", &creds).await;
        assert_eq!(r.status, StatusCode::OK, "login: {}", r.body);
        let d = data(&r.body);
        (
            d["accessToken"].as_str().expect("access token").to_string(),
            d["refreshToken"]
                .as_str()
                .expect("refresh token")
                .to_string(),
        )
    }

    fn refresh_body(token: &str) -> String {
        serde_json::json!({ "refreshToken": token }).to_string()
    }

    #[tokio::test]
    async fn register_login_and_me() {
        let app = app().await;
        let r = post(
            &app,
            "/register",
            r#"{"email": "Ada@Example.test", "password": "a long enough password"}"#,
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(
            data(&r.body)["email"],
            "ada@example.test",
            "emails are normalised"
        );
        assert!(
            data(&r.body).get("password").is_none() && data(&r.body).get("passwordHash").is_none()
        );
        assert_eq!(data(&r.body)["roles"][0], "reader");
        let r = post(
            &app,
            "/login",
            r#"{"email": "ada@example.test", "password": "a long enough password"}"#,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.headers.get("cache-control").unwrap(), "no-store");
        assert_eq!(data(&r.body)["tokenType"], "Bearer");
        assert_eq!(data(&r.body)["expiresIn"], 900);
        let access = data(&r.body)["accessToken"].as_str().unwrap().to_string();
        let r = app
            .send_raw(
                "GET",
                &format!("{PREFIX}/me"),
                None,
                &[("authorization", &format!("Bearer {access}"))],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(data(&r.body)["via"], "accessToken");
        let r = post(
            &app,
            "/register",
            r#"{"email": "ada@example.test", "password": "another password"}"#,
        )
        .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    }

    #[tokio::test]
    async fn registration_is_validated() {
        let app = app().await;
        let r = post(
            &app,
            "/register",
            r#"{"email": "not an email", "password": "short"}"#,
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        let fields: Vec<&str> = r.body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["field"].as_str())
            .collect();
        assert!(
            fields.contains(&"email") && fields.contains(&"password"),
            "{}",
            r.body
        );
        let r = post(&app, "/register", r#"{"email": "a@example.test", "password": "a long enough password", "roles": ["admin"]}"#).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "clients cannot choose their roles: {}",
            r.body
        );
    }

    #[tokio::test]
    async fn registration_can_be_closed() {
        let app = app_with(&[("REGISTRATION_ENABLED", "false")]).await;
        let r = post(
            &app,
            "/register",
            r#"{"email": "a@example.test", "password": "a long enough password"}"#,
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }

    #[tokio::test]
    async fn login_failures_say_only_invalid_credentials() {
        let app = app().await;
        sign_up(&app, "grace@example.test").await;
        let wrong_password = post(
            &app,
            "/login",
            r#"{"email": "grace@example.test", "password": "not her password"}"#,
        )
        .await;
        let unknown_email = post(
            &app,
            "/login",
            r#"{"email": "nobody@example.test", "password": "not her password"}"#,
        )
        .await;
        for r in [&wrong_password, &unknown_email] {
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
            assert_eq!(r.body["error"]["message"], "invalid credentials");
            assert!(r.headers.contains_key("www-authenticate"));
        }
        assert_eq!(
            wrong_password.body["error"]["code"],
            unknown_email.body["error"]["code"]
        );
    }

    #[tokio::test]
    async fn refresh_rotates_and_reuse_revokes_the_family() {
        let app = app().await;
        let (_, first) = sign_up(&app, "lin@example.test").await;
        let r = post(&app, "/refresh", &refresh_body(&first)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.headers.get("cache-control").unwrap(), "no-store");
        let second = data(&r.body)["refreshToken"].as_str().unwrap().to_string();
        assert_ne!(first, second, "every refresh issues a new token");
        // The spent token comes back: someone else holds a copy. The whole family dies.
        let r = post(&app, "/refresh", &refresh_body(&first)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        let r = post(&app, "/refresh", &refresh_body(&second)).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "the live token of a reused family is revoked too: {}",
            r.body
        );
        // Another login starts a family of its own.
        let r = post(
            &app,
            "/login",
            r#"{"email": "lin@example.test", "password": "a long enough password"}"#,
        )
        .await;
        let fresh = data(&r.body)["refreshToken"].as_str().unwrap().to_string();
        assert_eq!(
            post(&app, "/refresh", &refresh_body(&fresh)).await.status,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn logout_ends_the_session_s_access_tokens_at_once() {
        let app = app().await;
        let (access, refresh) = sign_up(&app, "jo@example.test").await;
        let (other, _) = {
            let creds = serde_json::json!({ "email": "jo@example.test", "password": "a long enough password" }).to_string();
            let r = post(&app, "/login", &creds).await;
            (
                data(&r.body)["accessToken"].as_str().unwrap().to_string(),
                (),
            )
        };
        let me = |t: String| {
            let app = &app;
            async move {
                app.send_raw(
                    "GET",
                    &format!("{PREFIX}/me"),
                    None,
                    &[("authorization", &format!("Bearer {t}"))],
                )
                .await
                .status
            }
        };
        assert_eq!(me(access.clone()).await, StatusCode::OK);
        assert_eq!(
            post(&app, "/logout", &refresh_body(&refresh)).await.status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            me(access).await,
            StatusCode::UNAUTHORIZED,
            "the access token of the ended session"
        );
        assert_eq!(
            me(other).await,
            StatusCode::OK,
            "another session of the same account lives on"
        );
    }

    #[tokio::test]
    async fn a_session_ends_at_its_absolute_lifetime_however_often_it_is_refreshed() {
        let app = app().await;
        let (_, refresh) = sign_up(&app, "max@example.test").await;
        let r = post(&app, "/refresh", &refresh_body(&refresh)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let next = data(&r.body)["refreshToken"].as_str().unwrap().to_string();
        // The login was 31 days ago: past SESSION_MAX_AGE_SECS (30 days).
        sqlx::query("UPDATE auth_refresh_tokens SET created_at = $1")
            .bind(chrono::Utc::now() - chrono::Duration::days(31))
            .execute(&app.state.db)
            .await
            .unwrap();
        let r = post(&app, "/refresh", &refresh_body(&next)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }

    #[tokio::test]
    async fn logout_revokes_the_refresh_token() {
        let app = app().await;
        let (_, refresh) = sign_up(&app, "kim@example.test").await;
        let r = post(&app, "/logout", &refresh_body(&refresh)).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        let r = post(&app, "/refresh", &refresh_body(&refresh)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        let r = post(&app, "/refresh", &refresh_body("never-issued")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }

    #[tokio::test]
    async fn api_keys_are_issued_by_admins_shown_once_and_revocable() {
        let app = app().await;
        let (user_token, _) = sign_up(&app, "sam@example.test").await;
        let body = r#"{"name": "ci", "roles": ["admin"]}"#;
        let path = format!("{PREFIX}/api-keys");
        let r = app
            .send_raw(
                "POST",
                &path,
                Some(body),
                &[JSON, ("authorization", &format!("Bearer {user_token}"))],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "a non-admin cannot issue keys: {}",
            r.body
        );
        let r = app.send_raw("POST", &path, Some(body), &[JSON]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        let admin = app.admin.token.clone();
        let r = app
            .send_raw(
                "POST",
                &path,
                Some(body),
                &[JSON, ("authorization", &admin)],
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.headers.get("cache-control").unwrap(), "no-store");
        let key = data(&r.body)["key"]
            .as_str()
            .expect("the key, once")
            .to_string();
        let id = data(&r.body)["id"].as_str().unwrap().to_string();
        let r = app
            .send_raw("GET", &path, None, &[("authorization", &admin)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(
            !r.body.to_string().contains(&key),
            "listing never shows a key"
        );
        let r = app
            .send_raw("GET", &format!("{PREFIX}/me"), None, &[("x-api-key", &key)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(data(&r.body)["via"], "apiKey");
        let r = app
            .send_raw(
                "DELETE",
                &format!("{path}/{id}"),
                None,
                &[("authorization", &admin)],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        let r = app
            .send_raw("GET", &format!("{PREFIX}/me"), None, &[("x-api-key", &key)])
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "a revoked key: {}",
            r.body
        );
        let r = app
            .send_raw(
                "DELETE",
                &format!("{path}/{id}"),
                None,
                &[("authorization", &admin)],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    }

    #[tokio::test]
    async fn passwords_are_stored_as_argon2id() {
        let app = app().await;
        sign_up(&app, "pat@example.test").await;
        let stored: String = sqlx::query_scalar(
            "SELECT password_hash FROM auth_users WHERE email = 'pat@example.test'",
        )
        .fetch_one(&app.state.db)
        .await
        .unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("a long enough password"));
    }

    #[tokio::test]
    async fn role_changes_disabling_and_deletion_end_access_tokens_at_once() {
        let app = app().await;
        let admin = app.admin.token.clone();
        let mut users = Vec::new();
        for email in ["a@example.test", "b@example.test", "c@example.test"] {
            let (access, _) = sign_up(&app, email).await;
            let r = app
                .send_raw(
                    "GET",
                    &format!("{PREFIX}/me"),
                    None,
                    &[("authorization", &format!("Bearer {access}"))],
                )
                .await;
            users.push((
                data(&r.body)["subject"].as_str().unwrap().to_string(),
                access,
            ));
        }
        async fn me(app: &TestApp, t: &str) -> Reply {
            app.send_raw(
                "GET",
                "/auth/me",
                None,
                &[("authorization", &format!("Bearer {t}"))],
            )
            .await
        }
        async fn change(app: &TestApp, admin: &str, id: &str, body: &str) -> Reply {
            app.send_raw(
                "PATCH",
                &format!("{PREFIX}/users/{id}"),
                Some(body),
                &[JSON, ("authorization", admin)],
            )
            .await
        }
        let r = change(&app, &admin, &users[0].0, r#"{"roles": ["editor"]}"#).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        assert_eq!(
            me(&app, &users[0].1).await.status,
            StatusCode::UNAUTHORIZED,
            "a token with the old roles"
        );
        assert_eq!(
            change(&app, &admin, &users[1].0, r#"{"disabled": true}"#)
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(me(&app, &users[1].1).await.status, StatusCode::UNAUTHORIZED);
        let login = post(
            &app,
            "/login",
            r#"{"email": "b@example.test", "password": "a long enough password"}"#,
        )
        .await;
        assert_eq!(
            login.status,
            StatusCode::UNAUTHORIZED,
            "a disabled account cannot sign in"
        );
        let r = app
            .send_raw(
                "DELETE",
                &format!("{PREFIX}/users/{}", users[2].0),
                None,
                &[("authorization", &admin)],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        assert_eq!(me(&app, &users[2].1).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            change(&app, &admin, &users[0].0, r#"{"roles": ["emperor"]}"#)
                .await
                .status,
            StatusCode::BAD_REQUEST,
            "only the contract's roles"
        );
        let r = app
            .send_raw(
                "DELETE",
                &format!("{PREFIX}/users/{}", users[2].0),
                None,
                &[("authorization", &admin)],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn an_api_key_is_a_principal_of_its_own_with_the_contract_s_grants_only() {
        let app = app().await;
        let (key, record) = super::issue_api_key(
            &app.state,
            "robot",
            &["reader".into()],
            &[],
            Some(app.admin.subject),
        )
        .await
        .unwrap();
        let r = app
            .send_raw("GET", &format!("{PREFIX}/me"), None, &[("x-api-key", &key)])
            .await;
        assert_eq!(
            data(&r.body)["subject"],
            record.id.to_string(),
            "not the administrator who issued it"
        );
        assert_eq!(data(&r.body)["roles"], serde_json::json!(["reader"]));
        let bad = super::issue_api_key(
            &app.state,
            "x",
            &["emperor".into()],
            &["launch:missiles".into()],
            None,
        )
        .await;
        assert!(matches!(bad, Err(crate::ApiError::Validation(e)) if e.len() == 2));
    }
}
