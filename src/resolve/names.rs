//! Names: every identifier that lands in generated Rust or SQL is made here.
//!
//! Owns case conversion, Rust-keyword escaping, leading-digit fixes, English plurals and
//! collision resolution (two contract names that become the same identifier get `_2`,
//! `_3` …). Templates never compute names.

use heck::{ToPascalCase, ToShoutySnakeCase, ToSnakeCase};
use std::collections::BTreeSet;

/// Rust keywords, strict and reserved (The Rust Reference, "Keywords"), plus names that
/// would shadow what generated code relies on.
const RESERVED: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen", "union",
];

/// Crates a generated project depends on by name: a package of the same name would depend
/// on itself.
const DEPENDENCIES: &[&str] = &[
    "apigen_runtime",
    "axum",
    "sqlx",
    "serde",
    "serde_json",
    "uuid",
    "chrono",
    "tokio",
    "tower",
    "tracing",
    "std",
    "core",
    "alloc",
    "test",
];

/// Why `name` cannot be the generated crate's name (`--name`), or `None` when it can: it
/// must be letters, digits and `_` starting with a letter, not a Rust keyword, and not the
/// name of a crate the project depends on.
pub fn package_name_problem(name: &str) -> Option<String> {
    let shaped = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !shaped {
        Some("a crate name is letters, digits and `_`, starting with a letter".into())
    } else if RESERVED.contains(&name) {
        Some(format!("`{name}` is a Rust keyword; try `{name}_service`"))
    } else if DEPENDENCIES.contains(&name) {
        Some(format!(
            "the project depends on a crate named `{name}`; try `{name}_service`"
        ))
    } else {
        None
    }
}

/// A crate name made from `text` (a title or a spec's name): snake_case, at most 40
/// characters, with `_service` added (or `service` alone) when it would otherwise be a
/// keyword, a dependency's name or not start with a letter.
pub fn package_name(text: &str) -> String {
    let p: String = snake_ident(text, "service").chars().take(40).collect();
    let p = p.trim_matches('_').to_string();
    if package_name_problem(&p).is_none() {
        return p;
    }
    let q = format!("{p}_service");
    if package_name_problem(&q).is_none() {
        q
    } else {
        "service".into()
    }
}

/// Type names the generated code uses itself; a contract type with one of these names is renamed.
const RESERVED_TYPES: &[&str] = &[
    "Option",
    "Result",
    "Vec",
    "String",
    "Box",
    "Value",
    "Self",
    "ApiError",
    "AppState",
    "Json",
    "Router",
    "Uuid",
    "Schema",
    "Ok",
    "Err",
    "Some",
    "None",
    "Default",
    "Debug",
    "Clone",
    "Copy",
    "Send",
    "Sync",
    "Sized",
    "Fn",
    "From",
    "Into",
    "Map",
    "HashMap",
    "BTreeMap",
    "Path",
    "Query",
    "State",
    "Response",
    "StatusCode",
    "Page",
    "Db",
    "FieldError",
    "Format",
];

/// Splits a contract name into words heck can case: non-alphanumerics become separators.
fn words(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect();
    cleaned.trim().to_string()
}

