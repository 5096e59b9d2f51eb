//! The HTTP service as clients see it: payers, providers, the JSON API and staff.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use bank_core::config::ProcessEnv;
use bank_core::testing::RecordingHooks;
use bank_core::{Config, Engine, HookName};
use bank_server::{router, AdminUser, ServerSettings};
use http_body_util::BodyExt;
use secrecy::SecretString;
use tower::ServiceExt;

const TOKEN: &str = "test-api-token-0123456789abcdef";

struct App {
    router: Router,
    engine: Arc<Engine>,
    hooks: Arc<RecordingHooks>,
    _dir: tempfile::TempDir,
}

async fn app() -> App {
    let text = r#"
[installation]
id = "web"
secret = "web-secret-0123456789abcdef"
base_url = "http://127.0.0.1:8080"
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
    let config = Config::parse(text, "<http>", &ProcessEnv).unwrap();
    let registry = bank::Registry::from_config(&config, &ProcessEnv).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = bank_store::open(&format!("sqlite://{}", dir.path().join("b.db").display()))
        .await
        .unwrap();
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
        .unwrap(),
    );
    let settings = ServerSettings {
        api_tokens: vec![bank_server::ApiToken::new("pos", SecretString::from(TOKEN))],
        admins: vec![
            AdminUser::with_password("staff", &SecretString::from("correct horse")).unwrap(),
        ],
        ..ServerSettings::default()
    };
    App {
        router: router(engine.clone(), settings),
        engine,
        hooks,
        _dir: dir,
    }
}

