//! The contract's security: security schemes, requirements, roles and rate limits.
//!
//! Owns the reading of `components.securitySchemes`, the top-level and per-operation
//! `security` (OpenAPI 3.0.3 §4.7.27, §4.7.30: a requirement list is OR, the schemes
//! in one requirement object are AND, `[]` is public, an operation's list replaces the
//! top-level one) and apigen's extensions:
//!
//! - `x-apigen-auth` (top level): `{roles: [admin, …], default_role: …, scopes: {role:
//!   [scope, …]}, registration: open | closed}`; the first role is the administrator, the
//!   only one holding every scope; another role holds the scopes `scopes` grants it, none
//!   otherwise. Registration is closed unless `open`. Without it the roles are `admin` and
//!   `user`.
//! - `x-apigen-roles` (operation): the caller needs one of these roles.
//! - `x-apigen-owner` (operation): non-admin callers reach only rows they own.
//! - `x-apigen-rate-limit` (operation): `{per_minute: n, burst: m}`, a bucket of its own.
//!
//! Schemes are read from the raw document (so a 3.1 `mutualTLS` scheme does not make the
//! document unreadable). A scheme the generated service cannot check (`http` digest,
//! `mutualTLS`) makes the requirement objects that need it unsatisfiable, with a warning.

use super::names::{snake_ident, Namespace};
use crate::diag::{ptr, Diagnostic, Severity};
use crate::model::{
    Need, Probe, Probed, RateBucket, Requirement, RoleScopes, RouteCreds, Security, SecurityScheme,
};
use heck::ToShoutySnakeCase;
use indexmap::IndexMap;
use serde_json::Value;

/// A scheme as the generated service checks it.
#[derive(Debug, Clone)]
enum Kind {
    Bearer,
    Basic,
    ApiKey {
        location: &'static str,
        param: String,
    },
    Unsupported(String),
}

/// Reads the contract's security once, then answers per operation.
pub struct SecurityResolver {
    file: String,
    schemes: IndexMap<String, (Kind, String)>,
    /// Top-level `security`; `None` when absent (operations without their own are public).
    default: Option<Value>,
    roles: Vec<String>,
    admin_role: String,
    default_role: String,
    declared_scopes: Vec<String>,
    role_scopes: Option<IndexMap<String, Vec<String>>>,
    /// `x-apigen-auth.registration: open`: anyone may create an account.
    registration_open: bool,
    buckets: Vec<RateBucket>,
    requirements: Vec<Requirement>,
    route_creds: Vec<RouteCreds>,
    probes: Vec<Probe>,
    idents: Namespace,
    /// Requirements with an alternative met by a bearer token alone.
    bearer_alone: std::collections::HashSet<String>,
    pub diags: Vec<Diagnostic>,
}

