//! The live contract check: a [`LiveRun`] compared with a baseline (the committed cassette and
//! snapshot of the scenario, or a recording), field by field.
//!
//! Two comparisons, and a third signal:
//! - the **outcome**, normalised exactly as the snapshots are, with values that differ from run
//!   to run by nature (ids, sizes, message texts, checksums, timestamps) compared by type only;
//! - the **wire**: per request (method and path, ids generalised), the status codes the vendor
//!   answered and the JSON fields of its answers, with their types — a field of the baseline
//!   missing, or of another type, is a change; a field the vendor added is noted, not a change;
//! - **statuses** a poll saw that multiconvert does not know.
//!
//! A scenario is `same`, `changed` (any difference but an addition; the scenario may also have
//! failed because of it) or `failed` (it failed with no drift to explain it).

use std::collections::{BTreeMap, BTreeSet};

use multiconvert_core::tap::Exchange;
use multiconvert_core::JobStatus;
use serde::Serialize;
use serde_json::Value;

use crate::cassette::{Cassette, ResponseBody};
use crate::live::LiveRun;

/// What a live run is compared with.
#[derive(Clone, Debug)]
pub struct Baseline {
    /// The normalised outcome expected.
    pub outcome: Value,
    /// The traffic expected.
    pub cassette: Cassette,
    /// Every cassette of the suite: the answers the contract allows (a poll answered 202 in one
    /// scenario is allowed in all). Empty: the scenario's cassette alone.
    pub suite: Vec<Cassette>,
}

impl Baseline {
    /// The same baseline, the suite's other cassettes allowing their answers too.
    pub fn with_suite(mut self, suite: Vec<Cassette>) -> Baseline {
        self.suite = suite;
        self
    }

    /// A recording: its own outcome.
    pub fn recorded(cassette: Cassette) -> Result<Baseline, String> {
        let outcome = cassette
            .outcome
            .clone()
            .ok_or("the cassette holds no outcome (it was not recorded)")?;
        Ok(Baseline {
            outcome,
            cassette,
            suite: Vec::new(),
        })
    }

    /// A committed cassette and its insta snapshot (the file's text).
    pub fn snapshot(cassette: Cassette, snapshot: &str) -> Result<Baseline, String> {
        // An insta file is a `---` header block, then the JSON.
        let json = snapshot
            .splitn(3, "---")
            .nth(2)
            .ok_or("the snapshot has no insta header")?;
        let outcome = serde_json::from_str(json.trim())
            .map_err(|e| format!("the snapshot is not JSON: {e}"))?;
        Ok(Baseline {
            outcome,
            cassette,
            suite: Vec::new(),
        })
    }
}

/// The verdict on one scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// As the baseline.
    Same,
    /// The vendor's behaviour differs from the baseline.
    Changed,
    /// The scenario failed with no drift to explain it.
    Failed,
}

/// One difference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `outcome`, `wire` or `status`.
    pub layer: &'static str,
    /// Where: a JSON path of the outcome, or `METHOD /path STATUS $.field` on the wire.
    pub field: String,
    /// What the baseline has (`null` when the field is new).
    pub expected: Option<String>,
    /// What the vendor gave (`null` when the field is missing).
    pub actual: Option<String>,
    /// An addition: noted, not a change.
    pub added: bool,
}

/// The check of one scenario.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The scenario.
    pub scenario: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Every difference found.
    pub differences: Vec<Difference>,
    /// Why the scenario failed, when it did.
    pub error: Option<String>,
}

/// Outcome values that differ from run to run by nature, compared by type.
const VOLATILE: &[&str] = &[
    "id",
    "source_id",
    "job_id",
    "size",
    "text",
    "checksum",
    "created_at",
    "retry_after_s",
];

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        // `[]` and `{}` are one value to many vendors (PHP serialises an empty map as `[]`).
        Value::Array(a) if a.is_empty() => "empty",
        Value::Object(o) if o.is_empty() => "empty",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn compact(v: &Value) -> String {
    let text = v.to_string();
    if text.len() > 120 {
        format!(
            "{}…",
            &text[..text.char_indices().nth(117).map_or(text.len(), |(i, _)| i)]
        )
    } else {
        text
    }
}

