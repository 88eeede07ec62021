//! ConvertAPI's special flows against their cassettes, on both routes.

mod common;

use std::time::Duration;

use common::{builder, provider, replay, verify};
use multiconvert_conformance::fake_secret;
use multiconvert_conformance::scenarios::{fast_policy, standard_request, REMOTE_URL};
use multiconvert_convertapi::request::is_valid_job_id;
use multiconvert_convertapi::{AsyncRoute, AuthMode, ConvertApi};
use multiconvert_core::{
    ConversionProvider, ErrorKind, Input, JobHandle, JobRequest, JobStatus, ProviderExt,
};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

const ROUTES: [AsyncRoute; 2] = [AsyncRoute::Current, AsyncRoute::Legacy];

fn remote() -> JobRequest {
    standard_request(Input::remote(REMOTE_URL.parse().unwrap()))
}

fn fixed_id(route: AsyncRoute) -> &'static str {
    match route {
        AsyncRoute::Current => "rwvd6vtq58eurfwv5zw5h2ci2pgno1pn",
        AsyncRoute::Legacy => "d3bd2056-4330-4cf3-9b18-483a2412dd6b",
    }
}

fn handle(route: AsyncRoute) -> JobHandle {
    JobHandle::new("convertapi", fixed_id(route)).with_meta("route", route.as_str())
}

#[tokio::test]
async fn client_job_ids_have_the_route_s_format() {
    for route in ROUTES {
        let (_, r) = replay(route, "rate_limited_then_ok").await;
        let handle = provider(&r.base_url(), route)
            .submit(&remote())
            .await
            .unwrap();
        assert!(is_valid_job_id(&handle.id));
        match route {
            AsyncRoute::Current => {
                assert_eq!(handle.id.len(), 32);
                assert!(handle
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
            }
            AsyncRoute::Legacy => {
                assert!(uuid::Uuid::parse_str(&handle.id).is_ok() && handle.id.len() == 36)
            }
        }
        assert_eq!(handle.meta["route"], route.as_str());
        verify(&r);
    }
}

#[tokio::test]
async fn a_busy_poll_is_no_error_to_the_caller() {
    for route in ROUTES {
        let (_, r) = replay(route, "busy_poll").await;
        let p = provider(&r.base_url(), route);
        let job = p.convert(&remote(), &fast_policy()).await.unwrap();
        assert_eq!(job.status, JobStatus::Completed);
        assert_eq!(job.outputs.len(), 1);
        // Terminal results are cached: polling again sends nothing (the cassette has no more).
        let again = p.poll(&job.handle).await.unwrap();
        assert_eq!(again.outputs, job.outputs);
        verify(&r);
    }
}

#[tokio::test]
async fn an_expired_job_is_not_found() {
    for route in ROUTES {
        let (_, r) = replay(route, "expired_job").await;
        let p = provider(&r.base_url(), route);
        assert_eq!(
            p.poll(&handle(route)).await.unwrap().status,
            JobStatus::Processing
        );
        let e = p.poll(&handle(route)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.message().contains("expired"), "{e}");
        verify(&r);
    }
}

#[tokio::test]
async fn an_ambiguous_submit_is_reconciled_by_its_job_id_into_one_job() {
    for route in ROUTES {
        let (_, r) = replay(route, "ambiguous_submit_reconciled").await;
        let handle = provider(&r.base_url(), route)
            .submit(&remote())
            .await
            .unwrap();
        assert!(is_valid_job_id(&handle.id));
        // One submit, one poll, nothing else: verify() fails on any extra request.
        verify(&r);
    }
}

#[tokio::test]
async fn a_submit_that_did_not_land_is_resent_with_the_same_job_id() {
    for route in ROUTES {
        let (_, r) = replay(route, "ambiguous_submit_resubmits").await;
        provider(&r.base_url(), route)
            .submit(&remote())
            .await
            .unwrap();
        // The cassette's third interaction requires the JobId captured from the first.
        verify(&r);
    }
}

#[tokio::test]
async fn invalid_parameters_are_named_in_the_error() {
    for route in ROUTES {
        let (_, r) = replay(route, "invalid_parameters").await;
        let mut request = remote();
        request.conversions[0] = request.conversions[0].clone().option("PageRange", "abc");
        let e = provider(&r.base_url(), route)
            .submit(&request)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(e.provider_code(), Some("4000"));
        assert!(
            e.message()
                .contains("PageRange: The PageRange field is invalid."),
            "{e}"
        );
        assert!(!e.is_failover_eligible());
        verify(&r);
    }
}

#[tokio::test]
async fn an_unsupported_file_type_is_unsupported() {
    for route in ROUTES {
        let (_, r) = replay(route, "unsupported_415").await;
        let e = provider(&r.base_url(), route)
            .submit(&remote())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        verify(&r);
    }
}

#[tokio::test]
async fn deleting_an_unknown_job_is_not_found() {
    for route in ROUTES {
        let (_, r) = replay(route, "delete_not_found").await;
        let e = provider(&r.base_url(), route)
            .delete(&handle(route))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        verify(&r);
    }
}

#[tokio::test]
async fn query_authentication_only_when_configured() {
    for route in ROUTES {
        let (_, r) = replay(route, "query_auth").await;
        let p = ConvertApi::new(
            builder(&r.base_url(), route)
                .auth(AuthMode::Query)
                .build()
                .unwrap(),
        )
        .unwrap();
        p.submit(&remote()).await.unwrap();
        verify(&r);
    }
}

#[tokio::test]
async fn the_legacy_route_s_synchronous_answer_is_a_completed_job() {
    let (_, r) = replay(AsyncRoute::Legacy, "legacy_sync_answer").await;
    let p = provider(&r.base_url(), AsyncRoute::Legacy);
    let handle = p.submit(&remote()).await.unwrap();
    let job = p.poll(&handle).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.outputs[0].filename.as_deref(), Some("sample.jpg"));
    verify(&r);
}

