//! JSON Merge Patch (RFC 7396) in typed structs.
//!
//! A PATCH body is a struct with one field per property the client may change. A
//! property that cannot be `null` is an `Option<T>`: absent leaves the value alone. A
//! nullable property is an `Option<Option<T>>`: absent is `None`, `null` is `Some(None)`
//! (RFC 7396 §2: a `null` member removes the value), a value is `Some(Some(v))`. serde
//! alone reads both absent and `null` as `None`; [`nullable`] tells them apart:
//!
//! ```
//! #[derive(serde::Deserialize)]
//! struct BookPatch {
//!     #[serde(default)]
//!     title: Option<String>,
//!     #[serde(default, deserialize_with = "apigen_runtime::patch::nullable")]
//!     isbn: Option<Option<String>>,
//! }
//! let p: BookPatch = serde_json::from_str(r#"{"isbn": null}"#).unwrap();
//! assert_eq!((p.title, p.isbn), (None, Some(None)));
//! ```

use serde::{Deserialize, Deserializer};

/// Deserialises a present member as `Some(value)`, `null` included (`Some(None)`); with
/// `#[serde(default)]`, an absent member stays `None`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Applies one member of a patch: a changed value replaces `target`. The patch is
/// borrowed, so a write retried after a concurrent change applies it again.
pub fn apply<T: Clone>(target: &mut T, change: &Option<T>) {
    if let Some(v) = change {
        *target = v.clone();
    }
}

/// Applies a member to an optional stored value that the patch cannot null: a value
/// becomes `Some(value)`, absence leaves it.
pub fn apply_some<T: Clone>(target: &mut Option<T>, change: &Option<T>) {
    if let Some(v) = change {
        *target = Some(v.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Patch {
        #[serde(default)]
        name: Option<String>,
        #[serde(default, deserialize_with = "nullable")]
        note: Option<Option<String>>,
    }

    #[test]
    fn absent_null_and_a_value_are_three_different_changes() {
        let absent: Patch = serde_json::from_str("{}").unwrap();
        assert_eq!((absent.name, absent.note), (None, None));
        let null: Patch = serde_json::from_str(r#"{"note": null}"#).unwrap();
        assert_eq!(null.note, Some(None));
        let value: Patch = serde_json::from_str(r#"{"name": "n", "note": "x"}"#).unwrap();
        assert_eq!(
            (value.name.as_deref(), value.note),
            (Some("n"), Some(Some("x".to_string())))
        );
    }

    #[test]
    fn apply_changes_only_what_the_patch_names() {
        let mut note = Some("kept".to_string());
        apply(&mut note, &None);
        assert_eq!(note.as_deref(), Some("kept"));
        apply(&mut note, &Some(None));
        assert_eq!(note, None);
        let mut name = "a".to_string();
        apply(&mut name, &Some("b".to_string()));
        assert_eq!(name, "b");
        let mut isbn: Option<String> = None;
        apply_some(&mut isbn, &None);
        assert_eq!(isbn, None);
        apply_some(&mut isbn, &Some("x".to_string()));
        assert_eq!(isbn.as_deref(), Some("x"));
    }
}
