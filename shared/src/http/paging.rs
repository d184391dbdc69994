//! Paged listings: `?limit=&cursor=` in, `next_cursor` out. A cursor is an
//! opaque token this API gave out (the id the next page starts after); one
//! it did not give out is a 400, never a store call.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use super::codes::ProblemCode;
use super::{Problem, json, no_store};
use crate::aws::Page;
use crate::ids::is_id;

/// Default page size.
pub const DEFAULT_PAGE: u32 = 20;
/// Largest page size.
pub const MAX_PAGE: u32 = 100;

/// What page a listing asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many entries.
    pub limit: u32,
    /// Start after this id.
    pub after: Option<String>,
}

/// A page's `limit` query parameter: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`]
/// when absent, else 400.
pub fn page_limit(raw: Option<&str>) -> Result<u32, Problem> {
    match raw {
        None => Ok(DEFAULT_PAGE),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                invalid_query(&format!(
                    "`limit` must be a whole number from 1 to {MAX_PAGE}"
                ))
            }),
    }
}

impl PageRequest {
    /// Reads `limit` (1 to [`MAX_PAGE`], default [`DEFAULT_PAGE`]) and `cursor`.
    pub fn from_request(request: &Request) -> Result<Self, Problem> {
        let query = request.query_string_parameters_ref();
        let limit = page_limit(query.and_then(|q| q.first("limit")))?;
        let after = match query.and_then(|q| q.first("cursor")) {
            None => None,
            Some(raw) => Some(
                parse_cursor(raw)
                    .ok_or_else(|| invalid_query("`cursor` is not a cursor this API gave out"))?,
            ),
        };
        Ok(Self { limit, after })
    }
}

/// The opaque cursor of the page after `id`.
pub fn cursor_after(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("after:{id}"))
}

/// A listing's answer, never cached: `{"<field>": [...], "next_cursor": ...}`
/// with each record of `page` shown as `view` shows it, the cursor `null` on
/// the last page.
pub fn page_response<T, V: Serialize>(
    field: &str,
    page: Page<T>,
    view: impl FnMut(T) -> V,
) -> Result<Response<Body>, Problem> {
    let items: Vec<V> = page.items.into_iter().map(view).collect();
    let body = serde_json::json!({
        field: items,
        "next_cursor": page.next_after.as_deref().map(cursor_after),
    });
    Ok(no_store(json(StatusCode::OK, &body)?))
}

fn parse_cursor(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let id = text.strip_prefix("after:")?;
    is_id(id).then(|| id.to_string())
}

/// 400 `invalid_query`: a query parameter the route cannot take.
pub fn invalid_query(detail: &str) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        ProblemCode::InvalidQuery,
        "The query is invalid",
        detail,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::new_id;

    #[test]
    fn cursors_round_trip_and_forgeries_are_refused() {
        let id = new_id();
        assert_eq!(parse_cursor(&cursor_after(&id)), Some(id));
        for forged in ["", "x", "!!", &URL_SAFE_NO_PAD.encode("after:../x")] {
            assert_eq!(parse_cursor(forged), None, "{forged}");
        }
    }
}
