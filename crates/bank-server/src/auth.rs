//! API tokens, admin sessions and CSRF tokens.
//!
//! Sessions are stateless: a cookie `bank_admin=<user>.<expiry>.<mac>`, the MAC made with
//! the installation secret (the engine's [`bank_core::FormSigner`]). A CSRF token is the MAC
//! of the session cookie, so it is bound to one session and checked on every admin POST.

use axum::http::HeaderMap;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::error::ServerError;
use crate::AppState;

/// Name of the admin session cookie.
pub(crate) const SESSION_COOKIE: &str = "bank_admin";

/// Checks `Authorization: Bearer <token>` against the configured tokens.
pub(crate) fn require_api_token(state: &AppState, headers: &HeaderMap) -> Result<(), ServerError> {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ServerError::Unauthorised)?;
    let mut ok = subtle::Choice::from(0u8);
    for t in &state.settings.api_tokens {
        let t = t.expose_secret().as_bytes();
        if t.len() == given.len() {
            ok |= t.ct_eq(given.as_bytes());
        }
    }
    if bool::from(ok) {
        Ok(())
    } else {
        Err(ServerError::Unauthorised)
    }
}

/// The value of the session cookie for `user`, valid until `expiry` (Unix seconds).
pub(crate) fn session_value(state: &AppState, user: &str, expiry: i64) -> String {
    let exp = expiry.to_string();
    let mac = state.engine.signer().sign(&["admin-session", user, &exp]);
    format!("{user}.{exp}.{mac}")
}

/// The session cookie of the request, if any.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The signed-in staff user, checked: known user, valid MAC, not expired.
pub(crate) fn admin_user(state: &AppState, headers: &HeaderMap) -> Option<(String, String)> {
    let cookie = session_cookie(headers)?;
    let mut parts = cookie.splitn(3, '.');
    let (user, exp, mac) = (parts.next()?, parts.next()?, parts.next()?);
    let expiry: i64 = exp.parse().ok()?;
    if expiry < state.engine.now().timestamp()
        || !state.settings.admins.iter().any(|a| a.name == user)
    {
        return None;
    }
    state
        .engine
        .signer()
        .verify(&["admin-session", user, exp], mac)
        .then(|| (user.to_string(), cookie.clone()))
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
