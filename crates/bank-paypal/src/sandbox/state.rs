//! The sandbox's state and PayPal's rules, without HTTP: orders, captures,
//! authorisations, refunds, subscriptions, idempotency by request id, and the events
//! each change emits.

use std::collections::HashMap;

use rand::Rng;
use serde_json::{json, Value};

/// An error answer in PayPal's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// `name`.
    pub name: &'static str,
    /// `details[0].issue`.
    pub issue: Option<&'static str>,
    /// `message`.
    pub message: String,
}

impl ApiError {
    fn new(
        status: u16,
        name: &'static str,
        issue: Option<&'static str>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            name,
            issue,
            message: message.into(),
        }
    }

    fn unprocessable(issue: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(422, "UNPROCESSABLE_ENTITY", Some(issue), message)
    }

    fn invalid(issue: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(400, "INVALID_REQUEST", Some(issue), message)
    }

    fn not_found(what: &str) -> Self {
        ApiError::new(
            404,
            "RESOURCE_NOT_FOUND",
            Some("INVALID_RESOURCE_ID"),
            format!("The specified resource does not exist ({what})."),
        )
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "message": self.message,
            "debug_id": new_id(13).to_lowercase(),
        });
        if let Some(i) = self.issue {
            v["details"] = json!([{ "issue": i, "description": self.message }]);
        }
        v
    }
}

/// A PayPal-looking id: upper-case letters and digits.
pub fn new_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Now, as PayPal writes times.
pub fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A buyer of the approval page, and what paying as them does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buyer {
    /// Approves; the capture completes.
    Pays,
    /// Approves; the capture waits (`PENDING`, `PENDING_REVIEW`) until settled.
    Pending,
    /// Approves; the capture is declined (422 `INSTRUMENT_DECLINED`).
    Declined,
}

impl Buyer {
    /// The test buyers' e-mail addresses, as the page lists them.
    pub const ALL: [(&'static str, Buyer); 3] = [
        ("buyer@example.com", Buyer::Pays),
        ("pending@example.com", Buyer::Pending),
        ("declined@example.com", Buyer::Declined),
    ];

    /// The buyer of an e-mail address.
    pub fn of(email: &str) -> Option<Buyer> {
        Buyer::ALL
            .iter()
            .find(|(e, _)| *e == email)
            .map(|(_, b)| *b)
    }
}

/// An amount as PayPal holds it: the value as sent, and in hundredths (or units).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Amount {
    /// Currency code.
    pub currency: String,
    /// Units × 10^decimals.
    pub minor: i64,
    /// Decimals of the currency at PayPal.
    pub decimals: u32,
}

const CURRENCIES: [&str; 24] = [
    "AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "HUF", "ILS", "JPY", "MYR", "MXN",
    "TWD", "NZD", "NOK", "PHP", "PLN", "GBP", "SGD", "SEK", "CHF", "THB", "USD",
];

impl Amount {
    /// Validates a `money` object as PayPal does.
    ///
    /// # Errors
    /// PayPal's 400/422 issues.
    pub fn parse(v: &Value) -> Result<Self, ApiError> {
        let currency = v
            .get("currency_code")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ApiError::invalid("MISSING_REQUIRED_PARAMETER", "amount.currency_code")
            })?;
        let value = v
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid("MISSING_REQUIRED_PARAMETER", "amount.value"))?;
        if !CURRENCIES.contains(&currency) {
            return Err(ApiError::unprocessable(
                "CURRENCY_NOT_SUPPORTED",
                format!("{currency} is not supported"),
            ));
        }
        let decimals = if ["HUF", "JPY", "TWD"].contains(&currency) {
            0
        } else {
            2
        };
        let (int, frac) = value.split_once('.').unwrap_or((value, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if value.len() > 32
            || int.is_empty()
            || !digits(int)
            || !digits(frac)
            || (value.contains('.') && frac.is_empty())
        {
            return Err(ApiError::invalid(
                "INVALID_PARAMETER_SYNTAX",
                format!("amount.value {value:?}"),
            ));
        }
        if decimals == 0 && value.contains('.') {
            return Err(ApiError::unprocessable(
                "DECIMALS_NOT_SUPPORTED",
                "Currency does not support decimals.",
            ));
        }
        if frac.len() > 2 {
            return Err(ApiError::unprocessable(
                "DECIMAL_PRECISION",
                "If the currency supports decimals, only two decimal place precision is supported.",
            ));
        }
        let scaled = format!("{int}{frac:0<width$}", width = decimals as usize);
        let minor = scaled
            .parse::<i64>()
            .map_err(|_| ApiError::unprocessable("MAX_VALUE_EXCEEDED", "amount too large"))?;
        Ok(Amount {
            currency: currency.to_string(),
            minor,
            decimals,
        })
    }

    /// The `money` object.
    pub fn json(&self) -> Value {
        json!({ "currency_code": self.currency, "value": self.value() })
    }

    fn value(&self) -> String {
        if self.decimals == 0 {
            return self.minor.to_string();
        }
        format!("{}.{:02}", self.minor / 100, self.minor % 100)
    }

    fn with_minor(&self, minor: i64) -> Amount {
        Amount {
            minor,
            ..self.clone()
        }
    }
}

