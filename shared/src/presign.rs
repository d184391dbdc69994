//! Presigned S3 URLs, signed with SigV4 in the query string, for exactly one
//! request: the PUT of one object of one type and one length that must not
//! exist yet, or the GET of one object with the name it downloads under.
//!
//! The project signs these itself (with `aws-sigv4`) rather than through the
//! SDK's presigner, so that no checksum parameter the client cannot know
//! ends up in the URL, and so that what is signed is visible here.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::accounts::routes::StartupError;
use crate::aws::AwsClients;
use crate::config::{ConfigError, Environment};

/// What may stay unescaped in a query value (RFC 3986 unreserved).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A presigned request: the URL, and the headers the client must send with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedRequest {
    /// The URL, signature included.
    pub url: String,
    /// Every header the signature covers besides `host`, with its value.
    pub headers: Vec<(String, String)>,
}

/// Why a URL could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("presigning failed: {0}")]
pub struct PresignError(String);

/// The one mapping of a signing failure to the API: 503, the cause logged.
impl From<PresignError> for crate::http::Problem {
    fn from(error: PresignError) -> Self {
        tracing::error!(%error, "presigning failed");
        crate::http::Problem::service_unavailable(1)
    }
}

/// Signs URLs for one bucket.
#[derive(Debug, Clone)]
pub struct Presigner {
    credentials: SharedCredentialsProvider,
    region: String,
    bucket_url: String,
}

/// Where a presigned request of `bucket` goes: AWS's virtual-hosted address,
/// or path-style under `endpoint` when one is given (emulators).
pub fn bucket_url(bucket: &str, region: &str, endpoint: Option<&str>) -> String {
    match endpoint {
        Some(endpoint) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
        None => format!("https://{bucket}.s3.{region}.amazonaws.com"),
    }
}

impl Presigner {
    /// The presigner of the bucket named by `bucket_variable`, with the
    /// function's own credentials (its role), path-style under
    /// `AWS_ENDPOINT_URL_S3` when that is set (emulators).
    pub fn from_env(
        env: &Environment,
        aws: &AwsClients,
        bucket_variable: &'static str,
    ) -> Result<Self, StartupError> {
        let credentials = aws
            .credentials()
            .ok_or(StartupError::Aws("no credentials provider"))?;
        let region = aws
            .region()
            .map(ToString::to_string)
            .ok_or(ConfigError::Missing { name: "AWS_REGION" })?;
        Ok(Self::new(
            credentials,
            region,
            env.require(bucket_variable)?,
            env.get("AWS_ENDPOINT_URL_S3"),
        ))
    }

    /// A presigner for `bucket`, at AWS's virtual-hosted address, or
    /// path-style under `endpoint` when one is given (emulators).
    pub fn new(
        credentials: SharedCredentialsProvider,
        region: impl Into<String>,
        bucket: &str,
        endpoint: Option<&str>,
    ) -> Self {
        let region = region.into();
        let bucket_url = bucket_url(bucket, &region, endpoint);
        Self {
            credentials,
            region,
            bucket_url,
        }
    }

    /// A PUT of exactly `length` bytes of `content_type` to `key`, refused by
    /// S3 if the object already exists (`If-None-Match: *`), tagged with
    /// `tagging` (`x-amz-tagging`) from its first byte.
    pub async fn put(
        &self,
        key: &str,
        content_type: &str,
        length: u64,
        tagging: &str,
        expires_in: Duration,
        now: SystemTime,
    ) -> Result<PresignedRequest, PresignError> {
        let length = length.to_string();
        let headers = [
            ("content-length", length.as_str()),
            ("content-type", content_type),
            ("if-none-match", "*"),
            ("x-amz-tagging", tagging),
        ];
        self.presign("PUT", key, &[], &headers, expires_in, now)
            .await
    }

