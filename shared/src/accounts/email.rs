//! An email address as accounts use it: trimmed, lower-cased, and of a shape
//! that can receive mail. Its only constructor is [`Email::parse`].

use std::fmt;

/// Longest address accepted (RFC 5321's path limit).
const MAX_LEN: usize = 254;
/// Longest local part (RFC 5321).
const MAX_LOCAL_LEN: usize = 64;

/// A normalised, syntactically valid email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Normalises (trim, lower-case) and validates `raw`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("email is empty".into());
        }
        if email.len() > MAX_LEN {
            return Err(format!("email is longer than {MAX_LEN} characters"));
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err("email has no @".into());
        };
        if local.is_empty() || local.len() > MAX_LOCAL_LEN || local.contains('@') {
            return Err("email has an invalid part before the @".into());
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return Err("email has an invalid part before the @".into());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return Err("email has an invalid domain".into());
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_whitespace() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn accepts_common_shapes() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "o'brien@example.ie",
            "ünï@exämple.de",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_an_empty_string() {
        assert!(Email::parse("   ").is_err());
    }

    #[test]
    fn refuses_a_missing_at() {
        assert!(Email::parse("example.com").is_err());
    }

    #[test]
    fn refuses_a_missing_local_part() {
        assert!(Email::parse("@example.com").is_err());
    }

    #[test]
    fn refuses_a_missing_domain() {
        assert!(Email::parse("ada@").is_err());
    }

    #[test]
    fn refuses_a_domain_without_a_dot() {
        assert!(Email::parse("ada@localhost").is_err());
    }

    #[test]
    fn refuses_two_ats() {
        assert!(Email::parse("a@b@example.com").is_err());
    }

    #[test]
    fn refuses_spaces_and_control_characters() {
        assert!(Email::parse("a b@example.com").is_err());
        assert!(Email::parse("ab@exa\u{0}mple.com").is_err());
    }

    #[test]
    fn refuses_dots_in_the_wrong_places() {
        for bad in [
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "a@example..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_overlong_addresses() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long_local).is_err());
        let long = format!("a@{}.com", "b".repeat(260));
        assert!(Email::parse(&long).is_err());
    }
}
