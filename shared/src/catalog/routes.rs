//! `GET /products`, `GET /products/{sku}` (public, cacheable), and `PUT` and
//! `DELETE /products/{sku}` (the `admin` role).

use lambda_http::http::StatusCode;
use lambda_http::http::header::{self, HeaderMap, HeaderValue};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use super::listing::{ListingCursor, Listings, Sort, shelf_of};
use super::product::{Category, Product, ProductView, RawProduct};
use super::store::{CatalogStore, Written};
use super::{CatalogSettings, Products};
use crate::accounts::auth::Caller;
use crate::accounts::roles::{Role, require};
use crate::aws::AwsClients;
use crate::cache::{Draws, L2Settings, system_clock};
use crate::cart::items::Sku;
use crate::config::Environment;
use crate::http::{Problem, ProblemCode, invalid_query, json, json_body, no_content, version_etag};
use crate::route::{AuthenticatedRoute, Calls, Route};
use crate::startup::StartupError;
use crate::time::Timestamp;

/// `Cache-Control` of the public reads: HTTP caches may add `seconds` to
/// the service's own staleness bound.
fn public(seconds: u64) -> HeaderValue {
    HeaderValue::try_from(format!("public, max-age={seconds}"))
        .unwrap_or_else(|_| HeaderValue::from_static("no-cache"))
}

fn invalid_product(field: &str, why: &str) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        ProblemCode::InvalidProduct,
        "The product is invalid",
        format!("`{field}` {why}"),
    )
}

fn no_such_product() -> Problem {
    Problem::not_found("no product has this sku")
}

/// The `{sku}` of the path, if it could name a product.
fn path_sku(request: &Request) -> Option<Sku> {
    request
        .path_parameters_ref()
        .and_then(|p| p.first("sku"))
        .and_then(|raw| Sku::parse(raw).ok())
}

/// `GET /products`.
pub struct ListProducts {
    listings: Listings,
    max_age: u64,
}

/// The body of `GET /products`.
#[derive(Serialize)]
struct ListingView {
    products: Vec<ProductView>,
    next_cursor: Option<String>,
}

impl ListProducts {
    /// The route over these listings, answering `max-age` `max_age`.
    pub fn new(listings: Listings, max_age: u64) -> Self {
        Self { listings, max_age }
    }
}

impl Route for ListProducts {
    const CALLS: Calls = Calls::new(
        5,
        "cold: the listing's version, the cache table, the lease, one query per 100 products, the chunk kept; warm: none",
    );

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        let settings = CatalogSettings::from_env(env)?;
        let listings = super::listings(
            &settings,
            aws,
            env.require("CACHE_TABLE")?,
            L2Settings::default(),
            system_clock(),
            Draws::new(),
        );
        Ok(Self::new(listings, settings.ttl_seconds))
    }

    /// A page of one category (or of everything), by name or price.
    async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        let query = request.query_string_parameters_ref();
        let first = |name| query.and_then(|q| q.first(name));
        let category = first("category")
            .map(|raw| {
                Category::parse(raw).map_err(|why| invalid_query(&format!("`category` {why}")))
            })
            .transpose()?;
        let sort = match first("sort") {
            None => Sort::Name,
            Some(raw) => {
                Sort::parse(raw).ok_or_else(|| invalid_query("`sort` must be `name` or `price`"))?
            }
        };
        let limit = crate::http::page_limit(first("limit"))?;
        let shelf = shelf_of(category);
        let cursor = first("cursor")
            .map(|raw| {
                ListingCursor::decode(raw, &shelf, sort).ok_or_else(|| {
                    invalid_query("`cursor` is not a cursor this API gave out for this listing")
                })
            })
            .transpose()?;
        let limit = usize::try_from(limit).unwrap_or(20);
        let page = self
            .listings
            .page(&shelf, sort, limit, cursor.as_ref())
            .await?;
        let mut response = json(
            StatusCode::OK,
            &ListingView {
                products: page.products,
                next_cursor: page.next.as_ref().map(ListingCursor::encode),
            },
        )?;
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, public(self.max_age));
        Ok(response)
    }
}

/// `GET /products/{sku}`.
pub struct GetProduct {
    products: Products,
    max_age: u64,
}

/// Whether `If-None-Match` names `version` (weak comparison; `*` matches).
fn none_match(headers: &HeaderMap, version: u64) -> bool {
    let ours = format!("\"{version}\"");
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == ours)
}

/// A product as an answer: its view, its ETag, cacheable for `max_age`.
fn product_response(
    status: StatusCode,
    product: &Product,
    max_age: u64,
) -> Result<Response<Body>, Problem> {
    let mut response = json(status, &ProductView::from(product))?;
    let headers = response.headers_mut();
    headers.insert(header::ETAG, version_etag(product.version));
    headers.insert(header::CACHE_CONTROL, public(max_age));
    Ok(response)
}