    /// A GET of `key` that downloads with `content_disposition`.
    pub async fn get(
        &self,
        key: &str,
        content_disposition: &str,
        expires_in: Duration,
        now: SystemTime,
    ) -> Result<PresignedRequest, PresignError> {
        let query = [("response-content-disposition", content_disposition)];
        self.presign("GET", key, &query, &[], expires_in, now).await
    }

    async fn presign(
        &self,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        expires_in: Duration,
        now: SystemTime,
    ) -> Result<PresignedRequest, PresignError> {
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| PresignError(format!("no credentials: {e}")))?;
        let identity: Identity = credentials.into();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires_in);
        // S3 signs the path as sent: no double encoding, no normalisation.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| PresignError(e.to_string()))?
            .into();

        let path: String = key
            .split('/')
            .map(|segment| utf8_percent_encode(segment, QUERY_VALUE).to_string())
            .collect::<Vec<_>>()
            .join("/");
        let mut url = format!("{}/{path}", self.bucket_url);
        let encoded: Vec<String> = query
            .iter()
            .map(|(name, value)| format!("{name}={}", utf8_percent_encode(value, QUERY_VALUE)))
            .collect();
        if !encoded.is_empty() {
            url.push('?');
            url.push_str(&encoded.join("&"));
        }
        let request = SignableRequest::new(
            method,
            url.as_str(),
            headers.iter().copied(),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| PresignError(e.to_string()))?;
        let (instructions, _signature) = sign(request, &params)
            .map_err(|e| PresignError(e.to_string()))?
            .into_parts();
        for (name, value) in instructions.params() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(name);
            url.push('=');
            url.push_str(&utf8_percent_encode(value, QUERY_VALUE).to_string());
        }
        Ok(PresignedRequest {
            url,
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    fn presigner(endpoint: Option<&str>) -> Presigner {
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        Presigner::new(
            SharedCredentialsProvider::new(credentials),
            "eu-west-1",
            "uploads-bucket",
            endpoint,
        )
    }

    fn query(url: &str) -> Vec<(String, String)> {
        url.split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn a_put_signs_length_type_and_no_overwrite_and_nothing_else() {
        let signed = presigner(None)
            .put(
                "users/u1/uploads/x",
                "image/png",
                1234,
                "upload=pending",
                Duration::from_secs(600),
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            )
            .await
            .unwrap();
        assert!(
            signed.url.starts_with(
                "https://uploads-bucket.s3.eu-west-1.amazonaws.com/users/u1/uploads/x?"
            )
        );
        let params = query(&signed.url);
        let value = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            value("X-Amz-SignedHeaders"),
            Some("content-length%3Bcontent-type%3Bhost%3Bif-none-match%3Bx-amz-tagging")
        );
        assert_eq!(value("X-Amz-Expires"), Some("600"));
        assert!(
            params
                .iter()
                .all(|(k, _)| !k.to_lowercase().contains("checksum")),
            "no checksum the client cannot know: {params:?}"
        );
        assert_eq!(
            signed.headers,
            [
                ("content-length".to_string(), "1234".to_string()),
                ("content-type".to_string(), "image/png".to_string()),
                ("if-none-match".to_string(), "*".to_string()),
                ("x-amz-tagging".to_string(), "upload=pending".to_string()),
            ]
        );
    }

    #[tokio::test]
    async fn a_get_signs_its_content_disposition_path_style_on_an_emulator() {
        let signed = presigner(Some("http://127.0.0.1:5050/"))
            .get(
                "users/u1/uploads/x",
                "attachment; filename=\"a b.pdf\"",
                Duration::from_secs(300),
                SystemTime::now(),
            )
            .await
            .unwrap();
        assert!(
            signed
                .url
                .starts_with("http://127.0.0.1:5050/uploads-bucket/users/u1/uploads/x?response-content-disposition=attachment%3B%20filename%3D%22a%20b.pdf%22&")
        );
        assert!(signed.headers.is_empty());
    }
}
