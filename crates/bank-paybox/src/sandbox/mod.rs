//! A local Paybox on 127.0.0.1 (feature `sandbox`): the hosted payment page, the signed
//! IPN and return, and Paybox Direct, for demos and tests without Paybox's pre-production.
//!
//! - `POST /php/` checks the form as Paybox does (credentials, `PBX_HASH`, `PBX_HMAC`
//!   over the fields in received order) and shows a payment page with a card field; a bad
//!   form gets an error page and nothing else, as at Paybox.
//! - The card number decides ([`TEST_CARDS`]). For a debit on a registered card (Direct
//!   Plus), where no card number is typed, an amount ending in `51` cents is refused for
//!   insufficient funds.
//! - The result is signed with the sandbox's own RSA-1024 test key
//!   ([`TEST_PUBLIC_KEY_PEM`]), sent as a GET to `PBX_REPONDRE_A` first, then the browser
//!   is redirected to `PBX_EFFECTUE`, `PBX_REFUSE` or `PBX_ANNULE` with the same signed
//!   variables. Cancelling on the page sends no IPN (only the browser comes back).
//! - `POST /PPPS.php` answers Paybox Direct and Direct Plus, keeping authorisations,
//!   captures, refunds and registered cards in memory, so amounts are checked; a
//!   `NUMQUESTION` used twice in a day is refused.
//! - `GET /load.html` is the availability page; `GET /_sandbox/ipn` records what it is
//!   sent, for tests that have no server of their own to receive IPNs.
//!
//! Point an instance at it with [`SandboxHandle::instance_options`].

mod direct;
mod page;

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use rand::Rng;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha1::{Digest, Sha1};

use crate::error::PayboxError;
use crate::settings::HmacKey;
use crate::time;

/// The sandbox's RSA-1024 private key (a test key made for this crate, public on purpose).
pub const TEST_PRIVATE_KEY_PEM: &str = include_str!("test_key.pem");
/// Its public key: the `public_key` option of an instance using the sandbox.
pub const TEST_PUBLIC_KEY_PEM: &str = include_str!("test_key.pub.pem");

/// Card numbers and what the sandbox does with them; any other number passing the Luhn
/// check is accepted, any other is refused with `00004`.
pub const TEST_CARDS: [(&str, &str, &str); 3] = [
    (
        "1111222233334444",
        "00000",
        "accepted (Paybox's pre-production test card)",
    ),
    (
        "4000000000000002",
        "00105",
        "refused by the bank: do not honour",
    ),
    (
        "4000000000009995",
        "00151",
        "refused by the bank: insufficient funds",
    ),
];

/// The accepted test card.
pub const CARD_ACCEPTED: &str = "1111222233334444";
/// The refused test card.
pub const CARD_REFUSED: &str = "4000000000000002";

/// The merchant account the sandbox accepts.
#[derive(Clone)]
pub struct SandboxConfig {
    /// `PBX_SITE`.
    pub site: String,
    /// `PBX_RANG`.
    pub rang: String,
    /// `PBX_IDENTIFIANT`.
    pub identifiant: String,
    /// The HMAC key, hexadecimal.
    pub hmac_key_hex: String,
    /// Paybox Direct's `CLE`.
    pub cle: String,
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("site", &self.site)
            .field("rang", &self.rang)
            .field("identifiant", &self.identifiant)
            .finish_non_exhaustive()
    }
}

impl Default for SandboxConfig {
    /// Paybox's public test account (paybox.md §2).
    fn default() -> Self {
        SandboxConfig {
            site: "1999888".into(),
            rang: "32".into(),
            identifiant: "107904482".into(),
            hmac_key_hex: "0123456789ABCDEF".repeat(8),
            cle: "1999888I".into(),
        }
    }
}

/// One IPN the sandbox sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentIpn {
    /// `PBX_CMD`.
    pub reference: String,
    /// The URL called (with the query).
    pub url: String,
    /// The signed query string, exactly as sent.
    pub query: String,
    /// The HTTP status received, or the error.
    pub delivery: Result<u16, String>,
}

#[derive(Clone, Debug)]
struct Session {
    fields: Vec<(String, String)>,
}

