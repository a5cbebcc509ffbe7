//! Paging: keyset cursors, page sizes and offsets, orderings.
//!
//! A cursor list seeks: its cursor carries the ordering, the last row's value of the sort
//! column and its key, so the next page is the rows after that pair in the list's order
//! (`WHERE (sort, key) > (value, last key)` over an index). Rows inserted or deleted
//! between two requests never make a page repeat or skip a row, and page 1,000 costs what
//! page 1 costs. The cursor is opaque to clients: base64url JSON sealed with an
//! HMAC-SHA256 tag ([`CursorSeal`], keyed from `JWT_SECRET`) over the list it belongs to,
//! so a tampered cursor, or one from another list or ordering, is 400.
//!
//! Lists the contract pages by number or offset keep doing so, with overflow-safe
//! arithmetic ([`page_offset`], [`offset`]).

use crate::db::Db;
use crate::error::ApiError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use sqlx::QueryBuilder;

/// The most rows one page may hold, whatever the client asks.
pub const MAX_PAGE: i64 = 100;

/// The longest cursor accepted, in bytes (a sealed cursor of a long text value stays far
/// below it).
pub const MAX_CURSOR_LEN: usize = 2048;

/// Rows of one page and its `meta` object.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub meta: serde_json::Value,
}

/// Where the next page starts: after the row whose sort column held `value` and whose key
/// is `key`, in the ordering a list's `sort` parameter named `sort` (`""`: the default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "s")]
    pub sort: String,
    #[serde(rename = "v")]
    pub value: Value,
    #[serde(rename = "k")]
    pub key: Value,
}

impl Cursor {
    /// The sort value, as the column's Rust type (`None` for SQL NULL). Errors: 400 when
    /// the value does not fit the column.
    pub fn value_as<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, ApiError> {
        if self.value.is_null() {
            return Ok(None);
        }
        T::deserialize(&self.value)
            .map(Some)
            .map_err(|_| invalid_cursor())
    }

    /// The key, as the key column's Rust type. Errors: 400 when it does not fit.
    pub fn key_as<K: serde::de::DeserializeOwned>(&self) -> Result<K, ApiError> {
        K::deserialize(&self.key).map_err(|_| invalid_cursor())
    }
}

fn invalid_cursor() -> ApiError {
    ApiError::BadRequest("invalid cursor: pass back the nextCursor of the page before, unchanged, with the same sort".into())
}

/// Seals cursors so the service can tell its own, for this list and ordering, from any
/// other text: an HMAC-SHA256 tag, truncated to 128 bits, over the list's name and the
/// cursor (RFC 2104; truncation per RFC 2104 §5).
#[derive(Clone)]
pub struct CursorSeal {
    /// HMAC-SHA256 already keyed (its inner and outer pads hashed once, here), cloned for
    /// each cursor instead of keyed again.
    mac: HmacSha256,
}

impl std::fmt::Debug for CursorSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorSeal(..)")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl CursorSeal {
    /// A seal keyed from `secret` (the service's `JWT_SECRET`), separated from its other
    /// uses by a label.
    pub fn new(secret: &[u8]) -> CursorSeal {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"apigen list cursor v1");
        let key = mac.finalize().into_bytes();
        CursorSeal {
            mac: HmacSha256::new_from_slice(&key).expect("HMAC takes any key length"),
        }
    }

    /// The MAC over the list's name and `payload`, not yet finalised.
    fn mac(&self, list: &str, payload: &[u8]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(list.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    fn tag(&self, list: &str, payload: &[u8]) -> [u8; 16] {
        let full = self.mac(list, payload).finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// The opaque text of `cursor` for the list named `list` (its operation id).
    pub fn seal(&self, list: &str, cursor: &Cursor) -> String {
        let payload = serde_json::to_vec(cursor).unwrap_or_default();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(self.tag(list, &payload))
        )
    }

    /// The cursor in `text`; none (or empty) is the first page. Errors: 400 when the text
    /// was not sealed by this service for `list`, or was sealed for another ordering than
    /// `sort`.
    pub fn open(
        &self,
        list: &str,
        sort: &str,
        text: Option<&str>,
    ) -> Result<Option<Cursor>, ApiError> {
        let Some(text) = text.filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        if text.len() > MAX_CURSOR_LEN {
            return Err(invalid_cursor());
        }
        let (body, tag) = text.split_once('.').ok_or_else(invalid_cursor)?;
        let payload = URL_SAFE_NO_PAD.decode(body).map_err(|_| invalid_cursor())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid_cursor())?;
        self.mac(list, &payload)
            .verify_truncated_left(&tag)
            .map_err(|_| invalid_cursor())?;
        if tag.len() != 16 {
            return Err(invalid_cursor());
        }
        let cursor: Cursor = serde_json::from_slice(&payload).map_err(|_| invalid_cursor())?;
        if cursor.sort != sort {
            return Err(invalid_cursor());
        }
        Ok(Some(cursor))
    }
}

