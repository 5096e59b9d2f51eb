//! Configuration: a TOML file, environment overrides, secrets from the environment or files.
//!
//! ```toml
//! [installation]
//! id = "shop"                              # prefixes every reference
//! secret = { env = "BANK_SECRET" }         # signs our own forms
//! base_url = "https://shop.example"
//!
//! [store]
//! url = "sqlite://bank.db"
//!
//! [[instance]]
//! id = "cheque"
//! provider = "cheque"
//! order = 10
//! mode = "live"
//! [instance.options]
//! payee = "Association des amis"
//! address = "1 rue de la Paix\n75000 Paris"
//! ```
//!
//! A secret option is written `{ env = "VAR" }`, `{ file = "/run/secrets/key" }` or, in
//! test mode only, as clear text. Environment overrides: `BANK_STORE_URL`,
//! `BANK_INSTALLATION_ID`, `BANK_BASE_URL`, `BANK_SECRET`, and for an option
//! `BANK_OPT_<INSTANCE>__<OPTION>` (instance id upper-cased, other characters as `_`).
//! Every error names the file, the key and the reason.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::acquirer::{Mode, ParamKind, ProviderDescription};
use crate::error::Error;
use crate::transaction::is_valid_installation_id;

/// The whole configuration.
#[derive(Clone)]
pub struct Config {
    /// Where it was read from (`<memory>` when built in code).
    pub source: String,
    /// This installation.
    pub installation: Installation,
    /// The store URL (`sqlite://…` or `postgres://…`).
    pub store_url: String,
    /// Engine settings.
    pub engine: EngineSettings,
    /// Acquirer instances, in file order.
    pub instances: Vec<InstanceConfig>,
    /// The `[server]`, `[admin]`, `[callbacks]` and `[email]` sections, for the crates that
    /// read them (values are not secret-resolved here: use [`resolve_secret`]).
    pub sections: BTreeMap<String, toml::Table>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("source", &self.source)
            .field("installation", &self.installation)
            .field("store_url", &redact_url(&self.store_url))
            .field("engine", &self.engine)
            .field("instances", &self.instances)
            .field("sections", &self.sections.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A URL without its password, for messages and `Debug`.
pub fn redact_url(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => u.to_string(),
    }
}

/// Identity of this installation.
#[derive(Clone)]
pub struct Installation {
    /// Short id prefixing every reference: tells our notifications from another
    /// installation's sharing a provider account.
    pub id: String,
    /// Signs our own forms.
    pub secret: SecretString,
    /// Public base URL of the service (return and notification URLs are built on it).
    pub base_url: String,
}

impl fmt::Debug for Installation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Installation")
            .field("id", &self.id)
            .field("secret", &"[REDACTED]")
            .field("base_url", &self.base_url)
            .finish()
    }
}

/// Tunables of the engine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// An identical `commande` transaction younger than this is recycled (minutes).
    pub recycle_window_minutes: i64,
    /// `commande` transactions older than this are abandoned by `abandon_stale` (hours).
    pub abandon_after_hours: i64,
    /// A claimed hook delivery is retried by another worker after this (seconds).
    pub hook_lease_seconds: i64,
    /// Deliveries of one hook are attempted this many times before being parked as dead.
    pub hook_max_attempts: u32,
    /// First retry delay (seconds); doubles each attempt, capped at one hour.
    pub hook_retry_base_seconds: i64,
    /// A hook call taking longer than this fails (and is retried); below the lease.
    pub hook_timeout_seconds: i64,
    /// Requests that did not verify (bad signature, unknown instance) kept per instance
    /// and per hour, each cut to a few kilobytes; past this only a counter and a digest
    /// are kept (see ARCHITECTURE.md, "Evidence of requests that did not verify").
    pub unverified_per_hour: u32,
}

