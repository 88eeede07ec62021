//! State that instances of an application can share, as traits: a durable store (the
//! `multiconvert-store` crate: SQLite or PostgreSQL) implements them, and one process alone can
//! use the in-memory defaults.

use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;

use crate::error::Result;
use crate::seen::Seen;

/// Webhook deliveries seen, by (provider instance, job id, status), so a delivery is acted on
/// once however many receivers get it.
#[async_trait]
pub trait DeliveryLog: Send + Sync + fmt::Debug {
    /// `true` the first time this delivery is seen by anyone sharing the log.
    async fn first_delivery(&self, provider: &str, job_id: &str, status: &str) -> Result<bool>;
    /// Forgets a delivery that could not be handled, so its redelivery is acted on.
    async fn forget_delivery(&self, provider: &str, job_id: &str, status: &str) -> Result<()>;
}

/// Failover cooldowns, shared so that a vendor one instance saw throttling is rested by all.
#[async_trait]
pub trait CooldownBoard: Send + Sync + fmt::Debug {
    /// Cools `member` down until `until` (a later cooldown already set wins).
    async fn cool_down(&self, member: &str, until: SystemTime) -> Result<()>;
    /// Until when `member` cools down, if it does now.
    async fn cooling_until(&self, member: &str) -> Result<Option<SystemTime>>;
}

/// Moved to [`journal`](crate::journal), beside the [`Journaled`](crate::journal::Journaled)
/// wrapper that puts it in scope.
pub use crate::journal::SubmitJournal;

/// A [`DeliveryLog`] in this process's memory, bounded (everything is forgotten past 100 000
/// deliveries: a redelivery after that is acted on again).
#[derive(Debug, Default)]
pub struct MemoryDeliveryLog {
    seen: Mutex<Seen<(String, String, String), 100_000>>,
}

#[async_trait]
impl DeliveryLog for MemoryDeliveryLog {
    async fn first_delivery(&self, provider: &str, job_id: &str, status: &str) -> Result<bool> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        Ok(seen.first((provider.to_owned(), job_id.to_owned(), status.to_owned())))
    }

    async fn forget_delivery(&self, provider: &str, job_id: &str, status: &str) -> Result<()> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .forget(&(provider.to_owned(), job_id.to_owned(), status.to_owned()));
        Ok(())
    }
}
