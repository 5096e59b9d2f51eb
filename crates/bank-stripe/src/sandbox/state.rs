//! The sandbox's account: objects as Stripe renders them (API version
//! [`crate::API_VERSION`]), the operations that change them, and the events they emit.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde_json::{json, Map, Value};

use super::cards::{behaviour, CardBehaviour};
use crate::client::API_VERSION;

/// An error object the sandbox answers with, as Stripe does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// `error.type`.
    pub kind: &'static str,
    /// `error.code`.
    pub code: Option<&'static str>,
    /// `error.decline_code`.
    pub decline_code: Option<&'static str>,
    /// `error.param`.
    pub param: Option<String>,
    /// `error.message`.
    pub message: String,
}

impl ApiError {
    pub(crate) fn invalid(
        code: &'static str,
        param: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status: 400,
            kind: "invalid_request_error",
            code: Some(code),
            decline_code: None,
            param: param.map(str::to_string),
            message: message.into(),
        }
    }

    pub(crate) fn missing(id: &str) -> Self {
        ApiError {
            status: 404,
            kind: "invalid_request_error",
            code: Some("resource_missing"),
            decline_code: None,
            param: Some("id".into()),
            message: format!("No such object: '{id}'"),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut e = Map::new();
        e.insert("type".into(), json!(self.kind));
        e.insert("message".into(), json!(self.message));
        if let Some(c) = self.code {
            e.insert("code".into(), json!(c));
            e.insert(
                "doc_url".into(),
                json!(format!(
                    "https://stripe.com/docs/error-codes/{}",
                    c.replace('_', "-")
                )),
            );
        }
        if let Some(d) = self.decline_code {
            e.insert("decline_code".into(), json!(d));
        }
        if let Some(p) = &self.param {
            e.insert("param".into(), json!(p));
        }
        json!({ "error": Value::Object(e) })
    }
}

/// What paying on the hosted page led to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PayOutcome {
    /// Paid: the browser goes to this success URL.
    Paid {
        /// `success_url` with the session id filled in.
        redirect: String,
    },
    /// A delayed method was accepted: collected later; the browser goes to the success URL.
    Processing {
        /// `success_url` with the session id filled in.
        redirect: String,
    },
    /// 3-D Secure is required: the payer must authenticate.
    RequiresAction,
    /// Declined: the page shows the message and the payer may try another card.
    Declined {
        /// Stripe's decline code.
        decline_code: String,
        /// Stripe's message.
        message: String,
    },
}

/// What a subscription renewal does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// The instalment is paid (`invoice.paid`, billing reason `subscription_cycle`).
    Paid,
    /// The instalment fails and Stripe will retry (`next_payment_attempt` set).
    Failed,
    /// The last attempt fails: `invoice.payment_failed` without a next attempt, then the
    /// subscription is cancelled (`customer.subscription.deleted`).
    FinalFailure,
}

/// One delivery attempt of an event to the webhook endpoint.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    /// The event.
    pub event: String,
    /// The event type.
    pub kind: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// The endpoint.
    pub url: String,
    /// The HTTP status answered, if any.
    pub status: Option<u16>,
    /// The transport error, if any.
    pub error: Option<String>,
}

/// What a session keeps beside its public object.
#[derive(Clone, Debug)]
struct Plan {
    pi_metadata: Value,
    sub_metadata: Value,
    /// The recurring part: unit amount and interval.
    recurring: Option<(i64, String)>,
}

