//! The sandbox's memory: forms taken, payments, subscriptions, and the IPNs it sends, each
//! signed as PayZen signs them.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

use crate::signature::{self, Algorithm};

/// A payment means on the sandbox's page, with what happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestMeans {
    /// A card that is accepted (`AUTHORISED`, or `AUTHORISED_TO_VALIDATE` with manual
    /// validation).
    CardApproved,
    /// A card that is refused (`REFUSED`, authorisation result 05).
    CardRefused,
    /// An IBAN whose debit is collected when presented.
    SepaCollected,
    /// An IBAN whose debit is returned after presentation (R-transaction, insufficient
    /// funds).
    SepaReturned,
}

impl TestMeans {
    /// The means as the page lists them: label, value.
    pub const ALL: [(&'static str, TestMeans); 4] = [
        (
            "Card 4970 1000 0000 0003 — approved",
            TestMeans::CardApproved,
        ),
        ("Card 4970 1000 0000 0014 — refused", TestMeans::CardRefused),
        (
            "IBAN FR76 3000 6000 0112 3456 7890 189 — SEPA debit collected",
            TestMeans::SepaCollected,
        ),
        (
            "IBAN FR76 3000 4000 0312 3456 7890 143 — SEPA debit returned",
            TestMeans::SepaReturned,
        ),
    ];

    /// The value posted by the page.
    pub fn code(self) -> &'static str {
        match self {
            TestMeans::CardApproved => "card_ok",
            TestMeans::CardRefused => "card_ko",
            TestMeans::SepaCollected => "sdd_ok",
            TestMeans::SepaReturned => "sdd_returned",
        }
    }

    /// The means posted as `code`.
    pub fn of(code: &str) -> Option<TestMeans> {
        Self::ALL.iter().map(|(_, m)| *m).find(|m| m.code() == code)
    }

    fn sdd(self) -> bool {
        matches!(self, TestMeans::SepaCollected | TestMeans::SepaReturned)
    }
}

/// An IPN the sandbox sent (or will send).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The payment's uuid.
    pub uuid: String,
    /// Where it goes (`vads_url_check`).
    pub url: String,
    /// The form body, UTF-8, signed.
    pub body: Vec<u8>,
    /// The fields, for tests.
    pub fields: Vec<(String, String)>,
}

