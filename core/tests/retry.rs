//! The single retry loop: what is retried, how often, how long it waits, and where secrets go.

use std::time::{Duration, Instant, SystemTime};

use multiconvert_core::http::{
    parse_retry_after, HttpClient, HttpConfig, Replay, RequestSpec, RetryPolicy,
};
use multiconvert_core::{Delivery, ErrorKind, Operation};
use proptest::prelude::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(attempts: u32) -> HttpClient {
    let retry = RetryPolicy::default()
        .with_max_attempts(attempts)
        .with_backoff(Duration::from_millis(5), Duration::from_millis(20));
    HttpClient::new("test", HttpConfig::default().with_retry(retry)).unwrap()
}

async fn status_then_ok(status: u16, headers: &[(&str, &str)]) -> MockServer {
    let server = MockServer::start().await;
    let mut first = ResponseTemplate::new(status);
    for (k, v) in headers {
        first = first.insert_header(*k, *v);
    }
    Mock::given(method("POST"))
        .and(path("/jobs"))
        .respond_with(first)
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/jobs"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    server
}

async fn post(client: &HttpClient, server: &MockServer, replay: Replay) -> u16 {
    let url = format!("{}/jobs", server.uri());
    let spec = RequestSpec::new(Operation::Submit).replay(replay);
    let response = client
        .send(spec, |c| Ok(c.post(&url).body("{}")))
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn throttling_is_retried_for_every_replay_class_but_one_shot() {
    for (replay, expected, requests) in [
        (Replay::Idempotent, 201, 2),
        (Replay::Keyed, 201, 2),
        (Replay::CreatesJob, 201, 2),
        (Replay::OneShot, 429, 1),
    ] {
        let server = status_then_ok(429, &[("retry-after", "0")]).await;
        assert_eq!(
            post(&client(3), &server, replay).await,
            expected,
            "{replay:?}"
        );
        assert_eq!(server.received_requests().await.unwrap().len(), requests);
    }
}

#[tokio::test]
async fn server_errors_are_retried_only_when_no_second_job_can_result() {
    for (replay, expected, requests) in [
        (Replay::Idempotent, 201, 2),
        (Replay::Keyed, 201, 2),
        (Replay::CreatesJob, 503, 1),
        (Replay::OneShot, 503, 1),
    ] {
        let server = status_then_ok(503, &[]).await;
        assert_eq!(
            post(&client(3), &server, replay).await,
            expected,
            "{replay:?}"
        );
        assert_eq!(server.received_requests().await.unwrap().len(), requests);
    }
}

#[tokio::test]
async fn attempts_are_bounded() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    assert_eq!(post(&client(4), &server, Replay::Idempotent).await, 500);
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
}

#[tokio::test]
async fn a_retry_after_beyond_the_total_deadline_is_not_waited_for() {
    let server = status_then_ok(429, &[("retry-after", "60")]).await;
    let retry = RetryPolicy::default().with_total_deadline(Duration::from_secs(5));
    let client = HttpClient::new("test", HttpConfig::default().with_retry(retry)).unwrap();
    let started = Instant::now();
    assert_eq!(post(&client, &server, Replay::Idempotent).await, 429);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_request_that_never_left_is_retried_even_when_it_creates_a_job() {
    // A port nothing listens on: the connection is refused before anything is sent.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jobs", listener.local_addr().unwrap());
    drop(listener);
    let mut calls = 0;
    let spec = RequestSpec::new(Operation::Submit).replay(Replay::CreatesJob);
    let error = client(3)
        .send(spec, |c| {
            calls += 1;
            Ok(c.post(&url))
        })
        .await
        .unwrap_err();
    assert_eq!(calls, 3);
    assert_eq!(error.kind(), ErrorKind::Transport);
    assert_eq!(error.delivery(), Delivery::NotSent);
    assert!(error.is_failover_eligible());
    assert!(!error.to_string().contains("127.0.0.1"), "{error}");
}

#[tokio::test]
async fn a_timeout_after_sending_is_ambiguous_and_not_retried_for_a_job_creating_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let mut timeouts = multiconvert_core::http::Timeouts::default();
    timeouts.request = Duration::from_millis(200);
    let client = HttpClient::new(
        "test",
        HttpConfig::default().with_timeouts(timeouts).with_retry(
            RetryPolicy::default().with_backoff(Duration::from_millis(5), Duration::from_millis(5)),
        ),
    )
    .unwrap();
    let url = format!("{}/jobs", server.uri());
    let spec = RequestSpec::new(Operation::Submit).replay(Replay::CreatesJob);
    let error = client.send(spec, |c| Ok(c.post(&url))).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert_eq!(error.delivery(), Delivery::Ambiguous);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_secret_bearing_request_never_follows_a_redirect() {
    let evil = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&evil)
        .await;
    let origin = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", format!("{}/steal", evil.uri())),
        )
        .mount(&origin)
        .await;
    let client = client(1);
    let url = format!("{}/jobs/1", origin.uri());
    let response = client
        .send(RequestSpec::new(Operation::Poll), |c| {
            Ok(c.get(&url).header("x-oc-api-key", "secret"))
        })
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 302);
    assert_eq!(evil.received_requests().await.unwrap().len(), 0);

    // A password-less download may follow it.
    let stream = client
        .download(&url, Default::default(), false)
        .await
        .unwrap();
    drop(stream);
    assert_eq!(evil.received_requests().await.unwrap().len(), 1);
}

#[test]
fn backoff_delays_grow_within_bounds() {
    let policy = RetryPolicy::default()
        .with_max_attempts(8)
        .with_backoff(Duration::from_millis(500), Duration::from_secs(8));
    let delays: Vec<_> = policy.backoff().collect();
    assert_eq!(delays.len(), 7);
    let mut floor = Duration::from_millis(500);
    for d in delays {
        assert!(d >= floor.min(Duration::from_secs(8)), "{d:?} < {floor:?}");
        assert!(d < Duration::from_secs(16), "{d:?} beyond twice the cap");
        floor *= 2;
    }
}

#[test]
fn retry_after_is_capped() {
    let policy = RetryPolicy::default();
    assert_eq!(
        policy.delay(Some(Duration::from_secs(3600)), None),
        Duration::from_secs(120)
    );
    assert_eq!(
        policy.delay(Some(Duration::from_secs(2)), Some(Duration::from_secs(9))),
        Duration::from_secs(2)
    );
    assert_eq!(
        policy.delay(None, Some(Duration::from_secs(1))),
        Duration::from_secs(1)
    );
}

#[test]
fn retry_after_forms() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    assert_eq!(
        parse_retry_after(" 12 ", now),
        Some(Duration::from_secs(12))
    );
    assert_eq!(
        parse_retry_after("1.5", now),
        Some(Duration::from_millis(1500))
    );
    let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
    assert_eq!(
        parse_retry_after(&later, now),
        Some(Duration::from_secs(30))
    );
    let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
    assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
    assert_eq!(parse_retry_after("-3", now), None);
    assert_eq!(parse_retry_after("", now), None);
    assert_eq!(parse_retry_after("NaN", now), None);
}

proptest! {
    #[test]
    fn retry_after_never_panics(value in ".{0,64}") {
        let _ = parse_retry_after(&value, SystemTime::now());
    }
}
