//! The service's edges as an attacker or a newcomer meets them (issue 10): what strangers can
//! store, label and keep open, sign-in and sessions, the payment page, control characters,
//! the terminal's resolve. Store-backed checks run on SQLite, and on PostgreSQL when
//! `BANK_TEST_POSTGRES_URL` is set (required when `CI` is set).

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use bank_core::config::ProcessEnv;
use bank_core::testing::RecordingHooks;
use bank_core::{async_trait, Config, Engine, Status};
use bank_server::{
    router_with, AdminUser, ApiToken, ServerSettings, TerminalPort, TerminalRefusal,
};
use http_body_util::BodyExt;
use secrecy::SecretString;
use tower::ServiceExt;

const TOKEN: &str = "edges-api-token-0123456789abcdef";
const PG_ENV: &str = "BANK_TEST_POSTGRES_URL";

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The backends to run on: SQLite always, PostgreSQL when configured (and required in CI).
fn backends() -> Vec<Backend> {
    match std::env::var(PG_ENV) {
        Ok(_) => vec![Backend::Sqlite, Backend::Postgres],
        Err(_) => {
            bank_core::testing::skip_suite(
                "PostgreSQL (bank-server edges)",
                &format!("set {PG_ENV}=postgres://postgres@127.0.0.1:5432/test to run"),
            );
            vec![Backend::Sqlite]
        }
    }
}

/// What the terminal routes were asked, as a recording fake.
#[derive(Debug, Default)]
struct Terminals {
    resolved_by: Mutex<Vec<String>>,
}

#[async_trait]
impl TerminalPort for Terminals {
    fn instances(&self) -> Vec<String> {
        vec!["comptoir".into()]
    }
    async fn charge(&self, _: &str, _: &str) -> Result<serde_json::Value, TerminalRefusal> {
        Ok(serde_json::json!({}))
    }
    async fn resolve(
        &self,
        _: &str,
        _: &serde_json::Value,
        staff: &str,
    ) -> Result<serde_json::Value, TerminalRefusal> {
        self.resolved_by.lock().unwrap().push(staff.to_string());
        Ok(serde_json::json!({ "resolved": true }))
    }
}

struct App {
    router: Router,
    engine: Arc<Engine>,
    terminals: Arc<Terminals>,
    settings: ServerSettings,
    pg: Option<(bank_store::PgStore, String)>,
    _dir: tempfile::TempDir,
}

impl App {
    async fn cleanup(self) {
        if let Some((pg, schema)) = &self.pg {
            let _ = sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .execute(pg.pool())
                .await;
        }
    }
}

const CONFIG: &str = r#"
[installation]
id = "web"
secret = "edges-secret-0123456789abcdef"
base_url = "http://127.0.0.1:8080"
[engine]
unverified_per_hour = 5
[[instance]]
id = "simu"
provider = "simu"
order = 1
[[instance]]
id = "cheque"
provider = "cheque"
order = 2
[instance.options]
payee = "Association"
address = "1 rue de la Paix"
"#;

async fn app_on(backend: Backend, extra: &str) -> App {
    let config = Config::parse(&format!("{CONFIG}{extra}"), "<edges>", &ProcessEnv).unwrap();
    let registry = bank::Registry::from_config(&config, &ProcessEnv).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, pg): (Arc<dyn bank_core::Store>, _) = match backend {
        Backend::Sqlite => (
            bank_store::open(&format!("sqlite://{}", dir.path().join("b.db").display()))
                .await
                .unwrap(),
            None,
        ),
        Backend::Postgres => {
            let url = std::env::var(PG_ENV).unwrap();
            let schema = format!("bank_edges_{}", rand::random::<u64>());
            let s = bank_store::PgStore::connect_in_schema(&url, Some(&schema))
                .await
                .unwrap();
            (Arc::new(s.clone()), Some((s, schema)))
        }
    };
    let engine = Arc::new(
        Engine::open(
            store,
            registry,
            Arc::new(RecordingHooks::new()),
            &config.installation,
            config.engine.clone(),
        )
        .await
        .unwrap(),
    );
    let settings = ServerSettings {
        api_tokens: vec![ApiToken::new("pos", SecretString::from(TOKEN))],
        admins: vec![
            AdminUser::with_password("staff", &SecretString::from("correct horse")).unwrap(),
            AdminUser::with_password("jean.dupont", &SecretString::from("pass word")).unwrap(),
        ],
        ..ServerSettings::default()
    };
    let terminals = Arc::new(Terminals::default());
    App {
        router: router_with(
            engine.clone(),
            settings.clone(),
            Some(terminals.clone() as Arc<dyn TerminalPort>),
        ),
        engine,
        terminals,
        settings,
        pg,
        _dir: dir,
    }
}