async fn send(app: &App, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let resp = app.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
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

/// A sign-in POST as a browser sends it: with the form's token and its cookie.
async fn login_request(app: &App, user: &str, password: &str) -> Request<Body> {
    let (s, h, page) = send(
        app,
        Request::get("/admin/login").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let cookie = h[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf)
        .append_pair("user", user)
        .append_pair("password", password)
        .finish();
    Request::post("/admin/login")
        .header(header::COOKIE, cookie)
        .body(Body::from(body))
        .unwrap()
}

fn hidden_fields(html: &str, choice: &str) -> Vec<(String, String)> {
    // The forms of the page, each a run of hidden inputs; keep the one with this choice.
    let mut forms = Vec::new();
    for part in html.split("<form").skip(1) {
        let mut fields = Vec::new();
        for input in part.split("<input").skip(1) {
            let attr = |name: &str| {
                input
                    .split(&format!("{name}=\""))
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .map(|s| s.replace("&amp;", "&"))
            };
            if let (Some(n), Some(v)) = (attr("name"), attr("value")) {
                fields.push((n, v));
            }
        }
        forms.push(fields);
    }
    forms
        .into_iter()
        .find(|f| f.iter().any(|(k, v)| k == "choice" && v == choice))
        .unwrap_or_default()
}

#[tokio::test]
async fn a_payer_pays_through_the_payment_page() {
    let app = app().await;
    let (s, _, body) = send(
        &app,
        api(
            "POST",
            "/api/transactions",
            r#"{"amount": "12,50", "auteur": "alice@example.org"}"#,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).unwrap();
    let reference = created["reference"].as_str().unwrap().to_string();
    assert_eq!(created["amount"]["minor"], 1250);

    let (s, _, page) = send(
        &app,
        Request::get(format!("/pay/{reference}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.find("Simulation").unwrap() < page.find("Cheque").unwrap(),
        "configured order"
    );
    let fields = hidden_fields(&page, "ok");
    assert!(
        !fields.is_empty(),
        "the simulation's ok button is on the page"
    );
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&fields)
        .finish();
    let req = Request::post("/bank/simu/action")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let (s, h, _) = send(&app, req).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(
        h[header::LOCATION],
        format!("/bank/retour/ok?ref={reference}")
    );
    let (s, _, ok) = send(
        &app,
        Request::get(format!("/bank/retour/ok?ref={reference}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        ok.contains("Payment received") && ok.contains(">ok<"),
        "{ok}"
    );
    app.engine.deliver_pending().await.unwrap();
    assert_eq!(app.hooks.count(HookName::TraiterReglement), 1);

    let (s, _, shown) = send(
        &app,
        api("GET", &format!("/api/transactions/{reference}"), ""),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["status"], "ok");
    assert!(shown["history"].as_array().unwrap().len() >= 2);
}

#[tokio::test]
async fn a_forged_button_is_refused_and_changes_nothing() {
    let app = app().await;
    let (_, _, body) = send(
        &app,
        api("POST", "/api/transactions", r#"{"amount": "10"}"#),
    )
    .await;
    let reference = serde_json::from_str::<serde_json::Value>(&body).unwrap()["reference"]
        .as_str()
        .unwrap()
        .to_string();
    let forged = format!("ref={reference}&amount=1000&currency=EUR&choice=ok&token=00");
    let req = Request::post("/bank/simu/action")
        .body(Body::from(forged))
        .unwrap();
    let (s, _, _) = send(&app, req).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.engine.transaction(&reference).await.unwrap().status,
        bank_core::Status::Commande
    );
}

#[tokio::test]
async fn the_api_refuses_what_it_should() {
    let app = app().await;
    let no_token = Request::post("/api/transactions")
        .body(Body::from(r#"{"amount":"1"}"#))
        .unwrap();
    assert_eq!(send(&app, no_token).await.0, StatusCode::UNAUTHORIZED);
    let wrong = Request::get("/api/transactions")
        .header(header::AUTHORIZATION, "Bearer nope")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, wrong).await.0, StatusCode::UNAUTHORIZED);
    let (s, _, b) = send(&app, api("POST", "/api/transactions", "{not json")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b.contains("invalid JSON"), "{b}");
    let (s, _, b) = send(&app, api("POST", "/api/transactions", r#"{"amount":"-3"}"#)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b.contains("negative"), "{b}");
    let (s, _, b) = send(
        &app,
        api(
            "POST",
            "/api/transactions",
            r#"{"amount":"3", "colour": "red"}"#,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, _, _) = send(
        &app,
        api("GET", "/api/transactions/web-0000000000000000", ""),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = send(&app, api("GET", "/api/transactions?status=paid", "")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let huge = format!(r#"{{"amount":"1","auteur":"{}"}}"#, "x".repeat(200_000));
    let (s, _, _) = send(&app, api("POST", "/api/transactions", &huge)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let (s, _, _) = send(&app, api("DELETE", "/api/transactions", "")).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    let (s, _, _) = send(&app, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, doc) = send(
        &app,
        Request::get("/api/openapi.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        serde_json::from_str::<serde_json::Value>(&doc).unwrap()["paths"]["/api/transactions"]
            .is_object()
    );
}

#[tokio::test]
async fn list_filters_and_pages() {
    let app = app().await;
    for i in 0..5 {
        send(
            &app,
            api(
                "POST",
                "/api/transactions",
                &format!(r#"{{"amount":"{i}.50","force":true}}"#),
            ),
        )
        .await;
    }
    let (s, _, b) = send(&app, api("GET", "/api/transactions?limit=2", "")).await;
    assert_eq!(s, StatusCode::OK);
    let page: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let next = page["next"].as_i64().unwrap();
    let (_, _, b) = send(
        &app,
        api(
            "GET",
            &format!("/api/transactions?limit=10&before={next}"),
            "",
        ),
    )
    .await;
    let rest: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 3);
    assert!(rest["next"].is_null());
}

#[tokio::test]
async fn notifications_for_unknown_instances_and_references_are_acknowledged() {
    let app = app().await;
    let req = Request::post("/bank/stripe-E8E5/notify")
        .body(Body::from("{}"))
        .unwrap();
    let (s, _, _) = send(&app, req).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "a dev copy without this instance must not make the provider retry forever"
    );
}

#[tokio::test]
async fn staff_sign_in_see_and_act_with_csrf() {
    let app = app().await;
    let (_, _, body) = send(&app, api("POST", "/api/transactions", r#"{"amount":"40"}"#)).await;
    let reference = serde_json::from_str::<serde_json::Value>(&body).unwrap()["reference"]
        .as_str()
        .unwrap()
        .to_string();

    let (s, h, _) = send(&app, Request::get("/admin").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (s, h[header::LOCATION].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/admin/login")
    );
    let bad = login_request(&app, "staff", "wrong").await;
    assert_eq!(send(&app, bad).await.0, StatusCode::UNAUTHORIZED);
    // The first failure makes the next attempt wait: the test's clock is real.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (s, h, _) = send(&app, login_request(&app, "staff", "correct horse").await).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let cookie = h[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(h[header::SET_COOKIE].to_str().unwrap().contains("HttpOnly"));

    let get = |uri: String| {
        Request::get(uri)
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap()
    };
    let (s, _, list) = send(&app, get("/admin".into())).await;
    assert_eq!(s, StatusCode::OK);
    assert!(list.contains(&reference));
    let (s, _, detail) = send(&app, get(format!("/admin/tx/{reference}"))).await;
    assert_eq!(s, StatusCode::OK);
    let csrf = detail
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();

    let post = |uri: String, body: String| {
        Request::post(uri)
            .header(header::COOKIE, &cookie)
            .body(Body::from(body))
            .unwrap()
    };
    let (s, _, _) = send(
        &app,
        post(
            format!("/admin/tx/{reference}/mark_received"),
            "instance=cheque&csrf=forged".into(),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a wrong CSRF token is refused");
    assert_eq!(
        app.engine.transaction(&reference).await.unwrap().status,
        bank_core::Status::Commande
    );
    let (s, _, _) = send(
        &app,
        post(
            format!("/admin/tx/{reference}/mark_received"),
            format!("instance=cheque&note=n1&csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(
        app.engine.transaction(&reference).await.unwrap().status,
        bank_core::Status::Ok
    );
    let (s, _, _) = send(
        &app,
        post(
            format!("/admin/tx/{reference}/refund"),
            format!("amount=10&csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let t = app.engine.transaction(&reference).await.unwrap();
    assert_eq!(t.refunded.minor(), 1000);
    let (s, _, _) = send(
        &app,
        post(
            format!("/admin/tx/{reference}/refund"),
            format!("amount=999&csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "more than refundable");
    let no_session = Request::post(format!("/admin/tx/{reference}/abandon"))
        .body(Body::from(format!("csrf={csrf}")))
        .unwrap();
    assert_eq!(send(&app, no_session).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn health_and_metrics() {
    let app = app().await;
    let (s, _, b) = send(&app, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(b.contains("\"ok\""));
    send(&app, api("POST", "/api/transactions", r#"{"amount":"3"}"#)).await;
    let (s, _, m) = send(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        m.contains("bank_transactions{status=\"commande\",mode=\"\"} 1"),
        "{m}"
    );
    assert!(m.contains("bank_outbox_backlog"), "{m}");
}

mod random_input {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
        /// Random bytes, methods and headers at every route: never a 5xx, never a change.
        #[test]
        fn no_route_answers_5xx(
            route in prop::sample::select(vec![
                "/", "/pay/web-0000000000000000", "/bank/simu/action", "/bank/simu/retour", "/bank/simu/notify",
                "/bank/cheque/notify", "/bank/nope/notify", "/bank/retour/ok", "/bank/retour/x", "/api/transactions",
                "/api/transactions/x", "/admin", "/admin/login", "/admin/tx/x/refund", "/admin/notification/1", "/health",
            ]),
            method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]),
            query in "[a-z=&%0-9]{0,40}",
            body in prop::collection::vec(any::<u8>(), 0..512),
            ctype in prop::sample::select(vec!["application/json", "application/x-www-form-urlencoded", "text/plain", "\u{0}bad"]),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let app = app().await;
                let uri = if query.is_empty() { route.to_string() } else { format!("{route}?{query}") };
                let Ok(req) = Request::builder().method(method).uri(&uri)
                    .header(header::CONTENT_TYPE, ctype.replace('\u{0}', ""))
                    .body(Body::from(body)) else { return };
                let (s, _, b) = send(&app, req).await;
                assert!(!s.is_server_error(), "{method} {uri} answered {s}: {b}");
                let page = app.engine.store().list_transactions(&Default::default(), None, 10).await.unwrap();
                assert!(page.items.is_empty(), "state changed");
            });
        }
    }
}
