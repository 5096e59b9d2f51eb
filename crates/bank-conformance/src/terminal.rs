//! The scenarios every counter terminal must pass, through the port the service uses
//! ([`bank_core::TerminalPort`], built from the registered [`bank_core::TerminalFactory`])
//! against the provider's emulator: approved, declined, cancelled on the terminal,
//! unreachable, an unknown outcome resolved by the cashier, a refund, a cheque.
//!
//! A [`TerminalDriver`] says how to reach the emulator and which amounts make it answer
//! what; the checks are on what the engine recorded (status, hooks), which is the same for
//! every terminal.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bank_core::config::{Config, ProcessEnv};
use bank_core::testing::RecordingHooks;
use bank_core::{
    Currency, Engine, HookName, Money, NewTransaction, Status, TerminalPort, Transaction,
};

use crate::scenarios::Verdict;

/// How the suite drives one terminal provider's emulator.
#[async_trait]
pub trait TerminalDriver: Send + Sync {
    /// Provider name.
    fn provider(&self) -> &'static str;
    /// Starts the emulator; its handle stops it when dropped.
    async fn start(&self) -> Result<Box<dyn bank_core::Sandbox>, String>;
    /// Options of a card instance on `port` (127.0.0.1) that gives up after one second.
    fn card_options(&self, port: u16) -> Vec<(&'static str, String)>;
    /// Options of a cheque instance on `port`, if the provider prints cheques.
    fn cheque_options(&self, port: u16) -> Option<Vec<(&'static str, String)>>;
    /// Amounts in minor units (EUR) for which the emulator approves, declines, is
    /// cancelled on the terminal, and never answers.
    fn amounts(&self) -> TerminalAmounts;
    /// A cashier's word for an unknown outcome: approved with an authorisation number.
    fn approved_word(&self, reference: &str) -> serde_json::Value;
}

/// Amounts that make an emulator answer each way.
#[derive(Clone, Copy, Debug)]
pub struct TerminalAmounts {
    /// Approved.
    pub approved: i64,
    /// Declined by the issuer.
    pub declined: i64,
    /// Cancelled on the terminal (red key).
    pub cancelled: i64,
    /// Never answered (the outcome is unknown).
    pub silent: i64,
}

/// What a terminal provider submits to `inventory` (behind its `conformance` feature).
#[derive(Debug)]
pub struct TerminalDriverFactory {
    /// Provider name.
    pub provider: &'static str,
    /// Its driver.
    pub driver: fn() -> Box<dyn TerminalDriver>,
}

inventory::collect!(TerminalDriverFactory);

/// Every terminal driver linked in, by provider name.
pub fn terminal_drivers() -> Vec<Box<dyn TerminalDriver>> {
    let mut v: Vec<_> = inventory::iter::<TerminalDriverFactory>
        .into_iter()
        .collect();
    v.sort_by_key(|f| f.provider);
    v.into_iter().map(|f| (f.driver)()).collect()
}

type Fut<'a> = Pin<Box<dyn Future<Output = Result<Verdict, String>> + Send + 'a>>;

/// A named terminal scenario.
pub struct TerminalScenario {
    /// Name.
    pub name: &'static str,
    /// What it checks.
    pub description: &'static str,
    run: for<'a> fn(&'a dyn TerminalDriver, &'a TerminalHarness) -> Fut<'a>,
}

impl std::fmt::Debug for TerminalScenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// An engine with a card instance (`tpe`) and, when the provider has one, a cheque
/// instance (`tpe-cheque`) on the emulator, and the terminal port the service would use.
#[derive(Debug)]
pub struct TerminalHarness {
    engine: Arc<Engine>,
    hooks: Arc<RecordingHooks>,
    port: Arc<dyn TerminalPort>,
    _emulator: Option<Box<dyn bank_core::Sandbox>>,
    _dir: tempfile::TempDir,
}

impl TerminalHarness {
    async fn new(driver: &dyn TerminalDriver, reachable: bool) -> Result<Self, String> {
        let (emulator, port) = if reachable {
            let e = driver.start().await?;
            let port = e
                .instance_options()
                .into_iter()
                .find(|(k, _)| k == "port")
                .and_then(|(_, v)| v.parse::<u16>().ok())
                .ok_or("the emulator says no port")?;
            (Some(e), port)
        } else {
            // A port nobody listens on.
            let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            let port = l.local_addr().map_err(|e| e.to_string())?.port();
            drop(l);
            (None, port)
        };
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut text = format!(
            "[installation]\nid = \"conf\"\nsecret = \"conformance-secret-0123456789\"\n[store]\nurl = \"sqlite://{}\"\n",
            dir.path().join("bank.db").display()
        );
        let mut instance = |id: &str, options: Vec<(&'static str, String)>| {
            text.push_str(&format!(
                "[[instance]]\nid = \"{id}\"\nprovider = \"{}\"\n[instance.options]\n",
                driver.provider()
            ));
            for (k, v) in options {
                text.push_str(&format!(
                    "{k} = {}\n",
                    serde_json::to_string(&v).unwrap_or_default()
                ));
            }
        };
        instance("tpe", driver.card_options(port));
        if let Some(o) = driver.cheque_options(port) {
            instance("tpe-cheque", o);
        }
        let config =
            Config::parse(&text, "<conformance>", &ProcessEnv).map_err(|e| e.to_string())?;
        let registry =
            bank_core::Registry::from_config(&config, &ProcessEnv).map_err(|e| e.to_string())?;
        let store = bank_store::open(&config.store_url)
            .await
            .map_err(|e| e.to_string())?;
        let hooks = Arc::new(RecordingHooks::new());
        let engine = Arc::new(
            Engine::open(
                store,
                registry,
                hooks.clone(),
                &config.installation,
                config.engine.clone(),
            )
            .await
            .map_err(|e| e.to_string())?,
        );
        let port = bank_core::channel::terminal_ports(&engine, &config, &ProcessEnv)
            .map_err(|e| e.to_string())?
            .ok_or("no terminal port registered for this provider")?;
        Ok(TerminalHarness {
            engine,
            hooks,
            port,
            _emulator: emulator,
            _dir: dir,
        })
    }

    async fn tx(&self, minor: i64) -> Result<Transaction, String> {
        let mut t = NewTransaction::new(
            Money::from_minor(minor, Currency::EUR).map_err(|e| e.to_string())?,
        );
        t.force = true;
        self.engine
            .inserer_transaction(t)
            .await
            .map_err(|e| e.to_string())
    }

    async fn status(&self, tx: &Transaction) -> Result<Status, String> {
        Ok(self
            .engine
            .transaction(&tx.reference)
            .await
            .map_err(|e| e.to_string())?
            .status)
    }

    async fn hooks_of(&self, tx: &Transaction) -> Result<Vec<HookName>, String> {
        self.engine
            .deliver_pending()
            .await
            .map_err(|e| e.to_string())?;
        Ok(self
            .hooks
            .calls()
            .into_iter()
            .filter(|c| c.transaction.reference == tx.reference)
            .map(|c| c.hook)
            .collect())
    }

    async fn charge(&self, instance: &str, tx: &Transaction) -> Result<(), String> {
        self.port
            .charge(instance, &tx.reference)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Ok(Verdict::Failed(format!($($msg)+)));
        }
    };
}

macro_rules! scenario {
    ($name:ident, $desc:expr, |$d:ident, $h:ident| $body:block) => {
        TerminalScenario {
            name: stringify!($name),
            description: $desc,
            run: |$d, $h| Box::pin(async move { $body }),
        }
    };
}

const PAID: [HookName; 4] = [
    HookName::TraiterReglement,
    HookName::PreFacturer,
    HookName::Facturer,
    HookName::Notifier,
];

/// The terminal scenarios.
pub static TERMINAL_SCENARIOS: &[TerminalScenario] = &[
    scenario!(
        terminal_approved,
        "an approved charge settles the transaction, hooks once",
        |d, h| {
            let tx = h.tx(d.amounts().approved).await?;
            h.charge("tpe", &tx).await?;
            check!(h.status(&tx).await? == Status::Ok, "not ok after approval");
            let hooks = h.hooks_of(&tx).await?;
            check!(hooks == PAID, "hooks {hooks:?}");
            Ok(Verdict::Passed)
        }
    ),
    scenario!(
        terminal_declined,
        "a declined charge fails the transaction",
        |d, h| {
            let tx = h.tx(d.amounts().declined).await?;
            h.charge("tpe", &tx).await?;
            check!(
                h.status(&tx).await? == Status::Echec,
                "not echec after a decline"
            );
            let hooks = h.hooks_of(&tx).await?;
            check!(hooks == [HookName::ReglementEnEchec], "hooks {hooks:?}");
            Ok(Verdict::Passed)
        }
    ),
    scenario!(
        terminal_cancelled,
        "cancelled on the terminal: a failure the payer may retry",
        |d, h| {
            let tx = h.tx(d.amounts().cancelled).await?;
            h.charge("tpe", &tx).await?;
            check!(
                h.status(&tx).await? == Status::Echec,
                "not echec after a cancel"
            );
            let again = h.tx(d.amounts().approved).await?;
            h.charge("tpe", &again).await?;
            check!(
                h.status(&again).await? == Status::Ok,
                "the next charge did not pass"
            );
            Ok(Verdict::Passed)
        }
    ),
    scenario!(
        terminal_unknown_outcome,
        "no answer: nothing marked, then the cashier's word settles it once",
        |d, h| {
            let tx = h.tx(d.amounts().silent).await?;
            h.charge("tpe", &tx).await?;
            check!(
                h.status(&tx).await? == Status::Commande,
                "marked without an answer"
            );
            check!(h.hooks_of(&tx).await?.is_empty(), "hooks without an answer");
            let word = d.approved_word(&tx.reference);
            h.port
                .resolve("tpe", &word, "api:conformance")
                .await
                .map_err(|e| e.to_string())?;
            check!(
                h.status(&tx).await? == Status::Ok,
                "not ok after the cashier's word"
            );
            let twice = h.port.resolve("tpe", &word, "api:conformance").await;
            check!(
                matches!(twice, Err(ref r) if r.status == 409),
                "resolved twice: {twice:?}"
            );
            let hooks = h.hooks_of(&tx).await?;
            check!(hooks == PAID, "hooks {hooks:?}");
            Ok(Verdict::Passed)
        }
    ),
    scenario!(
        terminal_refund,
        "a refund on the terminal refunds the transaction",
        |d, h| {
            let tx = h.tx(d.amounts().approved).await?;
            h.charge("tpe", &tx).await?;
            h.engine
                .refund(&tx.reference, None, "conformance")
                .await
                .map_err(|e| e.to_string())?;
            check!(
                h.status(&tx).await? == Status::Rembourse,
                "not rembourse after a refund"
            );
            Ok(Verdict::Passed)
        }
    ),
    scenario!(
        terminal_cheque,
        "a cheque printed by the terminal settles the transaction",
        |d, h| {
            if d.cheque_options(0).is_none() {
                return Ok(Verdict::NotApplicable("no cheque printer".into()));
            }
            let tx = h.tx(d.amounts().approved).await?;
            h.charge("tpe-cheque", &tx).await?;
            check!(h.status(&tx).await? == Status::Ok, "not ok after a cheque");
            Ok(Verdict::Passed)
        }
    ),
];

/// The scenario whose terminal cannot be reached: nothing sent, nothing marked.
pub static UNREACHABLE: TerminalScenario = scenario!(
    terminal_unreachable,
    "unreachable: nothing sent, nothing marked",
    |d, h| {
        let tx = h.tx(d.amounts().approved).await?;
        let _ = h.charge("tpe", &tx).await;
        check!(
            h.status(&tx).await? == Status::Commande,
            "marked although unreachable"
        );
        check!(
            h.hooks_of(&tx).await?.is_empty(),
            "hooks although unreachable"
        );
        Ok(Verdict::Passed)
    }
);

/// Runs one terminal scenario for `driver` on a fresh harness.
pub async fn run_terminal(driver: &dyn TerminalDriver, scenario: &TerminalScenario) -> Verdict {
    let reachable = !std::ptr::eq(scenario, &UNREACHABLE);
    let h = match TerminalHarness::new(driver, reachable).await {
        Ok(h) => h,
        Err(e) => return Verdict::Failed(format!("harness: {e}")),
    };
    match (scenario.run)(driver, &h).await {
        Ok(v) => v,
        Err(e) => Verdict::Failed(e),
    }
}

/// Every terminal scenario, the unreachable one last.
pub fn terminal_scenarios() -> Vec<&'static TerminalScenario> {
    TERMINAL_SCENARIOS
        .iter()
        .chain(std::iter::once(&UNREACHABLE))
        .collect()
}