impl EngineSettings {
    /// Checks every value's range; an out-of-range value would panic in time arithmetic or
    /// burn the retries in a moment.
    ///
    /// # Errors
    /// [`Error::Config`] naming `engine.<key>`.
    pub fn validate(&self, file: &str) -> Result<(), Error> {
        let check = |key: &str, v: i64, lo: i64, hi: i64| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(Error::Config {
                    file: file.to_string(),
                    key: format!("engine.{key}"),
                    reason: format!("{v} is outside {lo}..={hi}"),
                })
            }
        };
        check(
            "recycle_window_minutes",
            self.recycle_window_minutes,
            0,
            366 * 24 * 60,
        )?;
        check(
            "abandon_after_hours",
            self.abandon_after_hours,
            1,
            10 * 366 * 24,
        )?;
        check("hook_lease_seconds", self.hook_lease_seconds, 5, 86_400)?;
        check(
            "hook_max_attempts",
            i64::from(self.hook_max_attempts),
            1,
            1000,
        )?;
        check(
            "hook_retry_base_seconds",
            self.hook_retry_base_seconds,
            1,
            86_400,
        )?;
        check(
            "hook_timeout_seconds",
            self.hook_timeout_seconds,
            1,
            self.hook_lease_seconds - 1,
        )?;
        check(
            "unverified_per_hour",
            i64::from(self.unverified_per_hour),
            0,
            100_000,
        )?;
        Ok(())
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            recycle_window_minutes: 24 * 60,
            abandon_after_hours: 48,
            hook_lease_seconds: 120,
            // 10 s doubling to one hour, then hourly: about two days before a hook is
            // parked as dead (and `requeue_dead` can bring it back).
            hook_max_attempts: 48,
            hook_retry_base_seconds: 10,
            hook_timeout_seconds: 30,
            unverified_per_hour: 100,
        }
    }
}

/// One configured acquirer instance.
#[derive(Debug, Clone)]
pub struct InstanceConfig {
    /// Id, used in URLs and stored as the transaction's `mode`.
    pub id: String,
    /// Provider name.
    pub provider: String,
    /// Position on the payment page.
    pub order: i32,
    /// Test or live.
    pub mode: Mode,
    /// Shown on the payment page.
    pub enabled: bool,
    /// Label for payers (default: the provider's caption).
    pub caption: Option<String>,
    /// Options, resolved (secrets read) but not yet checked against the provider.
    pub options: Options,
    /// The file this instance was read from, for error messages.
    pub source: String,
}

/// Where a value came from: secrets in clear text are only accepted in test mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Written in the file.
    File,
    /// Read from an environment variable.
    Environment,
    /// Read from a secret file.
    SecretFile,
    /// The parameter's default.
    Default,
}

/// An option value.
#[derive(Clone)]
pub enum OptionValue {
    /// A plain value, as text.
    Plain(String, Origin),
    /// A secret value.
    Secret(SecretString, Origin),
}

impl fmt::Debug for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Plain(v, _) => write!(f, "{v:?}"),
            OptionValue::Secret(_, o) => write!(f, "[REDACTED from {o:?}]"),
        }
    }
}

impl OptionValue {
    fn origin(&self) -> Origin {
        match self {
            OptionValue::Plain(_, o) | OptionValue::Secret(_, o) => *o,
        }
    }
}

/// The options of an instance, with typed getters for provider crates.
#[derive(Clone, Default)]
pub struct Options {
    instance: String,
    source: String,
    values: BTreeMap<String, OptionValue>,
    /// Set by [`Options::check`]: from then on we know which values are secret.
    checked: bool,
}

impl fmt::Debug for Options {
    // Until checked against the provider, any value may be a secret: show keys only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.values {
            match v {
                OptionValue::Plain(p, _) if self.checked => m.entry(k, p),
                _ => m.entry(k, &"[REDACTED]"),
            };
        }
        m.finish()
    }
}

impl Options {
    /// Options for tests and hosts that configure in code.
    pub fn from_pairs(instance: &str, pairs: &[(&str, &str)]) -> Self {
        Options {
            instance: instance.into(),
            source: "<memory>".into(),
            values: pairs
                .iter()
                .map(|(k, v)| {
                    (
                        (*k).to_string(),
                        OptionValue::Plain((*v).to_string(), Origin::File),
                    )
                })
                .collect(),
            checked: false,
        }
    }

    fn err(&self, name: &str, reason: impl Into<String>) -> Error {
        Error::Config {
            file: self.source.clone(),
            key: format!("instance.{}.options.{name}", self.instance),
            reason: reason.into(),
        }
    }