/// ` ORDER BY` for `sort` then the key, in both dialects: the key breaks ties in the sort's
/// direction, so the order is total and a page can seek past it. A nullable column puts
/// its NULLs last ascending and first descending, the same in SQLite and PostgreSQL.
pub fn order_by(sort: &Sort, key_column: &str, nullable: bool) -> String {
    let dir = if sort.descending { "DESC" } else { "ASC" };
    if sort.column == key_column {
        return format!(" ORDER BY \"{key_column}\" {dir}");
    }
    let nulls = match (nullable, sort.descending) {
        (false, _) => "",
        (true, false) => " NULLS LAST",
        (true, true) => " NULLS FIRST",
    };
    format!(
        " ORDER BY \"{}\" {dir}{nulls}, \"{key_column}\" {dir}",
        sort.column
    )
}

/// Appends ` AND <the rows after (value, key)>` in the order [`order_by`] gives: for a NOT
/// NULL column one row-value comparison, `("col", "key") > (value, key)` (`<` descending),
/// which an index on `(col, key)` answers by seeking; for a nullable one the same order
/// spelled out around its NULLs.
pub fn push_after<'a, T, K>(
    qb: &mut QueryBuilder<'a, Db>,
    sort: &Sort,
    key_column: &str,
    nullable: bool,
    value: Option<T>,
    key: K,
) where
    T: 'a + Send + Clone + sqlx::Encode<'a, Db> + sqlx::Type<Db>,
    K: 'a + Send + Clone + sqlx::Encode<'a, Db> + sqlx::Type<Db>,
{
    let (cmp, col) = (if sort.descending { "<" } else { ">" }, sort.column);
    if col == key_column {
        qb.push(format!(" AND \"{key_column}\" {cmp} "))
            .push_bind(key);
        return;
    }
    match (value, nullable, sort.descending) {
        (Some(v), false, _) => {
            qb.push(format!(" AND (\"{col}\", \"{key_column}\") {cmp} ("))
                .push_bind(v)
                .push(", ")
                .push_bind(key)
                .push(")");
        }
        // Ascending, NULLs last: after a value come greater values, ties by key, then NULLs.
        (Some(v), true, false) => {
            qb.push(format!(" AND (\"{col}\" > "))
                .push_bind(v.clone())
                .push(format!(" OR (\"{col}\" = "))
                .push_bind(v)
                .push(format!(" AND \"{key_column}\" > "))
                .push_bind(key)
                .push(format!(") OR \"{col}\" IS NULL)"));
        }
        // Descending, NULLs first: after a value come smaller values, ties by key.
        (Some(v), true, true) => {
            qb.push(format!(" AND (\"{col}\" < "))
                .push_bind(v.clone())
                .push(format!(" OR (\"{col}\" = "))
                .push_bind(v)
                .push(format!(" AND \"{key_column}\" < "))
                .push_bind(key)
                .push("))");
        }
        // After a NULL, ascending: only NULLs with a greater key.
        (None, _, false) => {
            qb.push(format!(" AND (\"{col}\" IS NULL AND \"{key_column}\" > "))
                .push_bind(key)
                .push(")");
        }
        // After a NULL, descending: NULLs with a smaller key, then every value.
        (None, _, true) => {
            qb.push(format!(" AND ((\"{col}\" IS NULL AND \"{key_column}\" < "))
                .push_bind(key)
                .push(format!(") OR \"{col}\" IS NOT NULL)"));
        }
    }
}

