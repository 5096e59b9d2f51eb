//! Paybox result codes (`erreur`, variable `E`; Direct's `CODEREPONSE`) and their meaning.
//!
//! Only `00000` settles a payment. `001xx` is a refusal by the authorisation centre whose
//! last two digits are the bank's (CB) answer code. The meanings are paybox.md §6 in our
//! own words.

/// What a System result code means for the transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `00000`: paid (or authorised, when capture is deferred).
    Paid,
    /// `99999`: waiting for the payment means to confirm.
    Pending,
    /// Cancelled by the payer, or the payer left the page.
    Cancelled,
    /// Refused or failed.
    Failed,
}

/// The verdict and meaning of a System result code (`erreur`).
pub fn system(code: &str) -> (Verdict, String) {
    let fixed = |v: Verdict, m: &str| (v, m.to_string());
    match code {
        "00000" => fixed(Verdict::Paid, "payment accepted"),
        "99999" => fixed(
            Verdict::Pending,
            "pending: awaiting confirmation from the payment means",
        ),
        "00001" => fixed(
            Verdict::Cancelled,
            "cancelled by the payer (or payment system unavailable)",
        ),
        "00030" => fixed(
            Verdict::Cancelled,
            "the payer stayed more than 15 minutes on the payment page",
        ),
        c if c.len() == 5 && c.starts_with("001") && c.bytes().all(|b| b.is_ascii_digit()) => (
            Verdict::Failed,
            format!("refused by the authorisation centre: {}", cb(&c[3..])),
        ),
        c => (Verdict::Failed, meaning(c).to_string()),
    }
}

/// The meaning of a result code that is neither a success nor a bank refusal, shared by
/// System and Direct.
pub fn meaning(code: &str) -> &'static str {
    match code {
        "00000" => "success",
        "00001" => "connection to the authorisation centre failed, or cancelled by the payer",
        "00003" => "Paybox error: try again (on the backup host)",
        "00004" => "invalid card number or card verification code",
        "00005" => "invalid question number",
        "00006" => "access refused: wrong site, rank or identifier",
        "00007" => "invalid date",
        "00008" => "wrong card expiry date",
        "00009" => "subscription creation failed, or invalid operation type",
        "00010" => "unknown currency",
        "00011" => "wrong amount",
        "00012" => "invalid order reference",
        "00013" => "this protocol version is no longer supported",
        "00014" => "inconsistent request",
        "00015" => "payment already done, or earlier transaction not found",
        "00016" => "subscriber already exists",
        "00017" => "unknown subscriber",
        "00018" => "transaction not found",
        "00020" => "card verification code missing",
        "00021" => "card not authorised (card type not allowed)",
        "00022" => "limit reached",
        "00023" => "card already used today",
        "00024" => "country code filtered",
        "00029" => "card not compliant",
        "00030" => "the payer stayed more than 15 minutes on the payment page",
        "00031" | "00032" => "reserved",
        "00033" => "country of the payer's IP address not allowed",
        "00040" => "operation without 3-D Secure authentication blocked by the filter",
        "00097" => "connection time-out at Paybox",
        "00098" => "internal connection error at Paybox",
        "00099" => "question and answer inconsistent at Paybox: try again later",
        "99999" => "pending: awaiting confirmation from the payment means",
        _ => "unknown error code",
    }
}

/// True for Direct codes after which Paybox may or may not have processed the operation
/// (its own time-outs and inconsistencies): the outcome is unknown, never "refused".
pub fn direct_outcome_unknown(code: &str) -> bool {
    matches!(code, "00097" | "00098" | "00099")
}

/// True for Direct codes that say Paybox does not know the transaction asked about (on
/// the site and rank asked): paybox.md §7.2's "Transaction non trouvée".
pub fn direct_unknown_transaction(code: &str) -> bool {
    matches!(code, "00015" | "00018")
}

/// True when a refused debit on a registered card is a definite refusal of that card: the
/// bank said no, or the card itself is unusable. Anything else (Paybox or the
/// authorisation centre unavailable, a busy or failing system, our own configuration or
/// request) says nothing about the card, and must not end a subscription.
pub fn definite_card_refusal(code: &str) -> bool {
    match code {
        // Invalid card number, wrong expiry, unknown subscriber (card deleted), card type
        // not allowed, country filtered, card not compliant, IP country or 3-D Secure
        // filters.
        "00004" | "00008" | "00017" | "00021" | "00024" | "00029" | "00033" | "00040" => true,
        c if c.len() == 5 && c.starts_with("001") && c.bytes().all(|b| b.is_ascii_digit()) => {
            !cb_temporary(&c[3..])
        }
        _ => false,
    }
}

