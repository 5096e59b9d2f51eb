//! The sandbox's checkouts, payments, subscriptions and the IPN messages they produce.

use std::collections::HashMap;

use rand::Rng;

/// A PayPal-looking id.
pub fn new_id(len: usize) -> String {
    const A: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| A[rng.gen_range(0..A.len())] as char)
        .collect()
}

/// A test buyer of the checkout page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buyer {
    /// Pays from a balance or a card: `Completed`.
    Pays,
    /// Pays by eCheck: `Pending` (`echeck`), cleared later.
    Echeck,
    /// Pays by an eCheck that fails: `Failed`.
    EcheckFails,
}

impl Buyer {
    /// The buyers, as the page lists them.
    pub const ALL: [(&'static str, Buyer); 3] = [
        ("buyer@example.com", Buyer::Pays),
        ("echeck@example.com", Buyer::Echeck),
        ("failed@example.com", Buyer::EcheckFails),
    ];

    /// The buyer of an e-mail.
    pub fn of(email: &str) -> Option<Buyer> {
        Buyer::ALL
            .iter()
            .find(|(e, _)| *e == email)
            .map(|(_, b)| *b)
    }
}

/// An IPN as sent: the exact body, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// `txn_id:payment_status`, or the subscription message's kind and id.
    pub txn_key: String,
    /// Where it goes.
    pub notify_url: String,
    /// The form body, windows-1252, exactly as posted.
    pub body: Vec<u8>,
    /// The fields, for tests.
    pub fields: Vec<(String, String)>,
}

impl Message {
    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// True when a field is `needle` (an invoice, a txn id, a subscription id).
    pub fn mentions(&self, needle: &str) -> bool {
        self.fields.iter().any(|(_, v)| v == needle)
    }
}

#[derive(Clone, Debug)]
struct Payment {
    fields: Vec<(String, String)>,
    status: String,
    refunded: i64,
    minor: i64,
    decimals: u32,
}

#[derive(Clone, Debug)]
struct Subscription {
    fields: Vec<(String, String)>,
    active: bool,
    payments: u32,
}

/// The whole state.
#[derive(Debug)]
pub struct State {
    /// Base URL.
    pub base: String,
    checkouts: HashMap<String, Vec<(String, String)>>,
    payments: HashMap<String, Payment>,
    subscriptions: HashMap<String, Subscription>,
    /// Every message sent.
    pub sent: Vec<Message>,
    /// Messages not yet handed to the sender.
    pub pending: Vec<Message>,
    /// Delivery attempts: message, attempt, acknowledged.
    pub attempts: Vec<(String, u32, bool)>,
}

fn get<'a>(f: &'a [(String, String)], k: &str) -> Option<&'a str> {
    f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn minor_of(value: &str, currency: &str) -> (i64, u32) {
    let decimals = if ["HUF", "JPY", "TWD"].contains(&currency) {
        0
    } else {
        2
    };
    let (i, f) = value.split_once('.').unwrap_or((value, ""));
    let scaled = format!("{i}{f:0<w$}", w = decimals as usize);
    (scaled.parse().unwrap_or(0), decimals)
}

fn money(minor: i64, decimals: u32) -> String {
    if decimals == 0 {
        return minor.to_string();
    }
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.abs();
    format!("{sign}{}.{:02}", m / 100, m % 100)
}

/// The form body of `fields` in windows-1252, as PayPal's IPNs are by default.
fn encode(fields: &[(String, String)]) -> Vec<u8> {
    let mut out = String::new();
    for (k, v) in fields {
        if !out.is_empty() {
            out.push('&');
        }
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(v);
        out.push_str(k);
        out.push('=');
        out.extend(url::form_urlencoded::byte_serialize(&bytes));
    }
    out.into_bytes()
}

impl State {
    /// Empty.
    pub fn new(base: String) -> Self {
        State {
            base,
            checkouts: HashMap::new(),
            payments: HashMap::new(),
            subscriptions: HashMap::new(),
            sent: Vec::new(),
            pending: Vec::new(),
            attempts: Vec::new(),
        }
    }

