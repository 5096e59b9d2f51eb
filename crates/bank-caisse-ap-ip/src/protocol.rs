//! Requests and answers: what the point of sale sends, and how a terminal's answer is
//! checked and read (caisse-ap.md §6 and §11).
//!
//! The answer check is a pure function of the request and the bytes received
//! ([`validate_answer`]), so it is tested on every published vector and fuzzed. Its rules:
//!
//! - `AE=10` is an approval only if `CA`, `CB`, `CD`, `CE` are present and echo the
//!   request (`CB` compared as a number: Ingenico zero-pads it), and no failure code
//!   contradicts it (the simulator answers `AE=10` with `AF=09` to a malformed request);
//! - `AE=01` is a refusal, whatever else is missing (a red-key cancel has no `CB`); the
//!   reason is the first two characters of `AF`, the rest is kept;
//! - anything else (garbage, a repeated status or amount, `AE=11`, an echo that differs)
//!   is an *unknown outcome*: the card may or may not have been charged.
//!
//! A different `CZ` in the answer is accepted (Nepting answers `0320` to `0300`).

use std::fmt;

use bank_core::{Currency, Money};
use serde::Serialize;

use crate::codec::{escape, Frame, Tag};
use crate::error::CaisseApError;

/// The largest amount a request can carry: 12 digits of minor units.
pub const MAX_AMOUNT_MINOR: i64 = 999_999_999_999;

/// The protocol version we send.
pub const DEFAULT_VERSION: &str = "0300";

/// The Concert protocol identifier sent by the published clients (terminals do not check
/// it).
pub const DEFAULT_POS_SOFTWARE_ID: &str = "012345678901";

/// Debit or refund (`CD`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A payment (`CD=0`).
    Debit,
    /// A refund to the card (`CD=1`).
    Refund,
}

impl Action {
    /// The `CD` value.
    pub fn code(self) -> &'static str {
        match self {
            Action::Debit => "0",
            Action::Refund => "1",
        }
    }

    /// In words.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Debit => "debit",
            Action::Refund => "refund",
        }
    }
}

/// Card or cheque (a cheque printer such as the Ingenico i2200 on the terminal).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// A card: the terminal chooses the application.
    #[default]
    Card,
    /// A cheque: `CC=00C` forces the cheque application.
    Cheque,
}

impl PaymentMethod {
    /// The option value (`card`, `cheque`).
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Card => "card",
            PaymentMethod::Cheque => "cheque",
        }
    }

    /// Parses `card` or `cheque`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "card" => Some(PaymentMethod::Card),
            "cheque" => Some(PaymentMethod::Cheque),
            _ => None,
        }
    }
}

/// A checked payment or refund request.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Request {
    version: String,
    pos_software_id: String,
    pos_number: String,
    amount: Money,
    action: Action,
    method: PaymentMethod,
    answer_mode: bool,
}

/// The header fields of every request: what a configured terminal link sends.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RequestHeader {
    /// `CZ`, four characters (`0300`).
    pub version: String,
    /// `CJ`, twelve digits.
    pub pos_software_id: String,
    /// `CA`, two digits (`01`).
    pub pos_number: String,
    /// Send `BA=0` (answer at the end of the transaction). The newest production client
    /// does not send it; the terminal's default is the same.
    pub answer_mode: bool,
}

impl Default for RequestHeader {
    fn default() -> Self {
        RequestHeader {
            version: DEFAULT_VERSION.into(),
            pos_software_id: DEFAULT_POS_SOFTWARE_ID.into(),
            pos_number: "01".into(),
            answer_mode: false,
        }
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl RequestHeader {
    /// Checks the header fields.
    ///
    /// # Errors
    /// [`CaisseApError::InvalidSetting`] naming the field.
    pub fn check(&self) -> Result<(), CaisseApError> {
        let bad = |setting: &'static str, value: &str, reason: &str| {
            Err(CaisseApError::InvalidSetting {
                setting,
                value: value.to_string(),
                reason: reason.to_string(),
            })
        };
        if self.version.len() != 4 || !all_digits(&self.version) {
            return bad("version", &self.version, "four digits (0300)");
        }
        if self.pos_software_id.len() != 12 || !all_digits(&self.pos_software_id) {
            return bad("pos_software_id", &self.pos_software_id, "twelve digits");
        }
        if self.pos_number.len() != 2 || !all_digits(&self.pos_number) {
            return bad("pos_number", &self.pos_number, "two digits (01)");
        }
        Ok(())
    }
}

impl Request {
    /// A request for `amount` (its currency goes as ISO numeric code).
    ///
    /// # Errors
    /// [`CaisseApError::InvalidAmount`] for zero or more than 12 digits of minor units
    /// (nothing is sent); [`CaisseApError::InvalidSetting`] for a bad header.
    pub fn new(
        header: &RequestHeader,
        amount: Money,
        action: Action,
        method: PaymentMethod,
    ) -> Result<Self, CaisseApError> {
        header.check()?;
        if amount.is_zero() {
            return Err(CaisseApError::InvalidAmount {
                amount: amount.to_string(),
                reason: "a terminal cannot take a zero amount",
            });
        }
        if amount.minor() > MAX_AMOUNT_MINOR {
            return Err(CaisseApError::InvalidAmount {
                amount: amount.to_string(),
                reason: "more than 12 digits of minor units",
            });
        }
        Ok(Request {
            version: header.version.clone(),
            pos_software_id: header.pos_software_id.clone(),
            pos_number: header.pos_number.clone(),
            amount,
            action,
            method,
            answer_mode: header.answer_mode,
        })
    }