    /// The option as text, if given. A secret is refused here: use [`Options::secret`].
    pub fn get(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(OptionValue::Plain(v, _)) => Some(v.as_str()),
            _ => None,
        }
    }

    /// A required text option.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key when it is missing.
    pub fn text(&self, name: &str) -> Result<String, Error> {
        self.get(name)
            .map(str::to_string)
            .ok_or_else(|| self.err(name, "missing"))
    }

    /// A boolean option (`true`/`false`), `default` when absent.
    ///
    /// # Errors
    /// [`Error::Config`] when it is not a boolean.
    pub fn boolean(&self, name: &str, default: bool) -> Result<bool, Error> {
        match self.get(name) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(v) => Err(self.err(name, format!("expected true or false, got {v:?}"))),
        }
    }

    /// An integer option, `default` when absent.
    ///
    /// # Errors
    /// [`Error::Config`] when it is not an integer.
    pub fn integer(&self, name: &str, default: i64) -> Result<i64, Error> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| self.err(name, format!("expected an integer, got {v:?}"))),
        }
    }

    /// A required secret option.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key when it is missing.
    pub fn secret(&self, name: &str) -> Result<SecretString, Error> {
        match self.values.get(name) {
            Some(OptionValue::Secret(s, _)) => Ok(s.clone()),
            Some(OptionValue::Plain(s, _)) => Ok(SecretString::from(s.clone())),
            None => Err(self.err(name, "missing")),
        }
    }

    /// Sets a value (environment overrides, tests).
    pub fn set(&mut self, name: &str, value: OptionValue) {
        self.values.insert(name.to_string(), value);
    }

    /// Checks the options against the provider's description: unknown keys, missing
    /// required ones, types, and secrets written in clear in live mode. Fills defaults and
    /// marks secret parameters as secret.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file, the key and the reason.
    pub fn check(&mut self, desc: &ProviderDescription, mode: Mode) -> Result<(), Error> {
        for name in self.values.keys() {
            if !desc.parameters.iter().any(|p| p.name == name) {
                let known: Vec<&str> = desc.parameters.iter().map(|p| p.name).collect();
                return Err(self.err(
                    name,
                    format!(
                        "unknown option for provider {} (known: {})",
                        desc.name,
                        known.join(", ")
                    ),
                ));
            }
        }
        for p in &desc.parameters {
            let Some(value) = self.values.get(p.name).cloned() else {
                if let Some(d) = p.default {
                    self.values
                        .insert(p.name.into(), OptionValue::Plain(d.into(), Origin::Default));
                    continue;
                }
                if p.required {
                    return Err(self.err(p.name, format!("missing (required: {})", p.caption)));
                }
                continue;
            };
            if p.secret {
                if mode == Mode::Live && value.origin() == Origin::File {
                    return Err(self.err(
                        p.name,
                        "secret written in clear in a live instance: use { env = \"VAR\" } or { file = \"/path\" }",
                    ));
                }
                if let OptionValue::Plain(v, o) = value {
                    self.values
                        .insert(p.name.into(), OptionValue::Secret(SecretString::from(v), o));
                }
                continue;
            }
            let OptionValue::Plain(v, _) = &value else {
                continue; // a non-secret given as { env } or { file }: accepted, stays hidden
            };
            let bad = |why: &str| self.err(p.name, format!("{why}, got {v:?}"));
            match p.kind {
                ParamKind::Bool if v != "true" && v != "false" => {
                    return Err(bad("expected true or false"))
                }
                ParamKind::Integer if v.parse::<i64>().is_err() => {
                    return Err(bad("expected an integer"))
                }
                ParamKind::Url if url::Url::parse(v).is_err() => {
                    return Err(bad("expected an absolute URL"))
                }
                ParamKind::Email if !v.contains('@') => {
                    return Err(bad("expected an e-mail address"))
                }
                ParamKind::Hex if hex::decode(v).is_err() => {
                    return Err(bad("expected hexadecimal digits"))
                }
                ParamKind::Choice(choices) if !choices.contains(&v.as_str()) => {
                    return Err(bad(&format!("expected one of {}", choices.join(", "))))
                }
                _ => {}
            }
        }
        self.checked = true;
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    installation: Option<RawInstallation>,
    store: Option<RawStore>,
    #[serde(default)]
    engine: EngineSettings,
    #[serde(default)]
    instance: Vec<RawInstance>,
    /// Sections read by other crates (bank-server): kept as TOML, checked there.
    server: Option<toml::Table>,
    admin: Option<toml::Table>,
    callbacks: Option<toml::Table>,
    email: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstallation {
    id: Option<String>,
    secret: Option<toml::Value>,
    base_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    id: String,
    provider: String,
    #[serde(default)]
    order: i32,
    #[serde(default)]
    mode: Mode,
    #[serde(default = "yes")]
    enabled: bool,
    caption: Option<String>,
    #[serde(default)]
    options: toml::Table,
}

fn yes() -> bool {
    true
}

/// Looks environment variables up; tests pass a map instead of touching the process.
pub trait Env {
    /// The variable's value.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// The environment variable that overrides option `option` of instance `instance`.
pub fn option_env_var(instance: &str, option: &str) -> String {
    let up = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("BANK_OPT_{}__{}", up(instance), up(option))
}

impl Config {
    /// Reads and resolves a configuration file with the process environment.
    ///
    /// # Errors
    /// [`Error::ConfigRead`] or [`Error::Config`] naming the file, key and reason.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string(), &ProcessEnv)
    }

    /// Parses configuration text; `source` names it in errors.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file, key and reason.
    pub fn parse(text: &str, source: &str, env: &dyn Env) -> Result<Self, Error> {
        let err = |key: &str, reason: String| Error::Config {
            file: source.to_string(),
            key: key.to_string(),
            reason,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let key = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].lines().count().max(1);
                    format!("line {line}")
                })
                .unwrap_or_else(|| "<document>".into());
            err(&key, e.message().to_string())
        })?;
        let inst = raw.installation.unwrap_or(RawInstallation {
            id: None,
            secret: None,
            base_url: None,
        });
        let id = env
            .var("BANK_INSTALLATION_ID")
            .or(inst.id)
            .ok_or_else(|| err("installation.id", "missing".into()))?;
        if !is_valid_installation_id(&id) {
            return Err(err(
                "installation.id",
                format!("{id:?} must be 1 to 16 lower-case letters or digits"),
            ));
        }
        let any_live = raw.instance.iter().any(|i| i.mode == Mode::Live);
        let secret = match env.var("BANK_SECRET") {
            Some(s) => OptionValue::Secret(SecretString::from(s), Origin::Environment),
            None => match inst.secret {
                Some(v) => resolve_value(&v, source, "installation.secret", env, true)?,
                None => return Err(err("installation.secret", "missing".into())),
            },
        };
        if any_live && secret.origin() == Origin::File {
            return Err(err(
                "installation.secret",
                "secret written in clear while a live instance is configured: use { env = \"VAR\" } or { file = \"/path\" }".into(),
            ));
        }
        let OptionValue::Secret(secret, _) = secret else {
            unreachable!("resolve_value(secret = true) returns a secret")
        };
        if secret.expose_secret().len() < 16 {
            return Err(err(
                "installation.secret",
                "too short: use at least 16 characters".into(),
            ));
        }
        let base_url = env
            .var("BANK_BASE_URL")
            .or(inst.base_url)
            .unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let parsed = url::Url::parse(&base_url)
            .map_err(|e| err("installation.base_url", format!("{base_url:?}: {e}")))?;
        match parsed.scheme() {
            "https" => {}
            "http" if !any_live => {}
            "http" => {
                return Err(err(
                    "installation.base_url",
                    format!("{base_url:?}: a live installation is reached over https (payers' browsers post to it, providers notify it)"),
                ))
            }
            other => {
                return Err(err(
                    "installation.base_url",
                    format!("{base_url:?}: expected an http(s) URL, not {other}:"),
                ))
            }
        }
        let store_from_file = raw.store.and_then(|s| s.url);
        if any_live
            && env.var("BANK_STORE_URL").is_none()
            && store_from_file
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .is_some_and(|u| u.password().is_some())
        {
            return Err(err(
                "store.url",
                "a database password written in clear while a live instance is configured: set BANK_STORE_URL in the environment instead".into(),
            ));
        }
        let store_url = env
            .var("BANK_STORE_URL")
            .or(store_from_file)
            .unwrap_or_else(|| "sqlite://bank.db".into());

        let mut instances = Vec::new();
        for (n, ri) in raw.instance.into_iter().enumerate() {
            if ri.id.is_empty()
                || !ri
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(err(
                    &format!("instance[{n}].id"),
                    format!("{:?} must be letters, digits, '-' or '_'", ri.id),
                ));
            }
            if instances.iter().any(|i: &InstanceConfig| i.id == ri.id) {
                return Err(err(
                    &format!("instance.{}", ri.id),
                    "duplicate instance id".into(),
                ));
            }
            let mut options = Options {
                instance: ri.id.clone(),
                source: source.to_string(),
                values: BTreeMap::new(),
                checked: false,
            };
            for (k, v) in &ri.options {
                let key = format!("instance.{}.options.{k}", ri.id);
                options
                    .values
                    .insert(k.clone(), resolve_value(v, source, &key, env, false)?);
            }
            instances.push(InstanceConfig {
                id: ri.id,
                provider: ri.provider,
                order: ri.order,
                mode: ri.mode,
                enabled: ri.enabled,
                caption: ri.caption,
                options,
                source: source.to_string(),
            });
        }
        raw.engine.validate(source)?;
        let sections = [
            ("server", raw.server),
            ("admin", raw.admin),
            ("callbacks", raw.callbacks),
            ("email", raw.email),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|t| (k.to_string(), t)))
        .collect();
        Ok(Config {
            sections,
            source: source.to_string(),
            installation: Installation {
                id,
                secret,
                base_url,
            },
            store_url,
            engine: raw.engine,
            instances,
        })
    }

    /// True when an instance takes real money: secrets must then come from the
    /// environment or files, and the service must be reached over https.
    pub fn is_live(&self) -> bool {
        self.instances.iter().any(|i| i.mode == Mode::Live)
    }

    /// Applies `BANK_OPT_<INSTANCE>__<OPTION>` overrides for the parameters of each
    /// instance's provider (called by the registry, which knows the descriptions).
    pub fn apply_option_overrides(
        instance: &mut InstanceConfig,
        desc: &ProviderDescription,
        env: &dyn Env,
    ) {
        for p in &desc.parameters {
            if let Some(v) = env.var(&option_env_var(&instance.id, p.name)) {
                let value = if p.secret {
                    OptionValue::Secret(SecretString::from(v), Origin::Environment)
                } else {
                    OptionValue::Plain(v, Origin::Environment)
                };
                instance.options.set(p.name, value);
            }
        }
    }
}

