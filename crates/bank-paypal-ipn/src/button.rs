//! The Website Payments Standard button of a transaction: Buy Now, Donate or Subscribe,
//! plain or encrypted (EWP: PKCS#7 signed with the merchant's key, then enveloped to
//! PayPal's certificate with 3DES, as `openssl smime -sign … | openssl smime -encrypt -des3`).

use bank_core::{Echeance, Form, HttpMethod, Interval, PaymentContext, Transaction};
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::symm::Cipher;
use openssl::x509::X509;

use crate::error::IpnError;

/// The kind of one-off button.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `_xclick`.
    BuyNow,
    /// `_donations` for the transaction's amount.
    Donate,
    /// `_donations` without an amount: the donor types it at PayPal. The transaction's
    /// amount is the least accepted; the payment settles it at the amount given.
    DonatePayerAmount,
}

/// What a button needs besides the transaction.
#[derive(Clone, Debug)]
pub struct ButtonSettings {
    /// `business`: the merchant's e-mail or account id.
    pub business: String,
    /// Buy Now or Donate.
    pub kind: Kind,
    /// `item_name` (else "Payment <reference>").
    pub item_name: Option<String>,
}

fn unit(i: Interval) -> &'static str {
    match i {
        Interval::Month => "M",
        Interval::Year => "Y",
    }
}

/// The button's fields, in order (the plaintext of an encrypted button).
///
/// # Errors
/// [`IpnError::Amount`] for an amount PayPal does not take; [`IpnError::Config`] for a
/// recurring transaction without a schedule.
pub fn fields(
    tx: &Transaction,
    ctx: &PaymentContext,
    s: &ButtonSettings,
) -> Result<Vec<(String, String)>, IpnError> {
    let value = |m: bank_core::Money| {
        bank_paypal::amount::to_value(m).map_err(|e| IpnError::Amount {
            amount: m.to_decimal_string(),
            currency: m.currency().code().to_string(),
            reason: if matches!(e, bank_paypal::PayPalError::Currency { .. }) {
                "PayPal does not take this currency"
            } else {
                "PayPal takes this currency without decimals"
            },
        })
    };
    let mut f: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: String| f.push((k.to_string(), v));
    let recurring = match (tx.recurring, ctx.echeance.as_ref()) {
        (true, None) => {
            return Err(IpnError::Config {
                option: "button",
                reason: format!(
                    "transaction {} is recurring but decrire_echeance gave no schedule",
                    tx.reference
                ),
            })
        }
        (true, Some(e)) => Some(e),
        (false, _) => None,
    };
    match (recurring, s.kind) {
        (Some(e), _) => {
            push("cmd", "_xclick-subscriptions".into());
            subscription(&mut push, tx, e, &value)?;
        }
        (None, Kind::BuyNow) => {
            push("cmd", "_xclick".into());
            push("amount", value(tx.amount)?);
        }
        (None, Kind::Donate) => {
            push("cmd", "_donations".into());
            push("amount", value(tx.amount)?);
        }
        (None, Kind::DonatePayerAmount) => {
            // Checked even though not sent: PayPal must take the currency.
            value(tx.amount)?;
            push("cmd", "_donations".into());
        }
    }
    push("business", s.business.clone());
    push(
        "item_name",
        s.item_name
            .clone()
            .unwrap_or_else(|| format!("Payment {}", tx.reference))
            .chars()
            .take(127)
            .collect(),
    );
    push("currency_code", tx.amount.currency().code().into());
    push("invoice", tx.reference.clone());
    push("custom", ctx.installation.clone());
    push("notify_url", ctx.urls.notify_url.clone());
    push("return", ctx.urls.return_url.clone());
    push("cancel_return", ctx.urls.cancel_url.clone());
    push("rm", "1".into());
    push("charset", "utf-8".into());
    push("no_shipping", "1".into());
    push("no_note", "1".into());
    Ok(f)
}

fn subscription(
    push: &mut impl FnMut(&str, String),
    tx: &Transaction,
    e: &Echeance,
    value: &impl Fn(bank_core::Money) -> Result<String, IpnError>,
) -> Result<(), IpnError> {
    let u = unit(e.interval);
    if tx.amount != e.amount {
        // The first payment as a one-period trial at its own price.
        push("a1", value(tx.amount)?);
        push("p1", "1".into());
        push("t1", u.into());
    }
    push("a3", value(e.amount)?);
    push("p3", "1".into());
    push("t3", u.into());
    push("src", "1".into());
    // `srt` counts the regular payments (2 to 52); without a trial the first is one.
    if let Some(n) = e.count {
        let regular = n + u32::from(tx.amount == e.amount);
        if (2..=52).contains(&regular) {
            push("srt", regular.to_string());
        }
    }
    push("sra", "1".into());
    Ok(())
}

/// The keys of Encrypted Web Payments, parsed once.
pub struct Ewp {
    cert_id: String,
    merchant_cert: X509,
    merchant_key: PKey<Private>,
    paypal_cert: X509,
}

