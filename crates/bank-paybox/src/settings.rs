//! The options of a Paybox instance, checked and parsed once: keys are decoded when the
//! instance is built, never per call.

use std::fmt;
use std::net::IpAddr;

use bank_core::{Mode, Options, ParamKind, Parameter};
use hmac::{Hmac, Mac};
use rsa::pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha512;

use crate::error::PayboxError;

/// Paybox's published RSA-1024 public key, which signs every IPN and return (paybox.md §5.3;
/// the same key ships with Verifone's plugins and eopayment).
pub const PAYBOX_PUBLIC_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDe+hkicNP7ROHUssGNtHwiT2Ew
HFrSk/qwrcq8v5metRtTTFPE/nmzSkRnTs3GMpi57rBdxBBJW5W9cpNyGUh0jNXc
VrOSClpD5Ri2hER/GcNrxVRP7RlWOqB1C03q4QYmwjHZ+zlM4OUhCCAtSWflB4wC
Ka1g88CjFwRw/PB9kwIDAQAB
-----END PUBLIC KEY-----
";

/// The public half of the sandbox's signing key. Its private half is in the repository,
/// so a live instance that trusts it accepts IPNs anyone can sign.
pub const SANDBOX_PUBLIC_KEY_PEM: &str = include_str!("sandbox/test_key.pub.pem");

/// Addresses Paybox calls IPNs from in production (main and backup platforms, paybox.md
/// §1; both directions listed, as the published list does not say which one calls).
pub const IPN_SOURCES_LIVE: &[&str] = &[
    "194.2.160.66",
    "194.2.122.158",
    "195.25.7.146",
    "195.25.7.166",
];
/// Addresses Paybox calls IPNs from on the pre-production platform (paybox.md §1).
pub const IPN_SOURCES_TEST: &[&str] = &["195.101.99.73", "195.101.99.76"];

/// Paybox's public test site (with rang 32 and identifiant 107904726): its keys are in
/// every integration guide, so it never takes real money.
pub const PUBLIC_TEST_SITE: &str = "1999888";
/// Paybox System, pre-production.
pub const SYSTEM_TEST_URL: &str = "https://preprod-tpeweb.paybox.com/php/";
/// Hosted payment page, production.
pub const SYSTEM_LIVE_URL: &str = "https://tpeweb.paybox.com/php/";
/// Hosted payment page, production backup host.
pub const SYSTEM_BACKUP_URL: &str = "https://tpeweb1.paybox.com/php/";
/// Paybox Direct, pre-production.
pub const DIRECT_TEST_URL: &str = "https://preprod-ppps.paybox.com/PPPS.php";
/// Paybox Direct, production.
pub const DIRECT_LIVE_URL: &str = "https://ppps.paybox.com/PPPS.php";
/// Paybox Direct, production backup host.
pub const DIRECT_BACKUP_URL: &str = "https://ppps1.paybox.com/PPPS.php";

/// Longest deferral of the capture Paybox accepts, in days.
pub const MAX_DEFERRED_DAYS: i64 = 7;