impl Message {
    /// A field's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One payment (a debit or a refund's credit).
#[derive(Clone, Debug)]
pub struct Payment {
    /// The form it came from.
    pub form: Vec<(String, String)>,
    /// Its status.
    pub status: String,
    /// Card or SEPA, and what happens to a debit.
    pub means: TestMeans,
    /// Amount, minor units.
    pub amount: i64,
    /// Refunded so far.
    pub refunded: i64,
}

/// A subscription made by `REGISTER_PAY_SUBSCRIBE`.
#[derive(Clone, Debug)]
pub struct Subscription {
    /// The form it came from.
    pub form: Vec<(String, String)>,
    /// The card or mandate token.
    pub token: String,
    /// Card or SEPA.
    pub means: TestMeans,
    /// Instalments made.
    pub made: u32,
    /// Still running.
    pub active: bool,
}

/// Everything the sandbox remembers.
#[derive(Debug, Default)]
pub struct State {
    pub(crate) checkouts: BTreeMap<String, Vec<(String, String)>>,
    pub(crate) trans_ids: HashSet<(String, String, String)>,
    pub(crate) payments: BTreeMap<String, Payment>,
    pub(crate) subscriptions: BTreeMap<String, Subscription>,
    pub(crate) sent: Vec<Message>,
    pub(crate) pending: Vec<Message>,
    /// (uuid, attempt, acknowledged).
    pub(crate) attempts: Vec<(String, u32, bool)>,
}

pub(crate) fn get<'a>(f: &'a [(String, String)], name: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A random lowercase hex id of `n` characters.
pub(crate) fn hex_id(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// What signs the sandbox's messages.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    pub(crate) algorithm: Algorithm,
    pub(crate) test: String,
    pub(crate) production: String,
}

impl Keys {
    pub(crate) fn of(&self, ctx_mode: &str) -> Option<&str> {
        match ctx_mode {
            "TEST" => Some(&self.test),
            "PRODUCTION" => Some(&self.production),
            _ => None,
        }
    }
}

impl State {
    /// Takes a form as PayZen does: the fields every form needs, its signature with the key
    /// of its mode, a transaction id not used yet today. The checkout id, or PayZen's
    /// refusal in words.
    pub(crate) fn take(
        &mut self,
        keys: &Keys,
        fields: Vec<(String, String)>,
    ) -> Result<String, String> {
        for (k, _) in &fields {
            if fields.iter().filter(|(n, _)| n == k).count() > 1 {
                return Err(format!("field {k} given twice"));
            }
        }
        for required in [
            "vads_site_id",
            "vads_ctx_mode",
            "vads_trans_id",
            "vads_trans_date",
            "vads_amount",
            "vads_currency",
            "vads_action_mode",
            "vads_page_action",
            "vads_payment_config",
            "vads_version",
            "signature",
        ] {
            if get(&fields, required).is_none() {
                return Err(format!("{required} is missing (error 00)"));
            }
        }
        // Any eight digits: the sandbox hosts as many shops as asked, all with its keys.
        let site = get(&fields, "vads_site_id").unwrap_or_default();
        if site.len() != 8 || !site.bytes().all(|b| b.is_ascii_digit()) {
            return Err("unknown shop (error 02)".into());
        }
        let site_id = site.to_string();
        let site_id = site_id.as_str();
        let mode = get(&fields, "vads_ctx_mode").unwrap_or_default();
        let key = keys
            .of(mode)
            .ok_or("vads_ctx_mode must be TEST or PRODUCTION (error 11)")?;
        let pairs = fields.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        if !signature::verify(
            keys.algorithm,
            pairs,
            key,
            get(&fields, "signature").unwrap_or_default(),
        ) {
            return Err(
                "the signature is wrong (error 05): check the key of the mode and the algorithm"
                    .into(),
            );
        }
        let trans_id = get(&fields, "vads_trans_id").unwrap_or_default();
        if trans_id.len() != 6 || !trans_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err("vads_trans_id must be 6 digits (error 03)".into());
        }
        let day = get(&fields, "vads_trans_date")
            .unwrap_or_default()
            .get(..8)
            .unwrap_or("")
            .to_string();
        if !self
            .trans_ids
            .insert((site_id.to_string(), day, trans_id.to_string()))
        {
            return Err("this vads_trans_id was already used today (error 03)".into());
        }
        let amount = get(&fields, "vads_amount").unwrap_or_default();
        if amount.parse::<i64>().map_or(true, |a| a <= 0) {
            return Err("vads_amount must be a positive number of minor units (error 09)".into());
        }
        let id = hex_id(16);
        self.checkouts.insert(id.clone(), fields);
        Ok(id)
    }

    /// The form of checkout `id`.
    pub fn checkout(&self, id: &str) -> Option<&Vec<(String, String)>> {
        self.checkouts.get(id)
    }

