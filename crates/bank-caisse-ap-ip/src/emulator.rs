//! A Caisse-AP terminal emulator on 127.0.0.1 (feature `sandbox`), for people without a
//! terminal and for the tests.
//!
//! It answers each request after a delay, approving or declining by option or by amount,
//! and can reproduce each quirk of real terminals and of the published simulator
//! (caisse-ap.md §8), so the client's robustness is tested against each:
//!
//! | quirk (caisse-ap.md)                 | setting                                  |
//! |--------------------------------------|------------------------------------------|
//! | R2 zero-padded `CB` in the answer    | [`Quirks::zero_padded_amount`]           |
//! | R3 no `CB` when cancelled            | [`Quirks::omit_amount_on_failure`]       |
//! | R6 another `CZ` in the answer        | [`Quirks::answer_version`]               |
//! | simulator never closes               | [`Quirks::keep_open`]                    |
//! | answer split over several writes    | [`Quirks::split_answer`]                 |
//! | Q1 `AE=10` with `AF=09`              | [`Quirks::contradictory_format_error`]   |
//! | §5.2 immediate acknowledgement only  | [`Misbehaviour::ImmediateAck`]           |
//! | silent, closing early, garbage…      | [`Misbehaviour`]                         |
//!
//! With [`Decision::ByAmount`] the last two digits of the amount in minor units decide
//! ([`AMOUNT_RULES`]): `…51` refused, `…52` cancelled on the terminal, `…53` time-out,
//! `…54` forbidden, `…55` abandoned by the cardholder, `…99` never answers; anything
//! else is approved. A cheque fails with `04` whatever the reason (R5).
//!
//! The emulator only listens on the loopback interface (the simulator listens on all,
//! Q5) and runs one transaction at a time, like a terminal.
//!
//! Its answers are ours, written from the protocol notes; no code of the GPL simulator.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Mutex, Notify};
use tokio::task::JoinHandle;

use crate::codec::{Frame, Scan, Scanner, Tag};
use crate::error::CaisseApError;

/// What the emulator decides for a well-formed request.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Decision {
    /// Approve everything.
    Approve,
    /// Decline everything with this `AF` code.
    Decline(String),
    /// By the last two digits of the amount ([`AMOUNT_RULES`]).
    #[default]
    ByAmount,
}

/// What the last two digits of an amount (in minor units) do under [`Decision::ByAmount`].
pub const AMOUNT_RULES: [(i64, &str); 6] = [
    (51, "declined 04: refused"),
    (52, "declined 11: cancelled on the terminal (red key)"),
    (53, "declined 08: input time-out"),
    (54, "declined 05: forbidden"),
    (55, "declined 06: abandoned by the cardholder"),
    (99, "never answers"),
];

/// A way to break the protocol, for robustness tests.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misbehaviour {
    /// Never answers and never closes.
    Silent,
    /// Closes the connection after the delay without answering.
    CloseWithoutAnswer,
    /// Sends these bytes instead of the answer.
    Raw(Vec<u8>),
    /// Answers at once with `AE=11` (request taken into account) and nothing else.
    ImmediateAck,
    /// Sends the first half of the answer, then closes.
    Truncated,
    /// Sends this many bytes of well-formed fields (unknown tag `XX`) after the answer.
    Oversized(usize),
}

/// Quirks of real terminals and of the simulator (caisse-ap.md §8).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Quirks {
    /// R2: `CB` zero-padded to 12 digits in the answer.
    pub zero_padded_amount: bool,
    /// R3: no `CB` in a failure answer (a Desk/5000 on a red-key cancel; here on every
    /// refusal).
    pub omit_amount_on_failure: bool,
    /// The simulator's way: never close the connection (and take further requests on it).
    pub keep_open: bool,
    /// The answer in chunks of this many bytes, with this pause between them.
    pub split_answer: Option<(usize, Duration)>,
    /// R6: answer with this `CZ` instead of the request's.
    pub answer_version: Option<String>,
    /// Q1: a request missing a mandatory field gets `AE=10` with `AF=09`, at once.
    pub contradictory_format_error: bool,
    /// Break the protocol.
    pub misbehaviour: Option<Misbehaviour>,
}

impl Quirks {
    /// What an Ingenico Desk/5000 does: zero-padded `CB`, no `CB` on cancel.
    pub fn real_terminal() -> Self {
        Quirks {
            zero_padded_amount: true,
            omit_amount_on_failure: true,
            ..Quirks::default()
        }
    }

    /// What the published simulator does: never closes, Q1 on malformed requests.
    pub fn simulator() -> Self {
        Quirks {
            keep_open: true,
            contradictory_format_error: true,
            ..Quirks::default()
        }
    }
}