/// The configuration parameters of the provider.
pub fn parameters() -> Vec<Parameter> {
    vec![
        Parameter::text("site", "Site number (PBX_SITE, 7 digits)"),
        Parameter::text("rang", "Rank number (PBX_RANG, 2 or 3 digits)"),
        Parameter::text(
            "identifiant",
            "Paybox identifier (PBX_IDENTIFIANT, up to 9 digits)",
        ),
        Parameter::text("hmac_key", "HMAC key from the back office, in hexadecimal")
            .kind(ParamKind::Hex)
            .secret(),
        Parameter::text(
            "cle",
            "Paybox Direct key (CLE): refunds, captures, subscriptions",
        )
        .secret()
        .optional(),
        Parameter::text(
            "public_key",
            "RSA public key (PEM) verifying Paybox's signatures (default: Paybox's published key)",
        )
        .kind(ParamKind::Multiline)
        .optional(),
        Parameter::text(
            "url",
            "Hosted payment page URL, replacing Paybox's (a sandbox)",
        )
        .kind(ParamKind::Url)
        .optional(),
        Parameter::text(
            "direct_url",
            "Paybox Direct URL, replacing Paybox's (a sandbox)",
        )
        .kind(ParamKind::Url)
        .optional(),
        Parameter::text(
            "deferred_days",
            "Capture this many days after the authorisation (PBX_DIFF, 1 to 7)",
        )
        .kind(ParamKind::Integer)
        .optional(),
        Parameter::text(
            "authorisation_only",
            "Authorise only (PBX_AUTOSEULE=O); capture later through Paybox Direct",
        )
        .kind(ParamKind::Bool)
        .default_value("false"),
        Parameter::text(
            "subscriptions",
            "Register the card of recurring payments (Paybox Direct Plus contract)",
        )
        .kind(ParamKind::Bool)
        .default_value("false"),
        Parameter::text(
            "confirm_ipn",
            "With `cle`: confirm each paid IPN through a Paybox Direct inquiry on our contract (a payment made on another merchant's account is then refused). Turn off only if Paybox Direct cannot see new transactions at once on your contract",
        )
        .kind(ParamKind::Bool)
        .default_value("true"),
        Parameter::text(
            "ipn_sources",
            "Addresses allowed to send IPNs, comma-separated (default: Paybox's for the mode); checked only without `cle` and with `check_ipn_source`",
        )
        .optional(),
        Parameter::text(
            "check_ipn_source",
            "Without `cle`: accept a paid IPN only from `ipn_sources`, the sender as the server saw it (behind a proxy, list it in [server] trusted_proxies)",
        )
        .kind(ParamKind::Bool)
        .default_value("false"),
        Parameter::text(
            "default_email",
            "E-mail sent as PBX_PORTEUR when the payer's is unknown (Paybox requires one)",
        )
        .kind(ParamKind::Email)
        .optional(),
    ]
}

/// A pre-keyed HMAC-SHA512: the hex key is decoded and the HMAC state keyed once.
#[derive(Clone)]
pub struct HmacKey(Hmac<Sha512>);

impl HmacKey {
    /// Decodes the back office's hexadecimal key.
    ///
    /// # Errors
    /// [`PayboxError::Config`] when it is empty, of odd length or not hexadecimal.
    pub fn from_hex(hex_key: &str) -> Result<Self, PayboxError> {
        let bad = |reason: &str| PayboxError::Config {
            option: "hmac_key",
            reason: reason.into(),
        };
        let trimmed = hex_key.trim();
        if trimmed.is_empty() {
            return Err(bad("empty"));
        }
        let bytes = hex::decode(trimmed)
            .map_err(|_| bad("expected an even number of hexadecimal digits"))?;
        let mac = Hmac::<Sha512>::new_from_slice(&bytes).map_err(|_| bad("unusable key"))?;
        Ok(HmacKey(mac))
    }

    /// HMAC-SHA512 of `message`, upper-case hexadecimal (128 characters).
    pub fn sign_hex(&self, message: &[u8]) -> String {
        let mut mac = self.start();
        mac.update(message);
        Self::finish_hex(mac)
    }

    /// A keyed HMAC state to feed a message in pieces.
    pub fn start(&self) -> Hmac<Sha512> {
        self.0.clone()
    }

    /// The upper-case hexadecimal of a finished HMAC.
    pub fn finish_hex(mac: Hmac<Sha512>) -> String {
        hex::encode_upper(mac.finalize().into_bytes())
    }

    /// True when `hex_mac` (either case) is the HMAC of `message`; compared in constant
    /// time.
    pub fn verify_hex(&self, message: &[u8], hex_mac: &str) -> bool {
        let Ok(given) = hex::decode(hex_mac) else {
            return false;
        };
        let mut mac = self.0.clone();
        mac.update(message);
        mac.verify_slice(&given).is_ok()
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey([REDACTED])")
    }
}

