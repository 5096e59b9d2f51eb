//! The TCP client: one connection per exchange, one write per request, an incremental
//! read under an overall deadline (caisse-ap.md §5 and §11).
//!
//! The terminal is the TCP server. The point of sale connects, writes the whole request
//! in one write (the simulator reads each TCP segment on its own; nothing may follow it,
//! not even CR/LF), then waits, without any acknowledgement, while the cardholder inserts
//! the card, types the PIN and the bank answers: up to 180 s by default. The answer has
//! no terminator: it is taken as whole once its bytes split into whole fields including
//! an `AE`, and either the terminal closes the connection or a short drain window passes
//! with nothing more (a read split on a field boundary looks complete too early). The
//! size of an answer is capped.
//!
//! Only one exchange runs at a time on one terminal ([`TerminalClient::try_lock`]): the
//! lock is shared by every client of the same `host:port` in the process, so a card and
//! a cheque instance on the same terminal, a charge and a refund, or two cashiers, can
//! never overlap. A second exchange is refused with [`CaisseApError::Busy`], not queued.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio::time::timeout_at;

use crate::codec::{escape, Scan, Scanner};
use crate::error::CaisseApError;
use crate::protocol::{
    redact_answer, validate_answer, AnswerVerdict, Approval, Decline, PaymentMethod, Request,
    RequestHeader, UnknownCause,
};

/// The default overall deadline of an exchange (the published clients wait 180 s).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(180);
/// The default time allowed to open the connection (within the deadline).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default drain window after an answer parses whole.
pub const DEFAULT_DRAIN: Duration = Duration::from_millis(300);
/// The default size cap of an answer.
pub const DEFAULT_MAX_ANSWER: usize = 64 * 1024;
/// The terminal's usual port (Ingenico).
pub const DEFAULT_PORT: u16 = 8888;

/// How to reach one terminal and what to send it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalConfig {
    /// Host name or IP address of the terminal.
    pub host: String,
    /// TCP port (8888 on Ingenico terminals).
    pub port: u16,
    /// The header of every request (protocol version, POS identifiers).
    pub header: RequestHeader,
    /// Card or cheque, for payments through this link.
    pub method: PaymentMethod,
    /// The overall deadline of an exchange, connection included.
    pub deadline: Duration,
    /// The time allowed to open the connection (capped by the deadline).
    pub connect_timeout: Duration,
    /// How long to wait for more bytes once the answer parses whole.
    pub drain: Duration,
    /// The size cap of an answer, in bytes.
    pub max_answer: usize,
}

impl TerminalConfig {
    /// A link to `host:port` with the defaults: POS `01`, card, 180 s.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        TerminalConfig {
            host: host.into(),
            port,
            header: RequestHeader::default(),
            method: PaymentMethod::Card,
            deadline: DEFAULT_DEADLINE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            drain: DEFAULT_DRAIN,
            max_answer: DEFAULT_MAX_ANSWER,
        }
    }

    /// `host:port`.
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`CaisseApError::InvalidSetting`] naming the setting.
    pub fn check(&self) -> Result<(), CaisseApError> {
        let bad = |setting: &'static str, value: String, reason: &str| {
            Err(CaisseApError::InvalidSetting {
                setting,
                value,
                reason: reason.to_string(),
            })
        };
        if self.host.trim().is_empty() {
            return bad("host", self.host.clone(), "empty");
        }
        if self.port == 0 {
            return bad("port", "0".into(), "1 to 65535");
        }
        if self.deadline.is_zero() {
            return bad(
                "deadline",
                format!("{:?}", self.deadline),
                "must be positive",
            );
        }
        if self.connect_timeout.is_zero() {
            return bad(
                "connect_timeout",
                format!("{:?}", self.connect_timeout),
                "must be positive",
            );
        }
        if self.max_answer < 16 {
            return bad(
                "max_answer",
                self.max_answer.to_string(),
                "at least 16 bytes",
            );
        }
        self.header.check()
    }
}

/// What an exchange came to.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ExchangeOutcome {
    /// The terminal approved.
    Approved(Approval),
    /// The terminal refused (or the cashier cancelled on it).
    Declined(Decline),
    /// The connection could not be opened: nothing was sent, nothing was charged.
    Unreachable {
        /// Why.
        reason: String,
    },
    /// The request was sent and no valid answer came back: the card may or may not have
    /// been charged. Never retry automatically; ask the cashier what the terminal printed.
    Unknown(UnknownCause),
}

