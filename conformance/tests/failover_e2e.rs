//! End to end: a failover from a dead vendor to a live one, and the webhook receiver on a real
//! axum server on loopback with wiremock vendors — a genuine callback, a replayed one and forged
//! ones.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use multiconvert_conformance::scenarios::{fast_policy, standard_request, REMOTE_URL};
use multiconvert_conformance::{fake_secret, Cassette, Replay};
use multiconvert_convertapi::{AsyncRoute, ConvertApi};
use multiconvert_core::failover::Failover;
use multiconvert_core::http::{HttpConfig, RetryPolicy};
use multiconvert_core::receiver::WebhookReceiver;
use multiconvert_core::{
    CallbackSigner, ConversionProvider, ErrorKind, Input, JobStatus, ProviderExt, SaveOptions,
};
use multiconvert_online_convert::OnlineConvert;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixtures(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures")).join(rel)
}

fn fast_http() -> HttpConfig {
    HttpConfig::default().with_retry(
        RetryPolicy::default().with_backoff(Duration::from_millis(5), Duration::from_millis(20)),
    )
}

fn online_convert(base: &str) -> Arc<dyn ConversionProvider> {
    Arc::new(
        OnlineConvert::new(
            multiconvert_online_convert::Config::builder()
                .api_key(fake_secret("api_key"))
                .base_url(base)
                .http(fast_http())
                .build()
                .unwrap(),
        )
        .unwrap(),
    )
}

fn convertapi(base: &str) -> Arc<dyn ConversionProvider> {
    Arc::new(
        ConvertApi::new(
            multiconvert_convertapi::Config::builder()
                .submit_style(multiconvert_convertapi::SubmitStyle::Async)
                .secret(fake_secret("secret"))
                .base_url(base)
                .route(AsyncRoute::Current)
                .http(fast_http())
                .build()
                .unwrap(),
        )
        .unwrap(),
    )
}

fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/v2")
}

#[tokio::test]
async fn with_the_first_vendor_down_the_job_completes_on_the_second() {
    let dir = fixtures("convertapi/current");
    let cassette = Cassette::load(&dir.join("remote_input_completes.json")).unwrap();
    let replay = Replay::start(&cassette, &dir).await;
    let router = Failover::builder()
        .member(online_convert(&dead_address()))
        .member(convertapi(&replay.base_url()))
        .build()
        .unwrap();
    let request = standard_request(Input::remote(REMOTE_URL.parse().unwrap()));
    let job = router.convert(&request, &fast_policy()).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(
        job.handle.provider, "convertapi",
        "the handle names the second vendor"
    );
    let attempts = Failover::attempts(&job.handle);
    assert_eq!(attempts[0].provider, "online-convert");
    assert_eq!(attempts[0].error, Some(ErrorKind::Transport));
    assert_eq!(attempts[1].provider, "convertapi");
    assert!(router.is_cooling("online-convert"));
    // The output is fetched through the owner.
    let out = tempfile::tempdir().unwrap();
    let saved = router
        .save(&job.outputs[0], out.path(), &SaveOptions::default())
        .await
        .unwrap();
    assert!(saved.size > 0);
    if let Err(report) = replay.verify() {
        panic!("{report}");
    }
}

const JOB: &str = "8daae6d1-26e0-11e5-b2a1-0800273b325b";
const CA_JOB: &str = "rwvd6vtq58eurfwv5zw5h2ci2pgno1pn";

fn completed_job(id: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "status": {"code": "completed", "info": ""}, "output": [],
        "modified_at": "2017-08-15T17:21:30"})
}

async fn vendors() -> MockServer {
    let vendor = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/jobs/{JOB}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(completed_job(JOB)))
        .mount(&vendor)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/jobs/00000000-0000-0000-0000-000000000000"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(serde_json::json!({"message": "no such job"})),
        )
        .mount(&vendor)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/async/job/{CA_JOB}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "ConversionCost": 1,
            "Files": [{"FileName": "a.pdf", "FileSize": 3, "Url": "https://example.com/d/x/a.pdf"}]
        })))
        .mount(&vendor)
        .await;
    vendor
}