    /// The amount.
    pub fn amount(&self) -> Money {
        self.amount
    }

    /// Debit or refund.
    pub fn action(&self) -> Action {
        self.action
    }

    /// Card or cheque.
    pub fn method(&self) -> PaymentMethod {
        self.method
    }

    /// The POS number sent (`CA`).
    pub fn pos_number(&self) -> &str {
        &self.pos_number
    }

    /// `CB`: minor units, left-padded with zeros to at least two digits.
    pub fn amount_field(&self) -> String {
        format!("{:02}", self.amount.minor())
    }

    /// `CE`: the ISO 4217 numeric code, three digits.
    pub fn currency_field(&self) -> String {
        format!("{:03}", self.amount.currency().numeric())
    }

    /// The frame: `CZ CJ CA CE [BA] CD [CC] CB`, the order of the published client.
    pub fn frame(&self) -> Frame<'static> {
        let mut f = Frame::new(self.version.clone());
        f.push(Tag::CJ, self.pos_software_id.clone())
            .push(Tag::CA, self.pos_number.clone())
            .push(Tag::CE, self.currency_field());
        if self.answer_mode {
            f.push(Tag::BA, "0");
        }
        f.push(Tag::CD, self.action.code());
        if self.method == PaymentMethod::Cheque {
            f.push(Tag::CC, "00C");
        }
        f.push(Tag::CB, self.amount_field());
        f
    }

    /// The bytes to write, in one buffer, without CR/LF.
    pub fn encode(&self) -> Vec<u8> {
        // Every field was checked when the request was built: encoding cannot fail.
        self.frame().encode().unwrap_or_default()
    }
}

/// An approved payment or refund, read from the terminal's answer.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Approval {
    /// The amount processed (`CB`), equal to the request's.
    pub amount: Money,
    /// Authorisation number (`AC`); none for a cheque.
    pub authorisation: Option<String>,
    /// The card number as masked by the terminal (`AA`), masked again if it showed more
    /// than the first six and last four digits.
    pub card: Option<String>,
    /// Application code (`CC`): `001` CB contact, `00B` CB contactless, `00C` cheque…
    pub application: Option<String>,
    /// Card reading mode (`CI`).
    pub read_mode: Option<String>,
    /// Card application identifier (`AI`).
    pub aid: Option<String>,
    /// Merchant contract (`CG`).
    pub contract: Option<String>,
    /// The protocol version of the answer (`CZ`).
    pub version: String,
}

impl Approval {
    /// The application in words.
    pub fn application_label(&self) -> Option<&'static str> {
        self.application.as_deref().and_then(application_label)
    }
}

/// A refusal, read from the terminal's answer.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Decline {
    /// The two-digit reason code (first two characters of `AF`), if any.
    pub code: Option<String>,
    /// The reason in words.
    pub reason: String,
    /// What followed the code in `AF` (bank response data on some terminals).
    pub extra: Option<String>,
    /// An authorisation number sent with the refusal (some terminals do).
    pub authorisation: Option<String>,
}

