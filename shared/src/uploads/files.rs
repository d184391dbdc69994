//! What an upload may be: its type (from an allow-list), its size (up to a
//! maximum), and its display name, which is never part of the object key.

use crate::config::{ConfigError, Environment};

/// Types accepted unless `UPLOAD_ALLOWED_TYPES` says otherwise.
pub const DEFAULT_ALLOWED_TYPES: &str =
    "image/jpeg,image/png,image/gif,image/webp,application/pdf,text/plain,application/json";
/// The size limit unless `UPLOAD_MAX_BYTES` says otherwise (10 MiB).
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Longest display name kept, in characters.
pub const MAX_FILENAME_CHARS: usize = 255;

/// The types and sizes uploads may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPolicy {
    allowed_types: Vec<String>,
    max_bytes: u64,
}

impl UploadPolicy {
    /// From `UPLOAD_ALLOWED_TYPES` (comma-separated) and `UPLOAD_MAX_BYTES`.
    pub fn from_env(env: &Environment) -> Result<Self, ConfigError> {
        let allowed_types = env
            .get("UPLOAD_ALLOWED_TYPES")
            .unwrap_or(DEFAULT_ALLOWED_TYPES)
            .split(',')
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        Ok(Self {
            allowed_types,
            max_bytes: env.parse_or("UPLOAD_MAX_BYTES", DEFAULT_MAX_BYTES)?,
        })
    }

    /// The type as stored and signed (lower case), or why it is refused.
    pub fn content_type(&self, raw: &str) -> Result<String, String> {
        let normalised = raw.trim().to_ascii_lowercase();
        if self.allowed_types.contains(&normalised) {
            Ok(normalised)
        } else {
            Err(format!(
                "must be one of: {} (without parameters)",
                self.allowed_types.join(", ")
            ))
        }
    }

    /// The size, or why it is refused.
    pub fn size(&self, raw: u64) -> Result<u64, String> {
        if (1..=self.max_bytes).contains(&raw) {
            Ok(raw)
        } else {
            Err(format!("must be from 1 to {} bytes", self.max_bytes))
        }
    }
}

/// A file's name for display and download: the last path segment, without
/// control characters, at most 255 characters, never empty.
pub fn display_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILENAME_CHARS)
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    if trimmed.is_empty() {
        "upload".to_string()
    } else {
        trimmed.to_string()
    }
}

/// `Content-Disposition: attachment` naming `name` (RFC 6266): an ASCII
/// fallback for old clients and the exact name as `filename*`.
pub fn attachment(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> UploadPolicy {
        UploadPolicy::from_env(&Environment::from_pairs([("UNRELATED", "x")])).unwrap()
    }

    #[test]
    fn the_default_types_are_allowed_in_any_case() {
        let policy = policy();
        for t in ["image/png", "IMAGE/JPEG", " application/pdf ", "text/plain"] {
            assert!(policy.content_type(t).is_ok(), "{t}");
        }
        assert_eq!(policy.content_type("Image/PNG").unwrap(), "image/png");
    }

    #[test]
    fn other_types_and_parameters_are_refused() {
        let policy = policy();
        for t in [
            "text/html",
            "image/svg+xml",
            "application/octet-stream",
            "text/plain; charset=utf-8",
            "",
        ] {
            assert!(policy.content_type(t).is_err(), "{t}");
        }
    }

    #[test]
    fn sizes_from_1_byte_to_the_maximum() {
        let policy = policy();
        assert!(policy.size(1).is_ok());
        assert!(policy.size(DEFAULT_MAX_BYTES).is_ok());
        assert!(policy.size(0).is_err());
        assert!(policy.size(DEFAULT_MAX_BYTES + 1).is_err());
    }

    #[test]
    fn the_allow_list_and_limit_are_configurable() {
        let env = Environment::from_pairs([
            ("UPLOAD_ALLOWED_TYPES", "text/csv, image/png"),
            ("UPLOAD_MAX_BYTES", "100"),
        ]);
        let policy = UploadPolicy::from_env(&env).unwrap();
        assert!(policy.content_type("text/csv").is_ok());
        assert!(policy.content_type("application/pdf").is_err());
        assert!(policy.size(101).is_err());
    }

    #[test]
    fn names_lose_their_path_and_control_characters() {
        assert_eq!(display_name("../../etc/passwd"), "passwd");
        assert_eq!(display_name("C:\\Users\\a\\report.pdf"), "report.pdf");
        assert_eq!(display_name("a\u{0}b\r\nc.txt"), "abc.txt");
        assert_eq!(display_name(".."), "upload");
        assert_eq!(display_name(""), "upload");
        assert_eq!(display_name(".hidden"), "hidden");
        assert_eq!(display_name("résumé 📄.pdf"), "résumé 📄.pdf");
        assert_eq!(
            display_name(&"x".repeat(1000)).chars().count(),
            MAX_FILENAME_CHARS
        );
    }

    #[test]
    fn attachments_quote_safely_and_keep_the_exact_name() {
        assert_eq!(
            attachment("a\"b\\c.pdf"),
            "attachment; filename=\"a_b_c.pdf\"; filename*=UTF-8''a%22b%5Cc%2Epdf"
        );
        let unicode = attachment("résumé.pdf");
        assert!(unicode.starts_with(
            "attachment; filename=\"r_sum_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%2Epdf"
        ));
    }
}
