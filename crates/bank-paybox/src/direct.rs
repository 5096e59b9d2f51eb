//! Paybox Direct and Direct Plus (paybox.md §7–8): server-to-server operations, a
//! form-encoded POST answered by a form-encoded `KEY=value&…` string.
//!
//! Rules that keep money safe:
//! - `NUMQUESTION` comes from a store counter, unique per site and Paris day, never from
//!   the transaction number (eopayment's way repeats it for two operations on one
//!   transaction in a day).
//! - The answer must echo our `SITE`, `RANG` and `NUMQUESTION`; otherwise it is not the
//!   answer to our question and the outcome is unknown.
//! - A request is sent again to the backup host only when nothing was sent (connection
//!   refused, name not resolved). After a time-out or a broken answer, an operation that
//!   moves money is never sent again: its outcome is unknown and staff checks.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::codes;
use crate::error::PayboxError;

/// `VERSION` of Paybox Direct.
pub const VERSION_DIRECT: &str = "00103";
/// `VERSION` of Paybox Direct Plus (operations on a registered card).
pub const VERSION_DIRECT_PLUS: &str = "00104";
/// Longest answer read.
pub const MAX_ANSWER_LEN: usize = 4096;

/// A Paybox Direct operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `00002`: capture (debit) of an earlier authorisation.
    Capture,
    /// `00005`: cancel an operation (before it is remitted to the bank).
    Cancel,
    /// `00014`: refund of a captured payment, whole or part.
    Refund,
    /// `00017`: inquiry (consultation) of a transaction.
    Inquiry,
    /// `00053`: authorisation and capture on a registered card (Direct Plus).
    SubscriberDebit,
    /// `00058`: delete a registered card (Direct Plus).
    DeleteSubscriber,
}

impl Operation {
    /// The `TYPE` code.
    pub fn code(self) -> &'static str {
        match self {
            Operation::Capture => "00002",
            Operation::Cancel => "00005",
            Operation::Refund => "00014",
            Operation::Inquiry => "00017",
            Operation::SubscriberDebit => "00053",
            Operation::DeleteSubscriber => "00058",
        }
    }

    /// The `VERSION` it is sent with.
    pub fn version(self) -> &'static str {
        match self {
            Operation::SubscriberDebit | Operation::DeleteSubscriber => VERSION_DIRECT_PLUS,
            _ => VERSION_DIRECT,
        }
    }

    /// True when sending it twice does no harm (it moves no money).
    pub fn repeatable(self) -> bool {
        matches!(self, Operation::Inquiry | Operation::DeleteSubscriber)
    }

    /// A name for logs and messages.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Capture => "capture",
            Operation::Cancel => "cancel",
            Operation::Refund => "refund",
            Operation::Inquiry => "inquiry",
            Operation::SubscriberDebit => "subscriber debit",
            Operation::DeleteSubscriber => "subscriber deletion",
        }
    }
}

/// One Paybox Direct question.
#[derive(Clone)]
pub struct DirectRequest {
    /// The operation.
    pub operation: Operation,
    /// `SITE`.
    pub site: String,
    /// `RANG`.
    pub rang: String,
    /// `CLE`.
    pub cle: SecretString,
    /// `NUMQUESTION`, sent on 10 digits.
    pub numquestion: i64,
    /// `MONTANT` in minor units, sent on 10 digits.
    pub montant: Option<i64>,
    /// `DEVISE`, ISO 4217 numeric.
    pub devise: Option<u16>,
    /// `REFERENCE`.
    pub reference: Option<String>,
    /// `NUMTRANS`.
    pub numtrans: Option<String>,
    /// `NUMAPPEL`.
    pub numappel: Option<String>,
    /// `DATEQ` (`DDMMYYYYHHMMSS`, Paris time).
    pub dateq: String,
    /// `ACTIVITE` (`027` recurring payment).
    pub activite: Option<&'static str>,
    /// `REFABONNE`.
    pub refabonne: Option<String>,
    /// `PORTEUR` (the card handle for Direct Plus).
    pub porteur: Option<String>,
    /// `DATEVAL` (`MMYY`).
    pub dateval: Option<String>,
}

impl fmt::Debug for DirectRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectRequest")
            .field("operation", &self.operation)
            .field("site", &self.site)
            .field("rang", &self.rang)
            .field("cle", &"[REDACTED]")
            .field("numquestion", &self.numquestion)
            .field("montant", &self.montant)
            .field("reference", &self.reference)
            .field("numtrans", &self.numtrans)
            .field("numappel", &self.numappel)
            .field("refabonne", &self.refabonne)
            .field("porteur", &self.porteur.as_ref().map(|_| "[card handle]"))
            .finish_non_exhaustive()
    }
}

