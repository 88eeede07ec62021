//! Flows beyond the shared scenarios, on wiremock: a create whose outcome is unknown is looked up
//! by its tag and never sent twice when it landed; a request with its own key is looked up before
//! its first send; the sync wait is one request; uploads never carry the key.

use std::time::Duration;

use multiconvert_cloudconvert::{CloudConvert, Config};
use multiconvert_core::http::{HttpConfig, RetryPolicy};
use multiconvert_core::{
    Conversion, ConversionProvider, Input, JobRequest, JobStatus, PollPolicy, ProviderExt,
};
use serde_json::{json, Value};
use wiremock::matchers::{header_exists, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "cc-flow-key-5d1f8a";
const JOB: &str = "0e4c8f8e-7a3b-4d59-9a43-7b1cf3f8d2a1";

fn provider(server: &MockServer, sync: bool) -> CloudConvert {
    let mut builder = Config::builder()
        .api_key(KEY)
        .base_url(format!("{}/v2", server.uri()))
        .http(
            HttpConfig::default().with_retry(
                RetryPolicy::default()
                    .with_backoff(Duration::from_millis(5), Duration::from_millis(20)),
            ),
        )
        .poll_policy(PollPolicy::fixed(
            Duration::from_millis(10),
            Duration::from_secs(10),
        ));
    if sync {
        builder = builder.sync_base_url(format!("{}/sync/v2", server.uri()));
    }
    CloudConvert::new(builder.build().unwrap()).unwrap()
}

fn job(status: &str, tag: &str, server: &str) -> Value {
    json!({"data": {"id": JOB, "tag": tag, "status": status, "tasks": [
        {"id": "a", "name": "import-1", "operation": "import/url", "status": "finished"},
        {"id": "c", "name": "convert-1-1", "operation": "convert", "status": status},
        {"id": "e", "name": "export", "operation": "export/url", "status": status,
         "result": {"files": [{"filename": "sample.jpg", "size": 3, "url": format!("{server}/files/sample.jpg")}]}}
    ]}})
}

fn request() -> JobRequest {
    JobRequest::new(
        Input::remote("https://example.com/sample.png".parse().unwrap()),
        Conversion::to("jpg"),
    )
}

fn tag_of(request: &Request) -> String {
    serde_json::from_slice::<Value>(&request.body).unwrap()["tag"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_create_that_landed_behind_a_500_is_found_by_its_tag_not_sent_again() {
    let server = MockServer::start().await;
    let uri = server.uri();
    // Before the first send: no job has the tag yet.
    Mock::given(method("GET"))
        .and(path("/v2/jobs"))
        .and(query_param("filter[tag]", "order-42"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": [], "links": {}, "meta": {}})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    // The create answers 500, yet the job ran (node#60).
    Mock::given(method("POST"))
        .and(path("/v2/jobs"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"message": "Server Error", "code": "INTERNAL_ERROR"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/jobs"))
        .and(query_param("filter[tag]", "order-42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": JOB, "tag": "order-42", "status": "processing"}], "links": {}, "meta": {}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/jobs/{JOB}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(job("processing", "order-42", &uri)))
        .mount(&server)
        .await;
    let cc = provider(&server, false);
    let handle = cc
        .submit(&request().idempotency_key("order-42"))
        .await
        .unwrap();
    assert_eq!(handle.id, JOB);
    let received = server.received_requests().await.unwrap();
    let posts: Vec<String> = received
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(tag_of)
        .collect();
    assert_eq!(posts, ["order-42"], "a create was sent twice");
}

#[tokio::test]
async fn an_ambiguous_create_whose_tag_is_unknown_is_sent_once_more_with_the_same_tag() {
    let server = MockServer::start().await;
    let uri = server.uri();
    Mock::given(method("POST"))
        .and(path("/v2/jobs"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/jobs"))
        .respond_with(ResponseTemplate::new(201).set_body_json(job("waiting", "t", &uri)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/jobs"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": [], "links": {}, "meta": {}})),
        )
        .mount(&server)
        .await;
    let cc = provider(&server, false);
    let handle = cc.submit(&request()).await.unwrap();
    assert_eq!(handle.id, JOB);
    let received = server.received_requests().await.unwrap();
    let posts: Vec<String> = received
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(tag_of)
        .collect();
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert_eq!(posts[0], posts[1], "a resend carries the same tag");
    let lookup = received
        .iter()
        .position(|r| r.method.as_str() == "GET")
        .unwrap();
    assert_eq!(lookup, 1, "the tag was looked up between the two creates");
}

#[tokio::test]
async fn a_request_with_its_own_key_takes_up_the_job_already_tagged_with_it() {
    let server = MockServer::start().await;
    let uri = server.uri();
    Mock::given(method("GET"))
        .and(path("/v2/jobs"))
        .and(query_param("filter[tag]", "batch-7-file-3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": JOB, "tag": "batch-7-file-3", "status": "finished"}], "links": {}, "meta": {}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/jobs/{JOB}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(job(
            "finished",
            "batch-7-file-3",
            &uri,
        )))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let cc = provider(&server, false);
    let handle = cc
        .submit(&request().idempotency_key("batch-7-file-3"))
        .await
        .unwrap();
    assert_eq!(handle.id, JOB);
}

#[tokio::test]
async fn the_sync_wait_is_one_request_and_without_a_sync_host_it_polls() {
    let server = MockServer::start().await;
    let uri = server.uri();
    Mock::given(method("GET"))
        .and(path(format!("/sync/v2/jobs/{JOB}")))
        .and(header_exists("authorization"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_millis(200))
                .set_body_json(job("finished", "t", &uri)),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/jobs/{JOB}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(job("finished", "t", &uri)))
        .expect(1)
        .mount(&server)
        .await;
    let handle = multiconvert_core::JobHandle::new("cloudconvert", JOB);
    let synced = provider(&server, true);
    let job = synced
        .wait(&handle, &synced.info().poll_policy)
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    let polled = provider(&server, false);
    let job = polled
        .wait(&handle, &polled.info().poll_policy)
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed);
}

#[tokio::test]
async fn uploads_go_to_the_task_form_without_the_key_and_the_key_never_shows() {
    let server = MockServer::start().await;
    let uri = server.uri();
    // Raw text: the form's fields in this order ("key" before "expires", the reverse of sorted
    // keys) must reach the storage in it.
    let waiting = format!(
        r#"{{"data": {{"id": "{JOB}", "tag": "t", "status": "waiting", "tasks": [
        {{"id": "a", "name": "import-1", "operation": "import/upload", "status": "waiting",
         "result": {{"form": {{"url": "{uri}/storage", "parameters": {{"key": "a/${{filename}}", "expires": 1700000000}}}}}}}},
        {{"id": "c", "name": "convert-1-1", "operation": "convert", "status": "waiting"}},
        {{"id": "e", "name": "export", "operation": "export/url", "status": "waiting"}}]}}}}"#
    );
    Mock::given(method("POST"))
        .and(path("/v2/jobs"))
        .respond_with(ResponseTemplate::new(201).set_body_raw(waiting, "application/json"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/storage"))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/jobs/{JOB}")))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"message": "Unauthenticated."})),
        )
        .mount(&server)
        .await;
    let cc = provider(&server, false);
    let request = JobRequest::new(
        Input::bytes(b"PNG-ish".to_vec(), "my photo.png"),
        Conversion::to("jpg"),
    );
    let handle = cc.submit(&request).await.unwrap();
    let received = server.received_requests().await.unwrap();
    let upload = received
        .iter()
        .find(|r| r.url.path() == "/storage")
        .unwrap();
    assert!(
        upload.headers.get("authorization").is_none(),
        "the key went to the storage"
    );
    let body = String::from_utf8_lossy(&upload.body);
    let key_at = body.find("name=\"key\"").unwrap();
    let expires_at = body.find("name=\"expires\"").unwrap();
    let file_at = body.find("name=\"file\"").unwrap();
    assert!(key_at < expires_at && expires_at < file_at, "{body}");
    assert!(body.contains("1700000000"));
    assert!(body.contains("filename=\"my photo.png\""), "{body}");
    // Errors and Debug output never show the key.
    let e = cc.poll(&handle).await.unwrap_err();
    for text in [
        format!("{e}"),
        format!("{e:?}"),
        format!("{cc:?}"),
        format!("{:?}", cc.config()),
    ] {
        assert!(!text.contains(KEY), "{text}");
    }
}