/// Appends ` LIMIT n` with the page size written into the statement, not bound.
///
/// `limit` is the service's own integer (a page size [`limit`] has checked), never client
/// text, so writing it is as safe as binding it. Bound, it leaves PostgreSQL's generic
/// plan blind to the page size: the planner then prices a sort of the whole table above
/// the index walk it plans for a known size, so it plans every execution afresh (a
/// 20-row page cost PostgreSQL about 130 µs of its own time instead of 85 µs; measured in
/// `docs/RESULTS.md`). Each page size becomes a prepared statement of its own: a handful
/// per list in practice, well within sqlx's statement cache.
pub fn push_limit(qb: &mut QueryBuilder<'_, Db>, limit: i64) {
    qb.push(format_args!(" LIMIT {}", limit.max(0)));
}

/// A paging parameter as a contract types it: an integer of either width, optional or
/// required. [`limit`], [`offset`] and [`page_offset`] take any of them.
pub trait PageParam {
    /// The value asked for, if any.
    fn requested(self) -> Option<i64>;
}

impl PageParam for i64 {
    fn requested(self) -> Option<i64> {
        Some(self)
    }
}

impl PageParam for i32 {
    fn requested(self) -> Option<i64> {
        Some(i64::from(self))
    }
}

impl<T: PageParam> PageParam for Option<T> {
    fn requested(self) -> Option<i64> {
        self.and_then(PageParam::requested)
    }
}

/// A boolean query parameter as a contract types it: `bool` or `Option<bool>`.
pub trait Flag {
    /// Whether it was given as `true`.
    fn given_true(self) -> bool;
}

impl Flag for bool {
    fn given_true(self) -> bool {
        self
    }
}

impl Flag for Option<bool> {
    fn given_true(self) -> bool {
        self == Some(true)
    }
}

/// Whether a boolean parameter (`?deleted=true`) was given as `true`.
pub fn flag(value: impl Flag) -> bool {
    value.given_true()
}

/// The page size for a requested `limit`, on a list whose pages hold at most `max` rows
/// (the contract's `maximum` for the parameter, or apigen's cap): `max` or [`MAX_PAGE`],
/// the smaller, when none is asked; below 1 counts as 1.
///
/// Errors: 400 naming `max` when more is asked. A page is never silently shorter than
/// asked: a client paging by offset would take it for the last page and miss the rest.
pub fn limit(requested: impl PageParam, max: i64) -> Result<i64, ApiError> {
    let max = max.max(1);
    match requested.requested() {
        None => Ok(max.min(MAX_PAGE)),
        Some(n) if n > max => Err(ApiError::BadRequest(format!(
            "limit is too large: a page holds at most {max} rows"
        ))),
        Some(n) => Ok(n.max(1)),
    }
}

/// The rows to skip for a requested `offset` (0 when none; negative counts as 0).
/// Errors: 400 past [`MAX_OFFSET`].
pub fn offset(requested: impl PageParam) -> Result<i64, ApiError> {
    let skip = requested.requested().unwrap_or(0).max(0);
    if skip > MAX_OFFSET {
        return Err(ApiError::BadRequest(format!(
            "offset is too far: at most {MAX_OFFSET}"
        )));
    }
    Ok(skip)
}

/// The largest offset a list skips to (rows), so `LIMIT`/`OFFSET` arithmetic can never
/// overflow: a page past it is 400.
pub const MAX_OFFSET: i64 = 1 << 40;