/// The emulator's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulatorConfig {
    /// Time the "cardholder" takes before the answer.
    pub delay: Duration,
    /// Approve or decline.
    pub decision: Decision,
    /// Quirks to reproduce.
    pub quirks: Quirks,
    /// Currencies accepted (ISO numeric); others get `AF=13`.
    pub currencies: Vec<u16>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            delay: Duration::from_millis(50),
            decision: Decision::ByAmount,
            quirks: Quirks::default(),
            currencies: vec![978, 953],
        }
    }
}

/// One request the emulator received and what it answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulatedExchange {
    /// The request bytes.
    pub request: Vec<u8>,
    /// How many reads the request took (1 when the client wrote it at once).
    pub reads: usize,
    /// The answer sent, if any.
    pub answer: Option<Vec<u8>>,
    /// The exchange is over (answered, or ended without answer).
    pub finished: bool,
}

#[derive(Debug, Default)]
struct Log {
    exchanges: StdMutex<Vec<EmulatedExchange>>,
    changed: Notify,
}

impl Log {
    /// Logs a request as soon as it is read; returns its index.
    fn begin(&self, request: Vec<u8>, reads: usize) -> usize {
        let mut all = self
            .exchanges
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        all.push(EmulatedExchange {
            request,
            reads,
            answer: None,
            finished: false,
        });
        let n = all.len() - 1;
        drop(all);
        self.changed.notify_waiters();
        n
    }

    /// Records the end of exchange `n`, with its answer if any.
    fn finish(&self, n: usize, answer: Option<Vec<u8>>) {
        if let Some(e) = self
            .exchanges
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(n)
        {
            e.answer = answer;
            e.finished = true;
        }
        self.changed.notify_waiters();
    }

    fn all(&self) -> Vec<EmulatedExchange> {
        self.exchanges
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// A running emulator. Dropping it stops it.
#[derive(Debug)]
pub struct EmulatorHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    log: Arc<Log>,
}

/// Largest request accepted.
const MAX_REQUEST: usize = 16 * 1024;
/// Wait for more bytes once a request parses whole.
const REQUEST_DRAIN: Duration = Duration::from_millis(20);

/// Starts an emulator on 127.0.0.1 with a free port.
///
/// # Errors
/// [`CaisseApError::Bind`].
pub async fn start(config: EmulatorConfig) -> Result<EmulatorHandle, CaisseApError> {
    start_on(0, config).await
}

/// Starts an emulator on 127.0.0.1:`port` (0: a free port).
///
/// # Errors
/// [`CaisseApError::Bind`].
pub async fn start_on(port: u16, config: EmulatorConfig) -> Result<EmulatorHandle, CaisseApError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| CaisseApError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| CaisseApError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let (stop, stopped) = watch::channel(false);
    let log = Arc::new(Log::default());
    let shared = Arc::new(Shared {
        config,
        log: log.clone(),
        one_at_a_time: Mutex::new(0),
    });
    tracing::info!(%addr, "caisse-ap terminal emulator listening");
    let task = tokio::spawn(accept_loop(listener, shared, stopped));
    Ok(EmulatorHandle {
        addr,
        stop,
        task: Some(task),
        log,
    })
}

impl EmulatorHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request received so far, with its answer.
    pub fn exchanges(&self) -> Vec<EmulatedExchange> {
        self.log.all()
    }

    /// Waits until at least `n` requests were received, or `timeout` passes.
    pub async fn wait_for_exchanges(&self, n: usize, timeout: Duration) -> Vec<EmulatedExchange> {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.log.changed.notified();
            let all = self.log.all();
            if all.len() >= n {
                return all;
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return self.log.all();
            }
        }
    }

    /// Waits for a new exchange to be logged, or `timeout`.
    pub async fn changed(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.log.changed.notified()).await;
    }

    /// Stops listening and closes every connection.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[derive(Debug)]
