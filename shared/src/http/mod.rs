//! The HTTP edge every route goes through: JSON bodies in, JSON or RFC 9457
//! problems out, and the Lambda runtime loop that ties them together.

mod body;
mod codes;
mod context;
mod paging;
mod problem;
mod response;
mod serve;

pub use body::{MAX_BODY_BYTES, json_body};
pub use codes::ProblemCode;
pub use context::{path_id, source_ip};
pub use paging::{
    DEFAULT_PAGE, MAX_PAGE, PageRequest, cursor_after, invalid_query, page_limit, page_response,
};
pub use problem::{PROBLEM_CONTENT_TYPE, Problem};
pub use response::{json, no_content, no_store, version_etag};
pub use serve::{LambdaError, finish, serve};