impl Session {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A payment known to the sandbox's Direct.
#[derive(Clone, Debug)]
struct Payment {
    numappel: u64,
    amount: i64,
    /// Authorised only (`PBX_AUTOSEULE=O`), not yet captured.
    captured: i64,
    refunded: i64,
    cancelled: bool,
}

#[derive(Clone, Debug)]
struct Card {
    handle: String,
    expiry: String,
}

struct SandboxState {
    config: SandboxConfig,
    hmac: HmacKey,
    key: RsaPrivateKey,
    http: reqwest::Client,
    sessions: Mutex<HashMap<String, Session>>,
    payments: Mutex<HashMap<u64, Payment>>,
    subscribers: Mutex<HashMap<String, Card>>,
    questions: Mutex<HashSet<(String, i64)>>,
    numbers: AtomicU64,
    sent: Mutex<Vec<SentIpn>>,
    received: Mutex<Vec<String>>,
}

impl SandboxState {
    fn next_numbers(&self) -> (u64, u64) {
        let n = self.numbers.fetch_add(1, Ordering::SeqCst);
        (13_950_000 + n, 30_310_000 + n)
    }

    fn sign(&self, data: &[u8]) -> String {
        let digest = Sha1::digest(data);
        let sig = self
            .key
            .sign(Pkcs1v15Sign::new::<Sha1>(), &digest)
            .expect("RSA signing with a valid key");
        base64::engine::general_purpose::STANDARD.encode(sig)
    }
}

/// Starts sandboxes.
#[derive(Debug, Clone, Copy)]
pub struct Sandbox;

/// A running sandbox. It stops when the handle (and every clone) is dropped, for a
/// sandbox started on the current runtime; one started in its own thread runs until the
/// process ends.
#[derive(Clone)]
pub struct SandboxHandle {
    addr: SocketAddr,
    state: Arc<SandboxState>,
    _stop: Option<Arc<tokio::sync::oneshot::Sender<()>>>,
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn bind() -> Result<StdListener, PayboxError> {
    let l = StdListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| PayboxError::Sandbox {
        reason: format!("cannot listen on 127.0.0.1: {e}"),
    })?;
    l.set_nonblocking(true).map_err(|e| PayboxError::Sandbox {
        reason: e.to_string(),
    })?;
    Ok(l)
}

fn new_state(config: SandboxConfig) -> Result<Arc<SandboxState>, PayboxError> {
    let hmac = HmacKey::from_hex(&config.hmac_key_hex)?;
    let key =
        RsaPrivateKey::from_pkcs8_pem(TEST_PRIVATE_KEY_PEM).map_err(|e| PayboxError::Sandbox {
            reason: format!("test key: {e}"),
        })?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| PayboxError::Sandbox {
            reason: format!("HTTP client: {e}"),
        })?;
    Ok(Arc::new(SandboxState {
        config,
        hmac,
        key,
        http,
        sessions: Mutex::new(HashMap::new()),
        payments: Mutex::new(HashMap::new()),
        subscribers: Mutex::new(HashMap::new()),
        questions: Mutex::new(HashSet::new()),
        // Paybox's numbers are unique across accounts: two sandboxes (two accounts) must
        // not hand out the same ones.
        numbers: AtomicU64::new(rand::thread_rng().gen_range(1..1_000_000) * 1000),
        sent: Mutex::new(Vec::new()),
        received: Mutex::new(Vec::new()),
    }))
}

fn router(state: Arc<SandboxState>) -> Router {
    Router::new()
        .route("/load.html", get(load_page))
        .route("/php/", post(payment_page))
        .route("/php/pay", post(pay))
        .route("/php/cancel", post(cancel))
        .route("/PPPS.php", post(direct::answer))
        .route("/_sandbox/ipn", get(ipn_sink).post(ipn_sink))
        .with_state(state)
}

