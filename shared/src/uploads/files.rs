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

/// Whether `c` may stay in a display name: no control characters, and none
/// of the bidirectional controls (embeddings, overrides, isolates and the
/// marks LRM, RLM and ALM) that make a name read otherwise than it is
/// (`invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`). The joiners ZWJ and
/// ZWNJ stay: emoji sequences and scripts such as Persian need them.
fn kept_in_name(c: char) -> bool {
    !c.is_control()
        && !matches!(
            c,
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
        )
}

/// A file's name for display and download: the last path segment, without
/// control or bidirectional control characters, at most 255 characters,
/// never empty.
pub fn display_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|&c| kept_in_name(c))
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
/// fallback for old clients and the exact name as `filename*`. Characters a
/// display name may not hold are dropped here too, so a name stored before
/// they were never reaches a browser's download bar.
pub fn attachment(name: &str) -> String {
    let name: String = name.chars().filter(|&c| kept_in_name(c)).collect();
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
    let exact = percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC);
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
    fn a_name_loses_a_right_to_left_override() {
        assert_eq!(display_name("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
    }

    #[test]
    fn a_name_loses_a_left_to_right_override() {
        assert_eq!(display_name("\u{202D}gpj.exe"), "gpj.exe");
    }

    #[test]
    fn a_name_loses_its_embeddings_and_their_pop() {
        assert_eq!(display_name("a\u{202A}b\u{202B}c\u{202C}.txt"), "abc.txt");
    }

    #[test]
    fn a_name_loses_its_isolates_and_their_pop() {
        assert_eq!(
            display_name("\u{2066}a\u{2069}\u{2067}b\u{2069}\u{2068}c.txt\u{2069}"),
            "abc.txt"
        );
    }

    #[test]
    fn a_name_loses_its_direction_marks() {
        assert_eq!(display_name("a\u{200E}b\u{200F}c\u{061C}.txt"), "abc.txt");
    }

    #[test]
    fn a_name_of_nothing_but_bidirectional_controls_is_upload() {
        assert_eq!(display_name("\u{202E}\u{2066}\u{200F}"), "upload");
    }

    #[test]
    fn a_zwj_emoji_sequence_keeps_its_joiners() {
        // Family: man, woman, girl, boy, joined by U+200D.
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}\u{200D}\u{1F466}.png";
        assert_eq!(display_name(family), family);
    }

    #[test]
    fn a_persian_word_keeps_its_non_joiner() {
        // "mi<ZWNJ>khaham" (I want): the ZWNJ keeps the prefix apart.
        let word = "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}.txt";
        assert_eq!(display_name(word), word);
    }

    #[test]
    fn an_attachment_never_names_a_bidirectional_control() {
        assert_eq!(
            attachment("invoice\u{202E}fdp.exe"),
            attachment("invoicefdp.exe")
        );
        assert!(!attachment("a\u{2067}b\u{200F}.txt").contains("%E2"));
        assert!(
            attachment("a\u{200D}b.txt").contains("%E2%80%8D"),
            "ZWJ stays"
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
