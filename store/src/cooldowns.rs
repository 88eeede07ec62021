//! Failover cooldowns shared across instances: a member resting until a moment, a later rest
//! winning over an earlier one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use multiconvert_core::Result;

use crate::backend::{failed, millis, now};
use crate::Store;

impl Store {
    /// Cools `member` down until `until` (a later cooldown already set wins).
    pub async fn cool_down(&self, member: &str, until: SystemTime) -> Result<()> {
        let until = millis(until);
        let sql = self.per_dialect(
            "INSERT INTO cooldowns (member, until_ms) VALUES ($1, $2) \
             ON CONFLICT (member) DO UPDATE SET until_ms = MAX(until_ms, excluded.until_ms)",
            "INSERT INTO cooldowns (member, until_ms) VALUES ($1, $2) \
             ON CONFLICT (member) DO UPDATE SET until_ms = GREATEST(cooldowns.until_ms, excluded.until_ms)",
        );
        execute!(self, sql, member, until).map_err(|e| failed("record a cooldown", e))?;
        Ok(())
    }

    /// Until when `member` cools down, if it does now.
    pub async fn cooling_until(&self, member: &str) -> Result<Option<SystemTime>> {
        let rows = fetch!(
            self,
            (i64,),
            "SELECT until_ms FROM cooldowns WHERE member = $1 AND until_ms > $2",
            member,
            now()
        )
        .map_err(|e| failed("read a cooldown", e))?;
        Ok(rows.into_iter().next().and_then(|(ms,)| {
            u64::try_from(ms)
                .ok()
                .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
        }))
    }
}

#[multiconvert_core::async_trait]
impl multiconvert_core::shared::CooldownBoard for Store {
    async fn cool_down(&self, member: &str, until: SystemTime) -> Result<()> {
        Store::cool_down(self, member, until).await
    }
    async fn cooling_until(&self, member: &str) -> Result<Option<SystemTime>> {
        Store::cooling_until(self, member).await
    }
}
