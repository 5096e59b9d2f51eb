//! The point of sale's endpoints for counter card terminals. A browser cannot open raw TCP,
//! so the POS front end asks the server, which talks to the terminal. The server knows
//! terminals only through [`bank_core::TerminalPort`], which a terminal provider registers
//! ([`bank_core::TerminalFactory`]): this crate stays free of any provider.
//!
//! - `POST /api/terminal/{instance}/charge` `{"reference": "…"}`: charges the transaction on
//!   the terminal and answers what it said (approved, declined, unreachable, or unknown:
//!   ask the cashier).
//! - `POST /api/terminal/{instance}/resolve` `{"reference": "…", "word": "approved",
//!   "authorisation": "…"}` or `{"word": "declined"}`: what the cashier read after an unknown
//!   outcome. It applies only to a charge this terminal was sent for that transaction, its
//!   amount and currency, whose outcome is still unknown (the terminal did not answer, or
//!   the server stopped during the wait); anything else is refused with 409 and changes
//!   nothing.
//!
//! Both need an API token; resolve also takes a staff session (its cookie and the
//! `X-CSRF-Token` header of the admin pages). History lines name who resolved from that
//! credential (`api:<token name>`, `admin:<user>`), never from a header of the request.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bank_core::{TerminalPort, TerminalRefusal};

use crate::auth::{admin_user, check_csrf, require_api_token};
use crate::error::ServerError;
use crate::AppState;

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
    crate::edge::check_json(&v, "")?;
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
    let staff = match require_api_token(&state, &headers) {
        Ok(p) => p,
        Err(_) => {
            let Some((user, session)) = admin_user(&state, &headers).await? else {
                return Err(ServerError::Unauthorised);
            };
            let token = headers.get("x-csrf-token").and_then(|h| h.to_str().ok());
            check_csrf(&state, &session, token)?;
            format!("admin:{user}")
        }
    };
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ServerError::BadRequest(format!("invalid JSON body: {e}")))?;
    crate::edge::check_json(&v, "")?;
    Ok(match port(&state)?.resolve(&instance, &v, &staff).await {
        Ok(r) => axum::Json(r).into_response(),
        Err(r) => refusal(r),
    })
}
