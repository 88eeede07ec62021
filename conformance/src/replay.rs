//! Mounting a cassette on a wiremock server: each interaction exactly once, in order.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use multiconvert_core::url::form_urlencoded;
use serde_json::Value;
use wiremock::{matchers::any, Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::cassette::{
    json_matches, render_body, Cassette, ExpectedRequest, Interaction, Part, RequestBody,
    ResponseBody,
};
use crate::template::Bindings;

/// The status the replay answers to a request the cassette did not expect. Providers map it to a
/// protocol error, which no retry loop retries, so one mismatch is reported once.
pub const MISMATCH_STATUS: u16 = 418;

struct State {
    interactions: Vec<Interaction>,
    cursor: usize,
    bindings: Bindings,
    failures: Vec<String>,
    fixtures: PathBuf,
}

/// A running replay of one cassette.
pub struct Replay {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Replay {
    /// Starts a mock server on loopback serving `cassette`; `fixtures` is where `file` bodies are.
    pub async fn start(cassette: &Cassette, fixtures: &Path) -> Replay {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            interactions: cassette.interactions.clone(),
            cursor: 0,
            bindings: Bindings {
                base_url: server.uri(),
                ..Bindings::default()
            },
            failures: Vec::new(),
            fixtures: fixtures.to_path_buf(),
        }));
        Mock::given(any())
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        Replay { server, state }
    }

    /// The mock server's base URL (no trailing slash).
    pub fn base_url(&self) -> String {
        self.server.uri()
    }

    /// The current bindings (base URL and captures), to render an inbound webhook.
    pub fn bindings(&self) -> Bindings {
        lock(&self.state).bindings.clone()
    }

    /// Fails with a readable report when a request did not match or an interaction was not used.
    pub fn verify(&self) -> Result<(), String> {
        let state = lock(&self.state);
        let mut problems = state.failures.clone();
        if state.cursor < state.interactions.len() {
            let unused: Vec<String> = state.interactions[state.cursor..]
                .iter()
                .enumerate()
                .map(|(i, it)| {
                    format!(
                        "  #{} {} {}",
                        state.cursor + i,
                        it.request.method,
                        it.request.path
                    )
                })
                .collect();
            problems.push(format!(
                "{} interaction(s) of the cassette were never requested:\n{}",
                unused.len(),
                unused.join("\n")
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n\n"))
        }
    }
}

struct Responder(Arc<Mutex<State>>);

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.0);
        let index = state.cursor;
        let Some(interaction) = state.interactions.get(index).cloned() else {
            let report = format!(
                "unexpected request after the cassette's last interaction:\n{}",
                describe(request)
            );
            state.failures.push(report);
            return ResponseTemplate::new(MISMATCH_STATUS);
        };
        let mut bindings = state.bindings.clone();
        if let Err(diff) = check(&interaction.request, request, &mut bindings) {
            let report = format!(
                "request #{index} does not match the cassette: {diff}\n expected: {} {}\n actual:\n{}",
                interaction.request.method,
                interaction.request.path,
                describe(request)
            );
            state.failures.push(report);
            return ResponseTemplate::new(MISMATCH_STATUS);
        }
        state.cursor += 1;
        state.bindings = bindings;
        let canned = &interaction.response;
        let mut template = ResponseTemplate::new(canned.status);
        for (name, value) in &canned.headers {
            template = template.insert_header(name.as_str(), state.bindings.render(value).as_str());
        }
        if let Some(body) = &canned.body {
            match render_body(body, &state.bindings, &state.fixtures) {
                Ok(bytes) => {
                    let has_type = canned
                        .headers
                        .keys()
                        .any(|k| k.eq_ignore_ascii_case("content-type"));
                    if matches!(body, ResponseBody::Json(_)) && !has_type {
                        template = template.insert_header("content-type", "application/json");
                    }
                    template = template.set_body_bytes(bytes);
                }
                Err(e) => {
                    state.failures.push(format!("interaction #{index}: {e}"));
                    return ResponseTemplate::new(MISMATCH_STATUS);
                }
            }
        }
        if canned.delay_ms > 0 {
            template = template.set_delay(std::time::Duration::from_millis(canned.delay_ms));
        }
        template
    }
}

fn describe(request: &Request) -> String {
    let mut out = format!("  {} {}\n", request.method, request.url);
    let mut headers: Vec<_> = request.headers.iter().collect();
    headers.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    for (name, value) in headers {
        out.push_str(&format!(
            "  {}: {}\n",
            name,
            value.to_str().unwrap_or("<binary>")
        ));
    }
    match std::str::from_utf8(&request.body) {
        Ok(text) if text.len() <= 2000 => out.push_str(&format!("  body: {text}\n")),
        _ => out.push_str(&format!("  body: <{} bytes>\n", request.body.len())),
    }
    out
}

