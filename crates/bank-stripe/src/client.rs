//! The Stripe API client: bearer key, pinned `Stripe-Version`, idempotency keys, bounded
//! retries with backoff, and Stripe's error JSON mapped to [`StripeError::Api`].
//!
//! A POST is retried with the *same* `Idempotency-Key`, so a retry after a lost answer
//! returns the saved response instead of acting twice. Retried: connection failures,
//! 409 (a concurrent request on the same key), 429 and 5xx, unless Stripe says otherwise
//! with `Stripe-Should-Retry`.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::error::StripeError;
use crate::form::FormBody;

/// The API version this crate sends and parses for (the official clients' default).
pub const API_VERSION: &str = "2026-10-28.endive";

/// Stripe's API.
pub const API_BASE: &str = "https://api.stripe.com";

pub use bank_core::RetryPolicy;

/// A client of one Stripe account.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: SecretString,
    api_version: String,
    retry: RetryPolicy,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("api_version", &self.api_version)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

enum Attempt {
    Done(Value),
    /// Worth retrying; the error to return if no retry is left, when it is certain.
    Retry(String, Option<StripeError>),
    Fail(StripeError),
}

impl Client {
    /// A client of `base` (`https://api.stripe.com`, or a sandbox) with `key`.
    ///
    /// # Errors
    /// [`StripeError::Config`] when the HTTP client cannot be built.
    pub fn new(
        base: &str,
        key: SecretString,
        api_version: &str,
        retry: RetryPolicy,
    ) -> Result<Self, StripeError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("bank-stripe/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StripeError::Config {
                option: "api_base",
                reason: e.to_string(),
            })?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            key,
            api_version: api_version.to_string(),
            retry,
        })
    }

    /// The API base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `POST path` with a form body and an idempotency key.
    ///
    /// # Errors
    /// [`StripeError::Api`] for an error object; [`StripeError::Unknown`] when the outcome
    /// is unknown after every retry.
    pub async fn post(
        &self,
        operation: &'static str,
        path: &str,
        body: &FormBody,
        idempotency_key: &str,
    ) -> Result<Value, StripeError> {
        self.call(
            operation,
            Method::POST,
            path,
            Some(body.encode()),
            Some(idempotency_key),
        )
        .await
    }

    /// `GET path`.
    ///
    /// # Errors
    /// As [`Client::post`].
    pub async fn get(&self, operation: &'static str, path: &str) -> Result<Value, StripeError> {
        self.call(operation, Method::GET, path, None, None).await
    }

    /// `DELETE path` (Stripe's deletes are idempotent).
    ///
    /// # Errors
    /// As [`Client::post`].
    pub async fn delete(&self, operation: &'static str, path: &str) -> Result<Value, StripeError> {
        self.call(operation, Method::DELETE, path, None, None).await
    }

    async fn call(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<String>,
        key: Option<&str>,
    ) -> Result<Value, StripeError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (reason, certain) = match self.once(&method, path, body.as_deref(), key).await {
                Attempt::Done(v) => return Ok(v),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(reason, certain) => (reason, certain),
            };
            if attempt > self.retry.max_retries {
                return Err(certain.unwrap_or(StripeError::Unknown {
                    operation,
                    attempts: attempt,
                    reason,
                }));
            }
            let wait = self.retry.delay(attempt - 1);
            tracing::warn!(operation, attempt, %reason, ?wait, "Stripe call failed: retrying with the same idempotency key");
            tokio::time::sleep(wait).await;
        }
    }

    async fn once(
        &self,
        method: &Method,
        path: &str,
        body: Option<&str>,
        key: Option<&str>,
    ) -> Attempt {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(self.key.expose_secret())
            .header("Stripe-Version", &self.api_version);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(b.to_string());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(format!("network: {e}"), None),
        };
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let request_id = header("request-id");
        let should_retry = header("stripe-should-retry");
        tracing::debug!(%method, path, status = status.as_u16(), request_id = ?request_id, "Stripe answered");
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => return Attempt::Retry(format!("reading the answer: {e}"), None),
        };
        let json: Option<Value> = serde_json::from_str(&text).ok();
        if status.is_success() {
            return match json {
                Some(v) => Attempt::Done(v),
                // A 2xx that is not JSON: something else answered; the outcome is unknown.
                None => Attempt::Retry(format!("invalid response body from API ({status})"), None),
            };
        }
        let retry = match should_retry.as_deref() {
            Some("true") => true,
            Some("false") => false,
            _ => {
                status == StatusCode::CONFLICT
                    || status == StatusCode::TOO_MANY_REQUESTS
                    || status.is_server_error()
            }
        };
        let err = api_error(status.as_u16(), json.as_ref(), request_id);
        match err {
            Some(e) if !retry => Attempt::Fail(e),
            // Rate-limited requests were not executed: once retries run out, that is a
            // certain refusal. A 409 or 5xx may have been executed: unknown.
            Some(e) if status == StatusCode::TOO_MANY_REQUESTS => {
                Attempt::Retry(e.to_string(), Some(e))
            }
            Some(e) => Attempt::Retry(e.to_string(), None),
            None if retry || status.is_server_error() => {
                Attempt::Retry(format!("HTTP {status} without an error object"), None)
            }
            None => Attempt::Fail(StripeError::Api {
                status: status.as_u16(),
                kind: "invalid_response".into(),
                code: None,
                decline_code: None,
                message: format!("HTTP {status} without an error object"),
                request_id: None,
            }),
        }
    }
}

/// Stripe's error object (`{"error": {"type": …}}`) as a [`StripeError::Api`].
pub fn api_error(
    status: u16,
    body: Option<&Value>,
    request_id: Option<String>,
) -> Option<StripeError> {
    let e = body?.get("error")?;
    let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
    Some(StripeError::Api {
        status,
        kind: s("type").unwrap_or_else(|| "api_error".into()),
        code: s("code"),
        decline_code: s("decline_code"),
        message: s("message").unwrap_or_default(),
        request_id,
    })
}
