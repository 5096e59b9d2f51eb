//! The staff side: sign in, transactions, history and raw notifications, and the actions
//! (mark received, refund, resolve a pending refund, replay a notification, abandon).
//! Every POST carries a CSRF token bound to the session.

use axum::body::Bytes;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use bank_core::{Money, Status};
use maud::{html, Markup};

use crate::api::parse_list_query;
use crate::auth::{
    admin_user, check_csrf, check_origin, cookie, csrf_token, field, form_fields,
    generation_counter, session_value, verify_password, LOGIN_COOKIE, SESSION_COOKIE,
};
use crate::error::ServerError;
use crate::pages::layout;
use crate::AppState;

fn login_redirect() -> Response {
    Redirect::to("/admin/login").into_response()
}

fn nav(user: &str, csrf: &str) -> Markup {
    html! {
        nav {
            a href="/admin" { "Transactions" } " · signed in as " (user) " · "
            form method="post" action="/admin/logout" style="display:inline" {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "Sign out" }
            }
        }
    }
}

/// The peer's address, when the server knows it (`bank_server::serve` records it).
pub(crate) fn peer(conn: &Option<Extension<ConnectInfo<SocketAddr>>>) -> Option<std::net::IpAddr> {
    conn.as_ref().map(|Extension(ConnectInfo(a))| a.ip())
}

/// `GET /admin/login`: the form, bound to this browser by a cookie (sign-in CSRF).
pub(crate) async fn login_page(State(state): State<AppState>) -> Response {
    let nonce = hex::encode(rand::random::<[u8; 16]>());
    let token = state.engine.signer().sign(&["login", &nonce]);
    let secure = if state.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{LOGIN_COOKIE}={nonce}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    );
    let page = layout(
        "Sign in",
        html! {
            h1 { "Sign in" }
            form method="post" action="/admin/login" {
                input type="hidden" name="csrf" value=(token);
                p { label { "User " input name="user" autocomplete="username" required; } }
                p { label { "Password " input name="password" type="password" autocomplete="current-password" required; } }
                button type="submit" { "Sign in" }
            }
        },
    );
    ([(header::SET_COOKIE, cookie)], page).into_response()
}

/// `POST /admin/login`: same-site, with the form's token, throttled, hashed off the async
/// workers, the same work for unknown users.
pub(crate) async fn login(
    State(state): State<AppState>,
    conn: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ServerError> {
    check_origin(&state, &headers)?;
    let f = form_fields(&body);
    let nonce = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if nonce.is_empty()
        || !field(&f, "csrf").is_some_and(|t| state.engine.signer().verify(&["login", &nonce], t))
    {
        return Err(ServerError::BadRequest(
            "the sign-in form has expired: reload it".into(),
        ));
    }
    let (user, password) = (
        field(&f, "user").unwrap_or_default(),
        field(&f, "password").unwrap_or_default(),
    );
    let known = state.settings.admins.iter().find(|a| a.name == user);
    // Behind a trusted proxy, the client it forwarded: throttling the proxy would lock
    // everyone out together.
    let ip = crate::edge::client_address(peer(&conn), &headers, &state.settings.trusted_proxies);
    if let Err(wait) = state.throttle.admit(ip, user) {
        tracing::warn!(known = known.is_some(), ?ip, "admin sign-in throttled");
        return Err(ServerError::TooManyRequests(wait.as_secs().max(1)));
    }
    if !verify_password(&state, user, password.to_string()).await? {
        tracing::warn!(known = known.is_some(), ?ip, "admin sign-in refused");
        let page = layout(
            "Sign in",
            html! { h1 { "Sign in" } p.err { "Wrong user or password." } a href="/admin/login" { "Try again" } },
        );
        return Ok((StatusCode::UNAUTHORIZED, page).into_response());
    }
    let Some(account) = known else {
        return Err(ServerError::Unauthorised);
    };
    state.throttle.succeeded(ip, user);
    let generation = state
        .engine
        .store()
        .counter(&generation_counter(user))
        .await?;
    let expiry = state.engine.now().timestamp() + state.settings.session_seconds;
    let value = session_value(&state, account, generation, expiry);
    let secure = if state.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        state.settings.session_seconds
    );
    tracing::info!(user, "admin signed in");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/admin")).into_response())
}

/// `POST /admin/logout`: ends every session of the user, on every server.
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ServerError> {
    if let Some((user, session)) = admin_user(&state, &headers).await? {
        let f = form_fields(&body);
        check_csrf(&state, &session, field(&f, "csrf"))?;
        state
            .engine
            .store()
            .next_counter(&generation_counter(&user))
            .await?;
        tracing::info!(user, "admin signed out: sessions revoked");
    }
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/admin/login")).into_response())
}

