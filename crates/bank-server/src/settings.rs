//! The `[server]` and `[admin]` sections of the configuration.

use std::fmt;

use bank_core::config::{resolve_section_secret, Env};
use bank_core::{Config, Error};
use secrecy::{ExposeSecret, SecretString};

/// One staff account: a name and an Argon2 password hash (PHC string).
#[derive(Clone)]
pub struct AdminUser {
    /// Login name.
    pub name: String,
    /// `$argon2id$…`.
    pub password_hash: SecretString,
}

impl fmt::Debug for AdminUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminUser")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl AdminUser {
    /// A user with `password`, hashed now (Argon2id, random salt).
    ///
    /// # Errors
    /// A hashing failure, as text.
    pub fn with_password(name: &str, password: &SecretString) -> Result<Self, String> {
        use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
        let salt = SaltString::generate(&mut OsRng);
        let hash = argon2::Argon2::default()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map_err(|e| e.to_string())?
            .to_string();
        Ok(AdminUser {
            name: name.to_string(),
            password_hash: SecretString::from(hash),
        })
    }

    /// True when `password` matches (constant time inside Argon2).
    pub fn verify(&self, password: &str) -> bool {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        PasswordHash::new(self.password_hash.expose_secret()).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    }
}

/// A bearer token of the JSON API, with the name that history lines show for what it did
/// (`api:<name>`): give the point of sale its own.
#[derive(Clone)]
pub struct ApiToken {
    /// Who holds it (`pos`, `shop`).
    pub name: String,
    /// The token, 24 characters at least.
    pub token: SecretString,
}

impl ApiToken {
    /// A token named `name`.
    pub fn new(name: &str, token: SecretString) -> Self {
        ApiToken {
            name: name.to_string(),
            token,
        }
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Settings of the HTTP service.
#[derive(Clone)]
pub struct ServerSettings {
    /// Address to listen on (`127.0.0.1:8080`).
    pub listen: String,
    /// Bearer tokens accepted by the JSON API (several, for rotation or for each client).
    pub api_tokens: Vec<ApiToken>,
    /// Staff accounts.
    pub admins: Vec<AdminUser>,
    /// Largest request body, bytes.
    pub body_limit_bytes: usize,
    /// Longest request, seconds.
    pub request_timeout_seconds: u64,
    /// Admin sessions last this long, seconds.
    pub session_seconds: i64,
    /// Cookies only over HTTPS (set in production behind TLS).
    pub secure_cookies: bool,
    /// Longest terminal charge, seconds: above the terminals' deadline (180 s by default).
    /// A reverse proxy in front must allow as much.
    pub terminal_timeout_seconds: u64,
    /// A client must send a request's whole head within this many seconds of starting it,
    /// or of the previous response on a kept-alive connection (which closes an idle one).
    pub header_timeout_seconds: u64,
    /// A request's body must arrive within this many seconds (a client trickling a body
    /// holds a connection otherwise; bodies are small).
    pub body_timeout_seconds: u64,
    /// Most connections open at once; further ones wait in the listen queue.
    pub max_connections: usize,
    /// On shutdown, requests in flight get this many seconds; then connections are closed.
    pub shutdown_grace_seconds: u64,
    /// Reverse proxies in front of the service: a request from one of them comes from the
    /// address it appended to `X-Forwarded-For`. Empty: the connection's peer.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSettings")
            .field("listen", &self.listen)
            .field("api_tokens", &self.api_tokens.len())
            .field("admins", &self.admins)
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field("request_timeout_seconds", &self.request_timeout_seconds)
            .field("header_timeout_seconds", &self.header_timeout_seconds)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8080".into(),
            api_tokens: Vec::new(),
            admins: Vec::new(),
            body_limit_bytes: 64 * 1024,
            request_timeout_seconds: 30,
            session_seconds: 8 * 3600,
            secure_cookies: false,
            terminal_timeout_seconds: 200,
            header_timeout_seconds: 10,
            body_timeout_seconds: 10,
            max_connections: 512,
            shutdown_grace_seconds: 10,
            trusted_proxies: Vec::new(),
        }
    }
}