/// Parses a PEM public key (`BEGIN PUBLIC KEY`, or `BEGIN RSA PUBLIC KEY`).
///
/// # Errors
/// [`PayboxError::Config`] naming `public_key`.
pub fn parse_public_key(pem: &str) -> Result<RsaPublicKey, PayboxError> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    let pem = pem.trim();
    RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
        .map_err(|e| PayboxError::Config {
            option: "public_key",
            reason: format!("not an RSA public key in PEM: {e}"),
        })
}

/// The checked options of one instance.
pub struct Settings {
    /// `PBX_SITE` / `SITE`.
    pub site: String,
    /// `PBX_RANG` / `RANG`.
    pub rang: String,
    /// `PBX_IDENTIFIANT`.
    pub identifiant: String,
    /// The HMAC key.
    pub hmac: HmacKey,
    /// Paybox Direct's `CLE`.
    pub cle: Option<SecretString>,
    /// Verifies Paybox's signatures.
    pub public_key: RsaPublicKey,
    /// Hosted page URLs: the main one, then the backup.
    pub system_urls: Vec<String>,
    /// Paybox Direct URLs: the main one, then the backup.
    pub direct_urls: Vec<String>,
    /// `PBX_DIFF`.
    pub deferred_days: Option<u8>,
    /// `PBX_AUTOSEULE=O`.
    pub authorisation_only: bool,
    /// Card registration for recurring payments.
    pub subscriptions: bool,
    /// `PBX_PORTEUR` when the payer's e-mail is unknown.
    pub default_email: Option<String>,
    /// With `cle`: confirm each paid IPN through a Direct inquiry (default true).
    pub confirm_ipn: bool,
    /// Addresses allowed to send IPNs (checked without `cle`, behind a trusted proxy).
    pub ipn_sources: Vec<IpAddr>,
    /// A proxy sets `X-Forwarded-For` / `X-Real-IP`: the IPN's source can be checked.
    pub check_ipn_source: bool,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("site", &self.site)
            .field("rang", &self.rang)
            .field("identifiant", &self.identifiant)
            .field("hmac", &self.hmac)
            .field("cle", &self.cle.as_ref().map(|_| "[REDACTED]"))
            .field("system_urls", &self.system_urls)
            .field("direct_urls", &self.direct_urls)
            .field("deferred_days", &self.deferred_days)
            .field("authorisation_only", &self.authorisation_only)
            .field("subscriptions", &self.subscriptions)
            .field("ipn_sources", &self.ipn_sources)
            .field("check_ipn_source", &self.check_ipn_source)
            .field("confirm_ipn", &self.confirm_ipn)
            .finish_non_exhaustive()
    }
}

fn digits(
    option: &'static str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<String, PayboxError> {
    let v = value.trim();
    if (min..=max).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()) {
        Ok(v.to_string())
    } else {
        let len = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        Err(PayboxError::Config {
            option,
            reason: format!("expected {len} digits, got {v:?}"),
        })
    }
}