impl ExchangeOutcome {
    /// `approved`, `declined`, `unreachable` or `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ExchangeOutcome::Approved(_) => "approved",
            ExchangeOutcome::Declined(_) => "declined",
            ExchangeOutcome::Unreachable { .. } => "unreachable",
            ExchangeOutcome::Unknown(_) => "unknown",
        }
    }
}

/// One request and its answer, as evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// `host:port`.
    pub terminal: String,
    /// The bytes written.
    pub sent: Vec<u8>,
    /// The bytes received, card numbers masked ([`redact_answer`]).
    pub received: Vec<u8>,
    /// What it came to.
    pub outcome: ExchangeOutcome,
    /// From connect to the end of the answer.
    pub elapsed: Duration,
}

impl Exchange {
    /// The exchange as JSON evidence: frames as text (bytes outside printable ASCII as
    /// `\xNN`), outcome, timing. No card number beyond the masked one.
    pub fn evidence(&self) -> serde_json::Value {
        serde_json::json!({
            "terminal": self.terminal,
            "sent": escape(&self.sent),
            "received": escape(&self.received),
            "result": self.outcome.as_str(),
            "outcome": self.outcome,
            "elapsed_ms": u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX),
        })
    }
}

type Locks = StdMutex<HashMap<String, Arc<Mutex<()>>>>;

fn terminal_lock(endpoint: &str) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Locks> = OnceLock::new();
    let locks = LOCKS.get_or_init(Locks::default);
    // A poisoned map still holds valid locks.
    let mut map = locks
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.entry(endpoint.to_ascii_lowercase())
        .or_insert_with(|| Arc::new(Mutex::new(())))
        .clone()
}

/// A client of one terminal.
#[derive(Clone, Debug)]
pub struct TerminalClient {
    config: TerminalConfig,
    lock: Arc<Mutex<()>>,
}

/// The right to run exchanges on a terminal, held by one caller at a time.
#[derive(Debug)]
pub struct TerminalSession<'a> {
    client: &'a TerminalClient,
    _guard: OwnedMutexGuard<()>,
}

impl TerminalClient {
    /// A client for `config`.
    ///
    /// # Errors
    /// [`CaisseApError::InvalidSetting`].
    pub fn new(config: TerminalConfig) -> Result<Self, CaisseApError> {
        config.check()?;
        let lock = terminal_lock(&config.endpoint());
        Ok(TerminalClient { config, lock })
    }

    /// The settings.
    pub fn config(&self) -> &TerminalConfig {
        &self.config
    }

    /// Takes the terminal for a series of exchanges.
    ///
    /// # Errors
    /// [`CaisseApError::Busy`] when another exchange holds it.
    pub fn try_lock(&self) -> Result<TerminalSession<'_>, CaisseApError> {
        let guard = self
            .lock
            .clone()
            .try_lock_owned()
            .map_err(|_| CaisseApError::Busy {
                terminal: self.config.endpoint(),
            })?;
        Ok(TerminalSession {
            client: self,
            _guard: guard,
        })
    }

    /// Takes the terminal and runs one exchange.
    ///
    /// # Errors
    /// [`CaisseApError::Busy`]: nothing was sent.
    pub async fn exchange(&self, request: &Request) -> Result<Exchange, CaisseApError> {
        let session = self.try_lock()?;
        Ok(session.exchange(request).await)
    }
}

impl TerminalSession<'_> {
    /// Runs one exchange: connect, write the request once, read the answer, close. Never
    /// fails: every failure is an outcome ([`ExchangeOutcome::Unreachable`] before
    /// anything was sent, [`ExchangeOutcome::Unknown`] after).
    pub async fn exchange(&self, request: &Request) -> Exchange {
        let cfg = &self.client.config;
        let terminal = cfg.endpoint();
        let sent = request.encode();
        let start = Instant::now();
        let deadline = tokio::time::Instant::now() + cfg.deadline;
        tracing::info!(
            terminal = %terminal,
            amount = %request.amount(),
            action = request.action().as_str(),
            method = request.method().as_str(),
            "terminal exchange: connecting"
        );
        let (received, outcome) = run(cfg, request, &sent, deadline).await;
        let elapsed = start.elapsed();
        let received = redact_answer(&received);
        tracing::debug!(
            terminal = %terminal,
            sent = %escape(&sent),
            received = %escape(&received),
            result = outcome.as_str(),
            "terminal exchange"
        );
        match &outcome {
            ExchangeOutcome::Approved(a) => {
                tracing::info!(terminal = %terminal, authorisation = ?a.authorisation, elapsed_ms = elapsed.as_millis() as u64, "terminal approved")
            }
            ExchangeOutcome::Declined(d) => {
                tracing::info!(terminal = %terminal, code = ?d.code, reason = %d.reason, "terminal declined")
            }
            ExchangeOutcome::Unreachable { reason } => {
                tracing::warn!(terminal = %terminal, %reason, "terminal unreachable: nothing sent")
            }
            ExchangeOutcome::Unknown(cause) => {
                tracing::warn!(terminal = %terminal, %cause, received = %escape(&received), "terminal outcome unknown: ask the cashier")
            }
        }
        Exchange {
            terminal,
            sent,
            received,
            outcome,
            elapsed,
        }
    }
}