impl Sandbox {
    /// Starts a sandbox on the current tokio runtime (the port is bound before this
    /// returns).
    ///
    /// # Errors
    /// [`PayboxError::Sandbox`] when it cannot listen, or outside a tokio runtime.
    pub fn spawn(config: SandboxConfig) -> Result<SandboxHandle, PayboxError> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| PayboxError::Sandbox {
            reason: "Sandbox::spawn needs a tokio runtime (use Sandbox::start otherwise)".into(),
        })?;
        let std_listener = bind()?;
        let addr = std_listener
            .local_addr()
            .map_err(|e| PayboxError::Sandbox {
                reason: e.to_string(),
            })?;
        let state = new_state(config)?;
        let app = router(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let _guard = rt.enter();
        let listener =
            tokio::net::TcpListener::from_std(std_listener).map_err(|e| PayboxError::Sandbox {
                reason: e.to_string(),
            })?;
        rt.spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(SandboxHandle {
            addr,
            state,
            _stop: Some(Arc::new(tx)),
        })
    }

    /// Starts a sandbox on its own thread and runtime, usable from any thread, runtime or
    /// none (tests whose runtimes come and go; a synchronous caller).
    ///
    /// # Errors
    /// [`PayboxError::Sandbox`] when it cannot listen.
    pub fn start(config: SandboxConfig) -> Result<SandboxHandle, PayboxError> {
        let std_listener = bind()?;
        let addr = std_listener
            .local_addr()
            .map_err(|e| PayboxError::Sandbox {
                reason: e.to_string(),
            })?;
        let state = new_state(config)?;
        let app = router(state.clone());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| PayboxError::Sandbox {
                reason: format!("runtime: {e}"),
            })?;
        std::thread::Builder::new()
            .name("paybox-sandbox".into())
            .spawn(move || {
                rt.block_on(async move {
                    match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(listener) => {
                            let _ = axum::serve(listener, app).await;
                        }
                        Err(e) => tracing::error!(error = %e, "paybox sandbox cannot listen"),
                    }
                });
            })
            .map_err(|e| PayboxError::Sandbox {
                reason: format!("thread: {e}"),
            })?;
        Ok(SandboxHandle {
            addr,
            state,
            _stop: None,
        })
    }
}

impl SandboxHandle {
    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The hosted page URL (the `url` option).
    pub fn system_url(&self) -> String {
        format!("{}/php/", self.base_url())
    }

    /// The Paybox Direct URL (the `direct_url` option).
    pub fn direct_url(&self) -> String {
        format!("{}/PPPS.php", self.base_url())
    }

    /// A URL that records IPNs sent to it ([`SandboxHandle::received_ipns`]).
    pub fn ipn_sink_url(&self) -> String {
        format!("{}/_sandbox/ipn", self.base_url())
    }

    /// The PEM public key verifying the sandbox's signatures (the `public_key` option).
    pub fn public_key_pem(&self) -> &'static str {
        TEST_PUBLIC_KEY_PEM
    }

    /// The options of a `paybox` instance using this sandbox (test mode), subscriptions
    /// and Paybox Direct included.
    pub fn instance_options(&self) -> Vec<(String, String)> {
        let c = &self.state.config;
        vec![
            ("site".into(), c.site.clone()),
            ("rang".into(), c.rang.clone()),
            ("identifiant".into(), c.identifiant.clone()),
            ("hmac_key".into(), c.hmac_key_hex.clone()),
            ("cle".into(), c.cle.clone()),
            ("public_key".into(), TEST_PUBLIC_KEY_PEM.into()),
            ("url".into(), self.system_url()),
            ("direct_url".into(), self.direct_url()),
            ("subscriptions".into(), "true".into()),
        ]
    }

    /// Every IPN sent so far, oldest first.
    pub fn sent_ipns(&self) -> Vec<SentIpn> {
        self.state.sent.lock().expect("lock").clone()
    }

    /// The last IPN sent for `reference` (`PBX_CMD`).
    pub fn last_ipn(&self, reference: &str) -> Option<SentIpn> {
        self.state
            .sent
            .lock()
            .expect("lock")
            .iter()
            .rev()
            .find(|i| i.reference == reference)
            .cloned()
    }

    /// The raw queries received on [`SandboxHandle::ipn_sink_url`], oldest first.
    pub fn received_ipns(&self) -> Vec<String> {
        self.state.received.lock().expect("lock").clone()
    }
}

/// What a payer's visit to the sandbox produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visit {
    /// Where the browser was sent back (with the signed query), if anywhere.
    pub redirect: Option<String>,
    /// The IPN sent, if any (none when the payer cancels).
    pub ipn: Option<SentIpn>,
}

