//! Authentication and authorisation: the one place every operation's security
//! requirement is enforced.
//!
//! Each route is wrapped in [`enforce`] with the operation's [`Requirement`] (a generated
//! project's `security.rs` holds one static per operation). A requirement lists
//! alternatives (OpenAPI 3.0.3 §4.7.30, Security
//! Requirement Object: the list is OR, the schemes inside one alternative are AND); each
//! scheme is checked against its credential:
//!
//! - `http` `bearer`, `oauth2` and `openIdConnect`: an access token issued by this
//!   service (a JWT, RFC 7519, HS256) in `Authorization: Bearer` (RFC 6750); OAuth2
//!   scopes are checked against the token's `scope` claim;
//! - `http` `basic`: an account's email and password (RFC 7617), checked with argon2id;
//! - `apiKey` in a header, query parameter or cookie: an API key issued by this service.
//!
//! Outcomes: no acceptable credential → 401 with `WWW-Authenticate` (RFC 9110 §11.6.1);
//! authenticated but without the role or scope → 403. The rate limit is charged before
//! either, per API key, else user, else client address. The handler receives the
//! [`Caller`] as a request extension.

use crate::edge::{Around, Wrapped};
use crate::error::ApiError;
use crate::ratelimit::{Bucket, Key as RateKey};
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::net::{IpAddr, SocketAddr};
use uuid::Uuid;

/// Where an `apiKey` scheme's credential travels (OpenAPI `in`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Header,
    Query,
    Cookie,
}

/// What kind of credential a security scheme accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemeKind {
    /// `http` `bearer`, `oauth2`, `openIdConnect`: this service's access token.
    Bearer,
    /// `http` `basic`: email and password.
    Basic,
    /// `apiKey`: one of this service's API keys, read from `param` at `location`.
    ApiKey {
        location: Location,
        param: &'static str,
    },
}

/// A security scheme of the contract (`components.securitySchemes`).
#[derive(Debug)]
pub struct Scheme {
    /// The scheme's name in the contract.
    pub name: &'static str,
    pub kind: SchemeKind,
}

/// One scheme of an alternative and the scopes (OAuth2) it must carry.
#[derive(Debug)]
pub struct Need {
    pub scheme: &'static Scheme,
    pub scopes: &'static [&'static str],
}

/// What one operation demands of its caller.
#[derive(Debug)]
pub struct Requirement {
    /// The operation id, for logs.
    pub operation: &'static str,
    /// OR of ANDs. An empty alternative admits anonymous callers; no alternatives at all
    /// means no request can satisfy the contract (every request is 401).
    pub alternatives: &'static [&'static [Need]],
    /// The caller needs one of these roles (`x-apigen-roles`); empty: any caller the
    /// alternatives admit. The admin role passes every role and scope check.
    pub roles: &'static [&'static str],
    /// Only the administrator role passes (the account routes that manage API keys).
    pub admin_only: bool,
    /// Non-admin callers only see and change their own rows (`x-apigen-owner`).
    pub owner: bool,
    /// API-key query parameters the operation does not declare: removed once checked.
    pub strip_query: &'static [&'static str],
    /// The rate-limit bucket charged for each request.
    pub bucket: &'static Bucket,
    /// Whether a POST or PATCH takes `Idempotency-Key` ([`crate::idempotency`]).
    pub idempotency: crate::idempotency::Policy,
    /// The contract marks the operation `deprecated: true`: every answer says so.
    pub deprecation: Option<&'static Deprecation>,
}

/// An operation the contract marks `deprecated: true` (OpenAPI 3.x, Operation Object).
/// Every answer of it, refusals included, carries `Deprecation: @SINCE` (RFC 9745 §2, a
/// structured-field date) and `Link: <DOCS#OPERATION>; rel="deprecation"` (RFC 9745 §3);
/// with a sunset, `Sunset: DATE` (RFC 8594 §3) and a second link, `rel="sunset"`. Each use
/// counts in `deprecated_requests_total{operation}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deprecation {
    /// When the operation was (or will be) deprecated, Unix seconds (`x-apigen-deprecated-at`);
    /// 0 when the contract gives no date: deprecated already, since an unknown date.
    pub since: i64,
    /// When it stops being served (`x-sunset`, `x-apigen-sunset`), as an IMF-fixdate
    /// (RFC 9110 §5.6.7): `Sun, 30 Jun 2027 00:00:00 GMT`.
    pub sunset: Option<&'static str>,
}

impl Deprecation {
    /// Writes the headers of `operation`'s answer; the links point at `docs` (the service's
    /// reference page) with the operation id as the fragment.
    pub fn write_headers(&self, operation: &str, docs: &str, headers: &mut HeaderMap) {
        if let Ok(v) = HeaderValue::from_str(&format!("@{}", self.since)) {
            headers.insert(HeaderName::from_static("deprecation"), v);
        }
        let mut links = format!("<{docs}#{operation}>; rel=\"deprecation\"; type=\"text/html\"");
        if let Some(sunset) = self.sunset {
            if let Ok(v) = HeaderValue::from_str(sunset) {
                headers.insert(HeaderName::from_static("sunset"), v);
            }
            links.push_str(&format!(
                ", <{docs}#{operation}>; rel=\"sunset\"; type=\"text/html\""
            ));
        }
        if let Ok(v) = HeaderValue::from_str(&links) {
            headers.append(header::LINK, v);
        }
        metrics::counter!("deprecated_requests_total", "operation" => operation.to_string())
            .increment(1);
    }
}

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Anonymous,
    AccessToken,
    Password,
    ApiKey(Uuid),
}

/// The authenticated (or anonymous) caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The account the request acts for: the user, or the account that issued an API key.
    pub subject: Option<Uuid>,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    pub via: Via,
    /// Holds the service's administrator role ([`Roles::admin`]).
    pub admin: bool,
}

impl Caller {
    pub fn anonymous() -> Caller {
        Caller {
            subject: None,
            roles: vec![],
            scopes: vec![],
            via: Via::Anonymous,
            admin: false,
        }
    }

    /// A caller holding `roles` (the administrator flag follows from `defined`).
    pub fn new(
        subject: Option<Uuid>,
        roles: Vec<String>,
        scopes: Vec<String>,
        via: Via,
        defined: &Roles,
    ) -> Caller {
        let admin = roles.iter().any(|r| r == defined.admin);
        Caller {
            subject,
            roles,
            scopes,
            via,
            admin,
        }
    }

