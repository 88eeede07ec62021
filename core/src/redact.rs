//! Redaction of vendor payloads before they reach an error, a log line or `Debug` output.

use serde_json::Value;

/// What replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// Longest body excerpt kept on an [`Error`](crate::Error).
pub const MAX_BODY_EXCERPT: usize = 2048;

const SENSITIVE: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "key",
    "credential",
    "passphrase",
    "sas",
    "sig",
    "signature",
    "auth",
];

/// True when a JSON key or query parameter name probably holds a secret.
pub fn is_sensitive_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SENSITIVE.iter().any(|s| key.contains(s))
}

/// Returns a copy of `value` with every sensitive leaf masked: whole `credentials` objects and any
/// member whose key looks secret (see [`is_sensitive_key`]).
pub fn redact_json(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let masked = if is_sensitive_key(k) && !v.is_null() {
                        Value::String(REDACTED.into())
                    } else {
                        redact_json(v)
                    };
                    (k.clone(), masked)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        other => other.clone(),
    }
}

/// Masks the values of sensitive query parameters (`Secret=`, `Token=`, `ApiKey=`, `auth=`, …) in a
/// URL or in free text that may contain one.
pub fn redact_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(['?', '&']) {
        out.push_str(&rest[..=pos]);
        rest = &rest[pos + 1..];
        let end = rest
            .find(['&', '#', ' ', '"', '\'', '\n'])
            .unwrap_or(rest.len());
        let pair = &rest[..end];
        match pair.split_once('=') {
            Some((name, _)) if is_sensitive_key(name) => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A redacted, truncated excerpt of a response body for error context: JSON is redacted
/// structurally, anything else has secret-looking query parameters masked.
pub fn body_excerpt(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(json) => redact_json(&json).to_string(),
        Err(_) => redact_query(&String::from_utf8_lossy(body)),
    };
    Some(truncate(&text, MAX_BODY_EXCERPT))
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_and_secret_keys_are_masked_at_any_depth() {
        let v = json!({"input": [{"credentials": {"accesskeyid": "AKIA"}, "parameters": {"bucket": "b", "sas_token": "x"}}], "token": "t"});
        let r = redact_json(&v);
        assert_eq!(r["input"][0]["credentials"], REDACTED);
        assert_eq!(r["input"][0]["parameters"]["bucket"], "b");
        assert_eq!(r["input"][0]["parameters"]["sas_token"], REDACTED);
        assert_eq!(r["token"], REDACTED);
    }

    #[test]
    fn query_secrets_are_masked() {
        let s =
            redact_query("GET https://v2.convertapi.com/convert/a/to/b?Secret=abc&File=x&auth=zz");
        assert_eq!(
            s,
            "GET https://v2.convertapi.com/convert/a/to/b?Secret=[REDACTED]&File=x&auth=[REDACTED]"
        );
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let s = "é".repeat(10);
        let t = truncate(&s, 5);
        assert!(t.starts_with("éé"));
        assert!(t.ends_with('…'));
    }
}