/// CB answer codes that report a failure of the network or a system, not a decision about
/// the card: asking again later may succeed.
pub fn cb_temporary(code: &str) -> bool {
    matches!(code, "68" | "90" | "91" | "96" | "97" | "98" | "99")
}

/// The meaning of a CB (bank) answer code, the `xx` of `001xx`.
pub fn cb(code: &str) -> String {
    let m = match code {
        "00" => "transaction approved",
        "02" => "contact the card issuer",
        "03" => "invalid merchant",
        "04" => "keep the card",
        "05" => "do not honour",
        "07" => "keep the card, special conditions",
        "08" => "approve after identification",
        "12" => "invalid transaction",
        "13" => "invalid amount",
        "14" => "invalid cardholder number",
        "15" => "unknown card issuer",
        "17" => "cancelled by the payer",
        "30" => "format error",
        "31" => "acquirer's identifier unknown",
        "33" => "card expired",
        "34" => "suspected fraud",
        "41" => "lost card",
        "43" => "stolen card",
        "51" => "insufficient funds or credit limit exceeded",
        "54" => "card expired",
        "56" => "card absent from the file",
        "57" => "transaction not allowed for this cardholder",
        "58" => "transaction not allowed at this terminal",
        "59" => "suspected fraud",
        "60" => "the card acceptor must contact the acquirer",
        "61" => "withdrawal limit exceeded",
        "63" => "security rules not respected",
        "68" => "answer not received or received too late",
        "90" => "system temporarily stopped",
        "91" => "card issuer unreachable",
        "96" => "system malfunction",
        "97" => "global surveillance time-out",
        "98" => "server unavailable, network routing asked again",
        "99" => "incident in the initiating domain",
        _ => "unknown bank answer code",
    };
    format!("{m} (CB {code})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_00000_pays() {
        assert_eq!(system("00000").0, Verdict::Paid);
        // eopayment maps 00100 to PAID (CB 00); Paybox itself answers 00000 for a payment,
        // so nothing else may settle one.
        assert_eq!(system("00100").0, Verdict::Failed);
        assert_eq!(system("00105").0, Verdict::Failed);
        assert!(system("00105").1.contains("do not honour"));
        assert_eq!(system("00117").0, Verdict::Failed);
        assert_eq!(system("00101").0, Verdict::Failed);
        assert!(system("00101").1.contains("unknown bank answer code"));
    }

    #[test]
    fn cancellations_and_pending() {
        assert_eq!(system("00001").0, Verdict::Cancelled);
        assert_eq!(system("00030").0, Verdict::Cancelled);
        assert_eq!(system("99999").0, Verdict::Pending);
    }

    #[test]
    fn other_codes_fail_with_a_meaning() {
        for (code, word) in [
            ("00003", "backup"),
            ("00004", "card number"),
            ("00006", "access refused"),
            ("00015", "already"),
            ("00016", "subscriber already"),
            ("00021", "not authorised"),
            ("00033", "IP"),
            ("00040", "3-D Secure"),
            ("12345", "unknown"),
            ("", "unknown"),
        ] {
            let (v, m) = system(code);
            assert_eq!(v, Verdict::Failed, "{code}");
            assert!(m.contains(word), "{code}: {m}");
        }
    }

    #[test]
    fn only_definite_refusals_end_a_subscription() {
        for code in [
            "00105", "00151", "00154", "00141", "00004", "00008", "00017", "00021",
        ] {
            assert!(definite_card_refusal(code), "{code}");
        }
        // Temporary or technical: Paybox, the authorisation centre or our request.
        for code in [
            "00001", "00003", "00005", "00006", "00009", "00010", "00011", "00013", "00014",
            "00022", "00023", "00097", "00098", "00099", "00168", "00190", "00191", "00196",
            "00197", "00198", "00199", "99999", "", "0010x",
        ] {
            assert!(!definite_card_refusal(code), "{code}");
        }
    }

    #[test]
    fn unknown_transactions() {
        assert!(direct_unknown_transaction("00015"));
        assert!(direct_unknown_transaction("00018"));
        assert!(!direct_unknown_transaction("00006"));
        assert!(!direct_unknown_transaction("00003"));
    }

    #[test]
    fn direct_unknown_outcomes() {
        assert!(direct_outcome_unknown("00097"));
        assert!(!direct_outcome_unknown("00015"));
        assert!(!direct_outcome_unknown("00000"));
    }
}