    /// Holds the administrator role, which passes every role, scope and ownership check.
    pub fn is_admin(&self) -> bool {
        self.admin
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The owner a query must be restricted to: `None` for admins (every row), else the
    /// caller's subject (the nil UUID for callers without one, which owns nothing).
    pub fn owner_filter(&self) -> Option<Uuid> {
        if self.is_admin() {
            None
        } else {
            Some(self.subject.unwrap_or(Uuid::nil()))
        }
    }
}

/// The claims of an access token (RFC 7519 §4.1; `scope` as in RFC 8693 §4.2).
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    /// The service the token is for (its name): a token of another service is refused.
    #[serde(default)]
    pub aud: String,
    /// Seconds since the Unix epoch.
    pub iat: i64,
    /// Not before (seconds since the Unix epoch): the moment of issue.
    #[serde(default)]
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// The session (refresh-token family) the token was issued in, if any: logging out of
    /// it revokes the token ([`crate::revocation`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: String,
}

/// The contract's roles (`x-apigen-auth`, the domain spec's `auth.roles`) and the scopes
/// each role's access tokens carry.
#[derive(Debug)]
pub struct Roles {
    /// Passes every role, scope and ownership check.
    pub admin: &'static str,
    /// Given to self-registered accounts and to `create-user` without `--role`.
    pub default: &'static str,
    /// Every role the contract names.
    pub all: &'static [&'static str],
    /// The scopes each role's tokens carry: (role, scopes).
    pub scopes: &'static [(&'static str, &'static [&'static str])],
}

impl Roles {
    /// The scopes an account holding `roles` carries, each once, in table order.
    pub fn scopes_for(&self, roles: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for role in roles {
            let granted = self
                .scopes
                .iter()
                .find(|(r, _)| r == role)
                .map_or(&[][..], |(_, s)| s);
            for s in granted {
                if !out.iter().any(|o| o == s) {
                    out.push((*s).to_string());
                }
            }
        }
        out
    }
}

/// jsonwebtoken's cryptography for this service: HS256 (HMAC with SHA-256, RFC 7518
/// §3.2) from RustCrypto's `hmac`, the only algorithm its access tokens use. Any other
/// algorithm is refused (`InvalidAlgorithm`), and the RSA and elliptic-curve code of
/// jsonwebtoken's bundled backends is not built.
static JWT_CRYPTO: jsonwebtoken::crypto::CryptoProvider = jsonwebtoken::crypto::CryptoProvider {
    signer_factory: |algorithm, key| Ok(Box::new(Hs256::new(algorithm, key.as_bytes())?)),
    verifier_factory: |algorithm, key| {
        Ok(Box::new(Hs256::new(algorithm, key.try_get_as_bytes()?)?))
    },
    key_utils: jsonwebtoken::crypto::KeyUtils::new_unimplemented(),
};

/// Installs [`JWT_CRYPTO`] for the process, once.
fn jwt_crypto() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = JWT_CRYPTO.install_default();
    });
}

/// An HMAC-SHA-256 key, signing and verifying for jsonwebtoken.
struct Hs256(hmac::Hmac<sha2::Sha256>);

impl Hs256 {
    fn new(
        algorithm: &jsonwebtoken::Algorithm,
        secret: &[u8],
    ) -> jsonwebtoken::errors::Result<Hs256> {
        use hmac::Mac;
        if *algorithm != jsonwebtoken::Algorithm::HS256 {
            return Err(jsonwebtoken::errors::ErrorKind::InvalidAlgorithm.into());
        }
        hmac::Hmac::new_from_slice(secret)
            .map(Hs256)
            .map_err(|_| jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into())
    }
}

impl signature::Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        use hmac::Mac;
        let mut mac = self.0.clone();
        mac.update(message);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl signature::Verifier<Vec<u8>> for Hs256 {
    /// Compares in constant time.
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        use hmac::Mac;
        let mut mac = self.0.clone();
        mac.update(message);
        mac.verify_slice(signature)
            .map_err(|_| signature::Error::new())
    }
}

impl jsonwebtoken::crypto::JwtSigner for Hs256 {
    fn algorithm(&self) -> jsonwebtoken::Algorithm {
        jsonwebtoken::Algorithm::HS256
    }
}

impl jsonwebtoken::crypto::JwtVerifier for Hs256 {
    fn algorithm(&self) -> jsonwebtoken::Algorithm {
        jsonwebtoken::Algorithm::HS256
    }
}

/// Signs an access token for `subject` that expires after `ttl`.
///
/// The token names the service as issuer and audience, is valid from now (`nbf`) for
/// `ttl`, and carries `session` (the refresh-token family it belongs to) when given.
pub fn issue_access_token(
    state: &AppState,
    subject: Uuid,
    roles: &[String],
    scopes: &[String],
    session: Option<Uuid>,
    ttl: std::time::Duration,
) -> Result<String, ApiError> {
    jwt_crypto();
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: subject.to_string(),
        iss: state.service.name.into(),
        aud: state.service.name.into(),
        iat: now,
        nbf: now,
        exp: now + ttl.as_secs() as i64,
        jti: Uuid::new_v4().to_string(),
        sid: session.map(|s| s.to_string()),
        roles: roles.to_vec(),
        scope: scopes.join(" "),
    };
    let key = jsonwebtoken::EncodingKey::from_secret(state.config.jwt_secret.expose().as_bytes());
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &key,
    )
    .map_err(|e| ApiError::Internal(format!("sign token: {e}")))
}

/// `claims` signed with HS256 and `secret`: tokens a test needs that the service would not
/// issue (expired, foreign, wrongly signed). Errors become an empty string.
pub fn sign_for_tests(claims: &Claims, secret: &[u8]) -> String {
    jwt_crypto();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap_or_default()
}

/// A bearer token's subject and claims: verified ([`verify_access_token`]) and not
/// revoked.
async fn verified(state: &AppState, token: &str) -> Option<(Uuid, Claims)> {
    let claims = verify_access_token(state, token)?;
    let subject = Uuid::parse_str(&claims.sub).ok()?;
    (!state.revocations.is_revoked(subject, &claims).await).then_some((subject, claims))
}

/// Seconds of clock skew allowed between the issuer and this instance.
const LEEWAY: i64 = 5;

