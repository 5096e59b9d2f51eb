//! Forms that post back to our own `action` endpoint (offline providers' confirmation
//! buttons, the simulation's choices), signed with the installation secret.
//!
//! The token binds instance, reference, amount, currency and choice, so a form cannot be
//! replayed for another transaction, amount or choice.

use crate::acquirer::{Form, HttpMethod, Notification, PaymentContext, VerifyContext};
use crate::error::Error;
use crate::money::{Currency, Money};
use crate::transaction::Transaction;

/// What a verified own form says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnFormPost {
    /// Transaction reference.
    pub reference: String,
    /// The button pressed.
    pub choice: String,
    /// The amount the form was built for.
    pub amount: Money,
}

fn parts<'a>(
    instance: &'a str,
    reference: &'a str,
    minor: &'a str,
    currency: &'a str,
    choice: &'a str,
) -> [&'a str; 5] {
    [instance, reference, minor, currency, choice]
}

/// Builds a signed form for `choice` (POST to the instance's action URL).
pub fn build(
    ctx: &PaymentContext,
    instance: &str,
    tx: &Transaction,
    choice: &str,
    label: &str,
) -> Form {
    let minor = tx.amount.minor().to_string();
    let currency = tx.amount.currency().code();
    let token = ctx
        .signer
        .sign(&parts(instance, &tx.reference, &minor, currency, choice));
    Form {
        action: ctx.urls.action_url.clone(),
        method: HttpMethod::Post,
        fields: vec![
            ("ref".into(), tx.reference.clone()),
            ("amount".into(), minor),
            ("currency".into(), currency.into()),
            ("choice".into(), choice.into()),
            ("token".into(), token),
        ],
        submit_label: label.into(),
        auto_submit: false,
    }
}

/// Verifies a post of a form built by [`build`] for `instance`.
///
/// # Errors
/// [`Error::Verification`] when a field is missing or the token does not match.
pub fn verify(n: &Notification, ctx: &VerifyContext, instance: &str) -> Result<OwnFormPost, Error> {
    // Our forms are posted: the same fields in a query string (a link, a prefetch, a log
    // line replayed) are not the payer pressing a button.
    if n.method != HttpMethod::Post {
        return Err(Error::verification(
            instance,
            "our forms are posted: a GET request is refused",
        ));
    }
    let fields = n.fields();
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| Error::verification(instance, format!("missing field {name}")))
    };
    let (reference, minor, currency, choice, token) = (
        get("ref")?,
        get("amount")?,
        get("currency")?,
        get("choice")?,
        get("token")?,
    );
    if !ctx
        .signer
        .verify(&parts(instance, reference, minor, currency, choice), token)
    {
        return Err(Error::verification(instance, "bad form token"));
    }
    let currency =
        Currency::from_code(currency).map_err(|e| Error::verification(instance, e.to_string()))?;
    let minor: i64 = minor
        .parse()
        .map_err(|_| Error::verification(instance, "amount is not an integer"))?;
    let amount = Money::from_minor(minor, currency)
        .map_err(|e| Error::verification(instance, e.to_string()))?;
    Ok(OwnFormPost {
        reference: reference.to_string(),
        choice: choice.to_string(),
        amount,
    })
}

/// Verifies a post of the single confirmation button `choice` of an offline instance
/// (cheque, transfer) and turns it into a verified `outcome` carrying the form's amount.
///
/// # Errors
/// [`Error::Verification`] for a bad token or another choice.
pub fn verify_confirmation(
    n: &Notification,
    ctx: &VerifyContext,
    instance: &str,
    choice: &str,
    outcome: crate::acquirer::Outcome,
) -> Result<crate::acquirer::Verified, Error> {
    let post = verify(n, ctx, instance)?;
    if post.choice != choice {
        return Err(Error::verification(
            instance,
            format!("unexpected choice {:?}", post.choice),
        ));
    }
    let mut v = crate::acquirer::Verified::new(Some(post.reference), outcome);
    v.amount = Some(post.amount);
    Ok(v)
}

/// The refund of an offline means: nothing is sent anywhere, staff sends the money back.
pub fn manual_refund() -> crate::acquirer::OperationResult {
    crate::acquirer::OperationResult {
        provider_reference: None,
        manual: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acquirer::Channel;
    use crate::signer::FormSigner;
    use secrecy::SecretString;

    fn ctx() -> VerifyContext {
        VerifyContext {
            installation: "shop".into(),
            now: chrono::Utc::now(),
            signer: FormSigner::new(SecretString::from("k")),
            counters: None,
        }
    }

    fn fields(token: &str) -> Vec<(&'static str, String)> {
        vec![
            ("ref", "shop-AAAAAAAAAAAAAAAA".into()),
            ("amount", "1000".into()),
            ("currency", "EUR".into()),
            ("choice", "ok".into()),
            ("token", token.into()),
        ]
    }

    fn post(f: &[(&'static str, String)]) -> Notification {
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Notification::form_post(&pairs, chrono::Utc::now())
    }

    fn token(c: &VerifyContext) -> String {
        c.signer
            .sign(&parts("simu", "shop-AAAAAAAAAAAAAAAA", "1000", "EUR", "ok"))
    }

    #[test]
    fn a_posted_form_with_its_token_verifies() {
        let c = ctx();
        let p = verify(&post(&fields(&token(&c))), &c, "simu").expect("verified");
        assert_eq!(p.choice, "ok");
        assert_eq!(p.amount.minor(), 1000);
    }

    #[test]
    fn the_same_fields_in_a_query_string_are_refused() {
        let c = ctx();
        let body = String::from_utf8(post(&fields(&token(&c))).body).expect("utf-8");
        let mut n = Notification::new(Channel::Browser, HttpMethod::Get, chrono::Utc::now());
        n.query = body;
        let e = verify(&n, &c, "simu").expect_err("GET refused");
        assert!(e.to_string().contains("posted"), "{e}");
    }

    #[test]
    fn an_upper_case_token_is_refused() {
        let c = ctx();
        let upper = token(&c).to_ascii_uppercase();
        assert!(verify(&post(&fields(&upper)), &c, "simu").is_err());
    }
}
