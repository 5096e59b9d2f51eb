//! The provider registry: provider crates register a factory with `inventory`; the
//! configuration declares instances; the registry builds them.
//!
//! Linking a provider crate is all it takes to make its provider available: the facade
//! crate links one per Cargo feature.

use std::fmt;
use std::sync::Arc;

use crate::acquirer::{Acquirer, InstanceInfo, Mode, ProviderDescription};
use crate::config::{Config, Env, InstanceConfig, Options};
use crate::error::Error;

/// Builds one instance of a provider from its checked options.
pub type BuildFn = fn(InstanceInfo, &Options) -> Result<Arc<dyn Acquirer>, Error>;

/// What a provider crate submits to `inventory`.
pub struct ProviderFactory {
    /// Provider name used in configuration.
    pub name: &'static str,
    /// Its self-description.
    pub describe: fn() -> ProviderDescription,
    /// Builds one instance from checked options.
    pub build: BuildFn,
}

impl fmt::Debug for ProviderFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderFactory")
            .field("name", &self.name)
            .finish()
    }
}

inventory::collect!(ProviderFactory);

/// Every provider compiled in, by name.
pub fn factories() -> Vec<&'static ProviderFactory> {
    let mut v: Vec<_> = inventory::iter::<ProviderFactory>.into_iter().collect();
    v.sort_by_key(|f| f.name);
    v
}

/// The factory of `provider`, if compiled in.
pub fn factory(provider: &str) -> Option<&'static ProviderFactory> {
    inventory::iter::<ProviderFactory>
        .into_iter()
        .find(|f| f.name == provider)
}

/// The configured instances, in payment-page order.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    instances: Vec<(Arc<dyn Acquirer>, bool)>,
}

impl Registry {
    /// Builds every instance of `config`, checking each against its provider's description.
    ///
    /// # Errors
    /// [`Error::UnknownProvider`], [`Error::Config`] (file, key, reason) or
    /// [`Error::SimulationInLive`].
    pub fn from_config(config: &Config, env: &dyn Env) -> Result<Self, Error> {
        let mut reg = Registry::default();
        for ic in &config.instances {
            let (acq, enabled) = build_instance(ic.clone(), env)?;
            reg.instances.push((acq, enabled));
        }
        // A simulation beside real money would let anyone mark a real order paid.
        if reg.is_live() {
            if let Some((sim, _)) = reg
                .instances
                .iter()
                .find(|(a, _)| a.capabilities().simulation)
            {
                return Err(Error::SimulationInLive {
                    instance: sim.info().id.clone(),
                });
            }
        }
        reg.sort();
        Ok(reg)
    }

    /// A registry of ready-made acquirers (tests, hosts that build instances in code).
    pub fn from_acquirers(acquirers: Vec<Arc<dyn Acquirer>>) -> Self {
        let mut reg = Registry {
            instances: acquirers.into_iter().map(|a| (a, true)).collect(),
        };
        reg.sort();
        reg
    }

    fn sort(&mut self) {
        self.instances.sort_by(|(a, _), (b, _)| {
            (a.info().order, &a.info().id).cmp(&(b.info().order, &b.info().id))
        });
    }

    /// The instance `id`, enabled or not (notifications for a disabled instance are still
    /// verified and settled: the payer already paid).
    pub fn get(&self, id: &str) -> Option<Arc<dyn Acquirer>> {
        self.instances
            .iter()
            .find(|(a, _)| a.info().id == id)
            .map(|(a, _)| a.clone())
    }

    /// True when an instance takes real money.
    pub fn is_live(&self) -> bool {
        self.instances
            .iter()
            .any(|(a, _)| a.info().mode == Mode::Live)
    }

    /// Enabled instances, in configured order. In an installation with a live instance,
    /// test instances are left out: a payer must never pay a real order with a test card.
    pub fn enabled(&self) -> impl Iterator<Item = &Arc<dyn Acquirer>> {
        let live = self.is_live();
        self.instances
            .iter()
            .filter(move |(a, e)| *e && (!live || a.info().mode == Mode::Live))
            .map(|(a, _)| a)
    }

    /// All instances, in configured order.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Acquirer>> {
        self.instances.iter().map(|(a, _)| a)
    }
}

/// Builds one instance: finds the provider, applies environment overrides, checks options.
///
/// # Errors
/// As [`Registry::from_config`].
pub fn build_instance(
    mut ic: InstanceConfig,
    env: &dyn Env,
) -> Result<(Arc<dyn Acquirer>, bool), Error> {
    let f = factory(&ic.provider).ok_or_else(|| Error::UnknownProvider {
        instance: ic.id.clone(),
        provider: ic.provider.clone(),
        known: {
            let names: Vec<_> = factories().iter().map(|f| f.name).collect();
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        },
    })?;
    let desc = (f.describe)();
    Config::apply_option_overrides(&mut ic, &desc, env);
    ic.options.check(&desc, ic.mode)?;
    let info = InstanceInfo {
        caption: ic
            .caption
            .clone()
            .unwrap_or_else(|| desc.caption.to_string()),
        id: ic.id.clone(),
        provider: ic.provider.clone(),
        mode: ic.mode,
        order: ic.order,
    };
    let acq = (f.build)(info, &ic.options)?;
    if acq.capabilities().simulation && acq.info().mode == Mode::Live {
        return Err(Error::SimulationInLive { instance: ic.id });
    }
    Ok((acq, ic.enabled))
}
