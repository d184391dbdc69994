//! Configuration read once at cold start from the environment that
//! `template.yaml` gives each function.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

/// Why a function could not be configured: always names the variable, never its value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is absent or empty.
    #[error("environment variable {name} is not set (template.yaml gives it to this function)")]
    Missing { name: &'static str },
    /// A variable is present but cannot be used.
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// A snapshot of the environment, taken once; tests build one from pairs.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: HashMap<String, String>,
}

impl Environment {
    /// Snapshot of this process's environment (variables that are not UTF-8 are skipped).
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// An environment made of the given pairs only.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The value of an optional variable; an empty value counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The value of a variable the function cannot run without.
    pub fn require(&self, name: &'static str) -> Result<&str, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing { name })
    }

    /// An optional variable parsed into `T`, or `default` when it is absent.
    pub fn parse_or<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e: T::Err| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_named() {
        let env = Environment::from_pairs([("OTHER", "x")]);
        let err = env.require("SESSIONS_TABLE").unwrap_err();
        assert_eq!(
            err,
            ConfigError::Missing {
                name: "SESSIONS_TABLE"
            }
        );
        assert!(err.to_string().contains("SESSIONS_TABLE"));
    }

    #[test]
    fn an_empty_variable_counts_as_missing() {
        let env = Environment::from_pairs([("SESSIONS_TABLE", "")]);
        assert!(env.require("SESSIONS_TABLE").is_err());
        assert_eq!(env.get("SESSIONS_TABLE"), None);
    }

    #[test]
    fn a_present_variable_is_returned() {
        let env = Environment::from_pairs([("SESSIONS_TABLE", "sessions")]);
        assert_eq!(env.require("SESSIONS_TABLE"), Ok("sessions"));
    }

    #[test]
    fn parse_or_uses_the_default_only_when_absent() {
        let env = Environment::from_pairs([("TTL", "42"), ("BAD", "soon")]);
        assert_eq!(env.parse_or("TTL", 7u32), Ok(42));
        assert_eq!(env.parse_or("ABSENT", 7u32), Ok(7));
        let err = env.parse_or("BAD", 7u32).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { name: "BAD", .. }));
        assert!(
            !err.to_string().contains("soon"),
            "the value is never echoed"
        );
    }
}
