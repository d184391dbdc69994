//! Accounts, sessions and tokens: registration and login, access tokens
//! that any instance verifies locally, refresh tokens that rotate, and
//! revocation that every instance sees on the very next request.

pub mod account_key;
pub mod auth;
pub mod cookies;
pub mod email;
pub mod keys;
pub mod keyset;
pub mod keystore;
pub mod password;
#[cfg(feature = "planted-tmp-session-cache")]
mod planted;
pub mod refresh_token;
pub mod roles;
pub mod rotation;
pub mod routes;
pub mod sessions;
pub mod tokens;
pub mod users;
