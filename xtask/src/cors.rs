//! CORS as AWS applies it, read from `template.yaml`, in front of the local
//! stack: the HTTP API's `CorsConfiguration` in front of `cargo lambda
//! watch`, and the buckets' `CorsRules` in front of moto's S3.
//!
//! Neither emulator is faithful: `cargo lambda watch` answers any `Origin`
//! with `Access-Control-Allow-Origin: <that origin>` and credentials, and
//! moto's server allows every origin too. So each front answers preflights
//! itself (as API Gateway and S3 do: the function is never called), drops
//! whatever CORS headers the emulator wrote (API Gateway ignores a
//! function's), and adds the template's own to what it relays, for an
//! allowed origin only: a page works locally exactly when it would deployed.
//!
//! What the two services answer (their documentation):
//! - API Gateway (HTTP API): a preflight (`OPTIONS` with `Origin` and
//!   `Access-Control-Request-Method`) gets 204; with the CORS headers only
//!   when the origin, the method and every requested header are allowed.
//!   Other requests reach the route; an allowed origin gets
//!   `Access-Control-Allow-Origin`, `-Allow-Credentials` and
//!   `-Expose-Headers` on the answer, any other origin none.
//! - S3: a preflight matching no rule is refused, 403 `AccessForbidden`
//!   (`CORSResponse`); one matching a rule gets 200 with the rule's methods,
//!   the requested headers and the rule's exposed headers; other requests
//!   get those headers when a rule matches their origin and method.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use tokio::io::BufReader;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::http1;
use crate::local_names::Resolver;
use crate::template::Template;

/// One CORS rule: the origins it admits and what it lets them do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    /// Exact origins, or `*` patterns (S3 allows one `*` in an origin).
    pub origins: Vec<String>,
    /// Upper-case methods.
    pub methods: Vec<String>,
    /// Lower-case request headers (S3 allows `*` patterns).
    pub headers: Vec<String>,
    /// Response headers a page may read.
    pub expose: Vec<String>,
    /// Whether credentials (cookies) may go with the request.
    pub credentials: bool,
    /// How long a browser may keep a preflight's answer.
    pub max_age: Option<u64>,
}

/// Whose CORS it is: the two services answer differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// API Gateway's HTTP API: one configuration.
    ApiGateway,
    /// S3: a bucket's rules, the first match applies.
    S3,
}

/// The CORS of one API or one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Which service's answers.
    pub service: Service,
    /// Its rules (an API has one; a bucket without CORS none).
    pub rules: Vec<Rule>,
    /// Whether the service answers preflights itself: an API without a
    /// `CorsConfiguration` passes an `OPTIONS` to its routes (none takes
    /// it); S3 always answers them.
    pub configured: bool,
}

/// A response's status and the headers CORS adds to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preflight {
    /// 204 (API Gateway), 200 or 403 (S3).
    pub status: u16,
    /// The `Access-Control-*` headers (none when refused).
    pub headers: Vec<(String, String)>,
    /// The body (S3's refusal).
    pub body: String,
}

fn matches(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(value),
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len()
                && value[..head.len()].eq_ignore_ascii_case(head)
                && value[value.len() - tail.len()..].eq_ignore_ascii_case(tail)
        }
    }
}

/// The comma-separated names of `Access-Control-Request-Headers`.
fn requested_headers(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

impl Rule {
    fn admits_origin(&self, origin: &str, service: Service) -> bool {
        self.origins.iter().any(|allowed| match service {
            // API Gateway: exact origins, or `*` for every one.
            Service::ApiGateway => allowed == "*" || allowed.eq_ignore_ascii_case(origin),
            Service::S3 => matches(allowed, origin),
        })
    }

    fn admits_method(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m == "*" || m == method)
    }

    fn admits_headers(&self, headers: &[String]) -> bool {
        headers
            .iter()
            .all(|h| self.headers.iter().any(|allowed| matches(allowed, h)))
    }

    fn allow_origin(&self, origin: &str) -> String {
        if self.origins.iter().any(|o| o == "*") && !self.credentials {
            "*".into()
        } else {
            origin.into()
        }
    }
}

