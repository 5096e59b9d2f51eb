//! A payer and a treasurer in a real browser: headless Chromium driven through WebDriver
//! (Debian's `chromium` and `chromium-driver`, installed by `.ci/run`). Without them:
//! SKIPPED. Screenshots go to `target/browser-artifacts/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bank_core::config::ProcessEnv;
use bank_core::{Config, Engine, Status};
use bank_server::{router, AdminUser, ServerSettings};
use fantoccini::{ClientBuilder, Locator};
use secrecy::SecretString;

const TOKEN: &str = "browser-api-token-0123456789abcdef";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-artifacts");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_by_simulation_and_cheque_then_staff_marks_the_cheque_received() {
    let (Ok(driver_bin), Ok(chromium)) = (which("chromedriver"), which("chromium")) else {
        bank_core::testing::skip_suite(
            "browser",
            "chromium and chromedriver not installed (bash .ci/run installs them)",
        );
        return;
    };
    // The service, on loopback.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    // Every provider compiled in, hosted ones on their local sandboxes, as `bank serve`'s
    // demo has them.
    let stripe = bank::stripe::sandbox::Sandbox::spawn(Default::default()).unwrap();
    let paybox = bank::paybox::sandbox::Sandbox::spawn(Default::default()).unwrap();
    let paypal = bank::paypal::sandbox::Sandbox::spawn(Default::default()).unwrap();
    // PayPal buttons as the demo has them: encrypted, plain ones blocked, IPNs sent.
    let buttons =
        bank::paypal_ipn::sandbox::Sandbox::spawn(bank::paypal_ipn::sandbox::SandboxConfig {
            block_plain: true,
            ..Default::default()
        })
        .unwrap();
    let mut button_options = buttons.ewp_options().unwrap();
    button_options.push(("button".into(), "donate".into()));
    let mut text = format!(
        "[installation]\nid = \"web\"\nsecret = \"browser-secret-0123456789\"\nbase_url = \"{base}\"\n\
         [[instance]]\nid = \"simu\"\nprovider = \"simu\"\norder = 1\n\
         [[instance]]\nid = \"cheque\"\nprovider = \"cheque\"\norder = 2\n[instance.options]\npayee = \"Association\"\naddress = \"1 rue de la Paix\"\n\
         [[instance]]\nid = \"virement\"\nprovider = \"virement\"\norder = 3\n[instance.options]\nholder = \"Association\"\niban = \"FR76 3000 6000 0112 3456 7890 189\"\nbic = \"BNPAFRPP\"\n\
         [[instance]]\nid = \"gratuit\"\nprovider = \"gratuit\"\norder = 4\n"
    );
    let mut paybox_options = paybox.instance_options();
    paybox_options.push(("default_email".into(), "payer@example.org".into()));
    for (id, order, options) in [
        ("stripe", 5, stripe.instance_options()),
        ("paybox", 6, paybox_options),
        ("paypal", 7, paypal.instance_options()),
        ("paypal-ipn", 8, button_options),
    ] {
        text.push_str(&format!(
            "[[instance]]\nid = \"{id}\"\nprovider = \"{id}\"\norder = {order}\n[instance.options]\n"
        ));
        for (k, v) in options {
            text.push_str(&format!("{k} = {}\n", serde_json::to_string(&v).unwrap()));
        }
    }
    let config = Config::parse(&text, "<browser>", &ProcessEnv).unwrap();
    let registry = bank::Registry::from_config(&config, &ProcessEnv).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = bank_store::open(&format!("sqlite://{}", dir.path().join("b.db").display()))
        .await
        .unwrap();
    let engine = Arc::new(
        Engine::open(
            store,
            registry,
            Arc::new(MonthlyFiver),
            &config.installation,
            config.engine.clone(),
        )
        .await
        .unwrap(),
    );
    let settings = ServerSettings {
        api_tokens: vec![bank_server::ApiToken::new("pos", SecretString::from(TOKEN))],
        admins: vec![
            AdminUser::with_password("treasurer", &SecretString::from("s3cret-pass")).unwrap(),
        ],
        ..ServerSettings::default()
    };
    tokio::spawn(bank_server::serve(
        listener,
        router(engine.clone(), settings),
        std::future::pending(),
    ));

    // Two transactions through the JSON API.
    let http = reqwest::Client::new();
    let mut refs = Vec::new();
    for (amount, recurring) in [
        ("25.00", false),
        ("40.00", false),
        ("12.00", false),
        ("18.00", false),
        ("15.00", false),
        ("20.00", true),
    ] {
        let r: serde_json::Value = http
            .post(format!("{base}/api/transactions"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({ "amount": amount, "force": true, "recurring": recurring }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        refs.push(r["reference"].as_str().unwrap().to_string());
    }

    // The browser.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _driver = Driver(
        Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=420,900"],
        }),
    );
    let c = ClientBuilder::native()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("WebDriver session");
    let shot = |name: &'static str| {
        let c = c.clone();
        async move {
            let png = c.screenshot().await.unwrap();
            std::fs::write(artifacts().join(format!("{name}.png")), png).unwrap();
        }
    };

    // A newcomer opens a payment page: it stays, with every way to pay (a hosted form
    // leaves only when the payer chooses it).
    c.goto(&format!("{base}/pay/{}", refs[2])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let url = c.current_url().await.unwrap();
    assert!(url.path().starts_with("/pay/"), "the page left for {url}");
    let page = c.source().await.unwrap();
    for action in [
        "/bank/simu/action".to_string(),
        "/bank/cheque/action".to_string(),
        "/bank/virement/action".to_string(),
        "/bank/stripe/choose".to_string(),
        paybox.system_url(),
        "/bank/paypal/choose".to_string(),
        format!("{}/cgi-bin/webscr", buttons.base_url()),
    ] {
        assert!(page.contains(&action), "{action} is not offered");
    }
    let sections = c.find_all(Locator::Css("main section")).await.unwrap();
    assert_eq!(
        sections.len(),
        7,
        "simu, cheque, transfer, Stripe, Paybox, PayPal, PayPal buttons"
    );
    shot("0-every-choice").await;
    let created = || {
        stripe
            .requests()
            .iter()
            .filter(|(m, p, _)| m == "POST" && p.ends_with("/checkout/sessions"))
            .count()
    };
    assert_eq!(created(), 0, "viewing the page created no Stripe session");
    let orders = || {
        paypal
            .requests()
            .iter()
            .filter(|(m, p, _)| m == "POST" && p == "/v2/checkout/orders")
            .count()
    };
    assert_eq!(orders(), 0, "viewing the page created no PayPal order");
    c.find(Locator::Css("form[action$='/bank/stripe/choose'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !c
        .current_url()
        .await
        .unwrap()
        .as_str()
        .starts_with(&stripe.base_url())
    {
        assert!(Instant::now() < deadline, "Stripe's page was not reached");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(created(), 1, "one session, when the payer chose Stripe");
    shot("0-stripe-chosen").await;

    // Payer 4: PayPal. The order is created when the payer chooses PayPal; the payer
    // approves on PayPal's page and comes back; the server captures and shows the receipt.
    c.goto(&format!("{base}/pay/{}", refs[3])).await.unwrap();
    c.find(Locator::Css("form[action$='/bank/paypal/choose'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::XPath("//button[contains(., 'Pay Now')]"))
        .await
        .unwrap();
    assert!(c
        .current_url()
        .await
        .unwrap()
        .as_str()
        .starts_with(&paypal.base_url()));
    assert_eq!(orders(), 1, "one order, when the payer chose PayPal");
    shot("0-paypal-approval").await;
    c.find(Locator::XPath("//button[contains(., 'Pay Now')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::XPath("//h1[contains(., 'Payment received')]"))
        .await
        .unwrap();
    shot("0-paypal-paid").await;
    assert_eq!(
        engine.transaction(&refs[3]).await.unwrap().status,
        Status::Ok,
        "captured by the server on the payer's return"
    );

    // Payers 5 and 6: a donation and a subscription with encrypted PayPal buttons. PayPal
    // sends the IPN to the listener, which posts it back before settling.
    for (i, label, shot_name) in [
        (4usize, "Donate with PayPal", "0-paypal-donation-paid"),
        (5, "Subscribe with PayPal", "0-paypal-subscription-paid"),
    ] {
        c.goto(&format!("{base}/pay/{}", refs[i])).await.unwrap();
        c.find(Locator::XPath(&format!("//button[contains(., '{label}')]")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::XPath("//button[contains(., 'Pay Now')]"))
            .await
            .unwrap();
        c.find(Locator::XPath("//button[contains(., 'Pay Now')]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while engine.transaction(&refs[i]).await.unwrap().status != Status::Ok {
            assert!(Instant::now() < deadline, "the IPN did not settle {label}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        c.goto(&format!("{base}/bank/paypal-ipn/retour?ref={}", refs[i]))
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::XPath("//h1[contains(., 'Payment received')]"))
            .await
            .unwrap();
        shot(shot_name).await;
    }
    assert!(
        engine
            .transaction(&refs[5])
            .await
            .unwrap()
            .subscription_id
            .is_some(),
        "the subscription is kept on its first transaction"
    );

    // Payer 1: the simulation, success.
    c.goto(&format!("{base}/pay/{}", refs[0])).await.unwrap();
    shot("1-payment-page").await;
    c.find(Locator::XPath(
        "//button[contains(., 'Simulate a successful payment')]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    c.wait()
        .for_element(Locator::XPath("//h1[contains(., 'Payment received')]"))
        .await
        .unwrap();
    shot("2-paid").await;

    // Payer 2: a cheque.
    c.goto(&format!("{base}/pay/{}", refs[1])).await.unwrap();
    c.find(Locator::XPath(
        "//button[contains(., 'I will send a cheque')]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    c.wait()
        .for_element(Locator::XPath("//h1[contains(., 'Payment pending')]"))
        .await
        .unwrap();
    shot("3-cheque-pending").await;

    // The treasurer.
    c.goto(&format!("{base}/admin")).await.unwrap();
    c.find(Locator::Css("input[name=user]"))
        .await
        .unwrap()
        .send_keys("treasurer")
        .await
        .unwrap();
    c.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys("s3cret-pass")
        .await
        .unwrap();
    c.find(Locator::XPath("//button[contains(., 'Sign in')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::XPath("//h1[contains(., 'Transactions')]"))
        .await
        .unwrap();
    let list = c.source().await.unwrap();
    assert!(list.contains(&refs[0]) && list.contains(&refs[1]));
    shot("4-admin-list").await;
    c.find(Locator::LinkText(&refs[1]))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::XPath("//button[contains(., 'Mark received')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::XPath(
            "//dd[@class='status' and normalize-space()='ok']",
        ))
        .await
        .unwrap();
    shot("5-cheque-received").await;
    c.close().await.unwrap();

    assert_eq!(
        engine.transaction(&refs[0]).await.unwrap().status,
        Status::Ok
    );
    assert_eq!(
        engine.transaction(&refs[1]).await.unwrap().status,
        Status::Ok
    );
}

/// A host whose recurring payments are 5.00 a month.
struct MonthlyFiver;

#[bank_core::async_trait]
impl bank_core::Hooks for MonthlyFiver {
    async fn decrire_echeance(&self, tx: &bank_core::Transaction) -> Option<bank_core::Echeance> {
        Some(bank_core::Echeance {
            amount: bank_core::Money::from_minor(500, tx.amount.currency()).ok()?,
            interval: bank_core::Interval::Month,
            count: None,
        })
    }
}

fn which(bin: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
        .ok_or(())
}
