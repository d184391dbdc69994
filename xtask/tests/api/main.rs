//! The service's end-to-end tests, against the local stack that `cargo
//! xtask test` started: one test binary (it links the AWS SDK once), one
//! module per area. `cargo xtask test --test api cart::` runs one area.

// In tests a failed unwrap is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod accounts;
mod bad_input;
mod browser;
mod cart;
mod catalog;
mod jobs;
mod jwt_matrix;
mod key_rotation;
mod metrics;
mod openapi;
mod presigned_urls;
mod rate_limits;
mod realtime;
mod routes;
mod sessions;
mod uploads;
