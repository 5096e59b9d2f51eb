//! Errors of the HTTP layer and how each becomes a response.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What a handler can fail with; each variant has its status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Malformed input; the message says what.
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong credentials (no detail given).
    #[error("unauthorised")]
    Unauthorised,
    /// Authenticated or not, this request is refused (cross-site, too many attempts).
    #[error("{0}")]
    Forbidden(String),
    /// Too many attempts: wait this many seconds.
    #[error("too many attempts: try again in {0} s")]
    TooManyRequests(u64),
    /// No such thing.
    #[error("{0} not found")]
    NotFound(String),
    /// Not allowed in the current state.
    #[error("{0}")]
    Conflict(String),
    /// The request is well-formed but refused (amount not allowed…).
    #[error("{0}")]
    Unprocessable(String),
    /// Our side failed (store unreachable); the client may retry.
    #[error("temporarily unavailable")]
    Unavailable,
}

impl From<bank_core::Error> for ServerError {
    fn from(e: bank_core::Error) -> Self {
        use bank_core::Error as E;
        match e {
            E::UnknownTransaction { reference } => {
                ServerError::NotFound(format!("transaction {reference}"))
            }
            E::UnknownInstance { instance } => {
                ServerError::NotFound(format!("instance {instance}"))
            }
            E::InvalidAmount { .. }
            | E::UnknownCurrency { .. }
            | E::UnknownStatus { .. }
            | E::CurrencyMismatch { .. }
            | E::InvalidTransaction { .. }
            | E::Verification { .. } => ServerError::BadRequest(e.to_string()),
            E::NotAllowed { .. } | E::Unsupported { .. } => ServerError::Conflict(e.to_string()),
            E::AmountNotAllowed { .. } | E::RefundOutcomeUnknown { .. } | E::Provider { .. } => {
                ServerError::Unprocessable(e.to_string())
            }
            other => {
                tracing::error!(error = %other, "internal failure");
                ServerError::Unavailable
            }
        }
    }
}

impl ServerError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServerError::Unauthorised => StatusCode::UNAUTHORIZED,
            ServerError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServerError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ServerError::NotFound(_) => StatusCode::NOT_FOUND,
            ServerError::Conflict(_) => StatusCode::CONFLICT,
            ServerError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ServerError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "status": self.status().as_u16(), "message": self.to_string() } });
        let mut r = (self.status(), axum::Json(body)).into_response();
        if let ServerError::TooManyRequests(s) = self {
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, s.into());
        }
        r
    }
}

/// 404 for unknown routes.
pub(crate) async fn not_found() -> ServerError {
    ServerError::NotFound("route".into())
}

/// 405 for known routes with another method.
pub(crate) async fn method_not_allowed() -> Response {
    let body = serde_json::json!({ "error": { "status": 405, "message": "method not allowed" } });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}
