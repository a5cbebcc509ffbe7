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
/// (`/pets/{petId}` and `/pets/{id}/toys` share one name). A segment holding several
/// parameters or text around one (`/{x},{y}.{format}`, `/{sid}.json`) is captured whole, to
/// be split by its template ([`segment_templates`]). Paths that differ only inside such a
/// segment (`/files/{id}` beside `/files/{id}.json`, Google's `/v1/{name}` beside
/// `/v1/{name}:test`) get the same route; the router tells them apart by their templates
/// ([`split_positions`], the runtime's `extract::ByTemplate`).
pub fn canonical_routes<'p>(paths: impl Iterator<Item = &'p str>) -> IndexMap<String, String> {
    let mut names: IndexMap<String, String> = IndexMap::new();
    let mut captured: IndexMap<String, String> = IndexMap::new();
    for path in paths {
        if captured.contains_key(path) {
            continue;
        }
        let mut prefix = String::new();
        let mut route = String::new();
        let mut used = Namespace::new();
        for seg in path.split('/').skip(1) {
            if !matches!(segment(seg), Segment::Literal) {
                let key = format!("{prefix}/{{}}");
                let first = seg
                    .split('{')
                    .nth(1)
                    .and_then(|r| r.split('}').next())
                    .unwrap_or("param");
                let candidate = names
                    .entry(key.clone())
                    .or_insert_with(|| snake_ident(first, "param"))
                    .clone();
                let name = used.claim(&candidate);
                route.push_str(&format!("/{{{name}}}"));
                prefix = key;
            } else {
                route.push('/');
                route.push_str(&seg.replace('{', "{{").replace('}', "}}"));
                prefix = format!("{prefix}/{seg}");
            }
        }
        if route.is_empty() {
            route.push('/');
        }
        captured.insert(path.to_string(), route);
    }
    captured
}

/// The segments of `path` that its template splits, with their 0-based position in the
/// path (`/v1/{name}:test` → `[(1, [name, ":test"])]`): what tells it apart from another
/// path routed the same way.
pub fn split_positions(path: &str) -> Vec<(usize, Vec<TemplatePiece>)> {
    path.split('/')
        .skip(1)
        .enumerate()
        .filter_map(|(i, seg)| match segment(seg) {
            Segment::Split(pieces) => Some((i, pieces)),
            _ => None,
        })
        .collect()
}

/// One piece of a path segment's template: literal text, or a parameter (its name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePiece {
    Lit(String),
    Param(String),
}

/// The pieces of a segment with parameters (`{x},{y}.{format}` → x, `,`, y, `.`, format),
/// or `None` when it has none or its braces do not pair up. Two parameters with nothing
/// between them cannot be told apart and give `None` too.
pub fn template_pieces(seg: &str) -> Option<Vec<TemplatePiece>> {
    let mut out = Vec::new();
    let mut rest = seg;
    while !rest.is_empty() {
        match rest.find('{') {
            Some(0) => {
                let end = rest.find('}')?;
                let name = &rest[1..end];
                if name.is_empty() || name.contains('{') {
                    return None;
                }
                if matches!(out.last(), Some(TemplatePiece::Param(_))) {
                    return None;
                }
                out.push(TemplatePiece::Param(name.to_string()));
                rest = &rest[end + 1..];
            }
            Some(i) => {
                if rest[..i].contains('}') {
                    return None;
                }
                out.push(TemplatePiece::Lit(rest[..i].to_string()));
                rest = &rest[i..];
            }
            None => {
                if rest.contains('}') {
                    return None;
                }
                out.push(TemplatePiece::Lit(rest.to_string()));
                rest = "";
            }
        }
    }
    out.iter()
        .any(|p| matches!(p, TemplatePiece::Param(_)))
        .then_some(out)
}

/// How one path segment reads: literal text, one whole parameter (`{id}`), or several
/// parameters or text around one (`{x},{y}.{format}`, `{sid}.json`), split by its pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal,
    Whole(String),
    Split(Vec<TemplatePiece>),
}

/// Classifies `seg` (see [`Segment`]); braces that do not pair up are literal text.
pub fn segment(seg: &str) -> Segment {
    let inner = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
    match inner {
        Some(name) if !name.is_empty() && !name.contains(['{', '}']) => {
            Segment::Whole(name.to_string())
        }
        _ => template_pieces(seg).map_or(Segment::Literal, Segment::Split),
    }
}

/// The templates of a path's captured segments, in order: `None` for a segment that is one
/// parameter, the pieces for one that holds more (see [`canonical_routes`]).
pub fn segment_templates(path: &str) -> Vec<Option<Vec<TemplatePiece>>> {
    path.split('/')
        .skip(1)
        .filter_map(|seg| match segment(seg) {
            Segment::Literal => None,
            Segment::Whole(_) => Some(None),
            Segment::Split(pieces) => Some(Some(pieces)),
        })
        .collect()
}

/// The parameter names of a path template, in order (`/a/{x},{y}/{id}` → x, y, id).
pub fn template_params(path: &str) -> Vec<String> {
    path.split('/')
        .skip(1)
        .flat_map(|seg| match segment(seg) {
            Segment::Literal => vec![],
            Segment::Whole(name) => vec![name],
            Segment::Split(pieces) => pieces
                .into_iter()
                .filter_map(|p| match p {
                    TemplatePiece::Param(n) => Some(n),
                    TemplatePiece::Lit(_) => None,
                })
                .collect(),
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compound_segments_are_captured_whole_and_share_routes_with_their_siblings() {
        let routes = canonical_routes(
            [
                "/tiles/{x},{y}.{format}",
                "/Calls/{Sid}.json",
                "/Calls/{CallSid}/Recordings.json",
                "/files/{id}",
                "/files/{id}.json",
                "/fx/rates@{from}@{to}",
            ]
            .into_iter(),
        );
        assert_eq!(routes["/tiles/{x},{y}.{format}"], "/tiles/{x}");
        assert_eq!(routes["/Calls/{Sid}.json"], "/Calls/{sid}");
        assert_eq!(
            routes["/Calls/{CallSid}/Recordings.json"],
            "/Calls/{sid}/Recordings.json"
        );
        assert_eq!(routes["/files/{id}"], "/files/{id}");
        assert_eq!(
            routes["/files/{id}.json"], "/files/{id}",
            "one route with /files/{{id}}, told apart by the template"
        );
        assert_eq!(
            split_positions("/files/{id}.json"),
            [(
                1,
                vec![
                    TemplatePiece::Param("id".into()),
                    TemplatePiece::Lit(".json".into())
                ]
            )]
        );
        assert_eq!(routes["/fx/rates@{from}@{to}"], "/fx/{from}");
    }

    #[test]
    fn template_parameters_come_in_path_order() {
        assert_eq!(template_params("/a/{x},{y}/b/{id}.json"), ["x", "y", "id"]);
        assert_eq!(template_params("/a/{id}/b"), ["id"]);
        assert_eq!(
            template_pieces("{a}{b}"),
            None,
            "adjacent parameters cannot be split"
        );
        assert_eq!(template_pieces("plain"), None);
        assert_eq!(
            template_pieces("{sid}.json"),
            Some(vec![
                TemplatePiece::Param("sid".into()),
                TemplatePiece::Lit(".json".into())
            ])
        );
    }
}
