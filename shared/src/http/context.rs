//! What API Gateway tells a function about a request besides the request itself.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::ids::is_id;

/// The path parameter `name` (`/uploads/{upload_id}`), if it is an id this
/// service could have issued; anything else names nothing that exists.
pub fn path_id<T: From<String>>(request: &Request, name: &str) -> Option<T> {
    request
        .path_parameters_ref()
        .and_then(|p| p.first(name))
        .filter(|id| is_id(id))
        .map(|id| T::from(id.to_string()))
}

/// The client's address as API Gateway saw it (`requestContext.http.sourceIp`),
/// or empty when there is none. Never taken from `X-Forwarded-For`, which the
/// client writes.
pub fn source_ip(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => {
            context.http.source_ip.clone().unwrap_or_default()
        }
        _ => String::new(),
    }
}
