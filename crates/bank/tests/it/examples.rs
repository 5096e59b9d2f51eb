//! The examples a host copies run here, so they cannot rot: the README's host finds its
//! providers without any call of its own, and the mounted service answers under the host's
//! prefix. The README must quote `examples/host.rs` as it is.

#![cfg(feature = "full")]

#[path = "../../examples/host.rs"]
#[allow(dead_code)]
mod host;

#[cfg(feature = "server")]
#[path = "../../examples/mount.rs"]
#[allow(dead_code)]
mod mount;

use std::path::{Path, PathBuf};

fn example_config(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("bank.example.toml"))
        .unwrap()
        .replace(
            "sqlite://bank.db",
            &format!("sqlite://{}", dir.join("bank.db").display()),
        );
    let path = dir.join("bank.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn the_readme_host_lists_its_payment_choices() {
    let dir = tempfile::tempdir().unwrap();
    let path = example_config(dir.path());
    let captions = host::run(path.to_str().unwrap()).await.unwrap();
    assert!(
        captions.len() >= 3,
        "simulation, cheque and transfer take 19.90 EUR: {captions:?}"
    );
}

#[test]
fn the_readme_quotes_the_host_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("../../README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("examples/host.rs")).unwrap();
    let block = readme
        .split("```rust\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a rust block in the README");
    let from_use = &example[example.find("\nuse ").unwrap() + 1..];
    assert_eq!(
        block.trim(),
        from_use.trim(),
        "README.md's host must be examples/host.rs from its first `use` on"
    );
}

#[cfg(feature = "server")]
#[tokio::test]
async fn a_host_mounts_the_service_under_its_own_prefix() {
    use tower::ServiceExt;
    let dir = tempfile::tempdir().unwrap();
    let config = bank::Config::from_file(&example_config(dir.path())).unwrap();
    let (app, background) = mount::app(&config).await.unwrap();
    let get = |uri: &'static str| {
        app.clone().oneshot(
            axum::http::Request::get(uri)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
    };
    assert_eq!(get("/").await.unwrap().status(), 200);
    assert_eq!(get("/payments/health").await.unwrap().status(), 200);
    assert_eq!(
        get("/payments/pay/shop-0000000000000000")
            .await
            .unwrap()
            .status(),
        404
    );
    background.stop().await;
}
