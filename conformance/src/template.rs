//! The tiny template language of cassettes: `{{any}}`, `{{capture:NAME}}`, `{{secret:NAME}}` and
//! `{{base_url}}` inside strings.

use std::collections::BTreeMap;

/// Values known while replaying: the mock server's address, fake secrets and captured values.
#[derive(Clone, Debug, Default)]
pub struct Bindings {
    /// The mock server's base URL, without a trailing slash.
    pub base_url: String,
    /// Values captured from earlier requests.
    pub captures: BTreeMap<String, String>,
}

/// A stand-in for the process environment, for a provider's `from_lookup`: the value of each
/// `(name, value)` pair, nothing else.
///
/// ```
/// let env = multiconvert_conformance::fake_env(&[("API2CONVERT_API_KEY", "k")]);
/// assert_eq!(env("API2CONVERT_API_KEY").as_deref(), Some("k"));
/// assert_eq!(env("HOME"), None);
/// ```
pub fn fake_env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

/// `len` bytes of noise from a fixed xorshift seeded with `seed`: the same file every run, for
/// tests that need "random bytes" (a document that is none).
///
/// ```
/// use multiconvert_conformance::template::noise;
/// assert_eq!(noise(7, 64), noise(7, 64));
/// assert_ne!(noise(7, 64), noise(8, 64));
/// ```
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The fake value a cassette's `{{secret:NAME}}` stands for. Providers under test are configured
/// with these, so the replay can check that the right secret goes to the right place, and no real
/// secret is ever written to a fixture.
pub fn fake_secret(name: &str) -> String {
    format!("mc-fake-{name}")
}

#[derive(Debug, PartialEq)]
enum Token<'a> {
    Literal(&'a str),
    Any,
    Capture(&'a str),
}

fn tokens(template: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let inner = &rest[start + 2..start + len];
        let token = if inner == "any" {
            Some(Token::Any)
        } else {
            inner.strip_prefix("capture:").map(Token::Capture)
        };
        match token {
            Some(token) => {
                if start > 0 {
                    out.push(Token::Literal(&rest[..start]));
                }
                out.push(token);
            }
            None => out.push(Token::Literal(&rest[..start + len + 2])),
        }
        rest = &rest[start + len + 2..];
    }
    if !rest.is_empty() {
        out.push(Token::Literal(rest));
    }
    out
}

impl Bindings {
    /// Replaces `{{base_url}}`, `{{secret:NAME}}` and already captured `{{capture:NAME}}`.
    pub fn render(&self, template: &str) -> String {
        let mut out = template.replace("{{base_url}}", &self.base_url);
        while let Some(start) = out.find("{{secret:") {
            let Some(len) = out[start..].find("}}") else {
                break;
            };
            let name = out[start + 9..start + len].to_owned();
            out.replace_range(start..start + len + 2, &fake_secret(&name));
        }
        for (name, value) in &self.captures {
            out = out.replace(&format!("{{{{capture:{name}}}}}"), value);
        }
        out
    }

    /// Matches `actual` against `template`. `{{any}}` and a not yet captured `{{capture:NAME}}`
    /// match any run of characters up to the next literal part; a capture is remembered on
    /// success. Returns whether it matched.
    pub fn matches(&mut self, template: &str, actual: &str) -> bool {
        let rendered = self.render(template);
        let tokens = tokens(&rendered);
        let mut pos = 0;
        let mut captured = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            match token {
                Token::Literal(lit) => {
                    if !actual[pos..].starts_with(lit) {
                        return false;
                    }
                    pos += lit.len();
                }
                Token::Any | Token::Capture(_) => {
                    let end = match tokens.get(i + 1) {
                        Some(Token::Literal(next)) => match actual[pos..].find(next) {
                            Some(off) => pos + off,
                            None => return false,
                        },
                        _ => actual.len(),
                    };
                    if let Token::Capture(name) = token {
                        if end == pos {
                            return false;
                        }
                        captured.push((name.to_string(), actual[pos..end].to_owned()));
                    }
                    pos = end;
                }
            }
        }
        if pos != actual.len() {
            return false;
        }
        self.captures.extend(captured);
        true
    }
}

/// What a vendor's variables are named after.
#[derive(Clone, Copy, Debug)]
pub struct VendorNames<'a> {
    /// Its required credential variable (`CONVERTAPI_SECRET`).
    pub key: &'a str,
    /// The instance name its `MULTICONVERT_*_<INSTANCE>` variables take (`convertapi`).
    pub instance: &'a str,
}

/// An environment to read variables from, as a vendor's `from_lookup` takes it.
pub type Lookup = Box<dyn Fn(&str) -> Option<String>>;