    /// Opens a checkout for a button's fields (already decrypted): its id.
    pub fn open(&mut self, fields: Vec<(String, String)>) -> String {
        let id = new_id(17);
        self.checkouts.insert(id.clone(), fields);
        id
    }

    /// A checkout's fields.
    pub fn checkout(&self, id: &str) -> Option<&Vec<(String, String)>> {
        self.checkouts.get(id)
    }

    fn message(
        &mut self,
        key: String,
        button: &[(String, String)],
        mut fields: Vec<(String, String)>,
    ) -> Message {
        let mut all: Vec<(String, String)> = Vec::new();
        for k in ["business", "item_name", "invoice", "custom"] {
            if let Some(v) = get(button, k) {
                all.push((k.into(), v.into()));
            }
        }
        all.append(&mut fields);
        // The receiver is whoever the button named: an edited button pays its editor.
        let business = get(button, "business").unwrap_or_default().to_string();
        let receiver_id = if business.eq_ignore_ascii_case(super::SANDBOX_BUSINESS) {
            super::SANDBOX_RECEIVER_ID.to_string()
        } else {
            "OTHERACCOUNT1".to_string()
        };
        all.extend([
            ("receiver_email".to_string(), business),
            ("receiver_id".to_string(), receiver_id),
            ("payer_email".into(), "buyer@example.com".into()),
            ("first_name".into(), "Jörg".into()),
            ("test_ipn".into(), "1".into()),
            ("charset".into(), "windows-1252".into()),
            ("notify_version".into(), "3.9".into()),
            ("ipn_track_id".into(), new_id(13).to_lowercase()),
            ("verify_sign".into(), new_id(56)),
        ]);
        let m = Message {
            txn_key: key,
            notify_url: get(button, "notify_url").unwrap_or_default().to_string(),
            body: encode(&all),
            fields: all,
        };
        self.sent.push(m.clone());
        self.pending.push(m.clone());
        m
    }

    /// The payer pays checkout `id` as `buyer`: the return URL.
    ///
    /// # Errors
    /// An unknown checkout.
    pub fn pay(&mut self, id: &str, buyer: Buyer, typed: Option<&str>) -> Result<String, String> {
        let button = self.checkouts.get(id).cloned().ok_or("no such checkout")?;
        // A Donate button without an amount: the donor types one, as PayPal's page asks.
        let typed = match (get(&button, "amount"), typed.map(str::trim)) {
            (Some(_), _) => None,
            (None, Some(t)) if !t.is_empty() && get(&button, "cmd") == Some("_donations") => {
                let currency = get(&button, "currency_code").unwrap_or("USD");
                let (minor, decimals) = minor_of(t, currency);
                let (i, f) = t.split_once('.').unwrap_or((t, ""));
                let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
                if minor <= 0
                    || i.is_empty()
                    || !digits(i)
                    || !digits(f)
                    || f.len() > decimals as usize
                {
                    return Err(format!("{t:?} is not an amount in {currency}"));
                }
                Some(t.to_string())
            }
            (None, _) if get(&button, "cmd") == Some("_donations") => {
                return Err("type the amount of your donation".into())
            }
            (None, _) => None,
        };
        self.checkouts.remove(id);
        let cmd = get(&button, "cmd").unwrap_or("");
        let currency = get(&button, "currency_code").unwrap_or("USD").to_string();
        let back = get(&button, "return").unwrap_or_default().to_string();
        if cmd == "_xclick-subscriptions" {
            let subscr = format!("I-{}", new_id(12));
            self.subscriptions.insert(
                subscr.clone(),
                Subscription {
                    fields: button.clone(),
                    active: true,
                    payments: 0,
                },
            );
            let mut f = vec![
                ("txn_type".to_string(), "subscr_signup".to_string()),
                ("subscr_id".into(), subscr.clone()),
            ];
            for k in ["a1", "p1", "t1", "a3", "p3", "t3", "srt"] {
                if let Some(v) = get(&button, k) {
                    let name = match k {
                        "a1" => "amount1",
                        "a3" => "amount3",
                        "p1" => "period1",
                        "p3" => "period3",
                        other => other,
                    };
                    f.push((name.into(), v.into()));
                }
            }
            f.push(("mc_currency".into(), currency));
            self.message(format!("subscr_signup:{subscr}"), &button, f);
            self.renew(&subscr, buyer != Buyer::EcheckFails)?;
            return Ok(back);
        }
        let amount = typed.unwrap_or_else(|| get(&button, "amount").unwrap_or("0").to_string());
        let (minor, decimals) = minor_of(&amount, &currency);
        let txn = new_id(17);
        let status = match buyer {
            Buyer::Pays => "Completed",
            Buyer::Echeck | Buyer::EcheckFails => "Pending",
        };
        let mut f = vec![
            ("txn_type".to_string(), "web_accept".to_string()),
            ("txn_id".into(), txn.clone()),
            ("payment_status".into(), status.into()),
            (
                "payment_type".into(),
                if buyer == Buyer::Pays {
                    "instant".into()
                } else {
                    "echeck".into()
                },
            ),
            ("mc_gross".into(), money(minor, decimals)),
            ("mc_currency".into(), currency.clone()),
        ];
        if status == "Pending" {
            f.push(("pending_reason".into(), "echeck".into()));
        }
        self.payments.insert(
            txn.clone(),
            Payment {
                fields: button.clone(),
                status: status.into(),
                refunded: 0,
                minor,
                decimals,
            },
        );
        self.message(format!("{txn}:{status}"), &button, f);
        if buyer == Buyer::EcheckFails {
            self.settle_echeck(&txn, false)?;
        }
        Ok(back)
    }