impl DirectRequest {
    /// The request's parameters, in the order they are sent (`CLE` in clear: never log).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut p: Vec<(&'static str, String)> = Vec::with_capacity(16);
        p.push(("VERSION", self.operation.version().into()));
        p.push(("TYPE", self.operation.code().into()));
        p.push(("SITE", self.site.clone()));
        p.push(("RANG", self.rang.clone()));
        p.push(("CLE", self.cle.expose_secret().to_string()));
        p.push(("NUMQUESTION", format!("{:010}", self.numquestion)));
        if let Some(m) = self.montant {
            p.push(("MONTANT", format!("{m:010}")));
        }
        if let Some(d) = self.devise {
            p.push(("DEVISE", format!("{d:03}")));
        }
        let mut opt = |name: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                p.push((name, v.clone()));
            }
        };
        opt("REFERENCE", &self.reference);
        opt("NUMTRANS", &self.numtrans);
        opt("NUMAPPEL", &self.numappel);
        p.push(("DATEQ", self.dateq.clone()));
        if let Some(a) = self.activite {
            p.push(("ACTIVITE", a.into()));
        }
        let mut opt = |name: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                p.push((name, v.clone()));
            }
        };
        opt("REFABONNE", &self.refabonne);
        opt("PORTEUR", &self.porteur);
        opt("DATEVAL", &self.dateval);
        p
    }

    /// The form-encoded body.
    pub fn encode(&self) -> String {
        url::form_urlencoded::Serializer::new(String::with_capacity(256))
            .extend_pairs(self.pairs())
            .finish()
    }
}

/// A decoded Paybox Direct answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectAnswer {
    /// Every variable, in order.
    pub fields: Vec<(String, String)>,
}

impl DirectAnswer {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `CODEREPONSE`.
    pub fn code(&self) -> &str {
        self.get("CODEREPONSE").unwrap_or_default()
    }

    /// `COMMENTAIRE`, or the code's meaning when absent or empty.
    pub fn message(&self) -> String {
        match self.get("COMMENTAIRE").map(str::trim) {
            Some(c) if !c.is_empty() => c.to_string(),
            _ => codes::meaning(self.code()).to_string(),
        }
    }
}

/// Decodes an answer: `KEY=value` pairs joined by `&`, values URL-encoded (a `+` is a
/// space), text in UTF-8 or else ISO-8859-1 (Paybox's comments are Latin-1 on some hosts).
///
/// # Errors
/// A description of what is wrong: too long, a pair without `=`, a variable twice, no
/// `CODEREPONSE`.
pub fn parse_answer(bytes: &[u8]) -> Result<DirectAnswer, String> {
    if bytes.len() > MAX_ANSWER_LEN {
        return Err(format!("answer of {} bytes is too long", bytes.len()));
    }
    let text = trim_ascii(bytes);
    let mut fields: Vec<(String, String)> = Vec::with_capacity(12);
    for pair in text.split(|b| *b == b'&') {
        if pair.is_empty() {
            continue;
        }
        let eq = pair
            .iter()
            .position(|b| *b == b'=')
            .ok_or_else(|| format!("pair without '=': {:?}", String::from_utf8_lossy(pair)))?;
        let key = decode_text(&pair[..eq]);
        let value = decode_text(&pair[eq + 1..]);
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!("bad variable name {key:?}"));
        }
        if fields.iter().any(|(k, _)| *k == key) {
            return Err(format!("variable {key} appears twice"));
        }
        fields.push((key, value));
    }
    let a = DirectAnswer { fields };
    match a.get("CODEREPONSE") {
        Some(c) if c.len() == 5 && c.bytes().all(|b| b.is_ascii_digit()) => Ok(a),
        Some(c) => Err(format!("CODEREPONSE {c:?} is not five digits")),
        None => Err("no CODEREPONSE".into()),
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

fn decode_text(raw: &[u8]) -> String {
    let plus: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&plus).collect();
    match String::from_utf8(bytes) {
        Ok(s) => s,
        // ISO-8859-1: every byte is the code point of the same value.
        Err(e) => e.into_bytes().iter().map(|b| char::from(*b)).collect(),
    }
}

fn same_number(a: &str, b: &str) -> bool {
    let strip = |s: &str| {
        let t = s.trim().trim_start_matches('0');
        if t.is_empty() && !s.trim().is_empty() {
            "0".to_string()
        } else {
            t.to_string()
        }
    };
    !a.trim().is_empty() && a.trim().bytes().all(|c| c.is_ascii_digit()) && strip(a) == strip(b)
}

