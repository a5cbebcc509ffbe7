//! Table-driven validation of request values against the contract's schemas.
//!
//! A generated project's `schemas.rs` holds one `Schema` static per schema of the contract; `validate` walks a
//! JSON value against one, collecting every field error (all field errors are
//! returned together), applying defaults, trimming and lowercasing where the contract says.

#[cfg(feature = "unicode-patterns")]
use regex::Regex;
#[cfg(not(feature = "unicode-patterns"))]
use regex_lite::Regex;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

/// One rule node. Statics refer to each other, so cyclic schemas are fine.
pub struct Schema {
    pub nullable: bool,
    pub kind: Kind,
}

pub enum Kind {
    Any,
    String(StringRule),
    Integer(NumberRule),
    Number(NumberRule),
    Boolean,
    Array(ArrayRule),
    Object(ObjectRule),
    /// oneOf / anyOf: the value must match at least one alternative.
    Union(&'static [&'static Schema]),
}

pub struct StringRule {
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub pattern: Option<&'static str>,
    pub format: Option<Format>,
    /// Allowed values, each JSON-encoded.
    pub enum_values: &'static [&'static str],
    pub trim: bool,
    pub lowercase: bool,
    /// Control characters other than tab, line feed and carriage return are accepted
    /// (`x-apigen-control-characters: true`); refused by default, as PostgreSQL cannot even
    /// store NUL.
    pub allow_control: bool,
}

pub struct NumberRule {
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: bool,
    pub exclusive_maximum: bool,
    pub multiple_of: Option<f64>,
    pub enum_values: &'static [&'static str],
}

pub struct ArrayRule {
    pub items: &'static Schema,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub unique_items: bool,
}

pub struct ObjectRule {
    pub properties: &'static [Property],
    pub additional: Additional,
}

pub struct Property {
    pub name: &'static str,
    pub schema: &'static Schema,
    pub required: bool,
    pub read_only: bool,
    pub write_only: bool,
    /// JSON text of the default applied when the property is absent.
    pub default: Option<&'static str>,
}

pub enum Additional {
    Deny,
    Allow,
    Schema(&'static Schema),
}

// Constructors for the tables in `schemas`, so each node and property is one line there.
impl Schema {
    /// Any JSON value (a schema without constraints).
    pub const ANY: Schema = Schema {
        nullable: false,
        kind: Kind::Any,
    };
    /// `true` or `false`.
    pub const BOOLEAN: Schema = Schema {
        nullable: false,
        kind: Kind::Boolean,
    };

    pub const fn string(rule: StringRule) -> Schema {
        Schema {
            nullable: false,
            kind: Kind::String(rule),
        }
    }

    pub const fn integer(rule: NumberRule) -> Schema {
        Schema {
            nullable: false,
            kind: Kind::Integer(rule),
        }
    }

    pub const fn number(rule: NumberRule) -> Schema {
        Schema {
            nullable: false,
            kind: Kind::Number(rule),
        }
    }

    pub const fn array(rule: ArrayRule) -> Schema {
        Schema {
            nullable: false,
            kind: Kind::Array(rule),
        }
    }

    /// An object: its properties, and what other members may do.
    pub const fn object(additional: Additional, properties: &'static [Property]) -> Schema {
        Schema {
            nullable: false,
            kind: Kind::Object(ObjectRule {
                properties,
                additional,
            }),
        }
    }

    /// `oneOf` / `anyOf`: the value must match at least one alternative.
    pub const fn union(alternatives: &'static [&'static Schema]) -> Schema {
        Schema {
            nullable: false,
            kind: Kind::Union(alternatives),
        }
    }

    /// The same rule, also accepting `null` (OpenAPI 3.0 `nullable: true`, 3.1 `"null"` type).
    pub const fn nullable(self) -> Schema {
        Schema {
            nullable: true,
            kind: self.kind,
        }
    }
}

impl StringRule {
    /// Any string.
    pub const ANY: StringRule = StringRule {
        min_length: None,
        max_length: None,
        pattern: None,
        format: None,
        enum_values: &[],
        trim: false,
        lowercase: false,
        allow_control: false,
    };
}

