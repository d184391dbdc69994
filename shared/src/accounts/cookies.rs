//! The cookies of accounts: the refresh cookie that browsers refresh with,
//! the device cookie that keeps a known device's login budget its own, and
//! the origin check that guards every cookie-borne credential against
//! cross-site (and sibling-subdomain, same-site) requests.

use lambda_http::http::header::{self, HeaderValue};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use super::account_key::{AccountKeys, same};
use crate::config::{ConfigError, Environment};
use crate::ids::{is_id, new_id};

/// The refresh cookie's name: `__Host-` pins it to this host, `/` and Secure.
pub const REFRESH_COOKIE: &str = "__Host-refresh_token";
/// The device cookie's name.
pub const DEVICE_COOKIE: &str = "__Host-device";
/// How long a device stays known without another login (a year).
const DEVICE_COOKIE_MAX_AGE: u64 = 365 * 24 * 3600;

/// The value of cookie `name`, if the request carries it.
pub fn read(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

/// Appends a `__Host-` cookie: Secure, HttpOnly, SameSite=Strict, Path=/.
fn set(response: &mut Response<Body>, name: &str, value: &str, max_age: u64) {
    let cookie =
        format!("{name}={value}; Max-Age={max_age}; Path=/; Secure; HttpOnly; SameSite=Strict");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Sets the refresh cookie to `token` for `max_age` seconds.
pub fn set_refresh(response: &mut Response<Body>, token: &str, max_age: u64) {
    set(response, REFRESH_COOKIE, token, max_age);
}

/// A `Set-Cookie` that removes the refresh cookie.
pub fn clear_refresh(response: &mut Response<Body>) {
    set(response, REFRESH_COOKIE, "", 0);
}

/// The preference (RFC 7240) by which a browser asks for the refresh token
/// in the cookie alone, so that no script of the page ever sees it.
pub const COOKIE_ONLY_PREFERENCE: &str = "refresh-token=cookie";

/// Whether `request` says `Prefer: refresh-token=cookie` (among other
/// preferences, in any case, with optional quotes and parameters, in any of
/// its `Prefer` headers).
pub fn prefers_cookie_only(request: &Request) -> bool {
    request
        .headers()
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|preference| {
            let (token, value) = preference.split(';').next()?.split_once('=')?;
            Some((
                token.trim().to_ascii_lowercase(),
                value.trim().trim_matches('"').to_ascii_lowercase(),
            ))
        })
        .any(|(token, value)| token == "refresh-token" && value == "cookie")
}

/// A device that logged in to an account before (OWASP's device cookie):
/// `<nonce>.<HMAC of the email and the nonce>`. Its failed logins count
/// against a budget of its own, so nobody else's guesses lock it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCookie {
    nonce: String,
    signature: String,
}

impl DeviceCookie {
    /// A new device cookie for `email`.
    pub fn issue(keys: &AccountKeys, email: &str) -> Self {
        let nonce = new_id();
        Self {
            signature: keys.device_signature(email, &nonce),
            nonce,
        }
    }

    /// The request's device cookie, if it is one issued for `email`.
    pub fn presented(request: &Request, keys: &AccountKeys, email: &str) -> Option<Self> {
        let value = read(request, DEVICE_COOKIE)?;
        let (nonce, signature) = value.split_once('.')?;
        let valid = is_id(nonce) && same(signature, &keys.device_signature(email, nonce));
        valid.then(|| Self {
            nonce: nonce.to_string(),
            signature: signature.to_string(),
        })
    }

    /// The key its failures are counted under.
    pub fn id(&self) -> &str {
        &self.nonce
    }

    /// Sets it on `response` (again, to renew its lifetime).
    pub fn set_on(&self, response: &mut Response<Body>) {
        let value = format!("{}.{}", self.nonce, self.signature);
        set(response, DEVICE_COOKIE, &value, DEVICE_COOKIE_MAX_AGE);
    }
}

/// Which pages may send a cookie-borne credential: the API's own origin,
/// and the origins a deployment lists in `ALLOWED_ORIGINS` (comma-separated).
///
/// `SameSite=Strict` keeps other sites' requests from carrying the cookie,
/// but under a custom domain a sibling subdomain is the same site. So a
/// request is admitted only when the browser says it comes from this very
/// origin (`Sec-Fetch-Site: same-origin`, which no script can set) or its
/// `Origin` is this API's own or on the list. Anything else, including a
/// request with neither header, is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    /// Reads `ALLOWED_ORIGINS`; every entry must be an `https://` origin.
    pub fn from_env(env: &Environment) -> Result<Self, ConfigError> {
        let origins: Vec<String> = env
            .get("ALLOWED_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(str::to_string)
            .collect();
        let is_origin = |origin: &String| {
            origin
                .strip_prefix("https://")
                .is_some_and(|host| !host.is_empty() && !host.contains(['/', '?', '#', '@', ' ']))
        };
        if let Some(bad) = origins.iter().find(|origin| !is_origin(origin)) {
            return Err(ConfigError::Invalid {
                name: "ALLOWED_ORIGINS",
                reason: format!("`{bad}` is not an https:// origin (scheme and host, no path)"),
            });
        }
        Ok(Self(origins))
    }

    /// Whether `request` comes from a page that may use the cookie.
    pub fn admit(&self, request: &Request) -> bool {
        let headers = request.headers();
        let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if value("sec-fetch-site") == Some("same-origin") {
            return true;
        }
        let Some(origin) = value("origin") else {
            return false;
        };
        own_origin(request).is_some_and(|own| own == origin)
            || self.0.iter().any(|allowed| allowed == origin)
    }
}

