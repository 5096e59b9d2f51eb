//! API tokens, admin sessions, CSRF tokens and sign-in throttling.
//!
//! Sessions are signed cookies `bank_admin=<hex user>.<generation>.<expiry>.<mac>`, the MAC
//! made with the installation secret (the engine's [`bank_core::FormSigner`]) over the
//! user, the generation, the expiry and a fingerprint of the user's password hash. They can
//! be revoked: each user has a session generation in the store (a named counter, shared by
//! every server), read on every staff request; signing out, `bank admin revoke-sessions`
//! and a new password hash (the fingerprint changes) end every session of that user. A
//! CSRF token is the MAC of the session cookie, so it is bound to one session and checked
//! on every admin POST.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ServerError;
use crate::settings::AdminUser;
use crate::AppState;

/// Name of the admin session cookie.
pub(crate) const SESSION_COOKIE: &str = "bank_admin";
/// Name of the cookie that binds the sign-in form to the browser that loaded it.
pub(crate) const LOGIN_COOKIE: &str = "bank_login";

/// Who made a request: `api:<token name>` or `admin:<user>`. Written in history lines.
pub(crate) type Principal = String;

/// Checks `Authorization: Bearer <token>` against the configured tokens; the token's name.
pub(crate) fn require_api_token(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Principal, ServerError> {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ServerError::Unauthorised)?;
    let mut found = None;
    // Every token is compared, so the time taken does not say which one nearly matched.
    for t in &state.settings.api_tokens {
        let secret = t.token.expose_secret().as_bytes();
        if secret.len() == given.len() && bool::from(secret.ct_eq(given.as_bytes())) {
            found = Some(format!("api:{}", t.name));
        }
    }
    found.ok_or(ServerError::Unauthorised)
}

/// The store counter holding `user`'s session generation (`bank admin revoke-sessions` bumps it).
pub fn generation_counter(user: &str) -> String {
    format!("admin-session:{user}")
}

/// A short fingerprint of the user's password hash: a new password ends old sessions.
fn password_fingerprint(user: &AdminUser) -> String {
    let d = Sha256::digest(user.password_hash.expose_secret().as_bytes());
    hex::encode(&d[..8])
}

/// The value of the session cookie for `user` at `generation`, valid until `expiry`.
pub(crate) fn session_value(
    state: &AppState,
    user: &AdminUser,
    generation: i64,
    expiry: i64,
) -> String {
    let (gen, exp) = (generation.to_string(), expiry.to_string());
    let mac = state.engine.signer().sign(&[
        "admin-session",
        &user.name,
        &gen,
        &exp,
        &password_fingerprint(user),
    ]);
    format!("{}.{gen}.{exp}.{mac}", hex::encode(user.name.as_bytes()))
}