impl ServerSettings {
    /// Reads `[server]` (listen, api_tokens, body_limit_bytes, request_timeout_seconds,
    /// secure_cookies) and `[admin]` (users = [{ name, password_hash }]) from `config`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file, key and reason.
    pub fn from_config(config: &Config, env: &dyn Env) -> Result<Self, Error> {
        let err = |key: &str, reason: String| Error::Config {
            file: config.source.clone(),
            key: key.to_string(),
            reason,
        };
        let mut s = ServerSettings::default();
        if let Some(t) = config.sections.get("server") {
            for (k, v) in t {
                let key = format!("server.{k}");
                match (k.as_str(), v) {
                    ("listen", toml::Value::String(l)) => s.listen = l.clone(),
                    ("api_tokens", toml::Value::Array(a)) => {
                        for (i, t) in a.iter().enumerate() {
                            // `{ name = "pos", env = "BANK_POS_TOKEN" }`, or the secret alone.
                            let mut t = t.clone();
                            let name = match t.as_table_mut().and_then(|t| t.remove("name")) {
                                Some(toml::Value::String(n)) if valid_name(&n) => n,
                                Some(_) => {
                                    return Err(err(
                                        &format!("{key}[{i}].name"),
                                        "1 to 32 letters, digits, '-' or '_'".into(),
                                    ))
                                }
                                None => format!("token{}", i + 1),
                            };
                            let tok =
                                resolve_section_secret(config, &t, &format!("{key}[{i}]"), env)?;
                            if tok.expose_secret().len() < 24 {
                                return Err(err(
                                    &format!("{key}[{i}]"),
                                    "too short: use at least 24 characters".into(),
                                ));
                            }
                            s.api_tokens.push(ApiToken { name, token: tok });
                        }
                    }
                    ("body_limit_bytes", toml::Value::Integer(n))
                        if (1024..=16 << 20).contains(n) =>
                    {
                        s.body_limit_bytes = usize::try_from(*n).unwrap_or(64 * 1024)
                    }
                    ("request_timeout_seconds", toml::Value::Integer(n))
                        if (1..=600).contains(n) =>
                    {
                        s.request_timeout_seconds = n.unsigned_abs()
                    }
                    ("session_seconds", toml::Value::Integer(n))
                        if (60..=7 * 86400).contains(n) =>
                    {
                        s.session_seconds = *n
                    }
                    ("secure_cookies", toml::Value::Boolean(b)) => s.secure_cookies = *b,
                    ("terminal_timeout_seconds", toml::Value::Integer(n))
                        if (10..=900).contains(n) =>
                    {
                        s.terminal_timeout_seconds = n.unsigned_abs()
                    }
                    ("header_timeout_seconds", toml::Value::Integer(n))
                        if (1..=120).contains(n) =>
                    {
                        s.header_timeout_seconds = n.unsigned_abs()
                    }
                    ("body_timeout_seconds", toml::Value::Integer(n)) if (1..=300).contains(n) => {
                        s.body_timeout_seconds = n.unsigned_abs()
                    }
                    ("max_connections", toml::Value::Integer(n)) if (8..=100_000).contains(n) => {
                        s.max_connections = usize::try_from(*n).unwrap_or(512)
                    }
                    ("trusted_proxies", toml::Value::Array(a)) => {
                        for (i, v) in a.iter().enumerate() {
                            let ip = v
                                .as_str()
                                .and_then(|t| t.trim().parse::<std::net::IpAddr>().ok())
                                .ok_or_else(|| {
                                    err(&format!("{key}[{i}]"), "expected an IP address".into())
                                })?;
                            s.trusted_proxies.push(ip);
                        }
                    }
                    ("shutdown_grace_seconds", toml::Value::Integer(n))
                        if (0..=600).contains(n) =>
                    {
                        s.shutdown_grace_seconds = n.unsigned_abs()
                    }
                    _ => return Err(err(&key, format!("unknown key or bad value {v}"))),
                }
            }
        }
        if let Some(t) = config.sections.get("admin") {
            for (k, v) in t {
                match (k.as_str(), v) {
                    ("users", toml::Value::Array(users)) => {
                        for (i, u) in users.iter().enumerate() {
                            let key = format!("admin.users[{i}]");
                            let name = u
                                .get("name")
                                .and_then(|n| n.as_str())
                                .ok_or_else(|| err(&key, "missing name".into()))?;
                            let hash = u
                                .get("password_hash")
                                .ok_or_else(|| err(&key, "missing password_hash".into()))?;
                            let hash = resolve_section_secret(
                                config,
                                hash,
                                &format!("{key}.password_hash"),
                                env,
                            )?;
                            check_hash(hash.expose_secret(), config.is_live())
                                .map_err(|r| err(&format!("{key}.password_hash"), r))?;
                            s.admins.push(AdminUser {
                                name: name.to_string(),
                                password_hash: hash,
                            });
                        }
                    }
                    _ => return Err(err(&format!("admin.{k}"), "unknown key".into())),
                }
            }
        }
        Ok(s)
    }
}

fn valid_name(n: &str) -> bool {
    (1..=32).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Argon2's parameters below which a live installation refuses a staff password hash: the
/// OWASP minimum for Argon2id (19 MiB, two passes), which is also the crate's default.
const MIN_MEMORY_KIB: u32 = 19 * 1024;
const MIN_PASSES: u32 = 2;

/// Checks a staff password hash: an Argon2 PHC string that parses (always), with at least
/// the OWASP minimum cost (in live mode).
fn check_hash(hash: &str, live: bool) -> Result<(), String> {
    use argon2::password_hash::PasswordHash;
    let parsed = PasswordHash::new(hash)
        .map_err(|e| format!("not an Argon2 PHC string ($argon2id$v=19$m=…,t=…,p=…$…): {e}"))?;
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return Err(format!(
            "expected an Argon2 hash, got {}",
            parsed.algorithm.as_str()
        ));
    }
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err(
            "an Argon2 PHC string has a salt and a hash ($argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>)"
                .into(),
        );
    }
    let params =
        argon2::Params::try_from(&parsed).map_err(|e| format!("Argon2 parameters: {e}"))?;
    if live && (params.m_cost() < MIN_MEMORY_KIB || params.t_cost() < MIN_PASSES) {
        return Err(format!(
            "too weak for a live installation (m={} KiB, t={}): use at least m={MIN_MEMORY_KIB}, t={MIN_PASSES}",
            params.m_cost(),
            params.t_cost()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_must_parse_and_be_strong_enough_when_live() {
        let good = AdminUser::with_password("a", &SecretString::from("pw")).expect("hash");
        assert!(check_hash(good.password_hash.expose_secret(), true).is_ok());
        assert!(check_hash("$argon2id$garbage", false).is_err());
        assert!(check_hash("$argon2id$not-a-hash", false).is_err());
        assert!(check_hash("plain text password", false).is_err());
        let weak = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$uH8bDA6lFJTo0SJmQHpvSg";
        assert!(
            check_hash(weak, false).is_ok(),
            "test mode takes a cheap hash"
        );
        assert!(check_hash(weak, true)
            .expect_err("weak")
            .contains("too weak"));
    }
}
