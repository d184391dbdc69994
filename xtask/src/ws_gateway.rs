//! The WebSocket API of the template, served locally as API Gateway serves
//! it: nothing free emulates a WebSocket API for SAM or cargo-lambda, so
//! the dev tool holds the connections itself. It invokes each route's
//! function (through `cargo lambda watch`'s Lambda Invoke endpoint) with
//! API Gateway's WebSocket proxy events, refuses a handshake with the
//! status a non-2xx `$connect` answers, sends a two-way route's answer
//! back on its connection, serves the Management API (`POST`, `GET`,
//! `DELETE /@connections/{id}`, 410 for a gone id) on a port of its own,
//! and keeps API Gateway's limits ([`Limits`]). Its `$disconnect` is best
//! effort, as API Gateway's is.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::event_sources::{Invocation, invoke};
use crate::http1;
use crate::template::{SocketRoute, Template};

/// The function variables that name the WebSocket API, given the local
/// gateway's addresses instead of the template's (which name AWS's).
pub const URL_VARIABLE: &str = "REALTIME_URL";
/// The Management API's endpoint variable.
pub const MANAGEMENT_VARIABLE: &str = "REALTIME_MANAGEMENT_ENDPOINT";

/// API Gateway's limits of a WebSocket API (shorter in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame (32 KiB): a larger one closes the connection with 1009.
    pub frame_bytes: usize,
    /// Largest message (128 KiB), also of a post to a connection.
    pub message_bytes: usize,
    /// A connection the client sent nothing on for this long is closed (10 minutes).
    pub idle: Duration,
    /// A connection is closed this long after it opened (2 hours).
    pub max_duration: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            frame_bytes: 32 * 1024,
            message_bytes: 128 * 1024,
            idle: Duration::from_secs(10 * 60),
            max_duration: Duration::from_secs(2 * 3600),
        }
    }
}

/// A running gateway; [`Gateway::stop`] closes every connection.
pub struct Gateway {
    /// `ws://127.0.0.1:<port>/<stage>`: what clients connect to.
    pub url: String,
    /// `http://127.0.0.1:<port>/<stage>`: the Management API, as the functions get it.
    pub management_endpoint: String,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

enum Command {
    Send(String),
    Close,
}

struct Connection {
    commands: mpsc::UnboundedSender<Command>,
    connected_at: SystemTime,
    last_active: SystemTime,
    source_ip: String,
    user_agent: String,
}

struct Shared {
    routes: HashMap<String, SocketRoute>,
    /// Where the functions run: one instance, or several taken in turn
    /// (as Lambda spreads events over its instances).
    invoke_bases: Vec<String>,
    next_instance: std::sync::atomic::AtomicUsize,
    stage: String,
    domain: String,
    limits: Limits,
    connections: Mutex<HashMap<String, Connection>>,
    stop: watch::Receiver<bool>,
}

impl Shared {
    fn connections(&self) -> std::sync::MutexGuard<'_, HashMap<String, Connection>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The stage name of the template's WebSocket API (`live` if it names none).
pub fn stage_of(template: &Template) -> String {
    template
        .ids_of_kind("AWS::ApiGatewayV2::Stage")
        .find_map(|id| {
            template
                .resource(id)?
                .properties
                .get("StageName")?
                .as_str()
                .map(String::from)
        })
        .unwrap_or_else(|| "live".into())
}

fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn rfc3339(at: SystemTime) -> String {
    shared::time::Timestamp(millis(at) / 1000).rfc3339()
}

fn new_connection_id() -> String {
    // API Gateway's ids look like `L0SM9cOFvHcCIhw=`.
    base64::engine::general_purpose::STANDARD.encode(shared::ids::random_bytes::<11>())
}

impl Gateway {
    /// Serves `routes` on `port` and the Management API on
    /// `management_port` (both on 127.0.0.1), invoking functions at
    /// `invoke_bases` (`http://127.0.0.1:<watch port>`), in turn.
    pub async fn start(
        routes: Vec<SocketRoute>,
        stage: String,
        invoke_bases: Vec<String>,
        port: u16,
        management_port: u16,
        limits: Limits,
    ) -> Result<Self> {
        if invoke_bases.is_empty() {
            bail!("the WebSocket gateway needs an instance of the functions to invoke");
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .with_context(|| format!("binding the WebSocket API to 127.0.0.1:{port}"))?;
        let management = TcpListener::bind((Ipv4Addr::LOCALHOST, management_port))
            .await
            .with_context(|| {
                format!("binding the Management API to 127.0.0.1:{management_port}")
            })?;
        let port = listener.local_addr()?.port();
        let management_port = management.local_addr()?.port();
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            routes: routes
                .into_iter()
                .map(|route| (route.route_key.clone(), route))
                .collect(),
            invoke_bases,
            next_instance: std::sync::atomic::AtomicUsize::new(0),
            domain: format!("127.0.0.1:{port}"),
            stage: stage.clone(),
            limits,
            connections: Mutex::new(HashMap::new()),
            stop: stopped,
        });
        let accept = {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut stop = shared.stop.clone();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            if let Ok((stream, peer)) = accepted {
                                tokio::spawn(serve_connection(shared.clone(), stream, peer));
                            }
                        }
                        _ = stop.changed() => return,
                    }
                }
            })
        };
        let manage = {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut stop = shared.stop.clone();
                loop {
                    tokio::select! {
                        accepted = management.accept() => {
                            if let Ok((stream, _)) = accepted {
                                tokio::spawn(serve_management(shared.clone(), stream));
                            }
                        }
                        _ = stop.changed() => return,
                    }
                }
            })
        };
        Ok(Self {
            url: format!("ws://127.0.0.1:{port}/{stage}"),
            management_endpoint: format!("http://127.0.0.1:{management_port}/{stage}"),
            stop,
            tasks: vec![accept, manage],
        })
    }

    /// Closes every connection (1001, as API Gateway going away) and stops serving.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