#[tokio::test]
async fn semi_async_recovers_a_dropped_conversion_by_polling() {
    let (_, r) = replay(AsyncRoute::Legacy, "semi_async_recovered").await;
    let p = ConvertApi::new(builder(&r.base_url(), AsyncRoute::Legacy).build().unwrap()).unwrap();
    let job = p.convert_sync(&remote()).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    verify(&r);
}

/// Bearer authentication: across a whole convert, the secret appears in no URL, only in the
/// Authorization header, and never reaches the download host.
#[tokio::test]
async fn no_secret_ever_appears_in_a_url_with_bearer() {
    for route in ROUTES {
        let (_, r) = replay(route, "remote_input_completes").await;
        let p = provider(&r.base_url(), route);
        let job = p.convert(&remote(), &fast_policy()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        p.save(&job.outputs[0], dir.path(), &Default::default())
            .await
            .unwrap();
        verify(&r);
    }
    // And independently of cassettes: every request a real flow sends, inspected raw.
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"JobId": "x"})))
        .mount(&server)
        .await;
    let p = provider(&server.uri(), AsyncRoute::Current);
    let _ = p.submit(&remote()).await;
    let _ = p.poll(&JobHandle::new("convertapi", "abc")).await;
    let _ = p.delete(&JobHandle::new("convertapi", "abc")).await;
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    let secret = fake_secret("secret");
    for request in requests {
        assert!(!request.url.as_str().contains(&secret), "{}", request.url);
        let auth = request
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(auth, format!("Bearer {secret}"));
    }
}

