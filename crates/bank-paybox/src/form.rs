//! The Paybox System form (paybox.md §3–4): fields in the documented order, `PBX_HMAC`
//! last, computed over the unescaped `NAME=value&…` string with the hex-decoded key.

use bank_core::Billing;

use hmac::Mac;

use crate::countries;
use crate::settings::HmacKey;

/// `PBX_RETOUR` of a payment: the variables Paybox appends to the IPN and the return URLs,
/// the signature (`K`) last.
pub const RETOUR: &str = "montant:M;reference:R;code_autorisation:A;erreur:E;numero_appel:T;numero_transaction:S;date_transaction:W;heure_transaction:Q;signature:K";

/// `PBX_RETOUR` of the first payment of a subscription: adds the card handle (`U`) and the
/// card's expiry (`D`) needed by Paybox Direct Plus.
pub const RETOUR_SUBSCRIPTION: &str = "montant:M;reference:R;code_autorisation:A;erreur:E;numero_appel:T;numero_transaction:S;date_transaction:W;heure_transaction:Q;abonnement:U;validite:D;signature:K";

/// Name of the first variable of [`RETOUR`]: where Paybox's signed data starts.
pub const FIRST_VARIABLE: &str = "montant";
/// Name of the signature variable of [`RETOUR`].
pub const SIGNATURE_VARIABLE: &str = "signature";

/// Billing data for the DSP2 `PBX_BILLING` field (paybox.md §3.4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BillingXml<'a> {
    /// `FirstName`.
    pub first_name: Option<&'a str>,
    /// `LastName`.
    pub last_name: Option<&'a str>,
    /// `Address1`.
    pub address1: Option<&'a str>,
    /// `ZipCode`.
    pub zip_code: Option<&'a str>,
    /// `City`.
    pub city: Option<&'a str>,
    /// `CountryCode`, numeric ISO 3166-1 (`250` for France).
    pub country_code: Option<u16>,
}

impl<'a> BillingXml<'a> {
    /// From the transaction's billing data (alpha-2 country converted to its number; an
    /// unknown country is left out).
    pub fn from_billing(b: &'a Billing) -> Self {
        let some = |v: &'a Option<String>| v.as_deref().filter(|s| !s.trim().is_empty());
        BillingXml {
            first_name: some(&b.first_name),
            last_name: some(&b.last_name),
            address1: some(&b.address1),
            zip_code: some(&b.postal_code),
            city: some(&b.city),
            country_code: b.country.as_deref().and_then(countries::numeric),
        }
    }

    /// True when no element would be written.
    pub fn is_empty(&self) -> bool {
        self == &BillingXml::default()
    }
}

/// Everything a form needs beyond the instance's credentials.
#[derive(Clone, Debug)]
pub struct FormRequest<'a> {
    /// Amount in minor units.
    pub total_minor: i64,
    /// ISO 4217 numeric currency (978).
    pub currency: u16,
    /// `PBX_CMD`: the transaction reference.
    pub cmd: &'a str,
    /// `PBX_PORTEUR`: the payer's e-mail.
    pub porteur: &'a str,
    /// `PBX_RETOUR`.
    pub retour: &'a str,
    /// `PBX_TIME`, formatted ([`crate::time::pbx_time`]).
    pub time: &'a str,
    /// `PBX_ARCHIVAGE`.
    pub archivage: Option<&'a str>,
    /// `PBX_EFFECTUE`.
    pub effectue: Option<&'a str>,
    /// `PBX_REFUSE`.
    pub refuse: Option<&'a str>,
    /// `PBX_ANNULE`.
    pub annule: Option<&'a str>,
    /// `PBX_ATTENTE`.
    pub attente: Option<&'a str>,
    /// `PBX_DIFF`, days.
    pub deferred_days: Option<u8>,
    /// `PBX_AUTOSEULE=O` when true (`N` otherwise).
    pub authorisation_only: bool,
    /// `PBX_REPONDRE_A`: the IPN URL.
    pub repondre_a: Option<&'a str>,
    /// `PBX_REFABONNE`: registers the card under this subscriber reference.
    pub refabonne: Option<&'a str>,
    /// `PBX_SHOPPINGCART` with this total quantity.
    pub cart_quantity: Option<u32>,
    /// `PBX_BILLING`.
    pub billing: Option<BillingXml<'a>>,
}

/// `PBX_TOTAL`: minor units, at least three digits (`000`, `025`, `1999`).
pub fn total(minor: i64) -> String {
    format!("{minor:03}")
}

/// Escapes `&`, `<` and `>` for XML text (what Paybox's DSP2 examples and eopayment do).
pub fn xml_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

const XML_DECL: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;

/// `PBX_SHOPPINGCART`.
pub fn shopping_cart_xml(quantity: u32) -> String {
    format!("{XML_DECL}<shoppingcart><total><totalQuantity>{quantity}</totalQuantity></total></shoppingcart>")
}

/// `PBX_BILLING`.
pub fn billing_xml(b: &BillingXml<'_>) -> String {
    let mut x = String::with_capacity(256);
    x.push_str(XML_DECL);
    x.push_str("<Billing><Address>");
    let mut element = |name: &str, value: Option<&str>| {
        if let Some(v) = value {
            x.push('<');
            x.push_str(name);
            x.push('>');
            xml_escape(v, &mut x);
            x.push_str("</");
            x.push_str(name);
            x.push('>');
        }
    };
    element("FirstName", b.first_name);
    element("LastName", b.last_name);
    element("Address1", b.address1);
    element("ZipCode", b.zip_code);
    element("City", b.city);
    let country = b.country_code.map(|c| format!("{c:03}"));
    element("CountryCode", country.as_deref());
    x.push_str("</Address></Billing>");
    x
}