/// An order.
#[derive(Clone, Debug)]
pub struct Order {
    id: String,
    intent: String,
    status: String,
    reference_id: Option<String>,
    custom_id: Option<String>,
    invoice_id: Option<String>,
    amount: Amount,
    payee: String,
    return_url: Option<String>,
    cancel_url: Option<String>,
    buyer: Option<Buyer>,
    captures: Vec<String>,
    authorizations: Vec<String>,
    create_time: String,
}

/// A capture or an authorisation.
#[derive(Clone, Debug)]
pub struct Payment {
    id: String,
    order_id: String,
    status: String,
    reason: Option<String>,
    amount: Amount,
    refunded: i64,
    custom_id: Option<String>,
    invoice_id: Option<String>,
    payee: String,
    create_time: String,
}

/// A subscription.
#[derive(Clone, Debug)]
pub struct Subscription {
    id: String,
    plan_id: String,
    status: String,
    custom_id: Option<String>,
    return_url: Option<String>,
    cancel_url: Option<String>,
    sales: Vec<String>,
    create_time: String,
    /// The token of its approval page.
    pub token: String,
}

impl Subscription {
    /// Its id.
    pub fn id_for_page(&self) -> String {
        self.id.clone()
    }
}

/// A sale (a subscription's payment).
#[derive(Clone, Debug)]
pub struct Sale {
    id: String,
    subscription_id: String,
    status: String,
    amount: Amount,
    time: String,
}

/// What renewing a subscription does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// The payment is taken.
    Paid,
    /// The payment fails (the subscription is suspended, threshold 1).
    Failed,
}

/// A fault injected into the API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fault {
    /// Requests whose path starts with this.
    pub path_prefix: String,
    /// The status answered (500, 429…).
    pub status: u16,
    /// Execute the request first (its answer is lost on the way back).
    pub after_executing: bool,
    /// How many requests get it.
    pub remaining: u32,
}

/// The whole state.
#[derive(Debug)]
pub struct State {
    /// Base URL (`http://127.0.0.1:port`), for links.
    pub base: String,
    /// The app's merchant id.
    pub merchant_id: String,
    orders: HashMap<String, Order>,
    payments: HashMap<String, Payment>,
    refunds: HashMap<String, Value>,
    plans: HashMap<String, Value>,
    subscriptions: HashMap<String, Subscription>,
    sales: HashMap<String, Sale>,
    idempotent: HashMap<(String, String), (String, String)>,
    /// Every event emitted, oldest first.
    pub events: Vec<Value>,
    /// Ids of events not yet handed to the webhook sender.
    pub pending: Vec<String>,
    /// Injected faults.
    pub faults: Vec<Fault>,
    /// API calls: method, path, request id.
    pub requests: Vec<(String, String, Option<String>)>,
    /// Access tokens asked for.
    pub token_requests: u32,
    /// Certificate fetches served.
    pub certificate_fetches: u32,
}

/// The outcome of an API call: status and body.
pub type Answer = Result<(u16, Value), ApiError>;

impl State {
    /// An empty sandbox at `base` for merchant `merchant_id`.
    pub fn new(base: String, merchant_id: String) -> Self {
        State {
            base,
            merchant_id,
            orders: HashMap::new(),
            payments: HashMap::new(),
            refunds: HashMap::new(),
            plans: HashMap::new(),
            subscriptions: HashMap::new(),
            sales: HashMap::new(),
            idempotent: HashMap::new(),
            events: Vec::new(),
            pending: Vec::new(),
            faults: Vec::new(),
            requests: Vec::new(),
            token_requests: 0,
            certificate_fetches: 0,
        }
    }

    /// The event with this id.
    pub fn event(&self, id: &str) -> Option<&Value> {
        self.events.iter().find(|e| e["id"] == id)
    }

    fn emit(&mut self, kind: &str, resource_type: &str, resource: Value) {
        let id = format!("WH-{}-{}", new_id(17), new_id(17));
        let summary = kind.to_lowercase().replace(['.', '_'], " ");
        let e = json!({
            "id": id,
            "event_version": "1.0",
            "create_time": now_text(),
            "resource_type": resource_type,
            "resource_version": if resource_type == "sale" || resource_type == "subscription" { "1.0" } else { "2.0" },
            "event_type": kind,
            "summary": summary,
            "resource": resource,
            "links": [
                { "href": format!("{}/v1/notifications/webhooks-events/{id}", self.base), "rel": "self", "method": "GET" },
                { "href": format!("{}/v1/notifications/webhooks-events/{id}/resend", self.base), "rel": "resend", "method": "POST" },
            ],
        });
        self.events.push(e);
        self.pending.push(id);
    }

    /// The resource created earlier with this request id on this path, if any: PayPal
    /// answers a replay with what exists now, 200 instead of 201.
    pub fn replay(&self, path: &str, request_id: Option<&str>) -> Option<Answer> {
        let (kind, id) = self
            .idempotent
            .get(&(path.to_string(), request_id?.to_string()))?;
        Some(match kind.as_str() {
            "order" => self.order_json(id).map(|v| (200, v)),
            "payment" => self.payment_json(id, true).map(|v| (200, v)),
            "refund" => self
                .refunds
                .get(id)
                .cloned()
                .map(|v| (200, v))
                .ok_or_else(|| ApiError::not_found(id)),
            "plan" | "product" => self
                .plans
                .get(id)
                .cloned()
                .map(|v| (200, v))
                .ok_or_else(|| ApiError::not_found(id)),
            "subscription" => self.subscription_json(id).map(|v| (200, v)),
            "void" => Ok((204, Value::Null)),
            _ => Err(ApiError::not_found(id)),
        })
    }