/// The outcome without advisory messages: warnings vary with the input and the vendor's mood;
/// errors are the contract.
fn errors_only(value: &Value) -> Value {
    match value {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("messages", Value::Array(a)) => Value::Array(
                            a.iter()
                                .filter(|m| {
                                    m.get("severity").and_then(Value::as_str) == Some("error")
                                })
                                .cloned()
                                .collect(),
                        ),
                        _ => errors_only(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(errors_only).collect()),
        other => other.clone(),
    }
}

/// Field-level differences of two normalised outcomes.
pub fn outcome_differences(expected: &Value, actual: &Value) -> Vec<Difference> {
    let (expected, actual) = (&errors_only(expected), &errors_only(actual));
    fn walk(e: &Value, a: &Value, path: &str, key: Option<&str>, out: &mut Vec<Difference>) {
        let diff = |out: &mut Vec<Difference>, exp: Option<String>, act: Option<String>| {
            out.push(Difference {
                layer: "outcome",
                field: path.to_owned(),
                added: exp.is_none(),
                expected: exp,
                actual: act,
            })
        };
        if key.is_some_and(|k| VOLATILE.contains(&k)) {
            if kind_of(e) != kind_of(a) {
                diff(out, Some(kind_of(e).into()), Some(kind_of(a).into()));
            }
            return;
        }
        match (e, a) {
            (Value::Object(eo), Value::Object(ao)) => {
                for (k, ev) in eo {
                    match ao.get(k) {
                        Some(av) => walk(ev, av, &format!("{path}.{k}"), Some(k), out),
                        None => out.push(Difference {
                            layer: "outcome",
                            field: format!("{path}.{k}"),
                            expected: Some(compact(ev)),
                            actual: None,
                            added: false,
                        }),
                    }
                }
                for (k, av) in ao {
                    if !eo.contains_key(k) {
                        out.push(Difference {
                            layer: "outcome",
                            field: format!("{path}.{k}"),
                            expected: None,
                            actual: Some(compact(av)),
                            added: true,
                        });
                    }
                }
            }
            (Value::Array(ea), Value::Array(aa)) if ea.len() == aa.len() => {
                for (i, (ev, av)) in ea.iter().zip(aa).enumerate() {
                    walk(ev, av, &format!("{path}[{i}]"), None, out);
                }
            }
            (e, a) if e == a => {}
            (e, a) => diff(out, Some(compact(e)), Some(compact(a))),
        }
    }
    let mut out = Vec::new();
    walk(expected, actual, "$", None, &mut out);
    out
}

/// A request's signature: method and path, id-like segments and templates as `{id}`.
fn signature(method: &str, path: &str) -> String {
    let segments: Vec<String> = path
        .split('/')
        .map(|s| {
            let templated = s.contains("{{");
            let id = s.len() >= 16
                && s.chars().any(|c| c.is_ascii_digit())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if templated || id {
                "{id}".to_owned()
            } else {
                s.to_owned()
            }
        })
        .collect();
    format!("{} {}", method.to_ascii_uppercase(), segments.join("/"))
}

