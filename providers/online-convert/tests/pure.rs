//! The pure request builders and response parsers: snapshots and properties, no network.

use http::{HeaderMap, Method, StatusCode};
use multiconvert_core::{
    Conversion, ErrorKind, Input, JobRequest, Operation, Secret, WebhookRequest,
};
use multiconvert_online_convert::request::{job_body, multipart_filename};
use multiconvert_online_convert::response::{parse_error, parse_job, to_job};
use multiconvert_online_convert::webhook::{parse_event, sign, verify_signature};
use multiconvert_online_convert::{cloud, Config, WebhookVerification};
use proptest::prelude::*;
use serde_json::{json, Value};

#[test]
fn the_staged_create_body() {
    let request = JobRequest::new(
        Input::remote("https://example.com/a.pdf".parse().unwrap()).password("pw"),
        Conversion::to("PNG").category("image").option("dpi", 300),
    )
    .input(Input::bytes(&b"local"[..], "local.png"))
    .input(Input::base64("data:image/gif;base64,R0lGOD", "pixel.gif"))
    .input(Input::cloud(cloud::ftp(
        "ftp.example.com",
        "a.png",
        "u",
        "p",
    )))
    .input(Input::cloud(cloud::gdrive_picker(
        "drive-file-id",
        "oauth-token",
    )))
    .input(Input::file_id("ed5c51d7"))
    .callback("https://app.example.com/cb".parse().unwrap())
    .extra("process_priority", "low");
    insta::assert_json_snapshot!("staged_create_body", job_body(&request, false).unwrap());
}

#[test]
fn a_job_as_the_model_sees_it() {
    let body = include_str!("../../../fixtures/online-convert/remote_input_completes.json");
    let cassette: Value = serde_json::from_str(body).unwrap();
    let job = &cassette["interactions"][3]["response"]["body"]["json"];
    let (wire, raw) = parse_job(job.to_string().as_bytes(), Operation::Poll).unwrap();
    let job = to_job(&wire, raw);
    insta::assert_debug_snapshot!("completed_job_debug", job);
}

#[test]
fn errors_by_status() {
    let headers = {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        h.insert("x-request-id", "req-1".parse().unwrap());
        h
    };
    let cases = [
        (400, ErrorKind::InvalidInput),
        (422, ErrorKind::InvalidInput),
        (401, ErrorKind::Unauthenticated),
        (403, ErrorKind::Unauthenticated),
        (402, ErrorKind::QuotaExhausted),
        (404, ErrorKind::NotFound),
        (409, ErrorKind::Conflict),
        (429, ErrorKind::RateLimited),
        (500, ErrorKind::Transport),
        (503, ErrorKind::Transport),
        (302, ErrorKind::Protocol),
    ];
    for (status, kind) in cases {
        let e = parse_error(
            Operation::Submit,
            StatusCode::from_u16(status).unwrap(),
            &headers,
            br#"{"code":42,"message":"nope","errors":{"token":"leak"}}"#,
        );
        assert_eq!(e.kind(), kind, "{status}");
        assert_eq!(e.message(), "nope");
        assert_eq!(e.provider_code(), Some("42"));
        assert_eq!(e.request_id(), Some("req-1"));
        assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(7)));
        assert!(!e.body().unwrap().contains("leak"));
    }
    let e = parse_error(
        Operation::Poll,
        StatusCode::BAD_GATEWAY,
        &HeaderMap::new(),
        b"<html>",
    );
    assert_eq!(e.message(), "the server answered Bad Gateway");
    assert!(e.is_retryable() && e.is_failover_eligible());
}

