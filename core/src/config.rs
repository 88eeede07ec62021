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
