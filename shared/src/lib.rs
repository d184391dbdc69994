//! Everything the functions of this service share: the HTTP edge, the
//! configuration read once at cold start, telemetry, and one module per
//! capability. A function's `main` only wires these together.

pub mod accounts;
pub mod aws;
pub mod cache;
pub mod cart;
pub mod catalog;
pub mod config;
pub mod correlation;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod ids;
pub mod jobs;
pub mod maxage;
pub mod metrics;
pub mod presign;
pub mod ratelimit;
pub mod realtime;
pub mod route;
pub mod sqs_batch;
pub mod startup;
pub mod telemetry;
pub mod time;
pub mod uploads;
pub mod web_client;
