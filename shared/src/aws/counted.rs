//! Every attempt of every AWS call a store makes, counted for the
//! invocation's metrics (`StoreCalls`, and `StoreFailures` for an attempt
//! that got no answer or a 5xx): an interceptor on each client.

use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;

use crate::metrics::{self, Metric};

/// Counts attempts into the running invocation's metrics.
#[derive(Debug, Clone, Copy)]
pub(super) struct Counted;

impl Intercept for Counted {
    fn name(&self) -> &'static str {
        "Counted"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        metrics::count(Metric::StoreCalls);
        let failed = context
            .response()
            .is_none_or(|response| response.status().is_server_error());
        if failed {
            metrics::count(Metric::StoreFailures);
        }
        Ok(())
    }
}