/// Verifies an access token: HS256 only (so `alg: none` and key confusion fail), this
/// service as issuer and audience, not expired and already valid (`exp`, `nbf`, 5 s of
/// leeway), not issued in the future. `None` for any failure. Revocation is checked apart
/// ([`crate::revocation`]).
pub fn verify_access_token(state: &AppState, token: &str) -> Option<Claims> {
    jwt_crypto();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&[state.service.name]);
    validation.set_audience(&[state.service.name]);
    validation.set_required_spec_claims(&["exp", "nbf", "sub", "iss", "aud"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY as u64;
    let key = jsonwebtoken::DecodingKey::from_secret(state.config.jwt_secret.expose().as_bytes());
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .ok()?
        .claims;
    (claims.iat <= chrono::Utc::now().timestamp() + LEEWAY).then_some(claims)
}

/// Hashes a password with argon2id (19 MiB, 2 passes: the OWASP Password Storage
/// Cheat Sheet's minimum) off the async runtime. Returns the PHC string.
///
/// At most `PASSWORD_HASH_CONCURRENCY` hashes and verifications run at once in the
/// process (argon2id holds 19 MiB each); past that the call fails at once with
/// [`ApiError::Busy`] (503 with `Retry-After`) rather than queue memory.
pub async fn hash_password(state: &AppState, password: String) -> Result<String, ApiError> {
    let _permit = state
        .hashing
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Busy)?;
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::PasswordHasher;
        argon2::Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Internal(format!("hash password: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("hash task: {e}")))?
}

/// Checks `password` against a PHC string; `stored` of `None` still spends the time of
/// one verification, so unknown accounts cannot be told apart by timing. Bounded like
/// [`hash_password`]. Errors: [`ApiError::Busy`] when too many hashes run already.
pub async fn verify_password(
    state: &AppState,
    password: String,
    stored: Option<String>,
) -> Result<bool, ApiError> {
    let _permit = state
        .hashing
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Busy)?;
    static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        use argon2::password_hash::PasswordHasher;
        argon2::Argon2::default()
            .hash_password(b"apigen timing equaliser")
            .map(|h| h.to_string())
            .unwrap_or_default()
    });
    let known = stored.is_some();
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::PasswordVerifier;
        let stored = stored.unwrap_or_else(|| DUMMY.clone());
        let Ok(parsed) = argon2::password_hash::phc::PasswordHash::new(&stored) else {
            return false;
        };
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && known
    })
    .await
    .map_err(|e| ApiError::Internal(format!("hash task: {e}")))
}

/// A new random secret: 32 bytes from the operating system, base64url without padding.
pub fn random_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("random: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of a high-entropy token, hex: how refresh tokens and API keys are stored.
pub fn token_hash(token: &str) -> String {
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One credential as the request presents it.
enum Found<T> {
    Absent,
    Invalid,
    Valid(T),
}

/// Credentials read once per request, shared by every alternative that needs them.
struct Presented {
    bearer: Option<Found<Caller>>,
    basic: Option<Found<Caller>>,
    keys: Vec<(&'static str, Location, Found<Caller>)>,
}

fn authorization<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (name, rest) = value.split_once(' ')?;
    name.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// The value of cookie `name` in the request's `Cookie` headers (RFC 6265 §4.2.1:
/// `name=value` pairs separated by `;`); a value in double quotes is taken without them.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
                .to_string()
        })
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl Presented {
    fn new() -> Presented {
        Presented {
            bearer: None,
            basic: None,
            keys: vec![],
        }
    }

    async fn check(
        &mut self,
        state: &AppState,
        scheme: &Scheme,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Option<Caller> {
        match scheme.kind {
            SchemeKind::Bearer => {
                if self.bearer.is_none() {
                    let found = match authorization(headers, "Bearer") {
                        None => Found::Absent,
                        Some(token) => match verified(state, token).await {
                            Some((subject, c)) => Found::Valid(Caller::new(
                                Some(subject),
                                c.roles,
                                c.scope.split_whitespace().map(String::from).collect(),
                                Via::AccessToken,
                                state.service.roles,
                            )),
                            None => Found::Invalid,
                        },
                    };
                    self.bearer = Some(found);
                }
                match &self.bearer {
                    Some(Found::Valid(c)) => Some(c.clone()),
                    _ => None,
                }
            }
            SchemeKind::Basic => {
                if self.basic.is_none() {
                    let found = match authorization(headers, "Basic") {
                        None => Found::Absent,
                        Some(encoded) => match basic_login(state, encoded).await {
                            Some(c) => Found::Valid(c),
                            None => Found::Invalid,
                        },
                    };
                    self.basic = Some(found);
                }
                match &self.basic {
                    Some(Found::Valid(c)) => Some(c.clone()),
                    _ => None,
                }
            }
            SchemeKind::ApiKey { location, param } => {
                if !self
                    .keys
                    .iter()
                    .any(|(p, l, _)| *p == param && *l == location)
                {
                    let value = match location {
                        // A key in `Authorization` (Azure's contracts put one there): a value
                        // that names the Bearer or Basic scheme is that scheme's credential
                        // (RFC 9110 §11.4), not a key, so a valid token is not a wrong key.
                        Location::Header => headers
                            .get(param)
                            .and_then(|v| v.to_str().ok())
                            .filter(|v| {
                                !param.eq_ignore_ascii_case("authorization")
                                    || !v.split_once(' ').is_some_and(|(scheme, _)| {
                                        scheme.eq_ignore_ascii_case("bearer")
                                            || scheme.eq_ignore_ascii_case("basic")
                                    })
                            })
                            .map(String::from),
                        Location::Query => query_value(query, param),
                        Location::Cookie => cookie(headers, param),
                    };
                    let found = match value {
                        None => Found::Absent,
                        Some(key) => match crate::accounts::api_key_caller(state, &key).await {
                            Ok(Some(c)) => Found::Valid(c),
                            _ => Found::Invalid,
                        },
                    };
                    self.keys.push((param, location, found));
                }
                self.keys
                    .iter()
                    .find(|(p, l, _)| *p == param && *l == location)
                    .and_then(|(_, _, f)| match f {
                        Found::Valid(c) => Some(c.clone()),
                        _ => None,
                    })
            }
        }
    }

    fn any_invalid(&self) -> bool {
        matches!(self.bearer, Some(Found::Invalid))
            || matches!(self.basic, Some(Found::Invalid))
            || self
                .keys
                .iter()
                .any(|(_, _, f)| matches!(f, Found::Invalid))
    }
}

async fn basic_login(state: &AppState, encoded: &str) -> Option<Caller> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (email, password) = text.split_once(':')?;
    let user = crate::accounts::verify_login(state, email, password)
        .await
        .ok()??;
    let scopes = state.service.roles.scopes_for(&user.roles);
    Some(Caller::new(
        Some(user.id),
        user.roles,
        scopes,
        Via::Password,
        state.service.roles,
    ))
}

/// What `evaluate` decided.
enum Decision {
    /// Admitted; the flag says a cookie carried the credential that admitted the caller.
    Admit(Caller, bool),
    /// 401; the flag says a presented bearer token was invalid (RFC 6750 §3.1 `invalid_token`).
    Unauthenticated(bool),
    Forbidden,
}

async fn evaluate(
    state: &AppState,
    requirement: &Requirement,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Decision {
    let mut presented = Presented::new();
    let mut forbidden = false;
    let mut admitted: Option<(Caller, bool)> = None;
    // Alternatives with credentials first: a caller who presents one is treated as who
    // they are, even where anonymous callers are also welcome.
    let ordered = requirement
        .alternatives
        .iter()
        .filter(|a| !a.is_empty())
        .chain(requirement.alternatives.iter().filter(|a| a.is_empty()));
    'alternatives: for alternative in ordered {
        let mut caller: Option<Caller> = None;
        let mut scoped = true;
        for need in alternative.iter() {
            let Some(c) = presented.check(state, need.scheme, headers, query).await else {
                continue 'alternatives;
            };
            if !c.is_admin() && !need.scopes.iter().all(|s| c.has_scope(s)) {
                scoped = false;
            }
            caller.get_or_insert(c);
        }
        let caller = caller.unwrap_or_else(Caller::anonymous);
        let role_ok = caller.is_admin()
            || (!requirement.admin_only
                && (requirement.roles.is_empty()
                    || requirement.roles.iter().any(|r| caller.has_role(r))));
        if scoped && role_ok {
            let by_cookie = alternative.iter().any(|n| {
                matches!(
                    n.scheme.kind,
                    SchemeKind::ApiKey {
                        location: Location::Cookie,
                        ..
                    }
                )
            });
            admitted = Some((caller, by_cookie));
            break;
        }
        if caller.via == Via::Anonymous {
            continue;
        }
        forbidden = true;
    }
    // A credential that was presented but is wrong is refused even where anonymous
    // callers are welcome: the client believes it is authenticated, and it is not.
    if presented.any_invalid() {
        let which = [
            (
                matches!(presented.bearer, Some(Found::Invalid)),
                "a bearer token",
            ),
            (
                matches!(presented.basic, Some(Found::Invalid)),
                "a password",
            ),
            (
                presented
                    .keys
                    .iter()
                    .any(|(_, _, f)| matches!(f, Found::Invalid)),
                "an API key",
            ),
        ];
        let what: Vec<&str> = which
            .iter()
            .filter(|(bad, _)| *bad)
            .map(|(_, w)| *w)
            .collect();
        crate::observability::security(
            crate::observability::SecurityEvent::InvalidCredential,
            requirement.operation,
            &format!("{} that does not authenticate", what.join(" and ")),
        );
        return Decision::Unauthenticated(matches!(presented.bearer, Some(Found::Invalid)));
    }
    match admitted {
        Some((c, by_cookie)) => Decision::Admit(c, by_cookie),
        None if forbidden => Decision::Forbidden,
        None => Decision::Unauthenticated(false),
    }
}

/// Whether a request whose credential is a cookie may go on (CSRF defence, as the OWASP
/// Cross-Site Request Forgery Prevention Cheat Sheet describes): safe methods always; a
/// state-changing one only when the browser says it comes from this site
/// (`Sec-Fetch-Site: same-origin` or `none`) or names an `Origin` among `allowed`
/// (`CORS_ALLOWED_ORIGINS`). A client that sends neither header is no browser, and cannot
/// be made to send the cookie by another site.
pub fn cookie_request_allowed(
    method: &axum::http::Method,
    headers: &HeaderMap,
    allowed: &[String],
) -> bool {
    if method.is_safe() {
        return true;
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let allowed_origin = origin.is_some_and(|o| allowed.iter().any(|a| a.eq_ignore_ascii_case(o)));
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("same-origin" | "none") => true,
        Some(_) => allowed_origin,
        None => origin.is_none() || allowed_origin,
    }
}

/// The client's address as a rate-limit key: the TCP peer, or behind proxies you run the
/// address they forwarded (see [`forwarded_client`]).
pub fn client_address(state: &AppState, req: &Request) -> RateKey {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let config = &state.config;
    if config.trusted_proxies > 0 || !config.trusted_networks.is_empty() {
        let hops = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        if let Some(ip) =
            forwarded_client(hops, peer, config.trusted_proxies, &config.trusted_networks)
        {
            return RateKey::Address(ip);
        }
    }
    peer.map_or(RateKey::UnknownAddress, RateKey::Address)
}

/// The client's address by `X-Forwarded-For` (the `values` of every such header, each a
/// comma-separated list that every proxy appends the address it received from to).
///
/// Only the entries trusted proxies wrote count: the left-most ones are the client's to
/// forge. With `proxies` trusted hops in front of the service, the client is the
/// `proxies`-th entry from the right. With trusted `networks` instead, the peer must be
/// in one of them, and the client is the right-most entry outside all of them. Only IP
/// addresses are taken; `None` (use the peer) when the header has too few entries, or the
/// entry in question is not an IP address, or the peer is not a trusted proxy.
pub fn forwarded_client<'a>(
    values: impl Iterator<Item = &'a str>,
    peer: Option<IpAddr>,
    proxies: usize,
    networks: &[ipnet::IpNet],
) -> Option<IpAddr> {
    let hops: Vec<&str> = values
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    if !networks.is_empty() {
        let trusted = |ip: &IpAddr| networks.iter().any(|n| n.contains(ip));
        if !peer.is_some_and(|p| trusted(&p)) {
            return None;
        }
        for hop in hops.iter().rev() {
            let ip: IpAddr = hop.parse().ok()?;
            if !trusted(&ip) {
                return Some(ip);
            }
        }
        return hops.first().and_then(|h| h.parse().ok());
    }
    if proxies == 0 || hops.len() < proxies {
        return None;
    }
    hops[hops.len() - proxies].parse().ok()
}