/// JSON paths (arrays as `[]`) and their types; `null` goes with anything.
fn shape(value: &Value, path: &str, out: &mut BTreeMap<String, BTreeSet<&'static str>>) {
    let kind = kind_of(value);
    out.entry(path.to_owned()).or_default().insert(kind);
    match value {
        Value::Object(o) => {
            for (k, v) in o {
                shape(v, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            for v in a {
                shape(v, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

type Shapes = BTreeMap<String, BTreeMap<u16, BTreeMap<String, BTreeSet<&'static str>>>>;

fn add_shape(shapes: &mut Shapes, sig: String, status: u16, body: Option<&Value>) {
    let entry = shapes.entry(sig).or_default().entry(status).or_default();
    if let Some(body) = body {
        shape(body, "$", entry);
    }
}

fn baseline_shapes<'a>(cassettes: impl IntoIterator<Item = &'a Cassette>) -> Shapes {
    let mut shapes = Shapes::new();
    for i in cassettes.into_iter().flat_map(|c| &c.interactions) {
        let body = match &i.response.body {
            Some(ResponseBody::Json(v)) => Some(v),
            _ => None,
        };
        add_shape(
            &mut shapes,
            signature(&i.request.method, &i.request.path),
            i.response.status,
            body,
        );
    }
    shapes
}

fn live_shapes(exchanges: &[Exchange]) -> Shapes {
    let mut shapes = Shapes::new();
    for e in exchanges {
        let body: Option<Value> = serde_json::from_slice(&e.response_body).ok();
        if body.is_none() && !e.response_body.is_empty() {
            // Not JSON (a download, a gateway's page, garbage): no fields to compare.
            continue;
        }
        add_shape(
            &mut shapes,
            signature(e.method.as_str(), e.url.path()),
            e.status.as_u16(),
            body.as_ref(),
        );
    }
    shapes
}

/// Wire differences: status codes and JSON fields per request. Statuses, types and additions
/// are judged against the whole `suite` (the scenario's cassette with it); a missing field
/// against the scenario's own cassette, the same flow.
pub fn wire_differences(
    baseline: &Cassette,
    suite: &[Cassette],
    exchanges: &[Exchange],
) -> Vec<Difference> {
    let scenario = baseline_shapes([baseline]);
    let allowed = baseline_shapes(std::iter::once(baseline).chain(suite));
    let actual = live_shapes(exchanges);
    let types = |set: &BTreeSet<&str>| set.iter().copied().collect::<Vec<_>>().join("|");
    let concrete = |s: &BTreeSet<&'static str>| -> BTreeSet<&'static str> {
        s.iter()
            .copied()
            .filter(|t| !matches!(*t, "null" | "empty"))
            .collect()
    };
    let mut out = Vec::new();
    for (sig, live) in &actual {
        let Some(base) = allowed.get(sig) else {
            continue;
        };
        for status in live.keys() {
            if !base.contains_key(status) {
                out.push(Difference {
                    layer: "wire",
                    field: format!("{sig} status"),
                    expected: Some(
                        base.keys()
                            .map(u16::to_string)
                            .collect::<Vec<_>>()
                            .join(" or "),
                    ),
                    actual: Some(status.to_string()),
                    added: false,
                });
            }
        }
        for (status, live_fields) in live {
            let Some(allowed_fields) = base.get(status) else {
                continue;
            };
            // Under an array the vendor sent empty, there is nothing to compare.
            let emptied = |path: &str| {
                live_fields.iter().any(|(p, t)| {
                    t.iter().all(|t| *t == "empty") && path.starts_with(p.as_str()) && path != p
                })
            };
            if let Some(own) = scenario.get(sig).and_then(|s| s.get(status)) {
                for (path, base_types) in own {
                    if !live_fields.contains_key(path) && !emptied(path) {
                        out.push(Difference {
                            layer: "wire",
                            field: format!("{sig} {status} {path}"),
                            expected: Some(types(base_types)),
                            actual: None,
                            added: false,
                        });
                    }
                }
            }
            for (path, live_types) in live_fields {
                match allowed_fields.get(path) {
                    None => out.push(Difference {
                        layer: "wire",
                        field: format!("{sig} {status} {path}"),
                        expected: None,
                        actual: Some(types(live_types)),
                        added: true,
                    }),
                    Some(base_types) => {
                        let (b, l) = (concrete(base_types), concrete(live_types));
                        if !b.is_empty() && !l.is_empty() && b.is_disjoint(&l) {
                            out.push(Difference {
                                layer: "wire",
                                field: format!("{sig} {status} {path}"),
                                expected: Some(types(base_types)),
                                actual: Some(types(live_types)),
                                added: false,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

/// Where string `value` sits in the answers: `METHOD /path $.field`.
fn locate(exchanges: &[Exchange], value: &str) -> Option<String> {
    fn find(v: &Value, value: &str, path: &str) -> Option<String> {
        match v {
            Value::String(s) if s == value => Some(path.to_owned()),
            Value::Object(o) => o
                .iter()
                .find_map(|(k, v)| find(v, value, &format!("{path}.{k}"))),
            Value::Array(a) => a.iter().find_map(|v| find(v, value, &format!("{path}[]"))),
            _ => None,
        }
    }
    exchanges.iter().find_map(|e| {
        let body: Value = serde_json::from_slice(&e.response_body).ok()?;
        let path = find(&body, value, "$")?;
        Some(format!(
            "{} {}",
            signature(e.method.as_str(), e.url.path()),
            path
        ))
    })
}

/// Checks `run` against `baseline`.
pub fn check(run: &LiveRun, baseline: &Baseline) -> Report {
    let mut differences = Vec::new();
    let mut error = None;
    match &run.outcome {
        Ok(actual) => differences.extend(outcome_differences(&baseline.outcome, actual)),
        Err(e) => error = Some(e.clone()),
    }
    differences.extend(wire_differences(
        &baseline.cassette,
        &baseline.suite,
        &run.exchanges,
    ));
    let mut unknown = BTreeSet::new();
    for status in &run.statuses {
        if let JobStatus::Unknown(code) = status {
            if unknown.insert(code.clone()) {
                differences.push(Difference {
                    layer: "status",
                    field: locate(&run.exchanges, code).unwrap_or_else(|| "status".to_owned()),
                    expected: Some("a status multiconvert knows".to_owned()),
                    actual: Some(code.clone()),
                    added: false,
                });
            }
        }
    }
    let changed = differences.iter().any(|d| !d.added);
    let verdict = if changed {
        Verdict::Changed
    } else if error.is_some() {
        Verdict::Failed
    } else {
        Verdict::Same
    };
    Report {
        scenario: run.scenario.to_owned(),
        verdict,
        differences,
        error,
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = match self.verdict {
            Verdict::Same => "same",
            Verdict::Changed => "changed",
            Verdict::Failed => "failed",
        };
        writeln!(f, "{verdict:8} {}", self.scenario)?;
        if let Some(e) = &self.error {
            writeln!(f, "         error: {e}")?;
        }
        for d in &self.differences {
            let sign = if d.added { "+" } else { "~" };
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
            writeln!(
                f,
                "         {sign} {} {}: {} -> {}",
                d.layer,
                d.field,
                show(&d.expected),
                show(&d.actual)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn volatile_values_compare_by_type_and_fields_by_name() {
        let base = json!({"job": {"status": "completed", "outputs": [{"id": "a", "size": 38, "filename": "x.jpg"}]}});
        let same = json!({"job": {"status": "completed", "outputs": [{"id": "b", "size": 9000, "filename": "x.jpg"}]}});
        assert!(outcome_differences(&base, &same).is_empty());
        let renamed = json!({"job": {"status": "completed", "outputs": [{"id": "b", "bytes": 9000, "filename": "x.jpg"}]}});
        let diffs = outcome_differences(&base, &renamed);
        assert!(diffs
            .iter()
            .any(|d| d.field == "$.job.outputs[0].size" && !d.added));
        assert!(diffs
            .iter()
            .any(|d| d.field == "$.job.outputs[0].bytes" && d.added));
        let failed = json!({"job": {"status": "failed", "outputs": [{"id": "b", "size": null, "filename": "x.jpg"}]}});
        let diffs = outcome_differences(&base, &failed);
        assert_eq!(diffs.len(), 2, "{diffs:?}");
    }

    #[test]
    fn signatures_generalise_ids() {
        assert_eq!(
            signature("get", "/async/job/{{capture:job_id}}"),
            signature("GET", "/async/job/v01plsb72o0cmdooq90w4d1lnqsf6oy4")
        );
        assert_eq!(signature("POST", "/v2/jobs"), "POST /v2/jobs");
    }
}
