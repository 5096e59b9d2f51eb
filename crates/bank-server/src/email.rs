//! E-mail notifications of SPIP Bank: the purchase ticket sent to staff on each settled
//! payment (as a `notifier` hook, so from the outbox, retried), and the daily summary.
//!
//! ```toml
//! [email]
//! smtp_url = { env = "BANK_SMTP_URL" }   # smtp://user:password@host:587?tls=required, or smtp://127.0.0.1:25
//! from = "Boutique <bank@shop.example>"
//! staff = "tresorier@shop.example"       # receives the ticket of each payment
//! summary = "tresorier@shop.example"     # receives the daily summary (optional)
//! ```

use std::fmt;
use std::fmt::Write as _;

use bank_core::config::{resolve_section_secret, Env};
use bank_core::store::ListFilter;
use bank_core::{async_trait, Config, Engine, Error, HookCall, Hooks, Status};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

/// Sends the tickets and summaries.
#[derive(Clone)]
pub struct EmailHooks {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    staff: Mailbox,
    summary: Option<Mailbox>,
}

impl fmt::Debug for EmailHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailHooks")
            .field("from", &self.from)
            .field("staff", &self.staff)
            .finish_non_exhaustive()
    }
}

impl EmailHooks {
    /// Sends through the SMTP server of `smtp_url` (lettre's URL syntax).
    ///
    /// # Errors
    /// [`Error::Config`] for a bad URL or address.
    pub fn new(
        smtp_url: &str,
        from: &str,
        staff: &str,
        summary: Option<&str>,
    ) -> Result<Self, Error> {
        let bad = |key: &str, reason: String| Error::Config {
            file: "<email>".into(),
            key: format!("email.{key}"),
            reason,
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| bad("smtp_url", e.to_string()))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let mailbox = |key: &str, v: &str| {
            v.parse::<Mailbox>()
                .map_err(|e| bad(key, format!("{v:?}: {e}")))
        };
        Ok(EmailHooks {
            transport,
            from: mailbox("from", from)?,
            staff: mailbox("staff", staff)?,
            summary: summary.map(|s| mailbox("summary", s)).transpose()?,
        })
    }

    /// Reads `[email]`; `None` when absent.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key.
    pub fn from_config(config: &Config, env: &dyn Env) -> Result<Option<Self>, Error> {
        let Some(t) = config.sections.get("email") else {
            return Ok(None);
        };
        let err = |key: &str, reason: &str| Error::Config {
            file: config.source.clone(),
            key: format!("email.{key}"),
            reason: reason.into(),
        };
        for k in t.keys() {
            if !["smtp_url", "from", "staff", "summary"].contains(&k.as_str()) {
                return Err(err(k, "unknown key"));
            }
        }
        let url = t
            .get("smtp_url")
            .ok_or_else(|| err("smtp_url", "missing"))?;
        // The URL carries the SMTP password: from the environment or a file when live.
        let url = resolve_section_secret(config, url, "email.smtp_url", env)?;
        let text = |k: &str| t.get(k).and_then(|v| v.as_str());
        Self::new(
            url.expose_secret(),
            text("from").ok_or_else(|| err("from", "missing"))?,
            text("staff").ok_or_else(|| err("staff", "missing"))?,
            text("summary"),
        )
        .map(Some)
    }

    async fn send(&self, to: &Mailbox, subject: &str, body: String) -> Result<(), Error> {
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| Error::hook("notifier", e.to_string()))?;
        self.transport
            .send(msg)
            .await
            .map_err(|e| Error::hook("notifier", format!("SMTP: {e}")))?;
        Ok(())
    }

    /// Sends the summary of the payments settled on `day` (UTC) to the summary address.
    /// Returns how many payments it listed.
    ///
    /// # Errors
    /// A store or SMTP error.
    pub async fn send_daily_summary(
        &self,
        engine: &Engine,
        day: NaiveDate,
    ) -> Result<usize, Error> {
        let Some(to) = &self.summary else {
            return Ok(0);
        };
        let start: DateTime<Utc> = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let end = start + Duration::days(1);
        let mut paid = Vec::new();
        let mut before = None;
        for _ in 0..10_000 {
            let page = engine
                .store()
                .list_transactions(
                    &ListFilter {
                        status: Some(Status::Ok),
                        ..ListFilter::default()
                    },
                    before,
                    500,
                )
                .await?;
            paid.extend(
                page.items
                    .into_iter()
                    .filter(|t| t.paid_at.is_some_and(|p| p >= start && p < end)),
            );
            match page.next {
                Some(n) => before = Some(n),
                None => break,
            }
        }
        let mut body = format!("Payments settled on {day}: {}\n\n", paid.len());
        let mut totals: std::collections::BTreeMap<&str, i64> = Default::default();
        for t in &paid {
            let _ = writeln!(
                body,
                "{}  {:>14}  {:<10} {}  {}",
                t.reference,
                t.amount.to_string(),
                t.mode.as_deref().unwrap_or("-"),
                t.authorisation.as_deref().unwrap_or(""),
                t.auteur.as_deref().unwrap_or("")
            );
            *totals.entry(t.amount.currency().code()).or_default() += t.amount.minor();
        }
        for (cur, minor) in totals {
            if let Ok(c) = bank_core::Currency::from_code(cur) {
                let _ = writeln!(
                    body,
                    "\nTotal {}",
                    bank_core::Money::from_minor(minor, c)
                        .map(|m| m.to_string())
                        .unwrap_or_default()
                );
            }
        }
        self.send(to, &format!("[bank] payments of {day}"), body)
            .await?;
        Ok(paid.len())
    }
}

#[async_trait]
impl Hooks for EmailHooks {
    /// The purchase ticket, to staff: the technical facts of the payment.
    async fn notifier(&self, call: &HookCall) -> Result<(), Error> {
        let t = &call.transaction;
        let mut body = String::new();
        let _ = writeln!(body, "Payment received\n");
        let _ = writeln!(body, "Reference:     {}", t.reference);
        let _ = writeln!(body, "Amount:        {}", t.amount);
        if let Some(ht) = t.amount_ht {
            let _ = writeln!(body, "Excl. tax:     {ht}");
        }
        let _ = writeln!(body, "Means:         {}", t.mode.as_deref().unwrap_or("-"));
        let _ = writeln!(
            body,
            "Authorisation: {}",
            t.authorisation.as_deref().unwrap_or("-")
        );
        let _ = writeln!(
            body,
            "Payer:         {}",
            t.auteur.as_deref().unwrap_or("-")
        );
        let _ = writeln!(
            body,
            "Paid at:       {}",
            t.paid_at.map(|p| p.to_rfc3339()).unwrap_or_default()
        );
        let _ = writeln!(body, "Key:           {}", call.idempotency_key);
        self.send(
            &self.staff,
            &format!("[bank] payment {} {}", t.reference, t.amount),
            body,
        )
        .await
    }
}