impl SandboxHandle {
    /// Acts as the payer's browser: posts `form` (as built by the acquirer) to the hosted
    /// page over HTTP, then types `card` and pays, or cancels when `card` is `None`.
    ///
    /// # Errors
    /// The page's refusal or an HTTP failure, in words.
    pub async fn visit(&self, form: &bank_core::Form, card: Option<&str>) -> Result<Visit, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let page = http
            .post(&form.action)
            .form(&form.fields)
            .send()
            .await
            .map_err(|e| format!("hosted page: {e}"))?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let session =
            session_of(&page).ok_or_else(|| format!("the sandbox refused the form: {page}"))?;
        let before = self.state.sent.lock().expect("lock").len();
        let answer = match card {
            Some(card) => http.post(format!("{}/php/pay", self.base_url())).form(&[
                ("session", session),
                ("card", card),
                ("expiry", "1229"),
                ("cvv", "123"),
            ]),
            None => http
                .post(format!("{}/php/cancel", self.base_url()))
                .form(&[("session", session)]),
        }
        .send()
        .await
        .map_err(|e| format!("payment page: {e}"))?;
        let redirect = answer
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_string);
        let ipn = self
            .state
            .sent
            .lock()
            .expect("lock")
            .get(before..)
            .and_then(|new| new.last().cloned());
        Ok(Visit { redirect, ipn })
    }
}

/// The value of the hidden `session` field of the payment page.
fn session_of(page: &str) -> Option<&str> {
    let marker = "name=\"session\" value=\"";
    let start = page.find(marker)? + marker.len();
    let len = page[start..].find('"')?;
    Some(&page[start..start + len])
}

async fn load_page() -> Html<&'static str> {
    Html(
        r#"<!DOCTYPE html><html><body><div id="server_status" style="text-align:center;">OK</div></body></html>"#,
    )
}

async fn ipn_sink(
    State(s): State<Arc<SandboxState>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> &'static str {
    let raw = match q {
        Some(q) if !q.is_empty() => q,
        _ => String::from_utf8_lossy(&body).into_owned(),
    };
    s.received.lock().expect("lock").push(raw);
    ""
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Why a form is refused, as Paybox's error page says it.
fn check_form(s: &SandboxState, fields: &[(String, String)]) -> Result<(), String> {
    let Some(((last, mac), rest)) = fields.split_last() else {
        return Err("empty form".into());
    };
    if last != "PBX_HMAC" {
        return Err("PBX_HMAC missing or not last".into());
    }
    let get = |n: &str| rest.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let c = &s.config;
    for (name, want) in [
        ("PBX_SITE", c.site.as_str()),
        ("PBX_RANG", c.rang.as_str()),
        ("PBX_IDENTIFIANT", c.identifiant.as_str()),
    ] {
        if get(name) != Some(want) {
            return Err(format!("unknown merchant: {name}"));
        }
    }
    if get("PBX_HASH") != Some("SHA512") {
        return Err("PBX_HASH must be SHA512 here".into());
    }
    let signed = crate::form::signed_string(rest);
    if !s.hmac.verify_hex(signed.as_bytes(), mac) {
        return Err("HMAC does not match the merchant's key".into());
    }
    for name in [
        "PBX_TOTAL",
        "PBX_DEVISE",
        "PBX_CMD",
        "PBX_PORTEUR",
        "PBX_RETOUR",
        "PBX_TIME",
    ] {
        if get(name).is_none_or(str::is_empty) {
            return Err(format!("{name} missing"));
        }
    }
    let total = get("PBX_TOTAL").unwrap_or_default();
    if total.len() < 3 || !total.bytes().all(|b| b.is_ascii_digit()) {
        return Err("PBX_TOTAL is not an amount in cents (at least 3 digits)".into());
    }
    if get("PBX_DEVISE") != Some("978") {
        return Err("the sandbox takes euros only (PBX_DEVISE=978)".into());
    }
    if !get("PBX_PORTEUR").unwrap_or_default().contains('@') {
        return Err("PBX_PORTEUR is not an e-mail address".into());
    }
    if !get("PBX_RETOUR").unwrap_or_default().ends_with(":K") {
        return Err("PBX_RETOUR must end with the signature (K)".into());
    }
    Ok(())
}

async fn payment_page(State(s): State<Arc<SandboxState>>, body: Bytes) -> Response {
    let fields = form_pairs(&body);
    if let Err(why) = check_form(&s, &fields) {
        tracing::warn!(reason = %why, "paybox sandbox: form refused");
        return page::refused(&why).into_response();
    }
    let id = hex::encode(rand::thread_rng().gen::<[u8; 16]>());
    let session = Session { fields };
    let html = page::payment(&id, &session);
    s.sessions.lock().expect("lock").insert(id, session);
    html.into_response()
}

fn luhn(number: &str) -> bool {
    if number.len() < 12 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = number
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// The result code for a card number typed on the payment page.
pub fn decide(card: &str) -> &'static str {
    let card: String = card.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some((_, code, _)) = TEST_CARDS.iter().find(|(n, _, _)| *n == card) {
        if *code != "00000" {
            return code;
        }
    } else if !luhn(&card) {
        return "00004";
    }
    "00000"
}

/// What a finished payment page says, to be signed.
struct Outcome<'a> {
    code: &'a str,
    card: &'a str,
    expiry: String,
    numtrans: u64,
    numappel: u64,
    handle: Option<String>,
}

