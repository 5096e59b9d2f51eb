//! Amounts as PayPal writes them: a decimal string per currency.
//!
//! PayPal takes 24 currencies (Odoo's list, PayPal's currency table). HUF, JPY and TWD take no decimals ("Decimal amounts cause
//! an error"), although ISO 4217 gives HUF and TWD two: a forint amount must be whole.
//! Every other one takes exactly two. Conversions are exact or refused, never rounded.

use bank_core::{Currency, Money};

use crate::error::PayPalError;

/// The currencies PayPal's REST API takes for payments.
pub const SUPPORTED: [&str; 24] = [
    "AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "HUF", "ILS", "JPY", "MYR", "MXN",
    "TWD", "NZD", "NOK", "PHP", "PLN", "GBP", "SGD", "SEK", "CHF", "THB", "USD",
];

/// The currencies PayPal takes without decimals.
const NO_DECIMALS: [&str; 3] = ["HUF", "JPY", "TWD"];

/// True when PayPal takes `currency`.
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

/// Decimals PayPal writes for `currency`.
pub fn paypal_decimals(currency: Currency) -> u32 {
    if NO_DECIMALS.contains(&currency.code()) {
        0
    } else {
        2
    }
}

/// `amount` as PayPal's `money` value: `"19.90"`, `"1500"` for JPY, `"1200"` for 1200.00 HUF.
///
/// # Errors
/// [`PayPalError::Currency`] for a currency PayPal does not take;
/// [`PayPalError::Amount`] for a forint or Taiwan dollar amount with cents.
pub fn to_value(amount: Money) -> Result<String, PayPalError> {
    let currency = amount.currency();
    if !is_supported(currency) {
        return Err(PayPalError::Currency {
            currency: currency.code().to_string(),
        });
    }
    let iso = currency.exponent();
    let ours = paypal_decimals(currency);
    if ours == iso {
        return Ok(amount.to_decimal_string());
    }
    // ISO has more decimals than PayPal takes (HUF, TWD): only whole units pass.
    let div = 10i64.pow(iso - ours);
    if amount.minor() % div != 0 {
        return Err(PayPalError::Amount {
            amount: amount.to_decimal_string(),
            currency: currency.code().to_string(),
            reason: "PayPal takes this currency without decimals",
        });
    }
    Ok((amount.minor() / div).to_string())
}

/// PayPal's `{"currency_code", "value"}` as our money: exact, or refused.
///
/// # Errors
/// [`PayPalError::Currency`] for an unknown currency, [`PayPalError::Amount`] for a value
/// that is negative, malformed or more precise than the currency.
pub fn from_value(value: &str, currency_code: &str) -> Result<Money, PayPalError> {
    let currency = Currency::from_code(currency_code).map_err(|_| PayPalError::Currency {
        currency: currency_code.chars().take(8).collect(),
    })?;
    Money::parse(value, currency).map_err(|_| PayPalError::Amount {
        amount: value.chars().take(40).collect(),
        currency: currency.code().to_string(),
        reason: "not an exact non-negative amount of this currency",
    })
}

/// The `money` object of `amount`.
///
/// # Errors
/// As [`to_value`].
pub fn money_json(amount: Money) -> Result<serde_json::Value, PayPalError> {
    Ok(serde_json::json!({
        "currency_code": amount.currency().code(),
        "value": to_value(amount)?,
    }))
}

/// Reads a `money` object (`{"currency_code": …, "value": …}`) at `v`.
pub fn read_money(v: Option<&serde_json::Value>) -> Option<Result<Money, PayPalError>> {
    let v = v?;
    let value = v.get("value")?.as_str()?;
    let code = v.get("currency_code")?.as_str()?;
    Some(from_value(value, code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn money(minor: i64, code: &str) -> Money {
        Money::from_minor(minor, Currency::from_code(code).expect("currency")).expect("money")
    }

    #[test]
    fn decimals_per_currency() {
        assert_eq!(to_value(money(1990, "EUR")).expect("eur"), "19.90");
        assert_eq!(to_value(money(5, "USD")).expect("usd"), "0.05");
        assert_eq!(to_value(money(1500, "JPY")).expect("jpy"), "1500");
        assert_eq!(to_value(money(120_000, "HUF")).expect("huf"), "1200");
        assert_eq!(to_value(money(30_000, "TWD")).expect("twd"), "300");
        assert!(matches!(
            to_value(money(120_050, "HUF")),
            Err(PayPalError::Amount { .. })
        ));
        assert!(matches!(
            to_value(money(100, "KRW")),
            Err(PayPalError::Currency { .. })
        ));
        assert!(matches!(
            to_value(money(100, "RON")),
            Err(PayPalError::Currency { .. })
        ));
    }

    #[test]
    fn reading_back_is_exact() {
        assert_eq!(from_value("19.90", "EUR").expect("eur"), money(1990, "EUR"));
        assert_eq!(
            from_value("1200", "HUF").expect("huf"),
            money(120_000, "HUF")
        );
        assert_eq!(
            from_value("100.0", "USD").expect("usd"),
            money(10_000, "USD")
        );
        assert!(from_value("19.999", "EUR").is_err());
        assert!(from_value("-1.00", "EUR").is_err());
        assert!(from_value("1e3", "EUR").is_err());
        assert!(from_value("1", "XXZ").is_err());
    }

    proptest! {
        #[test]
        fn round_trip(minor in 0i64..10_000_000_000, pick in 0usize..SUPPORTED.len()) {
            let code = SUPPORTED[pick];
            let m = money(minor, code);
            match to_value(m) {
                Ok(v) => prop_assert_eq!(from_value(&v, code).expect("read back"), m),
                Err(PayPalError::Amount { .. }) => prop_assert!(paypal_decimals(m.currency()) < m.currency().exponent()),
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}
