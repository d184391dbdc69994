//! `GET /cart` and `PUT /cart`: optimistic concurrency with ETags. A write
//! names the version it read (`If-Match`); the store refuses it if the cart
//! has moved on, so two instances writing at once can never lose an update.
//! Both answer the cart priced from the catalog at today's prices (through
//! its L1), so `GET /cart` has no 304: the ETag is the cart's version, the
//! validator of `If-Match`, and the priced answer changes with a price.

use lambda_http::http::StatusCode;
use lambda_http::http::header::{self, HeaderMap, HeaderValue};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use super::items::{CartItems, InvalidItems, RawLine};
use super::store::{Cart, CartStore};
use crate::accounts::auth::Caller;
use crate::accounts::routes::StartupError;
use crate::aws::AwsClients;
use crate::cache::system_clock;
use crate::catalog::prices::{PricedLine, PricedLines, check_known, price};
use crate::catalog::product::Price;
use crate::catalog::{CatalogSettings, Products};
use crate::config::{ConfigError, Environment};
use crate::http::{Problem, ProblemCode, json, json_body, version_etag};
use crate::route::{AuthenticatedRoute, Calls};
use crate::time::Timestamp;

/// Most entity tags one `If-Match` may list.
const MAX_IF_MATCH_TAGS: usize = 16;

pub(crate) fn cart_store(env: &Environment, aws: &AwsClients) -> Result<CartStore, ConfigError> {
    Ok(CartStore::new(
        aws.dynamodb().clone(),
        env.require("CARTS_TABLE")?,
    ))
}

/// The body of both routes.
#[derive(Debug, Serialize)]
struct CartView {
    items: Vec<PricedLine>,
    total: Price,
    version: u64,
}

/// What both routes price a cart with: the catalog's products through an
/// L1, and its currency.
pub struct Pricing {
    products: Products,
    currency: String,
}

impl Pricing {
    /// From the function's catalog settings.
    pub fn from_env(env: &Environment, aws: &AwsClients) -> Result<Self, ConfigError> {
        let settings = CatalogSettings::from_env(env)?;
        Ok(Self {
            products: Products::new(settings.store(aws), settings.ttl_seconds, system_clock()),
            currency: settings.currency,
        })
    }

    /// `cart` priced, as an answer with its ETag.
    async fn response(&self, status: StatusCode, cart: &Cart) -> Result<Response<Body>, Problem> {
        let priced = price(&self.products, &cart.items, &self.currency).await?;
        cart_response(status, cart, priced)
    }
}

/// The cart as a response, with its ETag; private to the caller, and a
/// cache must revalidate it before every use.
pub fn cart_response(
    status: StatusCode,
    cart: &Cart,
    priced: PricedLines,
) -> Result<Response<Body>, Problem> {
    let view = CartView {
        items: priced.items,
        total: priced.total,
        version: cart.version,
    };
    let mut response = json(status, &view)?;
    let headers = response.headers_mut();
    headers.insert(header::ETAG, version_etag(cart.version));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(response)
}

/// One entity tag of a conditional header.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EntityTag {
    /// `*`.
    Any,
    /// `"<version>"`, one of ours.
    Strong(u64),
    /// `W/"..."` or a strong tag that is not one of ours: matches no cart
    /// under If-Match's strong comparison.
    Other { weak_version: Option<u64> },
}

fn invalid_precondition(header_name: &str, why: &str) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        ProblemCode::InvalidPrecondition,
        "The precondition header is malformed",
        format!("`{header_name}` {why}"),
    )
}

/// The entity tags of every `name` header (RFC 9110 list syntax); `None`
/// when there is no such header.
fn entity_tags(
    headers: &HeaderMap,
    name: header::HeaderName,
) -> Result<Option<Vec<EntityTag>>, Problem> {
    let mut values = headers.get_all(&name).iter().peekable();
    if values.peek().is_none() {
        return Ok(None);
    }
    let mut tags = Vec::new();
    for value in values {
        let text = value
            .to_str()
            .map_err(|_| invalid_precondition(name.as_str(), "must be ASCII"))?;
        for raw in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            tags.push(parse_entity_tag(raw).ok_or_else(|| {
                invalid_precondition(name.as_str(), "must be `*` or a list of quoted entity tags")
            })?);
            if tags.len() > MAX_IF_MATCH_TAGS {
                return Err(invalid_precondition(
                    name.as_str(),
                    &format!("may list at most {MAX_IF_MATCH_TAGS} entity tags"),
                ));
            }
        }
    }
    if tags.is_empty() {
        return Err(invalid_precondition(name.as_str(), "is empty"));
    }
    Ok(Some(tags))
}

fn parse_entity_tag(raw: &str) -> Option<EntityTag> {
    if raw == "*" {
        return Some(EntityTag::Any);
    }
    let (weak, quoted) = match raw.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('"') {
        return None;
    }
    // Ours are decimal versions without leading zeros.
    let version = inner.parse::<u64>().ok().filter(|v| v.to_string() == inner);
    Some(match (weak, version) {
        (false, Some(version)) => EntityTag::Strong(version),
        (_, weak_version) => EntityTag::Other { weak_version },
    })
}

/// `GET /cart`.
pub struct GetCart {
    carts: CartStore,
    pricing: Pricing,
}