/// Why the outcome of an exchange is unknown: the card may or may not have been charged.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
#[non_exhaustive]
pub enum UnknownCause {
    /// Nothing (or not all) arrived before the deadline.
    Timeout {
        /// Milliseconds waited.
        waited_ms: u64,
        /// Bytes received by then.
        received: usize,
    },
    /// The terminal closed the connection before a whole answer.
    Closed {
        /// Bytes received before the close.
        received: usize,
    },
    /// A read or write failed.
    Io {
        /// The error.
        error: String,
    },
    /// The answer grew past the size cap.
    Oversized {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The bytes are not a frame.
    Garbage {
        /// The codec error.
        error: String,
    },
    /// No action status (`AE`).
    MissingStatus,
    /// A status other than `10` or `01` (`11` is the immediate-mode acknowledgement).
    UnexpectedStatus {
        /// The status.
        status: String,
    },
    /// A field that decides the outcome appears twice.
    Repeated {
        /// The tag.
        tag: String,
    },
    /// `AE=10` with a failure code.
    Contradictory {
        /// The `AF` value.
        failure: String,
    },
    /// `AE=10` without a field the request must find echoed.
    MissingEcho {
        /// The tag.
        tag: String,
    },
    /// `AE=10` with an echo that differs from the request.
    EchoMismatch {
        /// The tag.
        tag: String,
        /// What was sent.
        sent: String,
        /// What came back.
        got: String,
    },
}

impl fmt::Display for UnknownCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnknownCause::Timeout {
                waited_ms,
                received,
            } => write!(
                f,
                "no whole answer after {:.1} s ({received} bytes received)",
                *waited_ms as f64 / 1000.0
            ),
            UnknownCause::Closed { received } => write!(
                f,
                "the terminal closed the connection before a whole answer ({received} bytes received)"
            ),
            UnknownCause::Io { error } => write!(f, "network error: {error}"),
            UnknownCause::Oversized { limit } => {
                write!(f, "the answer is longer than {limit} bytes")
            }
            UnknownCause::Garbage { error } => write!(f, "unreadable answer: {error}"),
            UnknownCause::MissingStatus => f.write_str("the answer has no status (AE)"),
            UnknownCause::UnexpectedStatus { status } if status == "11" => f.write_str(
                "the terminal only acknowledged the request (AE=11, immediate mode): no result",
            ),
            UnknownCause::UnexpectedStatus { status } => {
                write!(f, "unexpected status AE={status}")
            }
            UnknownCause::Repeated { tag } => write!(f, "field {tag} appears twice"),
            UnknownCause::Contradictory { failure } => {
                write!(f, "the answer says done (AE=10) and failed (AF={failure})")
            }
            UnknownCause::MissingEcho { tag } => {
                write!(f, "an approval without the {tag} of the request")
            }
            UnknownCause::EchoMismatch { tag, sent, got } => {
                write!(f, "{tag} sent {sent:?}, the terminal answered {got:?}")
            }
        }
    }
}

/// What an answer says.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum AnswerVerdict {
    /// Done (`AE=10`), echo checked.
    Approved(Approval),
    /// Not done (`AE=01`).
    Declined(Decline),
    /// Anything else.
    Unknown(UnknownCause),
}

/// Tags that decide the outcome: any of them twice makes the answer ambiguous.
const SINGLE: [Tag; 8] = [
    Tag::CZ,
    Tag::AE,
    Tag::AF,
    Tag::CA,
    Tag::CB,
    Tag::CD,
    Tag::CE,
    Tag::AC,
];