/// A route's guard: the application state and the operation's requirement. As a tower
/// [`Layer`](tower::Layer) it puts [`enforce`] in front of a handler
/// (`handler.layer(Guard::new(&state, &REQ))`), through [`Wrapped`].
#[derive(Clone)]
pub struct Guard {
    pub state: AppState,
    pub requirement: &'static Requirement,
    /// `Vary` of the operation's answers: the headers its credentials travel in (RFC 9110
    /// §12.5.5), so no cache serves one caller's answer to another; `None` when it takes
    /// no credential.
    vary: Option<HeaderValue>,
}

impl Guard {
    pub fn new(state: &AppState, requirement: &'static Requirement) -> Guard {
        let mut names: Vec<&str> = Vec::new();
        for need in requirement.alternatives.iter().flat_map(|a| a.iter()) {
            let name = match need.scheme.kind {
                SchemeKind::Bearer | SchemeKind::Basic => "authorization",
                SchemeKind::ApiKey {
                    location: Location::Header,
                    param,
                } => param,
                SchemeKind::ApiKey {
                    location: Location::Cookie,
                    ..
                } => "cookie",
                SchemeKind::ApiKey {
                    location: Location::Query,
                    ..
                } => continue,
            };
            if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(name);
            }
        }
        let vary = (!names.is_empty())
            .then(|| HeaderValue::from_str(&names.join(", ")).ok())
            .flatten();
        Guard {
            state: state.clone(),
            requirement,
            vary,
        }
    }
}

impl<S> tower::Layer<S> for Guard {
    type Service = Wrapped<Guard, S>;

    fn layer(&self, inner: S) -> Self::Service {
        Wrapped::new(self.clone(), inner)
    }
}

