//! Money: integer minor units with an ISO 4217 currency.
//!
//! Floats never appear. A decimal string is parsed digit by digit into minor units, so
//! "10,50" EUR is exactly 1050 cents and "10.505" EUR is refused rather than rounded: a
//! payment library that rounds silently charges the wrong amount.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// An ISO 4217 currency that has a minor unit (funds and "no currency" codes are refused).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// The euro, the default currency of `bank`.
    pub const EUR: Currency = Currency(iso_currency::Currency::EUR);

    /// Looks a currency up by its alphabetic code ("EUR", case-insensitive).
    ///
    /// # Errors
    /// [`Error::UnknownCurrency`] when the code is not an ISO 4217 currency with a minor unit.
    pub fn from_code(code: &str) -> Result<Self, Error> {
        let upper = code.trim().to_ascii_uppercase();
        iso_currency::Currency::from_code(&upper)
            .filter(|c| c.exponent().is_some())
            .map(Currency)
            .ok_or_else(|| Error::UnknownCurrency {
                code: code.to_string(),
            })
    }

    /// Looks a currency up by its numeric code (978 for EUR), as card terminals and Paybox use.
    ///
    /// # Errors
    /// [`Error::UnknownCurrency`] when no currency with a minor unit has this number.
    pub fn from_numeric(numeric: u16) -> Result<Self, Error> {
        iso_currency::Currency::from_numeric(numeric)
            .filter(|c| c.exponent().is_some())
            .map(Currency)
            .ok_or_else(|| Error::UnknownCurrency {
                code: format!("{numeric:03}"),
            })
    }

    /// The alphabetic code, upper case ("EUR").
    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// The numeric code (978 for EUR).
    pub fn numeric(self) -> u16 {
        self.0.numeric()
    }

    /// Number of decimal places of the minor unit (2 for EUR, 0 for JPY, 3 for BHD).
    pub fn exponent(self) -> u32 {
        // Constructors only admit currencies that have an exponent.
        u32::from(self.0.exponent().unwrap_or(0))
    }
}

impl Default for Currency {
    fn default() -> Self {
        Currency::EUR
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Currency::from_code(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::from_code(&s).map_err(serde::de::Error::custom)
    }
}

/// An amount of money: non-negative integer minor units and a currency.
///
/// Refunds and late failures are expressed by the transition, never by a negative amount.
/// Deserialising goes through [`Money::from_minor`], so a negative amount never gets in.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "RawMoney")]
pub struct Money {
    minor: i64,
    currency: Currency,
}

#[derive(Deserialize)]
struct RawMoney {
    minor: i64,
    currency: Currency,
}

impl TryFrom<RawMoney> for Money {
    type Error = Error;
    fn try_from(r: RawMoney) -> Result<Self, Error> {
        Money::from_minor(r.minor, r.currency)
    }
}

impl Money {
    /// Builds an amount from minor units (cents for EUR).
    ///
    /// # Errors
    /// [`Error::InvalidAmount`] for a negative amount.
    pub fn from_minor(minor: i64, currency: Currency) -> Result<Self, Error> {
        if minor < 0 {
            return Err(Error::InvalidAmount {
                input: minor.to_string(),
                reason: "negative amounts are not allowed",
            });
        }
        Ok(Money { minor, currency })
    }

    /// Zero in `currency`.
    pub fn zero(currency: Currency) -> Self {
        Money { minor: 0, currency }
    }

