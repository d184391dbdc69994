//! Every `code` a problem document of this service can carry, in one list.
//! `shared/openapi.yaml` enumerates exactly these in `Problem.code`, and a
//! test holds the two equal, so a client can branch on every value and a
//! new one cannot slip out undocumented.

macro_rules! problem_codes {
    ($($variant:ident => $text:literal: $doc:literal,)*) => {
        /// A stable, snake_case `code` of a problem document.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ProblemCode {
            $(#[doc = $doc] $variant,)*
        }

        impl ProblemCode {
            /// Every code, in the order of this list.
            pub const ALL: &[ProblemCode] = &[$(Self::$variant,)*];

            /// The code as clients see it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }
    };
}

problem_codes! {
    InvalidBody => "invalid_body": "The body is not the JSON this route takes.",
    PayloadTooLarge => "payload_too_large": "The body is over 64 KiB.",
    UnsupportedMediaType => "unsupported_media_type": "The body is not declared as JSON.",
    InvalidQuery => "invalid_query": "A query parameter is out of range or malformed.",
    NotFound => "not_found": "Nothing the caller may see is there.",
    Forbidden => "forbidden": "The caller lacks the role the route needs.",
    ServiceUnavailable => "service_unavailable": "A store or queue failed or throttled.",
    InternalError => "internal_error": "A bug; its cause is in the log.",
    InvalidToken => "invalid_token": "The access token is missing, malformed, expired, revoked or forged.",
    RateLimited => "rate_limited": "Over a rate limit; `Retry-After` says when to come back.",
    InvalidEmail => "invalid_email": "The email is not one.",
    InvalidPassword => "invalid_password": "The password is too weak.",
    InvalidName => "invalid_name": "The display name is too long or has control characters.",
    EmailTaken => "email_taken": "An account with this email exists.",
    InvalidCredentials => "invalid_credentials": "The email or the password is wrong.",
    InvalidRefreshToken => "invalid_refresh_token": "The refresh token is invalid, expired, revoked or already used.",
    OriginNotAllowed => "origin_not_allowed": "The refresh cookie came from a page of another origin.",
    InvalidPrecondition => "invalid_precondition": "`If-Match` is malformed.",
    PreconditionRequired => "precondition_required": "`If-Match` is missing (or `*`).",
    PreconditionFailed => "precondition_failed": "The resource changed since that ETag.",
    InvalidItems => "invalid_items": "The cart's lines are invalid.",
    UnknownSku => "unknown_sku": "A cart line names a sku the catalog does not have.",
    InvalidProduct => "invalid_product": "The product's fields are invalid.",
    ContentTypeNotAllowed => "content_type_not_allowed": "The upload's type is not on the allow-list.",
    SizeOutOfRange => "size_out_of_range": "The upload's size is out of range.",
    UnknownJobType => "unknown_job_type": "The job type is unknown.",
    InvalidIdempotencyKey => "invalid_idempotency_key": "`Idempotency-Key` is malformed.",
    IdempotencyKeyReused => "idempotency_key_reused": "The key was used with another request.",
    IdempotencyKeyInUse => "idempotency_key_in_use": "An attempt with this key is still running.",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for code in ProblemCode::ALL {
            let text = code.as_str();
            assert!(
                text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{text}"
            );
            assert!(seen.insert(text), "{text} twice");
        }
    }
}