/// The proxy event of one route invocation.
fn event(
    shared: &Shared,
    route_key: &str,
    event_type: &str,
    connection_id: &str,
    connected_at: SystemTime,
    extra: Value,
) -> Value {
    let request_id = new_connection_id();
    let now = SystemTime::now();
    let mut event = json!({
        "requestContext": {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": rfc3339(now),
            "messageDirection": "IN",
            "stage": shared.stage,
            "connectedAt": millis(connected_at),
            "requestTimeEpoch": millis(now),
            "identity": { "sourceIp": "127.0.0.1" },
            "requestId": request_id,
            "domainName": shared.domain,
            "connectionId": connection_id,
            "apiId": "local",
        },
        "isBase64Encoded": false,
    });
    if let (Some(target), Value::Object(extra)) = (event.as_object_mut(), extra) {
        target.extend(extra);
    }
    event
}

/// Invokes the function of `route_key`: its answer's status and body;
/// `None` when the route does not exist.
async fn call(shared: &Shared, route_key: &str, event: Value) -> Option<(u16, Option<String>)> {
    let route = shared.routes.get(route_key)?;
    let turn = shared
        .next_instance
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = &shared.invoke_bases[turn % shared.invoke_bases.len().max(1)];
    let url = format!("{base}/2015-03-31/functions/{}/invocations", route.binary);
    let outcome = tokio::task::spawn_blocking(move || invoke(&url, &event)).await;
    Some(match outcome {
        Ok(Ok(Invocation::Succeeded(answer))) => {
            let status = answer
                .get("statusCode")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(200);
            let body = answer.get("body").and_then(Value::as_str).map(String::from);
            (status, body.filter(|_| route.two_way))
        }
        Ok(Ok(Invocation::Failed(reason))) => {
            eprintln!("websocket {route_key}: the function failed: {reason}");
            (500, None)
        }
        Ok(Err(error)) => {
            eprintln!("websocket {route_key}: {error:#}");
            (500, None)
        }
        Err(error) => {
            eprintln!("websocket {route_key}: {error}");
            (500, None)
        }
    })
}

fn query_pairs(target: &str) -> serde_json::Map<String, Value> {
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |text: &str| {
                percent_encoding::percent_decode_str(&text.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(name), Value::String(decode(value)))
        })
        .collect()
}

async fn refuse(stream: &mut TcpStream, status: u16) {
    let _ = http1::write_response(stream, status, &[], b"").await;
    let _ = stream.shutdown().await;
}

