//! How the conformance suite drives this terminal: through its emulator, whose answer the
//! amount's last two digits decide (`…51` refused, `…52` cancelled, `…99` never answers).

use bank_conformance::{TerminalAmounts, TerminalDriver};
use bank_core::async_trait;

use crate::acquirer::PROVIDER;
use crate::emulator::{self, EmulatorConfig};

/// The caisse-ap-ip terminal driver.
#[derive(Debug, Clone, Copy)]
struct CaisseApIp;

#[async_trait]
impl TerminalDriver for CaisseApIp {
    fn provider(&self) -> &'static str {
        PROVIDER
    }
    async fn start(&self) -> Result<Box<dyn bank_core::Sandbox>, String> {
        let config = EmulatorConfig {
            delay: std::time::Duration::from_millis(20),
            ..EmulatorConfig::default()
        };
        let e = emulator::start(config).await.map_err(|e| e.to_string())?;
        Ok(Box::new(e))
    }
    fn card_options(&self, port: u16) -> Vec<(&'static str, String)> {
        vec![
            ("host", "127.0.0.1".into()),
            ("port", port.to_string()),
            ("deadline_seconds", "1".into()),
        ]
    }
    fn cheque_options(&self, port: u16) -> Option<Vec<(&'static str, String)>> {
        let mut o = self.card_options(port);
        o.push(("mode", "cheque".into()));
        Some(o)
    }
    fn amounts(&self) -> TerminalAmounts {
        TerminalAmounts {
            approved: 1250,
            declined: 1251,
            cancelled: 1252,
            silent: 1299,
        }
    }
    fn approved_word(&self, reference: &str) -> serde_json::Value {
        serde_json::json!({ "reference": reference, "word": "approved", "authorisation": "A1B2C3" })
    }
}

bank_conformance::inventory::submit! {
    bank_conformance::TerminalDriverFactory {
        provider: PROVIDER,
        driver: || Box::new(CaisseApIp),
    }
}
