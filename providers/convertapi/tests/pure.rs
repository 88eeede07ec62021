//! ConvertAPI's pure builders and parsers: snapshots and properties, no network.

use http::{HeaderMap, Method, StatusCode};
use multiconvert_convertapi::request::{
    content_disposition, convert_segments, form_fields, is_valid_job_id, job_segments, new_job_id,
    source_format, FileValue,
};
use multiconvert_convertapi::response::{
    classify_poll, classify_submit, parse_error, parse_poll, parse_result, parse_submit,
    SubmitAnswer,
};
use multiconvert_convertapi::webhook::parse_event;
use multiconvert_convertapi::{AsyncRoute, Config};
use multiconvert_core::{
    Conversion, ErrorKind, Input, JobHandle, JobRequest, JobStatus, Operation, WebhookRequest,
};
use proptest::prelude::*;

fn json_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", "application/json".parse().unwrap());
    h
}

#[test]
fn the_convert_request() {
    let request = JobRequest::new(
        Input::remote("https://example.com/a.docx".parse().unwrap()),
        Conversion::to("pdf")
            .option("PageRange", "1-3")
            .option("Scale", 90),
    )
    .callback("https://app.example.com/hooks/ca?t=1".parse().unwrap());
    let from = source_format(&request).unwrap();
    assert_eq!(from, "docx");
    let fields = form_fields(
        &request,
        &[FileValue::File("https://example.com/a.docx".into())],
        "jobid",
        900,
    )
    .unwrap();
    insta::assert_debug_snapshot!("convert_form_fields", fields);
    assert_eq!(
        convert_segments(AsyncRoute::Current, "docx", "pdf", true).unwrap(),
        ["async", "convert", "docx", "to", "pdf"]
    );
    assert_eq!(
        convert_segments(AsyncRoute::Legacy, "docx", "pdf", true).unwrap(),
        ["convert", "docx", "to", "pdf"]
    );
    assert_eq!(job_segments(AsyncRoute::Legacy, "x"), ["job", "x"]);
    assert!(convert_segments(AsyncRoute::Current, "../x", "pdf", true).is_err());
}

