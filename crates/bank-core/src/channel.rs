//! What a provider brings besides its acquirer, registered like its factory (`inventory`),
//! so that the service, `bank serve` and the tests iterate over what is linked instead of
//! naming providers:
//!
//! - [`TerminalFactory`]: a counter terminal's channel. A browser cannot open the raw TCP
//!   link a terminal speaks, so the point of sale asks the server, which reaches the
//!   terminal through a [`TerminalPort`];
//! - [`SandboxFactory`]: the provider's local stand-in for demos and tests (a hosted
//!   provider's emulator on loopback, or just test options for an offline means), with the
//!   instance options that reach it.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::config::{Config, Env};
use crate::engine::Engine;
use crate::error::Error;

/// A refusal of a terminal operation, with the HTTP status the service answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TerminalRefusal {
    /// HTTP status (404 unknown terminal, 409 busy, not payable or nothing to resolve, 422
    /// refused input, 503 our failure).
    pub status: u16,
    /// In words.
    pub message: String,
}

/// The point of sale's view of the counter terminals: charge a transaction, record what
/// the cashier read after an unknown outcome.
#[async_trait::async_trait]
pub trait TerminalPort: Send + Sync + Debug {
    /// The terminal instances this port serves.
    fn instances(&self) -> Vec<String>;
    /// Charges `reference` on the terminal `instance`; the JSON report for the POS.
    async fn charge(
        &self,
        instance: &str,
        reference: &str,
    ) -> Result<serde_json::Value, TerminalRefusal>;
    /// Settles an unknown outcome from the cashier's word (`body` as posted); `staff` is
    /// the authenticated principal (`api:<token name>`, `admin:<user>`).
    async fn resolve(
        &self,
        instance: &str,
        body: &serde_json::Value,
        staff: &str,
    ) -> Result<serde_json::Value, TerminalRefusal>;
}

/// Builds the terminal port of a provider for the instances of `config`, or `None` when
/// the configuration has none of its instances.
pub type TerminalBuildFn =
    fn(Arc<Engine>, &Config, &dyn Env) -> Result<Option<Arc<dyn TerminalPort>>, Error>;

/// What a terminal provider submits to `inventory`.
#[derive(Debug)]
pub struct TerminalFactory {
    /// The provider name.
    pub provider: &'static str,
    /// Builds its port.
    pub build: TerminalBuildFn,
}

inventory::collect!(TerminalFactory);

/// Every terminal port of `config`, one per terminal provider with instances there,
/// behind one port that routes by instance; `None` without any.
///
/// # Errors
/// A provider's configuration error.
pub fn terminal_ports(
    engine: &Arc<Engine>,
    config: &Config,
    env: &dyn Env,
) -> Result<Option<Arc<dyn TerminalPort>>, Error> {
    let mut ports = Vec::new();
    for f in inventory::iter::<TerminalFactory> {
        if let Some(p) = (f.build)(engine.clone(), config, env)? {
            ports.push(p);
        }
    }
    Ok(match ports.len() {
        0 => None,
        1 => ports.pop(),
        _ => Some(Arc::new(Ports(ports))),
    })
}

#[derive(Debug)]
struct Ports(Vec<Arc<dyn TerminalPort>>);

impl Ports {
    fn of(&self, instance: &str) -> Result<&Arc<dyn TerminalPort>, TerminalRefusal> {
        self.0
            .iter()
            .find(|p| p.instances().iter().any(|i| i == instance))
            .ok_or_else(|| TerminalRefusal {
                status: 404,
                message: format!("{instance} is not a terminal instance"),
            })
    }
}

#[async_trait::async_trait]
impl TerminalPort for Ports {
    fn instances(&self) -> Vec<String> {
        self.0.iter().flat_map(|p| p.instances()).collect()
    }
    async fn charge(
        &self,
        instance: &str,
        reference: &str,
    ) -> Result<serde_json::Value, TerminalRefusal> {
        self.of(instance)?.charge(instance, reference).await
    }
    async fn resolve(
        &self,
        instance: &str,
        body: &serde_json::Value,
        staff: &str,
    ) -> Result<serde_json::Value, TerminalRefusal> {
        self.of(instance)?.resolve(instance, body, staff).await
    }
}

/// A running local stand-in of a provider. Dropping it stops it.
pub trait Sandbox: Send + Sync + Debug {
    /// The options of a test instance that uses it (its URLs, its keys).
    fn instance_options(&self) -> Vec<(String, String)>;
    /// One line for a person trying it (test cards, what an amount does).
    fn hint(&self) -> Option<String> {
        None
    }
}

/// Where a sandbox runs and whom it talks to.
#[derive(Clone, Debug)]
pub struct SandboxContext {
    /// The instance id it will serve.
    pub instance: String,
    /// Our own base URL (`http://127.0.0.1:8080`): where a provider that notifies posts
    /// (`<base_url>/bank/<instance>/notify`).
    pub base_url: String,
}

/// A future that starts a sandbox.
pub type SandboxStart =
    Pin<Box<dyn Future<Output = Result<Box<dyn Sandbox>, Error>> + Send + 'static>>;

/// What a provider submits to `inventory` for demos and tests: its local stand-in.
#[derive(Debug)]
pub struct SandboxFactory {
    /// The provider name.
    pub provider: &'static str,
    /// The id of the demo's instance (`bank serve` with no configuration).
    pub instance: &'static str,
    /// Its place on the demo's payment page.
    pub order: i32,
    /// Starts it on the current tokio runtime (loopback only).
    pub start: fn(SandboxContext) -> SandboxStart,
}

inventory::collect!(SandboxFactory);

/// The sandbox factories linked in, by provider name.
pub fn sandboxes() -> Vec<&'static SandboxFactory> {
    let mut v: Vec<_> = inventory::iter::<SandboxFactory>.into_iter().collect();
    v.sort_by_key(|f| (f.order, f.provider));
    v
}

/// A sandbox that is only options: offline means (cheque, transfer) reach nothing.
#[derive(Debug, Clone)]
pub struct StaticSandbox(pub Vec<(String, String)>);

impl Sandbox for StaticSandbox {
    fn instance_options(&self) -> Vec<(String, String)> {
        self.0.clone()
    }
}

impl StaticSandbox {
    /// The start function's future for these options.
    pub fn ready(options: &[(&str, &str)]) -> SandboxStart {
        let v: Vec<(String, String)> = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Box::pin(async move { Ok(Box::new(StaticSandbox(v)) as Box<dyn Sandbox>) })
    }
}