/// `GET /admin?status=&mode=&authorisation=&reference=&before=`.
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ServerError> {
    let Some((user, session)) = admin_user(&state, &headers).await? else {
        return Ok(login_redirect());
    };
    let q = q.unwrap_or_default();
    let (filter, before, limit) = parse_list_query(&q)?;
    let page = state
        .engine
        .store()
        .list_transactions(&filter, before, limit)
        .await?;
    let modes: Vec<String> = state
        .engine
        .registry()
        .all()
        .map(|a| a.info().id.clone())
        .collect();
    let sel = |a: Option<&str>, b: &str| a == Some(b);
    let next_link = page.next.map(|n| {
        let kept: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .filter(|(k, _)| k != "before")
            .collect();
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.extend_pairs(kept);
        s.append_pair("before", &n.to_string());
        format!("/admin?{}", s.finish())
    });
    Ok(layout(
        "Transactions",
        html! {
            (nav(&user, &csrf_token(&state, &session)))
            h1 { "Transactions" }
            form method="get" action="/admin" {
                label { "Status " select name="status" {
                    option value="" { "any" }
                    @for s in Status::ALL { option value=(s.as_str()) selected[sel(filter.status.map(|x| x.as_str()), s.as_str())] { (s) } }
                } }
                " "
                label { "Mode " select name="mode" {
                    option value="" { "any" }
                    @for m in &modes { option value=(m) selected[sel(filter.mode.as_deref(), m)] { (m) } }
                } }
                " "
                label { "Authorisation " input name="authorisation" value=(filter.authorisation.clone().unwrap_or_default()); }
                " "
                label { "Reference " input name="reference" value=(filter.reference.clone().unwrap_or_default()); }
                " " button type="submit" { "Search" }
            }
            table {
                thead { tr { th { "Reference" } th { "Created" } th { "Amount" } th { "Status" } th { "Mode" } th { "Authorisation" } th { "Payer" } } }
                tbody {
                    @for t in &page.items {
                        tr {
                            td { a href={ "/admin/tx/" (t.reference) } { (t.reference) } }
                            td { (t.created_at.format("%Y-%m-%d %H:%M")) }
                            td { (t.amount) }
                            td.status title=(t.error_message.clone().unwrap_or_default()) { (t.status) }
                            td { (t.mode.clone().unwrap_or_default()) }
                            td { (t.authorisation.clone().unwrap_or_default()) }
                            td { (t.auteur.clone().unwrap_or_default()) }
                        }
                    }
                }
            }
            @if let Some(link) = next_link { p { a href=(link) { "Older →" } } }
        },
    )
    .into_response())
}