/// A snake_case Rust identifier for `raw`, never a keyword, never starting with a digit,
/// never empty (`fallback` is used when `raw` has no letters or digits).
pub fn snake_ident(raw: &str, fallback: &str) -> String {
    let mut s = words(raw).to_snake_case();
    if s.is_empty() {
        s = fallback.to_string();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s = format!("n{s}");
    }
    if RESERVED.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

/// A PascalCase Rust type name for `raw` (same rules as `snake_ident`).
pub fn pascal_ident(raw: &str, fallback: &str) -> String {
    let mut s = words(raw).to_pascal_case();
    if s.is_empty() {
        s = fallback.to_string();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s = format!("N{s}");
    }
    if RESERVED.contains(&s.as_str()) || RESERVED_TYPES.contains(&s.as_str()) {
        s.push_str("Type");
    }
    s
}

/// SCREAMING_SNAKE_CASE for statics.
pub fn shouty_ident(raw: &str, fallback: &str) -> String {
    let mut s = words(raw).to_shouty_snake_case();
    if s.is_empty() {
        s = fallback.to_string();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s = format!("N{s}");
    }
    s
}

/// A set of names taken in one namespace; `claim` returns a free variant of a name.
#[derive(Debug, Default, Clone)]
pub struct Namespace {
    taken: BTreeSet<String>,
}

impl Namespace {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserves `name`, or `name_2`, `name_3` … (`Name2` for PascalCase) if taken.
    pub fn claim(&mut self, name: &str) -> String {
        if self.taken.insert(name.to_string()) {
            return name.to_string();
        }
        let pascal = name.starts_with(|c: char| c.is_ascii_uppercase()) && !name.contains('_');
        // `type_` + `_2` would be `type__2`, which is not snake case.
        let stem = match name.trim_end_matches('_') {
            "" => "x",
            s => s,
        };
        for i in 2.. {
            let candidate = if pascal {
                format!("{name}{i}")
            } else {
                format!("{stem}_{i}")
            };
            if self.taken.insert(candidate.clone()) {
                return candidate;
            }
        }
        unreachable!("an unbounded counter always finds a free name")
    }

    pub fn reserve(&mut self, name: &str) {
        self.taken.insert(name.to_string());
    }
}

/// `noun` with its indefinite article: `an author`, `a book`, `a user`, `an hour`. The
/// article follows the sound of the first letters, guessed from the spelling.
pub fn with_article(noun: &str) -> String {
    let lower = noun.trim_start().to_ascii_lowercase();
    let sounds_like_you = [
        "uni", "use", "usu", "uti", "ure", "eu", "ewe", "one", "once",
    ];
    let silent_h = ["hour", "honest", "honor", "honour", "heir"];
    let vowel = lower.starts_with(['a', 'e', 'i', 'o', 'u'])
        && !sounds_like_you.iter().any(|p| lower.starts_with(p));
    let an = vowel || silent_h.iter().any(|p| lower.starts_with(p));
    format!("{} {noun}", if an { "an" } else { "a" })
}

/// English plural of a snake_case noun (last word only): `category` → `categories`,
/// `box` → `boxes`, `person` → `people`. Already-plural words ending in `s` are kept.
pub fn plural(singular: &str) -> String {
    let (head, last) = match singular.rfind('_') {
        Some(i) => (&singular[..=i], &singular[i + 1..]),
        None => ("", singular),
    };
    let irregular = [
        ("person", "people"),
        ("child", "children"),
        ("man", "men"),
        ("woman", "women"),
        ("mouse", "mice"),
        ("datum", "data"),
    ];
    if let Some((_, p)) = irregular.iter().find(|(s, _)| *s == last) {
        return format!("{head}{p}");
    }
    let p = if last.ends_with('s')
        || last.ends_with("x")
        || last.ends_with("z")
        || last.ends_with("ch")
        || last.ends_with("sh")
    {
        if last.ends_with("ss") || !last.ends_with('s') {
            format!("{last}es")
        } else {
            last.to_string()
        }
    } else if last.ends_with('y')
        && !last.ends_with("ay")
        && !last.ends_with("ey")
        && !last.ends_with("oy")
        && !last.ends_with("uy")
    {
        format!("{}ies", &last[..last.len() - 1])
    } else {
        format!("{last}s")
    };
    format!("{head}{p}")
}

/// Singular of a snake_case plural (`categories` → `category`, `pets` → `pet`); words that
/// do not look plural are returned unchanged.
pub fn singular(plural_word: &str) -> String {
    let (head, last) = match plural_word.rfind('_') {
        Some(i) => (&plural_word[..=i], &plural_word[i + 1..]),
        None => ("", plural_word),
    };
    let s = if last == "people" {
        "person".to_string()
    } else if last == "children" {
        "child".to_string()
    } else if let Some(stem) = last.strip_suffix("ies") {
        format!("{stem}y")
    } else if last.ends_with("sses")
        || last.ends_with("xes")
        || last.ends_with("ches")
        || last.ends_with("shes")
    {
        last[..last.len() - 2].to_string()
    } else if last.ends_with('s')
        && !last.ends_with("ss")
        && !last.ends_with("us")
        && !last.ends_with("is")
        && last.len() > 2
    {
        last[..last.len() - 1].to_string()
    } else {
        last.to_string()
    };
    format!("{head}{s}")
}

/// A Rust string literal for `s` (quotes included, escaped as Rust's `{:?}` does).
pub fn rust_str(s: &str) -> String {
    format!("{s:?}")
}

/// Text safe inside a `///` doc comment on one line.
pub fn doc_line(s: &str) -> String {
    let first = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut out: String = first.chars().filter(|c| !c.is_control()).collect();
    if out.chars().count() > 160 {
        out = out.chars().take(157).collect::<String>() + "...";
    }
    // Keep rustdoc from reading markdown or HTML out of contract prose.
    out.replace('`', "'")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('[', "(")
        .replace(']', ")")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(f: fn(&str, &str) -> String, input: &str, expected: &str) {
        assert_eq!(f(input, "x"), expected, "input {input:?}");
    }

    #[test]
    fn package_names_are_valid_crate_names() {
        for (title, want) in [
            ("Box Platform API", "box_platform_api"),
            ("box", "box_service"),
            ("Axum", "axum_service"),
            ("3scale", "n3scale"),
            ("@@", "service"),
            ("Swagger Petstore", "swagger_petstore"),
        ] {
            assert_eq!(package_name(title), want, "{title}");
            assert_eq!(package_name_problem(&package_name(title)), None, "{title}");
        }
        assert!(package_name_problem("box").unwrap().contains("keyword"));
        assert!(package_name_problem("sqlx").unwrap().contains("depends on"));
        assert!(package_name_problem("2x").is_some());
    }

    #[test]
    fn identifiers() {
        check(snake_ident, "petId", "pet_id");
        check(snake_ident, "type", "type_");
        check(snake_ident, "self", "self_");
        check(snake_ident, "2fa-code", "n2fa_code");
        check(snake_ident, "@@", "x");
        check(snake_ident, "$ref", "ref_");
        check(pascal_ident, "pet-store item", "PetStoreItem");
        check(pascal_ident, "Option", "OptionType");
        check(pascal_ident, "3d", "N3d");
        check(shouty_ident, "new pet", "NEW_PET");
    }

    #[test]
    fn collisions_get_suffixes() {
        let mut ns = Namespace::new();
        assert_eq!(ns.claim("foo_bar"), "foo_bar");
        assert_eq!(ns.claim("foo_bar"), "foo_bar_2");
        assert_eq!(ns.claim("Pet"), "Pet");
        assert_eq!(ns.claim("Pet"), "Pet2");
        assert_eq!(ns.claim("type_"), "type_");
        assert_eq!(ns.claim("type_"), "type_2", "never a double underscore");
    }

    #[test]
    fn plurals() {
        for (s, p) in [
            ("book", "books"),
            ("category", "categories"),
            ("box", "boxes"),
            ("person", "people"),
            ("day", "days"),
            ("order_item", "order_items"),
            ("status", "status"),
            ("address", "addresses"),
        ] {
            assert_eq!(plural(s), p, "{s}");
        }
        for (p, s) in [
            ("books", "book"),
            ("categories", "category"),
            ("boxes", "box"),
            ("people", "person"),
            ("status", "status"),
            ("addresses", "address"),
        ] {
            assert_eq!(singular(p), s, "{p}");
        }
    }

    #[test]
    fn articles_follow_the_sound() {
        for (noun, want) in [
            ("author", "an author"),
            ("book", "a book"),
            ("user", "a user"),
            ("hour", "an hour"),
            ("item", "an item"),
            ("unicorn", "a unicorn"),
            ("umbrella", "an umbrella"),
        ] {
            assert_eq!(with_article(noun), want);
        }
    }

    #[test]
    fn doc_lines_are_safe() {
        assert_eq!(doc_line("a `b` <c>\nsecond"), "a 'b' &lt;c&gt;");
    }
}
