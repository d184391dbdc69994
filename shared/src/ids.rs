//! Opaque, URL-safe identifiers with 128 bits of randomness: session ids,
//! user ids, token ids. Parsing checks the shape, so a malformed id from a
//! path or a token never reaches a store.

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