impl Around for Guard {
    fn around<S>(
        self,
        req: Request,
        handler: S,
    ) -> impl std::future::Future<Output = Response> + Send
    where
        S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>
            + Send
            + 'static,
        S::Future: Send,
    {
        enforce(self, req, handler)
    }
}

fn challenge(realm: &str, requirement: &Requirement, invalid_token: bool) -> HeaderValue {
    let mut parts: Vec<String> = Vec::new();
    for need in requirement.alternatives.iter().flat_map(|a| a.iter()) {
        let c = match need.scheme.kind {
            SchemeKind::Bearer if invalid_token => {
                format!("Bearer realm=\"{realm}\", error=\"invalid_token\"")
            }
            SchemeKind::Bearer => format!("Bearer realm=\"{realm}\""),
            SchemeKind::Basic => format!("Basic realm=\"{realm}\", charset=\"UTF-8\""),
            SchemeKind::ApiKey { .. } => format!("ApiKey realm=\"{realm}\""),
        };
        if !parts.contains(&c) {
            parts.push(c);
        }
    }
    if parts.is_empty() {
        parts.push(format!("Bearer realm=\"{realm}\""));
    }
    HeaderValue::from_str(&parts.join(", ")).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// The guard middleware: authenticate, charge the rate limit, authorise, then run the
/// handler with the [`Caller`] as an extension. API-key query parameters are removed from
/// the URI before the handler sees it (they are credentials, not operation parameters).
///
/// Generic over the handler, so there is one copy per route: it only joins [`admit`] and
/// [`answered`], which are compiled once.
pub async fn enforce<S>(guard: Guard, req: Request, mut handler: S) -> Response
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    match admit(&guard, req).await {
        Ok((req, verdict, authenticated)) => {
            let subject = req.extensions().get::<Caller>().and_then(|c| c.subject);
            let actor = crate::audit::Actor::of(
                req.extensions()
                    .get::<Caller>()
                    .unwrap_or(&Caller::anonymous()),
                guard.requirement.operation,
            );
            let policy = guard.requirement.idempotency;
            // The changes the handler makes are recorded in the audit trail as this caller's.
            let mut res = crate::audit::scope(actor, async {
                if crate::idempotency::applies(policy, req.method()) {
                    // Keys are the caller's own: another caller's identical key is another key.
                    let scope = match req.extensions().get::<Caller>() {
                        Some(Caller {
                            via: Via::ApiKey(id),
                            ..
                        }) => format!("key:{id}"),
                        Some(Caller {
                            subject: Some(s), ..
                        }) => format!("user:{s}"),
                        _ => "anonymous".to_string(),
                    };
                    crate::idempotency::run(&guard.state, &scope, policy, req, &mut handler).await
                } else {
                    match handler.call(req).await {
                        Ok(res) => res,
                        Err(never) => match never {},
                    }
                }
            })
            .await;
            // An answer for one authenticated caller must not be stored for another
            // (RFC 9111 §5.2.2.5), unless the handler chose its own caching.
            if authenticated && !res.headers().contains_key(header::CACHE_CONTROL) {
                res.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            if let Some(subject) = subject {
                res.extensions_mut()
                    .insert(crate::observability::Subject(subject));
            }
            deprecated(&guard, answered(&guard, &verdict, res))
        }
        Err(refusal) => deprecated(&guard, refusal),
    }
}

/// `res` with the deprecation headers of the guard's operation, if it is deprecated.
fn deprecated(guard: &Guard, mut res: Response) -> Response {
    if let Some(d) = guard.requirement.deprecation {
        d.write_headers(
            guard.requirement.operation,
            &guard.state.config.paths.docs,
            res.headers_mut(),
        );
    }
    res
}

/// The checks before the handler: the request to hand on (with its [`Caller`]) and the
/// rate limiter's verdict, or the answer that refuses it (401, 403 or 429).
async fn admit(
    guard: &Guard,
    mut req: Request,
) -> Result<(Request, crate::ratelimit::Verdict, bool), Response> {
    let state = &guard.state;
    let requirement = guard.requirement;
    // A password costs an argon2 verification: guessing is charged to the client's address
    // in the sign-in bucket before any hashing happens.
    let uses_basic = requirement
        .alternatives
        .iter()
        .flat_map(|a| a.iter())
        .any(|n| n.scheme.kind == SchemeKind::Basic);
    if uses_basic && authorization(req.headers(), "Basic").is_some() {
        let verdict = state
            .limiter
            .check(&crate::ratelimit::AUTH, client_address(state, &req))
            .await;
        if !verdict.allowed {
            return Err(too_many_requests(
                requirement.operation,
                &crate::ratelimit::AUTH,
                &verdict,
            ));
        }
    }
    let decision = evaluate(state, requirement, req.headers(), req.uri().query()).await;
    let key = match &decision {
        Decision::Admit(c, _) => match (&c.via, c.subject) {
            (Via::ApiKey(id), _) => RateKey::ApiKey(*id),
            (Via::AccessToken | Via::Password, Some(s)) => RateKey::User(s),
            _ => client_address(state, &req),
        },
        _ => client_address(state, &req),
    };
    let verdict = state.limiter.check(requirement.bucket, key).await;
    if !verdict.allowed {
        return Err(too_many_requests(
            requirement.operation,
            requirement.bucket,
            &verdict,
        ));
    }
    let refusal = match decision {
        Decision::Admit(_, true)
            if !cookie_request_allowed(
                req.method(),
                req.headers(),
                &state.config.cors_allowed_origins,
            ) =>
        {
            tracing::warn!(
                operation = requirement.operation,
                "cross-site request with a cookie credential refused"
            );
            ApiError::Forbidden.into_response()
        }
        Decision::Admit(caller, _) => {
            tracing::debug!(operation = requirement.operation, subject = ?caller.subject, "authorised");
            let authenticated = caller.via != Via::Anonymous;
            if !requirement.strip_query.is_empty() {
                if let Some(q) = req.uri().query().map(String::from) {
                    strip_key_params(&mut req, &q, requirement.strip_query);
                }
            }
            req.extensions_mut().insert(caller);
            return Ok((req, verdict, authenticated));
        }
        Decision::Unauthenticated(invalid_token) => {
            let mut res = ApiError::Unauthorized.into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                challenge(state.service.name, requirement, invalid_token),
            );
            res
        }
        Decision::Forbidden => {
            crate::observability::security(
                crate::observability::SecurityEvent::Forbidden,
                requirement.operation,
                "the caller lacks the role or scope the operation needs",
            );
            ApiError::Forbidden.into_response()
        }
    };
    Err(answered(guard, &verdict, refusal))
}