/// The value of the cookie `name` of the request, if any.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The signed-in staff user, checked: known user, valid MAC over the current password,
/// current generation, not expired. Returns the user name and the cookie.
///
/// # Errors
/// [`ServerError::Unavailable`] when the store cannot say the generation.
pub(crate) async fn admin_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(String, String)>, ServerError> {
    let Some(cookie) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let mut parts = cookie.splitn(4, '.');
    let (Some(user), Some(gen), Some(exp), Some(mac)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    let Some(user) = hex::decode(user)
        .ok()
        .and_then(|u| String::from_utf8(u).ok())
    else {
        return Ok(None);
    };
    let (Ok(generation), Ok(expiry)) = (gen.parse::<i64>(), exp.parse::<i64>()) else {
        return Ok(None);
    };
    let Some(account) = state.settings.admins.iter().find(|a| a.name == user) else {
        return Ok(None);
    };
    if expiry < state.engine.now().timestamp()
        || !state.engine.signer().verify(
            &[
                "admin-session",
                &user,
                gen,
                exp,
                &password_fingerprint(account),
            ],
            mac,
        )
    {
        return Ok(None);
    }
    let current = state
        .engine
        .store()
        .counter(&generation_counter(&user))
        .await?;
    Ok((generation == current).then_some((user, cookie)))
}

/// The CSRF token of a session.
pub(crate) fn csrf_token(state: &AppState, session: &str) -> String {
    state.engine.signer().sign(&["csrf", session])
}

/// Checks a posted CSRF token against the session.
pub(crate) fn check_csrf(
    state: &AppState,
    session: &str,
    token: Option<&str>,
) -> Result<(), ServerError> {
    match token {
        Some(t) if state.engine.signer().verify(&["csrf", session], t) => Ok(()),
        _ => Err(ServerError::BadRequest(
            "missing or invalid CSRF token: reload the page".into(),
        )),
    }
}

/// Refuses a state-changing request whose `Origin` names another site than ours: the
/// installation's `base_url`, or the `Host` the request was sent to (a reverse proxy may
/// rewrite one or the other).
pub(crate) fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), ServerError> {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else {
        return Ok(());
    };
    let authority = |u: &url::Url| {
        u.host_str().map(|h| match u.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_string(),
        })
    };
    let given = origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .and_then(|u| authority(&u));
    let ours = url::Url::parse(state.engine.base_url())
        .ok()
        .and_then(|u| authority(&u));
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok());
    match given {
        Some(o)
            if ours.as_deref().is_some_and(|b| b.eq_ignore_ascii_case(&o))
                || host.is_some_and(|h| h.eq_ignore_ascii_case(&o)) =>
        {
            Ok(())
        }
        _ => Err(ServerError::Forbidden(
            "cross-site request refused (Origin is not this site)".into(),
        )),
    }
}

/// Decodes an `application/x-www-form-urlencoded` body.
pub(crate) fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The first field of this name.
pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Sign-in throttling. Each attempt is admitted or refused before any hashing, and an
/// admitted attempt counts as a failure until it succeeds, so parallel attempts cannot slip
/// through while the first is being hashed. After each failure the address waits longer
/// (1 s, 2 s, 4 s… up to [`Throttle::MAX_DELAY`]), and so does the user name from every
/// address, up to [`Throttle::MAX_USER_DELAY`] (short, so that a stranger cannot lock staff
/// out for long). Every name gets its own entry, known or not, so that a 429 says nothing
/// about which names exist; a success clears the address and the name. The table holds at
/// most [`Throttle::MAX_ENTRIES`] entries, so strangers cannot grow it.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    entries: Mutex<HashMap<String, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    until: Instant,
}

impl Throttle {
    /// Longest wait of an address after repeated failures.
    pub(crate) const MAX_DELAY: Duration = Duration::from_secs(300);
    /// Longest wait of a user name after repeated failures, from any address.
    pub(crate) const MAX_USER_DELAY: Duration = Duration::from_secs(30);
    /// Most entries kept.
    pub(crate) const MAX_ENTRIES: usize = 10_000;

    fn keys(peer: Option<IpAddr>, user: &str) -> [(String, Duration); 2] {
        let name: String = user.chars().take(64).collect();
        [
            (
                format!("ip:{}", peer.map_or("-".into(), |p| p.to_string())),
                Self::MAX_DELAY,
            ),
            (format!("user:{name}"), Self::MAX_USER_DELAY),
        ]
    }

    /// Admits an attempt, counting it as a failure until [`Throttle::succeeded`]; or says
    /// how long the caller must still wait.
    pub(crate) fn admit(&self, peer: Option<IpAddr>, user: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let keys = Self::keys(peer, user);
        let wait = keys
            .iter()
            .filter_map(|(k, _)| entries.get(k))
            .filter(|f| f.until > now)
            .map(|f| f.until - now)
            .max();
        if let Some(w) = wait {
            return Err(w);
        }
        Self::make_room(&mut entries, now);
        for (k, max) in keys {
            let e = entries.entry(k).or_insert(Failures {
                count: 0,
                until: now,
            });
            // A failure long after the last wait ended starts over.
            if e.until + max < now {
                e.count = 0;
            }
            e.count = e.count.saturating_add(1);
            e.until = now + Duration::from_secs(1u64 << (e.count - 1).min(9)).min(max);
        }
        Ok(())
    }