impl Policy {
    /// The HTTP API's `CorsConfiguration` (`Resources.HttpApi`), resolved
    /// with the stack's parameters; none configured is no rule at all.
    pub fn api(template: &Template, resolver: &Resolver<'_>) -> Result<Self> {
        let api = template
            .ids_of_kind("AWS::Serverless::HttpApi")
            .next()
            .and_then(|id| template.resource(id))
            .context("template.yaml has no AWS::Serverless::HttpApi")?;
        let mut configuration = api.properties.get("CorsConfiguration");
        // `!If [condition, configuration, AWS::NoValue]`, SAM's way.
        while let Some(Value::Array(args)) = configuration.and_then(|c| c.get("Fn::If"))
            && let [Value::String(condition), then, otherwise] = args.as_slice()
        {
            configuration = Some(if holds(template, resolver, condition)? {
                then
            } else {
                otherwise
            });
        }
        let configuration = configuration.filter(|c| !is_no_value(c));
        let configured = configuration.is_some();
        let rules = match configuration {
            None => Vec::new(),
            Some(Value::Object(config)) => {
                let list = |key: &str| strings(template, resolver, config.get(key));
                vec![Rule {
                    origins: list("AllowOrigins")?,
                    methods: upper(list("AllowMethods")?),
                    headers: lower(list("AllowHeaders")?),
                    expose: lower(list("ExposeHeaders")?),
                    credentials: config.get("AllowCredentials") == Some(&Value::Bool(true)),
                    max_age: config.get("MaxAge").and_then(Value::as_u64),
                }]
            }
            Some(other) => bail!("HttpApi CorsConfiguration: expected a mapping, not {other}"),
        };
        Ok(Self {
            service: Service::ApiGateway,
            rules,
            configured,
        })
    }

    /// The `CorsConfiguration.CorsRules` of bucket `logical_id`.
    pub fn bucket(template: &Template, resolver: &Resolver<'_>, logical_id: &str) -> Result<Self> {
        let bucket = template
            .resource(logical_id)
            .with_context(|| format!("no bucket {logical_id}"))?;
        let rules = match bucket
            .properties
            .get("CorsConfiguration")
            .and_then(|c| c.get("CorsRules"))
        {
            None => Vec::new(),
            Some(Value::Array(rules)) => rules
                .iter()
                .filter(|rule| !is_no_value(rule))
                .map(|rule| {
                    let list = |key: &str| strings(template, resolver, rule.get(key));
                    Ok(Rule {
                        origins: list("AllowedOrigins")?,
                        methods: upper(list("AllowedMethods")?),
                        headers: lower(list("AllowedHeaders")?),
                        expose: lower(list("ExposedHeaders")?),
                        // S3 lets credentials go with every origin but `*`.
                        credentials: true,
                        max_age: rule.get("MaxAge").and_then(Value::as_u64),
                    })
                })
                .collect::<Result<_>>()?,
            Some(other) => bail!("{logical_id} CorsRules: expected a list, not {other}"),
        };
        Ok(Self {
            service: Service::S3,
            rules,
            configured: true,
        })
    }

    /// The first rule admitting `origin` and `method` (and, for a
    /// preflight, `headers`).
    fn rule(&self, origin: &str, method: &str, headers: &[String]) -> Option<&Rule> {
        self.rules.iter().find(|rule| {
            rule.admits_origin(origin, self.service)
                && rule.admits_method(method)
                && rule.admits_headers(headers)
        })
    }

    /// The answer to a preflight from `origin` for `method` with
    /// `Access-Control-Request-Headers: request_headers`.
    pub fn preflight(
        &self,
        origin: &str,
        method: &str,
        request_headers: Option<&str>,
    ) -> Preflight {
        let asked = requested_headers(request_headers);
        let rule = self.rule(origin, method, &asked);
        let mut headers = Vec::new();
        let mut add = |name: &str, value: String| headers.push((name.to_string(), value));
        match (self.service, rule) {
            (Service::ApiGateway, None) => Preflight {
                status: 204,
                headers,
                body: String::new(),
            },
            (Service::ApiGateway, Some(rule)) => {
                add("access-control-allow-origin", rule.allow_origin(origin));
                if rule.credentials {
                    add("access-control-allow-credentials", "true".into());
                }
                add("access-control-allow-methods", rule.methods.join(","));
                if !rule.headers.is_empty() {
                    add("access-control-allow-headers", rule.headers.join(","));
                }
                if let Some(age) = rule.max_age {
                    add("access-control-max-age", age.to_string());
                }
                Preflight {
                    status: 204,
                    headers,
                    body: String::new(),
                }
            }
            (Service::S3, None) => Preflight {
                status: 403,
                headers,
                body: if self.rules.is_empty() {
                    s3_error("CORSResponse: CORS is not enabled for this bucket.")
                } else {
                    s3_error(
                        "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
                    )
                },
            },
            (Service::S3, Some(rule)) => {
                add("access-control-allow-origin", rule.allow_origin(origin));
                add("access-control-allow-methods", rule.methods.join(", "));
                if !asked.is_empty() {
                    add("access-control-allow-headers", asked.join(", "));
                }
                if !rule.expose.is_empty() {
                    add("access-control-expose-headers", rule.expose.join(", "));
                }
                if let Some(age) = rule.max_age {
                    add("access-control-max-age", age.to_string());
                }
                if rule.allow_origin(origin) != "*" {
                    add("access-control-allow-credentials", "true".into());
                }
                add(
                    "vary",
                    "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".into(),
                );
                Preflight {
                    status: 200,
                    headers,
                    body: String::new(),
                }
            }
        }
    }

