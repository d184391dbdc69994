//! Background jobs through SQS: a record in DynamoDB is the truth about a
//! job, a message on the queue is the nudge to run it. See `routes` for how
//! a job and its message come to exist together, and `worker` for how a
//! job runs at most once however often its message arrives.

pub mod export;
pub mod export_bucket;
pub mod export_format;
pub mod messages;
pub mod records;
pub mod routes;
pub mod store;
pub mod worker;
