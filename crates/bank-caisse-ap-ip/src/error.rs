//! The one error type of the crate, with structured fields.
//!
//! An error here always means *nothing was charged by this call*: a frame that cannot be
//! built or read, a request refused before sending, a terminal busy with another exchange.
//! What happens once a request has left for the terminal is never an error but an
//! [`crate::ExchangeOutcome`], because an I/O failure then does not say whether the card
//! was charged.

use bank_core::Status;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaisseApError {
    /// A frame must contain at least one field.
    #[error("empty frame")]
    EmptyFrame,
    /// A tag is not two ASCII upper-case letters.
    #[error("bad tag {found:?} at byte {offset}: a tag is two upper-case letters")]
    BadTag {
        /// Byte offset of the tag in the frame.
        offset: usize,
        /// What was found there (escaped).
        found: String,
    },
    /// A length is not three ASCII digits.
    #[error("bad length {found:?} at byte {offset} (tag {tag}): a length is three digits")]
    BadLength {
        /// Byte offset of the length.
        offset: usize,
        /// The field's tag.
        tag: String,
        /// What was found there (escaped).
        found: String,
    },
    /// A field's value is shorter than its declared length.
    #[error(
        "field {tag} at byte {offset} declares {declared} characters, only {available} follow"
    )]
    Truncated {
        /// Byte offset of the field.
        offset: usize,
        /// The field's tag (or what stands for it).
        tag: String,
        /// The declared length.
        declared: usize,
        /// The bytes that follow the length.
        available: usize,
    },
    /// A byte outside ASCII in a value.
    #[error("byte 0x{byte:02x} at offset {offset} is not ASCII")]
    NotAscii {
        /// Byte offset.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// `CZ` (protocol version) must be the first field of a frame.
    #[error("the first field is {found}, not CZ (the protocol version must come first)")]
    VersionNotFirst {
        /// The first tag found.
        found: String,
    },
    /// A field to send has an empty value (zero-length fields are not sent).
    #[error("field {tag} has an empty value: zero-length fields are not sent")]
    EmptyValue {
        /// The tag.
        tag: String,
    },
    /// A field to send is longer than 999 characters.
    #[error("field {tag} is {len} characters long: at most 999")]
    ValueTooLong {
        /// The tag.
        tag: String,
        /// Its length.
        len: usize,
    },
    /// A tag appears twice in a frame to send (a tag appears at most once).
    #[error("tag {tag} appears more than once")]
    DuplicateTag {
        /// The tag.
        tag: String,
    },
    /// An amount the terminal cannot take: zero, or more than 12 digits of minor units.
    #[error("amount {amount} cannot be sent to a terminal: {reason}")]
    InvalidAmount {
        /// The amount, in words.
        amount: String,
        /// Why.
        reason: &'static str,
    },
    /// A terminal setting is wrong (pos number, protocol version, port…).
    #[error("terminal setting {setting} = {value:?}: {reason}")]
    InvalidSetting {
        /// The setting.
        setting: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
    /// The terminal is already running an exchange: a second one is refused, never queued,
    /// so that a cashier clicking twice cannot charge twice.
    #[error("terminal {terminal} is busy with another payment: wait for it to finish")]
    Busy {
        /// `host:port` of the terminal.
        terminal: String,
    },
    /// This transaction is already being charged on a terminal.
    #[error("transaction {reference} is already being charged on a terminal")]
    AlreadyCharging {
        /// The transaction.
        reference: String,
    },
    /// The instance is not a `caisse-ap-ip` terminal known to the service.
    #[error("instance {instance:?} is not a caisse-ap-ip terminal of this service")]
    NotATerminal {
        /// The instance asked for.
        instance: String,
    },
    /// The transaction cannot be charged in its status (already paid, refunded).
    #[error("transaction {reference} cannot be charged: its status is {status}")]
    NotPayable {
        /// The transaction.
        reference: String,
        /// Its status.
        status: Status,
    },
    /// A cashier's word was posted for a transaction with no exchange of this terminal
    /// whose outcome is unknown: nothing to resolve.
    #[error("transaction {reference} has no exchange on terminal {instance} whose outcome is unknown: {reason}")]
    NothingToResolve {
        /// The terminal instance.
        instance: String,
        /// The transaction.
        reference: String,
        /// What was found instead.
        reason: String,
    },
    /// The terminal instance does not take this currency.
    #[error("instance {instance} does not take {currency}")]
    CurrencyNotAccepted {
        /// The instance.
        instance: String,
        /// The currency code.
        currency: String,
    },
    /// A value given by a person (the cashier's authorisation number) is not acceptable.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field.
        field: &'static str,
        /// What is expected.
        reason: String,
    },
    /// The terminal answered but the answer could not be stored: the message says what
    /// the terminal said, so that staff can record it ([`crate::TerminalService::resolve`]).
    #[error("the terminal answered ({terminal_said}) for {reference} but recording it failed: {source}; record it by hand")]
    NotRecorded {
        /// The transaction.
        reference: String,
        /// What the terminal said, in words.
        terminal_said: String,
        /// The engine's error.
        source: Box<bank_core::Error>,
    },
    /// The emulator could not listen.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The engine refused or failed (store error, unknown transaction).
    #[error(transparent)]
    Engine(Box<bank_core::Error>),
}

impl From<bank_core::Error> for CaisseApError {
    fn from(e: bank_core::Error) -> Self {
        CaisseApError::Engine(Box::new(e))
    }
}

impl CaisseApError {
    /// This error as a `bank_core` error, for the [`bank_core::Acquirer`] contract.
    ///
    /// Every error of this crate means nothing was sent to the terminal (a busy or
    /// unreachable terminal, an amount it cannot take), so nothing happened
    /// ([`bank_core::ProviderFailure::Unavailable`]; a refund reservation is released).
    pub fn into_core(self, instance: &str) -> bank_core::Error {
        match self {
            CaisseApError::Engine(e) => *e,
            other => bank_core::Error::provider(
                instance,
                bank_core::ProviderFailure::Unavailable,
                other.to_string(),
            )
            .with_source(other),
        }
    }
}