/// Every answer past the rate limit carries the limiter's headers and, for the access log
/// line written by the outermost middleware, the operation's name.
fn answered(guard: &Guard, verdict: &crate::ratelimit::Verdict, mut res: Response) -> Response {
    verdict.write_headers(res.headers_mut());
    if let Some(vary) = &guard.vary {
        res.headers_mut().append(header::VARY, vary.clone());
    }
    res.extensions_mut()
        .insert(crate::observability::Operation(guard.requirement.operation));
    res
}

/// 429 with the limiter's headers (`Retry-After` among them), logged as a security event.
fn too_many_requests(
    operation: &str,
    bucket: &Bucket,
    verdict: &crate::ratelimit::Verdict,
) -> Response {
    crate::observability::security(
        crate::observability::SecurityEvent::RateLimited,
        operation,
        &format!("over the `{}` bucket", bucket.name),
    );
    metrics::counter!("rate_limit_rejections_total", "bucket" => bucket.name).increment(1);
    let mut res = ApiError::RateLimited.into_response();
    verdict.write_headers(res.headers_mut());
    res
}

fn strip_key_params(req: &mut Request, query: &str, names: &[&str]) {
    let kept: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| !names.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &kept {
        serializer.append_pair(k, v);
    }
    let q = serializer.finish();
    let path = req.uri().path().to_string();
    let pq = if q.is_empty() {
        path
    } else {
        format!("{path}?{q}")
    };
    if let Ok(pq) = pq.parse::<axum::http::uri::PathAndQuery>() {
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = Some(pq);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}

/// Marks a response as never to be cached (RFC 9111 §5.2.2.5): every response that
/// carries a token or a key.
pub fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{self, app, app_with};
    use crate::testing::{bad_tokens, token, TEST_SECRET};
    use axum::http::StatusCode;

    /// A deprecated operation says so in every answer, a refusal included (RFC 9745,
    /// RFC 8594); others say nothing.
    #[tokio::test]
    async fn a_deprecated_operation_announces_its_deprecation_and_sunset_in_every_answer() {
        let app = app().await;
        // `send` signs the request in as the route needs; `send_raw` sends no credential.
        let signed = app.send("GET", "/old", None).await;
        let refused = app.send_raw("GET", "/old", None, &[]).await;
        assert_eq!(signed.status, StatusCode::OK);
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        for reply in [&signed, &refused] {
            let h = |n: &str| {
                reply
                    .headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            assert_eq!(h("deprecation"), "@1767225600");
            assert_eq!(h("sunset"), "Wed, 30 Jun 2027 00:00:00 GMT");
            let link = h("link");
            assert!(
                link.contains("</docs#oldWhoami>; rel=\"deprecation\""),
                "{link}"
            );
            assert!(link.contains("rel=\"sunset\""), "{link}");
        }
        let current = app.send("GET", "/public", None).await;
        assert!(current.headers.get("deprecation").is_none());
        assert!(current.headers.get("sunset").is_none());
    }

    #[test]
    fn a_cookie_is_found_by_its_whole_name_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; session_key=\"abc\""),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("api_key=k-123;x=1"),
        );
        assert_eq!(cookie(&headers, "api_key").as_deref(), Some("k-123"));
        assert_eq!(cookie(&headers, "session_key").as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "key"), None);
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn the_forwarded_client_is_the_entry_the_trusted_proxies_wrote() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let peer = Some(ip("10.0.0.5"));
        let one = |v: &'static str| forwarded_client(std::iter::once(v), peer, 1, &[]);
        // The client wrote "6.6.6.6"; the one trusted proxy appended the address it saw.
        assert_eq!(one("6.6.6.6, 203.0.113.7"), Some(ip("203.0.113.7")));
        assert_eq!(one("203.0.113.7"), Some(ip("203.0.113.7")));
        assert_eq!(one("203.0.113.7, not-an-ip"), None, "only IP addresses");
        assert_eq!(one(""), None);
        let two = forwarded_client(
            ["1.1.1.1, 203.0.113.7", "10.0.0.9"].into_iter(),
            peer,
            2,
            &[],
        );
        assert_eq!(
            two,
            Some(ip("203.0.113.7")),
            "entries of every header, in order"
        );
        assert_eq!(
            forwarded_client(std::iter::once("203.0.113.7"), peer, 0, &[]),
            None,
            "no trusted proxy: the peer"
        );
        let nets: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let by_net = |v: &'static str, peer: &str| {
            forwarded_client(std::iter::once(v), Some(ip(peer)), 0, &nets)
        };
        assert_eq!(
            by_net("6.6.6.6, 203.0.113.7, 10.1.2.3", "10.0.0.5"),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            by_net("203.0.113.7", "198.51.100.1"),
            None,
            "a peer outside the trusted networks forwards nothing"
        );
        assert_eq!(
            by_net("10.1.1.1", "10.0.0.5"),
            Some(ip("10.1.1.1")),
            "all trusted: the left-most"
        );
    }

    #[test]
    fn roles_carry_only_the_scopes_the_table_grants_each_once() {
        let scopes = fixture::ROLES.scopes_for(&["editor".into(), "admin".into(), "reader".into()]);
        assert_eq!(scopes, ["items:write", "items:delete"]);
        assert!(fixture::ROLES.scopes_for(&["reader".into()]).is_empty());
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn no_credential_is_401_with_a_challenge_naming_the_schemes() {
        let app = app().await;
        let r = app.send_raw("GET", "/editors", None, &[]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_eq!(
            r.headers[header::WWW_AUTHENTICATE],
            "Bearer realm=\"fixture\""
        );
        assert_eq!(r.body["error"]["code"], "UNAUTHENTICATED");
        let r = app.send_raw("GET", "/password", None, &[]).await;
        assert_eq!(
            r.headers[header::WWW_AUTHENTICATE],
            "Basic realm=\"fixture\", charset=\"UTF-8\""
        );
    }

    #[tokio::test]
    async fn tokens_that_are_forged_expired_or_of_another_issuer_are_401_invalid_token() {
        let app = app().await;
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: Uuid::now_v7().to_string(),
            iss: "fixture".into(),
            aud: "fixture".into(),
            iat: now,
            nbf: now,
            exp: now + 600,
            jti: "j".into(),
            sid: None,
            roles: strings(&["admin"]),
            scope: String::new(),
        };
        let good = sign_for_tests(&claims, TEST_SECRET.as_bytes());
        let r = app
            .send_raw(
                "GET",
                "/editors",
                None,
                &[("authorization", &format!("Bearer {good}"))],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "a well-signed token passes: {}",
            r.body
        );
        for (what, value) in bad_tokens(&app.state, Uuid::now_v7()) {
            let r = app
                .send_raw("GET", "/editors", None, &[("authorization", &value)])
                .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.body);
            if what != "empty" {
                assert!(
                    r.headers[header::WWW_AUTHENTICATE]
                        .to_str()
                        .unwrap()
                        .contains("error=\"invalid_token\""),
                    "{what}"
                );
            }
        }
    }

    #[tokio::test]
    async fn roles_decide_and_the_administrator_passes_every_role_check() {
        let app = app().await;
        let subject = Uuid::now_v7();
        for (roles, expected) in [
            (&["reader"][..], StatusCode::FORBIDDEN),
            (&["editor"], StatusCode::OK),
            (&["admin"], StatusCode::OK),
            (&[], StatusCode::FORBIDDEN),
        ] {
            let t = token(&app.state, subject, &strings(roles), &[]);
            let r = app
                .send_raw("GET", "/editors", None, &[("authorization", &t)])
                .await;
            assert_eq!(r.status, expected, "roles {roles:?}: {}", r.body);
        }
    }

    /// Security events are WARN lines with a machine-readable `event` and never a secret;
    /// the access log names the service and the caller's subject.
    #[tokio::test]
    async fn security_events_are_warnings_with_an_event_and_no_secret() {
        use crate::observability::capture;
        let app = app().await;
        let subject = Uuid::now_v7();
        let reader = token(&app.state, subject, &strings(&["reader"]), &[]);
        let (key, record) =
            crate::accounts::issue_api_key(&app.state, "robot", &strings(&["reader"]), &[], None)
                .await
                .unwrap();
        crate::accounts::revoke_api_key_by_id(&app.state.db, record.id)
            .await
            .unwrap();
        crate::accounts::create_user(
            &app.state,
            "ann@example.com",
            "the right password",
            &strings(&["reader"]),
        )
        .await
        .unwrap();
        let forged = format!("{reader}x");
        let ((), lines) = capture(async {
            app.send_raw("GET", "/editors", None, &[("authorization", &forged)])
                .await;
            app.send_raw("GET", "/editors", None, &[("authorization", &reader)])
                .await;
            app.send_raw("GET", "/keyed", None, &[("x-api-key", &key)])
                .await;
            for _ in 0..4 {
                app.send_raw("GET", "/limited", None, &[]).await;
            }
            app.send_raw(
                "POST",
                "/auth/login",
                Some(r#"{"email": "ann@example.com", "password": "a wrong password"}"#),
                &[("content-type", "application/json")],
            )
            .await;
        })
        .await;
        let events: Vec<&str> = lines
            .iter()
            .filter(|l| l["level"] == "WARN")
            .filter_map(|l| l["event"].as_str())
            .collect();
        for e in [
            "invalid_credential",
            "forbidden",
            "revoked_key_used",
            "rate_limited",
            "sign_in_failed",
        ] {
            assert!(events.contains(&e), "{e} missing from {events:?}");
        }
        let text = serde_json::to_string(&lines).unwrap();
        for secret in [
            forged.as_str(),
            key.as_str(),
            "a wrong password",
            "the right password",
        ] {
            assert!(!text.contains(secret), "a secret reached the log: {secret}");
        }
        let (_, lines) =
            capture(app.send_raw("GET", "/optional", None, &[("authorization", &reader)])).await;
        let access = lines
            .iter()
            .find(|l| l["message"] == "request finished")
            .expect("access line");
        assert_eq!(access["user_id"], subject.to_string());
        assert_eq!(access["service"], "fixture");
    }

    /// Two access tokens of one reader: without scopes, and with `items:write`.
    fn reader_tokens(app: &crate::testing::TestApp) -> (String, String) {
        let subject = Uuid::now_v7();
        let reader = strings(&["reader"]);
        (
            token(&app.state, subject, &reader, &[]),
            token(&app.state, subject, &reader, &strings(&["items:write"])),
        )
    }

    /// With an API key declared in `Authorization`, a bearer token there is a token: one
    /// without the scope is 403, not a wrong key's 401.
    #[tokio::test]
    async fn a_token_beside_a_key_in_authorization_is_read_as_a_token() {
        let app = app().await;
        let (without, with) = reader_tokens(&app);
        let (key, _) =
            crate::accounts::issue_api_key(&app.state, "robot", &strings(&["reader"]), &[], None)
                .await
                .unwrap();
        for (credential, expected) in [
            (without.as_str(), StatusCode::FORBIDDEN),
            (with.as_str(), StatusCode::OK),
            (key.as_str(), StatusCode::OK),
            ("not-a-key", StatusCode::UNAUTHORIZED),
            ("Bearer not-a-token", StatusCode::UNAUTHORIZED),
        ] {
            let r = app
                .send_raw(
                    "GET",
                    "/token-or-key",
                    None,
                    &[("authorization", credential)],
                )
                .await;
            assert_eq!(r.status, expected, "{credential}: {}", r.body);
        }
    }

    #[tokio::test]
    async fn scopes_are_checked_against_the_token() {
        let app = app().await;
        let (without, with) = reader_tokens(&app);
        assert_eq!(
            app.send_raw("POST", "/scoped", None, &[("authorization", &without)])
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.send_raw("POST", "/scoped", None, &[("authorization", &with)])
                .await
                .status,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn an_operation_no_credential_can_meet_refuses_even_the_administrator() {
        let app = app().await;
        let r = app
            .send_raw(
                "GET",
                "/nobody",
                None,
                &[("authorization", &app.admin.token)],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn api_keys_authenticate_until_revoked_and_leave_the_query_before_the_handler() {
        let app = app().await;
        let (key, record) =
            crate::accounts::issue_api_key(&app.state, "robot", &strings(&["reader"]), &[], None)
                .await
                .unwrap();
        let r = app
            .send_raw("GET", "/keyed", None, &[("x-api-key", &key)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["roles"][0], "reader");
        let r = app
            .send_raw("GET", &format!("/keyed?api_key={key}&page=2"), None, &[])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            r.body["query"], "page=2",
            "the key is a credential, not a parameter"
        );
        assert!(
            crate::accounts::revoke_api_key_by_id(&app.state.db, record.id)
                .await
                .unwrap()
        );
        assert_eq!(
            app.send_raw("GET", "/keyed", None, &[("x-api-key", &key)])
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.send_raw("GET", "/keyed", None, &[("x-api-key", "fixture_not-a-key")])
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn passwords_authenticate_and_a_wrong_one_is_401() {
        let app = app().await;
        let r = app.send("GET", "/password", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["admin"], true);
        let wrong = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("admin@example.test:wrong password")
        );
        assert_eq!(
            app.send_raw("GET", "/password", None, &[("authorization", &wrong)])
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn a_wrong_credential_is_refused_even_where_anonymous_callers_are_welcome() {
        let app = app().await;
        assert_eq!(
            app.send_raw("GET", "/optional", None, &[]).await.status,
            StatusCode::OK
        );
        let r = app
            .send_raw(
                "GET",
                "/optional",
                None,
                &[("authorization", "Bearer nonsense")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = app
            .send_raw(
                "GET",
                "/optional",
                None,
                &[("authorization", &app.admin.token)],
            )
            .await;
        assert_eq!(
            r.body["admin"], true,
            "a caller who presents a credential is treated as who they are"
        );
    }

    #[tokio::test]
    async fn password_hashing_past_its_limit_answers_503_at_once() {
        let app = app_with(&[("PASSWORD_HASH_CONCURRENCY", "1")]).await;
        let held = app.state.hashing.clone().try_acquire_owned().unwrap();
        assert!(matches!(
            hash_password(&app.state, "a password".into()).await,
            Err(ApiError::Busy)
        ));
        let creds =
            r#"{"email": "admin@example.test", "password": "correct horse battery staple"}"#;
        let r = app
            .send_raw(
                "POST",
                "/auth/login",
                Some(creds),
                &[("content-type", "application/json")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
        assert_eq!(r.headers[header::RETRY_AFTER], "1");
        assert_eq!(r.body["error"]["code"], "BUSY");
        drop(held);
        let r = app
            .send_raw(
                "POST",
                "/auth/login",
                Some(creds),
                &[("content-type", "application/json")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }

    #[tokio::test]
    async fn past_the_limit_is_429_with_retry_after_and_ratelimit_headers() {
        let app = app().await;
        for _ in 0..2 {
            let r = app.send_raw("GET", "/limited", None, &[]).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.headers["ratelimit-limit"], "2");
        }
        let r = app.send_raw("GET", "/limited", None, &[]).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
        assert_eq!(r.headers["ratelimit-remaining"], "0");
        assert!(
            r.headers[header::RETRY_AFTER]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                >= 1
        );
        assert_eq!(r.body["error"]["code"], "RATE_LIMITED");
    }

    #[tokio::test]
    async fn password_guessing_is_charged_to_the_sign_in_bucket_first() {
        let app = app_with(&[
            ("AUTH_RATE_LIMIT_PER_MINUTE", "1"),
            ("AUTH_RATE_LIMIT_BURST", "2"),
        ])
        .await;
        let wrong = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("admin@example.test:guess")
        );
        let statuses: Vec<StatusCode> = {
            let mut out = vec![];
            for _ in 0..3 {
                out.push(
                    app.send_raw("GET", "/password", None, &[("authorization", &wrong)])
                        .await
                        .status,
                );
            }
            out
        };
        assert_eq!(
            statuses,
            [
                StatusCode::UNAUTHORIZED,
                StatusCode::UNAUTHORIZED,
                StatusCode::TOO_MANY_REQUESTS
            ]
        );
    }

    #[tokio::test]
    async fn answers_to_authenticated_callers_are_not_stored_and_vary_on_the_credential() {
        let app = app().await;
        let r = app
            .send_raw(
                "GET",
                "/editors",
                None,
                &[("authorization", &app.admin.token)],
            )
            .await;
        assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(r.headers[header::VARY], "authorization");
        let r = app
            .send_raw("GET", "/keyed", None, &[("x-api-key", &app.admin.api_key)])
            .await;
        assert_eq!(r.headers[header::VARY], "x-api-key");
        let r = app.send_raw("GET", "/public", None, &[]).await;
        assert!(
            r.headers.get(header::CACHE_CONTROL).is_none(),
            "an anonymous answer may be cached"
        );
        let r = app.send_raw("GET", "/optional", None, &[]).await;
        assert_eq!(
            r.headers[header::VARY],
            "authorization",
            "it would differ for a caller with a token"
        );
    }

    #[tokio::test]
    async fn a_state_changing_request_authenticated_by_a_cookie_must_come_from_this_site() {
        let app = app_with(&[("CORS_ALLOWED_ORIGINS", "https://app.example")]).await;
        let (key, _) =
            crate::accounts::issue_api_key(&app.state, "browser", &strings(&["reader"]), &[], None)
                .await
                .unwrap();
        let cookie = format!("session_key={key}");
        let post = |extra: &'static [(&'static str, &'static str)]| {
            let mut h = vec![("cookie", cookie.as_str())];
            h.extend_from_slice(extra);
            h
        };
        for (headers, want) in [
            (
                post(&[("sec-fetch-site", "cross-site")]),
                StatusCode::FORBIDDEN,
            ),
            (
                post(&[("origin", "https://evil.example")]),
                StatusCode::FORBIDDEN,
            ),
            (
                post(&[
                    ("sec-fetch-site", "same-site"),
                    ("origin", "https://other.example"),
                ]),
                StatusCode::FORBIDDEN,
            ),
            (post(&[("sec-fetch-site", "same-origin")]), StatusCode::OK),
            (
                post(&[
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "https://app.example"),
                ]),
                StatusCode::OK,
            ),
            (post(&[]), StatusCode::OK),
        ] {
            let r = app.send_raw("POST", "/cookie", None, &headers).await;
            assert_eq!(r.status, want, "{headers:?}: {}", r.body);
        }
        let r = app
            .send_raw(
                "GET",
                "/cookie",
                None,
                &post(&[("sec-fetch-site", "cross-site")]),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "a safe method needs no check");
    }

    #[tokio::test]
    async fn cors_allows_only_the_headers_the_service_reads() {
        let app = app_with(&[("CORS_ALLOWED_ORIGINS", "https://app.example")]).await;
        let preflight = |h: &'static str| {
            [
                ("origin", "https://app.example"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", h),
            ]
        };
        let r = app
            .send_raw(
                "OPTIONS",
                "/echo",
                None,
                &preflight("content-type,x-api-key"),
            )
            .await;
        let allowed = r.headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .unwrap()
            .to_string();
        for h in [
            "authorization",
            "content-type",
            "x-api-key",
            "idempotency-key",
        ] {
            assert!(allowed.contains(h), "{h} in {allowed}");
        }
        assert!(!allowed.contains('*'), "{allowed}");
        assert!(!allowed.contains("x-evil"));
    }

    #[tokio::test]
    async fn every_answer_carries_the_security_headers_and_a_request_id() {
        let app = app().await;
        let r = app
            .send_raw("GET", "/public", None, &[("x-request-id", "abc-123")])
            .await;
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
        assert_eq!(r.headers["x-frame-options"], "DENY");
        assert_eq!(r.headers["x-request-id"], "abc-123");
        assert_eq!(
            r.headers[header::CONTENT_SECURITY_POLICY],
            "default-src 'none'; frame-ancestors 'none'"
        );
        let docs = app.send_raw("GET", "/docs", None, &[]).await;
        assert!(docs.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("style-src 'unsafe-inline'"));
        let r = app.send_raw("GET", "/no/such/route", None, &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(Uuid::parse_str(r.headers["x-request-id"].to_str().unwrap()).is_ok());
        assert_eq!(
            r.body["error"]["requestId"],
            r.headers["x-request-id"].to_str().unwrap()
        );
    }
}
