//! Cursor pagination, shared by every list endpoint.
//!
//! A cursor is opaque to clients, so the ordering key can change later without breaking them:
//! today the last id they saw, as 8 bytes big-endian in unpadded base64url — always 11
//! characters. The document declares that shape as a pattern ([`super::docs::CURSOR`]), and
//! every value of that shape is a position (past the last id: an empty page), so a client (or a
//! generated one) that sends what the document allows is never refused. Pages are in ascending
//! id order; `limit` defaults to 50 and is capped at 200.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use crate::store::Page;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 200;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T: ToSchema> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> Paginated<T> {
    /// Converts a store page, mapping each row to its API view.
    pub fn from_page<R>(page: Page<R>, view: impl Fn(R) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(view).collect(),
            next_cursor: page
                .next_after
                .map(|id| URL_SAFE_NO_PAD.encode(id.to_be_bytes())),
        }
    }
}

/// Decodes `cursor` and checks `limit`: `(after_id, limit)`.
pub fn window(cursor: Option<&str>, limit: Option<u32>) -> Result<(i64, i64), ApiError> {
    let after = match cursor {
        None | Some("") => 0,
        Some(c) => URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(|b| i64::try_from(u64::from_be_bytes(b)).unwrap_or(i64::MAX))
            .ok_or_else(|| ApiError::field("cursor", "is not a cursor returned by this list"))?,
    };
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok((after, i64::from(limit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_eleven_base64url_characters_and_every_such_value_is_a_position() {
        let page = |after| Page {
            items: Vec::<i64>::new(),
            next_after: Some(after),
        };
        for id in [0, 1, 4711, i64::MAX] {
            let cursor = Paginated::from_page(page(id), |x| x)
                .next_cursor
                .expect("cursor");
            assert_eq!(cursor.len(), 11, "{cursor}");
            assert_eq!(window(Some(&cursor), None).expect("valid").0, id);
        }
        // Any value of the documented shape is accepted: past every id, an empty page.
        assert_eq!(
            window(Some("__________8"), None).expect("valid").0,
            i64::MAX
        );
        assert_eq!(window(Some("AAAAAAAAAAA"), None).expect("valid").0, 0);
        for bad in ["!!", "MTIz", "AAAAAAAAAAB", "AAAAAAAAAAAA"] {
            assert!(window(Some(bad), None).is_err(), "{bad}");
        }
    }
}