#[test]
fn web_pages_convert_from_web() {
    for url in [
        "https://example.com/",
        "https://example.com/about",
        "https://example.com/a.html",
    ] {
        let r = JobRequest::new(Input::remote(url.parse().unwrap()), Conversion::to("pdf"));
        assert_eq!(source_format(&r).unwrap(), "web", "{url}");
    }
    let r = JobRequest::new(Input::bytes(&b"x"[..], "noext"), Conversion::to("pdf"));
    assert_eq!(
        source_format(&r).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn client_controlled_parameters_cannot_be_smuggled_in_options() {
    for name in [
        "Async",
        "jobid",
        "StoreFile",
        "WebHook",
        "Secret",
        "Files[0]",
        "timeout",
    ] {
        let r = JobRequest::new(Input::file_id("f"), Conversion::to("pdf").option(name, "x"));
        let e = form_fields(&r, &[FileValue::File("f".into())], "id", 900).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{name}");
    }
}

#[test]
fn several_inputs_become_indexed_files() {
    let r = JobRequest::new(Input::file_id("a"), Conversion::to("pdf")).input(Input::file_id("b"));
    let fields = form_fields(
        &r,
        &[FileValue::File("a".into()), FileValue::File("b".into())],
        "id",
        5,
    )
    .unwrap();
    assert_eq!(fields[0], ("Files[0]".into(), "a".into()));
    assert_eq!(fields[1], ("Files[1]".into(), "b".into()));
    assert!(
        fields.contains(&("Timeout".into(), "10".into())),
        "clamped to 10–1200"
    );
}

#[test]
fn errors_keyed_on_the_status_first() {
    let h = json_headers();
    use Operation::{Delete, Poll, Submit, Upload};
    let cases: &[(Operation, u16, &str, ErrorKind)] = &[
        (
            Submit,
            400,
            r#"{"Code":4000,"Message":"bad"}"#,
            ErrorKind::InvalidInput,
        ),
        (
            Submit,
            401,
            r#"{"Code":4010,"Message":"bad secret"}"#,
            ErrorKind::Unauthenticated,
        ),
        (
            Submit,
            401,
            r#"{"Code":4014,"Message":"balance"}"#,
            ErrorKind::QuotaExhausted,
        ),
        // The converter of a convert request does not exist: this vendor cannot do the pair.
        (Submit, 404, "", ErrorKind::Unsupported),
        (Poll, 404, "", ErrorKind::NotFound),
        (Delete, 404, "", ErrorKind::NotFound),
        (Submit, 415, r#"{"Code":4150}"#, ErrorKind::Unsupported),
        (Submit, 429, "", ErrorKind::RateLimited),
        (
            Submit,
            503,
            r#"{"Code":5030,"Message":"retry"}"#,
            ErrorKind::RateLimited,
        ),
        (
            Submit,
            502,
            r#"{"Code":5020,"Message":"retry"}"#,
            ErrorKind::RateLimited,
        ),
        // A 5xx with ConvertAPI's JSON fails a conversion only on a poll of an existing job;
        // anywhere else it is a server fault.
        (
            Poll,
            500,
            r#"{"Code":5001,"Message":"Conversion failed"}"#,
            ErrorKind::ConversionFailed,
        ),
        (
            Submit,
            500,
            r#"{"Code":50050,"Message":"Unexpected"}"#,
            ErrorKind::Transport,
        ),
        (
            Upload,
            500,
            r#"{"Code":50050,"Message":"Unexpected"}"#,
            ErrorKind::Transport,
        ),
        (
            Delete,
            500,
            r#"{"Code":50050,"Message":"Unexpected"}"#,
            ErrorKind::Transport,
        ),
        (Submit, 502, "<html>", ErrorKind::Transport),
        (Submit, 504, "", ErrorKind::Transport),
    ];
    for (op, status, body, kind) in cases {
        let e = parse_error(
            *op,
            StatusCode::from_u16(*status).unwrap(),
            &h,
            body.as_bytes(),
        );
        assert_eq!(e.kind(), *kind, "{op} {status} {body}");
        if *status >= 500 && *kind == ErrorKind::Transport {
            assert!(e.is_failover_eligible(), "{op} {status} {body}");
        }
    }
    let e = parse_error(
        Operation::Submit,
        StatusCode::UNAUTHORIZED,
        &h,
        br#"{"Code":4014,"Message":"x"}"#,
    );
    assert!(e.is_failover_eligible());
}

#[test]
fn the_retry_loop_sees_throttling_and_gateways_but_not_answers() {
    let json = json_headers();
    let html = HeaderMap::new();
    assert_eq!(
        classify_submit(StatusCode::SERVICE_UNAVAILABLE, &html),
        Some(ErrorKind::RateLimited)
    );
    assert_eq!(
        classify_submit(StatusCode::BAD_GATEWAY, &json),
        Some(ErrorKind::RateLimited)
    );
    assert_eq!(
        classify_submit(StatusCode::BAD_GATEWAY, &html),
        Some(ErrorKind::Transport)
    );
    assert_eq!(
        classify_submit(StatusCode::INTERNAL_SERVER_ERROR, &json),
        None
    );
    assert_eq!(
        classify_poll(StatusCode::SERVICE_UNAVAILABLE, &html),
        None,
        "busy is an answer"
    );
    assert_eq!(
        classify_poll(StatusCode::INTERNAL_SERVER_ERROR, &json),
        None,
        "a failed job is an answer"
    );
    assert_eq!(
        classify_poll(StatusCode::GATEWAY_TIMEOUT, &html),
        Some(ErrorKind::Transport)
    );
}

#[test]
fn poll_answers() {
    let h = JobHandle::new("convertapi", "x");
    let json = json_headers();
    let job = |s: u16, body: &str| {
        parse_poll(&h, StatusCode::from_u16(s).unwrap(), &json, body.as_bytes())
    };
    assert_eq!(job(202, "").unwrap().status, JobStatus::Processing);
    assert_eq!(job(503, "").unwrap().status, JobStatus::Processing);
    let failed = job(
        500,
        r#"{"Code":5003,"Message":"The file is password protected."}"#,
    )
    .unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.messages[0].code.as_deref(), Some("5003"));
    assert!(
        !failed.failed_on_vendor_side(),
        "a password-protected input is the input's fault"
    );
    let timed_out = job(500, r#"{"Code":5000,"Message":"Conversion timeout."}"#).unwrap();
    assert!(timed_out.failed_on_vendor_side());
    let done = job(200, r#"{"ConversionTime":2,"Files":[{"FileName":"a.pdf","FileSize":"10","Url":"https://x/d/1/a.pdf"}]}"#).unwrap();
    assert_eq!(done.outputs[0].size, Some(10));
    assert_eq!(job(404, "").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(
        job(200, r#"{"Files":[{"FileName":"a"}]}"#)
            .unwrap_err()
            .kind(),
        ErrorKind::Protocol
    );
    assert_eq!(
        job(200, r#"{"Files":[]}"#).unwrap_err().kind(),
        ErrorKind::Protocol
    );
    assert_eq!(job(502, "").unwrap_err().kind(), ErrorKind::Transport);
}

#[test]
fn submit_answers() {
    assert_eq!(
        parse_submit(br#"{"JobId":"abc"}"#).unwrap(),
        SubmitAnswer::Accepted("abc".into())
    );
    assert!(matches!(
        parse_submit(br#"{"ConversionCost":1,"Files":[{"Url":"https://x/d/1/a.pdf"}]}"#).unwrap(),
        SubmitAnswer::Completed(_)
    ));
    assert_eq!(parse_submit(b"{}").unwrap_err().kind(), ErrorKind::Protocol);
    assert_eq!(
        parse_submit(b"<html>").unwrap_err().kind(),
        ErrorKind::Protocol
    );
}

fn hook(method: Method, uri: &str, body: &str, content_type: Option<&str>) -> WebhookRequest {
    let mut h = HeaderMap::new();
    if let Some(ct) = content_type {
        h.insert("content-type", ct.parse().unwrap());
    }
    WebhookRequest::new(method, uri, h, body.as_bytes().to_vec())
}

#[test]
fn both_webhook_shapes_whatever_the_route() {
    let uuid = "d3bd2056-4330-4cf3-9b18-483a2412dd6b";
    let simple = "rwvd6vtq58eurfwv5zw5h2ci2pgno1pn";
    let e = parse_event(&hook(Method::GET, &format!("/h?JobId={uuid}"), "", None)).unwrap();
    assert_eq!(e.job_id, uuid);
    assert!(!e.verified);
    let e = parse_event(&hook(
        Method::POST,
        "/h",
        &format!(r#"{{"JobId":"{simple}"}}"#),
        None,
    ))
    .unwrap();
    assert_eq!(e.job_id, simple);
    let e = parse_event(&hook(
        Method::POST,
        "/h",
        &format!(r#"{{"JobId":"{simple}"}}"#),
        Some("text/plain"),
    ))
    .unwrap();
    assert_eq!(e.job_id, simple);
    for bad in [
        hook(Method::GET, "/h", "", None),
        hook(Method::GET, "/h?JobId=../../etc", "", None),
        hook(
            Method::POST,
            "/h",
            r#"{"JobId":"UPPERCASEUPPERCASEUPPERCASEUPPER"}"#,
            None,
        ),
        hook(Method::PUT, &format!("/h?JobId={uuid}"), "", None),
    ] {
        assert_eq!(
            parse_event(&bad).unwrap_err().kind(),
            ErrorKind::WebhookRejected
        );
    }
}

#[test]
fn upload_headers_survive_hostile_names() {
    let cd = content_disposition("my \"report\"\r\n.pdf");
    assert!(!cd.contains('\r') && !cd.contains('\n'));
    assert!(cd.starts_with("attachment; filename=\"my _report___.pdf\"; filename*=UTF-8''"));
}

#[test]
fn configuration_from_the_environment() {
    let lookup = |pairs: Vec<(&'static str, &'static str)>| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    };
    assert_eq!(
        Config::from_lookup(lookup(vec![])).unwrap_err().kind(),
        ErrorKind::Config
    );
    let c = Config::from_lookup(lookup(vec![("CONVERTAPI_SECRET", "top-secret-value")])).unwrap();
    assert_eq!(c.route(), AsyncRoute::Current);
    assert_eq!(c.base_url().as_str(), "https://v2.convertapi.com/");
    assert!(!format!("{c:?}").contains("top-secret-value"));
    let c = Config::from_lookup(lookup(vec![
        ("CONVERTAPI_SECRET", "s"),
        ("CONVERTAPI_ASYNC_ROUTE", "Legacy"),
        ("CONVERTAPI_BASE_URL", "https://eu-v2.convertapi.com"),
    ]))
    .unwrap();
    assert_eq!(c.route(), AsyncRoute::Legacy);
    let e = Config::from_lookup(lookup(vec![
        ("CONVERTAPI_SECRET", "s"),
        ("CONVERTAPI_ASYNC_ROUTE", "v3"),
    ]))
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
}

proptest! {
    #[test]
    fn generated_job_ids_are_always_valid(legacy in any::<bool>()) {
        let route = if legacy { AsyncRoute::Legacy } else { AsyncRoute::Current };
        prop_assert!(is_valid_job_id(&new_job_id(route)));
    }

    #[test]
    fn no_bytes_make_a_parser_panic(bytes in prop::collection::vec(any::<u8>(), 0..96), status in 100u16..600) {
        let status = StatusCode::from_u16(status).unwrap();
        let h = JobHandle::new("convertapi", "x");
        let _ = parse_poll(&h, status, &json_headers(), &bytes);
        let _ = parse_error(Operation::Poll, status, &json_headers(), &bytes);
        let _ = parse_submit(&bytes);
        let _ = parse_event(&WebhookRequest::new(Method::POST, "/h", HeaderMap::new(), bytes.clone()));
        let _ = parse_result(&bytes, Operation::Poll);
    }

    #[test]
    fn no_callback_target_makes_the_webhook_parser_panic(query in ".{0,80}", body in prop::collection::vec(any::<u8>(), 0..64)) {
        for method in [Method::POST, Method::GET] {
            let request = WebhookRequest::new(method, format!("/hooks/convertapi?{query}"), HeaderMap::new(), body.clone());
            if let Ok(event) = parse_event(&request) {
                prop_assert!(!event.verified);
                prop_assert!(!event.job_id.is_empty());
            }
        }
    }

    #[test]
    fn no_json_makes_a_parser_panic(files in prop::collection::vec(
        prop::collection::btree_map(
            prop_oneof![Just("FileName"), Just("FileSize"), Just("Url"), Just("FileData"), Just("FileId")],
            prop_oneof![Just(serde_json::Value::Null), any::<i64>().prop_map(serde_json::Value::from), ".{0,10}".prop_map(serde_json::Value::from)],
            0..5),
        0..3)) {
        let body = serde_json::json!({"ConversionCost": 1, "Files": files}).to_string();
        let h = JobHandle::new("convertapi", "x");
        if let Ok(job) = parse_poll(&h, StatusCode::OK, &json_headers(), body.as_bytes()) {
            prop_assert!(!job.outputs.is_empty());
            prop_assert!(job.outputs.iter().all(|o| o.url.is_some()));
        }
    }

    #[test]
    fn every_valid_request_maps_to_form_fields(n in 1usize..4, target in "[a-z]{2,5}", opts in prop::collection::btree_map("[A-Z][a-z]{2,8}", "[a-z0-9]{0,8}", 0..4)) {
        let mut conversion = Conversion::to(target).from("png");
        for (k, v) in &opts {
            conversion = conversion.option(k.clone(), v.clone());
        }
        let mut request = JobRequest::new(Input::file_id("f0"), conversion);
        for i in 1..n {
            request = request.input(Input::file_id(format!("f{i}")));
        }
        let files: Vec<_> = (0..n).map(|i| FileValue::File(format!("f{i}"))).collect();
        let fields = form_fields(&request, &files, "id", 900);
        let reserved = opts.keys().any(|k| multiconvert_convertapi::request::is_reserved(k));
        prop_assert_eq!(fields.is_ok(), !reserved);
        if let Ok(fields) = fields {
            prop_assert!(fields.contains(&("StoreFile".to_string(), "true".to_string())));
            prop_assert!(fields.contains(&("JobId".to_string(), "id".to_string())));
        }
    }
}

#[test]
fn rate_and_price_come_from_their_variables_and_reach_the_provider() {
    use multiconvert_convertapi::config::{default_rate, Config};
    use multiconvert_core::ConversionProvider;
    multiconvert_conformance::template::check_rate_and_price(
        |env| Config::from_lookup(env),
        multiconvert_conformance::template::VendorNames {
            key: "CONVERTAPI_SECRET",
            instance: "convertapi",
        },
        default_rate(),
        Config::rate,
        Config::price,
        Config::with_http,
        |c| {
            multiconvert_convertapi::ConvertApi::new(c)
                .unwrap()
                .info()
                .price
        },
    );
}