/// What the test generator needs to know of one requirement.
pub struct ReqInfo {
    pub roles: Vec<String>,
    /// No credential can meet it.
    pub refuses_all: bool,
    /// Anonymous callers are admitted.
    pub anonymous: bool,
    /// A bearer token alone (no scopes needed) meets an alternative.
    pub bearer: bool,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl SecurityResolver {
    /// Reads `components.securitySchemes`, top-level `security` and `x-apigen-auth` of `doc`.
    pub fn new(file: &str, doc: &Value) -> SecurityResolver {
        let mut r = SecurityResolver {
            file: file.to_string(),
            schemes: IndexMap::new(),
            default: doc.get("security").cloned(),
            roles: vec![],
            admin_role: String::new(),
            default_role: String::new(),
            declared_scopes: vec![],
            role_scopes: None,
            registration_open: false,
            buckets: vec![],
            requirements: vec![],
            route_creds: vec![],
            probes: vec![],
            idents: Namespace::new(),
            bearer_alone: Default::default(),
            diags: vec![],
        };
        if let Some(map) = doc
            .pointer("/components/securitySchemes")
            .and_then(Value::as_object)
        {
            for (name, s) in map {
                let pointer = ptr("/components/securitySchemes", name);
                let s = match s.get("$ref").and_then(Value::as_str) {
                    Some(rf) => match rf.strip_prefix('#').and_then(|p| doc.pointer(p)) {
                        Some(t) => t,
                        None => {
                            r.warn(&pointer, format!("security scheme `{name}` refers to `{rf}`, which is not in this document"), "point `$ref` at an entry of `components.securitySchemes`");
                            continue;
                        }
                    },
                    None => s,
                };
                let kind = match s.get("type").and_then(Value::as_str).unwrap_or("") {
                    "http" => match s
                        .get("scheme")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_ascii_lowercase()
                        .as_str()
                    {
                        "bearer" => Kind::Bearer,
                        "basic" => Kind::Basic,
                        other => Kind::Unsupported(format!("HTTP authentication scheme `{other}`")),
                    },
                    "oauth2" => {
                        if let Some(flows) = s.get("flows").and_then(Value::as_object) {
                            for flow in flows.values() {
                                if let Some(sc) = flow.get("scopes").and_then(Value::as_object) {
                                    for k in sc.keys() {
                                        if !r.declared_scopes.contains(k) {
                                            r.declared_scopes.push(k.clone());
                                        }
                                    }
                                }
                            }
                        }
                        Kind::Bearer
                    }
                    "openIdConnect" => Kind::Bearer,
                    "apiKey" => {
                        let param = s
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        let location = match s.get("in").and_then(Value::as_str) {
                            Some("header") => Some("Header"),
                            Some("query") => Some("Query"),
                            Some("cookie") => Some("Cookie"),
                            _ => None,
                        };
                        match location {
                            Some(location) if !param.is_empty() => Kind::ApiKey { location, param },
                            _ => Kind::Unsupported(
                                "an `apiKey` scheme without `name` and `in`".into(),
                            ),
                        }
                    }
                    other => Kind::Unsupported(format!("security scheme type `{other}`")),
                };
                if let Kind::Unsupported(what) = &kind {
                    r.warn(&pointer, format!("{what} cannot be checked by the generated service; operations that need scheme `{name}` refuse every request"), "use http bearer/basic, apiKey, oauth2 or openIdConnect");
                }
                let ident = r
                    .idents
                    .claim(&format!("scheme_{}", snake_ident(name, "scheme")))
                    .to_shouty_snake_case();
                r.schemes.insert(name.clone(), (kind, ident));
            }
        }
        let auth = doc.get("x-apigen-auth");
        r.roles = strings(auth.and_then(|a| a.get("roles")));
        if r.roles.is_empty() {
            r.roles = vec!["admin".into(), "user".into()];
        }
        r.admin_role = r.roles[0].clone();
        r.default_role = auth
            .and_then(|a| a.get("default_role").or_else(|| a.get("defaultRole")))
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| r.roles[r.roles.len() - 1].clone());
        // Self-registration must never hand out the administrator's role.
        if r.default_role == r.admin_role {
            if !r.roles.iter().any(|x| x == "user") {
                r.roles.push("user".into());
            }
            r.default_role = "user".into();
        }
        if !r.roles.contains(&r.default_role) {
            let d = r.default_role.clone();
            r.error(
                "/x-apigen-auth/default_role",
                format!("default role `{d}` is not among `roles`"),
                "name one of the declared roles",
            );
        }
        r.registration_open = match auth.and_then(|a| a.get("registration")) {
            None => false,
            Some(Value::String(v)) if v == "open" => true,
            Some(Value::String(v)) if v == "closed" => false,
            Some(_) => {
                r.error("/x-apigen-auth/registration", "`registration` is `open` or `closed`".into(), "`open`: anyone may sign up; `closed` (the default): an administrator creates accounts with `create-user`");
                false
            }
        };
        r.role_scopes = auth
            .and_then(|a| a.get("scopes"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), strings(Some(v))))
                    .collect()
            });
        r
    }

    fn warn(&mut self, pointer: &str, msg: String, hint: &str) {
        self.diags
            .push(Diagnostic::new(Severity::Warning, &self.file, pointer, msg).hint(hint));
    }

    fn error(&mut self, pointer: &str, msg: String, hint: &str) {
        self.diags
            .push(Diagnostic::new(Severity::Error, &self.file, pointer, msg).hint(hint));
    }

    /// The deprecation of operation `op` (at `pointer`): `deprecated: true`, with the dates
    /// of `x-apigen-deprecated-at` and of `x-sunset` (or `x-apigen-sunset`), each a date
    /// (`2027-06-30`, midnight UTC) or an RFC 3339 date-time. A date that does not parse,
    /// or a sunset before the deprecation (RFC 9745 §2 forbids it), is an error; a date
    /// without `deprecated: true`, a warning.
    fn deprecation(&mut self, op: &Value, pointer: &str) -> Option<crate::model::Deprecation> {
        let deprecated = op.get("deprecated").and_then(Value::as_bool) == Some(true);
        let mut date = |name: &str| -> Option<chrono::DateTime<chrono::Utc>> {
            let v = op.get(name)?;
            let at = format!("{pointer}/{name}");
            let parsed = v.as_str().and_then(|t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|d| d.with_timezone(&chrono::Utc))
                    .ok()
                    .or_else(|| {
                        chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                            .ok()
                            .and_then(|d| d.and_hms_opt(0, 0, 0))
                            .map(|d| d.and_utc())
                    })
            });
            if parsed.is_none() {
                self.error(
                    &at,
                    format!("`{name}` is {v}, not a date"),
                    "write a date (2027-06-30) or an RFC 3339 date-time (2027-06-30T12:00:00Z)",
                );
            } else if !deprecated {
                self.warn(
                    &at,
                    format!("`{name}` is set but the operation is not `deprecated: true`, so it is ignored"),
                    "add `deprecated: true` to the operation, or remove the date",
                );
            }
            parsed
        };
        let since = date("x-apigen-deprecated-at");
        let sunset = date("x-sunset").or_else(|| date("x-apigen-sunset"));
        if !deprecated {
            return None;
        }
        if let (Some(s), Some(e)) = (since, sunset) {
            if e < s {
                self.error(
                    pointer,
                    format!("the sunset ({e}) is before the deprecation ({s})"),
                    "an operation is deprecated before it is withdrawn (RFC 9745 §2): move one of the dates",
                );
            }
        }
        Some(crate::model::Deprecation {
            since: since.map(|d| d.timestamp()).unwrap_or(0),
            sunset: sunset
                .map(|d| d.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
                .unwrap_or_default(),
        })
    }

    /// The requirement of one operation. `op` is the raw Operation Object (for
    /// `security` and the extensions), `pointer` its location, `func` its unique function
    /// name, `owned` whether its entity has an owner column. Returns the requirement's
    /// ident, whether ownership is enforced, and a one-line summary of who may call it.
    #[allow(clippy::too_many_arguments)]
    pub fn operation(
        &mut self,
        op: &Value,
        pointer: &str,
        operation_id: &str,
        func: &str,
        method: &str,
        route: &str,
        url: Option<String>,
        owned: bool,
        declared_query: &[String],
    ) -> (String, bool, String) {
        let deprecation = self.deprecation(op, pointer);
        let list = op.get("security").or(self.default.as_ref()).cloned();
        let mut alternatives: Vec<Vec<Need>> = Vec::new();
        let mut kinds: Vec<Vec<Kind>> = Vec::new();
        match list {
            None => {
                alternatives.push(vec![]);
                kinds.push(vec![]);
            }
            Some(Value::Array(items)) if items.is_empty() => {
                alternatives.push(vec![]);
                kinds.push(vec![]);
            }
            Some(Value::Array(items)) => {
                'alt: for (i, item) in items.iter().enumerate() {
                    let Some(obj) = item.as_object() else {
                        continue;
                    };
                    let mut needs = Vec::new();
                    let mut ks = Vec::new();
                    for (name, scopes) in obj {
                        let Some((kind, ident)) = self.schemes.get(name).cloned() else {
                            self.warn(&ptr(&ptr(&ptr(pointer, "security"), &i.to_string()), name), format!("security scheme `{name}` is not declared in `components.securitySchemes`; this alternative can never be met"), "declare the scheme, or fix its name");
                            continue 'alt;
                        };
                        if matches!(kind, Kind::Unsupported(_)) {
                            continue 'alt;
                        }
                        let scopes = strings(Some(scopes));
                        for s in &scopes {
                            if !self.declared_scopes.contains(s) {
                                self.declared_scopes.push(s.clone());
                            }
                        }
                        needs.push(Need {
                            scheme: ident,
                            scopes,
                        });
                        ks.push(kind);
                    }
                    // One Authorization header cannot carry both a bearer token and a password.
                    let bearer = ks.iter().any(|k| matches!(k, Kind::Bearer));
                    let basic = ks.iter().any(|k| matches!(k, Kind::Basic));
                    if bearer && basic {
                        self.warn(&ptr(&ptr(pointer, "security"), &i.to_string()), "this requirement needs a bearer token and a password together, which one `Authorization` header cannot carry; it can never be met".into(), "list them as alternatives (separate objects) instead");
                        continue;
                    }
                    alternatives.push(needs);
                    kinds.push(ks);
                }
            }
            Some(_) => {
                self.warn(
                    &ptr(pointer, "security"),
                    "`security` is not a list; the operation refuses every request".into(),
                    "write a list of Security Requirement Objects (OpenAPI 3.0.3 §4.7.30)",
                );
            }
        }
        let roles = strings(op.get("x-apigen-roles"));
        for r in &roles {
            if !self.roles.contains(r) {
                self.roles.push(r.clone());
            }
        }
        let mut owner = op
            .get("x-apigen-owner")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if owner && !owned {
            self.warn(&ptr(pointer, "x-apigen-owner"), "`x-apigen-owner` is set but the operation's schema is not `x-apigen-owned` with an `ownerId` property; ownership is not enforced".into(), "mark the stored schema `x-apigen-owned: true` and give it a read-only `ownerId` (format uuid)");
            owner = false;
        }
        let anonymous = alternatives.iter().any(Vec::is_empty);
        if owner && anonymous {
            self.warn(&ptr(pointer, "x-apigen-owner"), "`x-apigen-owner` on an operation that admits anonymous callers: anonymous callers own nothing and see no rows".into(), "require a credential for owner-only operations");
        }
        let bucket = match op.get("x-apigen-rate-limit") {
            None => "DEFAULT".to_string(),
            Some(v) => {
                let n = |k: &str, alt: &str| {
                    v.get(k)
                        .or_else(|| v.get(alt))
                        .and_then(Value::as_u64)
                        .and_then(|x| u32::try_from(x).ok())
                        .filter(|x| *x > 0)
                };
                match n("per_minute", "perMinute") {
                    Some(per_minute) => {
                        let burst = n("burst", "burst").unwrap_or(per_minute);
                        let ident = self
                            .idents
                            .claim(&format!("bucket_{func}"))
                            .to_shouty_snake_case();
                        self.buckets.push(RateBucket {
                            ident: ident.clone(),
                            name: operation_id.to_string(),
                            per_minute,
                            burst,
                        });
                        ident
                    }
                    None => {
                        self.warn(&ptr(pointer, "x-apigen-rate-limit"), "`x-apigen-rate-limit` needs a positive `per_minute`; the default limit applies".into(), "write `{per_minute: 60, burst: 10}`");
                        "DEFAULT".to_string()
                    }
                }
            }
        };
        let ident = self
            .idents
            .claim(&format!("req_{func}"))
            .to_shouty_snake_case();
        let summary = describe(&alternatives, &kinds, &roles, owner);
        // Test data: the admin's credentials for the first satisfiable alternative.
        let cred = |k: &Kind| match k {
            Kind::Bearer => "bearer".to_string(),
            Kind::Basic => "basic".to_string(),
            Kind::ApiKey { location, param } => {
                format!("{}:{param}", location.to_ascii_lowercase())
            }
            Kind::Unsupported(_) => String::new(),
        };
        let creds: Vec<String> = if anonymous {
            vec![]
        } else {
            kinds
                .first()
                .map(|ks| ks.iter().map(cred).collect())
                .unwrap_or_default()
        };
        self.route_creds.push(RouteCreds {
            method: method.to_uppercase(),
            route: route.to_string(),
            creds,
        });
        if let Some(url) = url {
            let bearer_alts: Vec<usize> = kinds
                .iter()
                .enumerate()
                .filter(|(_, ks)| !ks.is_empty() && ks.iter().all(|k| matches!(k, Kind::Bearer)))
                .map(|(i, _)| i)
                .collect();
            let scoped = !bearer_alts.is_empty()
                && bearer_alts
                    .iter()
                    .all(|&i| alternatives[i].iter().any(|n| !n.scopes.is_empty()));
            let scopes = bearer_alts
                .first()
                .map(|&i| {
                    alternatives[i]
                        .iter()
                        .flat_map(|n| n.scopes.clone())
                        .collect()
                })
                .unwrap_or_default();
            let api_key = kinds
                .iter()
                .find(|ks| ks.len() == 1 && matches!(ks[0], Kind::ApiKey { .. }))
                .map(|ks| cred(&ks[0]))
                .unwrap_or_default();
            self.probes.push(Probe {
                method: method.to_uppercase(),
                url,
                anonymous,
                refuses_all: alternatives.is_empty(),
                bearer: !bearer_alts.is_empty(),
                scoped,
                scopes,
                allowed_role: roles
                    .iter()
                    .find(|r| **r != self.admin_role)
                    .cloned()
                    .unwrap_or_default(),
                roles: roles.clone(),
                api_key,
                basic: kinds
                    .iter()
                    .any(|ks| ks.len() == 1 && matches!(ks[0], Kind::Basic)),
                operation: operation_id.to_string(),
                deprecation: deprecation.clone(),
            });
        }
        if kinds.iter().zip(&alternatives).any(|(ks, needs)| {
            !ks.is_empty()
                && ks.iter().all(|k| matches!(k, Kind::Bearer))
                && needs.iter().all(|n| n.scopes.is_empty())
        }) {
            self.bearer_alone.insert(ident.clone());
        }
        let mut strip_query: Vec<String> = Vec::new();
        for k in kinds.iter().flatten() {
            if let Kind::ApiKey {
                location: "Query",
                param,
            } = k
            {
                if !declared_query.contains(param) && !strip_query.contains(param) {
                    strip_query.push(param.clone());
                }
            }
        }
        // Idempotency-Key (draft-ietf-httpapi-idempotency-key-header) on POST and PATCH.
        let idempotency = if !matches!(method, "post" | "patch") {
            "Off"
        } else if op.get("x-apigen-idempotency").and_then(Value::as_str) == Some("required") {
            "Required"
        } else {
            "Optional"
        };
        self.requirements.push(Requirement {
            ident: ident.clone(),
            operation: operation_id.to_string(),
            summary: summary.clone(),
            alternatives,
            roles,
            owner,
            strip_query,
            bucket,
            idempotency: idempotency.into(),
            deprecation,
        });
        (ident, owner, summary)
    }

    /// Facts about the requirement named `ident` (from `operation`).
    pub fn info(&self, ident: &str) -> Option<ReqInfo> {
        let r = self.requirements.iter().find(|r| r.ident == ident)?;
        Some(ReqInfo {
            roles: r.roles.clone(),
            refuses_all: r.alternatives.is_empty(),
            anonymous: r.alternatives.iter().any(Vec::is_empty),
            bearer: self.bearer_alone.contains(ident),
        })
    }

    /// Warns, naming them, about operations only the administrator can call because they
    /// need scopes no other role holds (`x-apigen-auth.scopes` grants scopes to roles).
    fn warn_admin_only(&mut self, role_scopes: &[RoleScopes]) {
        let holds = |scopes: &[String]| {
            role_scopes.iter().any(|rs| {
                rs.role != self.admin_role && scopes.iter().all(|s| rs.scopes.contains(s))
            })
        };
        let admin_only: Vec<String> = self
            .requirements
            .iter()
            .filter(|r| {
                let scoped = r
                    .alternatives
                    .iter()
                    .any(|a| a.iter().any(|n| !n.scopes.is_empty()));
                scoped
                    && !r.alternatives.iter().any(|a| {
                        holds(&a.iter().flat_map(|n| n.scopes.clone()).collect::<Vec<_>>())
                    })
            })
            .map(|r| r.operation.clone())
            .collect();
        if admin_only.is_empty() {
            return;
        }
        let shown: Vec<&str> = admin_only.iter().take(8).map(String::as_str).collect();
        let more = if admin_only.len() > shown.len() {
            format!(" and {} more", admin_only.len() - shown.len())
        } else {
            String::new()
        };
        self.warn(
            "/x-apigen-auth/scopes",
            format!("{} operation(s) need OAuth2 scopes no role but the administrator holds, so only the administrator can call them: {}{more}", admin_only.len(), shown.join(", ")),
            "grant scopes to roles with `x-apigen-auth: {scopes: {role: [scope, …]}}` (domain specs: `auth.scopes`)",
        );
    }

    pub fn admin_role(&self) -> &str {
        &self.admin_role
    }

    /// The model's `Security` and every diagnostic about security; `paths` are the
    /// contract's paths (the account routes must not collide with them), `base` the domain
    /// spec's base path (or empty).
    pub fn finish(mut self, paths: &[String], base: &str) -> (Security, Vec<Diagnostic>) {
        let mut prefix = format!("{}/auth", base.trim_end_matches('/'));
        if paths
            .iter()
            .any(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
        {
            prefix = format!("{}/_auth", base.trim_end_matches('/'));
        }
        if self
            .requirements
            .iter()
            .all(|r| r.alternatives.iter().any(|a| a.is_empty()))
            && !self.requirements.is_empty()
        {
            self.diags.push(
                Diagnostic::new(Severity::Warning, &self.file, "/security", "the contract declares no security: every operation is public")
                    .hint("declare `components.securitySchemes` and a top-level `security` (domain specs: `access` rules) to require credentials"),
            );
        }
        let role_scopes: Vec<RoleScopes> = self
            .roles
            .iter()
            .map(|role| RoleScopes {
                role: role.clone(),
                // A role holds exactly the scopes the contract grants it; only the
                // administrator (who passes every scope check anyway) holds them all.
                scopes: if *role == self.admin_role {
                    self.declared_scopes.clone()
                } else {
                    self.role_scopes
                        .as_ref()
                        .and_then(|m| m.get(role))
                        .cloned()
                        .unwrap_or_default()
                },
            })
            .collect();
        self.warn_admin_only(&role_scopes);
        let schemes: Vec<SecurityScheme> = self
            .schemes
            .iter()
            .filter_map(|(name, (kind, ident))| {
                let (k, location, param) = match kind {
                    Kind::Bearer => ("Bearer", "", String::new()),
                    Kind::Basic => ("Basic", "", String::new()),
                    Kind::ApiKey { location, param } => ("ApiKey", *location, param.clone()),
                    Kind::Unsupported(_) => return None,
                };
                Some(SecurityScheme {
                    ident: ident.clone(),
                    name: name.clone(),
                    kind: k.into(),
                    location: location.into(),
                    param,
                })
            })
            .collect();
        let used = |kind: &str| {
            schemes.iter().any(|s| {
                s.kind == kind
                    && self
                        .requirements
                        .iter()
                        .any(|r| r.alternatives.iter().flatten().any(|n| n.scheme == s.ident))
            })
        };
        let protected: Vec<&Probe> = self.probes.iter().filter(|p| !p.anonymous).collect();
        let probed = Probed {
            any: !protected.is_empty(),
            roles: protected.iter().any(|p| p.bearer && !p.roles.is_empty()),
            scoped: protected
                .iter()
                .any(|p| p.scoped && (p.roles.is_empty() || !p.allowed_role.is_empty())),
            basic: protected.iter().any(|p| p.basic),
            api_key: protected.iter().any(|p| !p.api_key.is_empty()),
            refuses_all: protected.iter().any(|p| p.refuses_all),
            bearer: protected.iter().any(|p| p.bearer && !p.refuses_all),
            cookie_changes: protected.iter().any(|p| {
                p.api_key.starts_with("cookie:")
                    && !matches!(p.method.as_str(), "GET" | "HEAD" | "OPTIONS")
            }),
        };
        let has_basic = used("Basic");
        let has_api_key = used("ApiKey");
        let mut api_key_headers: Vec<String> = schemes
            .iter()
            .filter(|s| s.kind == "ApiKey" && s.location == "Header")
            .map(|s| s.param.to_ascii_lowercase())
            .collect();
        api_key_headers.sort();
        api_key_headers.dedup();
        self.diags.dedup();
        let security = Security {
            schemes,
            requirements: std::mem::take(&mut self.requirements),
            roles: self.roles.clone(),
            admin_role: self.admin_role.clone(),
            default_role: self.default_role.clone(),
            role_scopes,
            registration_open: self.registration_open,
            buckets: std::mem::take(&mut self.buckets),
            auth_prefix: prefix,
            route_creds: std::mem::take(&mut self.route_creds),
            probes: std::mem::take(&mut self.probes),
            probed,
            has_basic,
            has_api_key,
            api_key_headers,
        };
        (security, std::mem::take(&mut self.diags))
    }
}