#[tokio::test]
async fn the_webhook_receiver_confirms_genuine_callbacks_and_refuses_the_rest() {
    let vendor = vendors().await;
    let signer = CallbackSigner::new(fake_secret("callback_key")).unwrap();
    let (receiver, mut updates) = WebhookReceiver::builder()
        .provider(online_convert(&format!("{}/v2", vendor.uri())))
        .provider(convertapi(&vendor.uri()))
        .signer(signer.clone())
        .build()
        .unwrap();
    let app = axum::Router::new().nest("/hooks", receiver.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base: url::Url = format!("http://{}/hooks/", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    multiconvert_core::http::install_crypto_provider();
    let http = reqwest::Client::new();
    let post = |url: url::Url, body: serde_json::Value| {
        let http = http.clone();
        async move {
            http.post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let oc_hook = base.join("online-convert").unwrap();

    // Genuine: the URL submit would have made, the job JSON the vendor posts.
    let genuine = signer.sign(&oc_hook, JOB);
    assert_eq!(post(genuine.clone(), completed_job(JOB)).await, 200);
    let job = tokio::time::timeout(Duration::from_secs(5), updates.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.handle.id, JOB);
    assert_eq!(job.status, JobStatus::Completed);

    // Replayed: acknowledged, dropped.
    assert_eq!(post(genuine, completed_job(JOB)).await, 200);

    // Forged: no token, a token for another job, a garbage token.
    assert_eq!(post(oc_hook.clone(), completed_job(JOB)).await, 401);
    assert_eq!(
        post(signer.sign(&oc_hook, "another-job"), completed_job(JOB)).await,
        401
    );
    assert_eq!(
        post(
            oc_hook.join("online-convert/mc-00").unwrap(),
            completed_job(JOB)
        )
        .await,
        401
    );
    // A body that is not a job at all.
    assert_eq!(
        post(signer.sign(&oc_hook, JOB), serde_json::json!({"hello": 1})).await,
        401
    );
    // A correctly tokened callback for a job the vendor does not know.
    let unknown = "00000000-0000-0000-0000-000000000000";
    assert_eq!(
        post(signer.sign(&oc_hook, unknown), completed_job(unknown)).await,
        404
    );
    // An unknown provider.
    assert_eq!(
        post(base.join("acme").unwrap(), completed_job(JOB)).await,
        404
    );

    // ConvertAPI's legacy GET shape, with the token in the path so `?JobId=` appends cleanly.
    let mut ca_hook = signer.sign(&base.join("convertapi").unwrap(), CA_JOB);
    ca_hook.set_query(Some(&format!("JobId={CA_JOB}")));
    let status = http.get(ca_hook).send().await.unwrap().status().as_u16();
    assert_eq!(status, 200);
    let job = tokio::time::timeout(Duration::from_secs(5), updates.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.handle.id, CA_JOB);

    // Nothing else reached the stream: the replay and the forgeries changed nothing.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), updates.recv())
            .await
            .is_err()
    );
    // Forgeries never made the vendor poll: only the genuine callbacks and the unknown job did.
    let polls = vendor.received_requests().await.unwrap();
    assert_eq!(
        polls.len(),
        3,
        "{:?}",
        polls
            .iter()
            .map(|r| r.url.path().to_owned())
            .collect::<Vec<_>>()
    );
    server.abort();
}

#[tokio::test]
async fn submit_signs_the_callback_with_the_job_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"JobId": "ignored"})),
        )
        .mount(&server)
        .await;
    let signer = CallbackSigner::new("k").unwrap();
    let request = standard_request(Input::remote(REMOTE_URL.parse().unwrap()))
        .callback("https://app.example.com/hooks/convertapi".parse().unwrap())
        .sign_callback(signer.clone());
    let provider = ConvertApi::new(
        multiconvert_convertapi::Config::builder()
            .submit_style(multiconvert_convertapi::SubmitStyle::Async)
            .secret("s")
            .base_url(server.uri())
            .build()
            .unwrap(),
    )
    .unwrap();
    provider.submit(&request).await.unwrap();
    let sent = &server.received_requests().await.unwrap()[0];
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&sent.body)
        .into_owned()
        .collect();
    let job_id = &form.iter().find(|(k, _)| k == "JobId").unwrap().1;
    let webhook: url::Url = form
        .iter()
        .find(|(k, _)| k == "WebHook")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let token = webhook.path_segments().unwrap().next_back().unwrap();
    assert!(signer.verify(token, job_id));
}

