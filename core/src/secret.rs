//! A value that must never be printed: API keys, job tokens, passwords, cloud credentials.

use std::fmt;

/// A secret value. `Debug` and `Display` print `[REDACTED]`; the value is reachable only
/// through [`Secret::expose`], so every place that sends it on the wire is easy to find.
///
/// `Secret` deliberately does not implement `Serialize`: a struct that must persist a secret
/// (a [`JobHandle`](crate::JobHandle) keeps its job token) opts in field by field with
/// [`expose_serde`].
///
/// ```
/// use multiconvert_core::Secret;
/// let key: Secret = Secret::new("sk-live-123");
/// assert_eq!(format!("{key:?} {key}"), "[REDACTED] [REDACTED]");
/// assert_eq!(key.expose(), "sk-live-123");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T = String>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: impl Into<T>) -> Self {
        Secret(value.into())
    }

    /// The secret value, for the one place that must send it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl Secret<String> {
    /// True when the secret is the empty string (a configuration mistake, never "no secret").
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

/// Serde helpers for a field that must persist its secret, e.g.
/// `#[serde(with = "multiconvert_core::secret::expose_serde")]` on an `Option<Secret>`.
pub mod expose_serde {
    use super::Secret;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes the exposed value.
    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Secret<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.as_ref().map(Secret::expose).serialize(serializer)
    }

    /// Reads the value back into a `Secret`.
    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<Option<Secret<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(|v| v.map(Secret))
    }
}
