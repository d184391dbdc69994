//! The WebSocket API through real WebSocket clients, against the local
//! stack's gateway (`xtask::ws_gateway`): tickets, rooms, bad frames,
//! API Gateway's frame limit, the connection limit, a vanished client's
//! cleanup and logout closing the socket.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use shared::ids::{SessionId, UserId};
use shared::realtime::Room;
use shared::realtime::store::{ConnectionId, ConnectionStore};
use shared::time::Timestamp;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use xtask::stack::StackInfo;

use crate::helpers::Api;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a frame may take to come (a function's first call included).
const WAIT: Duration = Duration::from_secs(30);

fn unique_room(name: &str) -> String {
    format!(
        "{name}-{}",
        shared::ids::new_id()
            .to_ascii_lowercase()
            .replace(['-', '_'], "")
    )
}

/// A ticket's URL for the user of `token`.
fn ticket_url(api: &Api, token: &str) -> String {
    let reply = api.create_realtime_ticket(token);
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let url = reply.body["url"].as_str().unwrap().to_string();
    let stack = StackInfo::from_env().unwrap();
    assert!(url.starts_with(&stack.websocket_url), "{url}");
    assert_eq!(
        url,
        format!(
            "{}?ticket={}",
            stack.websocket_url,
            reply.body["ticket"].as_str().unwrap()
        )
    );
    url
}

/// The handshake's status when refused.
async fn refused(url: &str) -> u16 {
    match connect_async(url).await {
        Ok(_) => panic!("{url}: the handshake was accepted"),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("{url}: {other}"),
    }
}

async fn open(url: &str) -> Socket {
    connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .0
}

async fn send(socket: &mut Socket, frame: &str) {
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

/// The next text frame, as JSON.
async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a frame within the wait")
            .expect("the connection is open")
            .expect("a frame");
        match frame {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("not a text frame: {other:?}"),
        }
    }
}

