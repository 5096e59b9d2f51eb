//! Stripe's test card numbers and IBANs, and what each one does.

/// What a test payment method does when used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardBehaviour {
    /// The payment succeeds.
    Succeeds,
    /// The payment succeeds, then the payer disputes it (a chargeback).
    SucceedsThenDisputed,
    /// Declined with this decline code (`generic_decline`, `insufficient_funds`…).
    Declined {
        /// Stripe's `code`.
        code: &'static str,
        /// Stripe's `decline_code`.
        decline_code: &'static str,
        /// Stripe's message.
        message: &'static str,
    },
    /// 3-D Secure authentication is required before the payment.
    RequiresAuthentication,
    /// A SEPA debit: accepted now, collected later (then succeeds or fails).
    SepaDebit {
        /// Whether the collection will succeed.
        succeeds: bool,
    },
    /// Not a card number Stripe accepts.
    Invalid,
}

/// The behaviour of a card number or IBAN (spaces ignored).
pub fn behaviour(number: &str) -> CardBehaviour {
    let n: String = number.chars().filter(|c| !c.is_whitespace()).collect();
    let declined = |code, decline_code, message| CardBehaviour::Declined {
        code,
        decline_code,
        message,
    };
    match n.as_str() {
        "4242424242424242" | "5555555555554444" | "4000056655665556" | "378282246310005"
        | "4000002500003155" => CardBehaviour::Succeeds,
        "4000000000000259" => CardBehaviour::SucceedsThenDisputed,
        "4000000000000002" => declined(
            "card_declined",
            "generic_decline",
            "Your card was declined.",
        ),
        "4000000000009995" => declined(
            "card_declined",
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
        "4000000000009987" => declined("card_declined", "lost_card", "Your card was declined."),
        "4000000000009979" => declined("card_declined", "stolen_card", "Your card was declined."),
        "4000000000000069" => declined("expired_card", "expired_card", "Your card has expired."),
        "4000000000000127" => declined(
            "incorrect_cvc",
            "incorrect_cvc",
            "Your card's security code is incorrect.",
        ),
        "4000000000000119" => declined(
            "processing_error",
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
        ),
        "4000000000003220" | "4000002760003184" => CardBehaviour::RequiresAuthentication,
        "DE89370400440532013000" | "FR1420041010050500013M02606" | "AT611904300234573201" => {
            CardBehaviour::SepaDebit { succeeds: true }
        }
        "DE62370400440532013001" | "FR8420041010050500013M02607" | "AT321904300235473204" => {
            CardBehaviour::SepaDebit { succeeds: false }
        }
        _ => CardBehaviour::Invalid,
    }
}

/// The cards listed on the hosted page, with what they do.
pub const LISTED: [(&str, &str); 8] = [
    ("4242 4242 4242 4242", "succeeds"),
    ("4000 0000 0000 0002", "declined"),
    ("4000 0000 0000 9995", "declined: insufficient funds"),
    ("4000 0000 0000 3220", "asks for 3-D Secure"),
    ("4000 0000 0000 0259", "succeeds, then disputed"),
    ("4000 0000 0000 0069", "expired card"),
    ("DE89 3704 0044 0532 0130 00", "SEPA debit, collected later"),
    ("DE62 3704 0044 0532 0130 01", "SEPA debit, fails later"),
];