const QUERY_SAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b'/');

fn encode(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, QUERY_SAFE).to_string()
}

/// The signed query of a result: the `PBX_RETOUR` variables in order, the signature last.
fn signed_query(s: &SandboxState, session: &Session, o: &Outcome<'_>) -> String {
    let now = chrono::Utc::now();
    let paris = time::paris(now);
    let paid = o.code == "00000";
    let total: i64 = session
        .get("PBX_TOTAL")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let retour = session.get("PBX_RETOUR").unwrap_or_default();
    let mut parts: Vec<String> = Vec::new();
    let mut sig_name = "signature".to_string();
    for item in retour.split(';') {
        let Some((name, letter)) = item.split_once(':') else {
            continue;
        };
        let value = match letter {
            "K" => {
                sig_name = name.to_string();
                continue;
            }
            "M" => total.to_string(),
            "R" => session.get("PBX_CMD").unwrap_or_default().to_string(),
            "T" => o.numappel.to_string(),
            "S" => o.numtrans.to_string(),
            "A" => {
                if paid {
                    "XXXXXX".into()
                } else {
                    String::new()
                }
            }
            "B" => "0".into(),
            "C" => "CB".into(),
            "D" => o.expiry.clone(),
            "E" => o.code.to_string(),
            "F" => "Y".into(),
            "G" => "O".into(),
            "H" => hex::encode_upper(&Sha1::digest(o.card.as_bytes())[..10]),
            "I" | "Y" => "FRA".into(),
            "J" => o
                .card
                .get(o.card.len().saturating_sub(2)..)
                .unwrap_or_default()
                .into(),
            "N" => o.card.get(..6).unwrap_or_default().into(),
            "O" => "Y".into(),
            "P" => "CARTE".into(),
            "Q" => paris.format("%H:%M:%S").to_string(),
            "W" => paris.format("%d%m%Y").to_string(),
            "U" => o
                .handle
                .as_ref()
                .map(|h| format!("{h}  {}  ---", o.expiry))
                .unwrap_or_default(),
            _ => String::new(),
        };
        parts.push(format!("{name}={}", encode(&value)));
    }
    let signed = parts.join("&");
    let signature = s.sign(signed.as_bytes());
    let sig = signature
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    format!("{signed}&{sig_name}={sig}")
}