/// One client: the handshake (`$connect` decides), then its frames.
async fn serve_connection(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let mut reader = BufReader::new(stream);
    let Ok(Some(request)) = http1::read_request(&mut reader).await else {
        return;
    };
    let mut stream = reader.into_inner();
    let path = request.target.split('?').next().unwrap_or_default();
    let upgrade = request
        .header("upgrade")
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    let key = request.header("sec-websocket-key").map(String::from);
    let (Some(key), true, "GET") = (key, upgrade, request.method.as_str()) else {
        return refuse(&mut stream, 400).await;
    };
    let stage_path = format!("/{}", shared.stage);
    if !["", "/", stage_path.as_str()].contains(&path.trim_end_matches('/')) {
        return refuse(&mut stream, 403).await;
    }

    let id = new_connection_id();
    let connected_at = SystemTime::now();
    let (commands, mut inbox) = mpsc::unbounded_channel();
    // Known before `$connect` answers: a post or a close during it waits for the socket.
    shared.connections().insert(
        id.clone(),
        Connection {
            commands,
            connected_at,
            last_active: connected_at,
            source_ip: peer.ip().to_string(),
            user_agent: request.header("user-agent").unwrap_or_default().to_string(),
        },
    );
    let headers: serde_json::Map<String, Value> = request
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    let query = query_pairs(&request.target);
    let multi_query: serde_json::Map<String, Value> = query
        .iter()
        .map(|(name, value)| (name.clone(), json!([value])))
        .collect();
    let connect = event(
        &shared,
        "$connect",
        "CONNECT",
        &id,
        connected_at,
        json!({
            "headers": headers,
            "queryStringParameters": if query.is_empty() { Value::Null } else { Value::Object(query) },
            "multiValueQueryStringParameters": if multi_query.is_empty() { Value::Null } else { Value::Object(multi_query) },
        }),
    );
    let status = call(&shared, "$connect", connect)
        .await
        .map_or(200, |(status, _)| status);
    if !(200..300).contains(&status) {
        shared.connections().remove(&id);
        return refuse(&mut stream, status).await;
    }
    let accept = derive_accept_key(key.as_bytes());
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        shared.connections().remove(&id);
        return;
    }
    let config = WebSocketConfig::default()
        .max_frame_size(Some(shared.limits.frame_bytes))
        .max_message_size(Some(shared.limits.message_bytes));
    let socket = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;
    let (status, reason) = frames(&shared, &id, connected_at, socket, &mut inbox).await;
    shared.connections().remove(&id);
    if *shared.stop.borrow() {
        // The stack is stopping, its functions with it.
        return;
    }
    let mut disconnect = event(
        &shared,
        "$disconnect",
        "DISCONNECT",
        &id,
        connected_at,
        json!({}),
    );
    if let Some(context) = disconnect
        .pointer_mut("/requestContext")
        .and_then(Value::as_object_mut)
    {
        context.insert("disconnectStatusCode".into(), json!(status));
        context.insert("disconnectReason".into(), json!(reason));
    }
    // Best effort, as API Gateway's.
    let _ = call(&shared, "$disconnect", disconnect).await;
}

fn close_frame(code: CloseCode, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.to_string().into(),
    }))
}

/// The route a frame selects (`$request.body.action`), `$default` otherwise.
fn route_of(shared: &Shared, text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|value| value.get("action")?.as_str().map(String::from))
        .filter(|action| !action.starts_with('$') && shared.routes.contains_key(action))
        .unwrap_or_else(|| "$default".to_string())
}

/// The open connection's life: frames in, posts out, until one side
/// closes or a limit does. The close's code and reason.
async fn frames(
    shared: &Arc<Shared>,
    id: &str,
    connected_at: SystemTime,
    socket: WebSocketStream<TcpStream>,
    inbox: &mut mpsc::UnboundedReceiver<Command>,
) -> (u16, String) {
    let (mut sink, mut stream) = socket.split();
    let mut stop = shared.stop.clone();
    let ends_at = tokio::time::Instant::now() + shared.limits.max_duration;
    let mut idle_until = tokio::time::Instant::now() + shared.limits.idle;
    loop {
        tokio::select! {
            frame = stream.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text.as_str().to_string(),
                    Some(Ok(Message::Binary(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                        idle_until = tokio::time::Instant::now() + shared.limits.idle;
                        continue;
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.as_ref().map_or(1005, |f| u16::from(f.code));
                        return (code, "Client-side close frame".into());
                    }
                    Some(Err(WsError::Capacity(_))) => {
                        let _ = sink.send(close_frame(CloseCode::Size, "Message too big")).await;
                        return (1009, "Message too big".into());
                    }
                    Some(Err(_)) | None => return (1006, "Connection lost".into()),
                };
                idle_until = tokio::time::Instant::now() + shared.limits.idle;
                if let Some(connection) = shared.connections().get_mut(id) {
                    connection.last_active = SystemTime::now();
                }
                let route_key = route_of(shared, &text);
                let message = event(shared, &route_key, "MESSAGE", id, connected_at, json!({ "body": text }));
                let (shared, id) = (shared.clone(), id.to_string());
                // Each frame's invocation runs on its own, as API Gateway's do.
                tokio::spawn(async move {
                    let answer = match call(&shared, &route_key, message).await {
                        Some((status, body)) if status < 300 => body,
                        Some(_) => Some(json!({"message": "Internal server error", "connectionId": id}).to_string()),
                        None => Some(json!({"message": "Forbidden", "connectionId": id}).to_string()),
                    };
                    if let Some(text) = answer
                        && let Some(connection) = shared.connections().get(&id)
                    {
                        let _ = connection.commands.send(Command::Send(text));
                    }
                });
            }
            command = inbox.recv() => match command {
                Some(Command::Send(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        return (1006, "Connection lost".into());
                    }
                }
                Some(Command::Close) | None => {
                    let _ = sink.send(close_frame(CloseCode::Normal, "Connection closed by the server")).await;
                    return (1000, "Connection closed by the server".into());
                }
            },
            () = tokio::time::sleep_until(idle_until) => {
                let _ = sink.send(close_frame(CloseCode::Away, "Going away: idle")).await;
                return (1001, "Idle timeout".into());
            }
            () = tokio::time::sleep_until(ends_at) => {
                let _ = sink.send(close_frame(CloseCode::Away, "Going away: the longest connection")).await;
                return (1001, "Maximum connection duration".into());
            }
            _ = stop.changed() => {
                let _ = sink.send(close_frame(CloseCode::Away, "Going away")).await;
                return (1001, "Going away".into());
            }
        }
    }
}

