//! The point of sale's endpoints for counter card terminals. A browser cannot open raw TCP,
//! so the POS front end asks the server, which talks to the terminal. The server knows
//! terminals only through [`TerminalPort`], implemented by the provider crate's service and
//! plugged in by `bank serve`: this crate stays free of any provider.
//!
//! - `POST /api/terminal/{instance}/charge` `{"reference": "…"}`: charges the transaction on
//!   the terminal and answers what it said (approved, declined, unreachable, or unknown:
//!   ask the cashier).
//! - `POST /api/terminal/{instance}/resolve` `{"reference": "…", "word": "approved",
//!   "authorisation": "…"}` or `{"word": "declined"}`: what the cashier read after an unknown
//!   outcome.
//!
//! Both need the API token.

use std::fmt::Debug;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bank_core::async_trait;

use crate::auth::require_api_token;
use crate::error::ServerError;
use crate::AppState;

/// A refusal of the terminal service, with the HTTP status to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TerminalRefusal {
    /// HTTP status (404 unknown terminal, 409 busy or not payable, 422 refused input…).
    pub status: u16,
    /// In words.
    pub message: String,
}

/// What the HTTP layer needs from the terminals.
#[async_trait]
pub trait TerminalPort: Send + Sync + Debug {
    /// Charges `reference` on the terminal `instance`; the JSON report for the POS.
    async fn charge(
        &self,
        instance: &str,
        reference: &str,
    ) -> Result<serde_json::Value, TerminalRefusal>;
    /// Settles an unknown outcome from the cashier's word (`body` as posted).
    async fn resolve(
        &self,
        instance: &str,
        body: &serde_json::Value,
        staff: &str,
    ) -> Result<serde_json::Value, TerminalRefusal>;
}

fn refusal(r: TerminalRefusal) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = serde_json::json!({ "error": { "status": status.as_u16(), "message": r.message } });
    (status, axum::Json(body)).into_response()
}

fn port(state: &AppState) -> Result<&std::sync::Arc<dyn TerminalPort>, ServerError> {
    state
        .terminals
        .as_ref()
        .ok_or_else(|| ServerError::NotFound("terminal service".into()))
}

/// `POST /api/terminal/{instance}/charge`.
pub(crate) async fn charge(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(instance): Path<String>,
    body: Bytes,
) -> Result<Response, ServerError> {
    require_api_token(&state, &headers)?;
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ServerError::BadRequest(format!("invalid JSON body: {e}")))?;
    let reference = v
        .get("reference")
        .and_then(|r| r.as_str())
        .ok_or_else(|| ServerError::BadRequest("reference: required".into()))?;
    Ok(match port(&state)?.charge(&instance, reference).await {
        Ok(report) => axum::Json(report).into_response(),
        Err(r) => refusal(r),
    })
}

/// `POST /api/terminal/{instance}/resolve`.
pub(crate) async fn resolve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(instance): Path<String>,
    body: Bytes,
) -> Result<Response, ServerError> {
    require_api_token(&state, &headers)?;
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ServerError::BadRequest(format!("invalid JSON body: {e}")))?;
    let staff = headers
        .get("x-bank-staff")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("pos")
        .to_string();
    Ok(match port(&state)?.resolve(&instance, &v, &staff).await {
        Ok(r) => axum::Json(r).into_response(),
        Err(r) => refusal(r),
    })
}
