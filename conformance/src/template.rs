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