/// The rows to skip for a requested page number (1-based; none or below 1 is page 1).
/// Errors: 400 when the page starts past [`MAX_OFFSET`].
pub fn page_offset(page: impl PageParam, limit: i64) -> Result<i64, ApiError> {
    let skip = (page.requested().unwrap_or(1).max(1) - 1).checked_mul(limit);
    skip.filter(|s| *s <= MAX_OFFSET).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "page is too far: a page may start at most {MAX_OFFSET} rows in"
        ))
    })
}

/// One ordering a list accepts: the query value that asks for it (`-createdAt`), the
/// column it sorts on and its direction. A list's orderings are one table of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub value: &'static str,
    pub column: &'static str,
    pub descending: bool,
}

impl Sort {
    /// Ascending on `column`, asked for by `value`.
    pub const fn asc(value: &'static str, column: &'static str) -> Sort {
        Sort {
            value,
            column,
            descending: false,
        }
    }

    /// Descending on `column`, asked for by `value`.
    pub const fn desc(value: &'static str, column: &'static str) -> Sort {
        Sort {
            value,
            column,
            descending: true,
        }
    }

    /// The ordering of `table` that `requested` names, else `default` (no value, or one
    /// the table lacks: validation already refused values outside the contract's enum).
    pub fn pick(table: &[Sort], requested: Option<&str>, default: Sort) -> Sort {
        requested
            .and_then(|r| table.iter().find(|s| s.value == r))
            .copied()
            .unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sort_is_picked_from_its_table_or_defaults() {
        const TABLE: &[Sort] = &[Sort::asc("title", "title"), Sort::desc("-title", "title")];
        let default = Sort::asc("", "created_at");
        assert_eq!(
            Sort::pick(TABLE, Some("-title"), default),
            Sort::desc("-title", "title")
        );
        assert_eq!(Sort::pick(TABLE, None, default), default);
        assert_eq!(Sort::pick(TABLE, Some("nope"), default), default);
    }

    #[test]
    fn paging_parameters_of_any_integer_type_give_limit_and_offset() {
        assert_eq!(limit(None::<i64>, MAX_PAGE).unwrap(), MAX_PAGE);
        assert_eq!(limit(Some(5_i32), MAX_PAGE).unwrap(), 5);
        assert_eq!(limit(1000_i64, 1000).unwrap(), 1000);
        assert_eq!(offset(Some(-3_i64)).unwrap(), 0);
        assert_eq!(offset(7_i32).unwrap(), 7);
        assert_eq!(page_offset(None::<i32>, 20).unwrap(), 0);
        assert_eq!(page_offset(Some(3_i64), 20).unwrap(), 40);
        assert_eq!(page_offset(0_i64, 20).unwrap(), 0);
    }

    #[test]
    fn a_page_holds_what_was_asked_up_to_the_lists_maximum_and_more_is_refused() {
        // (asked, the list's maximum, the page size or None for 400)
        let cases: &[(Option<i64>, i64, Option<i64>)] = &[
            (None, MAX_PAGE, Some(MAX_PAGE)),
            (None, 20, Some(20)),
            (None, 1000, Some(MAX_PAGE)),
            (Some(0), MAX_PAGE, Some(1)),
            (Some(-5), MAX_PAGE, Some(1)),
            (Some(20), MAX_PAGE, Some(20)),
            (Some(100), MAX_PAGE, Some(100)),
            (Some(101), MAX_PAGE, None),
            (Some(500), 1000, Some(500)),
            (Some(1000), 1000, Some(1000)),
            (Some(1001), 1000, None),
            (Some(i64::MAX), 1000, None),
        ];
        for &(asked, max, want) in cases {
            match (limit(asked, max), want) {
                (Ok(got), Some(want)) => assert_eq!(got, want, "{asked:?} of {max}"),
                (Err(e), None) => assert!(
                    matches!(&e, ApiError::BadRequest(m) if m.contains(&max.to_string())),
                    "{asked:?} of {max}: {e:?}"
                ),
                (got, want) => panic!("{asked:?} of {max}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn flags_are_true_only_when_given_true() {
        assert!(flag(true) && flag(Some(true)));
        assert!(!flag(false) && !flag(Some(false)) && !flag(None::<bool>));
    }

    #[test]
    fn offsets_never_overflow() {
        assert!(page_offset(Some(i64::MAX), 100).is_err());
        assert!(page_offset(Some(MAX_OFFSET), 2).is_err());
        assert!(offset(Some(i64::MAX)).is_err());
        assert_eq!(offset(Some(MAX_OFFSET)).unwrap(), MAX_OFFSET);
    }

    fn cursor() -> Cursor {
        Cursor {
            sort: "-title".into(),
            value: Value::from("Dune"),
            key: Value::from("0190a3c4-0000-7000-8000-000000000001"),
        }
    }

    #[test]
    fn a_sealed_cursor_opens_for_its_list_and_ordering_only() {
        let seal = CursorSeal::new(b"a-secret-of-thirty-two-bytes-or-more!!");
        let text = seal.seal("listBooks", &cursor());
        // Two base64url parts: safe in a query string without escaping.
        let (body, tag) = text.split_once('.').unwrap();
        assert!(
            [body, tag].iter().all(|part| !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')),
            "{text}"
        );
        assert_eq!(
            seal.open("listBooks", "-title", Some(&text)).unwrap(),
            Some(cursor())
        );
        assert_eq!(seal.open("listBooks", "-title", None).unwrap(), None);
        assert_eq!(seal.open("listBooks", "-title", Some("")).unwrap(), None);
        assert!(
            seal.open("listAuthors", "-title", Some(&text)).is_err(),
            "another list's cursor"
        );
        assert!(
            seal.open("listBooks", "title", Some(&text)).is_err(),
            "another ordering's cursor"
        );
        let other = CursorSeal::new(b"another-secret-of-thirty-two-bytes!!!");
        assert!(
            other.open("listBooks", "-title", Some(&text)).is_err(),
            "another service's cursor"
        );
    }

    #[test]
    fn a_tampered_or_malformed_cursor_is_refused() {
        let seal = CursorSeal::new(b"a-secret-of-thirty-two-bytes-or-more!!");
        let text = seal.seal("listBooks", &cursor());
        let (body, tag) = text.split_once('.').unwrap();
        let mut forged = cursor();
        forged.key = Value::from("0190a3c4-0000-7000-8000-000000000999");
        let forged_body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        for bad in [
            format!("{forged_body}.{tag}"),
            format!("{body}.{}", &tag[1..]),
            format!("{body}x.{tag}"),
            "o40".to_string(),
            "nonsense!".to_string(),
            format!("{body}.{}", URL_SAFE_NO_PAD.encode([0u8; 16])),
            "a".repeat(MAX_CURSOR_LEN + 1),
        ] {
            match seal.open("listBooks", "-title", Some(&bad)) {
                Err(ApiError::BadRequest(_)) => {}
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn cursor_values_decode_as_the_column_types() {
        let c = cursor();
        assert_eq!(c.value_as::<String>().unwrap().as_deref(), Some("Dune"));
        assert!(c.value_as::<i64>().is_err());
        let null = Cursor {
            value: Value::Null,
            ..cursor()
        };
        assert_eq!(null.value_as::<String>().unwrap(), None);
        assert!(c.key_as::<uuid::Uuid>().is_ok());
        assert!(c.key_as::<i64>().is_err());
    }

    #[test]
    fn orderings_break_ties_by_key_in_their_direction() {
        let asc = Sort::asc("title", "title");
        let desc = Sort::desc("-title", "title");
        assert_eq!(
            order_by(&asc, "id", false),
            " ORDER BY \"title\" ASC, \"id\" ASC"
        );
        assert_eq!(
            order_by(&desc, "id", true),
            " ORDER BY \"title\" DESC NULLS FIRST, \"id\" DESC"
        );
        assert_eq!(
            order_by(&Sort::asc("", "id"), "id", false),
            " ORDER BY \"id\" ASC"
        );
    }

    /// Pages through `rows` (title, id) in `sort`'s order by seeking, `size` at a time,
    /// inserting a row before every page: every row present from the start is seen once.
    #[cfg(feature = "sqlite")]
    async fn seek_all(
        sort: Sort,
        nullable: bool,
        rows: &[(Option<&str>, i64)],
        size: i64,
    ) -> Vec<i64> {
        let pool = crate::db::connect("sqlite::memory:", &crate::db::PoolSettings::TEST)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, title TEXT)")
            .execute(&pool)
            .await
            .unwrap();
        for (title, id) in rows {
            sqlx::query("INSERT INTO t (id, title) VALUES ($1, $2)")
                .bind(id)
                .bind(title)
                .execute(&pool)
                .await
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut after: Option<(Option<String>, i64)> = None;
        let mut fresh = 10_000;
        let titles = [Some("0"), Some("b"), Some("zz"), None];
        loop {
            // A concurrent writer: before each of the first pages a new row lands somewhere
            // in the order (before the cursor, among the rows to come, at the end, a NULL).
            if fresh < 10_008 {
                fresh += 1;
                sqlx::query("INSERT INTO t (id, title) VALUES ($1, $2)")
                    .bind(fresh)
                    .bind(titles[fresh as usize % titles.len()])
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            let mut qb = QueryBuilder::<Db>::new("SELECT id, title FROM t WHERE 1 = 1");
            if let Some((v, k)) = after.clone() {
                push_after(&mut qb, &sort, "id", nullable, v, k);
            }
            qb.push(order_by(&sort, "id", nullable));
            qb.push(" LIMIT ").push_bind(size);
            let page: Vec<(i64, Option<String>)> =
                qb.build_query_as().fetch_all(&pool).await.unwrap();
            let Some(last) = page.last().cloned() else {
                break;
            };
            seen.extend(page.iter().map(|(id, _)| *id).filter(|id| *id < 10_000));
            after = Some((last.1, last.0));
        }
        seen
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn seeking_sees_every_row_once_in_order_under_concurrent_inserts() {
        let rows: Vec<(Option<&str>, i64)> = vec![
            (Some("b"), 1),
            (None, 2),
            (Some("a"), 3),
            (Some("b"), 4),
            (None, 5),
            (Some("c"), 6),
            (Some("a"), 7),
            (Some("b"), 8),
            (None, 9),
            (Some("d"), 10),
        ];
        for sort in [
            Sort::asc("title", "title"),
            Sort::desc("-title", "title"),
            Sort::asc("", "id"),
            Sort::desc("-id", "id"),
        ] {
            let mut seen = seek_all(sort, true, &rows, 3).await;
            let mut expected: Vec<(Option<&str>, i64)> = rows.clone();
            expected.sort_by(|a, b| {
                let by_title = match (a.0, b.0) {
                    (None, None) => std::cmp::Ordering::Equal,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (Some(x), Some(y)) => x.cmp(y),
                };
                let o = if sort.column == "id" {
                    a.1.cmp(&b.1)
                } else {
                    by_title.then(a.1.cmp(&b.1))
                };
                if sort.descending {
                    o.reverse()
                } else {
                    o
                }
            });
            let want: Vec<i64> = expected.iter().map(|r| r.1).collect();
            assert_eq!(seen, want, "{sort:?}");
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), rows.len(), "no row repeats");
        }
        // A NOT NULL column seeks with one row-value comparison.
        let dense: Vec<(Option<&str>, i64)> = vec![
            (Some("b"), 1),
            (Some("a"), 2),
            (Some("b"), 3),
            (Some("a"), 4),
            (Some("c"), 5),
        ];
        assert_eq!(
            seek_all(Sort::asc("title", "title"), false, &dense, 2).await,
            vec![2, 4, 1, 3, 5]
        );
        assert_eq!(
            seek_all(Sort::desc("-title", "title"), false, &dense, 2).await,
            vec![5, 3, 1, 4, 2]
        );
    }
}
