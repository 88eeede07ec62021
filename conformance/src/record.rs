//! Record mode: a [`LiveRun`]'s traffic written as a cassette that replays.
//!
//! Nothing secret is written: every value the providers were built with, and every value the
//! vendor hands out under a secret-like name (`token`, `password`, `secret`, `signature`, …), is
//! replaced by the `{{secret:NAME}}` placeholder whose fake value replay configures; a secret-like
//! header or query parameter whose value is not known is written as `{{any}}`, never as it was.
//! Volatile values are templated so the cassette replays: the vendor's hosts become
//! `{{base_url}}`, the loopback sample servers the documented [`REMOTE_URL`], and ids the client
//! made up (ConvertAPI's client JobId, idempotency keys) `{{capture:NAME}}`. Binary bodies are
//! written beside the cassette as `<scenario>.<digest>.bin`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use multiconvert_core::tap::{Exchange, TappedBody};
use multiconvert_core::url::form_urlencoded;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::cassette::{
    CannedResponse, Cassette, ExpectedRequest, InboundRequest, Interaction, Provenance,
    ProvenanceKind, Recorded, RequestBody, ResponseBody,
};
use crate::live::{LiveRun, ReceivedCallback};
use crate::scenarios::REMOTE_URL;

/// What a recording must know besides the traffic.
#[derive(Clone)]
pub struct RecordOptions {
    /// The secrets the providers were built with, by placeholder name.
    pub secrets: Vec<(String, String)>,
    /// The vendor's base URL (its origin, and every other origin the traffic went to, become
    /// `{{base_url}}`).
    pub base_url: String,
    /// Origins standing for [`REMOTE_URL`]'s (the loopback sample servers).
    pub sample_origins: Vec<String>,
    /// Written into the provenance's notes.
    pub notes: String,
}

impl std::fmt::Debug for RecordOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordOptions")
            .field(
                "secrets",
                &self.secrets.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// Names under which a vendor hands out or takes secrets.
fn secret_like(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "token",
        "password",
        "secret",
        "signature",
        "authorization",
        "apikey",
        "api_key",
        "api-key",
        "credential",
        "access_key",
        "accesskey",
        "private",
        "auth",
        "sig",
    ]
    .iter()
    .any(|s| name == *s || name.contains(s))
}

/// The placeholder name of a secret found under JSON key `key`.
fn discovered_name(key: &str) -> String {
    match key.to_ascii_lowercase().as_str() {
        "token" => "job_token".to_owned(),
        other => other.replace(['-', ' '], "_"),
    }
}

/// Looks like an id a client or server made up: long, no spaces, letters and digits.
fn id_like(value: &str) -> bool {
    value.len() >= 16
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && value.chars().any(|c| c.is_ascii_digit())
        && value.chars().any(|c| c.is_ascii_alphabetic())
}

fn origin(url: &str) -> Option<String> {
    let url = multiconvert_core::url::Url::parse(url).ok()?;
    Some(url.origin().ascii_serialization())
}

struct Scrubber {
    /// (value, placeholder), longest value first.
    secrets: Vec<(String, String)>,
    base_origins: Vec<String>,
    sample_origins: Vec<String>,
    /// (value, capture name).
    captures: Vec<(String, String)>,
}

impl Scrubber {
    fn add_secret(&mut self, name: &str, value: &str) {
        if value.len() < 4 || self.secrets.iter().any(|(v, _)| v == value) {
            return;
        }
        self.secrets
            .push((value.to_owned(), format!("{{{{secret:{name}}}}}")));
        self.secrets
            .sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    }

    fn text(&self, s: &str) -> String {
        let mut out = s.to_owned();
        for (value, placeholder) in &self.secrets {
            out = out.replace(value, placeholder);
        }
        for o in &self.sample_origins {
            out = out.replace(o, &origin(REMOTE_URL).unwrap_or_default());
        }
        for o in &self.base_origins {
            out = out.replace(o, "{{base_url}}");
        }
        for (value, name) in &self.captures {
            out = out.replace(value, &format!("{{{{capture:{name}}}}}"));
        }
        out
    }

    /// A value under a secret-like name: its placeholder when known, else `{{any}}`.
    fn guarded(&self, name: &str, value: &str) -> String {
        let scrubbed = self.text(value);
        if secret_like(name) && !scrubbed.contains("{{secret:") && !value.is_empty() {
            "{{any}}".to_owned()
        } else {
            scrubbed
        }
    }