    /// A message about payment `uuid` made from its form, with `fields`, signed.
    fn message(
        &mut self,
        keys: &Keys,
        uuid: &str,
        form: &[(String, String)],
        fields: Vec<(&str, String)>,
        now: DateTime<Utc>,
    ) -> Message {
        let mode = get(form, "vads_ctx_mode").unwrap_or("TEST").to_string();
        let mut all: Vec<(String, String)> = Vec::new();
        let mut put = |k: &str, v: String| match all.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = v,
            None => all.push((k.to_string(), v)),
        };
        for k in [
            "vads_amount",
            "vads_currency",
            "vads_ctx_mode",
            "vads_site_id",
            "vads_trans_date",
            "vads_trans_id",
            "vads_order_id",
            "vads_order_info",
            "vads_page_action",
            "vads_action_mode",
            "vads_payment_config",
            "vads_version",
            "vads_cust_email",
            "vads_cust_first_name",
            "vads_cust_last_name",
            "vads_capture_delay",
            "vads_validation_mode",
        ] {
            if let Some(v) = get(form, k) {
                put(k, v.to_string());
            }
        }
        for (k, v) in form.iter().filter(|(k, _)| k.starts_with("vads_ext_info_")) {
            put(k, v.clone());
        }
        put("vads_trans_uuid", uuid.to_string());
        put(
            "vads_effective_creation_date",
            now.format("%Y%m%d%H%M%S").to_string(),
        );
        put("vads_url_check_src", "PAY".into());
        put("vads_operation_type", "DEBIT".into());
        put("vads_auth_result", String::new());
        for (k, v) in fields {
            put(k, v);
        }
        let key = keys.of(&mode).unwrap_or_default();
        let sig = signature::sign(
            keys.algorithm,
            all.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            key,
        );
        all.push(("signature".into(), sig));
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(all.iter())
            .finish()
            .into_bytes();
        let m = Message {
            uuid: uuid.to_string(),
            url: get(form, "vads_url_check").unwrap_or_default().to_string(),
            body,
            fields: all,
        };
        self.sent.push(m.clone());
        self.pending.push(m.clone());
        m
    }

    /// The payer pays checkout `id` with `means`: the IPN (queued), and the signed return
    /// URL.
    pub(crate) fn pay(
        &mut self,
        keys: &Keys,
        id: &str,
        means: TestMeans,
        now: DateTime<Utc>,
    ) -> Result<(Message, String), String> {
        let form = self.checkouts.get(id).cloned().ok_or("no such checkout")?;
        let cards = get(&form, "vads_payment_cards").unwrap_or("");
        let offered = |code: &str| cards.is_empty() || cards.split(';').any(|c| c == code);
        if means.sdd() && !offered("SDD") {
            return Err("this form does not offer SEPA Direct Debit".into());
        }
        let cards_offered = offered("CB") || offered("VISA") || offered("MASTERCARD");
        if !means.sdd() && !cards_offered {
            return Err("this form does not offer cards".into());
        }
        if means.sdd() && get(&form, "vads_currency") != Some("978") {
            return Err("SEPA Direct Debit is in euros only".into());
        }
        self.checkouts.remove(id);
        let uuid = hex_id(32);
        let amount: i64 = get(&form, "vads_amount")
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        let manual = get(&form, "vads_validation_mode") == Some("1");
        let (status, result, auth) = match means {
            TestMeans::CardApproved if manual => ("AUTHORISED_TO_VALIDATE", "00", "00"),
            TestMeans::CardApproved => ("AUTHORISED", "00", "00"),
            TestMeans::CardRefused => ("REFUSED", "05", "05"),
            TestMeans::SepaCollected | TestMeans::SepaReturned => ("AUTHORISED", "00", ""),
        };
        let mut fields: Vec<(&str, String)> = vec![
            ("vads_trans_status", status.into()),
            ("vads_result", result.into()),
            ("vads_auth_result", auth.into()),
        ];
        let token = hex_id(32);
        if means.sdd() {
            let presentation = (now + chrono::Duration::days(5))
                .format("%Y%m%d000000")
                .to_string();
            fields.extend([
                ("vads_card_brand", "SDD".to_string()),
                ("vads_acquirer_network", "SEPA".into()),
                (
                    "vads_card_number",
                    "FR7630006000011234567890189_AGRIFRPP".into(),
                ),
                (
                    "vads_identifier",
                    format!("UMR{}", &token[..16].to_uppercase()),
                ),
                ("vads_occurrence_type", "UNITAIRE".into()),
                ("vads_presentation_date", presentation),
            ]);
        } else {
            fields.extend([
                ("vads_card_brand", "CB".to_string()),
                ("vads_card_number", "497010XXXXXX0003".into()),
                ("vads_auth_mode", "FULL".into()),
            ]);
            if result == "00" {
                fields.push(("vads_auth_number", hex_id(6)));
            }
        }
        if let Some(sub) = get(&form, "vads_subscription").filter(|_| result == "00") {
            let token = if means.sdd() {
                format!("UMR{}", &token[..16].to_uppercase())
            } else {
                token.clone()
            };
            fields.retain(|(k, _)| *k != "vads_identifier");
            fields.extend([
                ("vads_identifier", token.clone()),
                ("vads_identifier_status", "CREATED".to_string()),
                ("vads_subscription", sub.to_string()),
                ("vads_recurrence_status", "CREATED".into()),
            ]);
            for k in [
                "vads_sub_amount",
                "vads_sub_currency",
                "vads_sub_desc",
                "vads_sub_effect_date",
            ] {
                if let Some(v) = get(&form, k) {
                    fields.push((k, v.to_string()));
                }
            }
            if means.sdd() {
                fields.retain(|(k, _)| *k != "vads_occurrence_type");
                fields.push(("vads_occurrence_type", "RECURRENT_INITIAL".into()));
            }
            self.subscriptions.insert(
                sub.to_string(),
                Subscription {
                    form: form.clone(),
                    token,
                    means,
                    made: 0,
                    active: true,
                },
            );
        }
        self.payments.insert(
            uuid.clone(),
            Payment {
                form: form.clone(),
                status: status.into(),
                means,
                amount,
                refunded: 0,
            },
        );
        let m = self.message(keys, &uuid, &form, fields, now);
        let back = self.return_url(keys, &m);
        Ok((m, back))
    }

    /// The browser's return: `vads_url_return` with the message's fields (return mode GET).
    fn return_url(&self, _keys: &Keys, m: &Message) -> String {
        let payment = self.payments.get(&m.uuid);
        let base = payment
            .and_then(|p| get(&p.form, "vads_url_return"))
            .unwrap_or_default();
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(m.fields.iter())
            .finish();
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}{query}")
    }

    /// The payer leaves the page: `ABANDONED` (the shop's "on cancellation" rule is on), and
    /// the cancel URL.
    pub(crate) fn abandon(
        &mut self,
        keys: &Keys,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(Message, String), String> {
        let form = self.checkouts.remove(id).ok_or("no such checkout")?;
        let uuid = hex_id(32);
        let m = self.message(
            keys,
            &uuid,
            &form,
            vec![
                ("vads_trans_status", "ABANDONED".into()),
                ("vads_result", "17".into()),
            ],
            now,
        );
        let back = get(&form, "vads_url_cancel")
            .or(get(&form, "vads_url_return"))
            .unwrap_or_default()
            .to_string();
        Ok((m, back))
    }

    /// A status change after the payment, reported with `src` (`BATCH`, `MERCH_BO`…).
    pub(crate) fn change(
        &mut self,
        keys: &Keys,
        uuid: &str,
        status: &str,
        src: &str,
        extra: Vec<(&str, String)>,
        now: DateTime<Utc>,
    ) -> Result<Message, String> {
        let p = self.payments.get_mut(uuid).ok_or("no such payment")?;
        p.status = status.to_string();
        let (form, means) = (p.form.clone(), p.means);
        let mut fields: Vec<(&str, String)> = vec![
            ("vads_trans_status", status.into()),
            ("vads_url_check_src", src.into()),
            ("vads_result", "00".into()),
        ];
        if means.sdd() {
            fields.push(("vads_card_brand", "SDD".into()));
        } else {
            fields.push(("vads_card_brand", "CB".into()));
        }
        fields.extend(extra);
        Ok(self.message(keys, uuid, &form, fields, now))
    }

    /// A pending debit is presented: collected (`CAPTURED`), or for a returned IBAN
    /// collected then returned (`REFUSED`, reason AM04): the messages.
    pub(crate) fn present(
        &mut self,
        keys: &Keys,
        uuid: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Message>, String> {
        let p = self.payments.get(uuid).ok_or("no such payment")?;
        if p.status != "AUTHORISED" {
            return Err(format!(
                "payment is {}, not waiting for presentation",
                p.status
            ));
        }
        let returned = p.means == TestMeans::SepaReturned;
        let mut out = vec![self.change(keys, uuid, "CAPTURED", "BATCH", vec![], now)?];
        if returned {
            out.push(self.change(
                keys,
                uuid,
                "REFUSED",
                "BATCH",
                vec![("vads_extra_result", "AM04".into())],
                now,
            )?);
        }
        Ok(out)
    }

    /// The next instalment of subscription `id`, paid or not (`REC`).
    pub(crate) fn instalment(
        &mut self,
        keys: &Keys,
        id: &str,
        paid: bool,
        now: DateTime<Utc>,
    ) -> Result<Message, String> {
        let s = self
            .subscriptions
            .get_mut(id)
            .ok_or("no such subscription")?;
        if !s.active {
            return Err("the subscription was cancelled".into());
        }
        s.made += 1;
        let (form, token, means, n) = (s.form.clone(), s.token.clone(), s.means, s.made);
        let amount = get(&form, "vads_sub_amount").unwrap_or("0").to_string();
        let uuid = hex_id(32);
        let mut fields: Vec<(&str, String)> = vec![
            ("vads_url_check_src", "REC".into()),
            ("vads_amount", amount.clone()),
            ("vads_order_id", String::new()),
            ("vads_subscription", id.to_string()),
            ("vads_identifier", token),
            ("vads_recurrence_number", n.to_string()),
            (
                "vads_trans_status",
                if paid { "CAPTURED" } else { "REFUSED" }.into(),
            ),
            ("vads_result", if paid { "00" } else { "05" }.into()),
            ("vads_auth_result", if paid { "00" } else { "51" }.into()),
            (
                "vads_card_brand",
                if means.sdd() { "SDD" } else { "CB" }.into(),
            ),
            ("vads_trans_id", format!("{:06}", 900_000 + n)),
        ];
        if means.sdd() {
            fields.push(("vads_occurrence_type", "RECURRENT_INTERMEDIAIRE".into()));
        }
        self.payments.insert(
            uuid.clone(),
            Payment {
                form: form.clone(),
                status: if paid { "CAPTURED" } else { "REFUSED" }.into(),
                means,
                amount: amount.parse().unwrap_or(0),
                refunded: 0,
            },
        );
        Ok(self.message(keys, &uuid, &form, fields, now))
    }

    /// A refund of `amount` of payment `uuid` (`None`: what is left): the credit's uuid,
    /// and its message (`MERCH_BO`, `CREDIT`), sent when made in the back office
    /// (`notify`), kept only for tests when made through the REST API.
    pub(crate) fn refund(
        &mut self,
        keys: &Keys,
        uuid: &str,
        amount: Option<i64>,
        now: DateTime<Utc>,
        notify: bool,
    ) -> Result<(String, Message), String> {
        let p = self.payments.get_mut(uuid).ok_or("no such payment")?;
        let left = p.amount - p.refunded;
        let amount = amount.unwrap_or(left);
        if !matches!(p.status.as_str(), "AUTHORISED" | "CAPTURED") {
            return Err(format!("a {} payment cannot be refunded", p.status));
        }
        if amount <= 0 || amount > left {
            return Err(format!("{amount} is more than the {left} left"));
        }
        p.refunded += amount;
        let form = p.form.clone();
        let credit = hex_id(32);
        let m = self.message(
            keys,
            &credit,
            &form,
            vec![
                ("vads_operation_type", "CREDIT".into()),
                ("vads_url_check_src", "MERCH_BO".into()),
                ("vads_amount", amount.to_string()),
                ("vads_trans_status", "CAPTURED".into()),
                ("vads_result", "00".into()),
            ],
            now,
        );
        if !notify {
            // An operation of the REST API: its answer says it all, no IPN follows.
            self.pending.retain(|x| x.uuid != credit);
        }
        Ok((credit, m))
    }
}