/// Checks that the answer is the one to `req`: `SITE`, `RANG` and `NUMQUESTION` echoed
/// (compared as numbers: Paybox pads them with zeros).
///
/// # Errors
/// What differs.
pub fn check_echo(req: &DirectRequest, a: &DirectAnswer) -> Result<(), String> {
    let nq = req.numquestion.to_string();
    for (name, sent) in [
        ("SITE", req.site.as_str()),
        ("RANG", req.rang.as_str()),
        ("NUMQUESTION", nq.as_str()),
    ] {
        match a.get(name) {
            Some(got) if same_number(got, sent) => {}
            Some(got) => return Err(format!("{name} {got:?} does not echo ours ({sent})")),
            None => return Err(format!("{name} not echoed")),
        }
    }
    Ok(())
}

/// Sends Direct questions to the main host, then the backup.
#[derive(Debug, Clone)]
pub struct DirectClient {
    http: reqwest::Client,
    urls: Vec<String>,
}

impl DirectClient {
    /// A client for these URLs (main first).
    ///
    /// # Errors
    /// [`PayboxError::Config`] when the HTTP client cannot be built.
    pub fn new(urls: Vec<String>) -> Result<Self, PayboxError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| PayboxError::Config {
                option: "direct_url",
                reason: format!("HTTP client: {e}"),
            })?;
        Ok(DirectClient { http, urls })
    }

    /// The URLs, main first.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// Sends `req` and returns a successful answer (`CODEREPONSE=00000`).
    ///
    /// # Errors
    /// [`PayboxError::Refused`] for another code (the operation was not done);
    /// [`PayboxError::Unreachable`] when nothing could be sent;
    /// [`PayboxError::OutcomeUnknown`] when it was sent without a usable answer.
    pub async fn send(&self, req: &DirectRequest) -> Result<DirectAnswer, PayboxError> {
        let body = self.body(req);
        let mut last_error = String::from("no Paybox Direct URL");
        for (i, url) in self.urls.iter().enumerate() {
            let has_next = i + 1 < self.urls.len();
            let sent = self
                .http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await;
            let response = match sent {
                Ok(r) => r,
                Err(e) if e.is_connect() => {
                    // Nothing left this machine: the backup host is safe to try.
                    tracing::warn!(url, error = %e, operation = req.operation.name(), "Paybox Direct unreachable");
                    last_error = e.to_string();
                    continue;
                }
                Err(e) => {
                    last_error = format!("{url}: {e}");
                    if req.operation.repeatable() && has_next {
                        continue;
                    }
                    return Err(PayboxError::OutcomeUnknown { reason: last_error });
                }
            };
            let status = response.status();
            let bytes = match read_limited(response).await {
                Ok(b) => b,
                Err(e) => {
                    last_error = format!("{url}: {e}");
                    if req.operation.repeatable() && has_next {
                        continue;
                    }
                    return Err(PayboxError::OutcomeUnknown { reason: last_error });
                }
            };
            let verdict = if status.is_success() {
                interpret(req, &bytes)
            } else {
                Err(PayboxError::OutcomeUnknown {
                    reason: format!("{url}: HTTP {status}"),
                })
            };
            match verdict {
                Err(PayboxError::OutcomeUnknown { reason })
                    if req.operation.repeatable() && has_next =>
                {
                    last_error = reason;
                }
                other => return other,
            }
        }
        Err(PayboxError::Unreachable {
            hosts: self.urls.len(),
            reason: last_error,
        })
    }

    fn body(&self, req: &DirectRequest) -> String {
        req.encode()
    }
}

async fn read_limited(mut r: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(|e| e.to_string())? {
        out.extend_from_slice(&chunk);
        if out.len() > MAX_ANSWER_LEN {
            return Err(format!("answer longer than {MAX_ANSWER_LEN} bytes"));
        }
    }
    Ok(out)
}

