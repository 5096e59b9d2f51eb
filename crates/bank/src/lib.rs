//! # bank
//!
//! Payments for shops and associations: the facade over [`bank_core`] and one crate per
//! provider, each behind a Cargo feature. `bank = { features = ["cheque", "store"] }` is all
//! a host adds; enabling a provider's feature links its crate, which registers the provider.
//!
//! | feature    | provider / part                                  |
//! |------------|--------------------------------------------------|
//! | `store`    | SQLite and PostgreSQL transaction store          |
//! | `cheque`   | payment by cheque                                |
//! | `virement` | payment by bank transfer                         |
//! | `gratuit`  | zero-amount validation                           |
//! | `simu`     | development simulation (refuses live mode)       |
//! | `caisse-ap-ip` | counter card terminal over TCP (Caisse-AP)   |
//! | `stripe`   | Stripe Checkout, webhooks, refunds, subscriptions |
//! | `paybox`   | Paybox System, signed IPN, Paybox Direct         |
//! | `paypal`   | PayPal Checkout, REST webhooks, refunds, subscriptions |
//! | `paypal-ipn` | PayPal buttons (Buy Now, Donate, Subscribe), EWP, the IPN listener |
//! | `payzen-sepa` | PayZen, Systempay and Lyra's other labels: card, SEPA Direct Debit, recurring |
//! | `sandbox`  | local emulators (terminal, Stripe, Paybox, PayPal, PayPal buttons) |
//! | `full`     | all of the above                                 |

#![forbid(unsafe_code)]

pub use bank_core::*;

#[cfg(feature = "caisse-ap-ip")]
pub use bank_caisse_ap_ip as caisse_ap_ip;
#[cfg(feature = "cheque")]
pub use bank_cheque as cheque;
#[cfg(feature = "gratuit")]
pub use bank_gratuit as gratuit;
#[cfg(feature = "paybox")]
pub use bank_paybox as paybox;
#[cfg(feature = "paypal")]
pub use bank_paypal as paypal;
#[cfg(feature = "paypal-ipn")]
pub use bank_paypal_ipn as paypal_ipn;
#[cfg(feature = "payzen-sepa")]
pub use bank_payzen_sepa as payzen_sepa;
#[cfg(feature = "simu")]
pub use bank_simu as simu;
#[cfg(feature = "store")]
pub use bank_store as store_backends;
#[cfg(feature = "stripe")]
pub use bank_stripe as stripe;
#[cfg(feature = "virement")]
pub use bank_virement as virement;

/// The configured instances ([`bank_core::Registry`]), built after linking every provider
/// this build's features enable: a host that goes through the facade finds its providers
/// without any call of its own.
#[derive(Debug, Clone, Default)]
pub struct Registry(bank_core::Registry);

impl Registry {
    /// Builds every instance of `config` ([`bank_core::Registry::from_config`]).
    ///
    /// # Errors
    /// As [`bank_core::Registry::from_config`].
    pub fn from_config(config: &Config, env: &dyn config::Env) -> Result<Self, Error> {
        link_providers();
        bank_core::Registry::from_config(config, env).map(Registry)
    }

    /// A registry of ready-made acquirers.
    pub fn from_acquirers(acquirers: Vec<std::sync::Arc<dyn Acquirer>>) -> Self {
        Registry(bank_core::Registry::from_acquirers(acquirers))
    }

    /// The core registry.
    pub fn into_inner(self) -> bank_core::Registry {
        self.0
    }
}

impl std::ops::Deref for Registry {
    type Target = bank_core::Registry;
    fn deref(&self) -> &bank_core::Registry {
        &self.0
    }
}

impl From<Registry> for bank_core::Registry {
    fn from(r: Registry) -> Self {
        r.0
    }
}

/// The provider registry ([`bank_core::registry`]), its listings linking every enabled
/// provider first.
pub mod registry {
    pub use bank_core::registry::{factory as core_factory, BuildFn, ProviderFactory};

    /// Every provider compiled in, by name.
    pub fn factories() -> Vec<&'static ProviderFactory> {
        super::link_providers();
        bank_core::registry::factories()
    }

    /// The factory of `provider`, if compiled in.
    pub fn factory(provider: &str) -> Option<&'static ProviderFactory> {
        super::link_providers();
        bank_core::registry::factory(provider)
    }
}

