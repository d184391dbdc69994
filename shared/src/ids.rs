//! Opaque, URL-safe identifiers with 128 bits of randomness: session ids,
//! user ids, token ids. Parsing checks the shape, so a malformed id from a
//! path or a token never reaches a store.
//!
//! The ids that travel in pairs have types of their own ([`UserId`],
//! [`SessionId`], [`JobId`], [`UploadId`]), so a store call cannot take a
//! user's id for a job's. Each reads as its text (`Deref<Target = str>`)
//! wherever text is wanted: a key, a log field, a JSON body.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Bytes of randomness in an id (128 bits).
const ID_BYTES: usize = 16;
/// Length of an id: 16 bytes in unpadded base64url.
pub const ID_LEN: usize = 22;

/// `n` random bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // aws-lc's generator only fails if the OS has no entropy source at all;
    // nothing can be issued safely then, so the process aborts.
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator is available");
    bytes
}

/// A fresh random id.
pub fn new_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<ID_BYTES>())
}

/// Whether `text` has the shape of an id made by [`new_id`].
pub fn is_id(text: &str) -> bool {
    text.len() == ID_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[derive(serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh random one.
            pub fn new() -> Self {
                Self(new_id())
            }

            /// As text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        /// From text this service gave out and read back (a stored item, a
        /// verified token); a path parameter is checked first (`path_id`).
        impl From<String> for $name {
            fn from(text: String) -> Self {
                Self(text)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self(text.to_string())
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

typed_id!(
    /// A user's id: the partition of everything the user owns.
    UserId
);
typed_id!(
    /// A session's id (`sid` of its tokens).
    SessionId
);
typed_id!(
    /// A job's id.
    JobId
);
typed_id!(
    /// An upload's id.
    UploadId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_have_the_id_shape_and_differ() {
        let a = new_id();
        let b = new_id();
        assert!(is_id(&a), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn a_typed_id_reads_and_serialises_as_its_text() {
        let id = JobId::from("abc");
        assert_eq!(id, "abc");
        assert_eq!(id.len(), 3);
        assert_eq!(
            serde_json::json!({ "job_id": id }).to_string(),
            r#"{"job_id":"abc"}"#
        );
        assert!(is_id(&JobId::new()));
        assert_ne!(UserId::new(), UserId::new());
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "short",
            "../../../etc/passwd1234",
            "aaaaaaaaaaaaaaaaaaaaa=",
            "aaaaaaaaaaaaaaaaaaaaaaa",
            "ééééééééééé",
        ] {
            assert!(!is_id(bad), "{bad}");
        }
    }
}
