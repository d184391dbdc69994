//! The frames of the WebSocket API (`shared/openapi.yaml`, "Realtime"):
//! what a client sends, parsed strictly, and what the server answers.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Largest `data` of a `publish`, as JSON text (16 KiB).
pub const MAX_DATA_BYTES: usize = 16 * 1024;

/// Rooms a connection may be subscribed to at once.
pub const MAX_ROOMS_PER_CONNECTION: usize = 20;

/// A room's name: 1 to 64 of `a-z 0-9 - _`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Room(String);

impl Room {
    /// The name, if it is one.
    pub fn parse(text: &str) -> Result<Self, String> {
        let valid = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(text.to_string()))
        } else {
            Err("`room` must be 1 to 64 characters of a-z, 0-9, - and _".into())
        }
    }

    /// As text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Room {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The `code` of an error frame: stable, for clients to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not an object with a text `action`.
    InvalidFrame,
    /// An `action` no route serves.
    UnknownAction,
    /// A field is missing, of the wrong type, unknown or out of range.
    InvalidField,
    /// `data` over 16 KiB.
    DataTooLarge,
    /// A `publish` to a room this connection is not subscribed to.
    NotSubscribed,
    /// A 21st room.
    TooManyRooms,
    /// The publish budget of the user is spent for now.
    RateLimited,
    /// The service knows no such connection (it was closed).
    NotConnected,
    /// A store failed: try again.
    Unavailable,
}

/// `{"action": "subscribe"|"unsubscribe", "room"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomFrame {
    /// The route (checked by API Gateway's route selection).
    #[allow(dead_code)]
    action: String,
    /// The room.
    pub room: Room,
}

/// `{"action": "publish", "room", "data"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishFrame {
    #[allow(dead_code)]
    action: String,
    /// The room.
    pub room: Room,
    /// Any JSON, kept as sent.
    pub data: Box<RawValue>,
}

/// `{"action": "ping"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PingFrame {
    #[allow(dead_code)]
    action: String,
}

/// What the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    /// The answer to `subscribe`.
    Subscribed {
        /// The room.
        room: &'a Room,
    },
    /// The answer to `unsubscribe`.
    Unsubscribed {
        /// The room.
        room: &'a Room,
    },
    /// The answer to `publish`: the message is delivered to `recipients`.
    Published {
        /// The room.
        room: &'a Room,
        /// The message's id.
        id: &'a str,
        /// The connections it was posted to.
        recipients: usize,
    },
    /// A room's message, to each subscribed connection.
    Message {
        /// The same for every copy: a client drops an id it has seen.
        id: &'a str,
        /// The room.
        room: &'a Room,
        /// The publisher's user id.
        from: &'a str,
        /// As published.
        data: &'a RawValue,
        /// RFC 3339.
        sent_at: String,
    },
    /// The answer to `ping`.
    Pong,
    /// A frame the server could not act on; the connection stays open.
    Error {
        /// Stable.
        code: ErrorCode,
        /// For people.
        detail: String,
    },
}

impl ServerFrame<'_> {
    /// As JSON text.
    pub fn to_text(&self) -> String {
        // Serializing these types cannot fail: no map with non-text keys.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// An error frame's text.
pub fn error_text(code: ErrorCode, detail: impl Into<String>) -> String {
    ServerFrame::Error {
        code,
        detail: detail.into(),
    }
    .to_text()
}

/// Parses a client frame strictly: the error frame's text when it is not
/// one of type `T` (with the path of the field at fault).
pub fn parse<T: DeserializeOwned>(body: Option<&str>) -> Result<T, String> {
    let body = body.unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(body)
        .map_err(|_| error_text(ErrorCode::InvalidFrame, "the frame is not JSON"))?;
    if let Some(data) = value.get("data")
        && data.to_string().len() > MAX_DATA_BYTES
    {
        return Err(error_text(
            ErrorCode::DataTooLarge,
            format!("`data` is over {MAX_DATA_BYTES} bytes"),
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_str(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner().to_string();
        let reason = inner.split(" at line ").next().unwrap_or_default();
        error_text(ErrorCode::InvalidField, format!("`{path}`: {reason}"))
    })
}

/// The route a frame names, as API Gateway's `$request.body.action` reads it.
pub fn action(body: Option<&str>) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body.unwrap_or_default()).ok()?;
    value.get("action")?.as_str().map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_checked() {
        for good in ["a", "general", "room-1_b", &"x".repeat(64)] {
            assert!(Room::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "a/b", "Upper", "sp ace", "é", &"x".repeat(65)] {
            assert!(Room::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn frames_parse_strictly() {
        let ok: RoomFrame = parse(Some(r#"{"action":"subscribe","room":"a"}"#)).unwrap();
        assert_eq!(ok.room.as_str(), "a");
        for (body, code) in [
            ("not json", "invalid_frame"),
            (r#"{"action":"subscribe","room":"a/b"}"#, "invalid_field"),
            (r#"{"action":"subscribe"}"#, "invalid_field"),
            (
                r#"{"action":"subscribe","room":"a","x":1}"#,
                "invalid_field",
            ),
        ] {
            let error = parse::<RoomFrame>(Some(body)).unwrap_err();
            assert!(error.contains(code), "{body}: {error}");
        }
        let big = format!(
            r#"{{"action":"publish","room":"a","data":"{}"}}"#,
            "x".repeat(MAX_DATA_BYTES)
        );
        assert!(
            parse::<PublishFrame>(Some(&big))
                .unwrap_err()
                .contains("data_too_large")
        );
    }

    #[test]
    fn a_message_keeps_its_data_as_sent() {
        let frame: PublishFrame = parse(Some(
            r#"{"action":"publish","room":"a","data":{"b":[1,2]}}"#,
        ))
        .unwrap();
        let text = ServerFrame::Message {
            id: "m",
            room: &frame.room,
            from: "u",
            data: &frame.data,
            sent_at: "t".into(),
        }
        .to_text();
        assert_eq!(
            text,
            r#"{"type":"message","id":"m","room":"a","from":"u","data":{"b":[1,2]},"sent_at":"t"}"#
        );
    }
}