    /// The CORS headers of the answer to a `method` request from `origin`.
    pub fn actual(&self, origin: &str, method: &str) -> Vec<(String, String)> {
        let mut headers = Vec::new();
        let Some(rule) = self.rule(origin, method, &[]) else {
            return headers;
        };
        headers.push((
            "access-control-allow-origin".into(),
            rule.allow_origin(origin),
        ));
        if rule.credentials && rule.allow_origin(origin) != "*" {
            headers.push(("access-control-allow-credentials".into(), "true".into()));
        }
        if !rule.expose.is_empty() {
            let separator = if self.service == Service::S3 {
                ", "
            } else {
                ","
            };
            headers.push((
                "access-control-expose-headers".into(),
                rule.expose.join(separator),
            ));
        }
        headers.push(("vary".into(), "Origin".into()));
        headers
    }
}

fn s3_error(message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessForbidden</Code><Message>{message}</Message></Error>"
    )
}

fn upper(list: Vec<String>) -> Vec<String> {
    list.into_iter().map(|s| s.to_ascii_uppercase()).collect()
}

fn lower(list: Vec<String>) -> Vec<String> {
    list.into_iter().map(|s| s.to_ascii_lowercase()).collect()
}

fn is_no_value(value: &Value) -> bool {
    value.get("Ref").and_then(Value::as_str) == Some("AWS::NoValue")
}

/// A list-valued property: a literal list, a `CommaDelimitedList`
/// parameter, `!Split`, or `!If` of those (`AWS::NoValue`: no list).
fn strings(
    template: &Template,
    resolver: &Resolver<'_>,
    value: Option<&Value>,
) -> Result<Vec<String>> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    if is_no_value(value) {
        return Ok(Vec::new());
    }
    match value {
        Value::Array(items) => items
            .iter()
            .filter(|item| !is_no_value(item))
            .map(|item| resolver.resolve(item))
            .collect(),
        Value::Object(map) if map.len() == 1 => {
            if let Some(name) = map.get("Ref").and_then(Value::as_str)
                && template.parameter_type(name) == Some("CommaDelimitedList")
            {
                let text = resolver.resolve(value)?;
                return Ok(text
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect());
            }
            if let Some(Value::Array(args)) = map.get("Fn::Split")
                && let [Value::String(separator), source] = args.as_slice()
            {
                let text = resolver.resolve(source)?;
                return Ok(text.split(separator.as_str()).map(String::from).collect());
            }
            if let Some(Value::Array(args)) = map.get("Fn::If")
                && let [Value::String(condition), then, otherwise] = args.as_slice()
            {
                let chosen = if holds(template, resolver, condition)? {
                    then
                } else {
                    otherwise
                };
                return strings(template, resolver, Some(chosen));
            }
            bail!("the local stack cannot read the list {value}")
        }
        other => bail!("the local stack cannot read the list {other}"),
    }
}

/// Whether condition `name` of the template holds with the stack's parameters.
fn holds(template: &Template, resolver: &Resolver<'_>, name: &str) -> Result<bool> {
    let expression = template
        .condition(name)
        .ok_or_else(|| anyhow!("no condition {name}"))?;
    evaluate(template, resolver, expression)
}

