//! The sandbox's throwaway certificate chain: a root, an intermediate, and a leaf named
//! like PayPal's sandbox signing certificate, so the provider's chain and name checks run
//! against it exactly as against PayPal's.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

use crate::webhook::cert::SANDBOX_NAME;

type Result<T> = std::result::Result<T, openssl::error::ErrorStack>;

/// A key and its certificate.
pub struct Issued {
    /// The key.
    pub key: PKey<Private>,
    /// The certificate.
    pub cert: X509,
}

fn issue(
    cn: &str,
    issuer: Option<&Issued>,
    ca: bool,
    not_before: i64,
    not_after: i64,
) -> Result<Issued> {
    let key = PKey::from_rsa(Rsa::generate(2048)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("O", "bank sandbox (not PayPal)")?;
    name.append_entry_by_text("CN", cn)?;
    let name = name.build();
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(120, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(issuer.map_or(&name, |i| i.cert.subject_name()))?;
    b.set_pubkey(&key)?;
    let (from, until) = (
        Asn1Time::from_unix(not_before as _)?,
        Asn1Time::from_unix(not_after as _)?,
    );
    b.set_not_before(&from)?;
    b.set_not_after(&until)?;
    if ca {
        b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
    } else {
        b.append_extension(BasicConstraints::new().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .key_encipherment()
                .build()?,
        )?;
        b.append_extension(
            ExtendedKeyUsage::new()
                .server_auth()
                .client_auth()
                .build()?,
        )?;
        let san = SubjectAlternativeName::new()
            .dns(cn)
            .build(&b.x509v3_context(issuer.map(|i| i.cert.as_ref()), None))?;
        b.append_extension(san)?;
    }
    b.sign(issuer.map_or(&key, |i| &i.key), MessageDigest::sha256())?;
    Ok(Issued {
        key,
        cert: b.build(),
    })
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("subject", &self.cert.subject_name())
            .finish_non_exhaustive()
    }
}

/// Root, intermediate and the current signing certificate.
#[derive(Debug)]
pub struct Chain {
    /// The root (what an instance trusts: `webhook_trust_pem`).
    pub root: Issued,
    /// The intermediate, served after the leaf.
    pub intermediate: Issued,
    /// The signing certificate.
    pub leaf: Issued,
}

impl Chain {
    /// A new chain whose signing certificate is valid from a day ago for two years.
    ///
    /// # Errors
    /// OpenSSL's.
    pub fn new() -> Result<Self> {
        let now = chrono::Utc::now().timestamp();
        let year = 365 * 86_400;
        let root = issue(
            "bank sandbox root CA",
            None,
            true,
            now - 86_400,
            now + 10 * year,
        )?;
        let intermediate = issue(
            "bank sandbox intermediate CA",
            Some(&root),
            true,
            now - 86_400,
            now + 5 * year,
        )?;
        let leaf = issue(
            SANDBOX_NAME,
            Some(&intermediate),
            false,
            now - 86_400,
            now + 2 * year,
        )?;
        Ok(Chain {
            root,
            intermediate,
            leaf,
        })
    }

    /// A new signing certificate valid between the two times (an expired one, to test).
    ///
    /// # Errors
    /// OpenSSL's.
    pub fn reissue(&mut self, not_before: i64, not_after: i64) -> Result<()> {
        self.leaf = issue(
            SANDBOX_NAME,
            Some(&self.intermediate),
            false,
            not_before,
            not_after,
        )?;
        Ok(())
    }

    /// What the certificate URL serves: leaf then intermediate, PEM.
    pub fn served_pem(&self) -> Vec<u8> {
        let mut v = self.leaf.cert.to_pem().unwrap_or_default();
        v.extend(self.intermediate.cert.to_pem().unwrap_or_default());
        v
    }

    /// The root, PEM.
    pub fn root_pem(&self) -> String {
        String::from_utf8(self.root.cert.to_pem().unwrap_or_default()).unwrap_or_default()
    }
}