    fn make_room(entries: &mut HashMap<String, Failures>, now: Instant) {
        if entries.len() + 2 <= Self::MAX_ENTRIES {
            return;
        }
        // Forget those whose wait is long over; if still full, the oldest.
        entries.retain(|_, f| f.until + Self::MAX_DELAY > now);
        while entries.len() + 2 > Self::MAX_ENTRIES {
            let Some(k) = entries
                .iter()
                .min_by_key(|(_, f)| f.until)
                .map(|(k, _)| k.clone())
            else {
                return;
            };
            entries.remove(&k);
        }
    }

    /// Clears the address and the user after a success.
    pub(crate) fn succeeded(&self, peer: Option<IpAddr>, user: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for (k, _) in Self::keys(peer, user) {
            entries.remove(&k);
        }
    }
}

/// Checks `password` for the account named `user`, or spends the same work on a stand-in
/// hash when there is no such account (the answer's time does not say which names exist).
/// Runs on a blocking thread, one at a time: Argon2 takes tens of milliseconds and 19 MiB,
/// which must not stall the async workers or let sign-in floods exhaust memory.
pub(crate) async fn verify_password(
    state: &AppState,
    user: &str,
    password: String,
) -> Result<bool, ServerError> {
    let account = state
        .settings
        .admins
        .iter()
        .find(|a| a.name == user)
        .cloned();
    let _turn = state
        .hashing
        .acquire()
        .await
        .map_err(|_| ServerError::Unavailable)?;
    let stand_in = state.stand_in.clone();
    let admins = state.settings.admins.clone();
    tokio::task::spawn_blocking(move || match account {
        Some(a) => a.verify(&password),
        None => {
            let _ = stand_in
                .get_or_init(|| stand_in_for(&admins))
                .verify(&password);
            false
        }
    })
    .await
    .map_err(|_| ServerError::Unavailable)
}

/// A hash of a random password with the costliest parameters among the configured ones
/// (Argon2's defaults without any), so that an unknown name costs what a known one does.
pub(crate) fn stand_in_for(admins: &[AdminUser]) -> AdminUser {
    use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
    let params = admins
        .iter()
        .filter_map(|a| {
            PasswordHash::new(a.password_hash.expose_secret())
                .ok()
                .and_then(|h| argon2::Params::try_from(&h).ok())
        })
        .max_by_key(|p| (u64::from(p.m_cost()) * u64::from(p.t_cost()), p.p_cost()))
        .unwrap_or_default();
    let random: String = (0..32)
        .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
        .collect();
    let hasher = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let hash = hasher
        .hash_password(random.as_bytes(), &SaltString::generate(&mut OsRng))
        .map(|h| h.to_string())
        .unwrap_or_default();
    AdminUser {
        name: String::new(),
        password_hash: secrecy::SecretString::from(hash),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_wait_longer_each_time_and_success_clears() {
        let t = Throttle::default();
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        assert!(t.admit(Some(ip), "staff").is_ok());
        // Admitted attempts count until they succeed: a parallel one waits.
        let first = t.admit(Some(ip), "staff").expect_err("waits");
        assert!(first <= Duration::from_secs(1));
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        assert!(
            t.admit(Some(other), "staff").is_err(),
            "the name waits from any address"
        );
        assert!(t.admit(Some(other), "else").is_ok());
        assert!(
            t.admit(Some("192.0.2.3".parse().expect("ip")), "nobody")
                .is_ok(),
            "an unknown name is throttled like a known one, on its own"
        );
        t.succeeded(Some(ip), "staff");
        assert!(t.admit(Some(ip), "staff").is_ok());
    }

    #[test]
    fn the_table_is_bounded() {
        let t = Throttle::default();
        for i in 0..(Throttle::MAX_ENTRIES as u32 + 50) {
            let ip = IpAddr::from(i.to_be_bytes());
            let _ = t.admit(Some(ip), &format!("u{i}"));
        }
        assert!(t.entries.lock().expect("lock").len() <= Throttle::MAX_ENTRIES);
    }
}