#[test]
fn malformed_2xx_bodies_are_protocol_errors() {
    for body in [
        &b""[..],
        b"null",
        b"[]",
        b"{}",
        b"{\"id\":\"\"}",
        b"{\"id\":\"x\"}",
        b"<html>",
    ] {
        let e = parse_job(body, Operation::Poll).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::Protocol,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let (wire, _) = parse_job(
        br#"{"id":"x","status":{"code":"teleporting"},"conversion":[{"id":"c","target":"png","options":[]}],"output":[{"id":"o","name":"a.png"}],"unknown":1}"#,
        Operation::Poll,
    )
    .unwrap();
    assert!(wire.conversion[0].options.is_empty());
    assert_eq!(wire.output[0].filename.as_deref(), Some("a.png"));
}

fn hook(body: &[u8], signature: Option<&str>) -> WebhookRequest {
    let mut headers = HeaderMap::new();
    if let Some(s) = signature {
        headers.insert("x-oc-signature", s.parse().unwrap());
    }
    WebhookRequest::new(Method::POST, "/hooks/oc", headers, body.to_vec())
}

#[test]
fn webhook_signatures() {
    let secret = Secret::new("whsec".to_string());
    let body = br#"{"id":"j1","status":{"code":"completed"},"modified_at":"2017-08-15T17:21:30"}"#;
    let good = sign(&secret, body);
    assert!(verify_signature(&secret, body, Some(&good)).is_ok());
    assert!(verify_signature(&secret, body, Some(&good.to_uppercase())).is_ok());
    let mode = WebhookVerification::Secret(secret.clone());
    let event = parse_event(&hook(body, Some(&good)), &mode).unwrap();
    assert!(event.verified);
    for bad in [None, Some("zz"), Some("00"), Some(&good[2..])] {
        let e = parse_event(&hook(body, bad), &mode).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WebhookRejected, "{bad:?}");
    }
    // One byte changed after signing.
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert!(parse_event(&hook(&tampered, Some(&good)), &mode).is_err());
    // Unsigned mode never claims verification, even with a header present.
    let event = parse_event(&hook(body, Some(&good)), &WebhookVerification::Unsigned).unwrap();
    assert!(!event.verified);
}

#[test]
fn configuration_from_the_environment() {
    let env = multiconvert_conformance::fake_env;
    let e = Config::from_lookup(env(&[])).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    let c = Config::from_lookup(env(&[("ONLINE_CONVERT_API_KEY", "k2")])).unwrap();
    assert_eq!(c.base_url().as_str(), "https://api.api2convert.com/v2/");
    let c = Config::from_lookup(env(&[
        ("API2CONVERT_API_KEY", "secret-key-value"),
        ("API2CONVERT_BASE_URL", "https://api2.online-convert.com"),
    ]))
    .unwrap();
    assert_eq!(c.base_url().as_str(), "https://api2.online-convert.com/");
    assert!(!format!("{c:?}").contains("secret-key-value"));
    let e = Config::from_lookup(env(&[
        ("API2CONVERT_API_KEY", "k"),
        ("API2CONVERT_WEBHOOK_SECRET", ""),
    ]))
    .unwrap_err();
    assert!(e.message().contains("webhook secret is empty"));
    let e = Config::from_lookup(env(&[
        ("API2CONVERT_API_KEY", "k"),
        ("API2CONVERT_BASE_URL", "ftp://x"),
    ]))
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(json!("completed")),
        Just(json!({"code": "failed", "info": ""})),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_string()),
                    Just("status".to_string()),
                    Just("output".to_string()),
                    Just("errors".to_string()),
                    Just("options".to_string()),
                    Just("input".to_string()),
                    "[a-z_]{1,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_request() -> impl Strategy<Value = JobRequest> {
    let input = prop_oneof![
        "[a-z]{1,10}"
            .prop_map(|s| Input::remote(format!("https://example.com/{s}.png").parse().unwrap())),
        ".{0,20}".prop_map(|s| Input::bytes(s.into_bytes(), "x.bin")),
        ".{0,20}".prop_map(|s| Input::base64(s, "b.txt")),
        ".{1,10}".prop_map(Input::file_id),
        ("[a-z]{1,8}", ".{0,8}")
            .prop_map(|(b, k)| Input::cloud(cloud::amazons3(&b, "f", None, &k, &k, None))),
    ];
    let conversion =
        ("[a-z]{1,5}", prop::option::of("[a-z]{1,8}"), any::<u8>()).prop_map(|(t, c, q)| {
            let mut conv = Conversion::to(t).option("quality", q);
            if let Some(c) = c {
                conv = conv.category(c);
            }
            conv
        });
    (
        prop::collection::vec(input, 1..4),
        prop::collection::vec(conversion, 1..3),
        any::<bool>(),
    )
        .prop_map(|(inputs, conversions, notify)| {
            let mut r = JobRequest::default().notify_status(notify);
            r.inputs = inputs;
            r.conversions = conversions;
            r
        })
}

