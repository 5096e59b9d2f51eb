//! The `vads_*` payment form of a transaction, signed.
//!
//! Fields come in the order eopayment 3.15 writes them, so that for the one-off card
//! payment it covers the form is the same byte for byte (payzen.md §2.2): first the fields
//! eopayment's `request()` has no argument for (postal code, city, country, and the
//! recurring fields it cannot build), then `vads_amount`, the return and IPN URLs, the
//! payer, `vads_order_info` and `vads_order_id`, `vads_trans_id`, then the shop's settings
//! in eopayment's table order, and `signature` last. The order does not change the
//! signature (fields are sorted to sign); it only makes the forms comparable.

use bank_core::{Billing, Echeance, Interval, Money};
use chrono::{DateTime, Datelike, Months, Utc};

use crate::signature::{self, Algorithm};

/// What the form asks PayZen to do (`vads_page_action`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageAction {
    /// A payment (`PAYMENT`).
    Payment,
    /// Pay now, register the card or mandate, and schedule the instalments
    /// (`REGISTER_PAY_SUBSCRIBE`).
    RegisterPaySubscribe(Schedule),
    /// Register the card or mandate and schedule the instalments, nothing paid now
    /// (`REGISTER_SUBSCRIBE`, a free start).
    RegisterSubscribe(Schedule),
}

impl PageAction {
    /// The value of `vads_page_action`.
    pub fn as_str(&self) -> &'static str {
        match self {
            PageAction::Payment => "PAYMENT",
            PageAction::RegisterPaySubscribe(_) => "REGISTER_PAY_SUBSCRIBE",
            PageAction::RegisterSubscribe(_) => "REGISTER_SUBSCRIBE",
        }
    }
}

/// A recurring schedule (`vads_sub_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// `vads_subscription`: the subscription's id at PayZen. Ours is the first
    /// transaction's reference, so every instalment's IPN names it.
    pub id: String,
    /// Each instalment.
    pub amount: Money,
    /// `vads_sub_desc`, an RFC 5545 rule.
    pub rrule: String,
    /// `vads_sub_effect_date`: the first instalment's day (UTC).
    pub effect_date: chrono::NaiveDate,
}

impl Schedule {
    /// The schedule of `echeance` for subscription `id`, whose first payment is made now
    /// (`paid_now`) or not. When it is, the instalments start one period later, so that
    /// nobody is debited twice on the first day; `count` counts that first payment.
    pub fn of(id: &str, echeance: &Echeance, now: DateTime<Utc>, paid_now: bool) -> Schedule {
        let step = match echeance.interval {
            Interval::Month => Months::new(1),
            Interval::Year => Months::new(12),
        };
        let today = now.date_naive();
        let effect_date = if paid_now {
            today.checked_add_months(step).unwrap_or(today)
        } else {
            today
        };
        let remaining = echeance
            .count
            .map(|c| if paid_now { c.saturating_sub(1) } else { c });
        Schedule {
            id: id.to_string(),
            amount: echeance.amount,
            rrule: rrule(echeance.interval, effect_date, remaining),
            effect_date,
        }
    }
}

/// `RRULE:FREQ=MONTHLY;BYMONTHDAY=10[;COUNT=n]`; from the 29th on, the last day of each
/// month (Lyra's documented form), so that February is not skipped.
pub fn rrule(interval: Interval, start: chrono::NaiveDate, count: Option<u32>) -> String {
    let day = if start.day() > 28 {
        "BYMONTHDAY=28,29,30,31;BYSETPOS=-1".to_string()
    } else {
        format!("BYMONTHDAY={}", start.day())
    };
    let mut rule = match interval {
        Interval::Month => format!("RRULE:FREQ=MONTHLY;{day}"),
        Interval::Year => format!("RRULE:FREQ=YEARLY;BYMONTH={};{day}", start.month()),
    };
    if let Some(n) = count {
        rule.push_str(&format!(";COUNT={n}"));
    }
    rule
}

/// The shop's side of every form.
#[derive(Clone, Debug)]
pub struct ShopForm<'a> {
    /// `vads_site_id`.
    pub site_id: &'a str,
    /// `TEST` or `PRODUCTION`.
    pub ctx_mode: &'a str,
    /// The key of that mode.
    pub key: &'a str,
    /// The shop's algorithm.
    pub algorithm: Algorithm,
    /// `vads_contrib`: who built the form.
    pub contrib: &'a str,
    /// `vads_language`.
    pub language: &'a str,
    /// `vads_payment_cards`: `""` (all the shop has), `CB;VISA;MASTERCARD`, `SDD`…
    pub payment_cards: &'a str,
    /// `vads_capture_delay` in days (`""`: the shop's default).
    pub capture_delay: Option<u16>,
    /// `vads_validation_mode=1`: the merchant validates each payment.
    pub manual_validation: bool,
}

/// The payment's side.
#[derive(Clone, Debug)]
pub struct OrderForm<'a> {
    /// What is paid now (for `REGISTER_SUBSCRIBE`, nothing is; the amount is then the
    /// instalments').
    pub amount: Money,
    /// `vads_order_id`: our reference.
    pub reference: &'a str,
    /// `vads_order_info`: the installation, so that a shop shared by two sites can tell
    /// whose payment it is.
    pub installation: &'a str,
    /// `vads_trans_id`: six digits, unique for the shop and the UTC day.
    pub trans_id: &'a str,
    /// `vads_trans_date`.
    pub trans_date: DateTime<Utc>,
    /// The payer (the SEPA mandate needs a name; 3-D Secure likes the rest).
    pub billing: Option<&'a Billing>,
    /// `vads_url_return`.
    pub return_url: &'a str,
    /// `vads_url_check`: the IPN URL.
    pub check_url: &'a str,
    /// What to do.
    pub action: &'a PageAction,
}

