//! Lyra's white labels: the same protocol on other hosts. A shop names its platform in one
//! line (`platform = "sogecommerce"`); `form_url` and `rest_url` override it.
//!
//! Hosts from Lyra's own plugins and examples (lyra/plugin-sylius, one branch per label;
//! lyra/asp-payment-form-examples; lyra/flask-embedded-form-examples): see
//! `docs/providers/payzen-sepa.md`.

/// One platform: its name in the configuration, who runs it, and its two hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Platform {
    /// The configuration name.
    pub name: &'static str,
    /// Whose it is, for people.
    pub brand: &'static str,
    /// The hosted form (`POST`).
    pub form_url: &'static str,
    /// The REST API, `V4/<Service>` appended.
    pub rest_url: &'static str,
}

/// Every platform offered by name.
pub const PLATFORMS: &[Platform] = &[
    Platform {
        name: "payzen",
        brand: "PayZen (Lyra)",
        form_url: "https://secure.payzen.eu/vads-payment/",
        rest_url: "https://api.payzen.eu/api-payment/",
    },
    Platform {
        name: "systempay",
        brand: "Systempay (Banque Populaire, Caisse d'Épargne)",
        form_url: "https://paiement.systempay.fr/vads-payment/",
        rest_url: "https://api.systempay.fr/api-payment/",
    },
    Platform {
        name: "sogecommerce",
        brand: "Sogecommerce (Société Générale)",
        form_url: "https://sogecommerce.societegenerale.eu/vads-payment/",
        rest_url: "https://api-sogecommerce.societegenerale.eu/api-payment/",
    },
    Platform {
        name: "scellius",
        brand: "Scellius (La Banque Postale)",
        form_url: "https://scelliuspaiement.labanquepostale.fr/vads-payment/",
        rest_url: "https://api.scelliuspaiement.labanquepostale.fr/api-payment/",
    },
    Platform {
        name: "clicandpay",
        brand: "Clic&Pay (Crédit du Nord)",
        form_url: "https://clicandpay.groupecdn.fr/vads-payment/",
        rest_url: "https://api-clicandpay.groupecdn.fr/api-payment/",
    },
    Platform {
        name: "monetico_retail",
        brand: "Monetico Retail (Crédit Mutuel, CIC)",
        form_url: "https://secure.gateway.monetico-retail.com/vads-payment/",
        rest_url: "https://api.gateway.monetico-retail.com/api-payment/",
    },
    Platform {
        name: "lyra",
        brand: "Lyra Collect",
        form_url: "https://secure.lyra.com/vads-payment/",
        rest_url: "https://api.lyra.com/api-payment/",
    },
    Platform {
        name: "osb",
        brand: "OSB (French Polynesia)",
        form_url: "https://secure.osb.pf/vads-payment/",
        rest_url: "https://api.secure.osb.pf/api-payment/",
    },
    Platform {
        name: "epaync",
        brand: "EpayNC (New Caledonia)",
        form_url: "https://epaync.nc/vads-payment/",
        rest_url: "https://epaync.nc/api-payment/",
    },
    Platform {
        name: "payzen_br",
        brand: "PayZen Brazil",
        form_url: "https://secure.payzen.com.br/vads-payment/",
        rest_url: "https://api.payzen.com.br/api-payment/",
    },
    Platform {
        name: "payzen_latam",
        brand: "PayZen Latin America",
        form_url: "https://secure.payzen.lat/vads-payment/",
        rest_url: "https://api.payzen.lat/api-payment/",
    },
    Platform {
        name: "micuentaweb",
        brand: "Mi Cuenta Web (Izipay, Peru)",
        form_url: "https://secure.micuentaweb.pe/vads-payment/",
        rest_url: "https://api.micuentaweb.pe/api-payment/",
    },
];

/// The names, for the option's choices.
pub const NAMES: &[&str] = &[
    "payzen",
    "systempay",
    "sogecommerce",
    "scellius",
    "clicandpay",
    "monetico_retail",
    "lyra",
    "osb",
    "epaync",
    "payzen_br",
    "payzen_latam",
    "micuentaweb",
];

/// The platform called `name`.
pub fn by_name(name: &str) -> Option<&'static Platform> {
    PLATFORMS.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_platform_is_named_once_and_uses_https_with_lyras_paths() {
        assert_eq!(NAMES.len(), PLATFORMS.len());
        for (p, n) in PLATFORMS.iter().zip(NAMES) {
            assert_eq!(p.name, *n);
            assert_eq!(by_name(n), Some(p));
            assert!(p.form_url.starts_with("https://") && p.form_url.ends_with("/vads-payment/"));
            assert!(p.rest_url.starts_with("https://") && p.rest_url.ends_with("/api-payment/"));
        }
    }
}