    fn json(&self, value: &Value) -> Value {
        fn walk(s: &Scrubber, v: &Value, key: Option<&str>) -> Value {
            match v {
                Value::String(text) => Value::String(match key {
                    Some(k) => s.guarded(k, text),
                    None => s.text(text),
                }),
                Value::Array(a) => Value::Array(a.iter().map(|v| walk(s, v, None)).collect()),
                Value::Object(o) => Value::Object(
                    o.iter()
                        .map(|(k, v)| (k.clone(), walk(s, v, Some(k))))
                        .collect(),
                ),
                other => other.clone(),
            }
        }
        walk(self, value, None)
    }
}

/// Strings of a JSON value under secret-like keys, as (key, value).
fn secrets_in(value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(o) => {
            for (k, v) in o {
                match v {
                    Value::String(s) if secret_like(k) && !s.is_empty() => {
                        out.push((k.clone(), s.clone()))
                    }
                    other => secrets_in(other, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| secrets_in(v, out)),
        _ => {}
    }
}

fn strings_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| strings_in(v, out)),
        Value::Object(o) => o.values().for_each(|v| strings_in(v, out)),
        _ => {}
    }
}

fn content_type(headers: &multiconvert_core::http_types::HeaderMap) -> String {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn json_body(headers: &multiconvert_core::http_types::HeaderMap, body: &[u8]) -> Option<Value> {
    let ct = content_type(headers);
    let looks = matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    );
    if ct.contains("json") || looks {
        serde_json::from_slice(body).ok()
    } else {
        None
    }
}

fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The candidates for client-made ids in a request: path segments, query values, form and
/// JSON values.
fn request_tokens(exchange: &Exchange) -> Vec<String> {
    let mut tokens: Vec<String> = exchange
        .url
        .path_segments()
        .map(|s| s.map(str::to_owned).collect())
        .unwrap_or_default();
    tokens.extend(exchange.url.query_pairs().map(|(_, v)| v.into_owned()));
    if let TappedBody::Bytes(body) = &exchange.request_body {
        if content_type(&exchange.request_headers).starts_with("application/x-www-form-urlencoded")
        {
            tokens.extend(form_fields(body).into_iter().map(|(_, v)| v));
        } else if let Ok(json) = serde_json::from_slice::<Value>(body) {
            strings_in(&json, &mut tokens);
        }
    }
    tokens
}