impl NumberRule {
    /// Any number of the type.
    pub const ANY: NumberRule = NumberRule {
        minimum: None,
        maximum: None,
        exclusive_minimum: false,
        exclusive_maximum: false,
        multiple_of: None,
        enum_values: &[],
    };
}

impl ArrayRule {
    /// Any number of `items`, duplicates allowed.
    pub const fn of(items: &'static Schema) -> ArrayRule {
        ArrayRule {
            items,
            min_items: None,
            max_items: None,
            unique_items: false,
        }
    }
}

impl Property {
    /// An optional property that may be read and written, without a default.
    pub const fn new(name: &'static str, schema: &'static Schema) -> Property {
        Property {
            name,
            schema,
            required: false,
            read_only: false,
            write_only: false,
            default: None,
        }
    }

    pub const fn required(self) -> Property {
        Property {
            required: true,
            ..self
        }
    }

    /// `readOnly`: sent in responses, ignored in requests.
    pub const fn read_only(self) -> Property {
        Property {
            read_only: true,
            ..self
        }
    }

    /// `writeOnly`: accepted in requests, never sent back.
    pub const fn write_only(self) -> Property {
        Property {
            write_only: true,
            ..self
        }
    }

    /// `json`: the default's JSON text, applied to input that leaves the property out.
    pub const fn default(self, json: &'static str) -> Property {
        Property {
            default: Some(json),
            ..self
        }
    }
}

/// String formats checked beyond the type (OpenAPI 3.0.3 §4.4 data types).
#[derive(Clone, Copy)]
pub enum Format {
    Uuid,
    Email,
    Uri,
    DateTime,
    Date,
    Ipv4,
    Ipv6,
}

/// What the value is: a request body (read-only properties refused), a partial body for
/// PATCH (required properties may be absent), or parameters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Body,
    Patch,
    Params,
}

/// One problem with one field; `field` is a dotted path (`address.city`, `tags[2]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub issue: String,
}

/// Each contract pattern compiled once, on first use. A compiled regex is shared (`Arc`)
/// and matched outside the lock, so requests on different threads never wait for each
/// other's matches; the write lock is taken only the first time a pattern is seen.
static PATTERNS: LazyLock<RwLock<HashMap<&'static str, Arc<Regex>>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

fn compiled(pattern: &'static str) -> Arc<Regex> {
    if let Some(re) = PATTERNS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(pattern)
    {
        return Arc::clone(re);
    }
    let mut cache = PATTERNS.write().unwrap_or_else(|e| e.into_inner());
    Arc::clone(cache.entry(pattern).or_insert_with(|| {
        // apigen checks at generation that every pattern compiles in this engine.
        Arc::new(Regex::new(pattern).unwrap_or_else(|_| Regex::new("").expect("empty regex")))
    }))
}

fn pattern_matches(pattern: &'static str, s: &str) -> bool {
    compiled(pattern).is_match(s)
}

