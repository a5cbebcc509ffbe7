//! Paths: where an operation sits (its collection and whether it is on an item), and the
//! canonical axum route of every contract path.

use super::*;

pub(super) struct RawOp {
    pub(super) path: String,
    pub(super) method: &'static str,
    pub(super) op: OaOperation,
    pub(super) pointer: String,
    pub(super) shared_params: Vec<ReferenceOr<Parameter>>,
}

/// Where an operation sits: the collection path of its group and whether it is on an item.
pub(super) struct Placement {
    pub(super) collection: String,
    pub(super) item: bool,
    pub(super) module_hint: String,
}

pub(super) fn placement(path: &str) -> Placement {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let is_param = |s: &str| s.starts_with('{') && s.ends_with('}');
    let last_static = |segs: &[&str]| {
        segs.iter()
            .rev()
            .find(|s| !is_param(s))
            .map(|s| s.to_string())
            .unwrap_or_else(|| "root".into())
    };
    match segs.last() {
        Some(l) if is_param(l) && segs.len() >= 2 && !is_param(segs[segs.len() - 2]) => {
            let coll = format!("/{}", segs[..segs.len() - 1].join("/"));
            Placement {
                collection: coll,
                item: true,
                module_hint: segs[segs.len() - 2].to_string(),
            }
        }
        // `/things/` is the collection `/things` (its items are `/things/{id}/`); the routes
        // keep the contract's own paths.
        Some(_) => Placement {
            collection: format!("/{}", segs.join("/")),
            item: false,
            module_hint: last_static(&segs),
        },
        None => Placement {
            collection: "/".into(),
            item: false,
            module_hint: "root".into(),
        },
    }
}

/// axum routes for OpenAPI paths: each parameter is renamed after the first parameter seen
/// at the same position under the same prefix, so sibling routes never clash in the router
/// (`/pets/{petId}` and `/pets/{id}/toys` share one name).
pub fn canonical_routes<'p>(paths: impl Iterator<Item = &'p str>) -> IndexMap<String, String> {
    let mut names: IndexMap<String, String> = IndexMap::new();
    let mut out = IndexMap::new();
    for path in paths {
        if out.contains_key(path) {
            continue;
        }
        let mut prefix = String::new();
        let mut route = String::new();
        let mut used = Namespace::new();
        for seg in path.split('/').skip(1) {
            if seg.starts_with('{') && seg.ends_with('}') && seg.matches('{').count() == 1 {
                let key = format!("{prefix}/{{}}");
                let candidate = names
                    .entry(key.clone())
                    .or_insert_with(|| snake_ident(seg.trim_matches(['{', '}']), "param"))
                    .clone();
                let name = used.claim(&candidate);
                route.push_str(&format!("/{{{name}}}"));
                prefix = key;
            } else {
                let lit = seg.replace('{', "{{").replace('}', "}}");
                route.push('/');
                route.push_str(&lit);
                prefix = format!("{prefix}/{seg}");
            }
        }
        if route.is_empty() {
            route.push('/');
        }
        out.insert(path.to_string(), route);
    }
    out
}

pub(super) fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
