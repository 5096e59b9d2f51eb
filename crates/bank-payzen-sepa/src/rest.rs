//! The REST API V4: JSON over HTTPS, Basic authentication with the shop id and the REST
//! password of the mode, every answer `{"status": "SUCCESS" | "ERROR", "answer": {…}}`.
//!
//! PayZen takes no idempotency key: an operation that moves money is sent once, never
//! retried, and a lost answer is an unknown outcome (the engine leaves it for a person).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::error::PayzenError;

/// The largest answer read.
pub const MAX_ANSWER: usize = 256 * 1024;

/// A client of one shop's REST API.
#[derive(Clone)]
pub struct RestClient {
    base: String,
    site_id: String,
    password: SecretString,
    http: reqwest::Client,
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient")
            .field("base", &self.base)
            .field("site_id", &self.site_id)
            .finish_non_exhaustive()
    }
}

/// What the API answered `SUCCESS` with.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer(pub Value);

impl Answer {
    /// A string field of the answer.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }
}

/// Reads an answer body: `SUCCESS` gives its `answer`, `ERROR` a typed error.
///
/// # Errors
/// [`PayzenError::Rest`] for `ERROR`; [`PayzenError::Transport`] for anything else.
pub fn parse_answer(operation: &'static str, body: &[u8]) -> Result<Answer, PayzenError> {
    let odd = |reason: String| PayzenError::Transport {
        operation,
        reason,
        source: None,
    };
    if body.len() > MAX_ANSWER {
        return Err(odd(format!("an answer of more than {MAX_ANSWER} bytes")));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| odd(format!("an answer that is not JSON: {e}")))?;
    let answer = v.get("answer").cloned().unwrap_or(Value::Null);
    match v.get("status").and_then(Value::as_str) {
        Some("SUCCESS") if answer.is_object() => Ok(Answer(answer)),
        Some("ERROR") => {
            let s = |k: &str| {
                answer
                    .get(k)
                    .and_then(Value::as_str)
                    .map(crate::response::quoted_long)
            };
            let detailed = match (s("detailedErrorCode"), s("detailedErrorMessage")) {
                (None, None) => None,
                (c, m) => Some([c, m].into_iter().flatten().collect::<Vec<_>>().join(": ")),
            };
            Err(PayzenError::Rest {
                operation,
                code: s("errorCode").unwrap_or_else(|| "?".into()),
                message: s("errorMessage").unwrap_or_default(),
                detailed,
            })
        }
        _ => Err(odd("an answer neither SUCCESS nor ERROR".into())),
    }
}

impl RestClient {
    /// A client of `base` (ending in `/api-payment/`), for shop `site_id`.
    ///
    /// # Errors
    /// [`PayzenError::Config`] when the HTTP client cannot be built.
    pub fn new(base: &str, site_id: &str, password: SecretString) -> Result<Self, PayzenError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| PayzenError::Config {
                option: "rest_url",
                reason: e.to_string(),
            })?;
        let base = if base.ends_with('/') {
            base.to_string()
        } else {
            format!("{base}/")
        };
        Ok(RestClient {
            base,
            site_id: site_id.to_string(),
            password,
            http,
        })
    }

    /// Calls `V4/<operation>` with `body`, once.
    ///
    /// # Errors
    /// [`PayzenError::Rest`] when PayZen refuses; [`PayzenError::Unavailable`] when the
    /// request certainly did not reach it; [`PayzenError::Transport`] otherwise.
    pub async fn call(&self, operation: &'static str, body: Value) -> Result<Answer, PayzenError> {
        let url = format!("{}V4/{operation}", self.base);
        let sent = self
            .http
            .post(&url)
            .basic_auth(&self.site_id, Some(self.password.expose_secret()))
            .json(&body)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                return Err(PayzenError::Unavailable {
                    operation: "REST call",
                    reason: format!("{operation}: {e}"),
                })
            }
            Err(e) => {
                return Err(PayzenError::Transport {
                    operation,
                    reason: "no answer".into(),
                    source: Some(e),
                })
            }
        };
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| PayzenError::Transport {
            operation,
            reason: "the answer was cut".into(),
            source: Some(e),
        })?;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            // Basic authentication refused: nothing was done.
            return Err(PayzenError::Rest {
                operation,
                code: "401".into(),
                message: "the shop id or the REST password of this mode is wrong".into(),
                detailed: None,
            });
        }
        tracing::debug!(operation, %status, "PayZen REST answer");
        parse_answer(operation, &bytes)
    }

    /// Refunds (or cancels, when not yet captured) `amount` of the payment `uuid`.
    ///
    /// # Errors
    /// As [`RestClient::call`].
    pub async fn cancel_or_refund(
        &self,
        uuid: &str,
        amount: bank_core::Money,
        resolution: &'static str,
        comment: &str,
    ) -> Result<Answer, PayzenError> {
        self.call(
            "Transaction/CancelOrRefund",
            json!({
                "uuid": uuid,
                "amount": amount.minor(),
                "currency": amount.currency().code(),
                "resolutionMode": resolution,
                "comment": comment,
            }),
        )
        .await
    }

    /// Validates a payment created with manual validation (`AUTHORISED_TO_VALIDATE`).
    ///
    /// # Errors
    /// As [`RestClient::call`].
    pub async fn validate(&self, uuid: &str, comment: &str) -> Result<Answer, PayzenError> {
        self.call(
            "Transaction/Validate",
            json!({ "uuid": uuid, "comment": comment }),
        )
        .await
    }

    /// Reads a payment back.
    ///
    /// # Errors
    /// As [`RestClient::call`].
    pub async fn get(&self, uuid: &str) -> Result<Answer, PayzenError> {
        self.call("Transaction/Get", json!({ "uuid": uuid })).await
    }

    /// Ends subscription `subscription_id` of the card or mandate `token`.
    ///
    /// # Errors
    /// As [`RestClient::call`].
    pub async fn cancel_subscription(
        &self,
        subscription_id: &str,
        token: &str,
    ) -> Result<Answer, PayzenError> {
        self.call(
            "Subscription/Cancel",
            json!({ "subscriptionId": subscription_id, "paymentMethodToken": token }),
        )
        .await
    }
}
