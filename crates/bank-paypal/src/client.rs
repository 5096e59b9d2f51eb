//! The PayPal REST client: OAuth 2.0 client credentials with a cached token, a
//! `PayPal-Request-Id` on every state-changing call, bounded retries with backoff, and
//! PayPal's error JSON mapped to [`PayPalError::Api`].
//!
//! - **One token per client**, kept until 60 s before it expires (PayPal's last about
//!   nine hours, and asking for one per call gets an app rate-limited), refreshed by one
//!   caller while the others wait for it, and once more when PayPal answers 401.
//! - **A retry never acts twice**: a POST is retried with the *same* request id, so PayPal
//!   answers with what the first attempt did. Retried: connection failures, 409
//!   (`PREVIOUS_REQUEST_IN_PROGRESS`), 429 and 5xx.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::time::Instant;

use crate::error::PayPalError;

/// PayPal's live API.
pub const LIVE_BASE: &str = "https://api-m.paypal.com";
/// PayPal's sandbox API.
pub const SANDBOX_BASE: &str = "https://api-m.sandbox.paypal.com";

/// A token is renewed this long before PayPal says it expires.
const TOKEN_SKEW: Duration = Duration::from_secs(60);

pub use bank_core::RetryPolicy;

struct Token {
    value: SecretString,
    renew_at: Instant,
}

/// A client of one PayPal REST app.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    client_id: String,
    secret: SecretString,
    retry: RetryPolicy,
    token: Arc<tokio::sync::Mutex<Option<Token>>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("client_id", &self.client_id)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// A successful answer: its status (201 for a new resource, 200 for an idempotent
/// replay) and its JSON (`Null` for 204).
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Value,
}

enum Attempt {
    Done(Answer),
    /// Worth retrying; the error to return if no retry is left, when it is certain.
    Retry(String, Option<PayPalError>),
    Fail(PayPalError),
    /// The bearer token was refused: renew it and try again (once).
    Reauthenticate,
}

