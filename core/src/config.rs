//! Base URL and environment helpers every provider's configuration uses.

use crate::cost::Price;
use crate::error::{Error, Result};
use crate::http::HttpConfig;
use crate::pace::{Rate, RequestBudget};
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

/// An instance's own variable: `prefix`, then the instance name in capitals with each
/// character other than a letter or digit written `_`.
///
/// ```
/// use multiconvert_core::config::instance_variable;
/// assert_eq!(instance_variable("MULTICONVERT_RATE_", "convertapi.eu"), "MULTICONVERT_RATE_CONVERTAPI_EU");
/// ```
pub fn instance_variable(prefix: &str, instance: &str) -> String {
    let suffix: String = instance
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}{suffix}")
}

/// The variable that sets an instance's request rate: `MULTICONVERT_RATE_<INSTANCE>`.
///
/// ```
/// use multiconvert_core::config::rate_variable;
/// assert_eq!(rate_variable("online-convert"), "MULTICONVERT_RATE_ONLINE_CONVERT");
/// ```
pub fn rate_variable(instance: &str) -> String {
    instance_variable("MULTICONVERT_RATE_", instance)
}

/// The variable that sets what a unit of an instance's cost is worth:
/// `MULTICONVERT_PRICE_<INSTANCE>`.
pub fn price_variable(instance: &str) -> String {
    instance_variable("MULTICONVERT_PRICE_", instance)
}

/// The instance's price per unit of cost from [`price_variable`] through `lookup`: `None` when
/// unset or blank, a configuration error naming the variable when it is not a price.
///
/// ```
/// use multiconvert_core::config::price_from_lookup;
/// let env = |name: &str| (name == "MULTICONVERT_PRICE_CONVERTAPI").then(|| "0.03".to_owned());
/// let price = price_from_lookup("convertapi", "convertapi", &env).unwrap().unwrap();
/// assert_eq!(price.unit_price(), 0.03);
/// ```
pub fn price_from_lookup(
    provider: &'static str,
    instance: &str,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<Price>> {
    parsed(provider, &price_variable(instance), lookup)
}

/// The instance's request rate from [`rate_variable`] through `lookup`: `None` when unset or
/// blank, a configuration error naming the variable when it is not a rate.
///
/// ```
/// use multiconvert_core::config::rate_from_lookup;
/// let env = |name: &str| (name == "MULTICONVERT_RATE_CONVERTAPI").then(|| "3000/min".to_owned());
/// let rate = rate_from_lookup("convertapi", "convertapi", &env).unwrap().unwrap();
/// assert_eq!(rate.requests_per_second(), 50.0);
/// assert!(rate_from_lookup("convertapi", "other", &env).unwrap().is_none());
/// ```
pub fn rate_from_lookup(
    provider: &'static str,
    instance: &str,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<Rate>> {
    parsed(provider, &rate_variable(instance), lookup)
}

/// `variable` read through `lookup` and parsed: `None` when unset or blank, a configuration
/// error naming the variable when it does not parse.
fn parsed<T>(
    provider: &'static str,
    variable: &str,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<T>>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    non_blank(lookup, variable)
        .map(|text| {
            text.parse::<T>()
                .map_err(|e| Error::config(provider, format!("{variable}: {e}")))
        })
        .transpose()
}

/// The HTTP settings provider instance `instance` runs with: `http` (default settings when
/// `None`) with a request budget of `rate` when one is given, else the budget `http` carries
/// (shared with whoever else holds it), else a budget of the vendor's `default` rate. Every
/// instance thus has a budget, so that a `429` pauses all of its requests even when its rate is
/// unlimited; the budgets made here are [named](RequestBudget::named) after the instance.
pub fn paced(
    http: Option<HttpConfig>,
    rate: Option<Rate>,
    default: Rate,
    instance: &str,
) -> HttpConfig {
    let http = http.unwrap_or_default();
    match (rate, http.budget()) {
        (Some(rate), _) => http.with_budget(RequestBudget::named(rate, instance)),
        (None, Some(_)) => http,
        (None, None) => http.with_budget(RequestBudget::named(default, instance)),
    }
}