/// The sandbox's whole account.
#[derive(Debug)]
pub struct State {
    pub(crate) base_url: String,
    pub(crate) objects: HashMap<String, Value>,
    plans: HashMap<String, Plan>,
    pub(crate) events: Vec<Value>,
    /// Events emitted and not yet handed to the webhook sender.
    pub(crate) pending: Vec<String>,
    pub(crate) deliveries: Vec<Delivery>,
    pub(crate) idempotency: HashMap<String, (String, u16, Value)>,
    pub(crate) requests: Vec<(String, String, Option<String>)>,
    pub(crate) faults: Vec<super::Fault>,
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A Stripe-looking id: `prefix_` and 24 letters and digits.
pub(crate) fn new_id(prefix: &str) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let tail: String = (0..24)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect();
    format!("{prefix}_{tail}")
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn int(v: &Value, k: &str) -> Option<i64> {
    match v.get(k)? {
        Value::String(x) => x.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// Metadata from form parameters: a flat object of strings.
fn metadata(v: Option<&Value>) -> Result<Value, ApiError> {
    let Some(Value::Object(m)) = v else {
        return Ok(json!({}));
    };
    if m.len() > 50 {
        return Err(ApiError::invalid(
            "parameter_invalid_metadata",
            Some("metadata"),
            "Metadata can have at most 50 keys.",
        ));
    }
    let mut out = Map::new();
    for (k, v) in m {
        let Some(v) = v.as_str() else {
            return Err(ApiError::invalid(
                "parameter_invalid_metadata",
                Some("metadata"),
                "Metadata values must be strings.",
            ));
        };
        if k.len() > 40 || v.len() > 500 {
            return Err(ApiError::invalid(
                "parameter_invalid_metadata",
                Some("metadata"),
                "Metadata keys are at most 40 characters, values at most 500.",
            ));
        }
        out.insert(k.clone(), json!(v));
    }
    Ok(Value::Object(out))
}

fn redirect(session: &Value) -> String {
    s(session, "success_url").unwrap_or_default().replace(
        "{CHECKOUT_SESSION_ID}",
        &s(session, "id").unwrap_or_default(),
    )
}

impl State {
    pub(crate) fn new(base_url: String) -> Self {
        State {
            base_url,
            objects: HashMap::new(),
            plans: HashMap::new(),
            events: Vec::new(),
            pending: Vec::new(),
            deliveries: Vec::new(),
            idempotency: HashMap::new(),
            requests: Vec::new(),
            faults: Vec::new(),
        }
    }

    /// An object by id, of the given `object` kind.
    pub fn get(&self, id: &str, kind: &str) -> Result<Value, ApiError> {
        self.objects
            .get(id)
            .filter(|o| o.get("object").and_then(Value::as_str) == Some(kind))
            .cloned()
            .ok_or_else(|| ApiError::missing(id))
    }

    fn put(&mut self, v: Value) -> Value {
        if let Some(id) = s(&v, "id") {
            self.objects.insert(id, v.clone());
        }
        v
    }

    fn update(&mut self, id: &str, f: impl FnOnce(&mut Map<String, Value>)) -> Value {
        let o = self
            .objects
            .entry(id.to_string())
            .or_insert_with(|| json!({}));
        if let Value::Object(m) = o {
            f(m);
        }
        o.clone()
    }

    /// `object` as the API renders it: includable fields (an invoice's `payments`, since
    /// the 2025 "basil" versions) only when named in `expand`. Events carry objects
    /// rendered without them too.
    pub fn render(mut object: Value, expand: &[String]) -> Value {
        if object.get("object").and_then(Value::as_str) == Some("invoice")
            && !expand.iter().any(|f| f == "payments")
        {
            if let Value::Object(m) = &mut object {
                m.remove("payments");
            }
        }
        object
    }

    /// Records an event of `kind` on a snapshot of `object`.
    pub(crate) fn emit(
        &mut self,
        kind: &str,
        object: &Value,
        idempotency_key: Option<&str>,
    ) -> String {
        let id = new_id("evt");
        let object = State::render(object.clone(), &[]);
        let e = json!({
            "id": id,
            "object": "event",
            "api_version": API_VERSION,
            "created": now(),
            "data": { "object": object },
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": new_id("req"), "idempotency_key": idempotency_key },
            "type": kind,
        });
        self.events.push(e);
        self.pending.push(id.clone());
        id
    }

    /// The event `id`.
    pub fn event(&self, id: &str) -> Option<&Value> {
        self.events
            .iter()
            .find(|e| e.get("id").and_then(Value::as_str) == Some(id))
    }

    // ---- Checkout Sessions ----

    /// `POST /v1/checkout/sessions`.
    pub fn create_session(&mut self, p: &Value) -> Result<Value, ApiError> {
        let mode = s(p, "mode").ok_or_else(|| {
            ApiError::invalid(
                "parameter_missing",
                Some("mode"),
                "Missing required param: mode.",
            )
        })?;
        if mode != "payment" && mode != "subscription" {
            return Err(ApiError::invalid(
                "parameter_invalid_string",
                Some("mode"),
                format!("Invalid mode: {mode}"),
            ));
        }
        let success_url = s(p, "success_url").ok_or_else(|| {
            ApiError::invalid(
                "parameter_missing",
                Some("success_url"),
                "Missing required param: success_url.",
            )
        })?;
        for (k, u) in [
            ("success_url", Some(success_url.clone())),
            ("cancel_url", s(p, "cancel_url")),
        ] {
            if let Some(u) = u {
                if url::Url::parse(&u).is_err() {
                    return Err(ApiError::invalid(
                        "url_invalid",
                        Some(k),
                        format!("Not a valid URL: {k}"),
                    ));
                }
            }
        }
        let items = p
            .get("line_items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if items.is_empty() {
            return Err(ApiError::invalid(
                "parameter_missing",
                Some("line_items"),
                "line_items is required in payment and subscription mode.",
            ));
        }
        let mut total = 0i64;
        let mut currency: Option<String> = None;
        let mut recurring = None;
        for (i, it) in items.iter().enumerate() {
            let param = |f: &str| format!("line_items[{i}][{f}]");
            let pd = it.get("price_data").ok_or_else(|| {
                ApiError::invalid(
                    "parameter_missing",
                    Some(&param("price_data")),
                    "price or price_data is required.",
                )
            })?;
            let c = s(pd, "currency").ok_or_else(|| {
                ApiError::invalid(
                    "parameter_missing",
                    Some(&param("price_data][currency")),
                    "Missing currency.",
                )
            })?;
            let unit = int(pd, "unit_amount").filter(|u| *u >= 0).ok_or_else(|| {
                ApiError::invalid(
                    "parameter_invalid_integer",
                    Some(&param("price_data][unit_amount")),
                    "Invalid unit_amount.",
                )
            })?;
            let qty = int(it, "quantity").filter(|q| *q >= 1).ok_or_else(|| {
                ApiError::invalid(
                    "parameter_missing",
                    Some(&param("quantity")),
                    "quantity is required.",
                )
            })?;
            if pd
                .pointer("/product_data/name")
                .and_then(Value::as_str)
                .is_none()
            {
                return Err(ApiError::invalid(
                    "parameter_missing",
                    Some(&param("price_data][product_data][name")),
                    "Missing product name.",
                ));
            }
            if currency.as_ref().is_some_and(|x| *x != c) {
                return Err(ApiError::invalid(
                    "currency_mismatch",
                    Some(&param("price_data][currency")),
                    "All line items must have the same currency.",
                ));
            }
            currency = Some(c);
            let line = unit
                .checked_mul(qty)
                .ok_or_else(|| ApiError::invalid("amount_too_large", None, "Amount too large."))?;
            total = total
                .checked_add(line)
                .ok_or_else(|| ApiError::invalid("amount_too_large", None, "Amount too large."))?;
            if let Some(iv) = pd.pointer("/recurring/interval").and_then(Value::as_str) {
                if mode != "subscription" {
                    return Err(ApiError::invalid(
                        "parameter_invalid_string",
                        Some(&param("price_data][recurring")),
                        "You specified `payment` mode but passed a recurring price.",
                    ));
                }
                if !["day", "week", "month", "year"].contains(&iv) {
                    return Err(ApiError::invalid(
                        "parameter_invalid_string",
                        Some(&param("price_data][recurring][interval]")),
                        "Invalid interval.",
                    ));
                }
                recurring = Some((
                    recurring.map_or(0, |(a, _): (i64, String)| a) + line,
                    iv.to_string(),
                ));
            }
        }
        if mode == "subscription" && recurring.is_none() {
            return Err(ApiError::invalid("parameter_invalid_string", Some("line_items"), "You must provide at least one recurring price in `subscription` mode when using prices."));
        }
        let id = new_id("cs_test");
        let created = now();
        let session = json!({
            "id": id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": s(p, "cancel_url"),
            "client_reference_id": s(p, "client_reference_id"),
            "created": created,
            "currency": currency,
            "customer": s(p, "customer"),
            "customer_email": s(p, "customer_email"),
            "expires_at": created + 24 * 3600,
            "invoice": null,
            "livemode": false,
            "metadata": metadata(p.get("metadata"))?,
            "mode": mode,
            "payment_intent": null,
            "payment_status": "unpaid",
            "status": "open",
            "subscription": null,
            "success_url": success_url,
            "url": format!("{}/c/pay/{id}", self.base_url),
        });
        self.plans.insert(
            id.clone(),
            Plan {
                pi_metadata: metadata(p.pointer("/payment_intent_data/metadata"))?,
                sub_metadata: metadata(p.pointer("/subscription_data/metadata"))?,
                recurring,
            },
        );
        Ok(self.put(session))
    }

    fn open_session(&self, cs: &str) -> Result<Value, ApiError> {
        let session = self.get(cs, "checkout.session")?;
        match s(&session, "status").as_deref() {
            Some("open") => Ok(session),
            Some(st) => Err(ApiError::invalid(
                "checkout_session_not_open",
                None,
                format!("This Checkout Session is {st}."),
            )),
            None => Err(ApiError::missing(cs)),
        }
    }

    /// `POST /v1/checkout/sessions/{id}/expire`: the payer never paid.
    pub fn expire_session(&mut self, cs: &str) -> Result<Value, ApiError> {
        self.open_session(cs)?;
        let v = self.update(cs, |m| {
            m.insert("status".into(), json!("expired"));
        });
        self.emit("checkout.session.expired", &v, None);
        Ok(v)
    }

    fn payment_intent_for(&mut self, session: &Value, metadata: Value) -> String {
        if let Some(pi) = s(session, "payment_intent") {
            return pi;
        }
        let pi = new_id("pi");
        self.put(json!({
            "id": pi,
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_received": 0,
            "currency": session["currency"],
            "created": now(),
            "customer": session["customer"],
            "last_payment_error": null,
            "latest_charge": null,
            "livemode": false,
            "metadata": metadata,
            "payment_method_types": ["card", "sepa_debit"],
            "status": "requires_payment_method",
        }));
        pi
    }

    fn charge(&mut self, pi: &str, paid: bool, failure: Option<(&str, &str)>) -> Value {
        let intent = self.objects.get(pi).cloned().unwrap_or(Value::Null);
        let ch = new_id("ch");
        let charge = self.put(json!({
            "id": ch,
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": if paid { intent["amount"].clone() } else { json!(0) },
            "amount_refunded": 0,
            "captured": paid,
            "created": now(),
            "currency": intent["currency"],
            "customer": intent["customer"],
            "disputed": false,
            "failure_code": failure.map(|f| f.0),
            "failure_message": failure.map(|f| f.1),
            "livemode": false,
            "metadata": intent["metadata"],
            "paid": paid,
            "payment_intent": pi,
            "refunded": false,
            "status": if paid { "succeeded" } else { "failed" },
        }));
        self.update(pi, |m| {
            m.insert("latest_charge".into(), json!(ch));
        });
        charge
    }

    fn succeed_intent(&mut self, pi: &str) {
        let charge = self.charge(pi, true, None);
        let intent = self.update(pi, |m| {
            m.insert("status".into(), json!("succeeded"));
            m.insert(
                "amount_received".into(),
                m.get("amount").cloned().unwrap_or(json!(0)),
            );
            m.insert("last_payment_error".into(), Value::Null);
        });
        self.emit("charge.succeeded", &charge, None);
        self.emit("payment_intent.succeeded", &intent, None);
    }

    fn fail_intent(&mut self, pi: &str, code: &str, decline_code: &str, message: &str) {
        let charge = self.charge(pi, false, Some((code, message)));
        let intent = self.update(pi, |m| {
            m.insert("status".into(), json!("requires_payment_method"));
            m.insert(
                "last_payment_error".into(),
                json!({ "type": "card_error", "code": code, "decline_code": decline_code, "message": message, "charge": charge["id"] }),
            );
        });
        self.emit("charge.failed", &charge, None);
        self.emit("payment_intent.payment_failed", &intent, None);
    }

    /// Pays an open session with a test card or IBAN, as the hosted page does.
    pub fn pay(&mut self, cs: &str, method: &str) -> Result<PayOutcome, ApiError> {
        let session = self.open_session(cs)?;
        let plan = self
            .plans
            .get(cs)
            .cloned()
            .ok_or_else(|| ApiError::missing(cs))?;
        let subscription = s(&session, "mode").as_deref() == Some("subscription");
        match behaviour(method) {
            CardBehaviour::Invalid => Err(ApiError {
                status: 402,
                kind: "card_error",
                code: Some("incorrect_number"),
                decline_code: None,
                param: Some("number".into()),
                message: "Your card number is incorrect.".into(),
            }),
            CardBehaviour::Declined {
                code,
                decline_code,
                message,
            } => {
                if !subscription {
                    let pi = self.payment_intent_for(&session, plan.pi_metadata);
                    self.update(cs, |m| {
                        m.insert("payment_intent".into(), json!(pi));
                    });
                    self.fail_intent(&pi, code, decline_code, message);
                }
                Ok(PayOutcome::Declined {
                    decline_code: decline_code.into(),
                    message: message.into(),
                })
            }
            CardBehaviour::RequiresAuthentication => {
                if !subscription {
                    let pi = self.payment_intent_for(&session, plan.pi_metadata);
                    self.update(&pi, |m| {
                        m.insert("status".into(), json!("requires_action"));
                    });
                    self.update(cs, |m| {
                        m.insert("payment_intent".into(), json!(pi));
                    });
                }
                Ok(PayOutcome::RequiresAction)
            }
            CardBehaviour::Succeeds | CardBehaviour::SucceedsThenDisputed => {
                let pi = self.complete(cs, &session, &plan)?;
                if behaviour(method) == CardBehaviour::SucceedsThenDisputed {
                    self.dispute(&pi, "fraudulent")?;
                }
                Ok(PayOutcome::Paid {
                    redirect: redirect(&session),
                })
            }
            CardBehaviour::SepaDebit { succeeds } => {
                if subscription {
                    // Simplification: a subscription's SEPA mandate is collected at once.
                    self.complete(cs, &session, &plan)?;
                    return Ok(PayOutcome::Paid {
                        redirect: redirect(&session),
                    });
                }
                let pi = self.payment_intent_for(&session, plan.pi_metadata);
                self.update(&pi, |m| {
                    m.insert("status".into(), json!("processing"));
                    m.insert("payment_method_types".into(), json!(["sepa_debit"]));
                    m.insert("sandbox_sepa_succeeds".into(), json!(succeeds));
                });
                let v = self.update(cs, |m| {
                    m.insert("payment_intent".into(), json!(pi));
                    m.insert("status".into(), json!("complete"));
                    m.insert("payment_status".into(), json!("unpaid"));
                });
                self.emit("checkout.session.completed", &v, None);
                Ok(PayOutcome::Processing {
                    redirect: redirect(&session),
                })
            }
        }
    }

    /// Completes (or fails) the 3-D Secure step of a session.
    pub fn authenticate(&mut self, cs: &str, approve: bool) -> Result<PayOutcome, ApiError> {
        let session = self.open_session(cs)?;
        let plan = self
            .plans
            .get(cs)
            .cloned()
            .ok_or_else(|| ApiError::missing(cs))?;
        if approve {
            self.complete(cs, &session, &plan)?;
            return Ok(PayOutcome::Paid {
                redirect: redirect(&session),
            });
        }
        if let Some(pi) = s(&session, "payment_intent") {
            self.fail_intent(
                &pi,
                "payment_intent_authentication_failure",
                "authentication_required",
                "The provided payment method has failed authentication.",
            );
        }
        Ok(PayOutcome::Declined {
            decline_code: "authentication_required".into(),
            message: "The provided payment method has failed authentication.".into(),
        })
    }

    /// Takes the money of a session: payment mode or subscription mode. Returns the
    /// PaymentIntent.
    fn complete(&mut self, cs: &str, session: &Value, plan: &Plan) -> Result<String, ApiError> {
        if s(session, "mode").as_deref() != Some("subscription") {
            let pi = self.payment_intent_for(session, plan.pi_metadata.clone());
            self.succeed_intent(&pi);
            let v = self.update(cs, |m| {
                m.insert("payment_intent".into(), json!(pi));
                m.insert("status".into(), json!("complete"));
                m.insert("payment_status".into(), json!("paid"));
            });
            self.emit("checkout.session.completed", &v, None);
            return Ok(pi);
        }
        let customer = match s(session, "customer") {
            Some(c) => c,
            None => {
                let c = self.create_customer(&json!({ "email": session["customer_email"] }))?;
                s(&c, "id").unwrap_or_default()
            }
        };
        let (each, interval) = plan.recurring.clone().unwrap_or((0, "month".into()));
        let sub = new_id("sub");
        let created = now();
        let period = if interval == "year" {
            365 * 86400
        } else {
            30 * 86400
        };
        let subscription = self.put(json!({
            "id": sub,
            "object": "subscription",
            "cancel_at_period_end": false,
            "canceled_at": null,
            "cancellation_details": { "comment": null, "feedback": null, "reason": null },
            "created": created,
            "currency": session["currency"],
            "customer": customer,
            "ended_at": null,
            "items": { "object": "list", "data": [{
                "id": new_id("si"), "object": "subscription_item", "quantity": 1,
                "current_period_start": created, "current_period_end": created + period,
                "price": { "id": new_id("price"), "object": "price", "currency": session["currency"],
                           "unit_amount": each, "recurring": { "interval": interval } }
            }]},
            "latest_invoice": null,
            "livemode": false,
            "metadata": plan.sub_metadata,
            "status": "active",
        }));
        self.emit("customer.subscription.created", &subscription, None);
        let total = session["amount_total"].as_i64().unwrap_or(0);
        let invoice = self.invoice(&sub, "subscription_create", total, true, false)?;
        let v = self.update(cs, |m| {
            m.insert("customer".into(), json!(customer));
            m.insert("subscription".into(), json!(sub));
            m.insert("invoice".into(), invoice["id"].clone());
            m.insert("status".into(), json!("complete"));
            m.insert("payment_status".into(), json!("paid"));
        });
        self.emit("checkout.session.completed", &v, None);
        Ok(invoice
            .pointer("/payments/data/0/payment/payment_intent")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    /// An invoice of `sub` for `amount`, paid or failed, with its PaymentIntent and events.
    fn invoice(
        &mut self,
        sub: &str,
        reason: &str,
        amount: i64,
        paid: bool,
        last_attempt: bool,
    ) -> Result<Value, ApiError> {
        let subscription = self.get(sub, "subscription")?;
        let id = new_id("in");
        let pi = new_id("pi");
        self.put(json!({
            "id": pi, "object": "payment_intent", "amount": amount, "amount_received": 0,
            "currency": subscription["currency"], "created": now(), "customer": subscription["customer"],
            "last_payment_error": null, "latest_charge": null, "livemode": false, "metadata": {},
            "payment_method_types": ["card"], "status": "processing",
        }));
        if paid {
            self.succeed_intent(&pi);
        } else {
            self.fail_intent(
                &pi,
                "card_declined",
                "insufficient_funds",
                "Your card has insufficient funds.",
            );
        }
        let invoice = self.put(json!({
            "id": id,
            "object": "invoice",
            "amount_due": amount,
            "amount_paid": if paid { amount } else { 0 },
            "amount_remaining": if paid { 0 } else { amount },
            "attempt_count": 1,
            "attempted": true,
            "billing_reason": reason,
            "created": now(),
            "currency": subscription["currency"],
            "customer": subscription["customer"],
            "livemode": false,
            "metadata": {},
            "next_payment_attempt": if paid || last_attempt { Value::Null } else { json!(now() + 3 * 86400) },
            "parent": { "type": "subscription_details", "quote_details": null,
                        "subscription_details": { "metadata": subscription["metadata"], "subscription": sub } },
            "payments": { "object": "list", "data": [{ "id": new_id("inpay"), "object": "invoice_payment",
                          "payment": { "type": "payment_intent", "payment_intent": pi },
                          "status": if paid { "paid" } else { "open" } }] },
            "status": if paid { "paid" } else { "open" },
        }));
        self.update(sub, |m| {
            m.insert("latest_invoice".into(), json!(id));
        });
        if paid {
            self.emit("invoice.paid", &invoice, None);
            self.emit("invoice.payment_succeeded", &invoice, None);
        } else {
            self.emit("invoice.payment_failed", &invoice, None);
        }
        Ok(invoice)
    }

    /// Collects (or fails) a delayed payment (SEPA) of a completed session.
    pub fn settle_async(&mut self, cs: &str, succeeded: bool) -> Result<Value, ApiError> {
        let session = self.get(cs, "checkout.session")?;
        let pi = s(&session, "payment_intent").ok_or_else(|| {
            ApiError::invalid(
                "payment_intent_unexpected_state",
                None,
                "No delayed payment on this session.",
            )
        })?;
        let intent = self.get(&pi, "payment_intent")?;
        if s(&intent, "status").as_deref() != Some("processing") {
            return Err(ApiError::invalid(
                "payment_intent_unexpected_state",
                None,
                "This payment is not being collected.",
            ));
        }
        if succeeded {
            self.succeed_intent(&pi);
            let v = self.update(cs, |m| {
                m.insert("payment_status".into(), json!("paid"));
            });
            self.emit("checkout.session.async_payment_succeeded", &v, None);
            Ok(v)
        } else {
            self.fail_intent(
                &pi,
                "payment_method_provider_decline",
                "insufficient_funds",
                "The SEPA debit was refused by the payer's bank.",
            );
            let v = self.update(cs, |m| {
                m.insert("payment_status".into(), json!("unpaid"));
            });
            self.emit("checkout.session.async_payment_failed", &v, None);
            Ok(v)
        }
    }

    /// Sessions whose delayed payment was set up to succeed or fail by its IBAN.
    pub(crate) fn sepa_outcome(&self, cs: &str) -> Option<bool> {
        let pi = s(self.objects.get(cs)?, "payment_intent")?;
        self.objects
            .get(&pi)?
            .get("sandbox_sepa_succeeds")?
            .as_bool()
    }

    // ---- PaymentIntents ----

    /// `POST /v1/payment_intents`.
    pub fn create_payment_intent(&mut self, p: &Value) -> Result<Value, ApiError> {
        let amount = int(p, "amount").filter(|a| *a >= 0).ok_or_else(|| {
            ApiError::invalid(
                "parameter_missing",
                Some("amount"),
                "Missing required param: amount.",
            )
        })?;
        let currency = s(p, "currency").ok_or_else(|| {
            ApiError::invalid(
                "parameter_missing",
                Some("currency"),
                "Missing required param: currency.",
            )
        })?;
        let pi = new_id("pi");
        Ok(self.put(json!({
            "id": pi, "object": "payment_intent", "amount": amount, "amount_received": 0,
            "currency": currency, "created": now(), "customer": s(p, "customer"),
            "last_payment_error": null, "latest_charge": null, "livemode": false,
            "metadata": metadata(p.get("metadata"))?, "payment_method_types": ["card"],
            "status": "requires_payment_method",
        })))
    }

    // ---- Refunds and disputes ----

    fn charge_of(&self, p: &Value) -> Result<(String, Value), ApiError> {
        if let Some(ch) = s(p, "charge") {
            let c = self.get(&ch, "charge")?;
            return Ok((ch, c));
        }
        let pi = s(p, "payment_intent").ok_or_else(|| {
            ApiError::invalid(
                "parameter_missing",
                Some("payment_intent"),
                "One of charge or payment_intent is required.",
            )
        })?;
        let intent = self.get(&pi, "payment_intent")?;
        if s(&intent, "status").as_deref() != Some("succeeded") {
            return Err(ApiError::invalid(
                "payment_intent_unexpected_state",
                Some("payment_intent"),
                format!("PaymentIntent {pi} has no successful charge to refund."),
            ));
        }
        let ch = s(&intent, "latest_charge").ok_or_else(|| ApiError::missing(&pi))?;
        let c = self.get(&ch, "charge")?;
        Ok((ch, c))
    }

    /// `POST /v1/refunds` (and the dashboard's refund button).
    pub fn refund(&mut self, p: &Value, idempotency_key: Option<&str>) -> Result<Value, ApiError> {
        let (ch, charge) = self.charge_of(p)?;
        let captured = charge["amount_captured"].as_i64().unwrap_or(0);
        let refunded = charge["amount_refunded"].as_i64().unwrap_or(0);
        let left = captured - refunded;
        if left <= 0 {
            return Err(ApiError::invalid(
                "charge_already_refunded",
                None,
                format!("Charge {ch} has already been refunded."),
            ));
        }
        let amount = match p.get("amount") {
            None | Some(Value::Null) => left,
            Some(_) => int(p, "amount").filter(|a| *a > 0).ok_or_else(|| {
                ApiError::invalid(
                    "parameter_invalid_integer",
                    Some("amount"),
                    "Invalid positive integer",
                )
            })?,
        };
        if amount > left {
            return Err(ApiError::invalid(
                "amount_too_large",
                Some("amount"),
                format!(
                    "Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"
                ),
            ));
        }
        let re = new_id("re");
        let refund = self.put(json!({
            "id": re, "object": "refund", "amount": amount, "charge": ch, "created": now(),
            "currency": charge["currency"], "metadata": metadata(p.get("metadata"))?,
            "payment_intent": charge["payment_intent"], "reason": s(p, "reason"), "status": "succeeded",
        }));
        let charge = self.update(&ch, |m| {
            m.insert("amount_refunded".into(), json!(refunded + amount));
            m.insert("refunded".into(), json!(refunded + amount == captured));
        });
        self.emit("refund.created", &refund, idempotency_key);
        self.emit("charge.refunded", &charge, idempotency_key);
        Ok(refund)
    }

    /// The payer disputes the payment of `pi` (a chargeback).
    pub fn dispute(&mut self, pi: &str, reason: &str) -> Result<Value, ApiError> {
        let (ch, charge) = self.charge_of(&json!({ "payment_intent": pi }))?;
        let dp = new_id("dp");
        let dispute = self.put(json!({
            "id": dp, "object": "dispute", "amount": charge["amount_captured"], "charge": ch,
            "created": now(), "currency": charge["currency"], "is_charge_refundable": false,
            "livemode": false, "metadata": {}, "payment_intent": pi, "reason": reason,
            "status": "needs_response",
        }));
        self.update(&ch, |m| {
            m.insert("disputed".into(), json!(true));
        });
        self.emit("charge.dispute.created", &dispute, None);
        Ok(dispute)
    }

    // ---- Subscriptions ----

    /// A renewal of `sub` (what Stripe does at each period).
    pub fn renew(&mut self, sub: &str, outcome: Renewal) -> Result<Value, ApiError> {
        let subscription = self.get(sub, "subscription")?;
        if s(&subscription, "status").as_deref() != Some("active") {
            return Err(ApiError::invalid(
                "subscription_not_active",
                None,
                format!("Subscription {sub} is not active."),
            ));
        }
        let each = subscription
            .pointer("/items/data/0/price/unit_amount")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let invoice = self.invoice(
            sub,
            "subscription_cycle",
            each,
            outcome == Renewal::Paid,
            outcome == Renewal::FinalFailure,
        )?;
        if outcome == Renewal::FinalFailure {
            self.end_subscription(sub, "payment_failed")?;
        }
        Ok(invoice)
    }

    fn end_subscription(&mut self, sub: &str, reason: &str) -> Result<Value, ApiError> {
        let subscription = self.get(sub, "subscription")?;
        if s(&subscription, "status").as_deref() == Some("canceled") {
            return Ok(subscription);
        }
        let t = now();
        let v = self.update(sub, |m| {
            m.insert("status".into(), json!("canceled"));
            m.insert("canceled_at".into(), json!(t));
            m.insert("ended_at".into(), json!(t));
            m.insert(
                "cancellation_details".into(),
                json!({ "comment": null, "feedback": null, "reason": reason }),
            );
        });
        self.emit("customer.subscription.deleted", &v, None);
        Ok(v)
    }

    /// `DELETE /v1/subscriptions/{id}`.
    pub fn cancel_subscription(&mut self, sub: &str) -> Result<Value, ApiError> {
        self.end_subscription(sub, "cancellation_requested")
    }

    // ---- Customers ----

    /// `POST /v1/customers`.
    pub fn create_customer(&mut self, p: &Value) -> Result<Value, ApiError> {
        let c = new_id("cus");
        let v = self.put(json!({
            "id": c, "object": "customer", "created": now(), "email": s(p, "email"),
            "livemode": false, "metadata": metadata(p.get("metadata"))?, "name": s(p, "name"),
        }));
        self.emit("customer.created", &v, None);
        Ok(v)
    }

    /// `POST /v1/customers/{id}`.
    pub fn update_customer(&mut self, id: &str, p: &Value) -> Result<Value, ApiError> {
        self.get(id, "customer")?;
        let meta = metadata(p.get("metadata"))?;
        let v = self.update(id, |m| {
            for k in ["email", "name"] {
                if let Some(x) = p.get(k).and_then(Value::as_str) {
                    m.insert(k.into(), json!(x));
                }
            }
            if let (Some(Value::Object(old)), Value::Object(new)) = (m.get_mut("metadata"), meta) {
                old.extend(new);
            }
        });
        self.emit("customer.updated", &v, None);
        Ok(v)
    }

    /// `DELETE /v1/customers/{id}`.
    pub fn delete_customer(&mut self, id: &str) -> Result<Value, ApiError> {
        self.get(id, "customer")?;
        let v = json!({ "id": id, "object": "customer", "deleted": true });
        self.objects.insert(id.to_string(), v.clone());
        Ok(v)
    }

    /// `GET /v1/customers/{id}`: a deleted customer reads back as such.
    pub fn customer(&self, id: &str) -> Result<Value, ApiError> {
        self.objects
            .get(id)
            .filter(|o| o.get("object").and_then(Value::as_str) == Some("customer"))
            .cloned()
            .ok_or_else(|| ApiError::missing(id))
    }
}