/// Resolves a secret written as text, `{ env = "VAR" }` or `{ file = "/path" }`, for the
/// sections other crates read. `key` names it in errors.
///
/// # Errors
/// [`Error::Config`] naming the file and key.
pub fn resolve_secret(
    v: &toml::Value,
    source: &str,
    key: &str,
    env: &dyn Env,
) -> Result<SecretString, Error> {
    match resolve_value(v, source, key, env, true)? {
        OptionValue::Secret(s, _) => Ok(s),
        OptionValue::Plain(p, _) => Ok(SecretString::from(p)),
    }
}

/// [`resolve_secret`] for a section of `config`, refusing a secret written in clear when
/// the installation has a live instance (as instance options and the installation secret
/// are), and an empty one always.
///
/// # Errors
/// [`Error::Config`] naming the file and key.
pub fn resolve_section_secret(
    config: &Config,
    v: &toml::Value,
    key: &str,
    env: &dyn Env,
) -> Result<SecretString, Error> {
    let err = |reason: &str| Error::Config {
        file: config.source.clone(),
        key: key.to_string(),
        reason: reason.to_string(),
    };
    let value = resolve_value(v, &config.source, key, env, true)?;
    if config.is_live() && value.origin() == Origin::File {
        return Err(err("secret written in clear while a live instance is configured: use { env = \"VAR\" } or { file = \"/path\" }"));
    }
    let secret = match value {
        OptionValue::Secret(s, _) => s,
        OptionValue::Plain(p, _) => SecretString::from(p),
    };
    if secret.expose_secret().trim().is_empty() {
        return Err(err("empty"));
    }
    Ok(secret)
}

