//! No secret ever shows in `Debug` or `Display` of a public model, configuration or error.

use std::time::Duration;

use multiconvert_core::http::{HttpConfig, RetryPolicy};
use multiconvert_core::{
    CloudLocation, Conversion, Error, ErrorKind, Input, Job, JobHandle, JobRequest, JobStatus,
    Operation, Output, Secret,
};
use serde_json::json;

const SECRET: &str = "s3cr3t-VALUE-9f8e7d";

#[track_caller]
fn assert_hidden(what: &str, shown: String) {
    assert!(!shown.contains(SECRET), "{what} shows the secret: {shown}");
}

#[test]
fn models_hide_every_secret() {
    let cloud = CloudLocation::new("amazons3")
        .parameter("bucket", "b")
        .parameter("sas_token", SECRET)
        .credential("secretaccesskey", SECRET);
    let request = JobRequest::new(
        Input::remote(
            format!("https://example.com/f.pdf?X-Amz-Signature={SECRET}")
                .parse()
                .unwrap(),
        )
        .password(SECRET),
        Conversion::to("png").output_target(cloud.clone()),
    )
    .input(Input::cloud(cloud.clone()))
    .input(Input::bytes(SECRET.as_bytes().to_vec(), "a.txt"))
    .input(Input::base64(SECRET, "b.txt"));
    assert_hidden("JobRequest", format!("{request:?}"));
    assert_hidden("CloudLocation", format!("{cloud:?}"));

    let handle = JobHandle::new("p", "id").with_token(SECRET);
    assert_hidden("JobHandle", format!("{handle:?}"));

    let mut job = Job::new(handle, JobStatus::Completed);
    job.raw = Some(json!({"id": "id", "token": SECRET, "input": [{"credentials": {"k": SECRET}}]}));
    job.outputs.push(Output::new(format!(
        "https://dl.example.com/x.png?sig={SECRET}"
    )));
    assert_hidden("Job", format!("{job:?}"));

    let secret: Secret = Secret::new(SECRET);
    assert_hidden("Secret", format!("{secret:?} {secret}"));
}

#[test]
fn the_handle_keeps_its_token_when_stored() {
    let handle = JobHandle::new("p", "id").with_token(SECRET);
    let stored = serde_json::to_string(&handle).unwrap();
    assert!(stored.contains(SECRET), "the token must survive storage");
    let back: JobHandle = serde_json::from_str(&stored).unwrap();
    assert_eq!(back.token.unwrap().expose(), SECRET);
}

#[test]
fn errors_redact_bodies_and_never_show_urls() {
    let body = json!({"message": "bad", "token": SECRET, "credentials": {"password": SECRET}});
    let error = Error::new(
        ErrorKind::InvalidInput,
        "p",
        Operation::Submit,
        "bad request",
    )
    .with_http_status(400)
    .with_body(body.to_string().as_bytes())
    .with_retry_after(Duration::from_secs(1));
    assert_hidden("Error", format!("{error} {error:?}"));
    assert!(error.body().unwrap().contains("[REDACTED]"));

    let text = format!("<html>?Secret={SECRET}&x=1</html>");
    let error = Error::new(ErrorKind::Transport, "p", Operation::Poll, "bad gateway")
        .with_body(text.as_bytes());
    assert_hidden("Error with a text body", format!("{error} {error:?}"));
}

#[test]
fn configuration_hides_secrets() {
    let config = HttpConfig::default().with_retry(RetryPolicy::none());
    assert_hidden("HttpConfig", format!("{config:?}"));
}