/// `YYYYMMDDHHMMSS`, UTC.
pub fn trans_date(t: DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%S").to_string()
}

fn cut(s: &str, max: usize) -> String {
    s.trim().chars().take(max).collect()
}

/// The signed form, fields in order, `signature` last.
pub fn fields(shop: &ShopForm<'_>, order: &OrderForm<'_>) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = Vec::with_capacity(40);
    let mut push = |k: &str, v: String| f.push((k.to_string(), v));
    let b = order.billing;
    let text = |get: fn(&Billing) -> &Option<String>, max: usize| {
        b.and_then(|b| get(b).as_deref())
            .map(|v| cut(v, max))
            .filter(|v| !v.is_empty())
    };
    // 1. What eopayment's request() has no argument for.
    if let Some(zip) = text(|b| &b.postal_code, 63) {
        push("vads_cust_zip", zip);
    }
    if let Some(city) = text(|b| &b.city, 63) {
        push("vads_cust_city", city);
    }
    let country = text(|b| &b.country, 2)
        .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        .map(|c| c.to_ascii_uppercase());
    if let Some(c) = &country {
        push("vads_cust_country", c.clone());
    }
    let schedule = match order.action {
        PageAction::Payment => None,
        PageAction::RegisterPaySubscribe(s) | PageAction::RegisterSubscribe(s) => Some(s),
    };
    if let Some(s) = schedule {
        push("vads_page_action", order.action.as_str().into());
        push("vads_subscription", s.id.clone());
        push("vads_sub_amount", s.amount.minor().to_string());
        push(
            "vads_sub_currency",
            format!("{:03}", s.amount.currency().numeric()),
        );
        push("vads_sub_desc", s.rrule.clone());
        push(
            "vads_sub_effect_date",
            s.effect_date.format("%Y%m%d").to_string(),
        );
    }
    // 2–5. The amount, the URLs, the payer, the order, the transaction id.
    push("vads_amount", order.amount.minor().to_string());
    push("vads_url_return", order.return_url.to_string());
    push("vads_url_check", order.check_url.to_string());
    if let Some(v) = text(|b| &b.first_name, 63) {
        push("vads_cust_first_name", v);
    }
    if let Some(v) = text(|b| &b.last_name, 63) {
        push("vads_cust_last_name", v);
    }
    let address = b.map(|b| {
        [b.address1.as_deref(), b.address2.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ")
    });
    if let Some(a) = address.filter(|a| !a.is_empty()) {
        push("vads_cust_address", cut(&a, 255));
    }
    // An address that does not fit is left out rather than cut into someone else's.
    if let Some(e) = text(|b| &b.email, 255).filter(|e| e.len() <= 127 && e.contains('@')) {
        push("vads_cust_email", e);
    }
    if let Some(v) = text(|b| &b.phone, 63) {
        push("vads_cust_phone", v);
    }
    push("vads_order_info", order.installation.to_string());
    push("vads_order_id", order.reference.to_string());
    push("vads_trans_id", order.trans_id.to_string());
    // 6. The shop's settings, in eopayment's table order.
    push("vads_action_mode", "INTERACTIVE".into());
    push(
        "vads_capture_delay",
        shop.capture_delay
            .map(|d| d.to_string())
            .unwrap_or_default(),
    );
    push("vads_contrib", shop.contrib.to_string());
    push(
        "vads_currency",
        format!("{:03}", order.amount.currency().numeric()),
    );
    if country.is_none() {
        push("vads_cust_country", "FR".into());
    }
    push("vads_ctx_mode", shop.ctx_mode.to_string());
    push("vads_language", shop.language.to_string());
    if schedule.is_none() {
        push("vads_page_action", "PAYMENT".into());
    }
    push("vads_payment_cards", shop.payment_cards.to_string());
    push("vads_payment_config", "SINGLE".into());
    push("vads_return_mode", "GET".into());
    push("vads_site_id", shop.site_id.to_string());
    push("vads_trans_date", trans_date(order.trans_date));
    push(
        "vads_validation_mode",
        if shop.manual_validation { "1" } else { "" }.into(),
    );
    push("vads_version", "V2".into());
    let sig = signature::sign(
        shop.algorithm,
        f.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        shop.key,
    );
    f.push(("signature".into(), sig));
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn rrules_keep_the_day_and_end_of_month() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(
            rrule(Interval::Month, d(2024, 6, 10), None),
            "RRULE:FREQ=MONTHLY;BYMONTHDAY=10"
        );
        assert_eq!(
            rrule(Interval::Month, d(2024, 1, 31), Some(11)),
            "RRULE:FREQ=MONTHLY;BYMONTHDAY=28,29,30,31;BYSETPOS=-1;COUNT=11"
        );
        assert_eq!(
            rrule(Interval::Year, d(2024, 3, 5), Some(2)),
            "RRULE:FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=5;COUNT=2"
        );
    }
}
