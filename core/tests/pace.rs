//! One request budget per provider instance, through the real HTTP client against a loopback
//! server: every client given the budget shares its rate, and a 429 holds all of them back.

use std::time::{Duration, Instant};

use multiconvert_core::http::{HttpClient, HttpConfig, RequestSpec};
use multiconvert_core::pace::{Rate, RequestBudget};
use multiconvert_core::Operation;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn get(client: &HttpClient, url: String) -> u16 {
    client
        .send(RequestSpec::new(Operation::Poll), |c| Ok(c.get(&url)))
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Two clients built on one budget of 20 requests a second: 20 requests at once, from both, take
/// the 19 intervals between them, however they are spread.
#[tokio::test]
async fn every_client_on_one_budget_shares_its_rate() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let config = HttpConfig::default().with_budget(RequestBudget::new(Rate::per_second(20.0)));
    let a = HttpClient::new("vendor", config.clone()).unwrap();
    let b = HttpClient::new("vendor", config).unwrap();
    let started = Instant::now();
    let mut calls = Vec::new();
    for i in 0..20 {
        let client = if i % 2 == 0 { a.clone() } else { b.clone() };
        let url = format!("{}/jobs/{i}", server.uri());
        calls.push(tokio::spawn(async move { get(&client, url).await }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap(), 200);
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 20);
}

/// A 429 with `Retry-After: 1` on one request holds back a request to another job on the same
/// instance, which would otherwise have gone at once; both then succeed.
#[tokio::test]
async fn a_429_holds_back_every_request_of_the_instance() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jobs/busy"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let budget = RequestBudget::new(Rate::per_second(1000.0).with_burst(100));
    let client = HttpClient::new("vendor", HttpConfig::default().with_budget(budget)).unwrap();
    let busy = {
        let (client, url) = (client.clone(), format!("{}/jobs/busy", server.uri()));
        tokio::spawn(async move { get(&client, url).await })
    };
    // Until the 429 has been answered, nothing is paused.
    while server.received_requests().await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let other = Instant::now();
    assert_eq!(
        get(&client, format!("{}/jobs/other", server.uri())).await,
        200
    );
    let held = other.elapsed();
    assert!(
        held >= Duration::from_millis(700),
        "not held back: {held:?}"
    );
    assert_eq!(busy.await.unwrap(), 200);

    // Without a budget the same other request goes at once.
    let free = HttpClient::new("vendor", HttpConfig::default()).unwrap();
    let started = Instant::now();
    assert_eq!(
        get(&free, format!("{}/jobs/other", server.uri())).await,
        200
    );
    assert!(started.elapsed() < Duration::from_millis(700));
}