fn resolve_value(
    v: &toml::Value,
    source: &str,
    key: &str,
    env: &dyn Env,
    secret: bool,
) -> Result<OptionValue, Error> {
    let err = |reason: String| Error::Config {
        file: source.to_string(),
        key: key.to_string(),
        reason,
    };
    let (text, origin) = match v {
        toml::Value::String(s) => (s.clone(), Origin::File),
        toml::Value::Integer(i) => (i.to_string(), Origin::File),
        toml::Value::Boolean(b) => (b.to_string(), Origin::File),
        toml::Value::Table(t) => {
            if t.len() != 1 {
                return Err(err(
                    "a table value must be { env = \"VAR\" } or { file = \"/path\" }".into(),
                ));
            }
            match (t.get("env"), t.get("file")) {
                (Some(toml::Value::String(var)), None) => {
                    let value = env
                        .var(var)
                        .ok_or_else(|| err(format!("environment variable {var} is not set")))?;
                    (value, Origin::Environment)
                }
                (None, Some(toml::Value::String(path))) => {
                    let value = std::fs::read_to_string(PathBuf::from(path))
                        .map_err(|e| err(format!("cannot read secret file {path}: {e}")))?;
                    (
                        value.trim_end_matches(['\n', '\r']).to_string(),
                        Origin::SecretFile,
                    )
                }
                _ => {
                    return Err(err(
                        "a table value must be { env = \"VAR\" } or { file = \"/path\" }".into(),
                    ))
                }
            }
        }
        other => return Err(err(format!("unsupported value type {}", other.type_str()))),
    };
    Ok(if secret {
        OptionValue::Secret(SecretString::from(text), origin)
    } else {
        OptionValue::Plain(text, origin)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acquirer::Parameter;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const BASE: &str = r#"
[installation]
id = "shop"
secret = "0123456789abcdef0123"
base_url = "https://shop.example"
"#;

    fn desc() -> ProviderDescription {
        ProviderDescription {
            name: "demo",
            caption: "Demo",
            parameters: vec![
                Parameter::text("payee", "Payee"),
                Parameter::text("key", "Key").secret(),
                Parameter::text("flag", "Flag")
                    .kind(ParamKind::Bool)
                    .default_value("false"),
            ],
        }
    }

    #[test]
    fn malformed_toml_names_file_and_line() {
        let e = Config::parse("[installation\nid=1", "bank.toml", &env(&[])).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("bank.toml") && msg.contains("line"), "{msg}");
    }

    #[test]
    fn missing_required_option_names_the_key() {
        let text = format!("{BASE}[[instance]]\nid = \"c\"\nprovider = \"demo\"\n[instance.options]\nkey = \"k\"\n");
        let cfg = Config::parse(&text, "bank.toml", &env(&[])).unwrap();
        let mut opts = cfg.instances[0].options.clone();
        let e = opts.check(&desc(), Mode::Test).unwrap_err().to_string();
        assert!(
            e.contains("bank.toml")
                && e.contains("instance.c.options.payee")
                && e.contains("missing"),
            "{e}"
        );
    }

    #[test]
    fn clear_secret_is_refused_in_live_mode_only() {
        let text = format!("{BASE}[[instance]]\nid = \"c\"\nprovider = \"demo\"\nmode = \"live\"\n[instance.options]\npayee = \"p\"\nkey = \"clear\"\n");
        let e = Config::parse(&text, "bank.toml", &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("installation.secret"),
            "installation secret in clear with live instance: {e}"
        );
        let live = text.replace(
            "secret = \"0123456789abcdef0123\"",
            "secret = { env = \"S\" }",
        );
        let cfg =
            Config::parse(&live, "bank.toml", &env(&[("S", "0123456789abcdef0123")])).unwrap();
        let mut opts = cfg.instances[0].options.clone();
        let e = opts.check(&desc(), Mode::Live).unwrap_err().to_string();
        assert!(
            e.contains("instance.c.options.key") && e.contains("clear"),
            "{e}"
        );
        let mut opts = cfg.instances[0].options.clone();
        opts.check(&desc(), Mode::Test).unwrap();
        assert_eq!(opts.get("flag"), Some("false"));
        assert!(
            !format!("{opts:?}").contains("clear"),
            "secrets never print"
        );
    }

    #[test]
    fn live_needs_an_https_base_url_and_no_clear_database_password() {
        let live =
            format!("{BASE}[[instance]]\nid = \"c\"\nprovider = \"demo\"\nmode = \"live\"\n")
                .replace(
                    "secret = \"0123456789abcdef0123\"",
                    "secret = { env = \"S\" }",
                );
        let e = |text: &str, vars: &[(&str, &str)]| {
            let mut all = vec![("S", "0123456789abcdef0123")];
            all.extend_from_slice(vars);
            Config::parse(text, "bank.toml", &env(&all))
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        assert!(e(&live, &[]).is_ok());
        let http = live.replace("https://shop.example", "http://shop.example");
        assert!(e(&http, &[]).unwrap_err().contains("installation.base_url"));
        assert!(e(&http.replace("mode = \"live\"", "mode = \"test\""), &[]).is_ok());
        let js = live.replace("https://shop.example", "javascript:alert(1)");
        assert!(e(&js, &[]).unwrap_err().contains("installation.base_url"));
        let pg = format!("{live}[store]\nurl = \"postgres://bank:pw@db/bank\"\n");
        assert!(e(&pg, &[]).unwrap_err().contains("store.url"));
        assert!(
            e(&pg, &[("BANK_STORE_URL", "postgres://bank:pw@db/bank")]).is_ok(),
            "from the environment"
        );
    }

    #[test]
    fn secrets_from_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "from-file\n").unwrap();
        let text = format!(
            "{BASE}[[instance]]\nid = \"c\"\nprovider = \"demo\"\nmode = \"live\"\n[instance.options]\npayee = \"p\"\nkey = {{ file = \"{}\" }}\n",
            path.display()
        )
        .replace("secret = \"0123456789abcdef0123\"", "secret = { env = \"S\" }");
        let cfg =
            Config::parse(&text, "bank.toml", &env(&[("S", "0123456789abcdef0123")])).unwrap();
        let mut opts = cfg.instances[0].options.clone();
        opts.check(&desc(), Mode::Live).unwrap();
        assert_eq!(opts.secret("key").unwrap().expose_secret(), "from-file");
        let missing = text.replace(&path.display().to_string(), "/nonexistent/key");
        let e = Config::parse(
            &missing,
            "bank.toml",
            &env(&[("S", "0123456789abcdef0123")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("instance.c.options.key"), "{e}");
    }

    #[test]
    fn unknown_option_and_bad_types_are_named() {
        let text = format!("{BASE}[[instance]]\nid = \"c\"\nprovider = \"demo\"\n[instance.options]\npayee = \"p\"\nkey = \"k\"\nflag = \"yes\"\n");
        let cfg = Config::parse(&text, "bank.toml", &env(&[])).unwrap();
        let e = cfg.instances[0]
            .options
            .clone()
            .check(&desc(), Mode::Test)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("options.flag") && e.contains("true or false"),
            "{e}"
        );
        let text = text.replace("flag = \"yes\"", "colour = \"red\"");
        let cfg = Config::parse(&text, "bank.toml", &env(&[])).unwrap();
        let e = cfg.instances[0]
            .options
            .clone()
            .check(&desc(), Mode::Test)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("options.colour") && e.contains("unknown option"),
            "{e}"
        );
    }

    #[test]
    fn environment_overrides() {
        let text = format!("{BASE}[[instance]]\nid = \"stripe-E8E5\"\nprovider = \"demo\"\n[instance.options]\npayee = \"p\"\n");
        let e = env(&[
            ("BANK_STORE_URL", "postgres://x"),
            ("BANK_OPT_STRIPE_E8E5__KEY", "k"),
        ]);
        let mut cfg = Config::parse(&text, "bank.toml", &e).unwrap();
        assert_eq!(cfg.store_url, "postgres://x");
        Config::apply_option_overrides(&mut cfg.instances[0], &desc(), &e);
        cfg.instances[0].options.check(&desc(), Mode::Live).unwrap();
        assert_eq!(
            cfg.instances[0]
                .options
                .secret("key")
                .unwrap()
                .expose_secret(),
            "k"
        );
    }

    #[test]
    fn engine_settings_are_range_checked() {
        let e = Config::parse(
            &format!("{BASE}[engine]\nhook_retry_base_seconds = 0\n"),
            "bank.toml",
            &env(&[]),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("engine.hook_retry_base_seconds"),
            "{e}"
        );
        let e = Config::parse(
            &format!("{BASE}[engine]\nrecycle_window_minutes = 9000000000000000000\n"),
            "bank.toml",
            &env(&[]),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("engine.recycle_window_minutes"),
            "{e}"
        );
        let e = Config::parse(
            &format!("{BASE}[engine]\nhook_lease_seconds = 10\nhook_timeout_seconds = 10\n"),
            "bank.toml",
            &env(&[]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("engine.hook_timeout_seconds"), "{e}");
    }

    #[test]
    fn unknown_top_level_key_is_named() {
        let e = Config::parse(
            &format!("{BASE}[stroe]\nurl=\"x\"\n"),
            "bank.toml",
            &env(&[]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("stroe"), "{e}");
    }
}
