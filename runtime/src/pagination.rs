//! Paging: opaque cursors and the page a list returns.
//!
//! A cursor is `o` and the offset of the next row in decimal (`o40`). Clients treat it as
//! opaque; its exact shape, `^o[0-9]{1,18}$`, is what the served contract documents, so
//! every cursor the contract allows decodes (the `o` leaves room for other kinds later).

use crate::error::ApiError;

/// The most rows one page may hold, whatever the client asks.
pub const MAX_PAGE: i64 = 100;

/// Rows of one page and its `meta` object.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub meta: serde_json::Value,
}

/// Encodes the position after a page as an opaque cursor.
pub fn encode_cursor(offset: i64) -> String {
    format!("o{offset}")
}

/// Decodes a cursor from `encode_cursor`; no cursor is the first page. Errors: 400.
pub fn decode_cursor(cursor: Option<&str>) -> Result<i64, ApiError> {
    let Some(c) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(0);
    };
    c.strip_prefix('o')
        .filter(|n| (1..=18).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| ApiError::BadRequest("invalid cursor".into()))
}

/// Clamps a requested page size into `1..=MAX_PAGE`.
pub fn clamp_limit(limit: i64) -> i64 {
    limit.clamp(1, MAX_PAGE)
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

/// The page size for a requested `limit`: [`MAX_PAGE`] when none is asked, clamped into
/// `1..=MAX_PAGE`.
pub fn limit(requested: impl PageParam) -> i64 {
    clamp_limit(requested.requested().unwrap_or(MAX_PAGE))
}

/// The rows to skip for a requested `offset` (0 when none; negative counts as 0).
pub fn offset(requested: impl PageParam) -> i64 {
    requested.requested().unwrap_or(0).max(0)
}

/// The rows to skip for a requested page number (1-based; none or below 1 is page 1).
pub fn page_offset(page: impl PageParam, limit: i64) -> i64 {
    (page.requested().unwrap_or(1).max(1) - 1).saturating_mul(limit)
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
        assert_eq!(limit(None::<i64>), MAX_PAGE);
        assert_eq!(limit(Some(5_i32)), 5);
        assert_eq!(limit(1000_i64), MAX_PAGE);
        assert_eq!(offset(Some(-3_i64)), 0);
        assert_eq!(offset(7_i32), 7);
        assert_eq!(page_offset(None::<i32>, 20), 0);
        assert_eq!(page_offset(Some(3_i64), 20), 40);
        assert_eq!(page_offset(0_i64, 20), 0);
    }

    #[test]
    fn limits_are_clamped_into_one_page() {
        assert_eq!(clamp_limit(0), 1);
        assert_eq!(clamp_limit(-5), 1);
        assert_eq!(clamp_limit(20), 20);
        assert_eq!(clamp_limit(10_000), MAX_PAGE);
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(decode_cursor(Some(&encode_cursor(40))).unwrap(), 40);
        assert_eq!(decode_cursor(None).unwrap(), 0);
        assert!(decode_cursor(Some("nonsense!")).is_err());
        assert!(decode_cursor(Some("o")).is_err());
        assert!(decode_cursor(Some("o-1")).is_err());
        assert_eq!(
            decode_cursor(Some("o999999999999999999")).unwrap(),
            999_999_999_999_999_999
        );
    }
}