fn check(expected: &ExpectedRequest, request: &Request, b: &mut Bindings) -> Result<(), String> {
    if !expected
        .method
        .eq_ignore_ascii_case(request.method.as_str())
    {
        return Err(format!(
            "method: expected {}, got {}",
            expected.method, request.method
        ));
    }
    if !b.matches(&expected.path, request.url.path()) {
        return Err(format!(
            "path: expected {}, got {}",
            expected.path,
            request.url.path()
        ));
    }
    let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
    for (name, template) in &expected.query {
        match query.iter().find(|(k, _)| k == name) {
            Some((_, value)) if b.matches(template, value) => {}
            Some((_, value)) => {
                return Err(format!(
                    "query {name}: expected {template:?}, got {value:?}"
                ))
            }
            None => return Err(format!("query {name}: missing")),
        }
    }
    for name in &expected.absent_query {
        if query.iter().any(|(k, _)| k.eq_ignore_ascii_case(name)) {
            return Err(format!("query {name}: must not be sent"));
        }
    }
    for (name, template) in &expected.headers {
        let value = request
            .headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok());
        match value {
            Some(value) if b.matches(template, value) => {}
            Some(value) => {
                return Err(format!(
                    "header {name}: expected {template:?}, got {value:?}"
                ))
            }
            None => return Err(format!("header {name}: missing")),
        }
    }
    for name in &expected.absent_headers {
        if request.headers.contains_key(name.as_str()) {
            return Err(format!("header {name}: must not be sent"));
        }
    }
    match &expected.body {
        None => Ok(()),
        Some(body) => check_body(body, request, b),
    }
}

fn check_body(expected: &RequestBody, request: &Request, b: &mut Bindings) -> Result<(), String> {
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    match expected {
        RequestBody::Any(required) => {
            if *required && request.body.is_empty() {
                Err("body: expected a non-empty body".into())
            } else {
                Ok(())
            }
        }
        RequestBody::Text(t) => {
            let text = String::from_utf8_lossy(&request.body);
            if b.matches(t, &text) {
                Ok(())
            } else {
                Err(format!("body: expected {t:?}, got {text:?}"))
            }
        }
        RequestBody::Json(expected) => {
            let actual: Value = serde_json::from_slice(&request.body)
                .map_err(|e| format!("body: expected JSON, got invalid JSON ({e})"))?;
            json_matches(expected, &actual, b).map_err(|e| format!("body {e}"))
        }
        RequestBody::Form(fields) => {
            if !content_type.starts_with("application/x-www-form-urlencoded") {
                return Err(format!(
                    "body: expected a form, got content-type {content_type:?}"
                ));
            }
            let actual: Vec<(String, String)> =
                form_urlencoded::parse(&request.body).into_owned().collect();
            let expected = Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            );
            let actual = Value::Object(
                actual
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            );
            json_matches(&expected, &actual, b).map_err(|e| format!("form {e}"))
        }
        RequestBody::Multipart(parts) => {
            let boundary = content_type
                .split(';')
                .find_map(|p| p.trim().strip_prefix("boundary="))
                .map(|s| s.trim_matches('"').to_owned())
                .ok_or_else(|| {
                    format!("body: expected multipart/form-data, got content-type {content_type:?}")
                })?;
            let actual = parse_multipart(&request.body, &boundary);
            if actual.len() != parts.len() {
                return Err(format!(
                    "multipart: expected {} parts, got {}",
                    parts.len(),
                    actual.len()
                ));
            }
            for (i, (want, got)) in parts.iter().zip(&actual).enumerate() {
                check_part(want, got, b).map_err(|e| format!("multipart part {i}: {e}"))?;
            }
            Ok(())
        }
    }
}

#[derive(Debug, Default)]
struct ParsedPart {
    name: String,
    filename: Option<String>,
    body: Vec<u8>,
}

fn check_part(want: &Part, got: &ParsedPart, b: &mut Bindings) -> Result<(), String> {
    if want.name != got.name {
        return Err(format!(
            "name: expected {:?}, got {:?}",
            want.name, got.name
        ));
    }
    if let Some(filename) = &want.filename {
        match &got.filename {
            Some(actual) if b.matches(filename, actual) => {}
            other => return Err(format!("filename: expected {filename:?}, got {other:?}")),
        }
    }
    if let Some(text) = &want.text {
        let actual = String::from_utf8_lossy(&got.body);
        if !b.matches(text, &actual) {
            return Err(format!("value: expected {text:?}, got {actual:?}"));
        }
    }
    Ok(())
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn parse_multipart(body: &[u8], boundary: &str) -> Vec<ParsedPart> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut parts = Vec::new();
    let Some(mut pos) = find(body, delimiter, 0) else {
        return parts;
    };
    loop {
        pos += delimiter.len();
        if body[pos..].starts_with(b"--") {
            break;
        }
        let Some(head_end) = find(body, b"\r\n\r\n", pos) else {
            break;
        };
        let head = String::from_utf8_lossy(&body[pos..head_end]).into_owned();
        let Some(next) = find(body, delimiter, head_end) else {
            break;
        };
        let content = &body[head_end + 4..next.saturating_sub(2).max(head_end + 4)];
        let mut part = ParsedPart {
            body: content.to_vec(),
            ..ParsedPart::default()
        };
        for line in head.lines() {
            if line.to_ascii_lowercase().starts_with("content-disposition") {
                for attr in line.split(';').skip(1) {
                    if let Some((k, v)) = attr.trim().split_once('=') {
                        let v = v.trim_matches('"').to_owned();
                        match k {
                            "name" => part.name = v,
                            "filename" => part.filename = Some(v),
                            _ => {}
                        }
                    }
                }
            }
        }
        parts.push(part);
        pos = next;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_parts_are_read_in_order() {
        let body = b"--xx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\none\r\n--xx\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--xx--\r\n";
        let parts = parse_multipart(body, "xx");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "a");
        assert_eq!(parts[0].body, b"one");
        assert_eq!(parts[1].filename.as_deref(), Some("p.png"));
        assert_eq!(parts[1].body, b"\x89PNG");
    }
}