#[tokio::test]
async fn polls_of_one_job_are_serialised_in_this_process() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(202).set_delay(Duration::from_millis(200)))
        .mount(&server)
        .await;
    let p = std::sync::Arc::new(
        ConvertApi::new(builder(&server.uri(), AsyncRoute::Current).build().unwrap()).unwrap(),
    );
    let h = JobHandle::new("convertapi", "rwvd6vtq58eurfwv5zw5h2ci2pgno1pn");
    let started = std::time::Instant::now();
    let (a, b) = tokio::join!(p.poll(&h), p.poll(&h));
    assert!(a.is_ok() && b.is_ok());
    // Two 200 ms polls that had run side by side would finish in about 200 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn inline_file_data_is_decoded_on_download() {
    use base64::Engine as _;
    let server = MockServer::start().await;
    let data = base64::engine::general_purpose::STANDARD.encode(b"inline result");
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "ConversionCost": 1, "Files": [{"FileName": "r.txt", "FileSize": 13, "FileData": data}]
        })))
        .mount(&server)
        .await;
    let p = provider(&server.uri(), AsyncRoute::Current);
    let job = p
        .poll(&JobHandle::new(
            "convertapi",
            "rwvd6vtq58eurfwv5zw5h2ci2pgno1pn",
        ))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let saved = p
        .save(&job.outputs[0], dir.path(), &Default::default())
        .await
        .unwrap();
    assert_eq!(std::fs::read(saved.path).unwrap(), b"inline result");
}

#[tokio::test]
async fn a_hostile_result_filename_stays_in_the_target_directory() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::path("/async/job/rwvd6vtq58eurfwv5zw5h2ci2pgno1pn"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "ConversionCost": 1, "Files": [{"FileName": "../evil.pdf", "FileSize": 4, "Url": format!("{}/d/f/evil.pdf", server.uri())}]
        })))
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::path("/d/f/evil.pdf"))
        .respond_with(ResponseTemplate::new(200).set_body_string("evil"))
        .mount(&server)
        .await;
    let p = provider(&server.uri(), AsyncRoute::Current);
    let job = p
        .poll(&JobHandle::new(
            "convertapi",
            "rwvd6vtq58eurfwv5zw5h2ci2pgno1pn",
        ))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out");
    let saved = p
        .save(&job.outputs[0], &target.join(""), &Default::default())
        .await
        .unwrap();
    assert_eq!(saved.path, target.join("evil.pdf"));
    assert!(!dir.path().join("evil.pdf").exists());
}

#[tokio::test]
async fn local_files_can_travel_inline_in_one_multipart_request() {
    let (_, r) = replay(AsyncRoute::Current, "inline_upload").await;
    let p = ConvertApi::new(
        builder(&r.base_url(), AsyncRoute::Current)
            .inline_uploads(true)
            .build()
            .unwrap(),
    )
    .unwrap();
    let request = standard_request(Input::bytes(
        multiconvert_conformance::scenarios::SAMPLE_PNG,
        "sample.png",
    ));
    let handle = p.submit(&request).await.unwrap();
    assert!(is_valid_job_id(&handle.id));
    verify(&r);
}

/// Item: a 5xx with ConvertAPI's JSON on submit is a server fault. The JobId is polled first;
/// unknown there, the submit is not resent and another vendor may take the job.
#[tokio::test]
async fn a_server_fault_on_submit_is_reconciled_then_failover_eligible() {
    for route in ROUTES {
        let (_, r) = replay(route, "server_fault_on_submit").await;
        let e = provider(&r.base_url(), route)
            .submit(&remote())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
        assert_eq!(e.http_status(), Some(500));
        assert_eq!(e.provider_code(), Some("50050"));
        assert_eq!(e.delivery(), multiconvert_core::Delivery::NoJobStarted);
        assert!(e.is_failover_eligible(), "{e}");
        // One submit, one reconciling poll, no resend: verify() fails on anything else.
        verify(&r);
    }
}

/// Down altogether (the reconciling poll fails the job too): still failover-eligible, no resend.
#[tokio::test]
async fn a_vendor_that_is_down_is_failover_eligible() {
    for route in ROUTES {
        let (_, r) = replay(route, "server_down").await;
        let e = provider(&r.base_url(), route)
            .submit(&remote())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
        assert!(e.is_failover_eligible(), "{e}");
        assert_eq!(
            e.job().map(|h| h.id.as_str()).map(is_valid_job_id),
            Some(true)
        );
        verify(&r);
    }
}

