//! multiconvert's own per-job callback token: vendors sign little, so the callback URL carries an
//! HMAC of the job id under a local secret, checked when the callback arrives.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use url::Url;

use crate::error::{Error, Result};
use crate::secret::Secret;

/// The prefix of the path segment that carries the token.
pub const TOKEN_PREFIX: &str = "mc-";

/// Signs callback URLs per job and verifies them on arrival.
///
/// The token is a path segment (`…/hooks/convertapi/mc-<hex>`), not a query parameter, so a
/// vendor that appends its own query (`?JobId=…`) cannot mangle it.
///
/// ```
/// use multiconvert_core::CallbackSigner;
/// let signer = CallbackSigner::new("local-secret").unwrap();
/// let url = signer.sign(&"https://app.example.com/hooks/acme".parse().unwrap(), "job-1");
/// let token = url.path_segments().unwrap().last().unwrap().to_owned();
/// assert!(signer.verify(&token, "job-1"));
/// assert!(!signer.verify(&token, "job-2"));
/// assert!(!format!("{signer:?}").contains("local-secret"));
/// ```
#[derive(Clone, PartialEq)]
pub struct CallbackSigner {
    key: Secret,
}

impl fmt::Debug for CallbackSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackSigner")
            .field("key", &self.key)
            .finish()
    }
}

impl CallbackSigner {
    /// A signer with `key`; an empty key is a configuration error.
    pub fn new(key: impl Into<Secret>) -> Result<Self> {
        let key = key.into();
        if key.is_empty() {
            return Err(Error::config(
                "callback",
                "the callback signing key is empty",
            ));
        }
        Ok(CallbackSigner { key })
    }

    fn mac(&self, job_id: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.key.expose().as_bytes()).expect("any key length");
        mac.update(job_id.as_bytes());
        mac
    }

    /// The token of `job_id`: `mc-` and the hex HMAC-SHA256 of the id.
    pub fn token(&self, job_id: &str) -> String {
        format!(
            "{TOKEN_PREFIX}{}",
            hex::encode(self.mac(job_id).finalize().into_bytes())
        )
    }

    /// `url` with the job's token appended as a last path segment.
    pub fn sign(&self, url: &Url, job_id: &str) -> Url {
        let mut url = url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push(&self.token(job_id));
        }
        url
    }

    /// Whether `token` is the token of `job_id` (constant-time).
    pub fn verify(&self, token: &str, job_id: &str) -> bool {
        let Some(hex_part) = token.strip_prefix(TOKEN_PREFIX) else {
            return false;
        };
        let Ok(given) = hex::decode(hex_part) else {
            return false;
        };
        self.mac(job_id).verify_slice(&given).is_ok()
    }
}