struct Shared {
    config: EmulatorConfig,
    log: Arc<Log>,
    /// One transaction at a time; counts the authorisations given.
    one_at_a_time: Mutex<u32>,
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "emulator: connection");
                    let shared = shared.clone();
                    let stopped = stopped.clone();
                    tokio::spawn(async move {
                        connection(stream, shared, stopped).await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "emulator: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// Runs `fut` unless the emulator stops first.
async fn or_stop<T>(
    stopped: &mut watch::Receiver<bool>,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    if *stopped.borrow() {
        return None;
    }
    tokio::select! {
        _ = stopped.changed() => None,
        v = fut => Some(v),
    }
}

async fn connection(
    mut stream: TcpStream,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let q = &shared.config.quirks;
    // One request per round; a closed or stopped connection ends the loop.
    loop {
        let Some((request, reads)) = read_request(&mut stream, &mut stopped).await else {
            return;
        };
        let silent_amount = matches!(shared.config.decision, Decision::ByAmount)
            && amount_of(&request).is_some_and(|m| m % 100 == 99);
        let at = shared.log.begin(request.clone(), reads);
        // Whatever happens next, the exchange is marked finished when this guard drops.
        let mut done = Finish {
            log: &shared.log,
            at,
            answer: None,
        };
        if matches!(q.misbehaviour, Some(Misbehaviour::Silent)) || silent_amount {
            // Hold the connection open, reading and dropping, until the peer or we stop.
            let mut sink = [0u8; 1024];
            while let Some(Ok(n)) = or_stop(&mut stopped, stream.read(&mut sink)).await {
                if n == 0 {
                    break;
                }
            }
            return;
        }
        // One transaction at a time, like a terminal: a second connection waits here.
        let answer = {
            let mut count = shared.one_at_a_time.lock().await;
            *count += 1;
            let (answer, immediate) = answer_for(&shared.config, &request, *count);
            if !immediate
                && or_stop(&mut stopped, tokio::time::sleep(shared.config.delay))
                    .await
                    .is_none()
            {
                return;
            }
            answer
        };
        let answer = match &q.misbehaviour {
            Some(Misbehaviour::CloseWithoutAnswer) => return,
            Some(Misbehaviour::Raw(bytes)) => bytes.clone(),
            Some(Misbehaviour::Truncated) => answer[..answer.len() / 2].to_vec(),
            Some(Misbehaviour::Oversized(n)) => {
                let mut a = answer;
                let filler = format!("XX999{}", "9".repeat(999));
                while a.len() < *n {
                    a.extend_from_slice(filler.as_bytes());
                }
                a
            }
            _ => answer,
        };
        // Logged before it is written: whoever reads the answer finds it in the log.
        done.answer = Some(answer.clone());
        drop(done);
        let written = match q.split_answer {
            Some((size, pause)) => {
                let mut ok = true;
                for (i, part) in answer.chunks(size.max(1)).enumerate() {
                    if i > 0
                        && or_stop(&mut stopped, tokio::time::sleep(pause))
                            .await
                            .is_none()
                    {
                        return;
                    }
                    if stream.write_all(part).await.is_err() {
                        ok = false;
                        break;
                    }
                }
                ok
            }
            None => stream.write_all(&answer).await.is_ok(),
        };
        if !written || matches!(q.misbehaviour, Some(Misbehaviour::Truncated)) {
            return;
        }
        if !q.keep_open {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// Marks an exchange finished when dropped.
struct Finish<'a> {
    log: &'a Log,
    at: usize,
    answer: Option<Vec<u8>>,
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.log.finish(self.at, self.answer.take());
    }
}

/// Reads one request: until it parses whole and nothing follows for a moment. `None` on
/// close, garbage (the simulator drops such connections without answer), or stop.
async fn read_request(
    stream: &mut TcpStream,
    stopped: &mut watch::Receiver<bool>,
) -> Option<(Vec<u8>, usize)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    let mut scanner = Scanner::new();
    let mut reads = 0;
    // Bounded by MAX_REQUEST bytes: each round reads at least one byte or ends.
    loop {
        let whole = match scanner.scan(&buf) {
            Scan::Invalid(e) => {
                tracing::info!(error = %e, "emulator: garbage request, connection dropped");
                return None;
            }
            Scan::Complete { .. } => true,
            _ => false,
        };
        let read = if whole {
            match or_stop(
                stopped,
                tokio::time::timeout(REQUEST_DRAIN, stream.read(&mut chunk)),
            )
            .await?
            {
                Err(_) => return Some((buf, reads)),
                Ok(r) => r,
            }
        } else {
            or_stop(stopped, stream.read(&mut chunk)).await?
        };
        match read {
            Ok(0) if whole => return Some((buf, reads)),
            Ok(0) | Err(_) => return None,
            Ok(n) => {
                reads += 1;
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_REQUEST {
                    return None;
                }
            }
        }
    }
}

fn amount_of(request: &[u8]) -> Option<i64> {
    let f = Frame::decode(request).ok()?;
    let cb = f.get(Tag::CB)?;
    if cb.is_empty() || cb.len() > 12 || !cb.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    cb.parse().ok()
}

/// The answer to `request`, and whether it is immediate (no delay).
fn answer_for(config: &EmulatorConfig, request: &[u8], count: u32) -> (Vec<u8>, bool) {
    let q = &config.quirks;
    let Ok(req) = Frame::decode(request) else {
        return (b"CZ0040300AE00201AF00209".to_vec(), true);
    };
    let version = q
        .answer_version
        .clone()
        .unwrap_or_else(|| req.version().unwrap_or("0300").to_string());
    let mut out = Frame::new(version);
    if matches!(q.misbehaviour, Some(Misbehaviour::ImmediateAck)) {
        echo(&req, &mut out, q, false);
        out.push(Tag::AE, "11");
        return (encode(&out), true);
    }
    let cheque = req.get(Tag::CC) == Some("00C");
    let missing = [Tag::CJ, Tag::CA, Tag::CB, Tag::CD, Tag::CE]
        .into_iter()
        .any(|t| req.get(t).is_none());
    let bad_amount = amount_of(request).is_none_or(|m| m == 0);
    let failure: Option<&str> = if missing || bad_amount {
        if q.contradictory_format_error {
            echo(&req, &mut out, q, false);
            out.push(Tag::AE, "10");
            out.push(Tag::AF, "09");
            return (encode(&out), true);
        }
        Some("09")
    } else if !matches!(req.get(Tag::CD), Some("0" | "1")) {
        Some("12")
    } else if !req
        .get(Tag::CE)
        .and_then(|c| c.parse::<u16>().ok())
        .is_some_and(|c| config.currencies.contains(&c))
    {
        Some("13")
    } else {
        match &config.decision {
            Decision::Approve => None,
            Decision::Decline(code) => Some(code.as_str()),
            Decision::ByAmount => match amount_of(request).map(|m| m % 100) {
                Some(51) => Some("04"),
                Some(52) => Some("11"),
                Some(53) => Some("08"),
                Some(54) => Some("05"),
                Some(55) => Some("06"),
                _ => None,
            },
        }
    };
    match failure {
        Some(code) => {
            echo(&req, &mut out, q, q.omit_amount_on_failure);
            out.push(Tag::AE, "01");
            // R5: a cheque fails with 04 whatever happened.
            out.push(Tag::AF, if cheque { "04" } else { code }.to_string());
            (encode(&out), missing || bad_amount)
        }
        None => {
            echo(&req, &mut out, q, false);
            out.push(Tag::AE, "10");
            if !cheque {
                out.push(Tag::CC, "001")
                    .push(Tag::CI, "1")
                    .push(Tag::AC, format!("{:06}", 100_000 + count % 900_000))
                    .push(Tag::AA, "497010######0014")
                    .push(Tag::AI, "A0000000421010")
                    .push(Tag::AB, "2812")
                    .push(Tag::CG, "1234567");
            }
            (encode(&out), false)
        }
    }
}

/// Echoes every request field but `CZ` (Q8), `CB` padded (R2) or left out (R3).
fn echo<'a>(req: &Frame<'a>, out: &mut Frame<'a>, q: &Quirks, omit_amount: bool) {
    for f in req.fields().iter().skip(1) {
        if f.tag == Tag::CZ {
            continue;
        }
        if f.tag == Tag::CB {
            if omit_amount {
                continue;
            }
            if q.zero_padded_amount {
                out.push(Tag::CB, format!("{:0>12}", f.value));
                continue;
            }
        }
        out.push(f.tag, f.value.clone());
    }
}

fn encode(f: &Frame<'_>) -> Vec<u8> {
    // A request may repeat a tag; the echo repeats it too, written as is.
    let mut out = Vec::with_capacity(f.encoded_len());
    for field in f.fields() {
        out.extend_from_slice(&field.tag.bytes());
        out.extend_from_slice(format!("{:03}", field.value.len().min(999)).as_bytes());
        out.extend_from_slice(field.value.as_bytes());
    }
    out
}

impl bank_core::Sandbox for EmulatorHandle {
    fn hint(&self) -> Option<String> {
        Some("an emulated terminal on 127.0.0.1; amounts ending in 51 are refused, 52 cancelled, 53 time out".into())
    }

    fn instance_options(&self) -> Vec<(String, String)> {
        vec![
            ("host".into(), "127.0.0.1".into()),
            ("port".into(), self.port().to_string()),
        ]
    }
}

// The demo's counter terminal: an emulator on loopback.
bank_core::inventory::submit! {
    bank_core::SandboxFactory {
        provider: crate::acquirer::PROVIDER,
        instance: "comptoir",
        order: 5,
        start: |_| Box::pin(async move {
            let handle = start(EmulatorConfig::default())
                .await
                .map_err(|e| bank_core::Error::Config {
                    file: "<sandbox>".into(),
                    key: "comptoir".into(),
                    reason: e.to_string(),
                })?;
            Ok(Box::new(handle) as Box<dyn bank_core::Sandbox>)
        }),
    }
}
