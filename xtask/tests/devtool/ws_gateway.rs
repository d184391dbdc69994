//! The dev tool's WebSocket gateway keeps API Gateway's time limits: a
//! gateway of the test's own, with its limits shortened by setting, in
//! front of the test stack's functions.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use xtask::client::Client;
use xtask::stack::{StackInfo, free_port};
use xtask::template::Template;
use xtask::ws_gateway::{Gateway, Limits, stage_of};

async fn gateway(limits: Limits) -> (Gateway, String) {
    let stack = StackInfo::from_env().unwrap();
    let template = Template::load(&xtask::workspace_root().join("template.yaml")).unwrap();
    let gateway = Gateway::start(
        template.socket_routes().unwrap(),
        stage_of(&template),
        vec![stack.api_url.clone()],
        free_port().unwrap(),
        free_port().unwrap(),
        limits,
    )
    .await
    .unwrap();
    let api = Client::at(&stack.api_url);
    let (_, token) = api.register_and_login().unwrap();
    let ticket = api
        .call("POST", "/realtime/tickets", Some(&token), &[], None)
        .unwrap();
    assert_eq!(ticket.status, 201, "{}", ticket.body);
    let url = format!(
        "{}?ticket={}",
        gateway.url,
        ticket.body["ticket"].as_str().unwrap()
    );
    (gateway, url)
}

/// The close code the server ends with, within `within`.
async fn close_code<S>(socket: &mut S, within: Duration) -> Option<CloseCode>
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    tokio::time::timeout(within, async {
        while let Some(frame) = socket.next().await {
            if let Ok(Message::Close(frame)) = frame {
                return frame.map(|f| f.code);
            }
        }
        None
    })
    .await
    .expect("closed in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_going_away() {
    let limits = Limits {
        idle: Duration::from_secs(2),
        ..Limits::default()
    };
    let (gateway, url) = gateway(limits).await;
    let (mut socket, _) = connect_async(&url).await.unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        close_code(&mut socket, Duration::from_secs(30)).await,
        Some(CloseCode::Away)
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "not before the idle limit"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_in_use_is_closed_at_the_longest_duration() {
    let limits = Limits {
        max_duration: Duration::from_secs(3),
        ..Limits::default()
    };
    let (gateway, url) = gateway(limits).await;
    let (socket, _) = connect_async(&url).await.unwrap();
    let (mut sink, mut stream) = socket.split();
    let started = std::time::Instant::now();
    // Busy all along: pings every half second, answered with pongs.
    let pinging = tokio::spawn(async move {
        loop {
            if sink
                .send(Message::Text(r#"{"action":"ping"}"#.into()))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let mut pongs = 0;
    let code = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(frame) = stream.next().await {
            match frame {
                Ok(Message::Text(text)) if text.as_str() == r#"{"type":"pong"}"# => pongs += 1,
                Ok(Message::Close(frame)) => return frame.map(|f| f.code),
                _ => {}
            }
        }
        None
    })
    .await
    .expect("closed in time");
    pinging.abort();
    assert_eq!(code, Some(CloseCode::Away));
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert!(pongs >= 2, "it was in use: {pongs} pongs");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_limit_is_closed_with_1009() {
    let limits = Limits {
        frame_bytes: 1024,
        message_bytes: 4096,
        ..Limits::default()
    };
    let (gateway, url) = gateway(limits).await;
    let (mut socket, _) = connect_async(&url).await.unwrap();
    // Fragments of 1 KiB each, 5 KiB in all: every frame fits, the message does not.
    let mut frames = Vec::new();
    for n in 0..5 {
        let payload = vec![b'x'; 1024];
        let opcode = if n == 0 {
            tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
                tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Text,
            )
        } else {
            tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
                tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Continue,
            )
        };
        frames.push(
            tokio_tungstenite::tungstenite::protocol::frame::Frame::message(
                payload,
                opcode,
                n == 4,
            ),
        );
    }
    for frame in frames {
        if socket.send(Message::Frame(frame)).await.is_err() {
            break;
        }
    }
    assert_eq!(
        close_code(&mut socket, Duration::from_secs(30)).await,
        Some(CloseCode::Size)
    );
    gateway.stop().await;
}
