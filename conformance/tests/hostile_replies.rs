//! Hostile control-plane replies through both vendor providers (ConvertAPI on both routes): JSON
//! nested without end, a body of 500 MB, a reply at one byte a second. Each poll ends in a
//! bounded time with a typed error, and the process neither overflows its stack nor buffers the
//! whole body. The servers are raw TCP on loopback.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use multiconvert_conformance::fake_secret;
use multiconvert_convertapi::{AsyncRoute, ConvertApi};
use multiconvert_core::http::{HttpConfig, RetryPolicy, Timeouts};
use multiconvert_core::{ConversionProvider, ErrorKind, JobHandle};
use multiconvert_online_convert::OnlineConvert;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A loopback server that hands every connection, its request read, to `reply`.
async fn serve<F, Fut>(reply: F) -> String
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let reply = Arc::new(reply);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16384];
                let _ = socket.read(&mut buf).await;
                reply(socket).await;
            });
        }
    });
    format!("http://{addr}")
}

fn http() -> HttpConfig {
    let mut timeouts = Timeouts::default();
    timeouts.request = Duration::from_secs(1);
    HttpConfig::default()
        .with_timeouts(timeouts)
        .with_retry(RetryPolicy::none())
}

/// Every provider under test, pointed at `base`, with a handle to poll.
fn providers(base: &str) -> Vec<(Arc<dyn ConversionProvider>, JobHandle)> {
    let oc = OnlineConvert::new(
        multiconvert_online_convert::Config::builder()
            .api_key(fake_secret("api_key"))
            .base_url(format!("{base}/v2"))
            .http(http())
            .build()
            .unwrap(),
    )
    .unwrap();
    let mut all: Vec<(Arc<dyn ConversionProvider>, JobHandle)> = vec![(
        Arc::new(oc),
        JobHandle::new("online-convert", "c6d1f6b0-5d4a-4c1e-9d7e-0a1b2c3d4e5f"),
    )];
    for route in [AsyncRoute::Legacy, AsyncRoute::Current] {
        let ca = ConvertApi::new(
            multiconvert_convertapi::Config::builder()
                .secret(fake_secret("secret"))
                .base_url(base)
                .route(route)
                .http(http())
                .build()
                .unwrap(),
        )
        .unwrap();
        all.push((
            Arc::new(ca),
            JobHandle::new("convertapi", "5f0b7c9e-2a1d-4e3b-8c6f-9d0e1f2a3b4c"),
        ));
    }
    all
}

/// Polls every provider against a server answering with `reply`; each must fail with `kind`
/// within `within`.
async fn every_poll_fails<F, Fut>(reply: F, kind: ErrorKind, within: Duration) -> Vec<String>
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let base = serve(reply).await;
    let mut messages = Vec::new();
    for (provider, handle) in providers(&base) {
        let started = Instant::now();
        let e = provider
            .poll(&handle)
            .await
            .expect_err("a hostile reply must fail the poll");
        let took = started.elapsed();
        let name = provider.info().name.clone();
        assert_eq!(e.kind(), kind, "{name}: {e}");
        assert!(took < within, "{name}: took {took:?}");
        messages.push(format!("{name}: {e}"));
    }
    messages
}

#[tokio::test]
async fn json_nested_without_end_is_a_protocol_error_not_a_stack_overflow() {
    let messages = every_poll_fails(
        |mut s| async move {
            let body = "[".repeat(1_000_000);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(body.as_bytes()).await;
        },
        ErrorKind::Protocol,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(messages.len(), 3);
}

#[tokio::test]
async fn a_500_megabyte_reply_is_refused_at_the_body_limit() {
    let messages = every_poll_fails(
        |mut s| async move {
            let _ = s
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
                )
                .await;
            let _ = s.write_all(b"9\r\n{\"a\":\"xxx\r\n").await;
            let chunk = vec![b'x'; 1 << 20];
            let head = format!("{:x}\r\n", chunk.len());
            for _ in 0..500 {
                if s.write_all(head.as_bytes()).await.is_err()
                    || s.write_all(&chunk).await.is_err()
                    || s.write_all(b"\r\n").await.is_err()
                {
                    return;
                }
            }
            let _ = s.write_all(b"2\r\n\"}\r\n0\r\n\r\n").await;
        },
        ErrorKind::Protocol,
        Duration::from_secs(10),
    )
    .await;
    for m in messages {
        assert!(m.contains("larger than"), "{m}");
    }
}

#[tokio::test]
async fn a_reply_at_one_byte_a_second_ends_at_the_request_timeout() {
    every_poll_fails(
        |mut s| async move {
            let _ = s
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n",
                )
                .await;
            for _ in 0..1000 {
                if s.write_all(b" ").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        },
        ErrorKind::Timeout,
        Duration::from_secs(4),
    )
    .await;
}