async fn send(app: &App, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    send_to(&app.router, req).await
}

async fn send_to(r: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let resp = r.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

async fn get(app: &App, uri: impl AsRef<str>) -> (StatusCode, axum::http::HeaderMap, String) {
    send(app, Request::get(uri.as_ref()).body(Body::empty()).unwrap()).await
}

fn api(method: &str, uri: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn create(app: &App, amount: &str) -> String {
    let (s, _, b) = send(
        app,
        api(
            "POST",
            "/api/transactions",
            &format!(r#"{{"amount":"{amount}","force":true}}"#),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    serde_json::from_str::<serde_json::Value>(&b).unwrap()["reference"]
        .as_str()
        .unwrap()
        .to_string()
}

fn first_cookie(h: &axum::http::HeaderMap) -> String {
    h[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

fn hidden(page: &str, name: &str) -> String {
    page.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

async fn login(r: &Router, user: &str, password: &str) -> (StatusCode, axum::http::HeaderMap) {
    let (_, h, page) = send_to(r, Request::get("/admin/login").body(Body::empty()).unwrap()).await;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &hidden(&page, "csrf"))
        .append_pair("user", user)
        .append_pair("password", password)
        .finish();
    let req = Request::post("/admin/login")
        .header(header::COOKIE, first_cookie(&h))
        .body(Body::from(body))
        .unwrap();
    let (s, h, _) = send_to(r, req).await;
    (s, h)
}

async fn admin_status(r: &Router, cookie: &str) -> StatusCode {
    let req = Request::get("/admin")
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    send_to(r, req).await.0
}

// ---------------------------------------------------------------------------------------
// 1. The terminal's resolve names who resolved from the credential, never from a header.

#[tokio::test]
async fn terminal_resolve_takes_the_principal_not_a_header() {
    let app = app_on(Backend::Sqlite, "").await;
    let mut req = api(
        "POST",
        "/api/terminal/comptoir/resolve",
        r#"{"reference":"web-0000000000000000","word":"approved","authorisation":"A1"}"#,
    );
    req.headers_mut()
        .insert("x-bank-staff", "Mallory".parse().unwrap());
    let (s, _, b) = send(&app, req).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(*app.terminals.resolved_by.lock().unwrap(), vec!["api:pos"]);
    let anonymous = Request::post("/api/terminal/comptoir/resolve")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(&app, anonymous).await.0, StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------------------------------
// 3. Metrics labels come from the configuration.

#[tokio::test]
async fn metrics_labels_cannot_be_injected_or_grown_from_the_url() {
    let app = app_on(Backend::Sqlite, "").await;
    let evil = "/bank/x%22%7D%201%0Abank_outbox_dead%7Binjected%3D%22yes/notify";
    let (s, _, _) = send(&app, Request::post(evil).body(Body::from("x")).unwrap()).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "a line feed in the path is refused"
    );
    let quoted = "/bank/x%22%7D%201%20bank_outbox_dead%7Binjected%3D%22yes/notify";
    let (s, _, _) = send(&app, Request::post(quoted).body(Body::from("x")).unwrap()).await;
    assert_eq!(s, StatusCode::OK, "acknowledged, counted as unknown");
    for i in 0..200 {
        let req = Request::post(format!("/bank/invented{i}/notify"))
            .body(Body::from("x"))
            .unwrap();
        assert_eq!(send(&app, req).await.0, StatusCode::OK);
    }
    let sig = Request::post("/bank/simu/notify")
        .body(Body::from("bad"))
        .unwrap();
    send(&app, sig).await;
    let (_, _, m) = send(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert!(!m.contains("injected"), "{m}");
    assert!(!m.contains("invented"), "{m}");
    assert!(m.contains("instance=\"unknown\""), "{m}");
    assert!(m.contains("instance=\"simu\""), "{m}");
    let series = m
        .lines()
        .filter(|l| l.starts_with("bank_notifications_total"))
        .count();
    assert!(series <= 3, "{series} series:\n{m}");
}

// ---------------------------------------------------------------------------------------
// 4. What strangers can store.

#[tokio::test]
async fn requests_that_did_not_verify_are_cut_and_budgeted_on_both_stores() {
    for backend in backends() {
        let app = app_on(backend, "").await;
        // Under the body limit (64 KiB); headers and query add to it.
        let big = "x".repeat(60_000);
        for i in 0..12 {
            let req = Request::post(format!("/bank/simu/notify?{}", "q".repeat(3000)))
                .header("x-padding", "h".repeat(2000))
                .body(Body::from(format!("{i}{big}")))
                .unwrap();
            let (s, _, _) = send(&app, req).await;
            assert!(s.is_client_error(), "{backend:?}: a forged post is refused");
            let unknown = Request::post(format!("/bank/nowhere{i}/notify"))
                .body(Body::from(big.clone()))
                .unwrap();
            assert_eq!(send(&app, unknown).await.0, StatusCode::OK);
        }
        let store = app.engine.store();
        let mut stored = Vec::new();
        for id in 1..=40 {
            if let Some(n) = store.notification(id).await.unwrap() {
                stored.push(n);
            }
        }
        // 5 an hour for simu, 5 for all unknown instances together.
        assert_eq!(stored.len(), 10, "{backend:?}");
        for n in &stored {
            assert_eq!(n.verdict, bank_core::store::Verdict::Rejected);
            assert!(
                n.raw.body.len() <= bank_core::engine::MAX_BODY,
                "{backend:?}"
            );
            assert!(n.raw.query.len() <= bank_core::engine::MAX_QUERY);
            assert!(n
                .raw
                .headers
                .iter()
                .all(|(_, v)| v.len() <= bank_core::engine::MAX_HEADER_VALUE));
            let reason = n.reason.clone().unwrap();
            assert!(
                reason.contains("sha256") && reason.contains("cut"),
                "{reason}"
            );
        }
        // The whole evidence is a few kilobytes per stored request, whatever was sent.
        let total: usize = stored
            .iter()
            .map(|n| {
                n.raw.body.len()
                    + n.raw.query.len()
                    + n.raw
                        .headers
                        .iter()
                        .map(|(k, v)| k.len() + v.len())
                        .sum::<usize>()
            })
            .sum();
        assert!(total < 10 * 12 * 1024, "{total} bytes stored");
        // Pruning removes rejected requests, never verified ones.
        let later = app.engine.now() + chrono::Duration::days(1);
        let (pruned, tallies) = store.prune_unverified(later).await.unwrap();
        assert_eq!((pruned, tallies), (10, 2), "{backend:?}");
        assert!(store.notification(stored[0].id).await.unwrap().is_none());
        app.cleanup().await;
    }
}

#[tokio::test]
async fn verified_evidence_stays_append_only_on_both_stores() {
    for backend in backends() {
        let app = app_on(backend, "").await;
        let reference = create(&app, "12").await;
        let (_, _, page) = get(&app, format!("/pay/{reference}")).await;
        let form = ok_form(&page);
        let req = Request::post("/bank/simu/action")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap();
        assert_eq!(send(&app, req).await.0, StatusCode::SEE_OTHER);
        let tx = app.engine.transaction(&reference).await.unwrap();
        assert_eq!(tx.status, Status::Ok);
        let later = app.engine.now() + chrono::Duration::days(1);
        app.engine.store().prune_unverified(later).await.unwrap();
        let history = app.engine.store().history(tx.id).await.unwrap();
        let id = history.iter().find_map(|h| h.notification_id).unwrap();
        assert!(
            app.engine.store().notification(id).await.unwrap().is_some(),
            "{backend:?}: accepted notifications are never pruned"
        );
        app.cleanup().await;
    }
}

/// The urlencoded body of the simulation's "ok" button on a payment page.
fn ok_form(page: &str) -> String {
    for form in page.split("<form").skip(1) {
        let fields: Vec<(String, String)> = form
            .split("<input")
            .skip(1)
            .filter_map(|i| {
                let attr = |n: &str| {
                    i.split(&format!("{n}=\""))
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                        .map(|s| s.replace("&amp;", "&"))
                };
                Some((attr("name")?, attr("value")?))
            })
            .collect();
        if fields.iter().any(|(k, v)| k == "choice" && v == "ok") {
            return url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields)
                .finish();
        }
    }
    panic!("no ok button in\n{page}");
}

// ---------------------------------------------------------------------------------------
// 6, 7, 13. Sign-in and sessions.

#[tokio::test]
async fn sign_in_is_throttled_and_same_site() {
    let app = app_on(Backend::Sqlite, "").await;
    let (s, _) = login(&app.router, "staff", "wrong").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, h) = login(&app.router, "staff", "correct horse").await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "the second attempt comes too soon"
    );
    assert!(h.contains_key(header::RETRY_AFTER));
    let (s, _) = login(&app.router, "nobody", "x").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "from the same address");
    // Without the form's token, or from another site: refused before any hashing.
    let bare = Request::post("/admin/login")
        .body(Body::from("user=staff&password=correct+horse"))
        .unwrap();
    assert_eq!(send(&app, bare).await.0, StatusCode::BAD_REQUEST);
    let cross = Request::post("/admin/login")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::HOST, "shop.example")
        .body(Body::from("user=staff"))
        .unwrap();
    assert_eq!(send(&app, cross).await.0, StatusCode::FORBIDDEN);
    // Behind a proxy that rewrites Host, an Origin of our base_url is ours.
    let proxied = Request::post("/admin/login")
        .header(header::ORIGIN, "http://127.0.0.1:8080")
        .header(header::HOST, "backend:9000")
        .body(Body::from("user=staff"))
        .unwrap();
    assert_eq!(
        send(&app, proxied).await.0,
        StatusCode::BAD_REQUEST,
        "past the Origin check"
    );
    let (_, h, _) = get(&app, "/admin/login").await;
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    assert!(h[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
}

/// Parallel guesses cannot slip through while the first is being hashed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_sign_in_attempts_are_throttled_too() {
    let app = app_on(Backend::Sqlite, "").await;
    let mut requests = Vec::new();
    for _ in 0..8 {
        let (_, h, page) = get(&app, "/admin/login").await;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &hidden(&page, "csrf"))
            .append_pair("user", "staff")
            .append_pair("password", "guess")
            .finish();
        requests.push(
            Request::post("/admin/login")
                .header(header::COOKIE, first_cookie(&h))
                .body(Body::from(body))
                .unwrap(),
        );
    }
    let answers = futures_join(&app.router, requests).await;
    let hashed = answers
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = answers
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((hashed, throttled), (1, 7), "{answers:?}");
}

async fn futures_join(r: &Router, requests: Vec<Request<Body>>) -> Vec<StatusCode> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|req| {
            let r = r.clone();
            tokio::spawn(async move { r.oneshot(req).await.unwrap().status() })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn sessions_end_at_logout_revocation_and_password_change() {
    for backend in backends() {
        let app = app_on(backend, "").await;
        // A name with a dot signs in and is recognised.
        let (s, h) = login(&app.router, "jean.dupont", "pass word").await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let dotted = first_cookie(&h);
        assert_eq!(admin_status(&app.router, &dotted).await, StatusCode::OK);

        let (s, h) = login(&app.router, "staff", "correct horse").await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{backend:?}");
        let cookie = first_cookie(&h);
        assert_eq!(admin_status(&app.router, &cookie).await, StatusCode::OK);
        // The MAC has one spelling.
        let (head, mac) = cookie.rsplit_once('.').unwrap();
        let upper = format!("{head}.{}", mac.to_ascii_uppercase());
        assert_eq!(
            admin_status(&app.router, &upper).await,
            StatusCode::SEE_OTHER
        );

        // Sign out: the old cookie no longer opens /admin.
        let (_, _, page) = send(
            &app,
            Request::get("/admin")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        let out = Request::post("/admin/logout")
            .header(header::COOKIE, &cookie)
            .body(Body::from(format!("csrf={}", hidden(&page, "csrf"))))
            .unwrap();
        assert_eq!(send(&app, out).await.0, StatusCode::SEE_OTHER);
        assert_eq!(
            admin_status(&app.router, &cookie).await,
            StatusCode::SEE_OTHER,
            "{backend:?}: replayed after logout"
        );

        // The operator's command (what `bank admin revoke-sessions` does), seen by another
        // server on the same store.
        let (_, h) = login(&app.router, "staff", "correct horse").await;
        let cookie = first_cookie(&h);
        let other = router_with(app.engine.clone(), app.settings.clone(), None);
        assert_eq!(admin_status(&other, &cookie).await, StatusCode::OK);
        app.engine
            .store()
            .next_counter(&bank_server::session_generation_counter("staff"))
            .await
            .unwrap();
        assert_eq!(admin_status(&other, &cookie).await, StatusCode::SEE_OTHER);

        // A restart with a new password hash ends the sessions made with the old one.
        let (_, h) = login(&app.router, "staff", "correct horse").await;
        let cookie = first_cookie(&h);
        let mut changed = app.settings.clone();
        changed.admins[0] =
            AdminUser::with_password("staff", &SecretString::from("new password")).unwrap();
        let restarted = router_with(app.engine.clone(), changed, None);
        assert_eq!(admin_status(&app.router, &cookie).await, StatusCode::OK);
        assert_eq!(
            admin_status(&restarted, &cookie).await,
            StatusCode::SEE_OTHER
        );
        app.cleanup().await;
    }
}

// ---------------------------------------------------------------------------------------
// 8, 15, 16, 18. The payment page.

#[tokio::test]
async fn the_payment_page_stays_and_stripe_is_created_only_when_chosen() {
    let stripe = bank::stripe::sandbox::Sandbox::spawn(Default::default()).unwrap();
    let paybox = bank::paybox::sandbox::Sandbox::spawn(Default::default()).unwrap();
    let mut extra = String::new();
    for (id, order, options) in [
        ("stripe", 3, stripe.instance_options()),
        ("paybox", 4, paybox.instance_options()),
    ] {
        extra.push_str(&format!(
            "[[instance]]\nid = \"{id}\"\nprovider = \"{id}\"\norder = {order}\n[instance.options]\n"
        ));
        for (k, v) in options {
            extra.push_str(&format!("{k} = {}\n", serde_json::to_string(&v).unwrap()));
        }
        if id == "paybox" {
            extra.push_str("default_email = \"payer@example.org\"\n");
        }
    }
    let app = app_on(Backend::Sqlite, &extra).await;
    let reference = create(&app, "25").await;
    let sessions = || {
        stripe
            .requests()
            .iter()
            .filter(|(m, p, _)| m == "POST" && p.contains("checkout/sessions"))
            .count()
    };
    for _ in 0..3 {
        let (s, _, page) = get(&app, format!("/pay/{reference}")).await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            !page.contains(".submit()"),
            "nothing leaves by itself:\n{page}"
        );
        for action in [
            "/bank/simu/action".to_string(),
            "/bank/cheque/action".to_string(),
            "/bank/stripe/choose".to_string(),
            paybox.system_url(),
        ] {
            assert!(page.contains(&action), "{action} missing:\n{page}");
        }
    }
    assert_eq!(sessions(), 0, "a page view creates no Checkout Session");
    let (_, _, page) = get(&app, format!("/pay/{reference}")).await;
    let stripe_form = page
        .split("<form")
        .find(|f| f.contains("/bank/stripe/choose"))
        .unwrap();
    let token = hidden(stripe_form, "token");
    let forged = Request::post("/bank/stripe/choose")
        .body(Body::from(format!("ref={reference}&token=00")))
        .unwrap();
    assert_eq!(send(&app, forged).await.0, StatusCode::BAD_REQUEST);
    let chosen = Request::post("/bank/stripe/choose")
        .body(Body::from(format!("ref={reference}&token={token}")))
        .unwrap();
    let (s, h, _) = send(&app, chosen).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(h[header::LOCATION]
        .to_str()
        .unwrap()
        .starts_with(&stripe.base_url()));
    assert_eq!(sessions(), 1, "created when the payer chose Stripe");

    // Amounts and currencies each provider takes: Paybox takes EUR up to 10 digits,
    // Stripe nothing under its minimum.
    let huge = create(&app, "92233720368547758.07").await;
    let (_, _, page) = get(&app, format!("/pay/{huge}")).await;
    assert!(!page.contains("/bank/stripe/choose") && !page.contains(&paybox.system_url()));
    assert!(page.contains("No means of payment"), "{page}");
    let big = create(&app, "99999999.99").await;
    let (_, _, page) = get(&app, format!("/pay/{big}")).await;
    assert!(page.contains(&paybox.system_url()), "ten digits for Paybox");
    assert!(
        !page.contains("/bank/stripe/choose"),
        "over Stripe's eight digits"
    );
    let small = create(&app, "0.10").await;
    let (_, _, page) = get(&app, format!("/pay/{small}")).await;
    assert!(
        !page.contains("/bank/stripe/choose"),
        "under Stripe's minimum"
    );
    stripe.shutdown();
}

#[tokio::test]
async fn a_waiting_payer_sees_the_waiting_page_and_a_single_hosted_choice_goes_on() {
    let app = app_on(Backend::Sqlite, "").await;
    let reference = create(&app, "30").await;
    let (_, _, page) = get(&app, format!("/pay/{reference}")).await;
    // The cheque's confirmation: the transaction waits.
    let confirm = page
        .split("<form")
        .find(|f| f.contains("/bank/cheque/action"))
        .unwrap();
    let fields: Vec<(String, String)> = ["ref", "amount", "currency", "choice", "token"]
        .iter()
        .map(|k| (k.to_string(), hidden(confirm, k)))
        .collect();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    send(
        &app,
        Request::post("/bank/cheque/action")
            .body(Body::from(body))
            .unwrap(),
    )
    .await;
    assert_eq!(
        app.engine.transaction(&reference).await.unwrap().status,
        Status::Attente
    );
    let (s, h, _) = get(&app, format!("/pay/{reference}")).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(h[header::LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/bank/retour/attente"));
}

// ---------------------------------------------------------------------------------------
// 9, 10, 14, 17. Control characters, replays, browser returns, our own forms.

#[tokio::test]
async fn control_characters_are_refused_at_the_edge_on_both_stores() {
    for backend in backends() {
        let app = app_on(backend, "").await;
        for (uri, field) in [
            ("/pay/%00", "path"),
            ("/bank/retour/ok?ref=%00", "ref"),
            ("/bank/%00/notify", "path"),
            ("/admin/tx/a%0D%0Ab/replay", "path"),
            ("/api/transactions?reference=%1b", "reference"),
        ] {
            let (s, _, b) = send(&app, Request::get(uri).body(Body::empty()).unwrap()).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{backend:?} {uri}: {b}");
            assert!(b.contains(field), "{uri}: {b}");
        }
        for body in [
            r#"{"amount":"1","auteur":"a\u0000b"}"#,
            r#"{"amount":"1","champs":{"note":"\u001b[31m"}}"#,
            r#"{"amount":"1","billing":{"first_name":"\u0007"}}"#,
        ] {
            let (s, _, b) = send(&app, api("POST", "/api/transactions", body)).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{backend:?} {body}: {b}");
            assert!(b.contains("control characters"), "{b}");
        }
        let page = app
            .engine
            .store()
            .list_transactions(&Default::default(), None, 10)
            .await
            .unwrap();
        assert!(page.items.is_empty());
        app.cleanup().await;
    }
}

/// A Stripe instance whose API is never reached (browser returns do not call it).
const STRIPE_OFFLINE: &str = "[[instance]]\nid = \"stripe\"\nprovider = \"stripe\"\norder = 3\n[instance.options]\nsecret_key = \"sk_test_x\"\nwebhook_secrets = \"whsec_x\"\napi_base = \"http://127.0.0.1:9\"\n";

#[tokio::test]
async fn unverified_browser_returns_and_get_forms_write_nothing() {
    for backend in backends() {
        let app = app_on(backend, STRIPE_OFFLINE).await;
        let reference = create(&app, "12").await;
        let tx = app.engine.transaction(&reference).await.unwrap();
        let before = app.engine.store().history(tx.id).await.unwrap().len();
        let (_, _, page) = get(&app, format!("/pay/{reference}")).await;
        // Our own signed form, sent as a GET query (a link someone clicked): refused.
        let query = ok_form(&page);
        let (s, _, _) = get(&app, format!("/bank/simu/retour?{query}")).await;
        assert!(s.is_client_error() || s.is_redirection(), "{s}");
        for _ in 0..3 {
            get(
                &app,
                format!("/bank/stripe/retour?ref={reference}&session_id=x"),
            )
            .await;
        }
        assert_eq!(
            app.engine.transaction(&reference).await.unwrap().status,
            Status::Commande,
            "{backend:?}"
        );
        assert_eq!(
            app.engine.store().history(tx.id).await.unwrap().len(),
            before,
            "{backend:?}: anyone who knows a reference cannot add history lines"
        );
        // Our own button, pressed once, then replayed (padded) ten times: one change.
        let post = |body: String| {
            Request::post("/bank/simu/action")
                .body(Body::from(body))
                .unwrap()
        };
        assert_eq!(
            send(&app, post(query.clone())).await.0,
            StatusCode::SEE_OTHER
        );
        let after = app.engine.store().history(tx.id).await.unwrap().len();
        for _ in 0..10 {
            let padded = format!("{query}&pad={}", "x".repeat(30_000));
            assert_eq!(send(&app, post(padded)).await.0, StatusCode::SEE_OTHER);
        }
        assert_eq!(
            app.engine.store().history(tx.id).await.unwrap().len(),
            after,
            "{backend:?}: replays of a form write nothing"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn replay_checks_the_notification_belongs_to_the_page_first() {
    let app = app_on(Backend::Sqlite, "").await;
    let (a, b) = (create(&app, "10").await, create(&app, "11").await);
    let (_, _, page) = get(&app, format!("/pay/{a}")).await;
    let req = Request::post("/bank/simu/action")
        .body(Body::from(ok_form(&page)))
        .unwrap();
    send(&app, req).await;
    let ta = app.engine.transaction(&a).await.unwrap();
    let id = app
        .engine
        .store()
        .history(ta.id)
        .await
        .unwrap()
        .iter()
        .find_map(|h| h.notification_id)
        .unwrap();
    let tb = app.engine.transaction(&b).await.unwrap();
    let history_b = app.engine.store().history(tb.id).await.unwrap().len();
    let history_a = app.engine.store().history(ta.id).await.unwrap().len();
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let (_, h) = login(&app.router, "staff", "correct horse").await;
    let cookie = first_cookie(&h);
    let (_, _, detail) = send(
        &app,
        Request::get(format!("/admin/tx/{b}"))
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let csrf = hidden(&detail, "csrf");
    let req = Request::post(format!("/admin/tx/{b}/replay"))
        .header(header::COOKIE, &cookie)
        .body(Body::from(format!("csrf={csrf}&notification={id}")))
        .unwrap();
    let (s, _, body) = send(&app, req).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        app.engine.store().history(tb.id).await.unwrap().len(),
        history_b
    );
    assert_eq!(
        app.engine.store().history(ta.id).await.unwrap().len(),
        history_a,
        "nothing was replayed"
    );
}

// ---------------------------------------------------------------------------------------
// 9. Random requests with NUL and control bytes: never a 5xx, never a change, both stores.

#[test]
fn random_requests_with_control_bytes_never_answer_5xx_on_both_stores() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as RunnerConfig, TestRunner};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for backend in backends() {
        let app = rt.block_on(app_on(backend, STRIPE_OFFLINE));
        let mut runner = TestRunner::new(RunnerConfig {
            cases: 96,
            ..RunnerConfig::default()
        });
        // Text with NUL, ESC, BEL, CR, LF, DEL and C1 controls among ordinary characters,
        // percent-encoded where it goes into a URI.
        let text = prop::collection::vec(
            prop_oneof![
                Just('\u{0}'),
                Just('\u{1b}'),
                Just('\u{7}'),
                Just('\r'),
                Just('\n'),
                Just('\u{7f}'),
                Just('\u{85}'),
                Just('"'),
                any::<char>(),
                prop::char::range('a', 'z'),
            ],
            0..12,
        )
        .prop_map(|v| v.into_iter().collect::<String>());
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let strategy = (
            prop::sample::select(vec![
                "/pay/{}",
                "/bank/{}/notify",
                "/bank/simu/action",
                "/bank/stripe/retour?ref={}",
                "/bank/retour/ok?ref={}",
                "/bank/stripe/choose",
                "/api/transactions/{}",
                "/api/transactions?reference={}",
                "/admin/tx/{}",
                "/admin/login",
            ]),
            prop::sample::select(vec!["GET", "POST"]),
            text.clone(),
            text,
        );
        runner
            .run(&strategy, |(route, method, part, field)| {
                let uri = route.replace("{}", &enc(&part));
                let body = match route {
                    "/api/transactions" | "/api/transactions/{}" => {
                        serde_json::json!({ "amount": "1", "auteur": field }).to_string()
                    }
                    _ => format!(
                        "ref={}&token={}&user={}",
                        enc(&field),
                        enc(&field),
                        enc(&field)
                    ),
                };
                let Ok(mut req) = Request::builder()
                    .method(method)
                    .uri(&uri)
                    .body(Body::from(body))
                else {
                    return Ok(());
                };
                if route.starts_with("/api") {
                    req.headers_mut().insert(
                        header::AUTHORIZATION,
                        format!("Bearer {TOKEN}").parse().unwrap(),
                    );
                }
                let (s, _, b) = rt.block_on(send(&app, req));
                prop_assert!(
                    !s.is_server_error(),
                    "{backend:?} {method} {uri} answered {s}: {b}"
                );
                Ok(())
            })
            .unwrap();
        // A JSON create with a control character in any field never stored anything.
        let page = rt
            .block_on(
                app.engine
                    .store()
                    .list_transactions(&Default::default(), None, 10),
            )
            .unwrap();
        assert!(
            page.items.iter().all(|t| !t
                .auteur
                .clone()
                .unwrap_or_default()
                .chars()
                .any(char::is_control)),
            "{backend:?}: a control character reached the store"
        );
        rt.block_on(app.cleanup());
    }
}

// ---------------------------------------------------------------------------------------
// A client that hangs up cannot cancel a settlement halfway (a transaction left open on a
// pooled SQLite connection keeps the write lock and stalls every writer).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hanging_up_does_not_cancel_the_settlement() {
    for backend in backends() {
        let app = app_on(backend, "").await;
        let reference = create(&app, "12").await;
        let (_, _, page) = get(&app, format!("/pay/{reference}")).await;
        let req = Request::post("/bank/simu/action")
            .body(Body::from(ok_form(&page)))
            .unwrap();
        // The client goes away as soon as the request has started.
        let started = app.router.clone().oneshot(req);
        let _ = tokio::time::timeout(std::time::Duration::from_millis(1), started).await;
        let mut status = Status::Commande;
        for _ in 0..100 {
            status = app.engine.transaction(&reference).await.unwrap().status;
            if status == Status::Ok {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(
            status,
            Status::Ok,
            "{backend:?}: the settlement was cut short"
        );
        // And the store takes the next write at once.
        let next = create(&app, "13").await;
        assert!(app.engine.transaction(&next).await.is_ok());
        app.cleanup().await;
    }
}
