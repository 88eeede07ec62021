//! A job's handle: which provider instance owns it, its id there, the token (never printed) and the
//! vendor's extras a later call needs. It serialises, so any process can resume a job.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// What an application keeps to find a job again, in this process or another.
///
/// It serialises with serde (token included: store it as you would a password) so any process
/// can resume polling, deleting or confirming a webhook; no job state lives only in memory.
///
/// ```
/// use multiconvert_core::JobHandle;
/// let handle = JobHandle::new("online-convert", "8daae6d1").with_token("job-token");
/// let stored = serde_json::to_string(&handle).unwrap();
/// let back: JobHandle = serde_json::from_str(&stored).unwrap();
/// assert_eq!(back, handle);
/// assert!(!format!("{back:?}").contains("job-token"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobHandle {
    /// The provider that owns the job (for a router: the member).
    pub provider: String,
    /// The vendor's job id.
    pub id: String,
    /// A per-job secret some vendors issue (online-convert's upload token).
    #[serde(
        default,
        with = "crate::secret::expose_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub token: Option<Secret>,
    /// A per-job host some vendors assign (online-convert's upload server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// When the job was submitted.
    pub created_at: DateTime<Utc>,
    /// Provider-specific facts needed to resume (route, stored file ids, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
}

impl JobHandle {
    /// A handle for job `id` at `provider`, created now.
    pub fn new(provider: impl Into<String>, id: impl Into<String>) -> Self {
        JobHandle {
            provider: provider.into(),
            id: id.into(),
            token: None,
            server: None,
            created_at: Utc::now(),
            meta: BTreeMap::new(),
        }
    }
    /// Sets the job token.
    pub fn with_token(mut self, token: impl Into<Secret>) -> Self {
        self.token = Some(token.into());
        self
    }
    /// Sets the job's server.
    pub fn with_server(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }
    /// Sets a provider-specific fact.
    pub fn with_meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.meta.insert(key.into(), value.into());
        self
    }
}
