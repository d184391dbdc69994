//! The cart: one DynamoDB item per user that any instance may change at any
//! moment, kept safe from lost updates by a version and conditional writes.

pub mod items;
pub mod routes;
pub mod store;