/// A cassette of `run`; binary response bodies are written to `dir` (the cassette's directory).
pub fn cassette(run: &LiveRun, options: &RecordOptions, dir: &Path) -> Result<Cassette, String> {
    let outcome = run
        .outcome
        .as_ref()
        .map_err(|e| format!("{} failed, nothing to record: {e}", run.scenario))?;
    let mut scrub = Scrubber {
        secrets: Vec::new(),
        base_origins: Vec::new(),
        sample_origins: options.sample_origins.clone(),
        captures: Vec::new(),
    };
    for (name, value) in &options.secrets {
        scrub.add_secret(name, value);
    }
    // Secrets the vendor handed out: in any answer, or in the callback's body.
    let mut found = Vec::new();
    for e in &run.exchanges {
        if let Some(json) = json_body(&e.response_headers, &e.response_body) {
            secrets_in(&json, &mut found);
        }
    }
    if let Some(json) = run
        .webhook
        .as_ref()
        .and_then(|w| serde_json::from_slice::<Value>(&w.body).ok())
    {
        secrets_in(&json, &mut found);
    }
    for (key, value) in &found {
        scrub.add_secret(&discovered_name(key), value);
    }
    let mut origins: BTreeSet<String> = run
        .exchanges
        .iter()
        .map(|e| e.url.origin().ascii_serialization())
        .collect();
    origins.extend(origin(&options.base_url));
    origins.retain(|o| !options.sample_origins.contains(o));
    scrub.base_origins = origins.into_iter().collect();

    // Client-made ids: in a request before any answer or param named them.
    let mut known: String = run.params.values().cloned().collect::<Vec<_>>().join("\n");
    for e in &run.exchanges {
        for token in request_tokens(e) {
            let secret = scrub.secrets.iter().any(|(v, _)| v.contains(&token));
            let captured = scrub.captures.iter().any(|(v, _)| *v == token);
            if id_like(&token) && !secret && !captured && !known.contains(&token) {
                let name = if scrub.captures.is_empty() {
                    "job_id".to_owned()
                } else {
                    format!("id{}", scrub.captures.len() + 1)
                };
                scrub.captures.push((token, name));
            }
        }
        known.push_str(&String::from_utf8_lossy(&e.response_body));
        for value in e.response_headers.values() {
            known.push_str(value.to_str().unwrap_or_default());
        }
    }

    let requests: Vec<ExpectedRequest> = run.exchanges.iter().map(|e| request(e, &scrub)).collect();
    let secret_headers: BTreeSet<String> = requests
        .iter()
        .flat_map(|r| {
            r.headers
                .iter()
                .filter(|(_, v)| v.contains("{{secret:"))
                .map(|(k, _)| k.clone())
        })
        .collect();
    let secret_query: BTreeSet<String> = requests
        .iter()
        .flat_map(|r| {
            r.query
                .iter()
                .filter(|(_, v)| v.contains("{{secret:"))
                .map(|(k, _)| k.clone())
        })
        .collect();
    let mut interactions = Vec::new();
    for (i, (e, mut request)) in run.exchanges.iter().zip(requests).enumerate() {
        request.absent_headers = secret_headers
            .iter()
            .filter(|h| !request.headers.contains_key(*h))
            .cloned()
            .collect();
        request.absent_query = secret_query
            .iter()
            .filter(|q| !request.query.contains_key(*q))
            .cloned()
            .collect();
        let response = response(e, &scrub, dir, run.scenario, i)?;
        interactions.push(Interaction { request, response });
    }

    let params = run
        .params
        .iter()
        .map(|(k, v)| (k.clone(), scrub.text(v)))
        .collect();
    let webhook = run
        .webhook
        .as_ref()
        .map(|callback| inbound(callback, &scrub, &options.secrets));
    let outcome = scrub.json(outcome);
    Ok(Cassette {
        provenance: Provenance {
            kind: ProvenanceKind::Recorded,
            source: format!(
                "recorded from {} by multiconvert-conformance",
                options.base_url
            ),
            notes: options.notes.clone(),
            recorded: Some(Recorded {
                date: today(),
                base_url: options.base_url.clone(),
                crate_version: env!("CARGO_PKG_VERSION").to_owned(),
            }),
        },
        params,
        webhook,
        interactions,
        outcome: Some(outcome),
    })
}

/// The request as replay must see it.
fn request(e: &Exchange, scrub: &Scrubber) -> ExpectedRequest {
    let mut headers = BTreeMap::new();
    for (name, value) in &e.request_headers {
        let Ok(value) = value.to_str() else { continue };
        let scrubbed = scrub.text(value);
        if scrubbed.contains("{{secret:") {
            headers.insert(name.as_str().to_owned(), scrubbed);
        } else if secret_like(name.as_str()) {
            headers.insert(name.as_str().to_owned(), "{{any}}".to_owned());
        }
    }
    let query: BTreeMap<String, String> = e
        .url
        .query_pairs()
        .map(|(k, v)| {
            let value = scrub.guarded(&k, &v);
            (k.into_owned(), value)
        })
        .collect();
    let body = match &e.request_body {
        TappedBody::Empty => None,
        TappedBody::Streamed => Some(RequestBody::Any(true)),
        TappedBody::Bytes(bytes) => {
            let ct = content_type(&e.request_headers);
            if ct.starts_with("application/x-www-form-urlencoded") {
                Some(RequestBody::Form(
                    form_fields(bytes)
                        .into_iter()
                        .map(|(k, v)| {
                            let value = scrub.guarded(&k, &v);
                            (k, value)
                        })
                        .collect(),
                ))
            } else if let Some(json) = json_body(&e.request_headers, bytes) {
                Some(RequestBody::Json(scrub.json(&json)))
            } else {
                Some(RequestBody::Any(true))
            }
        }
    };
    ExpectedRequest {
        method: e.method.to_string(),
        path: scrub.text(e.url.path()),
        query,
        absent_query: Vec::new(),
        headers,
        absent_headers: Vec::new(),
        body,
    }
}