    /// A pending eCheck clears (`Completed`) or fails (`Failed`).
    ///
    /// # Errors
    /// Not a pending payment.
    pub fn settle_echeck(&mut self, txn: &str, cleared: bool) -> Result<Message, String> {
        let p = self.payments.get(txn).cloned().ok_or("no such payment")?;
        if p.status != "Pending" {
            return Err("not pending".into());
        }
        let status = if cleared { "Completed" } else { "Failed" };
        let currency = get(&p.fields, "currency_code").unwrap_or("USD").to_string();
        if let Some(x) = self.payments.get_mut(txn) {
            x.status = status.into();
        }
        let f = vec![
            ("txn_type".to_string(), "web_accept".to_string()),
            ("txn_id".into(), txn.to_string()),
            ("payment_status".into(), status.into()),
            ("payment_type".into(), "echeck".into()),
            ("mc_gross".into(), money(p.minor, p.decimals)),
            ("mc_currency".into(), currency),
        ];
        Ok(self.message(format!("{txn}:{status}"), &p.fields, f))
    }

    /// A refund (a new transaction whose parent is `txn`).
    ///
    /// # Errors
    /// Not a completed payment, or more than is left.
    pub fn refund(&mut self, txn: &str, minor: Option<i64>) -> Result<Message, String> {
        let p = self.payments.get(txn).cloned().ok_or("no such payment")?;
        if p.status != "Completed" {
            return Err(format!("payment is {}", p.status));
        }
        let amount = minor.unwrap_or(p.minor - p.refunded);
        if amount <= 0 || amount > p.minor - p.refunded {
            return Err("more than is left".into());
        }
        if let Some(x) = self.payments.get_mut(txn) {
            x.refunded += amount;
        }
        let refund = new_id(17);
        let currency = get(&p.fields, "currency_code").unwrap_or("USD").to_string();
        let f = vec![
            ("txn_id".to_string(), refund.clone()),
            ("parent_txn_id".into(), txn.to_string()),
            ("payment_status".into(), "Refunded".into()),
            ("reason_code".into(), "refund".into()),
            ("mc_gross".into(), money(-amount, p.decimals)),
            ("mc_currency".into(), currency),
        ];
        Ok(self.message(format!("{refund}:Refunded"), &p.fields, f))
    }