proptest! {
    #[test]
    fn no_json_makes_a_parser_panic(value in arb_json()) {
        let bytes = value.to_string().into_bytes();
        if let Ok((wire, raw)) = parse_job(&bytes, Operation::Poll) {
            prop_assert!(!wire.id.is_empty());
            let _ = to_job(&wire, raw);
        }
        let _ = parse_error(Operation::Poll, StatusCode::BAD_REQUEST, &HeaderMap::new(), &bytes);
        let _ = parse_event(&hook(&bytes, None), &WebhookVerification::Unsigned);
    }

    #[test]
    fn no_bytes_make_a_parser_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse_job(&bytes, Operation::Poll);
        let _ = parse_error(Operation::Poll, StatusCode::BAD_REQUEST, &HeaderMap::new(), &bytes);
        let _ = parse_event(&hook(&bytes, None), &WebhookVerification::Unsigned);
    }

    #[test]
    fn no_forged_signature_is_accepted(body in prop::collection::vec(any::<u8>(), 0..64), claimed in "[0-9a-fA-F]{0,70}") {
        let secret = Secret::new("whsec".to_string());
        let verified = parse_event(&hook(&body, Some(&claimed)), &WebhookVerification::Secret(secret.clone()));
        if verified.is_ok() {
            prop_assert!(claimed.eq_ignore_ascii_case(&sign(&secret, &body)));
        }
        prop_assert!(verify_signature(&secret, &body, Some(&claimed)).is_err() || claimed.eq_ignore_ascii_case(&sign(&secret, &body)));
        // And the genuine signature always is.
        let good = sign(&secret, &body);
        prop_assert!(verify_signature(&secret, &body, Some(&good)).is_ok());
    }

    #[test]
    fn every_valid_request_maps_to_a_create_body(request in arb_request()) {
        let body = job_body(&request, false).unwrap();
        prop_assert_eq!(&body["process"], &json!(false));
        let uploads = request.inputs.iter().filter(|i| multiconvert_online_convert::request::needs_upload(i)).count();
        // An empty list is left out, never sent as `[]`.
        let sent = |key: &str| body.get(key).map_or(0, |v| v.as_array().map_or(usize::MAX, Vec::len));
        prop_assert_eq!(sent("input"), request.inputs.len() - uploads);
        prop_assert_eq!(sent("conversion"), request.conversions.len());
        prop_assert!(body.get("input") != Some(&json!([])) && body.get("conversion") != Some(&json!([])));
    }

    #[test]
    fn multipart_filenames_cannot_break_the_header(name in ".{0,40}") {
        let safe = multipart_filename(Some(&name));
        prop_assert!(!safe.is_empty());
        prop_assert!(!safe.contains(['"', '\r', '\n', '\0']));
    }
}

