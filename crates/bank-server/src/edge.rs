//! Rules applied to every request and response at the edge, before any handler runs.
//!
//! - Text from outside never carries control characters into the store: a path, a query
//!   field, a JSON string or a posted form field with one (NUL, ESC, BEL, C1) is refused
//!   with a 400 that names the field. PostgreSQL refuses NUL in text and SQLite would keep
//!   it and hand it to HTML, XML and CSV later. Multi-line text (`\n`, `\r`, `\t`) is allowed
//!   in JSON strings and form values, never in paths and queries. A notification's query
//!   and body are raw evidence and go to its acquirer unchanged.
//! - Every response says it must not be framed or sniffed; staff, API and payment pages
//!   must not be cached.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use crate::error::ServerError;

/// True for a control character; `multiline` allows tab, line feed and carriage return.
fn is_refused(c: char, multiline: bool) -> bool {
    c.is_control() && !(multiline && matches!(c, '\t' | '\n' | '\r'))
}

fn refuse(what: &str) -> ServerError {
    ServerError::BadRequest(format!("{what}: control characters are not allowed"))
}

/// Checks a field's name and value.
fn check(name: &str, value: &str, multiline: bool) -> Result<(), ServerError> {
    if name.chars().any(|c| c.is_control()) {
        return Err(refuse("a field name"));
    }
    if value.chars().any(|c| is_refused(c, multiline)) {
        return Err(refuse(&format!("field {:?}", name)));
    }
    Ok(())
}

/// Checks posted form fields (admin actions).
pub(crate) fn check_fields(fields: &[(String, String)]) -> Result<(), ServerError> {
    fields.iter().try_for_each(|(k, v)| check(k, v, true))
}

/// Checks every string of a JSON document, naming the first bad one by its path.
pub(crate) fn check_json(v: &serde_json::Value, path: &str) -> Result<(), ServerError> {
    match v {
        serde_json::Value::String(s) => check(path, s, true),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| check_json(x, &format!("{path}[{i}]"))),
        serde_json::Value::Object(m) => m.iter().try_for_each(|(k, x)| {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            check(&p, "", false)?;
            check_json(x, &p)
        }),
        _ => Ok(()),
    }
}

/// Refuses a request whose path or query carries a control character, percent-encoded or
/// not. The query of a server notification is the provider's and is left to its acquirer.
pub(crate) async fn refuse_control_characters(req: Request, next: Next) -> Response {
    let uri = req.uri();
    let path = percent_decode_str(uri.path()).decode_utf8_lossy();
    if path.chars().any(|c| c.is_control()) {
        return refuse("the path").into_response();
    }
    let notify = path.starts_with("/bank/") && path.ends_with("/notify");
    if let (Some(q), false) = (uri.query(), notify) {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            if let Err(e) = check(&k, &v, false) {
                return e.into_response();
            }
        }
    }
    next.run(req).await
}

/// Runs the handler in a task of its own, so that neither a client hanging up nor the
/// request timeout can cancel it halfway: a database transaction is always committed or
/// rolled back, never left open on a pooled connection (where SQLite would keep its write
/// lock and stall every writer), and a notification being settled is settled.
pub(crate) async fn run_to_completion(req: Request, next: Next) -> Response {
    match tokio::spawn(next.run(req)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "request handler failed");
            ServerError::Unavailable.into_response()
        }
    }
}

/// Adds the headers every response carries, and `no-store` where pages are private.
pub(crate) async fn security_headers(req: Request, next: Next) -> Response {
    let private = ["/admin", "/api/", "/pay/"]
        .iter()
        .any(|p| req.uri().path().starts_with(p));
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static("frame-ancestors 'none'"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if private {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_name_the_field() {
        let v = serde_json::json!({ "amount": "1", "champs": { "note": "a\u{0}b" } });
        let e = check_json(&v, "").expect_err("refused");
        assert!(e.to_string().contains("champs.note"), "{e}");
        let ok = serde_json::json!({ "billing": { "address": "1 rue\r\n2e étage\t" } });
        assert!(check_json(&ok, "").is_ok());
        let esc = serde_json::json!({ "auteur": "x\u{1b}[31m" });
        assert!(check_json(&esc, "").is_err());
        let c1 = serde_json::json!({ "auteur": "x\u{85}" });
        assert!(check_json(&c1, "").is_err());
    }
}

/// The address a request came from: the connection's peer, or, when that peer is one of
/// `trusted` proxies, the last address of `X-Forwarded-For` that is not one of them (each
/// proxy appends the address it received from; anything further left was written by the
/// client and is not believed). `None` when a trusted proxy's header is missing or
/// unreadable.
pub(crate) fn client_address(
    peer: Option<std::net::IpAddr>,
    headers: &axum::http::HeaderMap,
    trusted: &[std::net::IpAddr],
) -> Option<std::net::IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        let ip = hop
            .parse::<std::net::IpAddr>()
            .or_else(|_| hop.parse::<std::net::SocketAddr>().map(|s| s.ip()))
            .ok()?;
        if !trusted.contains(&ip) {
            return Some(ip);
        }
    }
    None
}

#[cfg(test)]
mod address_tests {
    use super::client_address;
    use axum::http::HeaderMap;

    #[test]
    fn forwarded_addresses_are_believed_from_trusted_proxies_only() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        let proxy = ip("10.0.0.1");
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "195.101.99.76, 203.0.113.9".parse().expect("h"),
        );
        // Straight from a client: its own header is ignored.
        assert_eq!(
            client_address(Some(ip("198.51.100.7")), &h, &[proxy]),
            Some(ip("198.51.100.7"))
        );
        // Through the proxy: the last hop it appended, not what the client wrote before it.
        assert_eq!(
            client_address(Some(proxy), &h, &[proxy]),
            Some(ip("203.0.113.9"))
        );
        let mut v6 = HeaderMap::new();
        v6.insert("x-forwarded-for", "[2001:db8::1]:443".parse().expect("h"));
        assert_eq!(
            client_address(Some(proxy), &v6, &[proxy]),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            client_address(Some(proxy), &HeaderMap::new(), &[proxy]),
            None
        );
        let mut junk = HeaderMap::new();
        junk.insert("x-forwarded-for", "junk".parse().expect("h"));
        assert_eq!(client_address(Some(proxy), &junk, &[proxy]), None);
    }
}

#[cfg(test)]
mod completion_tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use axum::routing::get;
    use tower::ServiceExt;

    fn app(done: Arc<AtomicBool>, spawned: bool) -> axum::Router {
        let r = axum::Router::new().route(
            "/",
            get(move || async move {
                // A write that takes a while: the client is gone before it ends.
                tokio::time::sleep(Duration::from_millis(50)).await;
                done.store(true, Ordering::SeqCst);
                "done"
            }),
        );
        if spawned {
            r.layer(axum::middleware::from_fn(super::run_to_completion))
        } else {
            r
        }
    }

    async fn hang_up(spawned: bool) -> bool {
        let done = Arc::new(AtomicBool::new(false));
        let req = axum::http::Request::get("/")
            .body(axum::body::Body::empty())
            .expect("request");
        let call = app(done.clone(), spawned).oneshot(req);
        let _ = tokio::time::timeout(Duration::from_millis(5), call).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        done.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_handler_finishes_after_its_client_hung_up() {
        assert!(
            !hang_up(false).await,
            "without the layer, the work is cut short"
        );
        assert!(hang_up(true).await, "with it, the work ends");
    }
}
