//! The AWS calls made through a set of clients, counted on the wire side of
//! the SDK: an interceptor on every client sees each attempt (a retry is a
//! call too) just before it is sent, and records `Service.Operation`.

use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// The calls made through clients that carry it (`StackInfo::aws_clients_logged`), in order.
#[derive(Clone, Debug, Default)]
pub struct CallLog(Arc<Mutex<Vec<String>>>);

impl CallLog {
    /// The calls so far, and a fresh start.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(operation(config));
        Ok(())
    }
}

/// `Service.Operation` of the call an interceptor sees (`unknown` if unnamed).
pub fn operation(config: &ConfigBag) -> String {
    config.load::<Metadata>().map_or_else(
        || "unknown".to_string(),
        |metadata| format!("{}.{}", metadata.service(), metadata.name()),
    )
}