    /// Parses a decimal string exactly: "10", "10.5", "10,50", ".25".
    ///
    /// Extra zero digits are exact and accepted ("10.500" EUR is 1050); a non-zero digit
    /// beyond the currency's precision is refused, never rounded.
    ///
    /// # Errors
    /// [`Error::InvalidAmount`] for an empty, negative, malformed, over-precise or
    /// overflowing amount.
    pub fn parse(input: &str, currency: Currency) -> Result<Self, Error> {
        let bad = |reason: &'static str| Error::InvalidAmount {
            input: input.to_string(),
            reason,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(bad("empty amount"));
        }
        if s.starts_with('-') {
            return Err(bad("negative amounts are not allowed"));
        }
        let (int_part, frac_part) = match s.find(['.', ',']) {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => (s, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad("no digits"));
        }
        if !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad(
                "only digits and one decimal separator ('.' or ',') are allowed",
            ));
        }
        let exponent = currency.exponent() as usize;
        let (kept, dropped) = frac_part.split_at(frac_part.len().min(exponent));
        if dropped.bytes().any(|b| b != b'0') {
            return Err(bad("more decimal places than the currency has"));
        }
        let mut minor: i64 = 0;
        let digits = int_part
            .bytes()
            .chain(kept.bytes())
            .chain(std::iter::repeat_n(b'0', exponent - kept.len()));
        for d in digits {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(d - b'0')))
                .ok_or_else(|| bad("amount too large"))?;
        }
        Ok(Money { minor, currency })
    }

    /// Minor units (cents for EUR).
    pub fn minor(self) -> i64 {
        self.minor
    }

    /// The currency.
    pub fn currency(self) -> Currency {
        self.currency
    }

    /// True for a zero amount (the `gratuit` provider's case).
    pub fn is_zero(self) -> bool {
        self.minor == 0
    }

    /// The amount as a decimal string with exactly the currency's decimals ("10.50").
    pub fn to_decimal_string(self) -> String {
        let exp = self.currency.exponent();
        if exp == 0 {
            return self.minor.to_string();
        }
        let div = 10i64.pow(exp);
        format!(
            "{}.{:0width$}",
            self.minor / div,
            self.minor % div,
            width = exp as usize
        )
    }

    /// Subtracts `other`, refusing a currency mismatch or a negative result.
    ///
    /// # Errors
    /// [`Error::CurrencyMismatch`] or [`Error::InvalidAmount`].
    pub fn checked_sub(self, other: Money) -> Result<Money, Error> {
        if self.currency != other.currency {
            return Err(Error::CurrencyMismatch {
                expected: self.currency.code(),
                got: other.currency.code(),
            });
        }
        Money::from_minor(self.minor - other.minor, self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eur(s: &str) -> Result<i64, Error> {
        Money::parse(s, Currency::EUR).map(Money::minor)
    }

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(eur("10").unwrap(), 1000);
        assert_eq!(eur("10.5").unwrap(), 1050);
        assert_eq!(eur("10,50").unwrap(), 1050);
        assert_eq!(eur(".25").unwrap(), 25);
        assert_eq!(eur("0").unwrap(), 0);
        assert_eq!(eur("10.500").unwrap(), 1050);
        assert_eq!(eur(" 12.34 ").unwrap(), 1234);
    }

    #[test]
    fn refuses_what_is_not_exact() {
        for bad in [
            "", "-1", "-0.01", "10.505", "1e3", "1.2.3", "10,5,0", "+1", "abc", ".", "1 000",
            "NaN", "١٢",
        ] {
            assert!(
                matches!(eur(bad), Err(Error::InvalidAmount { .. })),
                "{bad:?} must be refused"
            );
        }
        assert!(eur("92233720368547758.08").is_err(), "overflow");
        assert_eq!(eur("92233720368547758.07").unwrap(), i64::MAX);
    }

    #[test]
    fn follows_the_currency_exponent() {
        let jpy = Currency::from_code("jpy").unwrap();
        assert_eq!(Money::parse("1200", jpy).unwrap().minor(), 1200);
        assert!(Money::parse("12.5", jpy).is_err());
        let bhd = Currency::from_code("BHD").unwrap();
        assert_eq!(Money::parse("1.005", bhd).unwrap().minor(), 1005);
        assert_eq!(
            Money::parse("1.005", bhd).unwrap().to_decimal_string(),
            "1.005"
        );
    }

    #[test]
    fn currencies_without_minor_unit_are_refused() {
        assert!(Currency::from_code("XXX").is_err());
        assert!(Currency::from_code("EURO").is_err());
        assert_eq!(Currency::from_numeric(978).unwrap(), Currency::EUR);
        assert!(Currency::from_numeric(999).is_err());
    }

    #[test]
    fn negative_minor_is_refused() {
        assert!(Money::from_minor(-1, Currency::EUR).is_err());
        let json = r#"{"minor":-3000,"currency":"EUR"}"#;
        assert!(
            serde_json::from_str::<Money>(json).is_err(),
            "deserialising checks the sign too"
        );
        let ok: Money = serde_json::from_str(r#"{"minor":3000,"currency":"EUR"}"#).unwrap();
        assert_eq!(ok.minor(), 3000);
    }

    proptest! {
        #[test]
        fn decimal_string_round_trips(minor in 0i64..=i64::MAX) {
            let m = Money::from_minor(minor, Currency::EUR).unwrap();
            prop_assert_eq!(Money::parse(&m.to_decimal_string(), Currency::EUR).unwrap(), m);
            let comma = m.to_decimal_string().replace('.', ",");
            prop_assert_eq!(Money::parse(&comma, Currency::EUR).unwrap(), m);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,30}") {
            let _ = Money::parse(&s, Currency::EUR);
        }

        #[test]
        fn parse_agrees_with_integer_arithmetic(units in 0u32..1_000_000, cents in 0u32..100) {
            let s = format!("{units}.{cents:02}");
            prop_assert_eq!(eur(&s).unwrap(), i64::from(units) * 100 + i64::from(cents));
        }
    }
}