impl Settings {
    /// Checks and parses an instance's options.
    ///
    /// # Errors
    /// [`PayboxError::Config`] naming the option.
    pub fn from_options(mode: Mode, options: &Options) -> Result<Self, PayboxError> {
        let text = |name: &'static str| {
            options.get(name).ok_or(PayboxError::Config {
                option: name,
                reason: "missing".into(),
            })
        };
        let site = digits("site", text("site")?, 7, 7)?;
        let rang = digits("rang", text("rang")?, 2, 3)?;
        let identifiant = digits("identifiant", text("identifiant")?, 1, 9)?;
        let hmac_secret = options
            .secret("hmac_key")
            .map_err(|_| PayboxError::Config {
                option: "hmac_key",
                reason: "missing".into(),
            })?;
        let hmac = HmacKey::from_hex(hmac_secret.expose_secret())?;
        let cle = options.secret("cle").ok();
        if let Some(c) = &cle {
            if c.expose_secret().is_empty() {
                return Err(PayboxError::Config {
                    option: "cle",
                    reason: "empty".into(),
                });
            }
        }
        let public_key =
            parse_public_key(options.get("public_key").unwrap_or(PAYBOX_PUBLIC_KEY_PEM))?;
        if mode == Mode::Live && public_key == parse_public_key(SANDBOX_PUBLIC_KEY_PEM)? {
            return Err(PayboxError::Config {
                option: "public_key",
                reason: "this is the sandbox's key, whose private half is public: a live instance must verify with Paybox's key (remove the option)".into(),
            });
        }
        let url_option = |name: &'static str| -> Result<Option<String>, PayboxError> {
            match options.get(name) {
                None => Ok(None),
                Some(u) => match url::Url::parse(u) {
                    // The form carries the HMAC and Direct carries CLE: never in clear live.
                    Ok(p) if mode == Mode::Live && p.scheme() != "https" => {
                        Err(PayboxError::Config {
                            option: name,
                            reason: format!("a live instance needs an https URL, got {u:?}"),
                        })
                    }
                    Ok(p) if matches!(p.scheme(), "http" | "https") => Ok(Some(u.to_string())),
                    _ => Err(PayboxError::Config {
                        option: name,
                        reason: format!("expected an http(s) URL, got {u:?}"),
                    }),
                },
            }
        };
        let system_urls = match (url_option("url")?, mode) {
            (Some(u), _) => vec![u],
            (None, Mode::Test) => vec![SYSTEM_TEST_URL.into()],
            (None, Mode::Live) => vec![SYSTEM_LIVE_URL.into(), SYSTEM_BACKUP_URL.into()],
        };
        let direct_urls = match (url_option("direct_url")?, mode) {
            (Some(u), _) => vec![u],
            (None, Mode::Test) => vec![DIRECT_TEST_URL.into()],
            (None, Mode::Live) => vec![DIRECT_LIVE_URL.into(), DIRECT_BACKUP_URL.into()],
        };
        if mode == Mode::Live {
            if site == PUBLIC_TEST_SITE {
                return Err(PayboxError::Config {
                    option: "site",
                    reason: format!("{PUBLIC_TEST_SITE} is Paybox's public test site, whose keys everyone has: a live instance needs your own contract"),
                });
            }
            for (option, urls) in [("url", &system_urls), ("direct_url", &direct_urls)] {
                if urls.iter().any(|u| u.contains("preprod-")) {
                    return Err(PayboxError::Config {
                        option,
                        reason: "this is Paybox's pre-production: a live instance uses the production URLs (remove the option)".into(),
                    });
                }
            }
        }
        let deferred_days = match options.get("deferred_days") {
            None => None,
            Some(v) => {
                let n: i64 = v.trim().parse().map_err(|_| PayboxError::Config {
                    option: "deferred_days",
                    reason: format!("expected an integer, got {v:?}"),
                })?;
                if !(1..=MAX_DEFERRED_DAYS).contains(&n) {
                    return Err(PayboxError::Config {
                        option: "deferred_days",
                        reason: format!("{n} is outside 1..={MAX_DEFERRED_DAYS}"),
                    });
                }
                Some(n as u8)
            }
        };
        let flag = |name: &'static str| -> Result<bool, PayboxError> {
            match options.get(name) {
                None | Some("false") => Ok(false),
                Some("true") => Ok(true),
                Some(v) => Err(PayboxError::Config {
                    option: name,
                    reason: format!("expected true or false, got {v:?}"),
                }),
            }
        };
        let ipn_sources = match options.get("ipn_sources") {
            Some(list) => parse_sources(list)?,
            None => match mode {
                Mode::Live => IPN_SOURCES_LIVE,
                Mode::Test => IPN_SOURCES_TEST,
            }
            .iter()
            .map(|a| a.parse().expect("valid constant address"))
            .collect(),
        };
        Ok(Settings {
            site,
            rang,
            identifiant,
            hmac,
            cle,
            public_key,
            system_urls,
            direct_urls,
            deferred_days,
            authorisation_only: flag("authorisation_only")?,
            subscriptions: flag("subscriptions")?,
            default_email: options.get("default_email").map(str::to_string),
            // On unless said otherwise: the check that tells our payments from another
            // merchant's, all signed with the same key.
            confirm_ipn: match options.get("confirm_ipn") {
                None => true,
                Some(_) => flag("confirm_ipn")?,
            },
            ipn_sources,
            check_ipn_source: flag("check_ipn_source")?,
        })
    }
}