/// `GET /admin/tx/{reference}`: detail, history, actions.
pub(crate) async fn detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(reference): Path<String>,
) -> Result<Response, ServerError> {
    let Some((user, session)) = admin_user(&state, &headers).await? else {
        return Ok(login_redirect());
    };
    let tx = state.engine.transaction(&reference).await?;
    let history = state.engine.store().history(tx.id).await?;
    let csrf = csrf_token(&state, &session);
    let offline: Vec<String> = state
        .engine
        .registry()
        .all()
        .filter(|a| a.capabilities().offline)
        .map(|a| a.info().id.clone())
        .collect();
    let action = |name: &str, label: &str, extra: Markup| {
        html! {
            form method="post" action={ "/admin/tx/" (tx.reference) "/" (name) } {
                input type="hidden" name="csrf" value=(csrf);
                (extra)
                button type="submit" { (label) }
            }
        }
    };
    Ok(layout(
        &tx.reference,
        html! {
            (nav(&user, &csrf))
            h1 { "Transaction " (tx.reference) }
            dl {
                dt { "Status" } dd.status { (tx.status) }
                dt { "Amount" } dd { (tx.amount) }
                @if let Some(ht) = tx.amount_ht { dt { "Excluding tax" } dd { (ht) } }
                dt { "Refunded" } dd { (tx.refunded) @if !tx.refund_pending.is_zero() { " (" (tx.refund_pending) " pending: check at the provider)" } }
                dt { "Mode" } dd { (tx.mode.clone().unwrap_or_default()) }
                dt { "Authorisation" } dd { (tx.authorisation.clone().unwrap_or_default()) }
                dt { "Payer" } dd { (tx.auteur.clone().unwrap_or_default()) }
                @if let Some(e) = &tx.error_code { dt { "Error" } dd { (e) " " (tx.error_message.clone().unwrap_or_default()) } }
                dt { "Created" } dd { (tx.created_at.to_rfc3339()) }
            }
            h2 { "Actions" }
            @if matches!(tx.status, Status::Commande | Status::Attente | Status::Echec | Status::Abandon) && !offline.is_empty() {
                (action("mark_received", "Mark received", html! {
                    select name="instance" { @for o in &offline { option value=(o) selected[tx.mode.as_deref() == Some(o.as_str())] { (o) } } }
                    " " input name="note" placeholder="cheque number, note";
                }))
            }
            @if tx.status == Status::Ok && !tx.refundable().is_zero() {
                (action("refund", "Refund", html! { input name="amount" placeholder=(tx.refundable().to_decimal_string()); " " }))
            }
            @if !tx.refund_pending.is_zero() {
                (action("refund_done", "The pending refund was made", html! {}))
                (action("refund_not_done", "The pending refund was not made", html! {}))
            }
            @if matches!(tx.status, Status::Commande | Status::Attente | Status::Echec) {
                (action("abandon", "Abandon", html! {}))
            }
            h2 { "History" }
            table {
                thead { tr { th { "When" } th { "What" } th { "Status" } th { "Instance" } th { "Detail" } } }
                tbody {
                    @for h in &history {
                        tr {
                            td { (h.at.format("%Y-%m-%d %H:%M:%S")) }
                            td { (h.kind.as_str()) }
                            td { @if let (Some(f), Some(t)) = (h.from, h.to) { @if f != t { (f) " → " (t) } @else { (t) } } }
                            td { (h.instance.clone().unwrap_or_default()) }
                            td {
                                @if let Some(n) = h.notification_id {
                                    a href={ "/admin/notification/" (n) } { "raw" } " "
                                    (action("replay", "Replay", html! { input type="hidden" name="notification" value=(n); }))
                                }
                                code { (h.detail.to_string()) }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response())
}

/// `GET /admin/notification/{id}`: a stored raw notification.
pub(crate) async fn notification(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, ServerError> {
    let Some((user, session)) = admin_user(&state, &headers).await? else {
        return Ok(login_redirect());
    };
    let n = state
        .engine
        .store()
        .notification(id)
        .await?
        .ok_or_else(|| ServerError::NotFound("notification".into()))?;
    Ok(layout(
        "Notification",
        html! {
            (nav(&user, &csrf_token(&state, &session)))
            h1 { "Notification " (n.id) }
            dl {
                dt { "Instance" } dd { (n.instance) }
                dt { "Verdict" } dd { (n.verdict.as_str()) " " (n.reason.clone().unwrap_or_default()) }
                dt { "Received" } dd { (n.raw.received_at.to_rfc3339()) }
                dt { "Channel" } dd { (n.raw.channel.as_str()) " " (n.raw.method.as_str()) }
                dt { "Query" } dd { code { (n.raw.query) } }
                dt { "Headers" } dd { @for (k, v) in &n.raw.headers { code { (k) ": " (v) } br; } }
                dt { "Body" } dd { code { (String::from_utf8_lossy(&n.raw.body)) } }
            }
        },
    )
    .into_response())
}

/// `POST /admin/tx/{reference}/{action}`.
pub(crate) async fn action(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((reference, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let Some((user, session)) = admin_user(&state, &headers).await? else {
        return Err(ServerError::Unauthorised);
    };
    let f = form_fields(&body);
    check_csrf(&state, &session, field(&f, "csrf"))?;
    crate::edge::check_fields(&f)?;
    let engine = &state.engine;
    match action.as_str() {
        "mark_received" => {
            engine
                .mark_received(
                    &reference,
                    field(&f, "instance").filter(|s| !s.is_empty()),
                    &user,
                    field(&f, "note").unwrap_or_default(),
                )
                .await?;
        }
        "refund" => {
            let tx = engine.transaction(&reference).await?;
            let amount = match field(&f, "amount").map(str::trim).filter(|s| !s.is_empty()) {
                Some(a) => Some(Money::parse(a, tx.amount.currency())?),
                None => None,
            };
            engine.refund(&reference, amount, &user).await?;
        }
        "refund_done" | "refund_not_done" => {
            engine
                .resolve_pending_refund(&reference, action == "refund_done", &user)
                .await?;
        }
        "abandon" => {
            engine.abandon(&reference, &user).await?;
        }
        "replay" => {
            let id: i64 = field(&f, "notification")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| ServerError::BadRequest("notification: expected an id".into()))?;
            let tx = engine.transaction(&reference).await?;
            let stored = engine
                .store()
                .notification(id)
                .await?
                .ok_or_else(|| ServerError::NotFound("notification".into()))?;
            // Check first, act second: the page replays only a notification of its own
            // transaction.
            if stored.transaction_id != Some(tx.id) {
                return Err(ServerError::Conflict(format!(
                    "notification {id} is not one of transaction {}",
                    tx.reference
                )));
            }
            tracing::info!(user, id, "replaying a stored notification");
            // A replay goes through the whole path again: verification, amount, transition.
            engine
                .handle_notification(&stored.instance, stored.raw)
                .await?;
        }
        other => return Err(ServerError::NotFound(format!("action {other}"))),
    }
    let back = url::form_urlencoded::byte_serialize(reference.as_bytes()).collect::<String>();
    Ok(Redirect::to(&format!("/admin/tx/{back}")).into_response())
}
