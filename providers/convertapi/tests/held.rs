//! The default submit style: a short job is converted by one request held open until ConvertAPI
//! answers (semi-async, with a client UUID JobId), so the wait that follows needs no poll; a
//! callback, a long expected duration or a journal sends the job async instead.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::builder;
use multiconvert_conformance::scenarios::{standard_request, REMOTE_URL};
use multiconvert_convertapi::{AsyncRoute, ConvertApi, SubmitStyle};
use multiconvert_core::journal::{Journaled, SubmitJournal};
use multiconvert_core::{
    ConversionProvider, ErrorKind, Input, JobHandle, JobRequest, JobStatus, PollPolicy, ProviderExt,
};
use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn request() -> JobRequest {
    standard_request(Input::remote(REMOTE_URL.parse().unwrap()))
}

fn held(server: &MockServer, route: AsyncRoute) -> ConvertApi {
    ConvertApi::new(
        builder(&server.uri(), route)
            .submit_style(SubmitStyle::Auto)
            .build()
            .unwrap(),
    )
    .unwrap()
}

fn result(server: &MockServer) -> serde_json::Value {
    json!({"ConversionCost": 1, "Files": [{"FileName": "sample.jpg", "FileExt": "jpg", "FileSize": 38,
        "FileId": "v01plsb72o0cmdooq90w4d1lnqsf6oy4",
        "Url": format!("{}/d/v01plsb72o0cmdooq90w4d1lnqsf6oy4/sample.jpg", server.uri())}]})
}

/// The form fields of the `n`th request the server received.
async fn form(server: &MockServer, n: usize) -> Vec<(String, String)> {
    let requests = server.received_requests().await.unwrap();
    url::form_urlencoded::parse(&requests[n].body)
        .into_owned()
        .collect()
}

#[tokio::test]
async fn a_short_job_is_held_to_its_answer_and_its_wait_sends_no_poll() {
    for route in [AsyncRoute::Current, AsyncRoute::Legacy] {
        let server = MockServer::start().await;
        // The synchronous endpoint, without `Async` and without the `/async/` prefix.
        Mock::given(method("POST"))
            .and(path("/convert/png/to/jpg"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_delay(Duration::from_millis(300))
                    .set_body_json(result(&server)),
            )
            .expect(1)
            .mount(&server)
            .await;
        let p = held(&server, route);
        let handle = p.submit(&request()).await.unwrap();
        // The JobId is a client UUID on the legacy route, whatever route is configured.
        assert!(uuid::Uuid::parse_str(&handle.id).is_ok(), "{}", handle.id);
        assert_eq!(handle.meta["route"], "legacy");
        let fields = form(&server, 0).await;
        assert!(
            fields.contains(&("JobId".into(), handle.id.clone())),
            "{fields:?}"
        );
        assert!(!fields.iter().any(|(k, _)| k.eq_ignore_ascii_case("Async")));
        let requests = server.received_requests().await.unwrap();
        assert!(requests[0].url.query().is_none_or(|q| !q.contains("Async")));

        // The job is done: the wait's first poll is answered from memory.
        let job = p
            .wait(
                &handle,
                &PollPolicy::fixed(Duration::from_secs(60), Duration::from_secs(60)),
            )
            .await
            .unwrap();
        assert_eq!(job.status, JobStatus::Completed);
        assert_eq!(job.outputs[0].filename.as_deref(), Some("sample.jpg"));
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
        server.verify().await;
    }
}

#[tokio::test]
async fn a_conversion_that_fails_while_held_is_a_failed_job() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/convert/png/to/jpg"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"Code": 5001, "Message": "Conversion failed."})),
        )
        // One per convert: a failed conversion is an answer, never retried.
        .expect(2)
        .mount(&server)
        .await;
    let p = held(&server, AsyncRoute::Current);
    let handle = p.submit(&request()).await.unwrap();
    let job = p.poll(&handle).await.unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.errors().next().unwrap().text, "Conversion failed.");
    let error = p
        .convert(
            &request(),
            &multiconvert_conformance::scenarios::fast_policy(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ConversionFailed, "{error}");
    server.verify().await;
}

#[tokio::test]
async fn a_refusal_while_held_fails_the_submit() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/convert/png/to/jpg"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"Code": 4010, "Message": "Bad secret."})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let error = held(&server, AsyncRoute::Current)
        .submit(&request())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unauthenticated, "{error}");
    server.verify().await;
}

#[derive(Debug)]
struct NoteOnly;

#[async_trait]
impl SubmitJournal for NoteOnly {
    async fn record_handle(&self, _: &JobHandle) -> multiconvert_core::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_callback_a_long_job_or_a_journal_goes_async() {
    let long = request().expected_duration(Duration::from_secs(600));
    let hooked = request().callback("https://app.example.com/hooks/convertapi".parse().unwrap());
    let short = request().expected_duration(Duration::from_secs(5));
    for (what, request, journaled, asynchronous) in [
        ("long", long, false, true),
        ("callback", hooked, false, true),
        ("journal", request(), true, true),
        ("short", short, false, false),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/async/convert/png/to/jpg"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"JobId": "rwvd6vtq58eurfwv5zw5h2ci2pgno1pn"})),
            )
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex("^/convert/"))
            .respond_with(ResponseTemplate::new(200).set_body_json(result(&server)))
            .mount(&server)
            .await;
        let provider: Arc<dyn ConversionProvider> = Arc::new(held(&server, AsyncRoute::Current));
        let provider = match journaled {
            true => Arc::new(Journaled::new(provider, Arc::new(NoteOnly))),
            false => provider,
        };
        provider.submit(&request).await.unwrap();
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 1, "{what}");
        assert_eq!(
            requests[0].url.path().starts_with("/async/"),
            asynchronous,
            "{what}: {}",
            requests[0].url
        );
    }
}

#[tokio::test]
async fn the_async_style_never_holds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/async/convert/png/to/jpg"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"JobId": "rwvd6vtq58eurfwv5zw5h2ci2pgno1pn"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let p = ConvertApi::new(builder(&server.uri(), AsyncRoute::Current).build().unwrap()).unwrap();
    assert_eq!(p.config().submit_style(), SubmitStyle::Async);
    let handle = p.submit(&request()).await.unwrap();
    assert_eq!(handle.id, "rwvd6vtq58eurfwv5zw5h2ci2pgno1pn");
    server.verify().await;
}