#[test]
fn ids_and_codes_may_be_numbers() {
    let body = json!({
        "id": 8123, "token": "t", "status": {"code": "completed", "info": ""},
        "input": [{"id": 1, "type": "remote", "status": "ready", "filename": "a.png", "size": 10}],
        "conversion": [{"id": 2, "target": "jpg", "category": "image", "options": []}],
        "output": [{"id": 3, "uri": "https://dl.example.com/3/a.jpg", "filename": "a.jpg"}],
        "errors": [{"source": "input", "id_source": 1, "code": 404, "message": "gone"}]
    });
    let (wire, raw) = parse_job(body.to_string().as_bytes(), Operation::Poll).unwrap();
    let job = to_job(&wire, raw);
    assert_eq!(job.handle.id, "8123");
    assert_eq!(job.inputs[0].id, "1");
    assert_eq!(job.inputs[0].size, Some(10));
    assert_eq!(job.conversions[0].id, "2");
    assert_eq!(job.conversions[0].target, "jpg");
    assert_eq!(job.outputs[0].id.as_deref(), Some("3"));
    assert_eq!(job.messages[0].source_id.as_deref(), Some("1"));
    assert_eq!(job.messages[0].code.as_deref(), Some("404"));

    let history: Vec<multiconvert_online_convert::wire::HistoryEntry> =
        serde_json::from_value(json!([{"id": 7, "status": 3, "info": "x"}])).unwrap();
    assert_eq!(history[0].id, "7");
    assert_eq!(history[0].status.as_deref(), Some("3"));
}

#[test]
fn an_empty_staged_create_sends_no_empty_arrays() {
    assert_eq!(
        job_body(&JobRequest::default(), false).unwrap(),
        json!({"process": false})
    );
    let only_conversion = JobRequest::default().conversion(Conversion::to("pdf"));
    let body = job_body(&only_conversion, false).unwrap();
    assert!(body.get("input").is_none());
    assert_eq!(body["conversion"][0]["target"], "pdf");
}

#[test]
fn a_job_update_is_checked_before_sending() {
    use multiconvert_online_convert::request::{update_body, JobUpdate};
    let e = update_body(&JobUpdate::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let ftp = JobUpdate::new().callback("ftp://example.com/cb".parse().unwrap());
    assert_eq!(
        update_body(&ftp).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let body = update_body(
        &JobUpdate::new()
            .fail_on_conversion_error(false)
            .download_password("one")
            .download_password("two"),
    )
    .unwrap();
    assert_eq!(
        body,
        json!({"fail_on_conversion_error": false, "download_passwords": ["one", "two"]})
    );
}

#[test]
fn a_completed_job_without_an_output_list_is_a_protocol_error() {
    use multiconvert_online_convert::response::check_outputs_listed;
    let missing = br#"{"id":"j1","status":{"code":"completed"}}"#;
    let (wire, raw) = parse_job(missing, Operation::Poll).unwrap();
    let e = check_outputs_listed(&wire, &raw, missing, Operation::Poll).unwrap_err();
    assert_eq!(e.kind(), multiconvert_core::ErrorKind::Protocol);
    // An empty list is a job that wrote elsewhere (a cloud target); a running job has none yet.
    for ok in [
        &br#"{"id":"j1","status":{"code":"completed"},"output":[]}"#[..],
        &br#"{"id":"j1","status":{"code":"processing"}}"#[..],
    ] {
        let (wire, raw) = parse_job(ok, Operation::Poll).unwrap();
        assert!(check_outputs_listed(&wire, &raw, ok, Operation::Poll).is_ok());
    }
}

#[test]
fn rate_and_price_come_from_their_variables_and_reach_the_provider() {
    use multiconvert_core::ConversionProvider;
    use multiconvert_online_convert::config::{default_rate, Config};
    multiconvert_conformance::template::check_rate_and_price(
        |env| Config::from_lookup(env),
        multiconvert_conformance::template::VendorNames {
            key: "API2CONVERT_API_KEY",
            instance: "online-convert",
        },
        default_rate(),
        Config::rate,
        Config::price,
        Config::with_http,
        |c| {
            multiconvert_online_convert::OnlineConvert::new(c)
                .unwrap()
                .info()
                .price
        },
    );
}
