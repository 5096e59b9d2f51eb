//! A SEPA debit through the service and the PayZen sandbox, over HTTP as in the demo: the
//! payer posts the form to the sandbox and pays with the IBAN whose debit is returned; the
//! sandbox's IPNs reach the service's listener (`attente`); time brings the presentation
//! (collected: `ok`), then the return (`echec`, `traiter_impaye`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bank::payzen_sepa::sandbox::{Sandbox, SandboxConfig};
use bank_core::config::ProcessEnv;
use bank_core::testing::RecordingHooks;
use bank_core::{
    Config, Currency, Engine, HookName, Money, NewTransaction, PaymentRequest, Status,
};
use bank_server::{router, ServerSettings};

async fn status_becomes(engine: &Engine, reference: &str, want: Status) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = engine.transaction(reference).await.unwrap().status;
        if s == want || Instant::now() > deadline {
            assert_eq!(s, want, "{reference}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sepa_debit_is_collected_then_returned_through_the_service() {
    let sandbox = Sandbox::spawn(SandboxConfig {
        delivery_backoff: Duration::from_millis(50),
        ..SandboxConfig::default()
    })
    .unwrap();
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", socket.local_addr().unwrap());
    let mut text = format!(
        "[installation]\nid = \"web\"\nsecret = \"payzen-demo-secret-0123456789\"\nbase_url = \"{base}\"\n\
         [[instance]]\nid = \"payzen\"\nprovider = \"payzen-sepa\"\norder = 1\n[instance.options]\n"
    );
    for (k, v) in sandbox.options_for("sdd") {
        text.push_str(&format!("{k} = {}\n", serde_json::to_string(&v).unwrap()));
    }
    let config = Config::parse(&text, "<payzen-demo>", &ProcessEnv).unwrap();
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
    tokio::spawn(bank_server::serve(
        socket,
        router(engine.clone(), ServerSettings::default()),
        std::future::pending(),
    ));

    let mut new = NewTransaction::new(Money::from_minor(4990, Currency::EUR).unwrap());
    new.force = true;
    let tx = engine.inserer_transaction(new).await.unwrap();
    // The payment page offers a button; pressing it draws the form (and its transaction id).
    let choices = engine.payment_choices(&tx.reference).await.unwrap();
    let PaymentRequest::Form(button) = &choices[0].request else {
        panic!("a button")
    };
    let token = button
        .fields
        .iter()
        .find(|f| f.0 == "token")
        .unwrap()
        .1
        .clone();
    let PaymentRequest::Form(form) = engine
        .chosen_request("payzen", &tx.reference, &token)
        .await
        .unwrap()
    else {
        panic!("a form")
    };
    // The payer's browser: the form to PayZen, then the test IBAN whose debit is returned.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = browser
        .post(&form.action)
        .form(&form.fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let checkout = r.headers()["location"].to_str().unwrap().to_string();
    let page = browser
        .get(format!("{}{checkout}", sandbox.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("SEPA debit returned"), "{page}");
    let r = browser
        .post(format!("{}{checkout}/pay", sandbox.base_url()))
        .form(&[("action", "pay"), ("means", "sdd_returned")])
        .send()
        .await
        .unwrap();
    let back = r.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with(&format!("{base}/bank/payzen/retour?ref={}", tx.reference)));
    // The signed return shows a page; it settles nothing, the IPN does.
    let shown = browser.get(&back).send().await.unwrap();
    assert!(
        shown.status().is_success() || shown.status().is_redirection(),
        "{}",
        shown.status()
    );
    status_becomes(&engine, &tx.reference, Status::Attente).await;

    // Time brings the presentation: collected, then returned, in that order.
    let uuid = engine
        .transaction(&tx.reference)
        .await
        .unwrap()
        .authorisation
        .unwrap();
    let r = browser
        .post(format!("{}/sandbox/present/{uuid}", sandbox.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    status_becomes(&engine, &tx.reference, Status::Echec).await;
    engine.deliver_pending().await.unwrap();
    assert_eq!(
        hooks.count_for(HookName::ReglementEnAttente, &tx.reference),
        1
    );
    assert_eq!(
        hooks.count_for(HookName::TraiterReglement, &tx.reference),
        1,
        "collected first"
    );
    assert_eq!(
        hooks.count_for(HookName::TraiterImpaye, &tx.reference),
        1,
        "then returned"
    );
    let (attempts, acknowledged) = sandbox.attempts();
    assert_eq!(
        (attempts, acknowledged),
        (3, 3),
        "every IPN acknowledged once"
    );
}
