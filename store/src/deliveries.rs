//! Webhook deliveries deduplicated across instances: one row per (provider instance, job id,
//! status), whoever inserts it first handles the delivery.

use multiconvert_core::Result;

use crate::backend::{failed, now};
use crate::Store;

impl Store {
    /// `true` the first time any instance sharing the store sees this delivery (provider
    /// instance, job id, status); `false` for a duplicate.
    pub async fn first_delivery(&self, provider: &str, job_id: &str, status: &str) -> Result<bool> {
        let added = execute!(
            self,
            "INSERT INTO deliveries (provider, job_id, status, at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (provider, job_id, status) DO NOTHING",
            provider,
            job_id,
            status,
            now(),
        )
        .map_err(|e| failed("record a delivery", e))?;
        Ok(added == 1)
    }

    /// Forgets a delivery (it could not be confirmed: the vendor will deliver it again).
    pub async fn forget_delivery(&self, provider: &str, job_id: &str, status: &str) -> Result<()> {
        execute!(
            self,
            "DELETE FROM deliveries WHERE provider = $1 AND job_id = $2 AND status = $3",
            provider,
            job_id,
            status,
        )
        .map_err(|e| failed("forget a delivery", e))?;
        Ok(())
    }
}

#[multiconvert_core::async_trait]
impl multiconvert_core::shared::DeliveryLog for Store {
    async fn first_delivery(&self, provider: &str, job_id: &str, status: &str) -> Result<bool> {
        Store::first_delivery(self, provider, job_id, status).await
    }
    async fn forget_delivery(&self, provider: &str, job_id: &str, status: &str) -> Result<()> {
        Store::forget_delivery(self, provider, job_id, status).await
    }
}