    /// A chargeback (`Reversed`), or its cancellation (`Canceled_Reversal`).
    ///
    /// # Errors
    /// Not a payment in the right state.
    pub fn reverse(&mut self, txn: &str, cancel: bool) -> Result<Message, String> {
        let p = self.payments.get(txn).cloned().ok_or("no such payment")?;
        let (from, to) = if cancel {
            ("Reversed", "Completed")
        } else {
            ("Completed", "Reversed")
        };
        if p.status != from {
            return Err(format!("payment is {}", p.status));
        }
        if let Some(x) = self.payments.get_mut(txn) {
            x.status = to.into();
        }
        let id = new_id(17);
        let status = if cancel {
            "Canceled_Reversal"
        } else {
            "Reversed"
        };
        let gross = if cancel { p.minor } else { -p.minor };
        let currency = get(&p.fields, "currency_code").unwrap_or("USD").to_string();
        let f = vec![
            ("txn_id".to_string(), id.clone()),
            ("parent_txn_id".into(), txn.to_string()),
            ("payment_status".into(), status.into()),
            ("reason_code".into(), "chargeback".into()),
            ("mc_gross".into(), money(gross, p.decimals)),
            ("mc_currency".into(), currency),
        ];
        Ok(self.message(format!("{id}:{status}"), &p.fields, f))
    }

    /// The next payment of a subscription.
    ///
    /// # Errors
    /// Not an active subscription.
    pub fn renew(&mut self, subscr: &str, paid: bool) -> Result<Message, String> {
        let s = self
            .subscriptions
            .get(subscr)
            .cloned()
            .ok_or("no such subscription")?;
        if !s.active {
            return Err("not active".into());
        }
        let currency = get(&s.fields, "currency_code").unwrap_or("USD").to_string();
        let amount = if s.payments == 0 {
            get(&s.fields, "a1").or(get(&s.fields, "a3"))
        } else {
            get(&s.fields, "a3")
        }
        .unwrap_or("0")
        .to_string();
        let (minor, decimals) = minor_of(&amount, &currency);
        if !paid {
            let f = vec![
                ("txn_type".to_string(), "subscr_failed".to_string()),
                ("subscr_id".into(), subscr.to_string()),
                ("mc_gross".into(), money(minor, decimals)),
                ("mc_currency".into(), currency),
            ];
            return Ok(self.message(
                format!("subscr_failed:{subscr}:{}", s.payments),
                &s.fields,
                f,
            ));
        }
        if let Some(x) = self.subscriptions.get_mut(subscr) {
            x.payments += 1;
        }
        let txn = new_id(17);
        self.payments.insert(
            txn.clone(),
            Payment {
                fields: s.fields.clone(),
                status: "Completed".into(),
                refunded: 0,
                minor,
                decimals,
            },
        );
        let f = vec![
            ("txn_type".to_string(), "subscr_payment".to_string()),
            ("subscr_id".into(), subscr.to_string()),
            ("txn_id".into(), txn.clone()),
            ("payment_status".into(), "Completed".into()),
            ("mc_gross".into(), money(minor, decimals)),
            ("mc_currency".into(), currency),
        ];
        Ok(self.message(format!("{txn}:Completed"), &s.fields, f))
    }

    /// The payer cancels a subscription.
    ///
    /// # Errors
    /// Not active.
    pub fn cancel_subscription(&mut self, subscr: &str) -> Result<Message, String> {
        let s = self
            .subscriptions
            .get(subscr)
            .cloned()
            .ok_or("no such subscription")?;
        if !s.active {
            return Err("not active".into());
        }
        if let Some(x) = self.subscriptions.get_mut(subscr) {
            x.active = false;
        }
        let f = vec![
            ("txn_type".to_string(), "subscr_cancel".to_string()),
            ("subscr_id".into(), subscr.to_string()),
        ];
        Ok(self.message(format!("subscr_cancel:{subscr}"), &s.fields, f))
    }

    /// True when `body` is exactly a message this sandbox sent.
    pub fn sent_exactly(&self, body: &[u8]) -> bool {
        self.sent.iter().any(|m| m.body == body)
    }
}