async fn run(
    cfg: &TerminalConfig,
    request: &Request,
    sent: &[u8],
    deadline: tokio::time::Instant,
) -> (Vec<u8>, ExchangeOutcome) {
    let unknown = |buf: Vec<u8>, cause| (buf, ExchangeOutcome::Unknown(cause));
    let connect_by = deadline.min(tokio::time::Instant::now() + cfg.connect_timeout);
    let mut stream = match timeout_at(
        connect_by,
        TcpStream::connect((cfg.host.as_str(), cfg.port)),
    )
    .await
    {
        Err(_) => {
            return (
                Vec::new(),
                ExchangeOutcome::Unreachable {
                    reason: format!(
                        "no connection to {} within {:.1} s",
                        cfg.endpoint(),
                        cfg.connect_timeout.min(cfg.deadline).as_secs_f64()
                    ),
                },
            )
        }
        Ok(Err(e)) => {
            return (
                Vec::new(),
                ExchangeOutcome::Unreachable {
                    reason: format!("cannot connect to {}: {e}", cfg.endpoint()),
                },
            )
        }
        Ok(Ok(s)) => s,
    };
    // Small frame, sent at once: no Nagle delay, one segment.
    let _ = stream.set_nodelay(true);
    match timeout_at(deadline, stream.write_all(sent)).await {
        Err(_) => {
            return unknown(
                Vec::new(),
                UnknownCause::Timeout {
                    waited_ms: cfg.deadline.as_millis() as u64,
                    received: 0,
                },
            )
        }
        Ok(Err(e)) => {
            return unknown(
                Vec::new(),
                UnknownCause::Io {
                    error: format!("while sending: {e}"),
                },
            )
        }
        Ok(Ok(())) => {}
    }
    let started = tokio::time::Instant::now();
    let mut buf: Vec<u8> = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    let mut scanner = Scanner::new();
    // Bounded: every round either adds at least one byte (capped by `max_answer`) or ends.
    loop {
        let whole = match scanner.scan(&buf) {
            Scan::Invalid(e) => {
                return unknown(
                    buf,
                    UnknownCause::Garbage {
                        error: e.to_string(),
                    },
                )
            }
            Scan::Complete {
                has_status: true, ..
            } => true,
            _ => false,
        };
        let wait_until = if whole {
            deadline.min(tokio::time::Instant::now() + cfg.drain)
        } else {
            deadline
        };
        match timeout_at(wait_until, stream.read(&mut chunk)).await {
            Err(_) if whole => break,
            Err(_) => {
                let received = buf.len();
                return unknown(
                    buf,
                    UnknownCause::Timeout {
                        waited_ms: started.elapsed().as_millis() as u64,
                        received,
                    },
                );
            }
            Ok(Ok(0)) if whole => break,
            Ok(Ok(0)) => {
                let received = buf.len();
                return unknown(buf, UnknownCause::Closed { received });
            }
            Ok(Ok(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > cfg.max_answer {
                    return unknown(
                        buf,
                        UnknownCause::Oversized {
                            limit: cfg.max_answer,
                        },
                    );
                }
            }
            // A reset after a whole answer does not undo the answer.
            Ok(Err(_)) if whole => break,
            Ok(Err(e)) => {
                return unknown(
                    buf,
                    UnknownCause::Io {
                        error: format!("while reading: {e}"),
                    },
                )
            }
        }
    }
    // The simulator never closes: we do.
    let _ = stream.shutdown().await;
    drop(stream);
    let outcome = match validate_answer(request, &buf) {
        AnswerVerdict::Approved(a) => ExchangeOutcome::Approved(a),
        AnswerVerdict::Declined(d) => ExchangeOutcome::Declined(d),
        AnswerVerdict::Unknown(c) => ExchangeOutcome::Unknown(c),
    };
    (buf, outcome)
}