    /// Remembers that `request_id` on `path` made resource `id` of `kind`.
    pub fn remember(&mut self, path: &str, request_id: Option<&str>, kind: &str, id: &str) {
        if let Some(r) = request_id {
            self.idempotent.insert(
                (path.to_string(), r.to_string()),
                (kind.to_string(), id.to_string()),
            );
        }
    }

    // ----- orders -------------------------------------------------------------------

    /// `POST /v2/checkout/orders`.
    pub fn create_order(&mut self, req: &Value) -> Answer {
        let intent = req.get("intent").and_then(Value::as_str).unwrap_or("");
        if !matches!(intent, "CAPTURE" | "AUTHORIZE") {
            return Err(ApiError::invalid("INVALID_PARAMETER_VALUE", "intent"));
        }
        let units = req
            .get("purchase_units")
            .and_then(Value::as_array)
            .filter(|u| (1..=10).contains(&u.len()))
            .ok_or_else(|| ApiError::invalid("INVALID_ARRAY_MAX_ITEMS", "purchase_units"))?;
        if units.len() != 1 {
            return Err(ApiError::unprocessable(
                "MULTIPLE_PURCHASE_UNITS_NOT_SUPPORTED",
                "this sandbox takes one purchase unit",
            ));
        }
        let u = &units[0];
        let amount = Amount::parse(u.get("amount").unwrap_or(&Value::Null))?;
        let text = |k: &str, max: usize| -> Result<Option<String>, ApiError> {
            match u.get(k).and_then(Value::as_str) {
                Some(s) if s.is_empty() || s.chars().count() > max => {
                    Err(ApiError::invalid("INVALID_STRING_LENGTH", k.to_string()))
                }
                Some(s) => Ok(Some(s.to_string())),
                None => Ok(None),
            }
        };
        let ctx = req
            .pointer("/payment_source/paypal/experience_context")
            .or_else(|| req.get("application_context"));
        let url = |k: &str| {
            ctx.and_then(|c| c.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let payee = u
            .pointer("/payee/merchant_id")
            .and_then(Value::as_str)
            .unwrap_or(&self.merchant_id)
            .to_string();
        let id = new_id(17);
        let order = Order {
            id: id.clone(),
            intent: intent.to_string(),
            status: if req.pointer("/payment_source/paypal").is_some() {
                "PAYER_ACTION_REQUIRED".into()
            } else {
                "CREATED".into()
            },
            reference_id: text("reference_id", 256)?,
            custom_id: text("custom_id", 127)?,
            invoice_id: text("invoice_id", 127)?,
            amount,
            payee,
            return_url: url("return_url"),
            cancel_url: url("cancel_url"),
            buyer: None,
            captures: Vec::new(),
            authorizations: Vec::new(),
            create_time: now_text(),
        };
        self.orders.insert(id.clone(), order);
        Ok((201, self.order_json(&id)?))
    }

    fn order(&self, id: &str) -> Result<&Order, ApiError> {
        self.orders.get(id).ok_or_else(|| ApiError::not_found(id))
    }

    /// An order as PayPal shows it.
    pub fn order_json(&self, id: &str) -> Result<Value, ApiError> {
        let o = self.order(id)?;
        let mut unit = json!({
            "reference_id": o.reference_id.clone().unwrap_or_else(|| "default".into()),
            "amount": o.amount.json(),
            "payee": { "merchant_id": o.payee, "email_address": format!("{}@business.example.com", o.payee.to_lowercase()) },
        });
        if let Some(c) = &o.custom_id {
            unit["custom_id"] = json!(c);
        }
        if let Some(i) = &o.invoice_id {
            unit["invoice_id"] = json!(i);
        }
        let list = |ids: &[String]| -> Vec<Value> {
            ids.iter()
                .filter_map(|i| self.payment_json(i, false).ok())
                .collect()
        };
        if !o.captures.is_empty() {
            unit["payments"] = json!({ "captures": list(&o.captures) });
        } else if !o.authorizations.is_empty() {
            unit["payments"] = json!({ "authorizations": list(&o.authorizations) });
        }
        let mut links = vec![
            json!({ "href": format!("{}/v2/checkout/orders/{}", self.base, o.id), "rel": "self", "method": "GET" }),
        ];
        match o.status.as_str() {
            "PAYER_ACTION_REQUIRED" => links.push(json!({ "href": format!("{}/checkoutnow?token={}", self.base, o.id), "rel": "payer-action", "method": "GET" })),
            "CREATED" => links.push(json!({ "href": format!("{}/checkoutnow?token={}", self.base, o.id), "rel": "approve", "method": "GET" })),
            "APPROVED" => links.push(json!({ "href": format!("{}/v2/checkout/orders/{}/{}", self.base, o.id, o.intent.to_lowercase()), "rel": o.intent.to_lowercase(), "method": "POST" })),
            _ => {}
        }
        Ok(json!({
            "id": o.id,
            "intent": o.intent,
            "status": o.status,
            "purchase_units": [unit],
            "create_time": o.create_time,
            "links": links,
        }))
    }

    /// The order of an approval page, if it can still be approved.
    pub fn approvable(&self, id: &str) -> Result<(Amount, Option<String>), ApiError> {
        let o = self.order(id)?;
        if !matches!(o.status.as_str(), "PAYER_ACTION_REQUIRED" | "CREATED") {
            return Err(ApiError::unprocessable(
                "ORDER_ALREADY_APPROVED",
                "This order cannot be approved again.",
            ));
        }
        Ok((o.amount.clone(), o.custom_id.clone()))
    }

    /// The payer approves order `id` as `buyer`; the return URL with `token` and
    /// `PayerID`.
    ///
    /// # Errors
    /// An order that cannot be approved.
    pub fn approve(&mut self, id: &str, buyer: Buyer) -> Result<String, ApiError> {
        self.approvable(id)?;
        let o = self
            .orders
            .get_mut(id)
            .ok_or_else(|| ApiError::not_found(id))?;
        o.status = "APPROVED".into();
        o.buyer = Some(buyer);
        let back = o.return_url.clone().unwrap_or_default();
        let json = self.order_json(id)?;
        self.emit("CHECKOUT.ORDER.APPROVED", "checkout-order", json);
        Ok(with_query(
            &back,
            &[("token", id), ("PayerID", "SANDBOXBUYER1")],
        ))
    }

    /// The payer cancels on the approval page: the cancel URL with `token`.
    ///
    /// # Errors
    /// An unknown order.
    pub fn cancel_approval(&mut self, id: &str) -> Result<String, ApiError> {
        let o = self.order(id)?;
        Ok(with_query(
            o.cancel_url.as_deref().unwrap_or_default(),
            &[("token", id)],
        ))
    }

    /// `POST /v2/checkout/orders/{id}/capture` or `/authorize`.
    pub fn complete_order(&mut self, id: &str, verb: &str) -> Answer {
        let o = self.order(id)?.clone();
        let wanted = if verb == "capture" {
            "CAPTURE"
        } else {
            "AUTHORIZE"
        };
        if o.intent != wanted {
            return Err(ApiError::unprocessable(
                "ACTION_DOES_NOT_MATCH_INTENT",
                format!("Order was created with intent {}", o.intent),
            ));
        }
        match o.status.as_str() {
            "APPROVED" => {}
            "COMPLETED" => {
                return Err(ApiError::unprocessable(
                    if verb == "capture" {
                        "ORDER_ALREADY_CAPTURED"
                    } else {
                        "ORDER_ALREADY_AUTHORIZED"
                    },
                    "Order already completed.",
                ))
            }
            _ => {
                return Err(ApiError::unprocessable(
                    "ORDER_NOT_APPROVED",
                    "Payer has not yet approved the Order for payment.",
                ))
            }
        }
        if o.buyer == Some(Buyer::Declined) {
            return Err(ApiError::unprocessable("INSTRUMENT_DECLINED", "The instrument presented was either declined by the processor or bank, or it can't be used for this payment."));
        }
        let pid = new_id(17);
        let (status, reason) = match (verb, o.buyer) {
            ("capture", Some(Buyer::Pending)) => ("PENDING", Some("PENDING_REVIEW".to_string())),
            ("capture", _) => ("COMPLETED", None),
            (_, Some(Buyer::Pending)) => ("PENDING", Some("PENDING_REVIEW".to_string())),
            _ => ("CREATED", None),
        };
        self.payments.insert(
            pid.clone(),
            Payment {
                id: pid.clone(),
                order_id: o.id.clone(),
                status: status.into(),
                reason,
                amount: o.amount.clone(),
                refunded: 0,
                custom_id: o.custom_id.clone(),
                invoice_id: o.invoice_id.clone(),
                payee: o.payee.clone(),
                create_time: now_text(),
            },
        );
        if let Some(o) = self.orders.get_mut(id) {
            o.status = "COMPLETED".into();
            if verb == "capture" {
                o.captures.push(pid.clone());
            } else {
                o.authorizations.push(pid.clone());
            }
        }
        if verb == "capture" {
            let kind = if status == "COMPLETED" {
                "PAYMENT.CAPTURE.COMPLETED"
            } else {
                "PAYMENT.CAPTURE.PENDING"
            };
            let r = self.payment_json(&pid, false)?;
            self.emit(kind, "capture", r);
        } else {
            let r = self.payment_json(&pid, false)?;
            self.emit("PAYMENT.AUTHORIZATION.CREATED", "authorization", r);
        }
        Ok((201, self.order_json(id)?))
    }

    // ----- payments -----------------------------------------------------------------

    fn payment(&self, id: &str) -> Result<&Payment, ApiError> {
        self.payments.get(id).ok_or_else(|| ApiError::not_found(id))
    }

    fn is_capture(&self, id: &str) -> bool {
        self.payments.contains_key(id)
            && !self
                .orders
                .values()
                .any(|o| o.authorizations.iter().any(|a| a == id))
    }

    /// A capture or authorisation as PayPal shows it (`payee` and related ids only on a
    /// GET, not in webhooks or orders).
    pub fn payment_json(&self, id: &str, full: bool) -> Result<Value, ApiError> {
        let p = self.payment(id)?;
        let capture = self.is_capture(id);
        let kind = if capture {
            "captures"
        } else {
            "authorizations"
        };
        let mut v = json!({
            "id": p.id,
            "status": p.status,
            "amount": p.amount.json(),
            "final_capture": true,
            "seller_protection": { "status": "ELIGIBLE" },
            "create_time": p.create_time,
            "update_time": now_text(),
            "supplementary_data": { "related_ids": { "order_id": p.order_id } },
            "links": [
                { "href": format!("{}/v2/payments/{kind}/{}", self.base, p.id), "rel": "self", "method": "GET" },
                { "href": format!("{}/v2/checkout/orders/{}", self.base, p.order_id), "rel": "up", "method": "GET" },
            ],
        });
        if let Some(r) = &p.reason {
            v["status_details"] = json!({ "reason": r });
        }
        if let Some(c) = &p.custom_id {
            v["custom_id"] = json!(c);
        }
        if let Some(i) = &p.invoice_id {
            v["invoice_id"] = json!(i);
        }
        if full {
            v["payee"] = json!({ "merchant_id": p.payee, "email_address": format!("{}@business.example.com", p.payee.to_lowercase()) });
        }
        Ok(v)
    }

    /// `GET /v2/payments/captures/{id}` (and authorizations).
    pub fn get_payment(&self, id: &str, kind: &str) -> Answer {
        let capture = self.is_capture(id);
        if (kind == "captures") != capture {
            return Err(ApiError::not_found(id));
        }
        Ok((200, self.payment_json(id, true)?))
    }

    /// `POST /v2/payments/captures/{id}/refund`.
    pub fn refund(&mut self, capture_id: &str, req: &Value) -> Answer {
        if !self.is_capture(capture_id) {
            return Err(ApiError::not_found(capture_id));
        }
        let p = self.payment(capture_id)?.clone();
        match p.status.as_str() {
            "COMPLETED" | "PARTIALLY_REFUNDED" => {}
            "PENDING" => {
                return Err(ApiError::unprocessable(
                    "PENDING_CAPTURE",
                    "Cannot initiate a refund as the capture is pending.",
                ))
            }
            "REFUNDED" => {
                return Err(ApiError::unprocessable(
                    "CAPTURE_FULLY_REFUNDED",
                    "The capture has already been fully refunded.",
                ))
            }
            _ => {
                return Err(ApiError::unprocessable(
                    "REFUND_NOT_ALLOWED",
                    "This capture cannot be refunded.",
                ))
            }
        }
        let left = p.amount.minor - p.refunded;
        let amount = match req.get("amount") {
            Some(a) => {
                let a = Amount::parse(a)?;
                if a.currency != p.amount.currency {
                    return Err(ApiError::unprocessable(
                        "REFUND_CAPTURE_CURRENCY_MISMATCH",
                        "Refund must be in the same currency as the capture.",
                    ));
                }
                if a.minor > left {
                    return Err(ApiError::unprocessable("REFUND_AMOUNT_EXCEEDED", "The refund amount must be less than or equal to the capture amount that has not yet been refunded."));
                }
                if a.minor == 0 {
                    return Err(ApiError::invalid("INVALID_PARAMETER_VALUE", "amount.value"));
                }
                a
            }
            None => p.amount.with_minor(left),
        };
        let refunded = p.refunded + amount.minor;
        let rid = new_id(17);
        let refund = json!({
            "id": rid,
            "status": "COMPLETED",
            "amount": amount.json(),
            "custom_id": req.get("custom_id").cloned().unwrap_or(Value::Null),
            "seller_payable_breakdown": {
                "gross_amount": amount.json(),
                "total_refunded_amount": p.amount.with_minor(refunded).json(),
            },
            "create_time": now_text(),
            "links": [
                { "href": format!("{}/v2/payments/refunds/{rid}", self.base), "rel": "self", "method": "GET" },
                { "href": format!("{}/v2/payments/captures/{capture_id}", self.base), "rel": "up", "method": "GET" },
            ],
        });
        if let Some(c) = self.payments.get_mut(capture_id) {
            c.refunded = refunded;
            c.status = if refunded == c.amount.minor {
                "REFUNDED".into()
            } else {
                "PARTIALLY_REFUNDED".into()
            };
        }
        self.refunds.insert(rid.clone(), refund.clone());
        self.emit("PAYMENT.CAPTURE.REFUNDED", "refund", refund.clone());
        Ok((201, refund))
    }

    /// `GET /v2/payments/refunds/{id}`.
    pub fn get_refund(&self, id: &str) -> Answer {
        self.refunds
            .get(id)
            .cloned()
            .map(|v| (200, v))
            .ok_or_else(|| ApiError::not_found(id))
    }

    /// `POST /v2/payments/authorizations/{id}/capture`.
    pub fn capture_authorization(&mut self, id: &str, req: &Value) -> Answer {
        if self.is_capture(id) {
            return Err(ApiError::not_found(id));
        }
        let a = self.payment(id)?.clone();
        if a.status != "CREATED" {
            return Err(ApiError::unprocessable(
                "AUTHORIZATION_ALREADY_CAPTURED",
                format!("authorization is {}", a.status),
            ));
        }
        let amount = match req.get("amount") {
            Some(v) => Amount::parse(v)?,
            None => a.amount.clone(),
        };
        if amount.currency != a.amount.currency || amount.minor > a.amount.minor {
            return Err(ApiError::unprocessable(
                "MAX_CAPTURE_AMOUNT_EXCEEDED",
                "Capture amount exceeds the authorized amount.",
            ));
        }
        let cid = new_id(17);
        self.payments.insert(
            cid.clone(),
            Payment {
                id: cid.clone(),
                order_id: a.order_id.clone(),
                status: "COMPLETED".into(),
                reason: None,
                amount,
                refunded: 0,
                custom_id: a.custom_id.clone(),
                invoice_id: a.invoice_id.clone(),
                payee: a.payee.clone(),
                create_time: now_text(),
            },
        );
        if let Some(p) = self.payments.get_mut(id) {
            p.status = "CAPTURED".into();
        }
        if let Some(o) = self.orders.get_mut(&a.order_id) {
            o.captures.push(cid.clone());
        }
        let r = self.payment_json(&cid, false)?;
        self.emit("PAYMENT.CAPTURE.COMPLETED", "capture", r);
        Ok((201, self.payment_json(&cid, true)?))
    }

    /// `POST /v2/payments/authorizations/{id}/void`.
    pub fn void_authorization(&mut self, id: &str) -> Answer {
        if self.is_capture(id) {
            return Err(ApiError::not_found(id));
        }
        let a = self.payment(id)?.clone();
        if a.status != "CREATED" {
            return Err(ApiError::unprocessable(
                "PREVIOUSLY_CAPTURED",
                format!("authorization is {}", a.status),
            ));
        }
        if let Some(p) = self.payments.get_mut(id) {
            p.status = "VOIDED".into();
        }
        let r = self.payment_json(id, false)?;
        self.emit("PAYMENT.AUTHORIZATION.VOIDED", "authorization", r);
        Ok((204, Value::Null))
    }

    /// A pending capture clears (`COMPLETED`) or is denied.
    ///
    /// # Errors
    /// Not a pending capture.
    pub fn settle_pending(&mut self, capture_id: &str, completed: bool) -> Result<Value, ApiError> {
        let p = self.payment(capture_id)?;
        if p.status != "PENDING" || !self.is_capture(capture_id) {
            return Err(ApiError::unprocessable(
                "CAPTURE_NOT_PENDING",
                "not a pending capture",
            ));
        }
        if let Some(p) = self.payments.get_mut(capture_id) {
            p.status = if completed {
                "COMPLETED".into()
            } else {
                "DECLINED".into()
            };
            p.reason = None;
        }
        let r = self.payment_json(capture_id, false)?;
        self.emit(
            if completed {
                "PAYMENT.CAPTURE.COMPLETED"
            } else {
                "PAYMENT.CAPTURE.DENIED"
            },
            "capture",
            r.clone(),
        );
        Ok(r)
    }

    /// The payer disputes capture `id`.
    ///
    /// # Errors
    /// Not a completed capture.
    pub fn dispute(&mut self, capture_id: &str) -> Result<Value, ApiError> {
        let p = self.payment(capture_id)?.clone();
        if !self.is_capture(capture_id) || p.status == "PENDING" {
            return Err(ApiError::unprocessable(
                "CAPTURE_NOT_COMPLETED",
                "nothing to dispute",
            ));
        }
        let did = format!("PP-D-{}", rand::thread_rng().gen_range(10_000..99_999));
        let dispute = json!({
            "dispute_id": did,
            "create_time": now_text(),
            "disputed_transactions": [{
                "seller_transaction_id": p.id,
                "seller": { "merchant_id": p.payee },
                "custom": p.custom_id,
                "invoice_number": p.invoice_id,
                "gross_amount": p.amount.json(),
            }],
            "reason": "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
            "status": "OPEN",
            "dispute_amount": p.amount.json(),
            "dispute_life_cycle_stage": "INQUIRY",
            "dispute_channel": "INTERNAL",
        });
        self.emit("CUSTOMER.DISPUTE.CREATED", "dispute", dispute.clone());
        Ok(dispute)
    }

    /// PayPal reverses capture `id` (a chargeback lost).
    ///
    /// # Errors
    /// Not a completed capture.
    pub fn reverse(&mut self, capture_id: &str) -> Result<Value, ApiError> {
        let p = self.payment(capture_id)?.clone();
        if !self.is_capture(capture_id) || p.status != "COMPLETED" {
            return Err(ApiError::unprocessable(
                "CAPTURE_NOT_COMPLETED",
                "nothing to reverse",
            ));
        }
        if let Some(c) = self.payments.get_mut(capture_id) {
            c.status = "REFUNDED".into();
            c.refunded = c.amount.minor;
        }
        let rid = new_id(17);
        let r = json!({
            "id": rid,
            "status": "COMPLETED",
            "amount": p.amount.json(),
            "note_to_payer": "Payment reversed",
            "create_time": now_text(),
            "links": [
                { "href": format!("{}/v2/payments/refunds/{rid}", self.base), "rel": "self", "method": "GET" },
                { "href": format!("{}/v2/payments/captures/{capture_id}", self.base), "rel": "up", "method": "GET" },
            ],
        });
        self.emit("PAYMENT.CAPTURE.REVERSED", "refund", r.clone());
        Ok(r)
    }

    // ----- subscriptions -------------------------------------------------------------

    /// `POST /v1/catalogs/products`.
    pub fn create_product(&mut self, req: &Value) -> Answer {
        let name = req
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty());
        if name.is_none() {
            return Err(ApiError::invalid("MISSING_REQUIRED_PARAMETER", "name"));
        }
        let id = format!("PROD-{}", new_id(17));
        let v = json!({ "id": id, "name": name, "type": req.get("type").cloned().unwrap_or(json!("SERVICE")), "create_time": now_text() });
        self.plans.insert(id.clone(), v.clone());
        Ok((201, v))
    }

    /// `POST /v1/billing/plans`.
    pub fn create_plan(&mut self, req: &Value) -> Answer {
        let product = req.get("product_id").and_then(Value::as_str).unwrap_or("");
        if !self.plans.contains_key(product) {
            return Err(ApiError::unprocessable(
                "INVALID_PRODUCT_ID",
                "unknown product",
            ));
        }
        let cycles = req
            .get("billing_cycles")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ApiError::invalid("MISSING_REQUIRED_PARAMETER", "billing_cycles"))?;
        for c in cycles {
            Amount::parse(
                c.pointer("/pricing_scheme/fixed_price")
                    .unwrap_or(&Value::Null),
            )?;
        }
        let id = format!("P-{}", new_id(24));
        let mut v = req.clone();
        v["id"] = json!(id);
        v["status"] = json!("ACTIVE");
        v["create_time"] = json!(now_text());
        self.plans.insert(id.clone(), v.clone());
        Ok((201, v))
    }