/// Reads a terminal's answer to `request` (see the module documentation).
pub fn validate_answer(request: &Request, bytes: &[u8]) -> AnswerVerdict {
    let frame = match Frame::decode(bytes) {
        Ok(f) => f,
        Err(e) => {
            return AnswerVerdict::Unknown(UnknownCause::Garbage {
                error: e.to_string(),
            })
        }
    };
    if let Some(t) = SINGLE.iter().find(|t| frame.count(**t) > 1) {
        return AnswerVerdict::Unknown(UnknownCause::Repeated { tag: t.to_string() });
    }
    let Some(status) = frame.get(Tag::AE) else {
        return AnswerVerdict::Unknown(UnknownCause::MissingStatus);
    };
    let opt = |t: Tag| {
        frame
            .get(t)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    match status {
        "10" => {
            if let Some(af) = frame.get(Tag::AF) {
                // `01` is "transaction authorised": not a contradiction.
                if !af.starts_with("01") {
                    return AnswerVerdict::Unknown(UnknownCause::Contradictory {
                        failure: af.to_string(),
                    });
                }
            }
            let echo = |t: Tag, sent: &str| -> Result<(), UnknownCause> {
                match frame.get(t) {
                    None => Err(UnknownCause::MissingEcho { tag: t.to_string() }),
                    Some(got) if got == sent => Ok(()),
                    Some(got) => Err(UnknownCause::EchoMismatch {
                        tag: t.to_string(),
                        sent: sent.to_string(),
                        got: got.to_string(),
                    }),
                }
            };
            let checks = echo(Tag::CA, request.pos_number())
                .and_then(|()| echo(Tag::CD, request.action().code()))
                .and_then(|()| echo(Tag::CE, &request.currency_field()));
            if let Err(cause) = checks {
                return AnswerVerdict::Unknown(cause);
            }
            let Some(cb) = frame.get(Tag::CB) else {
                return AnswerVerdict::Unknown(UnknownCause::MissingEcho { tag: "CB".into() });
            };
            let sent = request.amount_field();
            if !same_amount(cb, &sent) {
                return AnswerVerdict::Unknown(UnknownCause::EchoMismatch {
                    tag: "CB".into(),
                    sent,
                    got: cb.to_string(),
                });
            }
            AnswerVerdict::Approved(Approval {
                amount: request.amount(),
                authorisation: opt(Tag::AC),
                card: opt(Tag::AA).map(|c| mask_pan(&c)),
                application: opt(Tag::CC),
                read_mode: opt(Tag::CI),
                aid: opt(Tag::AI),
                contract: opt(Tag::CG),
                version: frame.version().unwrap_or_default().to_string(),
            })
        }
        "01" => {
            let af = frame.get(Tag::AF).unwrap_or("");
            let (code, extra) = if af.len() >= 2 && af.is_char_boundary(2) {
                (Some(af[..2].to_string()), af[2..].trim())
            } else {
                (None, af.trim())
            };
            let reason = match code.as_deref() {
                Some(c) => failure_reason(c, request.method()),
                None => "refused (no reason given)".to_string(),
            };
            AnswerVerdict::Declined(Decline {
                code,
                reason,
                extra: (!extra.is_empty()).then(|| extra.to_string()),
                authorisation: opt(Tag::AC),
            })
        }
        other => AnswerVerdict::Unknown(UnknownCause::UnexpectedStatus {
            status: escape(other.as_bytes()),
        }),
    }
}

/// Two amounts of digits are equal as numbers (`0000005` is `05`). Anything but digits
/// is never equal.
pub fn same_amount(a: &str, b: &str) -> bool {
    if !all_digits(a) || !all_digits(b) {
        return false;
    }
    let strip = |s: &str| -> String {
        let t = s.trim_start_matches('0');
        t.to_string()
    };
    strip(a) == strip(b)
}

/// The reason for an `AF` code, in words (caisse-ap.md §4.3).
pub fn failure_reason(code: &str, method: PaymentMethod) -> String {
    let words = match code {
        "00" => "refused (reason unknown)",
        "01" => "transaction authorised",
        "02" => "phone referral required (appel phonie)",
        "03" => "forced (forçage)",
        "04" if method == PaymentMethod::Cheque => {
            "cheque refused or cancelled (the terminal reports every cheque failure as 04)"
        }
        "04" => "refused",
        "05" => "forbidden",
        "06" => "abandoned by the cardholder",
        "07" => "not completed",
        "08" => "not done: input time-out on the terminal",
        "09" => "not done: message format error",
        "10" => "not done: card application selection error",
        "11" => "cancelled on the terminal (red key)",
        "12" => "not done: unknown action type",
        "13" => "not done: currency not supported by the terminal",
        other => return format!("refused (code {})", escape(other.as_bytes())),
    };
    words.to_string()
}

/// The payment application of a `CC` code, in words (caisse-ap.md §4.4).
pub fn application_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "000" => "indifferent",
        "001" => "CB contact",
        "002" => "American Express contact",
        "003" => "CB Enseigne",
        "004" => "Cetelem",
        "005" => "Cofinoga",
        "006" => "Diners",
        "007" => "Pass",
        "008" => "Franfinance",
        "009" => "JCB",
        "00A" => "Banque Accord",
        "00B" => "CB contactless",
        "00C" => "cheque",
        "00D" => "American Express contactless",
        "00E" => "CONECS contact",
        "00F" => "dynamic currency conversion",
        "00G" => "QuickPass",
        "00I" => "CPEI",
        "00S" => "Sofinco",
        "00U" => "UnionPay",
        "10E" => "CONECS contactless",
        _ => return None,
    })
}

/// The card reading mode of a `CI` value, in words.
pub fn read_mode_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "0" => "indifferent",
        "1" => "chip",
        "2" => "contactless",
        "3" => "magnetic stripe",
        "4" => "manual entry",
        _ => return None,
    })
}