impl std::fmt::Debug for Ewp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ewp")
            .field("cert_id", &self.cert_id)
            .field("merchant_cert", &self.merchant_cert.subject_name())
            .field("paypal_cert", &self.paypal_cert.subject_name())
            .finish_non_exhaustive()
    }
}

impl Ewp {
    /// The keys from their PEM.
    ///
    /// # Errors
    /// [`IpnError::Config`] naming the option that does not parse, or a key that does
    /// not match its certificate.
    pub fn new(
        cert_id: &str,
        merchant_cert: &str,
        merchant_key: &str,
        paypal_cert: &str,
    ) -> Result<Self, IpnError> {
        let cfg = |option, reason: String| IpnError::Config { option, reason };
        if cert_id.is_empty() || !cert_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(cfg(
                "ewp_cert_id",
                "the id PayPal gave the uploaded certificate".into(),
            ));
        }
        let merchant_cert = X509::from_pem(merchant_cert.as_bytes())
            .map_err(|e| cfg("ewp_merchant_cert", e.to_string()))?;
        let merchant_key = PKey::private_key_from_pem(merchant_key.as_bytes())
            .map_err(|e| cfg("ewp_merchant_key", e.to_string()))?;
        let paypal_cert = X509::from_pem(paypal_cert.as_bytes())
            .map_err(|e| cfg("ewp_paypal_cert", e.to_string()))?;
        let public = merchant_cert
            .public_key()
            .map_err(|e| cfg("ewp_merchant_cert", e.to_string()))?;
        if !public.public_eq(&merchant_key) {
            return Err(cfg(
                "ewp_merchant_key",
                "does not match ewp_merchant_cert".into(),
            ));
        }
        Ok(Ewp {
            cert_id: cert_id.to_string(),
            merchant_cert,
            merchant_key,
            paypal_cert,
        })
    }

    /// The plaintext of an encrypted button: `cert_id` then the fields, one `k=v` a line.
    pub fn plaintext(&self, fields: &[(String, String)]) -> String {
        plaintext(&self.cert_id, fields)
    }

    /// `fields` as the `encrypted` value: signed, then enveloped, PEM.
    ///
    /// # Errors
    /// [`IpnError::Ewp`] when OpenSSL fails, or a field holds a line break.
    pub fn encrypt(&self, fields: &[(String, String)]) -> Result<String, IpnError> {
        if fields
            .iter()
            .any(|(k, v)| k.contains(['\n', '\r', '=']) || v.contains(['\n', '\r']))
        {
            return Err(IpnError::Ewp {
                reason: "a field holds a line break".into(),
            });
        }
        let err = |e: openssl::error::ErrorStack| IpnError::Ewp {
            reason: e.to_string(),
        };
        let text = self.plaintext(fields);
        let no_certs = Stack::new().map_err(err)?;
        let signed = Pkcs7::sign(
            &self.merchant_cert,
            &self.merchant_key,
            &no_certs,
            text.as_bytes(),
            Pkcs7Flags::BINARY,
        )
        .map_err(err)?
        .to_der()
        .map_err(err)?;
        let mut to = Stack::new().map_err(err)?;
        to.push(self.paypal_cert.clone()).map_err(err)?;
        let enveloped = Pkcs7::encrypt(&to, &signed, Cipher::des_ede3_cbc(), Pkcs7Flags::BINARY)
            .map_err(err)?;
        String::from_utf8(enveloped.to_pem().map_err(err)?).map_err(|e| IpnError::Ewp {
            reason: e.to_string(),
        })
    }
}

/// The EWP plaintext: `cert_id=…` then each field, one per line.
pub fn plaintext(cert_id: &str, fields: &[(String, String)]) -> String {
    let mut s = format!("cert_id={cert_id}\n");
    for (k, v) in fields {
        s.push_str(k);
        s.push('=');
        s.push_str(v);
        s.push('\n');
    }
    s
}

/// The form posted to PayPal: the fields, or `cmd=_s-xclick` and `encrypted`.
///
/// # Errors
/// As [`fields`] and [`Ewp::encrypt`].
pub fn form(
    tx: &Transaction,
    ctx: &PaymentContext,
    s: &ButtonSettings,
    action: &str,
    ewp: Option<&Ewp>,
) -> Result<Form, IpnError> {
    let f = fields(tx, ctx, s)?;
    let fields = match ewp {
        Some(k) => vec![
            ("cmd".to_string(), "_s-xclick".to_string()),
            ("encrypted".to_string(), k.encrypt(&f)?),
        ],
        None => f,
    };
    Ok(Form {
        action: action.to_string(),
        method: HttpMethod::Post,
        fields,
        submit_label: match (tx.recurring, s.kind) {
            (true, _) => "Subscribe with PayPal".into(),
            (false, Kind::Donate | Kind::DonatePayerAmount) => "Donate with PayPal".into(),
            (false, Kind::BuyNow) => "Pay with PayPal".into(),
        },
        auto_submit: false,
    })
}