#[tokio::test]
async fn online_convert_sets_a_signed_callback_when_it_starts_the_job() {
    let server = MockServer::start().await;
    let staged = serde_json::json!({"id": JOB, "token": "t", "status": {"code": "ready"}, "input": [],
        "server": format!("{}/dl", server.uri())});
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(staged))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"id": JOB, "status": {"code": "downloading"}})),
        )
        .mount(&server)
        .await;
    let signer = CallbackSigner::new("k").unwrap();
    let request = standard_request(Input::remote(REMOTE_URL.parse().unwrap()))
        .callback(
            "https://app.example.com/hooks/online-convert"
                .parse()
                .unwrap(),
        )
        .sign_callback(signer.clone());
    online_convert(&format!("{}/v2", server.uri()))
        .submit(&request)
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    let create: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert!(
        create.get("callback").is_none(),
        "the id is unknown at create time"
    );
    let start: serde_json::Value = serde_json::from_slice(&requests[1].body).unwrap();
    let callback: url::Url = start["callback"].as_str().unwrap().parse().unwrap();
    let token = callback.path_segments().unwrap().next_back().unwrap();
    assert!(signer.verify(token, JOB));
    assert_eq!(start["process"], true);
}

#[tokio::test]
async fn format_catalogs_are_asked_once_and_steer_the_router() {
    use multiconvert_core::failover::FormatCatalog;

    let dir = fixtures("convertapi/current");
    let replay = Replay::start(&Cassette::load(&dir.join("canconvert.json")).unwrap(), &dir).await;
    let ca = Arc::new(
        ConvertApi::new(
            multiconvert_convertapi::Config::builder()
                .submit_style(multiconvert_convertapi::SubmitStyle::Async)
                .secret(fake_secret("secret"))
                .base_url(replay.base_url())
                .http(fast_http())
                .build()
                .unwrap(),
        )
        .unwrap(),
    );
    assert_eq!(ca.supports("PNG", "jpg").await.unwrap(), Some(true));
    assert_eq!(
        ca.supports("png", "jpg").await.unwrap(),
        Some(true),
        "cached"
    );
    // A 404 cannot tell "not supported" from "no such endpoint here": unknown, asked once.
    assert_eq!(ca.supports("png", "mp3").await.unwrap(), None);
    assert_eq!(ca.supports("png", "mp3").await.unwrap(), None, "cached");
    if let Err(report) = replay.verify() {
        panic!("{report}");
    }

    let dir = fixtures("online-convert");
    let replay = Replay::start(
        &Cassette::load(&dir.join("catalog_targets.json")).unwrap(),
        &dir,
    )
    .await;
    let oc = Arc::new(
        OnlineConvert::new(
            multiconvert_online_convert::Config::builder()
                .api_key(fake_secret("api_key"))
                .base_url(format!("{}/v2", replay.base_url()))
                .http(fast_http())
                .build()
                .unwrap(),
        )
        .unwrap(),
    );
    assert_eq!(oc.supports("gif", "jpg").await.unwrap(), Some(true));
    assert_eq!(
        oc.supports("gif", "mp3").await.unwrap(),
        Some(false),
        "read once"
    );
    if let Err(report) = replay.verify() {
        panic!("{report}");
    }

    // png → mp3: ConvertAPI's catalog cannot tell (cached above), so the member stays eligible
    // and its own answer decides: it refuses the pair (415), and the next member takes the job.
    let refusing = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/async/convert/png/to/mp3"))
        .respond_with(ResponseTemplate::new(415).set_body_json(
            serde_json::json!({"Code": 4150, "Message": "The file type is not supported."}),
        ))
        .expect(1)
        .mount(&refusing)
        .await;
    let ca_refusing = convertapi(&refusing.uri());
    let next = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "id": JOB, "token": "t", "status": {"code": "ready"}, "input": [], "server": "https://x/dl"
        })))
        .mount(&next)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"id": JOB, "status": {"code": "downloading"}})),
        )
        .mount(&next)
        .await;
    let router = Failover::builder()
        .member_with_catalog(ca_refusing, ca.clone())
        .member(online_convert(&format!("{}/v2", next.uri())))
        .build()
        .unwrap();
    let request = multiconvert_core::JobRequest::new(
        Input::remote("https://example.com/a.png".parse().unwrap()),
        multiconvert_core::Conversion::to("mp3"),
    );
    let handle = router.submit(&request).await.unwrap();
    assert_eq!(handle.provider, "online-convert");
    let attempts = Failover::attempts(&handle);
    assert_eq!(attempts[0].provider, "convertapi");
    assert_eq!(
        attempts[0].error,
        Some(ErrorKind::Unsupported),
        "{attempts:?}"
    );
    // Refusing a pair says nothing about the vendor's health.
    assert!(!router.is_cooling("convertapi"));
    refusing.verify().await;
}

