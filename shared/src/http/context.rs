//! What API Gateway tells a function about a request besides the request itself.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

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