/// When the vendor cannot be asked about the JobId, the job may exist: no failover, no resend,
/// and the error carries the handle to reconcile later.
#[tokio::test]
async fn an_unanswerable_reconciliation_stays_ambiguous() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_json(
            serde_json::json!({"Code": 50050, "Message": "Unexpected error occurred."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::method("GET"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"))
        .mount(&server)
        .await;
    let e = provider(&server.uri(), AsyncRoute::Current)
        .submit(&remote())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport);
    assert!(!e.is_failover_eligible(), "{e}");
    let handle = e.job().expect("the handle to reconcile with");
    assert_eq!(handle.meta["route"], "current");
    server.verify().await;
}

/// Item: semi-async uses the sync endpoint's UUID JobId and the legacy poll route, whatever
/// async route is configured.
#[tokio::test]
async fn semi_async_on_the_current_route_uses_a_uuid_and_the_legacy_poll() {
    // The cassette's poll is `/job/{id}`; a 32-char JobId or `/async/job/` would not match.
    let (_, r) = replay(AsyncRoute::Legacy, "semi_async_recovered").await;
    let p = ConvertApi::new(builder(&r.base_url(), AsyncRoute::Current).build().unwrap()).unwrap();
    let job = p.convert_sync(&remote()).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.handle.meta["route"], "legacy");
    assert!(uuid::Uuid::parse_str(&job.handle.id).is_ok() && job.handle.id.len() == 36);
    verify(&r);
}

/// Item: a callback names where its job lives; confirming it polls there.
#[tokio::test]
async fn a_legacy_job_s_callback_is_confirmed_on_the_legacy_route() {
    let (cassette, r) = replay(AsyncRoute::Current, "webhook_legacy_job").await;
    let p = provider(&r.base_url(), AsyncRoute::Current);
    let id = &cassette.params["job_id"];
    let request = multiconvert_core::WebhookRequest::new(
        http::Method::GET,
        format!("/hooks/convertapi?JobId={id}"),
        http::HeaderMap::new(),
        Vec::new(),
    );
    let event = p.webhook(&request).unwrap();
    assert_eq!(event.meta["route"], "legacy");
    let job = p.confirm(&event).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    verify(&r);
}

/// Item: deleting from a process that did not submit the job removes its result files too (the
/// cassette requires the DELETE of the stored file).
#[tokio::test]
async fn a_delete_from_another_process_removes_the_result_files() {
    for route in ROUTES {
        let (_, r) = replay(route, "delete_job").await;
        // A fresh provider, and a handle rebuilt from the bare id: nothing in memory.
        let handle = JobHandle::new("convertapi", fixed_id(route));
        provider(&r.base_url(), route)
            .delete(&handle)
            .await
            .unwrap();
        verify(&r);
    }
}

/// Item: instances of one vendor are told apart by a configurable name.
#[tokio::test]
async fn a_named_instance_names_handles_events_and_errors() {
    let (_, r) = replay(AsyncRoute::Current, "server_fault_on_submit").await;
    let p = ConvertApi::new(
        builder(&r.base_url(), AsyncRoute::Current)
            .name("convertapi-eu")
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(p.info().name, "convertapi-eu");
    let e = p.submit(&remote()).await.unwrap_err();
    assert_eq!(e.provider(), "convertapi-eu");
    verify(&r);
    let request = multiconvert_core::WebhookRequest::new(
        http::Method::POST,
        "/hooks/convertapi-eu",
        http::HeaderMap::new(),
        serde_json::to_vec(&serde_json::json!({"JobId": fixed_id(AsyncRoute::Current)})).unwrap(),
    );
    let event = p.webhook(&request).unwrap();
    assert_eq!(event.provider, "convertapi-eu");
    assert_eq!(event.handle().provider, "convertapi-eu");
    assert!(builder("https://example.com", AsyncRoute::Current)
        .name("")
        .build()
        .is_err());
}