fn evaluate(template: &Template, resolver: &Resolver<'_>, value: &Value) -> Result<bool> {
    let Value::Object(map) = value else {
        bail!("a condition is a function, not {value}");
    };
    let args = |name: &str| map.get(name).and_then(Value::as_array);
    if let Some([inner]) = args("Fn::Not").map(Vec::as_slice) {
        return Ok(!evaluate(template, resolver, inner)?);
    }
    if let Some([a, b]) = args("Fn::Equals").map(Vec::as_slice) {
        return Ok(resolver.resolve(a)? == resolver.resolve(b)?);
    }
    if let Some(all) = args("Fn::And") {
        for item in all {
            if !evaluate(template, resolver, item)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    if let Some(any) = args("Fn::Or") {
        for item in any {
            if evaluate(template, resolver, item)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Some(name) = map.get("Condition").and_then(Value::as_str) {
        return holds(template, resolver, name);
    }
    bail!("the local stack cannot evaluate the condition {value}")
}

/// What a front applies: one policy (the API), or one per bucket name
/// (path-style S3: the first path segment names the bucket).
#[derive(Debug, Clone)]
pub enum Applies {
    /// The HTTP API's.
    Api(Policy),
    /// Each bucket's, by its local name; a bucket not listed has no CORS.
    Buckets(BTreeMap<String, Policy>),
}

impl Applies {
    fn policy(&self, target: &str) -> Policy {
        match self {
            Self::Api(policy) => policy.clone(),
            Self::Buckets(buckets) => {
                let bucket = target
                    .trim_start_matches('/')
                    .split(['/', '?'])
                    .next()
                    .unwrap_or_default();
                buckets.get(bucket).cloned().unwrap_or(Policy {
                    service: Service::S3,
                    rules: Vec::new(),
                    configured: true,
                })
            }
        }
    }
}

/// A front on a loopback port relaying to an emulator with AWS's CORS;
/// stopped when dropped.
pub struct Front {
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    task: JoinHandle<()>,
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Headers that belong to one connection, not to the message relayed
/// (`Content-Length` is written again for the body relayed; a `HEAD`'s is
/// kept: it is the object's).
const HOP_BY_HOP: [&str; 5] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "te",
];

impl Front {
    /// Listens on 127.0.0.1:`port` and relays to `upstream` (a base URL).
    pub async fn start(port: u16, upstream: &str, applies: Applies) -> Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .await
            .with_context(|| format!("the CORS front cannot listen on 127.0.0.1:{port}"))?;
        let url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new((
            upstream.trim_end_matches('/').to_string(),
            applies,
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .allow_non_standard_methods(true)
                .build()
                .new_agent(),
        ));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut reader = BufReader::new(read);
                    while let Ok(Some(request)) = http1::read_request(&mut reader).await {
                        let (upstream, applies, agent) = &*shared;
                        let head = request.method == "HEAD";
                        let (status, headers, body) =
                            answer(upstream, applies, agent, request).await;
                        let written = if head {
                            write_head(&mut write, status, &headers).await
                        } else {
                            http1::write_response(&mut write, status, &headers, &body).await
                        };
                        if written.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Ok(Self { url, task })
    }
}

type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// The answer to a `HEAD`: the emulator's headers, its `Content-Length`
/// among them (the object's size, which `HeadObject` reads), and no body.
async fn write_head<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    status: u16,
    headers: &[(String, String)],
) -> Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut head = format!("HTTP/1.1 {status} Status\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !headers.iter().any(|(name, _)| name == "content-length") {
        head.push_str("content-length: 0\r\n");
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes()).await?;
    writer.flush().await?;
    Ok(())
}

async fn answer(
    upstream: &str,
    applies: &Applies,
    agent: &ureq::Agent,
    request: http1::Request,
) -> Answer {
    let policy = applies.policy(&request.target);
    let origin = request.header("origin").map(String::from);
    if request.method == "OPTIONS"
        && policy.configured
        && let (Some(origin), Some(method)) = (
            origin.as_deref(),
            request.header("access-control-request-method"),
        )
    {
        // A preflight: the service answers it itself, nothing is relayed.
        let preflight = policy.preflight(
            origin,
            &method.to_ascii_uppercase(),
            request.header("access-control-request-headers"),
        );
        let mut headers = preflight.headers;
        if !preflight.body.is_empty() {
            headers.push(("content-type".into(), "application/xml".into()));
        }
        return (preflight.status, headers, preflight.body.into_bytes());
    }
    let method = request.method.clone();
    let relayed = {
        let agent = agent.clone();
        let url = format!("{upstream}{}", request.target);
        tokio::task::spawn_blocking(move || relay(&agent, &url, request)).await
    };
    let (status, mut headers, body) = match relayed {
        Ok(Ok(answer)) => answer,
        Ok(Err(error)) => (
            502,
            Vec::new(),
            format!("the CORS front could not reach the emulator: {error:#}").into_bytes(),
        ),
        Err(error) => (
            502,
            Vec::new(),
            format!("the CORS front failed: {error}").into_bytes(),
        ),
    };
    // The service writes CORS headers itself and ignores the backend's.
    headers.retain(|(name, _)| !name.starts_with("access-control-"));
    if let Some(origin) = origin {
        headers.extend(policy.actual(&origin, &method));
    }
    (status, headers, body)
}

fn relay(agent: &ureq::Agent, url: &str, request: http1::Request) -> Result<Answer> {
    let mut builder = ureq::http::Request::builder()
        .method(request.method.as_str())
        .uri(url);
    for (name, value) in &request.headers {
        if !HOP_BY_HOP.contains(&name.as_str())
            && !["host", "content-length", "expect"].contains(&name.as_str())
        {
            builder = builder.header(name.as_str(), value.as_str());
        }
    }
    let mut response =
        if request.body.is_empty() && !matches!(request.method.as_str(), "PUT" | "POST") {
            agent.run(builder.body(())?)?
        } else {
            agent.run(builder.body(request.body)?)?
        };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
        .collect();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()?;
    Ok((status, headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> Policy {
        Policy {
            service: Service::ApiGateway,
            rules: vec![Rule {
                origins: vec!["https://app.example.com".into()],
                methods: vec!["GET".into(), "PUT".into()],
                headers: vec!["authorization".into(), "if-match".into()],
                expose: vec!["etag".into()],
                credentials: true,
                max_age: Some(600),
            }],
            configured: true,
        }
    }

    fn bucket() -> Policy {
        Policy {
            service: Service::S3,
            rules: vec![Rule {
                origins: vec!["http://127.0.0.1:9000".into()],
                methods: vec!["PUT".into()],
                headers: vec!["content-type".into(), "x-amz-*".into()],
                expose: vec!["etag".into()],
                credentials: true,
                max_age: None,
            }],
            configured: true,
        }
    }

    #[test]
    fn api_gateway_answers_preflights_with_its_configuration_or_nothing() {
        let allowed = api().preflight(
            "https://app.example.com",
            "PUT",
            Some("Authorization, If-Match"),
        );
        assert_eq!(allowed.status, 204);
        assert!(allowed.headers.contains(&(
            "access-control-allow-origin".into(),
            "https://app.example.com".into()
        )));
        assert!(
            allowed
                .headers
                .contains(&("access-control-allow-credentials".into(), "true".into()))
        );
        for refused in [
            api().preflight("https://evil.example", "PUT", None),
            api().preflight("https://app.example.com", "DELETE", None),
            api().preflight("https://app.example.com", "PUT", Some("x-other")),
        ] {
            assert_eq!(
                (refused.status, refused.headers.len()),
                (204, 0),
                "{refused:?}"
            );
        }
        assert!(api().actual("https://evil.example", "GET").is_empty());
        let actual = api().actual("https://app.example.com", "GET");
        assert!(actual.contains(&("access-control-expose-headers".into(), "etag".into())));
    }

    #[test]
    fn s3_refuses_a_preflight_no_rule_matches() {
        let allowed = bucket().preflight(
            "http://127.0.0.1:9000",
            "PUT",
            Some("content-type,x-amz-tagging"),
        );
        assert_eq!(allowed.status, 200);
        assert!(allowed.headers.contains(&(
            "access-control-allow-headers".into(),
            "content-type, x-amz-tagging".into()
        )));
        let refused = bucket().preflight("http://127.0.0.1:9001", "PUT", None);
        assert_eq!((refused.status, refused.headers.len()), (403, 0));
        assert!(refused.body.contains("AccessForbidden"));
        assert_eq!(
            bucket()
                .preflight("http://127.0.0.1:9000", "PUT", Some("if-match"))
                .status,
            403
        );
        assert!(bucket().actual("http://127.0.0.1:9000", "GET").is_empty());
        let empty = Policy {
            service: Service::S3,
            rules: Vec::new(),
            configured: true,
        };
        assert!(
            empty
                .preflight("http://a", "PUT", None)
                .body
                .contains("not enabled")
        );
    }

    #[test]
    fn the_templates_own_cors_is_read_as_cloudformation_resolves_it() {
        let template = Template::load(&crate::workspace_root().join("template.yaml")).unwrap();
        let mut resolver = Resolver::new(&template, "");
        let api_policy = Policy::api(&template, &resolver).unwrap();
        assert!(
            !api_policy.configured && api_policy.rules.is_empty(),
            "no CORS by default"
        );
        resolver.set_parameter(
            "AllowedOrigins",
            "https://a.example,https://b.example".into(),
        );
        let api_policy = Policy::api(&template, &resolver).unwrap();
        assert_eq!(
            api_policy.rules[0].origins,
            ["https://a.example", "https://b.example"]
        );
        assert!(api_policy.configured && api_policy.rules[0].credentials);
        resolver.set_parameter("UploadCorsOrigins", "http://127.0.0.1:9000".into());
        let uploads = Policy::bucket(&template, &resolver, "UploadsBucket").unwrap();
        assert_eq!(uploads.rules[0].origins, ["http://127.0.0.1:9000"]);
        assert!(uploads.rules[0].methods.contains(&"PUT".to_string()));
    }
}
