//! Base URL and environment helpers every provider's configuration uses.

use crate::error::{Error, Result};
use url::Url;

/// Parses a vendor base URL: http(s), with a path that ends in `/` so relative paths append
/// to it; a query is dropped.
pub fn parse_base_url(provider: &'static str, text: &str) -> Result<Url> {
    let mut url = Url::parse(text.trim())
        .map_err(|_| Error::config(provider, "the base URL is not a valid URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(Error::config(
            provider,
            "the base URL must be an http(s) URL",
        ));
    }
    url.set_query(None);
    url.set_fragment(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// A variable's value through `lookup`, trimmed, `None` when unset or blank.
pub fn non_blank(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `url` with `segments` appended as percent-encoded path segments and `query` pairs added
/// (none: no `?`).
pub fn endpoint(url: &Url, segments: &[&str], query: &[(&str, &str)]) -> Url {
    let mut url = url.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        for s in segments {
            path.push(s);
        }
    }
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    url
}

/// Checks a provider instance name (see [`ProviderInfo::name`](crate::ProviderInfo::name)): it
/// names the instance in handles, routers and webhook receiver paths, so it must be a non-empty
/// URL path segment of ASCII letters, digits, `-`, `_` and `.`, at most 64 bytes, and not `.` or
/// `..`.
///
/// ```
/// use multiconvert_core::config::instance_name;
/// assert_eq!(instance_name("convertapi", "convertapi-eu").unwrap(), "convertapi-eu");
/// assert!(instance_name("convertapi", "eu/west").is_err());
/// assert!(instance_name("convertapi", "").is_err());
/// ```
pub fn instance_name(provider: &'static str, name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(Error::config(
            provider,
            "an instance name is 1 to 64 ASCII letters, digits, `-`, `_` or `.`",
        ))
    }
}