/// The meaning of an answer's bytes for `req`.
///
/// # Errors
/// As [`DirectClient::send`].
pub fn interpret(req: &DirectRequest, bytes: &[u8]) -> Result<DirectAnswer, PayboxError> {
    let a = parse_answer(bytes).map_err(|e| PayboxError::OutcomeUnknown {
        reason: format!("unreadable answer: {e}"),
    })?;
    check_echo(req, &a).map_err(|e| PayboxError::OutcomeUnknown {
        reason: format!("answer to another question: {e}"),
    })?;
    let code = a.code().to_string();
    if code == "00000" {
        return Ok(a);
    }
    if codes::direct_outcome_unknown(&code) {
        return Err(PayboxError::OutcomeUnknown {
            reason: format!("Paybox answered {code}: {}", a.message()),
        });
    }
    Err(PayboxError::Refused {
        message: a.message(),
        code,
        retryable: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(op: Operation) -> DirectRequest {
        DirectRequest {
            operation: op,
            site: "1999888".into(),
            rang: "32".into(),
            cle: SecretString::from("1999888I"),
            numquestion: 42,
            montant: Some(1050),
            devise: Some(978),
            reference: Some("shop-abc".into()),
            numtrans: Some("0013957441".into()),
            numappel: Some("0030310733".into()),
            dateq: "01052024102030".into(),
            activite: None,
            refabonne: None,
            porteur: None,
            dateval: None,
        }
    }

    #[test]
    fn request_encoding() {
        let r = req(Operation::Refund);
        assert_eq!(
            r.encode(),
            "VERSION=00103&TYPE=00014&SITE=1999888&RANG=32&CLE=1999888I&NUMQUESTION=0000000042&MONTANT=0000001050&DEVISE=978&REFERENCE=shop-abc&NUMTRANS=0013957441&NUMAPPEL=0030310733&DATEQ=01052024102030"
        );
        assert!(!format!("{r:?}").contains("1999888I"));
        let mut p = req(Operation::SubscriberDebit);
        p.activite = Some("027");
        p.refabonne = Some("shop-first".into());
        p.porteur = Some("SLD+rc/LMPC".into());
        p.dateval = Some("1229".into());
        let e = p.encode();
        assert!(e.starts_with("VERSION=00104&TYPE=00053&"), "{e}");
        assert!(
            e.ends_with("&ACTIVITE=027&REFABONNE=shop-first&PORTEUR=SLD%2Brc%2FLMPC&DATEVAL=1229"),
            "{e}"
        );
        assert!(!format!("{p:?}").contains("SLD"));
    }

    #[test]
    fn answer_decoding() {
        let a = parse_answer(b"A=1&B=caf%E9+cr%C3%A8me&C=&CODEREPONSE=00001\r\n").unwrap();
        assert_eq!(a.get("B"), Some("caf\u{e9} cr\u{c3}\u{a8}me"));
        assert_eq!(a.get("C"), Some(""));
        assert_eq!(a.code(), "00001");
        let a = parse_answer(b"CODEREPONSE=00000&COMMENTAIRE=trait%E9e").unwrap();
        assert_eq!(a.message(), "traitée");
        let a =
            parse_answer("CODEREPONSE=00000&COMMENTAIRE=traitée avec succès".as_bytes()).unwrap();
        assert_eq!(a.message(), "traitée avec succès");
        for bad in [
            &b"CODEREPONSE=00000&X"[..],
            b"CODEREPONSE=0",
            b"X=1",
            b"CODEREPONSE=00000&CODEREPONSE=00001",
            b"=1&CODEREPONSE=00000",
        ] {
            assert!(
                parse_answer(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_answer(&vec![b'a'; MAX_ANSWER_LEN + 1]).is_err());
    }

    #[test]
    fn echo_is_required() {
        let r = req(Operation::Capture);
        let ok = b"NUMTRANS=0000000001&NUMAPPEL=0000000002&NUMQUESTION=0000000042&SITE=1999888&RANG=032&AUTORISATION=XXXXXX&CODEREPONSE=00000&COMMENTAIRE=ok";
        assert!(interpret(&r, ok).is_ok());
        let other = b"NUMQUESTION=0000000043&SITE=1999888&RANG=32&CODEREPONSE=00000";
        assert!(matches!(
            interpret(&r, other),
            Err(PayboxError::OutcomeUnknown { .. })
        ));
        let missing = b"SITE=1999888&RANG=32&CODEREPONSE=00000";
        assert!(matches!(
            interpret(&r, missing),
            Err(PayboxError::OutcomeUnknown { .. })
        ));
        let refused = b"NUMQUESTION=42&SITE=1999888&RANG=32&CODEREPONSE=00015&COMMENTAIRE=PAYBOX : Transaction non trouv%E9e";
        match interpret(&r, refused) {
            Err(PayboxError::Refused {
                code,
                message,
                retryable,
            }) => {
                assert_eq!(code, "00015");
                assert_eq!(message, "PAYBOX : Transaction non trouvée");
                assert!(!retryable);
            }
            other => panic!("{other:?}"),
        }
        let timeout = b"NUMQUESTION=42&SITE=1999888&RANG=32&CODEREPONSE=00097";
        assert!(matches!(
            interpret(&r, timeout),
            Err(PayboxError::OutcomeUnknown { .. })
        ));
        assert!(!same_number("", "0"));
        assert!(same_number("000", "0"));
    }
}