/// What providers bring besides their acquirer ([`bank_core::channel`]): terminals and
/// sandboxes, listed after linking every enabled provider.
pub mod channel {
    pub use bank_core::channel::{
        Sandbox, SandboxContext, SandboxFactory, SandboxStart, StaticSandbox, TerminalBuildFn,
        TerminalFactory, TerminalPort, TerminalRefusal,
    };

    /// The local stand-ins linked in, in demo order.
    pub fn sandboxes() -> Vec<&'static SandboxFactory> {
        super::link_providers();
        bank_core::channel::sandboxes()
    }

    /// The terminal port of `config`'s terminal instances, from every terminal provider
    /// linked in ([`bank_core::channel::terminal_ports`]).
    ///
    /// # Errors
    /// A provider's configuration error.
    pub fn terminal_ports(
        engine: &std::sync::Arc<crate::Engine>,
        config: &crate::Config,
        env: &dyn crate::config::Env,
    ) -> Result<Option<std::sync::Arc<dyn TerminalPort>>, crate::Error> {
        super::link_providers();
        bank_core::channel::terminal_ports(engine, config, env)
    }
}

/// Assembles the whole service of `config` (what `bank serve` runs): its store, registry,
/// engine, the configuration's hooks after `host`'s, the registered terminals, the router.
/// [`bank_server::Service::run`] serves it; a host mounts [`bank_server::Service::router`]
/// in its own application and calls [`bank_server::Service::spawn_background`].
///
/// # Errors
/// A configuration error naming the key; the store's error.
#[cfg(feature = "server")]
pub async fn service(
    config: &Config,
    env: &dyn config::Env,
    host: Option<std::sync::Arc<dyn Hooks>>,
    settings: Option<bank_server::ServerSettings>,
) -> Result<bank_server::Service, Error> {
    let registry = Registry::from_config(config, env)?;
    let store = bank_store::open(&config.store_url)
        .await
        .map_err(Error::from)?;
    bank_server::Service::build(config, registry.into_inner(), store, env, host, settings).await
}

#[cfg(feature = "server")]
pub use bank_server as server;

/// The counter terminal from the command line (`bank terminal pay|emulate`), through the
/// terminal provider this build links: a binary names no provider.
#[cfg(feature = "caisse-ap-ip")]
pub mod terminal_tools {
    #[cfg(feature = "sandbox")]
    pub use bank_caisse_ap_ip::cli::{emulate_until_ctrl_c, EmulateArgs};
    pub use bank_caisse_ap_ip::cli::{pay, PayArgs};
}

/// Makes the linker keep every enabled provider crate, and with it its `inventory`
/// registrations (factory, terminal, sandbox), even in a binary that names none of them.
fn link_providers() {
    #[cfg(feature = "cheque")]
    std::hint::black_box(bank_cheque::describe as fn() -> ProviderDescription);
    #[cfg(feature = "gratuit")]
    std::hint::black_box(bank_gratuit::describe as fn() -> ProviderDescription);
    #[cfg(feature = "simu")]
    std::hint::black_box(bank_simu::describe as fn() -> ProviderDescription);
    #[cfg(feature = "virement")]
    std::hint::black_box(bank_virement::describe as fn() -> ProviderDescription);
    #[cfg(feature = "caisse-ap-ip")]
    std::hint::black_box(bank_caisse_ap_ip::describe as fn() -> ProviderDescription);
    #[cfg(feature = "stripe")]
    std::hint::black_box(bank_stripe::describe as fn() -> ProviderDescription);
    #[cfg(feature = "paybox")]
    std::hint::black_box(bank_paybox::describe as fn() -> ProviderDescription);
    #[cfg(feature = "paypal")]
    std::hint::black_box(bank_paypal::describe as fn() -> ProviderDescription);
    #[cfg(feature = "paypal-ipn")]
    std::hint::black_box(bank_paypal_ipn::describe as fn() -> ProviderDescription);
    #[cfg(feature = "payzen-sepa")]
    std::hint::black_box(bank_payzen_sepa::describe as fn() -> ProviderDescription);
}

/// The names of the providers compiled into this build.
pub fn compiled_providers() -> Vec<&'static str> {
    registry::factories().iter().map(|f| f.name).collect()
}
