//! The dev tool's own tests and the project's static guards: the structure
//! checks, the handler registry and its sample events, the AWS call budgets,
//! the local stack's provisioning and event sources, the bench's smoke run,
//! and the statelessness scenarios of `cargo xtask prove` (but the store
//! outage, which runs alone: `xtask/tests/outage.rs`). One test binary; `cargo xtask
//! test --test devtool structure::` runs one area.

// In tests a failed unwrap is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aws_calls;
mod bench;
mod cache;
mod handlers;
mod local_stack;
mod stateless;
mod structure;
mod ws_gateway;