fn with_query(url: &str, query: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

async fn deliver_ipn(s: &SandboxState, session: &Session, query: &str) {
    let Some(url) = session.get("PBX_REPONDRE_A") else {
        return;
    };
    let full = with_query(url, query);
    let delivery = match s.http.get(&full).send().await {
        Ok(r) => Ok(r.status().as_u16()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = &delivery {
        tracing::warn!(url, error = %e, "paybox sandbox: IPN not delivered");
    }
    s.sent.lock().expect("lock").push(SentIpn {
        reference: session.get("PBX_CMD").unwrap_or_default().to_string(),
        url: full,
        query: query.to_string(),
        delivery,
    });
}

fn take_session(s: &SandboxState, fields: &[(String, String)]) -> Option<Session> {
    let id = fields.iter().find(|(k, _)| k == "session")?.1.clone();
    s.sessions.lock().expect("lock").remove(&id)
}

async fn pay(State(s): State<Arc<SandboxState>>, body: Bytes) -> Response {
    let posted = form_pairs(&body);
    let Some(session) = take_session(&s, &posted) else {
        return page::refused("unknown or finished payment session").into_response();
    };
    let field = |n: &str| {
        posted
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let card: String = field("card")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    // MMYY on the page, YYMM in Paybox's `D`.
    let mmyy = field("expiry");
    let expiry = if mmyy.len() == 4 && mmyy.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}{}", &mmyy[2..], &mmyy[..2])
    } else {
        "2912".into()
    };
    let total: i64 = session
        .get("PBX_TOTAL")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let code = decide(&card);
    let (numtrans, numappel) = s.next_numbers();
    let mut handle = None;
    if code == "00000" {
        let authorised_only = session.get("PBX_AUTOSEULE") == Some("O");
        s.payments.lock().expect("lock").insert(
            numtrans,
            Payment {
                numappel,
                amount: total,
                captured: if authorised_only { 0 } else { total },
                refunded: 0,
                cancelled: false,
            },
        );
        if let Some(refabonne) = session.get("PBX_REFABONNE") {
            let h = format!(
                "SBX{}",
                hex::encode_upper(rand::thread_rng().gen::<[u8; 6]>())
            );
            s.subscribers.lock().expect("lock").insert(
                refabonne.to_string(),
                Card {
                    handle: h.clone(),
                    expiry: expiry.clone(),
                },
            );
            handle = Some(h);
        }
    }
    let outcome = Outcome {
        code,
        card: &card,
        expiry,
        numtrans,
        numappel,
        handle,
    };
    let query = signed_query(&s, &session, &outcome);
    // Paybox calls the IPN URL before sending the browser back.
    deliver_ipn(&s, &session, &query).await;
    let target = if code == "00000" {
        session.get("PBX_EFFECTUE")
    } else {
        session.get("PBX_REFUSE")
    };
    match target {
        Some(url) => Redirect::to(&with_query(url, &query)).into_response(),
        None => page::result(code).into_response(),
    }
}

async fn cancel(State(s): State<Arc<SandboxState>>, body: Bytes) -> Response {
    let posted = form_pairs(&body);
    let Some(session) = take_session(&s, &posted) else {
        return page::refused("unknown or finished payment session").into_response();
    };
    let (numtrans, numappel) = s.next_numbers();
    let outcome = Outcome {
        code: "00001",
        card: "",
        expiry: String::new(),
        numtrans,
        numappel,
        handle: None,
    };
    let query = signed_query(&s, &session, &outcome);
    match session.get("PBX_ANNULE") {
        Some(url) => Redirect::to(&with_query(url, &query)).into_response(),
        None => page::result("00001").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        assert_eq!(decide(CARD_ACCEPTED), "00000");
        assert_eq!(decide("1111 2222 3333 4444"), "00000");
        assert_eq!(decide(CARD_REFUSED), "00105");
        assert_eq!(decide("4000000000009995"), "00151");
        assert_eq!(decide("4970100000000000"), "00004");
        assert_eq!(decide(""), "00004");
        assert!(luhn("4970100000000006"));
        assert_eq!(decide("4970100000000006"), "00000");
    }

    #[test]
    fn query_encoding_matches_paybox_examples() {
        // paybox.md R2/R3: `!` → %21, `:` → %3A, space → %20, `/` kept.
        assert_eq!(encode("1234!20160216"), "1234%2120160216");
        assert_eq!(encode("01:01:01"), "01%3A01%3A01");
        assert_eq!(encode("CMD 42!ORDER/1"), "CMD%2042%21ORDER/1");
    }
}

impl bank_core::Sandbox for SandboxHandle {
    fn hint(&self) -> Option<String> {
        Some("a local Paybox; card 1111 2222 3333 4444 pays, 4000 0000 0000 0002 is refused".into())
    }

    fn instance_options(&self) -> Vec<(String, String)> {
        let mut o = SandboxHandle::instance_options(self);
        o.push(("default_email".into(), "payer@example.org".into()));
        o
    }
}

// The demo's Paybox: its IPN goes where each form says (our notify endpoint).
bank_core::inventory::submit! {
    bank_core::SandboxFactory {
        provider: crate::acquirer::PROVIDER,
        instance: "paybox",
        order: 7,
        start: |ctx| Box::pin(async move {
            let handle = Sandbox::spawn(SandboxConfig::default())
                .map_err(|e| e.into_core(&ctx.instance))?;
            Ok(Box::new(handle) as Box<dyn bank_core::Sandbox>)
        }),
    }
}