/// One line saying who may call an operation, for the generated doc comment.
fn describe(
    alternatives: &[Vec<Need>],
    kinds: &[Vec<Kind>],
    roles: &[String],
    owner: bool,
) -> String {
    if alternatives.is_empty() {
        return "no credential can meet this requirement; every request is refused.".into();
    }
    let alts: Vec<String> = alternatives
        .iter()
        .zip(kinds)
        .map(|(needs, ks)| {
            if needs.is_empty() {
                return "anyone".to_string();
            }
            needs
                .iter()
                .zip(ks)
                .map(|(n, k)| {
                    let what = match k {
                        Kind::Bearer => "an access token".to_string(),
                        Kind::Basic => "a password".to_string(),
                        Kind::ApiKey { location, param } => {
                            format!("an API key in {} `{param}`", location.to_ascii_lowercase())
                        }
                        Kind::Unsupported(_) => "an unsupported credential".to_string(),
                    };
                    if n.scopes.is_empty() {
                        what
                    } else {
                        format!("{what} with scopes {}", n.scopes.join(", "))
                    }
                })
                .collect::<Vec<_>>()
                .join(" and ")
        })
        .collect();
    let mut s = alts.join(", or ");
    if !roles.is_empty() {
        s.push_str(&format!("; role {}", roles.join(" or ")));
    }
    if owner {
        s.push_str("; only the owner's rows (admins: all)");
    }
    s.push('.');
    s
}