    fn plan_price(&self, plan_id: &str, cycle: usize) -> Option<Amount> {
        let plan = self.plans.get(plan_id)?;
        let cycles = plan.get("billing_cycles")?.as_array()?;
        let mut seen = 0usize;
        for c in cycles {
            let n = c.get("total_cycles").and_then(Value::as_u64).unwrap_or(0) as usize;
            if n == 0 || cycle < seen + n {
                return Amount::parse(c.pointer("/pricing_scheme/fixed_price")?).ok();
            }
            seen += n;
        }
        None
    }

    /// `POST /v1/billing/subscriptions`.
    pub fn create_subscription(&mut self, req: &Value) -> Answer {
        let plan_id = req
            .get("plan_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !self.plans.contains_key(&plan_id) || !plan_id.starts_with("P-") {
            return Err(ApiError::unprocessable("INVALID_PLAN_ID", "unknown plan"));
        }
        let app = req.get("application_context");
        let url = |k: &str| {
            app.and_then(|c| c.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let id = format!("I-{}", new_id(12));
        let s = Subscription {
            id: id.clone(),
            plan_id,
            status: "APPROVAL_PENDING".into(),
            custom_id: req
                .get("custom_id")
                .and_then(Value::as_str)
                .map(str::to_string),
            return_url: url("return_url"),
            cancel_url: url("cancel_url"),
            sales: Vec::new(),
            create_time: now_text(),
            token: format!("BA-{}", new_id(17)),
        };
        self.subscriptions.insert(id.clone(), s);
        Ok((201, self.subscription_json(&id)?))
    }

    fn subscription(&self, id: &str) -> Result<&Subscription, ApiError> {
        self.subscriptions
            .get(id)
            .ok_or_else(|| ApiError::not_found(id))
    }

    /// The subscription whose approval page has `token`.
    pub fn subscription_by_token(&self, token: &str) -> Option<&Subscription> {
        self.subscriptions.values().find(|s| s.token == token)
    }

    /// A subscription as PayPal shows it.
    pub fn subscription_json(&self, id: &str) -> Result<Value, ApiError> {
        let s = self.subscription(id)?;
        let mut v = json!({
            "id": s.id,
            "plan_id": s.plan_id,
            "status": s.status,
            "create_time": s.create_time,
            "billing_info": { "failed_payments_count": 0, "cycle_executions": [{ "tenure_type": "REGULAR", "sequence": 1, "cycles_completed": s.sales.len() }] },
            "links": [{ "href": format!("{}/v1/billing/subscriptions/{}", self.base, s.id), "rel": "self", "method": "GET" }],
        });
        if let Some(c) = &s.custom_id {
            v["custom_id"] = json!(c);
        }
        if s.status == "APPROVAL_PENDING" {
            v["links"].as_array_mut().expect("links").push(json!({
                "href": format!("{}/webapps/billing/subscriptions?ba_token={}", self.base, s.token),
                "rel": "approve", "method": "GET",
            }));
        }
        Ok(v)
    }

    /// The payer approves subscription `id`: it activates and its first payment is taken.
    /// The return URL.
    ///
    /// # Errors
    /// Not waiting for approval.
    pub fn approve_subscription(&mut self, id: &str) -> Result<String, ApiError> {
        let s = self.subscription(id)?;
        if s.status != "APPROVAL_PENDING" {
            return Err(ApiError::unprocessable(
                "SUBSCRIPTION_STATUS_INVALID",
                "not waiting for approval",
            ));
        }
        let token = s.token.clone();
        let back = s.return_url.clone().unwrap_or_default();
        if let Some(s) = self.subscriptions.get_mut(id) {
            s.status = "ACTIVE".into();
        }
        let j = self.subscription_json(id)?;
        self.emit("BILLING.SUBSCRIPTION.ACTIVATED", "subscription", j);
        self.renew(id, Renewal::Paid)?;
        Ok(with_query(
            &back,
            &[
                ("subscription_id", id),
                ("ba_token", &token),
                ("token", &new_id(17)),
            ],
        ))
    }

    /// The next cycle of subscription `id`: paid, or failed (suspended).
    ///
    /// # Errors
    /// Not an active subscription.
    pub fn renew(&mut self, id: &str, outcome: Renewal) -> Result<Value, ApiError> {
        let s = self.subscription(id)?.clone();
        if s.status != "ACTIVE" {
            return Err(ApiError::unprocessable(
                "SUBSCRIPTION_STATUS_INVALID",
                "not active",
            ));
        }
        let price = self
            .plan_price(&s.plan_id, s.sales.len())
            .ok_or_else(|| ApiError::unprocessable("SUBSCRIPTION_EXPIRED", "no cycle left"))?;
        if outcome == Renewal::Failed {
            if let Some(s) = self.subscriptions.get_mut(id) {
                s.status = "SUSPENDED".into();
            }
            let j = self.subscription_json(id)?;
            self.emit(
                "BILLING.SUBSCRIPTION.PAYMENT.FAILED",
                "subscription",
                j.clone(),
            );
            self.emit("BILLING.SUBSCRIPTION.SUSPENDED", "subscription", j.clone());
            return Ok(j);
        }
        // One sale per second at most keeps the list's order by time exact.
        let time = match self
            .sales
            .values()
            .filter(|x| x.subscription_id == id)
            .map(|x| x.time.clone())
            .max()
        {
            Some(last) if last >= now_text() => {
                let t = chrono::DateTime::parse_from_rfc3339(&last)
                    .map(|t| t + chrono::Duration::seconds(1));
                t.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .unwrap_or_else(|_| now_text())
            }
            _ => now_text(),
        };
        let sid = new_id(17);
        self.sales.insert(
            sid.clone(),
            Sale {
                id: sid.clone(),
                subscription_id: id.to_string(),
                status: "COMPLETED".into(),
                amount: price.clone(),
                time: time.clone(),
            },
        );
        if let Some(s) = self.subscriptions.get_mut(id) {
            s.sales.push(sid.clone());
        }
        let sale = json!({
            "id": sid,
            "state": "completed",
            "amount": { "total": price.value(), "currency": price.currency, "details": { "subtotal": price.value() } },
            "payment_mode": "INSTANT_TRANSFER",
            "protection_eligibility": "ELIGIBLE",
            "billing_agreement_id": id,
            "custom": s.custom_id,
            "transaction_fee": { "value": "0.35", "currency": price.currency },
            "create_time": time,
            "update_time": time,
            "links": [{ "href": format!("{}/v1/payments/sale/{sid}", self.base), "rel": "self", "method": "GET" }],
        });
        self.emit("PAYMENT.SALE.COMPLETED", "sale", sale.clone());
        Ok(sale)
    }

    /// `GET /v1/billing/subscriptions/{id}/transactions`.
    pub fn subscription_transactions(&self, id: &str) -> Answer {
        let s = self.subscription(id)?;
        let list: Vec<Value> = s
            .sales
            .iter()
            .filter_map(|sid| self.sales.get(sid))
            .map(|x| json!({
                "id": x.id,
                "status": x.status,
                "amount_with_breakdown": { "gross_amount": x.amount.json(), "net_amount": x.amount.json() },
                "time": x.time,
            }))
            .collect();
        Ok((
            200,
            json!({ "transactions": list, "total_items": list.len(), "total_pages": 1 }),
        ))
    }

    /// `POST /v1/billing/subscriptions/{id}/cancel`.
    pub fn cancel_subscription(&mut self, id: &str, req: &Value) -> Answer {
        let reason = req.get("reason").and_then(Value::as_str).unwrap_or("");
        if reason.is_empty() || reason.len() > 128 {
            return Err(ApiError::invalid("MISSING_REQUIRED_PARAMETER", "reason"));
        }
        let s = self.subscription(id)?;
        if !matches!(s.status.as_str(), "ACTIVE" | "SUSPENDED" | "APPROVED") {
            return Err(ApiError::unprocessable("SUBSCRIPTION_STATUS_INVALID", "Invalid subscription status for cancel action; subscription status should be active or suspended."));
        }
        if let Some(s) = self.subscriptions.get_mut(id) {
            s.status = "CANCELLED".into();
        }
        let j = self.subscription_json(id)?;
        self.emit("BILLING.SUBSCRIPTION.CANCELLED", "subscription", j);
        Ok((204, Value::Null))
    }

    /// The cancel URL of a subscription's approval page.
    pub fn subscription_cancel_url(&self, id: &str) -> Option<String> {
        let s = self.subscriptions.get(id)?;
        Some(with_query(
            s.cancel_url.as_deref().unwrap_or_default(),
            &[("token", &s.token)],
        ))
    }

    /// The id of the capture of order `id`.
    pub fn capture_of_order(&self, id: &str) -> Option<String> {
        self.orders.get(id)?.captures.first().cloned()
    }

    /// The ids of the orders whose `custom_id` is `reference`, oldest first.
    pub fn orders_of(&self, reference: &str) -> Vec<String> {
        let mut v: Vec<&Order> = self
            .orders
            .values()
            .filter(|o| o.custom_id.as_deref() == Some(reference))
            .collect();
        v.sort_by(|a, b| a.create_time.cmp(&b.create_time));
        v.into_iter().map(|o| o.id.clone()).collect()
    }

    /// The subscriptions whose `custom_id` is `reference`.
    pub fn subscriptions_of(&self, reference: &str) -> Vec<String> {
        self.subscriptions
            .values()
            .filter(|s| s.custom_id.as_deref() == Some(reference))
            .map(|s| s.id.clone())
            .collect()
    }
}

/// `url` with `pairs` added to its query.
pub fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}