fn error_response(status: u16, kind: &str, message: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    (
        status,
        vec![
            ("content-type".into(), "application/json".into()),
            ("x-amzn-errortype".into(), kind.into()),
        ],
        json!({ "message": message }).to_string().into_bytes(),
    )
}

/// One request of the Management API.
fn manage(shared: &Shared, request: &http1::Request) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let path = request.target.split('?').next().unwrap_or_default();
    let Some((_, encoded)) = path.split_once("/@connections/") else {
        return error_response(404, "NotFoundException", "no such resource");
    };
    let id = percent_encoding::percent_decode_str(encoded)
        .decode_utf8_lossy()
        .into_owned();
    let mut connections = shared.connections();
    let Some(connection) = connections.get_mut(&id) else {
        return error_response(410, "GoneException", "the connection is gone");
    };
    match request.method.as_str() {
        "POST" => {
            if request.body.len() > shared.limits.message_bytes {
                return error_response(413, "PayloadTooLargeException", "the message is over 128 KiB");
            }
            let text = String::from_utf8_lossy(&request.body).into_owned();
            if connection.commands.send(Command::Send(text)).is_err() {
                return error_response(410, "GoneException", "the connection is gone");
            }
            (200, Vec::new(), Vec::new())
        }
        "GET" => (
            200,
            vec![("content-type".into(), "application/json".into())],
            json!({
                "ConnectedAt": rfc3339(connection.connected_at),
                "LastActiveAt": rfc3339(connection.last_active),
                "Identity": { "SourceIp": connection.source_ip, "UserAgent": connection.user_agent },
            })
            .to_string()
            .into_bytes(),
        ),
        "DELETE" => {
            let _ = connection.commands.send(Command::Close);
            connections.remove(&id);
            (204, Vec::new(), Vec::new())
        }
        _ => error_response(405, "MethodNotAllowed", "POST, GET or DELETE"),
    }
}

async fn serve_management(shared: Arc<Shared>, stream: TcpStream) {
    let mut reader = BufReader::new(stream);
    while let Ok(Some(request)) = http1::read_request(&mut reader).await {
        let (status, headers, body) = manage(&shared, &request);
        if http1::write_response(reader.get_mut(), status, &headers, &body)
            .await
            .is_err()
        {
            return;
        }
    }
}

/// The local value of a function variable that names the WebSocket API.
pub fn local_value(name: &str, url: &str, management_endpoint: &str) -> Option<String> {
    match name {
        URL_VARIABLE => Some(url.to_string()),
        MANAGEMENT_VARIABLE => Some(management_endpoint.to_string()),
        _ => None,
    }
}

/// Fails unless every WebSocket route of `template` has its function.
pub fn check_routes(template: &Template) -> Result<Vec<SocketRoute>> {
    let routes = template.socket_routes()?;
    if !routes.is_empty() && !routes.iter().any(|r| r.route_key == "$connect") {
        bail!("the WebSocket API has routes but no $connect");
    }
    Ok(routes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_decoded() {
        let pairs = query_pairs("/?ticket=a%2Bb&x=1+2&flag");
        assert_eq!(pairs["ticket"], "a+b");
        assert_eq!(pairs["x"], "1 2");
        assert_eq!(pairs["flag"], "");
    }

    #[test]
    fn the_template_names_every_route_with_its_function() {
        let template = Template::load(&crate::workspace_root().join("template.yaml")).unwrap();
        let routes = check_routes(&template).unwrap();
        let keys: Vec<&str> = routes.iter().map(|r| r.route_key.as_str()).collect();
        for key in [
            "$connect",
            "$disconnect",
            "$default",
            "subscribe",
            "unsubscribe",
            "publish",
            "ping",
        ] {
            assert!(keys.contains(&key), "{key} in {keys:?}");
        }
        let two_way = |key: &str| {
            routes
                .iter()
                .find(|r| r.route_key == key)
                .is_some_and(|r| r.two_way)
        };
        assert!(two_way("publish") && two_way("$default") && !two_way("$connect"));
        assert_eq!(stage_of(&template), "live");
    }
}