fn response(
    e: &Exchange,
    scrub: &Scrubber,
    dir: &Path,
    scenario: &str,
    index: usize,
) -> Result<CannedResponse, String> {
    let mut headers = BTreeMap::new();
    for name in ["retry-after", "location", "content-disposition"] {
        if let Some(v) = e.response_headers.get(name).and_then(|v| v.to_str().ok()) {
            headers.insert(name.to_owned(), scrub.guarded(name, v));
        }
    }
    let body = if e.response_body.is_empty() {
        None
    } else if let Some(json) = json_body(&e.response_headers, &e.response_body) {
        Some(ResponseBody::Json(scrub.json(&json)))
    } else {
        let ct = content_type(&e.response_headers);
        if !ct.is_empty() {
            headers.insert("content-type".to_owned(), ct.clone());
        }
        match std::str::from_utf8(&e.response_body) {
            Ok(text) => Some(ResponseBody::Text(scrub.text(text))),
            _ => {
                let digest = hex::encode(&Sha256::digest(&e.response_body)[..6]);
                let name = format!("{scenario}.{index}.{digest}.bin");
                std::fs::write(dir.join(&name), &e.response_body)
                    .map_err(|err| format!("cannot write {name}: {err}"))?;
                Some(ResponseBody::File(name.into()))
            }
        }
    };
    Ok(CannedResponse {
        status: e.status.as_u16(),
        headers,
        body,
        delay_ms: 0,
    })
}

fn inbound(
    callback: &ReceivedCallback,
    scrub: &Scrubber,
    secrets: &[(String, String)],
) -> InboundRequest {
    let mut headers = BTreeMap::new();
    for (name, value) in &callback.headers {
        let signed_by = secrets.iter().find(|(_, secret)| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
            mac.update(&callback.body);
            hex::encode(mac.finalize().into_bytes()).eq_ignore_ascii_case(value)
        });
        let value = match signed_by {
            Some((secret, _)) => format!("{{{{hmac_sha256_hex:{secret}}}}}"),
            None if value == crate::live::FORGED_SIGNATURE => value.clone(),
            None => scrub.guarded(name, value),
        };
        // A vendor's own headers: `x-…`, or a signature under the vendor's name
        // (`CloudConvert-Signature`).
        if matches!(name.as_str(), "content-type" | "user-agent")
            || name.starts_with("x-")
            || name.contains("signature")
        {
            headers.insert(name.clone(), value);
        }
    }
    let body = if callback.body.is_empty() {
        None
    } else {
        match serde_json::from_slice::<Value>(&callback.body) {
            Ok(json) => Some(ResponseBody::Json(scrub.json(&json))),
            Err(_) => Some(ResponseBody::Text(
                scrub.text(&String::from_utf8_lossy(&callback.body)),
            )),
        }
    };
    InboundRequest {
        method: callback.method.clone(),
        path: scrub.text(&callback.path),
        headers,
        body,
    }
}

/// Today, UTC, as `YYYY-MM-DD` (days since the epoch to a civil date, H. Hinnant's algorithm).
fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Writes `cassette` as `<dir>/<scenario>.json`.
pub fn write(cassette: &Cassette, dir: &Path, scenario: &str) -> Result<(), String> {
    let text = serde_json::to_string_pretty(cassette).map_err(|e| e.to_string())?;
    let path = dir.join(format!("{scenario}.json"));
    std::fs::write(&path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_names() {
        assert_eq!(today().len(), 10);
        assert!(id_like("v01plsb72o0cmdooq90w4d1lnqsf6oy4"));
        assert!(id_like("8daae6d1-26e0-11e5-b2a1-0800273b325b"));
        assert!(!id_like("conversion_failed"));
        assert!(!id_like("sample.png"));
        assert!(secret_like("X-Oc-Token"));
        assert!(secret_like("Secret"));
        assert!(!secret_like("JobId"));
        assert_eq!(discovered_name("token"), "job_token");
    }

    #[test]
    fn unknown_secret_like_values_are_never_written() {
        let scrub = Scrubber {
            secrets: vec![("hunter2-key".into(), "{{secret:api_key}}".into())],
            base_origins: vec!["http://127.0.0.1:9".into()],
            sample_origins: vec![],
            captures: vec![],
        };
        assert_eq!(scrub.guarded("password", "s3cr3t-value"), "{{any}}");
        assert_eq!(
            scrub.guarded("x-oc-api-key", "hunter2-key"),
            "{{secret:api_key}}"
        );
        assert_eq!(
            scrub.text("http://127.0.0.1:9/dl/x?k=hunter2-key"),
            "{{base_url}}/dl/x?k={{secret:api_key}}"
        );
    }
}