impl Client {
    /// A client of `base` (`https://api-m.paypal.com`, the sandbox's, or a local one).
    ///
    /// # Errors
    /// [`PayPalError::Config`] when the HTTP client cannot be built.
    pub fn new(
        base: &str,
        client_id: &str,
        secret: SecretString,
        retry: RetryPolicy,
    ) -> Result<Self, PayPalError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("bank-paypal/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PayPalError::Config {
                option: "api_base",
                reason: e.to_string(),
            })?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            client_id: client_id.to_string(),
            secret,
            retry,
            token: Arc::new(tokio::sync::Mutex::new(None)),
        })
    }

    /// The API base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The HTTP client (shared with the certificate fetcher).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A valid access token: the cached one, or a new one. Concurrent callers wait for
    /// one request instead of each making theirs.
    ///
    /// # Errors
    /// [`PayPalError::Credentials`] when PayPal refuses the app's credentials,
    /// [`PayPalError::Unreachable`] when it cannot be asked.
    pub async fn access_token(&self) -> Result<SecretString, PayPalError> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref() {
            if Instant::now() < t.renew_at {
                return Ok(t.value.clone());
            }
        }
        let fresh = self.request_token().await?;
        let value = fresh.value.clone();
        *slot = Some(fresh);
        Ok(value)
    }

    /// Forgets the token `refused` (PayPal answered 401 with it); a newer one is kept.
    async fn forget_token(&self, refused: &SecretString) {
        let mut slot = self.token.lock().await;
        if slot
            .as_ref()
            .is_some_and(|t| t.value.expose_secret() == refused.expose_secret())
        {
            *slot = None;
        }
    }

    async fn request_token(&self) -> Result<Token, PayPalError> {
        const OP: &str = "get an access token";
        let unreachable = |reason: String| PayPalError::Unreachable {
            operation: OP,
            reason,
        };
        let resp = self
            .http
            .post(format!("{}/v1/oauth2/token", self.base))
            .basic_auth(&self.client_id, Some(self.secret.expose_secret()))
            .header("Accept", "application/json")
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(|e| unreachable(format!("network: {e}")))?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .map_err(|e| unreachable(format!("answer is not JSON ({status}): {e}")))?;
        if !status.is_success() {
            if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
                let s = |k: &str| {
                    body.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                return Err(PayPalError::Credentials {
                    status: status.as_u16(),
                    error: s("error"),
                    description: s("error_description"),
                });
            }
            return Err(unreachable(format!("HTTP {status}")));
        }
        let value =
            body.get("access_token")
                .and_then(Value::as_str)
                .ok_or(PayPalError::Incomplete {
                    operation: OP,
                    missing: "access_token",
                })?;
        let lifetime = body.get("expires_in").and_then(Value::as_u64).unwrap_or(0);
        let renew_at = Instant::now() + Duration::from_secs(lifetime).saturating_sub(TOKEN_SKEW);
        tracing::debug!(client_id = %self.client_id, lifetime, "PayPal access token obtained");
        Ok(Token {
            value: SecretString::from(value.to_string()),
            renew_at,
        })
    }

    /// `POST path` with a JSON body and a request id (`PayPal-Request-Id`): retried with
    /// the same id.
    ///
    /// # Errors
    /// [`PayPalError::Api`] for an error object; [`PayPalError::Unknown`] when the
    /// outcome is unknown after every retry.
    pub async fn post(
        &self,
        operation: &'static str,
        path: &str,
        body: &Value,
        request_id: &str,
    ) -> Result<Answer, PayPalError> {
        self.call(
            operation,
            Method::POST,
            path,
            Some(body.to_string()),
            Some(request_id),
        )
        .await
    }

    /// `POST path` with a body already serialised (the postback splices the raw webhook
    /// into it), without a request id (a question that changes nothing).
    ///
    /// # Errors
    /// As [`Client::post`].
    pub async fn post_raw(
        &self,
        operation: &'static str,
        path: &str,
        body: String,
    ) -> Result<Answer, PayPalError> {
        self.call(operation, Method::POST, path, Some(body), None)
            .await
    }

    /// `GET path`.
    ///
    /// # Errors
    /// As [`Client::post`].
    pub async fn get(&self, operation: &'static str, path: &str) -> Result<Value, PayPalError> {
        Ok(self
            .call(operation, Method::GET, path, None, None)
            .await?
            .body)
    }

    async fn call(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<String>,
        request_id: Option<&str>,
    ) -> Result<Answer, PayPalError> {
        let mut attempt = 0u32;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let token = self.access_token().await?;
            let outcome = self
                .once(&method, path, body.as_deref(), request_id, &token)
                .await;
            let (reason, certain) = match outcome {
                Attempt::Done(a) => return Ok(a),
                Attempt::Fail(e) => return Err(e),
                Attempt::Reauthenticate if !reauthenticated => {
                    reauthenticated = true;
                    attempt -= 1;
                    self.forget_token(&token).await;
                    continue;
                }
                Attempt::Reauthenticate => {
                    return Err(PayPalError::Credentials {
                        status: 401,
                        error: "AUTHENTICATION_FAILURE".into(),
                        description: "a fresh access token was refused too".into(),
                    })
                }
                Attempt::Retry(reason, certain) => (reason, certain),
            };
            if attempt > self.retry.max_retries {
                return Err(certain.unwrap_or(PayPalError::Unknown {
                    operation,
                    attempts: attempt,
                    reason,
                }));
            }
            let wait = self.retry.delay(attempt - 1);
            tracing::warn!(operation, attempt, %reason, ?wait, "PayPal call failed: retrying with the same request id");
            tokio::time::sleep(wait).await;
        }
    }

    async fn once(
        &self,
        method: &Method,
        path: &str,
        body: Option<&str>,
        request_id: Option<&str>,
        token: &SecretString,
    ) -> Attempt {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(token.expose_secret())
            .header("Accept", "application/json");
        if let Some(id) = request_id {
            req = req.header("PayPal-Request-Id", id);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .header("Prefer", "return=representation")
                .body(b.to_string());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(format!("network: {e}"), None),
        };
        let status = resp.status();
        let debug_id = resp
            .headers()
            .get("paypal-debug-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        tracing::debug!(%method, path, status = status.as_u16(), debug_id = ?debug_id, "PayPal answered");
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => return Attempt::Retry(format!("reading the answer: {e}"), None),
        };
        if status == StatusCode::NO_CONTENT {
            return Attempt::Done(Answer {
                status: 204,
                body: Value::Null,
            });
        }
        let json: Option<Value> = serde_json::from_str(&text).ok();
        if status.is_success() {
            return match json {
                Some(body) => Attempt::Done(Answer {
                    status: status.as_u16(),
                    body,
                }),
                // A 2xx that is not JSON: something else answered; the outcome is unknown.
                None => Attempt::Retry(format!("invalid response body ({status})"), None),
            };
        }
        let err = api_error(status.as_u16(), json.as_ref(), debug_id);
        if status == StatusCode::UNAUTHORIZED {
            return Attempt::Reauthenticate;
        }
        let retry = status == StatusCode::CONFLICT
            || status == StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error();
        match err {
            Some(e) if !retry => Attempt::Fail(e),
            // A rate-limited request was not executed: once retries run out, that is a
            // certain refusal. A 409 or 5xx may have been executed: unknown.
            Some(e) if status == StatusCode::TOO_MANY_REQUESTS => {
                Attempt::Retry(e.to_string(), Some(e))
            }
            Some(e) => Attempt::Retry(e.to_string(), None),
            None if retry => Attempt::Retry(format!("HTTP {status} without an error object"), None),
            None => Attempt::Fail(PayPalError::Api {
                status: status.as_u16(),
                name: "INVALID_RESPONSE".into(),
                issue: None,
                message: format!("HTTP {status} without an error object"),
                debug_id: None,
            }),
        }
    }
}

/// PayPal's error object (`{"name", "message", "debug_id", "details": [{"issue"}]}`) as
/// a [`PayPalError::Api`]; `None` when the body is not one.
pub fn api_error(
    status: u16,
    body: Option<&Value>,
    debug_id: Option<String>,
) -> Option<PayPalError> {
    let e = body?;
    let name = e.get("name").and_then(Value::as_str)?;
    let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
    let issue = e
        .get("details")
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .and_then(|d| d.get("issue"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Some(PayPalError::Api {
        status,
        name: name.to_string(),
        issue,
        message: s("message").unwrap_or_default(),
        debug_id: s("debug_id").or(debug_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_object_keeps_name_issue_and_debug_id() {
        let body = json!({
            "name": "UNPROCESSABLE_ENTITY",
            "details": [{"issue": "INSTRUMENT_DECLINED", "description": "declined"}],
            "message": "The requested action could not be performed.",
            "debug_id": "f2d1c5e8a4b3"
        });
        let e = api_error(422, Some(&body), None).expect("an error object");
        assert_eq!(e.issue(), Some("INSTRUMENT_DECLINED"));
        assert!(e.is_refusal());
        let text = e.to_string();
        assert!(
            text.contains("UNPROCESSABLE_ENTITY") && text.contains("f2d1c5e8a4b3"),
            "{text}"
        );
        assert!(api_error(500, Some(&json!({"x": 1})), None).is_none());
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = Client::new(
            "http://127.0.0.1:9",
            "client",
            SecretString::from("hunter2-secret".to_string()),
            RetryPolicy::default(),
        )
        .expect("client");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