/// The fields of the form, `PBX_HMAC` excluded, in emission order.
pub fn unsigned_fields(
    site: &str,
    rang: &str,
    identifiant: &str,
    r: &FormRequest<'_>,
) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = Vec::with_capacity(22);
    let mut push = |k: &str, v: String| f.push((k.to_string(), v));
    push("PBX_SITE", site.to_string());
    push("PBX_RANG", rang.to_string());
    push("PBX_IDENTIFIANT", identifiant.to_string());
    push("PBX_TOTAL", total(r.total_minor));
    push("PBX_DEVISE", format!("{:03}", r.currency));
    push("PBX_CMD", r.cmd.to_string());
    push("PBX_PORTEUR", r.porteur.to_string());
    push("PBX_RETOUR", r.retour.to_string());
    push("PBX_HASH", "SHA512".to_string());
    push("PBX_TIME", r.time.to_string());
    if let Some(a) = r.archivage {
        push("PBX_ARCHIVAGE", a.to_string());
    }
    for (name, url) in [
        ("PBX_EFFECTUE", r.effectue),
        ("PBX_REFUSE", r.refuse),
        ("PBX_ANNULE", r.annule),
        ("PBX_ATTENTE", r.attente),
    ] {
        if let Some(u) = url {
            push(name, u.to_string());
        }
    }
    if let Some(d) = r.deferred_days {
        push("PBX_DIFF", format!("{d:02}"));
    }
    push(
        "PBX_AUTOSEULE",
        if r.authorisation_only { "O" } else { "N" }.to_string(),
    );
    if let Some(u) = r.repondre_a {
        push("PBX_REPONDRE_A", u.to_string());
    }
    if let Some(s) = r.refabonne {
        push("PBX_REFABONNE", s.to_string());
    }
    if let Some(q) = r.cart_quantity {
        push("PBX_SHOPPINGCART", shopping_cart_xml(q));
    }
    if let Some(b) = &r.billing {
        push("PBX_BILLING", billing_xml(b));
    }
    f
}

/// The string the HMAC covers: `NAME=value` joined with `&`, nothing escaped.
pub fn signed_string<K: AsRef<str>, V: AsRef<str>>(fields: &[(K, V)]) -> String {
    let len: usize = fields
        .iter()
        .map(|(k, v)| k.as_ref().len() + v.as_ref().len() + 2)
        .sum();
    let mut s = String::with_capacity(len);
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            s.push('&');
        }
        s.push_str(k.as_ref());
        s.push('=');
        s.push_str(v.as_ref());
    }
    s
}

/// The complete form: the fields of [`unsigned_fields`], then `PBX_HMAC` over
/// [`signed_string`] of them (fed to the HMAC piece by piece, without building it).
pub fn signed_fields(
    site: &str,
    rang: &str,
    identifiant: &str,
    key: &HmacKey,
    r: &FormRequest<'_>,
) -> Vec<(String, String)> {
    let mut fields = unsigned_fields(site, rang, identifiant, r);
    let mut mac = key.start();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            mac.update(b"&");
        }
        mac.update(k.as_bytes());
        mac.update(b"=");
        mac.update(v.as_bytes());
    }
    fields.push(("PBX_HMAC".to_string(), HmacKey::finish_hex(mac)));
    fields
}

/// The archiving reference (`PBX_ARCHIVAGE`, at most 12 characters) for a transaction
/// reference: its last 12 letters and digits, upper case, so the bank statement points
/// back at the transaction.
pub fn archivage_for(reference: &str) -> String {
    let mut last: Vec<u8> = reference
        .bytes()
        .rev()
        .filter(u8::is_ascii_alphanumeric)
        .take(12)
        .map(|b| b.to_ascii_uppercase())
        .collect();
    last.reverse();
    String::from_utf8(last).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals() {
        // paybox.md §3.1, from minor units.
        for (minor, text) in [
            (0, "000"),
            (25, "025"),
            (100, "100"),
            (1999, "1999"),
            (1234, "1234"),
            (100000, "100000"),
        ] {
            assert_eq!(total(minor), text);
        }
    }

    #[test]
    fn xml_escapes_three_characters() {
        let mut s = String::new();
        xml_escape("a&b<c>d\"e'f", &mut s);
        assert_eq!(s, "a&amp;b&lt;c&gt;d\"e'f");
    }

    #[test]
    fn archivage_is_12_alphanumerics() {
        assert_eq!(archivage_for("shop-0123456789abcdef"), "456789ABCDEF");
        assert_eq!(archivage_for("a-b"), "AB");
    }

    #[test]
    fn billing_from_core_billing() {
        let b = Billing {
            first_name: Some("Kyan <oo>".into()),
            last_name: Some("Khojandi".into()),
            address1: Some("169 rue du Château".into()),
            postal_code: Some("75014".into()),
            city: Some("Paris".into()),
            country: Some("FR".into()),
            email: Some("x@example.com".into()),
            ..Billing::default()
        };
        assert_eq!(
            billing_xml(&BillingXml::from_billing(&b)),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Billing><Address><FirstName>Kyan &lt;oo&gt;</FirstName><LastName>Khojandi</LastName><Address1>169 rue du Château</Address1><ZipCode>75014</ZipCode><City>Paris</City><CountryCode>250</CountryCode></Address></Billing>"
        );
        assert!(BillingXml::from_billing(&Billing::default()).is_empty());
    }
}