/// The close frame's code the server ends the connection with.
async fn closed_with(socket: &mut Socket) -> Option<CloseCode> {
    loop {
        match tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("closed within the wait")
        {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

async fn subscribe(socket: &mut Socket, room: &str) {
    send(
        socket,
        &json!({"action": "subscribe", "room": room}).to_string(),
    )
    .await;
    assert_eq!(
        next(socket).await,
        json!({"type": "subscribed", "room": room})
    );
}

async fn store() -> ConnectionStore {
    let stack = StackInfo::from_env().unwrap();
    let env = stack.template_environment("realtime-connect");
    shared::realtime::connection_store(&env, &stack.aws_clients().await).unwrap()
}

#[tokio::test]
async fn a_ticket_opens_one_connection_once_and_not_after_30_seconds() {
    let api = Api::new();
    let token = api.new_user().1;
    let url = ticket_url(&api, &token);
    let mut socket = open(&url).await;
    send(&mut socket, r#"{"action":"ping"}"#).await;
    assert_eq!(next(&mut socket).await, json!({"type": "pong"}));
    assert_eq!(refused(&url).await, 401, "a spent ticket");

    let base = StackInfo::from_env().unwrap().websocket_url;
    assert_eq!(refused(&base).await, 401, "no ticket");
    assert_eq!(
        refused(&format!("{base}?ticket=made-up")).await,
        401,
        "an unknown ticket"
    );

    // A ticket issued 31 seconds ago, for a live session: expired.
    let user_id = UserId::from(api.user_id(&token));
    let sessions = api.list_sessions(&token).body;
    let session_id = SessionId::from(sessions["sessions"][0]["session_id"].as_str().unwrap());
    let old = Timestamp(Timestamp::now().0 - 31);
    let ticket = store()
        .await
        .issue_ticket(&user_id, &session_id, old)
        .await
        .unwrap();
    assert_eq!(
        refused(&format!("{base}?ticket={}", ticket.secret)).await,
        401,
        "an expired ticket"
    );
    // The same, issued now: it works.
    let ticket = store()
        .await
        .issue_ticket(&user_id, &session_id, Timestamp::now())
        .await
        .unwrap();
    open(&format!("{base}?ticket={}", ticket.secret)).await;
}

#[tokio::test]
async fn a_ticket_of_an_ended_session_is_refused() {
    let api = Api::new();
    let token = api.new_user().1;
    let url = ticket_url(&api, &token);
    assert_eq!(api.logout(&token).status, 204);
    assert_eq!(refused(&url).await, 401);
}

#[tokio::test]
async fn two_clients_in_a_room_get_every_message_exactly_as_published() {
    let api = Api::new();
    let (alice, bob) = (api.new_user().1, api.new_user().1);
    let alice_id = api.user_id(&alice);
    let room = unique_room("chat");
    let mut a = open(&ticket_url(&api, &alice)).await;
    let mut b = open(&ticket_url(&api, &bob)).await;
    subscribe(&mut a, &room).await;
    subscribe(&mut b, &room).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let data = json!({"n": n, "text": "héllo", "nested": {"list": [1, 2.5, null, true]}});
        send(
            &mut a,
            &json!({"action": "publish", "room": room, "data": data}).to_string(),
        )
        .await;
        // Alice gets her own message and the answer, in either order.
        let (first, second) = (next(&mut a).await, next(&mut a).await);
        let (published, mine) = if first["type"] == "published" {
            (first, second)
        } else {
            (second, first)
        };
        assert_eq!(published["type"], "published", "{published}");
        assert_eq!(published["room"], room.as_str());
        assert_eq!(published["recipients"], 2);
        let theirs = next(&mut b).await;
        for message in [&mine, &theirs] {
            assert_eq!(message["type"], "message");
            assert_eq!(message["id"], published["id"], "one id for every copy");
            assert_eq!(message["room"], room.as_str());
            assert_eq!(message["from"], alice_id.as_str());
            assert_eq!(message["data"], data, "the data as published");
            assert!(
                message["sent_at"]
                    .as_str()
                    .is_some_and(|t| t.ends_with('Z'))
            );
        }
        ids.push(published["id"].as_str().unwrap().to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "every message has an id of its own");

    // Bob leaves: Alice's next message reaches Alice alone.
    send(
        &mut b,
        &json!({"action": "unsubscribe", "room": room}).to_string(),
    )
    .await;
    assert_eq!(
        next(&mut b).await,
        json!({"type": "unsubscribed", "room": room})
    );
    send(
        &mut a,
        &json!({"action": "publish", "room": room, "data": 1}).to_string(),
    )
    .await;
    let frames = [next(&mut a).await, next(&mut a).await];
    let published = frames.iter().find(|f| f["type"] == "published").unwrap();
    assert_eq!(published["recipients"], 1);
    send(&mut b, r#"{"action":"ping"}"#).await;
    assert_eq!(
        next(&mut b).await,
        json!({"type": "pong"}),
        "no message came to Bob first"
    );
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_connection_stays_usable() {
    let api = Api::new();
    let token = api.new_user().1;
    let mut socket = open(&ticket_url(&api, &token)).await;
    let room = unique_room("bad");
    let big = "x".repeat(16 * 1024 + 1);
    let cases = [
        ("not json".to_string(), "invalid_frame"),
        (r#"["a"]"#.to_string(), "invalid_frame"),
        (r#"{"action":"dance"}"#.to_string(), "unknown_action"),
        (
            r#"{"action":"subscribe","room":"a/b"}"#.to_string(),
            "invalid_field",
        ),
        (
            r#"{"action":"subscribe","room":"a","extra":1}"#.to_string(),
            "invalid_field",
        ),
        (r#"{"action":"subscribe"}"#.to_string(), "invalid_field"),
        (
            json!({"action": "publish", "room": room, "data": big}).to_string(),
            "data_too_large",
        ),
        (
            json!({"action": "publish", "room": room, "data": 1}).to_string(),
            "not_subscribed",
        ),
    ];
    for (frame, code) in cases {
        send(&mut socket, &frame).await;
        let answer = next(&mut socket).await;
        assert_eq!(answer["type"], "error", "{frame:.60}: {answer}");
        assert_eq!(answer["code"], code, "{frame:.60}: {answer}");
        assert!(answer["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    subscribe(&mut socket, &room).await;
    send(&mut socket, r#"{"action":"ping"}"#).await;
    assert_eq!(next(&mut socket).await, json!({"type": "pong"}));
}

#[tokio::test]
async fn a_frame_over_32_kib_is_closed_with_1009() {
    let api = Api::new();
    let token = api.new_user().1;
    let mut socket = open(&ticket_url(&api, &token)).await;
    send(&mut socket, &"x".repeat(32 * 1024 + 1)).await;
    assert_eq!(closed_with(&mut socket).await, Some(CloseCode::Size));
}

#[tokio::test]
async fn past_the_connection_limit_the_handshake_is_refused_with_429() {
    let api = Api::new();
    let token = api.new_user().1;
    let mut open_ones = Vec::new();
    for _ in 0..10 {
        open_ones.push(open(&ticket_url(&api, &token)).await);
    }
    assert_eq!(refused(&ticket_url(&api, &token)).await, 429);
    // One closed frees its slot ($disconnect).
    let mut first = open_ones.remove(0);
    first.close(None).await.unwrap();
    let mut attempts = 0;
    loop {
        match connect_async(ticket_url(&api, &token)).await {
            Ok(_) => break,
            Err(_) if attempts < 20 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(error) => panic!("the freed slot was not given: {error}"),
        }
    }
}

#[tokio::test]
async fn a_client_that_vanished_without_a_close_is_cleaned_up_on_the_next_post() {
    let api = Api::new();
    let token = api.new_user().1;
    let room = unique_room("vanish");
    // A connection the service accepted whose client went away without
    // its `$disconnect` (best effort): its records stay until a post finds it gone.
    let user_id = UserId::from(api.user_id(&token));
    let sessions = api.list_sessions(&token).body;
    let session_id = SessionId::from(sessions["sessions"][0]["session_id"].as_str().unwrap());
    let store = store().await;
    let now = Timestamp::now();
    let ticket = store
        .issue_ticket(&user_id, &session_id, now)
        .await
        .unwrap();
    let vanished = ConnectionId::new("VanishedConn0A=");
    store
        .connect(&ticket.secret, &vanished, 10, now)
        .await
        .unwrap();
    assert!(
        store
            .subscribe(&vanished, &Room::parse(&room).unwrap(), now)
            .await
            .unwrap()
    );

    let mut socket = open(&ticket_url(&api, &token)).await;
    subscribe(&mut socket, &room).await;
    send(
        &mut socket,
        &json!({"action": "publish", "room": room, "data": "hi"}).to_string(),
    )
    .await;
    let frames = [next(&mut socket).await, next(&mut socket).await];
    let published = frames.iter().find(|f| f["type"] == "published").unwrap();
    assert_eq!(published["recipients"], 1, "the live one got it");
    assert!(frames.iter().any(|f| f["type"] == "message"));
    let room = Room::parse(&room).unwrap();
    assert_eq!(
        store.connection(&vanished, Timestamp::now()).await.unwrap(),
        None
    );
    let members = store.members(&room, Timestamp::now()).await.unwrap();
    assert_eq!(
        members.len(),
        1,
        "only the live member is left: {members:?}"
    );
    assert_eq!(
        store
            .connections_of(&user_id, None, Timestamp::now())
            .await
            .unwrap()
            .len(),
        1,
        "the vanished one's slot is free, the live one's kept"
    );
}

#[tokio::test]
async fn logout_logout_all_and_session_revoke_close_the_sockets_of_the_sessions_they_end() {
    let api = Api::new();
    let (email, first) = api.new_user();
    let second = api.login_as(&email)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let third = api.login_as(&email)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut first_socket = open(&ticket_url(&api, &first)).await;
    let mut second_socket = open(&ticket_url(&api, &second)).await;
    let mut third_socket = open(&ticket_url(&api, &third)).await;

    // Logout ends the first session: its socket closes, the others' stay.
    assert_eq!(api.logout(&first).status, 204);
    assert_eq!(
        closed_with(&mut first_socket).await,
        Some(CloseCode::Normal)
    );
    send(&mut second_socket, r#"{"action":"ping"}"#).await;
    assert_eq!(next(&mut second_socket).await, json!({"type": "pong"}));

    // Revoking the second session from the third closes the second's.
    let sessions = api.list_sessions(&third).body;
    let second_session = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(api.delete_session(&third, &second_session).status, 204);
    assert_eq!(
        closed_with(&mut second_socket).await,
        Some(CloseCode::Normal)
    );
    send(&mut third_socket, r#"{"action":"ping"}"#).await;
    assert_eq!(next(&mut third_socket).await, json!({"type": "pong"}));

    // Logout-all closes every one left.
    let mut fourth_socket = {
        let fourth = api.login_as(&email)["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        open(&ticket_url(&api, &fourth)).await
    };
    assert_eq!(api.logout_all(&third).status, 204);
    assert_eq!(
        closed_with(&mut third_socket).await,
        Some(CloseCode::Normal)
    );
    assert_eq!(
        closed_with(&mut fourth_socket).await,
        Some(CloseCode::Normal)
    );
}

/// Two instances of the functions behind one gateway of the test's own,
/// which invokes them in turn (as Lambda spreads events): both clients get
/// every message as published; then one instance is killed mid-traffic,
/// and every publish that was acknowledged (`published`) still reached
/// both clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_serve_one_room_and_one_killed_loses_no_acknowledged_message() {
    use xtask::stack::{Instance, free_port};
    use xtask::template::Template;
    use xtask::ws_gateway::{Gateway, Limits, stage_of};

    let stack = StackInfo::from_env().unwrap();
    let template = Template::load(&xtask::workspace_root().join("template.yaml")).unwrap();
    let (port, management) = (free_port().unwrap(), free_port().unwrap());
    let endpoint = format!("http://127.0.0.1:{management}/{}", stage_of(&template));
    let overrides = [("REALTIME_MANAGEMENT_ENDPOINT", endpoint.as_str())];
    let (a, b) = {
        let stack = stack.clone();
        let overrides: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tokio::task::spawn_blocking(move || {
            let pairs: Vec<(&str, &str)> = overrides
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            (
                Instance::start(&stack, "realtime-a", &pairs).unwrap(),
                Instance::start(&stack, "realtime-b", &pairs).unwrap(),
            )
        })
        .await
        .unwrap()
    };
    let gateway = Gateway::start(
        template.socket_routes().unwrap(),
        stage_of(&template),
        vec![a.api_url.clone(), b.api_url.clone()],
        port,
        management,
        Limits::default(),
    )
    .await
    .unwrap();
    let api = Api::new();
    let url_of = |token: &str| {
        let ticket = api.create_realtime_ticket(token).body["ticket"]
            .as_str()
            .unwrap()
            .to_string();
        format!("{}?ticket={ticket}", gateway.url)
    };
    let (alice, bob) = (api.new_user().1, api.new_user().1);
    let room = unique_room("two");
    let mut clients = [open(&url_of(&alice)).await, open(&url_of(&bob)).await];
    for client in &mut clients {
        subscribe(client, &room).await;
    }

    let mut acknowledged = Vec::new();
    let mut received: [Vec<Value>; 2] = [Vec::new(), Vec::new()];
    let mut b = Some(b);
    for n in 0..12 {
        if n == 6 {
            // Mid-traffic: no signal, no request finished.
            if let Some(b) = b.take() {
                b.kill();
            }
        }
        let from = n % 2;
        let data = json!({"n": n, "from": from});
        send(
            &mut clients[from],
            &json!({"action": "publish", "room": room, "data": data}).to_string(),
        )
        .await;
        // Until its answer: `published`, or the gateway's error for a dead instance.
        loop {
            let frame = next(&mut clients[from]).await;
            match frame["type"].as_str() {
                Some("message") => received[from].push(frame),
                Some("published") => {
                    acknowledged.push((frame["id"].as_str().unwrap().to_string(), data.clone()));
                    break;
                }
                _ => {
                    assert!(n >= 6, "an error before any instance died: {frame}");
                    break;
                }
            }
        }
    }
    assert!(acknowledged.len() >= 6, "{acknowledged:?}");
    // Every acknowledged message reaches both clients, exactly as published.
    for (client, got) in clients.iter_mut().zip(received.iter_mut()) {
        loop {
            let missing = acknowledged
                .iter()
                .any(|(id, _)| !got.iter().any(|m| m["id"] == id.as_str()));
            if !missing {
                break;
            }
            let frame = next(client).await;
            if frame["type"] == "message" {
                got.push(frame);
            }
        }
        for (id, data) in &acknowledged {
            let message = got.iter().find(|m| m["id"] == id.as_str()).unwrap();
            assert_eq!(&message["data"], data);
            assert_eq!(message["room"], room.as_str());
        }
    }
    gateway.stop().await;
    drop(a);
}