/// Masks a card number so that at most the first six and last four digits show. A value
/// the terminal already masked (`497010######0014`) is unchanged.
pub fn mask_pan(pan: &str) -> String {
    let digits = pan.bytes().filter(u8::is_ascii_digit).count();
    if digits <= 10 {
        return pan.to_string();
    }
    let mut seen = 0;
    pan.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen > 6 && seen <= digits - 4 {
                    return '#';
                }
            }
            c
        })
        .collect()
}

/// Masks every run of more than ten digits in bytes that are not a frame (a card number
/// hidden in garbage), keeping its first six and last four digits.
pub fn mask_digit_runs(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let mut i = 0;
    // Each round moves past one run or one byte.
    while i < out.len() {
        if !out[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < out.len() && out[i].is_ascii_digit() {
            i += 1;
        }
        let len = i - start;
        if len > 10 {
            for b in &mut out[start + 6..i - 4] {
                *b = b'#';
            }
        }
    }
    out
}

/// The answer as evidence: card numbers masked (`AA` in a frame, long digit runs in
/// anything else), every other byte kept.
pub fn redact_answer(bytes: &[u8]) -> Vec<u8> {
    let Ok(frame) = Frame::decode(bytes) else {
        return mask_digit_runs(bytes);
    };
    let mut out = bytes.to_vec();
    let base = bytes.as_ptr() as usize;
    for f in frame.fields() {
        if f.tag == Tag::AA {
            let masked = mask_pan(&f.value);
            // The value borrows from `bytes`: its offset is the pointer difference.
            let at = f.value.as_ptr() as usize - base;
            out[at..at + masked.len()].copy_from_slice(masked.as_bytes());
        }
    }
    out
}

/// Converts the numeric currency of a `CE` field, if it is one.
pub fn currency_of(ce: &str) -> Option<Currency> {
    if ce.len() != 3 || !all_digits(ce) {
        return None;
    }
    ce.parse::<u16>()
        .ok()
        .and_then(|n| Currency::from_numeric(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(minor: i64) -> Money {
        Money::from_minor(minor, Currency::EUR).unwrap()
    }

    #[test]
    fn pan_masking() {
        assert_eq!(mask_pan("555069######5170"), "555069######5170");
        assert_eq!(mask_pan("4970101234560014"), "497010######0014");
        assert_eq!(mask_pan("4970 1012 3456 0014"), "4970 10## #### 0014");
        assert_eq!(mask_pan("************0014"), "************0014");
        assert_eq!(
            mask_digit_runs(b"x4970101234560014y"),
            b"x497010######0014y"
        );
        assert_eq!(mask_digit_runs(b"12345"), b"12345");
    }

    #[test]
    fn redacts_aa_in_place() {
        let a = b"CZ0040300AE00210AA0164970101234560014AC006123456";
        let r = redact_answer(a);
        assert_eq!(
            r,
            b"CZ0040300AE00210AA016497010######0014AC006123456".to_vec()
        );
    }

    #[test]
    fn amounts_compare_as_numbers() {
        assert!(same_amount("0000005", "05"));
        assert!(!same_amount("0000006", "05"));
        assert!(!same_amount("", "05"));
        assert!(!same_amount("5 ", "05"));
        assert!(same_amount("00", "0"));
    }

    #[test]
    fn request_rules() {
        let h = RequestHeader::default();
        assert!(Request::new(&h, eur(0), Action::Debit, PaymentMethod::Card).is_err());
        assert!(Request::new(
            &h,
            eur(MAX_AMOUNT_MINOR + 1),
            Action::Debit,
            PaymentMethod::Card
        )
        .is_err());
        let r = Request::new(&h, eur(5), Action::Debit, PaymentMethod::Card).unwrap();
        assert_eq!(r.amount_field(), "05");
        let bad = RequestHeader {
            pos_number: "1".into(),
            ..RequestHeader::default()
        };
        assert!(Request::new(&bad, eur(5), Action::Debit, PaymentMethod::Card).is_err());
    }

    #[test]
    fn labels() {
        assert_eq!(application_label("00B"), Some("CB contactless"));
        assert_eq!(read_mode_label("2"), Some("contactless"));
        assert_eq!(
            failure_reason("04", PaymentMethod::Card),
            "refused".to_string()
        );
        assert!(failure_reason("X\u{7f}", PaymentMethod::Card).contains("\\x7f"));
        assert_eq!(currency_of("953").map(Currency::code), Some("XPF"));
        assert_eq!(currency_of("97"), None);
    }
}