/// Validates `value` against `schema`, fixing it up in place (defaults, trim, lowercase).
///
/// Errors: every problem found, in document order.
pub fn validate(
    schema: &'static Schema,
    value: &mut Value,
    mode: Mode,
) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    check(schema, value, "", mode, true, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// The most field errors one answer lists; past it a last entry says more were found, and
/// the rest are not reported (an 85,000-member body would otherwise get a 4 MB answer).
pub const MAX_FIELD_ERRORS: usize = 100;

/// Records one field error. The field's path echoes member names the client chose, so its
/// control characters become U+FFFD: an answer (and a log line) never carries them, and the
/// served document promises text free of them.
fn err(errors: &mut Vec<FieldError>, path: &str, issue: impl Into<String>) {
    match errors.len() {
        n if n < MAX_FIELD_ERRORS => errors.push(FieldError {
            field: if path.is_empty() {
                "body".to_string()
            } else if path.chars().any(forbidden_control) {
                path.chars()
                    .map(|c| if forbidden_control(c) { '\u{fffd}' } else { c })
                    .collect()
            } else {
                path.to_string()
            },
            issue: issue.into(),
        }),
        n if n == MAX_FIELD_ERRORS => errors.push(FieldError {
            field: "body".to_string(),
            issue: format!(
                "more problems were found; only the first {MAX_FIELD_ERRORS} are listed"
            ),
        }),
        _ => {}
    }
}

fn check(
    schema: &'static Schema,
    value: &mut Value,
    path: &str,
    mode: Mode,
    top: bool,
    errors: &mut Vec<FieldError>,
) {
    if value.is_null() {
        if !schema.nullable && !matches!(schema.kind, Kind::Any) {
            err(errors, path, "must not be null");
        }
        return;
    }
    match &schema.kind {
        Kind::Any => {}
        Kind::Boolean => {
            if !value.is_boolean() {
                err(errors, path, "must be a boolean");
            }
        }
        Kind::String(rule) => check_string(rule, value, path, errors),
        Kind::Integer(rule) => {
            if value.as_i64().is_none() && value.as_u64().is_none() {
                err(errors, path, "must be an integer");
            } else {
                check_number(rule, value, path, errors);
            }
        }
        Kind::Number(rule) => {
            if !value.is_number() {
                err(errors, path, "must be a number");
            } else {
                check_number(rule, value, path, errors);
            }
        }
        Kind::Array(rule) => {
            let Some(items) = value.as_array_mut() else {
                err(errors, path, "must be an array");
                return;
            };
            let n = items.len() as u64;
            if rule.min_items.is_some_and(|m| n < m) {
                err(
                    errors,
                    path,
                    format!(
                        "must have at least {} items",
                        rule.min_items.unwrap_or_default()
                    ),
                );
            }
            if rule.max_items.is_some_and(|m| n > m) {
                err(
                    errors,
                    path,
                    format!(
                        "must have at most {} items",
                        rule.max_items.unwrap_or_default()
                    ),
                );
            }
            if rule.unique_items {
                let texts: Vec<String> = items.iter().map(Value::to_string).collect();
                let mut sorted = texts.clone();
                sorted.sort();
                sorted.dedup();
                if sorted.len() != texts.len() {
                    err(errors, path, "items must be unique");
                }
            }
            for (i, item) in items.iter_mut().enumerate() {
                check(
                    rule.items,
                    item,
                    &format!("{path}[{i}]"),
                    mode,
                    false,
                    errors,
                );
            }
        }
        Kind::Object(rule) => {
            let Some(map) = value.as_object_mut() else {
                err(errors, path, "must be an object");
                return;
            };
            let input = mode != Mode::Params;
            for key in map.keys() {
                match rule.properties.iter().find(|p| p.name == key) {
                    Some(p) if p.read_only && input => {
                        err(errors, &join(path, key), "is read-only and cannot be set")
                    }
                    Some(_) => {}
                    None => match rule.additional {
                        Additional::Deny => err(
                            errors,
                            &join(path, key),
                            if mode == Mode::Params {
                                "is not a known parameter"
                            } else {
                                "is not a known field"
                            },
                        ),
                        Additional::Allow | Additional::Schema(_) => {}
                    },
                }
            }
            for p in rule.properties {
                let here = join(path, p.name);
                match map.get_mut(p.name) {
                    Some(v) => {
                        if !(p.read_only && input) {
                            check(p.schema, v, &here, mode, false, errors);
                        }
                    }
                    None => {
                        if let Some(default) = p.default {
                            if !(mode == Mode::Patch && top) {
                                if let Ok(v) = serde_json::from_str(default) {
                                    map.insert(p.name.to_string(), v);
                                }
                            }
                        } else if p.required
                            && !(p.read_only && input)
                            && !(mode == Mode::Patch && top)
                        {
                            err(errors, &here, "is required");
                        }
                    }
                }
            }
            if let Additional::Schema(extra) = rule.additional {
                for (key, v) in map.iter_mut() {
                    if !rule.properties.iter().any(|p| p.name == key) {
                        check(extra, v, &join(path, key), mode, false, errors);
                    }
                }
            }
        }
        Kind::Union(alternatives) => {
            let ok = alternatives.iter().any(|alt| {
                let mut probe = value.clone();
                let mut e = Vec::new();
                check(alt, &mut probe, path, mode, false, &mut e);
                if e.is_empty() {
                    *value = probe;
                    true
                } else {
                    false
                }
            });
            if !ok {
                err(errors, path, "does not match any of the allowed shapes");
            }
        }
    }
}

fn check_string(rule: &StringRule, value: &mut Value, path: &str, errors: &mut Vec<FieldError>) {
    let Some(s) = value.as_str() else {
        err(errors, path, "must be a string");
        return;
    };
    let mut s = s.to_string();
    if rule.trim {
        s = s.trim().to_string();
    }
    if rule.lowercase {
        s = s.to_lowercase();
    }
    if !rule.allow_control && s.chars().any(forbidden_control) {
        err(errors, path, "must not contain control characters");
    }
    let len = s.chars().count() as u64;
    if let Some(m) = rule.min_length.filter(|m| len < *m) {
        err(
            errors,
            path,
            format!(
                "must be at least {m} character{} long",
                if m == 1 { "" } else { "s" }
            ),
        );
    }
    if let Some(m) = rule.max_length.filter(|m| len > *m) {
        err(
            errors,
            path,
            format!(
                "must be at most {m} character{} long",
                if m == 1 { "" } else { "s" }
            ),
        );
    }
    if let Some(p) = rule.pattern {
        if !pattern_matches(p, &s) {
            err(errors, path, format!("must match the pattern {p}"));
        }
    }
    if !rule.enum_values.is_empty() {
        let encoded = Value::String(s.clone()).to_string();
        if !rule.enum_values.contains(&encoded.as_str()) {
            let allowed: Vec<String> = rule
                .enum_values
                .iter()
                .map(|v| v.trim_matches('"').to_string())
                .collect();
            err(
                errors,
                path,
                format!("must be one of: {}", allowed.join(", ")),
            );
        }
    }
    if let Some(f) = rule.format {
        let ok = match f {
            Format::Uuid => uuid_ok(&s),
            Format::Email => email_ok(&s),
            Format::Uri => uri_ok(&s),
            Format::DateTime => chrono::DateTime::parse_from_rfc3339(&s).is_ok(),
            Format::Date => chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").is_ok(),
            Format::Ipv4 => s.parse::<std::net::Ipv4Addr>().is_ok(),
            Format::Ipv6 => s.parse::<std::net::Ipv6Addr>().is_ok(),
        };
        if !ok {
            let name = match f {
                Format::Uuid => "a UUID",
                Format::Email => "an email address",
                Format::Uri => "an absolute URI",
                Format::DateTime => "an RFC 3339 date-time",
                Format::Date => "a date (YYYY-MM-DD)",
                Format::Ipv4 => "an IPv4 address",
                Format::Ipv6 => "an IPv6 address",
            };
            err(errors, path, format!("must be {name}"));
        }
    }
    *value = Value::String(s);
}

fn uuid_ok(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// An address by RFC 5322's `addr-spec` (the `email_address` crate), with a dotted domain:
/// `user@localhost` and quoted local parts with spaces are not what a service means by an
/// email address.
fn email_ok(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    email_address::EmailAddress::is_valid(s)
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
        && s.len() <= 254
}

/// A control character a text may not hold: C0 but tab, line feed and carriage return; DEL;
/// C1.
fn forbidden_control(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{7f}'
}

fn uri_ok(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    !rest.is_empty()
        && scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !s.chars().any(char::is_whitespace)
}

fn check_number(rule: &NumberRule, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let Some(n) = value.as_f64() else { return };
    if let Some(m) = rule.minimum {
        if (rule.exclusive_minimum && n <= m) || n < m {
            err(
                errors,
                path,
                if rule.exclusive_minimum {
                    format!("must be greater than {m}")
                } else {
                    format!("must be at least {m}")
                },
            );
        }
    }
    if let Some(m) = rule.maximum {
        if (rule.exclusive_maximum && n >= m) || n > m {
            err(
                errors,
                path,
                if rule.exclusive_maximum {
                    format!("must be less than {m}")
                } else {
                    format!("must be at most {m}")
                },
            );
        }
    }
    if let Some(m) = rule.multiple_of.filter(|m| *m > 0.0) {
        let q = n / m;
        if (q - q.round()).abs() > 1e-9 {
            err(errors, path, format!("must be a multiple of {m}"));
        }
    }
    if !rule.enum_values.is_empty() && !rule.enum_values.contains(&value.to_string().as_str()) {
        err(
            errors,
            path,
            format!("must be one of: {}", rule.enum_values.join(", ")),
        );
    }
}

/// Turns raw parameter strings into JSON values of the types `schema` declares, so
/// `validate` can check them (`"3"` → `3` for an integer parameter). Repeated keys and
/// comma-separated values fill array parameters (OpenAPI `style: form`).
pub fn coerce_params(schema: &'static Schema, pairs: Vec<(String, String)>) -> Value {
    let mut out = serde_json::Map::new();
    let Kind::Object(rule) = &schema.kind else {
        return Value::Object(out);
    };
    for (key, raw) in pairs {
        let key = key.strip_suffix("[]").map(str::to_string).unwrap_or(key);
        let prop = rule.properties.iter().find(|p| p.name == key);
        match prop.map(|p| &p.schema.kind) {
            Some(Kind::Array(a)) => {
                let entry = out.entry(key).or_insert_with(|| Value::Array(vec![]));
                if let Value::Array(items) = entry {
                    for part in raw.split(',') {
                        items.push(coerce_scalar(a.items, part));
                    }
                }
            }
            Some(_) => {
                let v = coerce_scalar(prop.map(|p| p.schema).unwrap_or(schema), &raw);
                out.insert(key, v);
            }
            None => {
                out.insert(key, Value::String(raw));
            }
        }
    }
    Value::Object(out)
}

fn coerce_scalar(schema: &'static Schema, raw: &str) -> Value {
    match &schema.kind {
        Kind::Integer(_) => raw
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(raw.to_string())),
        Kind::Number(_) => raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(raw.to_string())),
        Kind::Boolean => match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(raw.to_string()),
        },
        Kind::Any => serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string())),
        _ => Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static NAME: Schema = Schema {
        nullable: false,
        kind: Kind::String(StringRule {
            min_length: Some(2),
            max_length: Some(5),
            pattern: Some("^[a-z]+$"),
            format: None,
            enum_values: &[],
            trim: true,
            lowercase: false,
            allow_control: false,
        }),
    };
    static AGE: Schema = Schema {
        nullable: false,
        kind: Kind::Integer(NumberRule {
            minimum: Some(0.0),
            maximum: Some(150.0),
            exclusive_minimum: false,
            exclusive_maximum: false,
            multiple_of: None,
            enum_values: &[],
        }),
    };
    static PERSON: Schema = Schema {
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
                    name: "age",
                    schema: &AGE,
                    required: false,
                    read_only: false,
                    write_only: false,
                    default: Some("18"),
                },
                Property {
                    name: "id",
                    schema: &AGE,
                    required: true,
                    read_only: true,
                    write_only: false,
                    default: None,
                },
            ],
            additional: Additional::Deny,
        }),
    };

    fn issues(v: serde_json::Value, mode: Mode) -> Vec<String> {
        let mut v = v;
        match validate(&PERSON, &mut v, mode) {
            Ok(()) => vec![],
            Err(e) => e
                .into_iter()
                .map(|e| format!("{}: {}", e.field, e.issue))
                .collect(),
        }
    }

    #[test]
    fn collects_every_error() {
        let got = issues(
            serde_json::json!({"name": "ABCDEFG", "age": -1, "id": 3, "x": 1}),
            Mode::Body,
        );
        assert_eq!(got.len(), 5, "{got:?}");
        assert!(got.contains(&"x: is not a known field".to_string()));
        assert!(got.contains(&"id: is read-only and cannot be set".to_string()));
    }

    #[test]
    fn caps_the_errors_reported() {
        let mut body = serde_json::Map::new();
        body.insert("name".into(), "ab".into());
        for i in 0..5_000 {
            body.insert(format!("unknown{i}"), i.into());
        }
        let got = issues(serde_json::Value::Object(body), Mode::Body);
        assert_eq!(got.len(), MAX_FIELD_ERRORS + 1);
        assert!(
            got[MAX_FIELD_ERRORS].contains("more problems were found"),
            "{:?}",
            got.last()
        );
    }

    #[test]
    fn field_paths_never_echo_control_characters() {
        let mut errors = Vec::new();
        err(&mut errors, "a\u{1b}b\u{85}", "is not a known field");
        assert_eq!(errors[0].field, "a\u{fffd}b\u{fffd}");
        err(&mut errors, "tab\tok", "x");
        assert_eq!(errors[1].field, "tab\tok");
    }

    #[test]
    fn refuses_control_characters_unless_allowed() {
        for bad in ["ab\u{0}c", "a\u{1b}[2J", "ab\u{7f}", "a\u{85}b"] {
            let got = issues(serde_json::json!({"name": bad}), Mode::Body);
            assert!(
                got.iter().any(|e| e.contains("control characters")),
                "{bad:?}: {got:?}"
            );
        }
        static TEXT: Schema = Schema::string(StringRule::ANY);
        let mut ok = serde_json::json!("line one\n\tline two\r\n");
        assert!(validate(&TEXT, &mut ok, Mode::Body).is_ok());
        static RAW: Schema = Schema::string(StringRule {
            allow_control: true,
            ..StringRule::ANY
        });
        let mut nul = serde_json::json!("a\u{0}b");
        assert!(validate(&RAW, &mut nul, Mode::Body).is_ok());
        let mut nul = serde_json::json!("a\u{0}b");
        assert!(validate(&TEXT, &mut nul, Mode::Body).is_err());
    }

    #[test]
    fn applies_defaults_and_trims() {
        let mut v = serde_json::json!({"name": "  abc "});
        validate(&PERSON, &mut v, Mode::Body).unwrap();
        assert_eq!(v, serde_json::json!({"name": "abc", "age": 18}));
    }

    #[test]
    fn patch_allows_missing_required() {
        assert!(issues(serde_json::json!({"age": 3}), Mode::Patch).is_empty());
    }

    #[test]
    fn coerces_parameters() {
        let v = coerce_params(
            &PERSON,
            vec![("age".into(), "42".into()), ("name".into(), "ab".into())],
        );
        assert_eq!(v, serde_json::json!({"age": 42, "name": "ab"}));
    }

    static EMAIL: Schema = Schema::string(StringRule {
        format: Some(Format::Email),
        lowercase: true,
        allow_control: false,
        ..StringRule::ANY
    });
    static WHEN: Schema = Schema::string(StringRule {
        format: Some(Format::DateTime),
        ..StringRule::ANY
    });
    static KEY: Schema = Schema::string(StringRule {
        format: Some(Format::Uuid),
        ..StringRule::ANY
    });
    static STATUS: Schema = Schema::string(StringRule {
        enum_values: &["\"draft\"", "\"published\""],
        ..StringRule::ANY
    });
    static PRICE: Schema = Schema::number(NumberRule {
        minimum: Some(0.0),
        exclusive_minimum: true,
        multiple_of: Some(0.5),
        ..NumberRule::ANY
    });
    static TAG: Schema = Schema::string(StringRule {
        min_length: Some(1),
        ..StringRule::ANY
    });
    static TAGS: Schema = Schema::array(ArrayRule {
        min_items: Some(1),
        max_items: Some(3),
        unique_items: true,
        ..ArrayRule::of(&TAG)
    });
    static NOTE: Schema = Schema::string(StringRule::ANY).nullable();
    static LABELS: Schema = Schema::object(Additional::Schema(&TAG), &[]);
    static ITEM: Schema = Schema::object(
        Additional::Deny,
        &[
            Property::new("email", &EMAIL).required(),
            Property::new("when", &WHEN),
            Property::new("key", &KEY),
            Property::new("status", &STATUS),
            Property::new("price", &PRICE),
            Property::new("tags", &TAGS),
            Property::new("note", &NOTE),
            Property::new("labels", &LABELS),
            Property::new("secret", &TAG).write_only(),
        ],
    );
    static NUMBER_OR_KEY: Schema = Schema::union(&[&PRICE, &KEY]);

    fn fields(schema: &'static Schema, v: Value) -> Vec<(String, String)> {
        let mut v = v;
        match validate(schema, &mut v, Mode::Body) {
            Ok(()) => vec![],
            Err(e) => e.into_iter().map(|e| (e.field, e.issue)).collect(),
        }
    }

    #[test]
    fn formats_enums_and_numbers_are_checked_with_their_field_paths() {
        let got = fields(
            &ITEM,
            serde_json::json!({
                "email": "not-an-email", "when": "yesterday", "key": "123", "status": "gone",
                "price": 0, "tags": ["a", "a", "", "d"], "note": null, "labels": {"x": ""}
            }),
        );
        let named: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
        for field in [
            "email", "when", "key", "status", "price", "tags", "tags[2]", "labels.x",
        ] {
            assert!(named.contains(&field), "no error for {field}: {got:?}");
        }
        assert!(
            !named.contains(&"note"),
            "a nullable property takes null: {got:?}"
        );
        assert!(got
            .iter()
            .any(|(f, i)| f == "status" && i == "must be one of: draft, published"));
        assert!(got
            .iter()
            .any(|(f, i)| f == "price" && i == "must be greater than 0"));
        assert_eq!(
            got.iter().filter(|(f, _)| f == "tags").count(),
            2,
            "too many and not unique: {got:?}"
        );
    }

    #[test]
    fn valid_values_pass_and_emails_are_lowercased() {
        let mut v = serde_json::json!({"email": "Ada@Example.TEST", "when": "2026-01-02T03:04:05Z", "key": "0191b5a0-0000-7000-8000-000000000000", "status": "draft", "price": 2.5, "tags": ["a", "b"], "labels": {"x": "y"}, "secret": "s"});
        validate(&ITEM, &mut v, Mode::Body).unwrap();
        assert_eq!(v["email"], "ada@example.test");
    }

    #[test]
    fn emails_follow_the_address_grammar() {
        for good in [
            "ada@example.test",
            "a.b+tag@sub.example.org",
            "o'neil@example.com",
        ] {
            assert!(email_ok(good), "{good}");
        }
        for bad in [
            "ada@localhost",
            "@example.com",
            "ada@",
            "a@@example.com",
            "a b@example.com",
            "ada@exa mple.com",
            "ada@.example.com",
            "ada@example.com.",
            "ada..lovelace@example.com",
            "\"a b\"@example",
            "ada@example..com",
        ] {
            assert!(!email_ok(bad), "{bad} passed");
        }
    }

    #[test]
    fn a_union_takes_any_alternative_and_names_the_field_when_none_fits() {
        assert!(fields(&NUMBER_OR_KEY, serde_json::json!(1.5)).is_empty());
        assert!(fields(
            &NUMBER_OR_KEY,
            serde_json::json!("0191b5a0-0000-7000-8000-000000000000")
        )
        .is_empty());
        assert_eq!(
            fields(&NUMBER_OR_KEY, serde_json::json!(true)),
            [(
                "body".to_string(),
                "does not match any of the allowed shapes".to_string()
            )]
        );
    }

    #[test]
    fn wrong_types_and_nulls_are_named() {
        let got = fields(
            &ITEM,
            serde_json::json!({"email": null, "tags": "a", "labels": []}),
        );
        assert!(
            got.contains(&("email".into(), "must not be null".into())),
            "{got:?}"
        );
        assert!(
            got.contains(&("tags".into(), "must be an array".into())),
            "{got:?}"
        );
        assert!(
            got.contains(&("labels".into(), "must be an object".into())),
            "{got:?}"
        );
        assert_eq!(
            fields(&ITEM, serde_json::json!([1])),
            [("body".to_string(), "must be an object".to_string())]
        );
    }
}