/// A lookup over owned `pairs`.
fn owned_env(pairs: Vec<(String, String)>) -> Lookup {
    Box::new(move |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
}

/// What every vendor configuration promises about pace and price, checked through its
/// `from_lookup`: `MULTICONVERT_RATE_<INSTANCE>` sets the request rate (`default` when unset,
/// `off` unlimited), `MULTICONVERT_PRICE_<INSTANCE>` the price of a unit (none when unset), and
/// a value that does not parse is a configuration error naming its variable; `with_http`
/// keeps the instance's budget unless the settings bring one, and the price reaches the
/// provider's info. `names` are the vendor's credential variable and instance; the closures read a
/// config back, replace its HTTP settings, and build the provider to read its price.
///
/// ```
/// use multiconvert_core::pace::Rate;
/// use multiconvert_core::{config, Error, Price, Result};
/// // A vendor whose configuration is its rate and price.
/// fn from_lookup(env: impl Fn(&str) -> Option<String>) -> Result<(Rate, Option<Price>)> {
///     env("MY_KEY").ok_or_else(|| Error::config("my", "no key"))?;
///     let rate = config::rate_from_lookup("my", "my", &env)?.unwrap_or(Rate::unlimited());
///     Ok((rate, config::price_from_lookup("my", "my", &env)?))
/// }
/// multiconvert_conformance::template::check_rate_and_price(
///     |env| from_lookup(env),
///     multiconvert_conformance::template::VendorNames { key: "MY_KEY", instance: "my" },
///     Rate::unlimited(), |c| c.0, |c| c.1,
///     |c, http| (http.budget().map_or(c.0, |b| b.rate()), c.1), |c| c.1,
/// );
/// ```
pub fn check_rate_and_price<C>(
    from_lookup: impl Fn(Lookup) -> multiconvert_core::Result<C>,
    names: VendorNames<'_>,
    default: multiconvert_core::pace::Rate,
    rate: impl Fn(&C) -> multiconvert_core::pace::Rate,
    price: impl Fn(&C) -> Option<multiconvert_core::Price>,
    with_http: impl Fn(C, multiconvert_core::http::HttpConfig) -> C,
    provider_price: impl Fn(C) -> Option<multiconvert_core::Price>,
) {
    use multiconvert_core::config::{price_variable, rate_variable};
    use multiconvert_core::http::HttpConfig;
    use multiconvert_core::pace::Rate;
    use multiconvert_core::pace::RequestBudget;
    use multiconvert_core::{ErrorKind, Price};
    let VendorNames { key, instance } = names;
    let with = |extra: &[(String, &str)]| {
        let mut pairs = vec![(key.to_owned(), "k".to_owned())];
        pairs.extend(extra.iter().map(|(k, v)| (k.clone(), (*v).to_owned())));
        from_lookup(owned_env(pairs))
    };
    let (rate_var, price_var) = (rate_variable(instance), price_variable(instance));
    let plain = with(&[]).expect("a configuration from the key alone");
    assert_eq!(rate(&plain), default, "{rate_var} unset");
    assert_eq!(price(&plain), None, "{price_var} unset");
    let set = with(&[
        (rate_var.clone(), "3000/min,burst=20"),
        (price_var.clone(), "0.02"),
    ])
    .expect("a configuration with a rate and a price");
    assert_eq!(rate(&set), Rate::per_second(50.0).with_burst(20));
    assert_eq!(price(&set), Price::per_unit(0.02));
    let kept = with_http(with(&[]).unwrap(), HttpConfig::default());
    assert_eq!(
        rate(&kept),
        default,
        "with_http without a budget keeps the instance's"
    );
    let budget = RequestBudget::new(Rate::per_second(5.0));
    let replaced = with_http(kept, HttpConfig::default().with_budget(budget));
    assert_eq!(
        rate(&replaced),
        Rate::per_second(5.0),
        "with_http with a budget"
    );
    assert_eq!(
        provider_price(set),
        Price::per_unit(0.02),
        "the provider's info"
    );
    let off = with(&[(rate_var.clone(), "off")]).expect("an unlimited rate");
    assert!(rate(&off).is_unlimited(), "{rate_var}=off");
    for (var, bad) in [(&rate_var, "fast"), (&price_var, "free")] {
        match with(&[(var.clone(), bad)]) {
            Ok(_) => panic!("{var}={bad} was taken"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Config, "{var}={bad}");
                assert!(e.message().contains(var.as_str()), "{var}={bad}: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_wildcards_and_captures() {
        let mut b = Bindings {
            base_url: "http://127.0.0.1:1".into(),
            ..Bindings::default()
        };
        assert!(b.matches("/jobs/{{any}}/input", "/jobs/42/input"));
        assert!(!b.matches("/jobs/{{any}}/input", "/jobs/42/output"));
        assert!(b.matches("/job/{{capture:id}}", "/job/abc"));
        assert_eq!(
            b.render("{{base_url}}/job/{{capture:id}}"),
            "http://127.0.0.1:1/job/abc"
        );
        assert!(b.matches("/job/{{capture:id}}", "/job/abc"));
        assert!(!b.matches("/job/{{capture:id}}", "/job/abd"));
        assert!(b.matches("Bearer {{secret:key}}", "Bearer mc-fake-key"));
        assert!(!b.matches("exact", "exactly"));
    }
}