impl Route for GetProduct {
    const CALLS: Calls = Calls::new(1, "the product (none while the L1 holds it)");

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        let settings = CatalogSettings::from_env(env)?;
        Ok(Self {
            products: Products::new(settings.store(aws), settings.ttl_seconds, system_clock()),
            max_age: settings.ttl_seconds,
        })
    }

    /// The product, or 304 when `If-None-Match` names its version.
    async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        let sku = path_sku(&request).ok_or_else(no_such_product)?;
        let product = self.products.get(&sku).await?.ok_or_else(no_such_product)?;
        if none_match(request.headers(), product.version) {
            let mut response = Response::new(Body::Empty);
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            let headers = response.headers_mut();
            headers.insert(header::ETAG, version_etag(product.version));
            headers.insert(header::CACHE_CONTROL, public(self.max_age));
            return Ok(response);
        }
        product_response(StatusCode::OK, &product, self.max_age)
    }
}

/// `PUT /products/{sku}`.
pub struct PutProduct {
    store: CatalogStore,
    currency: String,
    max_age: u64,
}

/// The version `If-Match` names: `None` without one; 400 for a malformed one.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let malformed = || {
        Problem::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::InvalidPrecondition,
            "The precondition header is malformed",
            "`if-match` must be one quoted ETag of this product",
        )
    };
    let text = value.to_str().map_err(|_| malformed())?.trim();
    let inner = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .ok_or_else(malformed)?;
    // Ours are decimal versions without leading zeros; any other tag
    // matches no version there is.
    Ok(Some(
        inner
            .parse::<u64>()
            .ok()
            .filter(|v| v.to_string() == inner)
            .unwrap_or(u64::MAX),
    ))
}

fn precondition_failed() -> Problem {
    Problem::new(
        StatusCode::PRECONDITION_FAILED,
        ProblemCode::PreconditionFailed,
        "The product has changed",
        "the product is not at the version `If-Match` names (or changed while this write ran)",
    )
}

impl AuthenticatedRoute for PutProduct {
    const CALLS: Calls = Calls::new(2, "the product's version, one transaction");

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        let settings = CatalogSettings::from_env(env)?;
        Ok(Self {
            store: settings.store(aws),
            currency: settings.currency,
            max_age: settings.ttl_seconds,
        })
    }

    /// Creates (201) or replaces (200) the product; 412 when `If-Match` is stale.
    async fn answer(&self, caller: Caller, request: &Request) -> Result<Response<Body>, Problem> {
        require(caller.roles(), Role::Admin)?;
        let sku = request
            .path_parameters_ref()
            .and_then(|p| p.first("sku"))
            .map(|raw| Sku::parse(raw).map_err(|why| invalid_product("sku", &why)))
            .transpose()?
            .ok_or_else(no_such_product)?;
        let expected = if_match(request.headers())?;
        let raw: RawProduct = json_body(request)?;
        let fields = raw
            .parse(&self.currency)
            .map_err(|(field, why)| invalid_product(&field, &why))?;
        match self
            .store
            .put(&sku, &fields, expected, Timestamp::now())
            .await?
        {
            Written::Created(product) => {
                product_response(StatusCode::CREATED, &product, self.max_age)
            }
            Written::Replaced(product) => product_response(StatusCode::OK, &product, self.max_age),
            Written::Conflict => Err(precondition_failed()),
        }
    }
}

/// `DELETE /products/{sku}`.
pub struct DeleteProduct {
    store: CatalogStore,
}

impl AuthenticatedRoute for DeleteProduct {
    const CALLS: Calls = Calls::new(2, "the product's version, one transaction");

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            store: CatalogSettings::from_env(env)?.store(aws),
        })
    }

    /// 204, or 404 when there is no such product.
    async fn answer(&self, caller: Caller, request: &Request) -> Result<Response<Body>, Problem> {
        require(caller.roles(), Role::Admin)?;
        let sku = path_sku(request).ok_or_else(no_such_product)?;
        if self.store.delete(&sku).await? {
            Ok(no_content())
        } else {
            Err(no_such_product())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn if_none_match_compares_weakly() {
        for (value, matches) in [
            ("\"3\"", true),
            ("W/\"3\"", true),
            ("\"1\", \"3\"", true),
            ("*", true),
            ("\"4\"", false),
            ("3", false),
        ] {
            assert_eq!(
                none_match(&headers(header::IF_NONE_MATCH, value), 3),
                matches,
                "{value}"
            );
        }
        assert!(!none_match(&HeaderMap::new(), 3));
    }

    #[test]
    fn if_match_names_one_version() {
        assert_eq!(if_match(&HeaderMap::new()).unwrap(), None);
        assert_eq!(
            if_match(&headers(header::IF_MATCH, "\"7\"")).unwrap(),
            Some(7)
        );
        assert_eq!(
            if_match(&headers(header::IF_MATCH, "\"07\"")).unwrap(),
            Some(u64::MAX)
        );
        assert!(if_match(&headers(header::IF_MATCH, "7")).is_err());
    }
}
