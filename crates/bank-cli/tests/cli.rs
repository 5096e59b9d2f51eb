//! The `bank` binary as a user runs it: exit codes and output.

use std::process::Command;

fn bank() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bank"))
}

fn example_config() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bank.example.toml")
}

#[test]
fn demo_runs_every_offline_provider() {
    let dir = tempfile::tempdir().unwrap();
    let out = bank()
        .args(["demo", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "simu: ok",
        "cheque: attente",
        "virement: attente",
        "gratuit: ok",
        "simu: abandon",
        "refunded 10.00 EUR",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(text.contains("delivered: 25"), "{text}");
    assert!(dir.path().join("demo.db").exists());
}

#[test]
fn config_check_accepts_the_example() {
    let out = bank()
        .args(["config", "check", "--config"])
        .arg(example_config())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 instance(s)"));
}

#[test]
fn config_check_names_file_key_and_reason_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    let text = std::fs::read_to_string(example_config())
        .unwrap()
        .replace("payee = ", "payer = ");
    std::fs::write(&path, text).unwrap();
    let out = bank()
        .args(["config", "check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.toml")
            && err.contains("instance.cheque.options.payer")
            && err.contains("unknown option"),
        "{err}"
    );
    let out = bank()
        .args(["config", "check", "--config", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn providers_lists_the_compiled_ones() {
    let out = bank().arg("providers").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for p in ["cheque", "gratuit", "simu", "virement"] {
        assert!(text.contains(p), "{text}");
    }
}

#[test]
fn migrate_creates_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.toml");
    let db = dir.path().join("m.db");
    let text = std::fs::read_to_string(example_config())
        .unwrap()
        .replace("sqlite://bank.db", &format!("sqlite://{}", db.display()));
    std::fs::write(&path, text).unwrap();
    let out = bank()
        .args(["migrate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.exists());
}
