//! The routes of "Accounts, sessions and tokens" (`shared/openapi.yaml`),
//! one file each. Each is a struct built once at cold start from the
//! environment (with exactly the variables its function gets in
//! template.yaml) and a `handle` method.

mod issuing;
mod jwks;
mod login;
mod logout;
mod me;
mod realtime_ticket;
mod refresh;
mod register;
mod sessions;
mod startup;

pub use super::cookies::REFRESH_COOKIE;
pub use jwks::Jwks;
pub use login::{Login, LoginLimits};
pub use logout::{Logout, LogoutAll};
pub use me::Me;
pub use realtime_ticket::CreateTicket;
pub use refresh::Refresh;
pub use register::Register;
pub use sessions::{DeleteSession, ListSessions};
pub use startup::{SessionSettings, StartupError, authenticator, rate_limiter};
pub(crate) use startup::{session_store, user_store};