/// ConvertAPI first and down (5xx with its error JSON on submit and on the reconciling poll):
/// nothing is resent to it, and the job completes on the next member.
#[tokio::test]
async fn with_convertapi_down_the_job_completes_on_the_next_member() {
    let ca_dir = fixtures("convertapi/current");
    let down = Replay::start(
        &Cassette::load(&ca_dir.join("server_down.json")).unwrap(),
        &ca_dir,
    )
    .await;
    let oc_dir = fixtures("online-convert");
    let live = Replay::start(
        &Cassette::load(&oc_dir.join("remote_input_completes.json")).unwrap(),
        &oc_dir,
    )
    .await;
    let router = Failover::builder()
        .member(convertapi(&down.base_url()))
        .member(online_convert(&format!("{}/v2", live.base_url())))
        .build()
        .unwrap();
    let request = standard_request(Input::remote(REMOTE_URL.parse().unwrap()));
    let job = router.convert(&request, &fast_policy()).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.handle.provider, "online-convert");
    let attempts = Failover::attempts(&job.handle);
    assert_eq!(attempts[0].provider, "convertapi");
    assert_eq!(attempts[0].error, Some(ErrorKind::Transport));
    assert!(router.is_cooling("convertapi"));
    let out = tempfile::tempdir().unwrap();
    let saved = router
        .save_all(&job, out.path(), &SaveOptions::default())
        .await
        .unwrap();
    assert_eq!(saved.len(), 1);
    assert!(saved[0].size > 0);
    for replay in [&down, &live] {
        if let Err(report) = replay.verify() {
            panic!("{report}");
        }
    }
}

fn named_convertapi(name: &str, base: &str, route: AsyncRoute) -> Arc<dyn ConversionProvider> {
    Arc::new(
        ConvertApi::new(
            multiconvert_convertapi::Config::builder()
                .submit_style(multiconvert_convertapi::SubmitStyle::Async)
                .name(name)
                .secret(fake_secret("secret"))
                .base_url(base)
                .route(route)
                .http(fast_http())
                .build()
                .unwrap(),
        )
        .unwrap(),
    )
}

/// Two accounts of one vendor mount side by side under their instance names; each callback is
/// confirmed at its own account, and the answer tells a first delivery from a duplicate.
#[tokio::test]
async fn two_instances_of_one_vendor_receive_their_own_callbacks() {
    const LEGACY_JOB: &str = "d3bd2056-4330-4cf3-9b18-483a2412dd6b";
    let result = serde_json::json!({
        "ConversionCost": 1,
        "Files": [{"FileName": "a.pdf", "FileSize": 3, "Url": "https://example.com/d/x/a.pdf"}]
    });
    let (a, b) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("GET"))
        .and(path(format!("/async/job/{CA_JOB}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(result.clone()))
        .expect(1)
        .mount(&a)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/job/{LEGACY_JOB}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(result))
        .expect(1)
        .mount(&b)
        .await;
    let (receiver, mut updates) = WebhookReceiver::builder()
        .provider(named_convertapi(
            "convertapi-a",
            &a.uri(),
            AsyncRoute::Current,
        ))
        .provider(named_convertapi(
            "convertapi-b",
            &b.uri(),
            AsyncRoute::Legacy,
        ))
        .build()
        .unwrap();
    let app = axum::Router::new().nest("/hooks", receiver.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/hooks", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    multiconvert_core::http::install_crypto_provider();
    let http = reqwest::Client::new();
    let answer = |response: reqwest::Response| async move {
        (response.status().as_u16(), response.text().await.unwrap())
    };

    let to_a = || {
        http.post(format!("{base}/convertapi-a"))
            .json(&serde_json::json!({"JobId": CA_JOB}))
            .send()
    };
    assert_eq!(answer(to_a().await.unwrap()).await, (200, "ok".into()));
    let job = tokio::time::timeout(Duration::from_secs(5), updates.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.handle.provider, "convertapi-a");
    assert_eq!(
        answer(to_a().await.unwrap()).await,
        (200, "duplicate".into())
    );

    let to_b = http
        .get(format!("{base}/convertapi-b?JobId={LEGACY_JOB}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer(to_b).await, (200, "ok".into()));
    let job = tokio::time::timeout(Duration::from_secs(5), updates.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.handle.provider, "convertapi-b");
    assert_eq!(job.handle.id, LEGACY_JOB);
    server.abort();
    // Each account was polled once, for its own job only.
    a.verify().await;
    b.verify().await;

    let same_name = WebhookReceiver::builder()
        .provider(convertapi(&a.uri()))
        .provider(convertapi(&b.uri()))
        .build();
    assert_eq!(same_name.unwrap_err().kind(), ErrorKind::Config);
}
