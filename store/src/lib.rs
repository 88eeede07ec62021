//! # multiconvert-store
//!
//! The state many instances of an application share, on a real database: SQLite (embedded, a
//! file) or PostgreSQL (one cluster for many instances), chosen by URL, with migrations shipped
//! and applied on open.
//!
//! - **A job journal**: a submission is recorded *before* it is sent, under the key that makes it
//!   idempotent (an `Idempotency-Key`, a client JobId), then its handle when the vendor answers,
//!   every status, the outputs saved and the cost. A crash at any point is resumed by reconciling
//!   what the journal holds with the vendor, never by a blind resubmit.
//! - **Webhook deliveries** deduplicated by a unique key (provider instance, job id, status)
//!   across instances.
//! - **Failover cooldowns** shared across instances.
//! - **Spend budgets**: a [`SpendLedger`](multiconvert_core::spend::SpendLedger) whose
//!   reservations never pass a cap, however many instances reserve at once.
//! - **Claiming work**: many workers take pending jobs without two taking the same one
//!   (PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite's single writer serialises the same update).
//!
//! ```no_run
//! use multiconvert_store::{Store, Submission};
//! # async fn run() -> multiconvert_core::Result<()> {
//! let store = Store::open("sqlite:state.db").await?; // or postgres://user@host/db
//! let fresh = store
//!     .record_submission(&Submission::new("key-1", "convertapi", "sha256:…", "in/a.docx"))
//!     .await?;
//! assert!(fresh);
//! # Ok(()) }
//! ```
//!
//! Each concern is a module with its SQL beside it (`journal`, `batch`, `deliveries`,
//! `cooldowns`, `claims`, `spend`, `pace`); `backend` is the one place that knows the two
//! dialects apart.
#![warn(missing_docs)]

// The macros of `backend` and `journal` serve the modules declared after them.
#[macro_use]
mod backend;
#[macro_use]
mod journal;
mod batch;
mod claims;
mod cooldowns;
mod deliveries;
mod pace;
mod spend;

pub use backend::Store;
pub use journal::{Entry, State, Submission};