impl AuthenticatedRoute for GetCart {
    const CALLS: Calls = Calls::new(1, "the cart (and each line's product the L1 lacks)");
    const READ_ONLY: bool = true;

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            carts: cart_store(env, aws)?,
            pricing: Pricing::from_env(env, aws)?,
        })
    }

    /// The caller's cart priced at today's prices, and its ETag (never a
    /// 304: the price of a line may have changed at the same version).
    async fn answer(&self, caller: Caller, _request: &Request) -> Result<Response<Body>, Problem> {
        let cart = self.carts.get(caller.user_id()).await?;
        self.pricing.response(StatusCode::OK, &cart).await
    }
}

/// `PUT /cart`.
pub struct PutCart {
    carts: CartStore,
    pricing: Pricing,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutCartBody {
    items: Vec<RawLine>,
}

fn precondition_required(detail: &str) -> Problem {
    Problem::new(
        StatusCode::PRECONDITION_REQUIRED,
        ProblemCode::PreconditionRequired,
        "If-Match is required",
        detail,
    )
}

impl AuthenticatedRoute for PutCart {
    const CALLS: Calls = Calls::new(
        2,
        "each line's product the L1 lacks (one, cold), one conditional write",
    );

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            carts: cart_store(env, aws)?,
            pricing: Pricing::from_env(env, aws)?,
        })
    }

    /// Replaces the caller's lines if the cart is still at the `If-Match`
    /// version and the catalog has every sku (400 `unknown_sku` otherwise).
    async fn answer(&self, caller: Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let (versions, items) = replacement(request)?;
        check_known(&self.pricing.products, &items).await?;
        match self
            .carts
            .replace(caller.user_id(), &items, &versions, Timestamp::now())
            .await?
        {
            Some(cart) => self.pricing.response(StatusCode::OK, &cart).await,
            None => Err(Problem::new(
                StatusCode::PRECONDITION_FAILED,
                ProblemCode::PreconditionFailed,
                "The cart has changed",
                "the cart changed since that ETag; GET /cart and apply the change again",
            )),
        }
    }
}

/// What a `PUT /cart` asks for, checked without I/O: the versions it may
/// replace (`If-Match`) and the new lines.
pub fn replacement(request: &Request) -> Result<(Vec<u64>, CartItems), Problem> {
    let versions = expected_versions(request.headers())?;
    let body: PutCartBody = json_body(request)?;
    let items = CartItems::parse(body.items).map_err(invalid_items)?;
    Ok((versions, items))
}

/// The versions `If-Match` allows a write over: 428 without one, and for `*`
/// (which would overwrite whatever is there: the lost update ETags prevent).
fn expected_versions(headers: &HeaderMap) -> Result<Vec<u64>, Problem> {
    let Some(tags) = entity_tags(headers, header::IF_MATCH)? else {
        return Err(precondition_required(
            "send If-Match with the ETag of GET /cart, so that no concurrent change is lost",
        ));
    };
    if tags.contains(&EntityTag::Any) {
        return Err(precondition_required(
            "If-Match: * would overwrite any cart; send the ETag of GET /cart",
        ));
    }
    // Weak and foreign tags never match strongly; with none left, nothing matches.
    Ok(tags
        .into_iter()
        .filter_map(|tag| match tag {
            EntityTag::Strong(version) => Some(version),
            _ => None,
        })
        .collect())
}

fn invalid_items(error: InvalidItems) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        ProblemCode::InvalidItems,
        "The cart's items are invalid",
        error.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: header::HeaderName, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn etags_are_quoted_versions() {
        assert_eq!(version_etag(0), "\"0\"");
        assert_eq!(version_etag(42), "\"42\"");
        assert_eq!(parse_entity_tag("\"42\""), Some(EntityTag::Strong(42)));
    }

    #[test]
    fn if_match_is_required_and_star_is_not_enough() {
        let none = HeaderMap::new();
        assert_eq!(
            expected_versions(&none).unwrap_err().status(),
            StatusCode::PRECONDITION_REQUIRED
        );
        let star = headers(header::IF_MATCH, &["*"]);
        assert_eq!(
            expected_versions(&star).unwrap_err().status(),
            StatusCode::PRECONDITION_REQUIRED
        );
    }

    #[test]
    fn lists_and_repeated_headers_are_all_read() {
        let map = headers(header::IF_MATCH, &["\"1\", \"5\"", "\"9\""]);
        assert_eq!(expected_versions(&map).unwrap(), vec![1, 5, 9]);
    }

    #[test]
    fn weak_and_foreign_tags_match_nothing() {
        for value in ["W/\"3\"", "\"abc\"", "\"03\"", "\"-1\""] {
            let map = headers(header::IF_MATCH, &[value]);
            assert_eq!(
                expected_versions(&map).unwrap(),
                Vec::<u64>::new(),
                "{value}"
            );
        }
    }

    #[test]
    fn malformed_tags_are_400() {
        for value in [
            "3",
            "\"3",
            "W/3",
            "\"a\"b\"",
            ",",
            &"\"1\",".repeat(MAX_IF_MATCH_TAGS + 1),
        ] {
            let map = headers(header::IF_MATCH, &[value]);
            let problem = expected_versions(&map).unwrap_err();
            assert_eq!(problem.status(), StatusCode::BAD_REQUEST, "{value}");
        }
    }
}