fn parse_sources(list: &str) -> Result<Vec<IpAddr>, PayboxError> {
    let sources = list
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse::<IpAddr>().map_err(|_| PayboxError::Config {
                option: "ipn_sources",
                reason: format!("{a:?} is not an IP address"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if sources.is_empty() {
        return Err(PayboxError::Config {
            option: "ipn_sources",
            reason: "empty list".into(),
        });
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\
0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF";

    fn opts(extra: &[(&str, &str)]) -> Options {
        // Not the public test site, which a live instance refuses.
        let mut pairs = vec![
            ("site", "1234567"),
            ("rang", "32"),
            ("identifiant", "107904482"),
            ("hmac_key", KEY),
        ];
        pairs.extend_from_slice(extra);
        Options::from_pairs("pbx", &pairs)
    }

    #[test]
    fn live_refuses_the_public_test_site_and_pre_production() {
        let site = Options::from_pairs(
            "pbx",
            &[
                ("site", PUBLIC_TEST_SITE),
                ("rang", "32"),
                ("identifiant", "107904482"),
                ("hmac_key", KEY),
            ],
        );
        assert!(Settings::from_options(Mode::Test, &site).is_ok());
        let e = Settings::from_options(Mode::Live, &site).expect_err("public site");
        assert!(e.to_string().contains("public test site"), "{e}");
        for (option, url) in [("url", SYSTEM_TEST_URL), ("direct_url", DIRECT_TEST_URL)] {
            let e = Settings::from_options(Mode::Live, &opts(&[(option, url)]))
                .expect_err("pre-production");
            assert!(e.to_string().contains("pre-production"), "{option}: {e}");
        }
    }

    #[test]
    fn ipn_confirmation_is_on_unless_turned_off() {
        let on = Settings::from_options(Mode::Test, &opts(&[])).unwrap();
        assert!(on.confirm_ipn);
        let off = Settings::from_options(Mode::Test, &opts(&[("confirm_ipn", "false")])).unwrap();
        assert!(!off.confirm_ipn);
        assert!(Settings::from_options(Mode::Test, &opts(&[("confirm_ipn", "no")])).is_err());
    }

    #[test]
    fn endpoints_per_mode() {
        let t = Settings::from_options(Mode::Test, &opts(&[])).unwrap();
        assert_eq!(t.system_urls, [SYSTEM_TEST_URL]);
        assert_eq!(t.direct_urls, [DIRECT_TEST_URL]);
        let l = Settings::from_options(Mode::Live, &opts(&[])).unwrap();
        assert_eq!(l.system_urls, [SYSTEM_LIVE_URL, SYSTEM_BACKUP_URL]);
        assert_eq!(l.direct_urls, [DIRECT_LIVE_URL, DIRECT_BACKUP_URL]);
        let o = Settings::from_options(
            Mode::Test,
            &opts(&[
                ("url", "http://127.0.0.1:9/php/"),
                ("direct_url", "http://127.0.0.1:9/PPPS.php"),
            ]),
        )
        .unwrap();
        assert_eq!(o.system_urls, ["http://127.0.0.1:9/php/"]);
        assert_eq!(o.direct_urls, ["http://127.0.0.1:9/PPPS.php"]);
    }

    #[test]
    fn bad_options_are_named() {
        for (extra, option) in [
            (vec![("site", "123")], "site"),
            (vec![("rang", "1")], "rang"),
            (vec![("rang", "1234")], "rang"),
            (vec![("identifiant", "1234567890")], "identifiant"),
            (vec![("hmac_key", "0123Z")], "hmac_key"),
            (vec![("hmac_key", "012")], "hmac_key"),
            (vec![("public_key", "not a key")], "public_key"),
            (vec![("deferred_days", "8")], "deferred_days"),
            (vec![("deferred_days", "0")], "deferred_days"),
            (vec![("url", "ftp://x")], "url"),
            (vec![("subscriptions", "yes")], "subscriptions"),
        ] {
            let mut o = opts(&[]);
            for (k, v) in extra {
                o.set(
                    k,
                    bank_core::config::OptionValue::Plain(
                        v.into(),
                        bank_core::config::Origin::File,
                    ),
                );
            }
            match Settings::from_options(Mode::Test, &o) {
                Err(PayboxError::Config { option: got, .. }) => assert_eq!(got, option),
                other => panic!("{option}: {other:?}"),
            }
        }
    }

    #[test]
    fn live_refuses_the_sandbox_key_and_clear_urls() {
        let named = |mode, extra: &[(&str, &str)]| match Settings::from_options(mode, &opts(extra))
        {
            Err(PayboxError::Config { option, .. }) => Some(option),
            Ok(_) => None,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            named(Mode::Live, &[("public_key", SANDBOX_PUBLIC_KEY_PEM)]),
            Some("public_key")
        );
        // Written another way (PKCS#1), still the sandbox's key.
        let pkcs1 = {
            use rsa::pkcs1::{EncodeRsaPublicKey, LineEnding};
            parse_public_key(SANDBOX_PUBLIC_KEY_PEM)
                .unwrap()
                .to_pkcs1_pem(LineEnding::LF)
                .unwrap()
        };
        assert_eq!(
            named(Mode::Live, &[("public_key", &pkcs1)]),
            Some("public_key")
        );
        assert_eq!(
            named(Mode::Test, &[("public_key", SANDBOX_PUBLIC_KEY_PEM)]),
            None
        );
        assert_eq!(
            named(Mode::Live, &[("public_key", PAYBOX_PUBLIC_KEY_PEM)]),
            None
        );
        for option in ["url", "direct_url"] {
            assert_eq!(
                named(Mode::Live, &[(option, "http://paybox.example/x")]),
                Some(option)
            );
            assert_eq!(
                named(Mode::Live, &[(option, "https://paybox.example/x")]),
                None
            );
            assert_eq!(named(Mode::Test, &[(option, "http://127.0.0.1:9/x")]), None);
        }
    }

    #[test]
    fn ipn_sources_default_per_mode() {
        let l = Settings::from_options(Mode::Live, &opts(&[])).unwrap();
        assert_eq!(l.ipn_sources.len(), IPN_SOURCES_LIVE.len());
        assert!(!l.check_ipn_source);
        let t = Settings::from_options(Mode::Test, &opts(&[])).unwrap();
        assert_eq!(
            t.ipn_sources,
            [
                "195.101.99.73".parse::<IpAddr>().unwrap(),
                "195.101.99.76".parse().unwrap()
            ]
        );
        let o = Settings::from_options(
            Mode::Live,
            &opts(&[
                ("ipn_sources", "10.0.0.1, ::1"),
                ("check_ipn_source", "true"),
            ]),
        )
        .unwrap();
        assert_eq!(
            o.ipn_sources,
            [
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert!(o.check_ipn_source);
        for bad in ["10.0.0.300", " , "] {
            assert!(matches!(
                Settings::from_options(Mode::Live, &opts(&[("ipn_sources", bad)])),
                Err(PayboxError::Config {
                    option: "ipn_sources",
                    ..
                })
            ));
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let s = Settings::from_options(Mode::Test, &opts(&[("cle", "secret-cle")])).unwrap();
        let d = format!("{s:?}");
        assert!(!d.contains("secret-cle"));
        assert!(!d.contains("0123456789ABCDEF"));
        assert!(d.contains("REDACTED"));
    }

    #[test]
    fn hmac_verify_is_case_insensitive_and_exact() {
        let k = HmacKey::from_hex(KEY).unwrap();
        let mac = k.sign_hex(b"abc");
        assert!(k.verify_hex(b"abc", &mac));
        assert!(k.verify_hex(b"abc", &mac.to_ascii_lowercase()));
        assert!(!k.verify_hex(b"abd", &mac));
        assert!(!k.verify_hex(b"abc", &mac[..126]));
        assert!(!k.verify_hex(b"abc", "zz"));
    }
}
