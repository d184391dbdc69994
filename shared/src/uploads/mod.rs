//! Uploads through presigned S3 URLs: the client PUTs the bytes straight to
//! S3 with a URL that signs their type and exact length; an S3 event tells
//! the service the object arrived, and it is checked before it is `ready`.

pub mod events;
pub mod files;
pub mod objects;
pub mod records;
pub mod routes;