/// `https://<the API's domain name>`, as API Gateway names it.
fn own_origin(request: &Request) -> Option<String> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .domain_name
            .as_deref()
            .map(|domain| format!("https://{domain}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_only_preference_is_read_as_rfc_7240_writes_it() {
        for asked in [
            "refresh-token=cookie",
            "Refresh-Token=\"cookie\"",
            "respond-async, refresh-token=cookie; x=y",
        ] {
            assert!(
                prefers_cookie_only(&request(&[("prefer", asked)])),
                "{asked}"
            );
        }
        for not in [
            "",
            "refresh-token=body",
            "refresh-token",
            "x-refresh-token=cookie",
        ] {
            assert!(!prefers_cookie_only(&request(&[("prefer", not)])), "{not}");
        }
        assert!(!prefers_cookie_only(&request(&[])));
    }

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut builder = lambda_http::http::Request::builder().method("POST");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::Empty).unwrap()
    }

    fn origins(list: &str) -> AllowedOrigins {
        AllowedOrigins::from_env(&Environment::from_pairs([("ALLOWED_ORIGINS", list)])).unwrap()
    }

    #[test]
    fn only_same_origin_or_a_listed_origin_may_use_a_cookie() {
        let allowed = origins("https://app.example.com, https://admin.example.com");
        for admitted in [
            vec![("sec-fetch-site", "same-origin")],
            vec![("origin", "https://app.example.com")],
            vec![
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://admin.example.com"),
            ],
        ] {
            assert!(allowed.admit(&request(&admitted)), "{admitted:?}");
        }
        for refused in [
            vec![],
            vec![
                ("sec-fetch-site", "same-site"),
                ("origin", "https://evil.example.com"),
            ],
            vec![("sec-fetch-site", "same-site")],
            vec![("origin", "https://app.example.com.evil.test")],
            vec![("origin", "http://app.example.com")],
            vec![("origin", "null")],
        ] {
            assert!(!allowed.admit(&request(&refused)), "{refused:?}");
        }
    }

    #[test]
    fn listed_origins_must_be_https_origins() {
        for bad in [
            "http://app.example.com",
            "https://",
            "https://a.example.com/path",
            "*",
        ] {
            let env = Environment::from_pairs([("ALLOWED_ORIGINS", bad)]);
            assert!(AllowedOrigins::from_env(&env).is_err(), "{bad}");
        }
        assert_eq!(origins(""), AllowedOrigins::default());
    }

    #[test]
    fn a_device_cookie_is_bound_to_its_email_and_key() {
        let (_, keys) = AccountKeys::generate();
        let (_, other_keys) = AccountKeys::generate();
        let device = DeviceCookie::issue(&keys, "ada@example.com");
        let mut response = Response::new(Body::Empty);
        device.set_on(&mut response);
        let set_cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
        assert!(set_cookie.starts_with("__Host-device="));
        assert!(set_cookie.contains("HttpOnly; SameSite=Strict"));
        let value = set_cookie.split(';').next().unwrap();
        let presented = request(&[("cookie", value)]);
        assert_eq!(
            DeviceCookie::presented(&presented, &keys, "ada@example.com"),
            Some(device)
        );
        assert_eq!(
            DeviceCookie::presented(&presented, &keys, "bob@example.com"),
            None
        );
        assert_eq!(
            DeviceCookie::presented(&presented, &other_keys, "ada@example.com"),
            None
        );
        let forged = request(&[("cookie", "__Host-device=AAAAAAAAAAAAAAAAAAAAAA.AAAA")]);
        assert_eq!(
            DeviceCookie::presented(&forged, &keys, "ada@example.com"),
            None
        );
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let request = request(&[("cookie", "a=1; __Host-refresh_token=tok; __Host-device=d")]);
        assert_eq!(read(&request, REFRESH_COOKIE).as_deref(), Some("tok"));
        assert_eq!(read(&request, DEVICE_COOKIE).as_deref(), Some("d"));
        assert_eq!(read(&request, "refresh_token"), None);
    }
}
