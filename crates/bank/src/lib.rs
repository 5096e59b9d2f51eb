//! # bank
//!
//! Payments for shops and associations: the facade over [`bank_core`] and one crate per
//! provider, each behind a Cargo feature. `bank = { features = ["cheque", "store"] }` is all
//! a host adds; enabling a provider's feature links its crate, which registers the provider.
//!
//! | feature    | provider / part                                  |
//! |------------|--------------------------------------------------|
//! | `store`    | SQLite and PostgreSQL transaction store          |
//! | `cheque`   | payment by cheque                                |
//! | `virement` | payment by bank transfer                         |
//! | `gratuit`  | zero-amount validation                           |
//! | `simu`     | development simulation (refuses live mode)       |
//! | `caisse-ap-ip` | counter card terminal over TCP (Caisse-AP)   |
//! | `stripe`   | Stripe Checkout, webhooks, refunds, subscriptions |
//! | `paybox`   | Paybox System, signed IPN, Paybox Direct         |
//! | `sandbox`  | local emulators (terminal, Stripe, Paybox)       |
//! | `full`     | all of the above                                 |

#![forbid(unsafe_code)]

pub use bank_core::*;

#[cfg(feature = "caisse-ap-ip")]
pub use bank_caisse_ap_ip as caisse_ap_ip;
#[cfg(feature = "cheque")]
pub use bank_cheque as cheque;
#[cfg(feature = "gratuit")]
pub use bank_gratuit as gratuit;
#[cfg(feature = "paybox")]
pub use bank_paybox as paybox;
#[cfg(feature = "simu")]
pub use bank_simu as simu;
#[cfg(feature = "store")]
pub use bank_store as store_backends;
#[cfg(feature = "stripe")]
pub use bank_stripe as stripe;
#[cfg(feature = "virement")]
pub use bank_virement as virement;

/// The names of the providers compiled into this build.
///
/// Calling it also guarantees that every enabled provider crate is linked (and so
/// registered), even in a binary that names none of them.
pub fn compiled_providers() -> Vec<&'static str> {
    // Naming a function of each provider crate makes the linker keep the crate, and with
    // it the crate's `inventory` registration.
    #[cfg(feature = "cheque")]
    std::hint::black_box(bank_cheque::describe as fn() -> ProviderDescription);
    #[cfg(feature = "gratuit")]
    std::hint::black_box(bank_gratuit::describe as fn() -> ProviderDescription);
    #[cfg(feature = "simu")]
    std::hint::black_box(bank_simu::describe as fn() -> ProviderDescription);
    #[cfg(feature = "virement")]
    std::hint::black_box(bank_virement::describe as fn() -> ProviderDescription);
    #[cfg(feature = "caisse-ap-ip")]
    std::hint::black_box(bank_caisse_ap_ip::describe as fn() -> ProviderDescription);
    #[cfg(feature = "stripe")]
    std::hint::black_box(bank_stripe::describe as fn() -> ProviderDescription);
    #[cfg(feature = "paybox")]
    std::hint::black_box(bank_paybox::describe as fn() -> ProviderDescription);
    bank_core::registry::factories()
        .iter()
        .map(|f| f.name)
        .collect()
}
