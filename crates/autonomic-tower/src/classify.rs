//! [`Classify`]: whether a response counts as a success or a failure of its task.

use http::Response;

/// The outcome of one request, as recorded on its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The task succeeded: a per-request session completes.
    Success,
    /// The task failed: a per-request session fails; a keyed session records a violation.
    Failure,
}

/// Decides the [`Outcome`] of a response. An error of the inner service is always a
/// [`Outcome::Failure`].
///
/// ```
/// use autonomic_tower::{Classify, Outcome, ServerErrorsFail};
/// let ok = http::Response::builder().status(404).body(()).unwrap();
/// let bad = http::Response::builder().status(503).body(()).unwrap();
/// assert_eq!(ServerErrorsFail.classify(&ok), Outcome::Success);
/// assert_eq!(ServerErrorsFail.classify(&bad), Outcome::Failure);
/// ```
pub trait Classify: Clone + Send + Sync + 'static {
    /// The outcome of `response`.
    fn classify<B>(&self, response: &Response<B>) -> Outcome;
}

/// The default classifier: a 5xx status fails, anything else succeeds (a 4xx is the
/// client's fault, not the service's).
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerErrorsFail;

impl Classify for ServerErrorsFail {
    #[inline]
    fn classify<B>(&self, response: &Response<B>) -> Outcome {
        if response.status().is_server_error() { Outcome::Failure } else { Outcome::Success }
    }
}

/// The gRPC classifier: a `grpc-status` header other than `0` fails, as does a 5xx status.
///
/// It reads the response head only: a status sent in the trailers (after a streamed body) is
/// not seen, so a service that reports errors that way should use trailers-only error
/// responses (what tonic does for an error returned before the stream starts).
///
/// ```
/// use autonomic_tower::{Classify, GrpcStatus, Outcome};
/// let bad = http::Response::builder().header("grpc-status", "14").body(()).unwrap();
/// let ok = http::Response::builder().header("grpc-status", "0").body(()).unwrap();
/// assert_eq!(GrpcStatus.classify(&bad), Outcome::Failure);
/// assert_eq!(GrpcStatus.classify(&ok), Outcome::Success);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcStatus;

impl Classify for GrpcStatus {
    fn classify<B>(&self, response: &Response<B>) -> Outcome {
        let failed_status =
            response.headers().get("grpc-status").is_some_and(|v| v.as_bytes() != b"0");
        if failed_status || response.status().is_server_error() {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }
}
