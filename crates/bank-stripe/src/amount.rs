//! Amounts in Stripe's unit for each currency.
//!
//! Stripe takes integers in what it calls the currency's smallest unit, which is not
//! always ISO 4217's minor unit:
//! - zero-decimal currencies (JPY, KRW…) take whole units; MGA is among them although
//!   ISO gives it two decimals, so an ariary amount must be whole;
//! - three-decimal currencies (BHD, JOD, KWD, OMR, TND) take thousandths whose last digit
//!   must be 0;
//! - ISK is zero-decimal in ISO but two-decimal in Stripe's API (with `00` decimals);
//! - HUF and TWD take two decimals for charges (payouts need whole units, not our concern).
//!
//! Conversions are exact or refused, never rounded.

use bank_core::{Currency, Money};

use crate::error::StripeError;

/// Stripe's zero-decimal currencies.
const ZERO_DECIMAL: [&str; 16] = [
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];

/// Stripe's three-decimal currencies (the last digit must be 0).
const THREE_DECIMAL: [&str; 5] = ["BHD", "JOD", "KWD", "OMR", "TND"];

/// The currencies this provider offers: Stripe takes them all for card payments, and their
/// conversion is known. Others can be added once checked.
pub const SUPPORTED: [&str; 24] = [
    "EUR", "USD", "GBP", "CHF", "JPY", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK", "PLN", "CZK",
    "HUF", "RON", "BGN", "ISK", "HKD", "SGD", "MXN", "BRL", "KRW", "TWD", "KWD",
];

/// Number of decimals Stripe's API uses for `currency`.
pub fn stripe_exponent(currency: Currency) -> u32 {
    let code = currency.code();
    if ZERO_DECIMAL.contains(&code) {
        0
    } else if THREE_DECIMAL.contains(&code) {
        3
    } else {
        2
    }
}

/// True when `currency` is offered.
pub fn is_supported(currency: Currency) -> bool {
    SUPPORTED.contains(&currency.code())
}

/// The currencies offered, as `bank_core` currencies.
pub fn supported() -> Vec<Currency> {
    SUPPORTED
        .iter()
        .filter_map(|c| Currency::from_code(c).ok())
        .collect()
}

/// `amount` in Stripe's unit for its currency.
///
/// # Errors
/// [`StripeError::Amount`] when Stripe cannot express it exactly (a fraction of an ariary,
/// a three-decimal amount whose last digit is not 0) or it overflows.
pub fn to_stripe(amount: Money) -> Result<i64, StripeError> {
    let c = amount.currency();
    let bad = |reason| StripeError::Amount {
        amount: amount.minor(),
        currency: c.code().to_string(),
        reason,
    };
    let (iso, stripe) = (c.exponent(), stripe_exponent(c));
    let v = if stripe >= iso {
        amount
            .minor()
            .checked_mul(10i64.pow(stripe - iso))
            .ok_or(bad("too large"))?
    } else {
        let div = 10i64.pow(iso - stripe);
        if amount.minor() % div != 0 {
            return Err(bad("Stripe takes whole units of this currency"));
        }
        amount.minor() / div
    };
    if stripe == 3 && v % 10 != 0 {
        return Err(bad(
            "Stripe requires the last digit of a three-decimal amount to be 0",
        ));
    }
    Ok(v)
}

/// An amount Stripe sent (`amount_total`, `amount_refunded`…) with its currency code
/// (lower-case in Stripe's JSON).
///
/// # Errors
/// [`StripeError::Currency`] for a currency unknown to ISO 4217; [`StripeError::Amount`]
/// for a negative amount or one that is not a whole number of our minor units.
pub fn from_stripe(value: i64, currency: &str) -> Result<Money, StripeError> {
    let c = Currency::from_code(currency).map_err(|_| StripeError::Currency {
        currency: currency.to_string(),
    })?;
    let bad = |reason| StripeError::Amount {
        amount: value,
        currency: c.code().to_string(),
        reason,
    };
    let (iso, stripe) = (c.exponent(), stripe_exponent(c));
    let minor = if stripe >= iso {
        let div = 10i64.pow(stripe - iso);
        if value % div != 0 {
            return Err(bad("not a whole number of minor units"));
        }
        value / div
    } else {
        value
            .checked_mul(10i64.pow(iso - stripe))
            .ok_or(bad("too large"))?
    };
    Money::from_minor(minor, c).map_err(|_| bad("negative amount"))
}

/// Lower-case currency code, as Stripe writes it.
pub fn code(currency: Currency) -> String {
    currency.code().to_ascii_lowercase()
}
