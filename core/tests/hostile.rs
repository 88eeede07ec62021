//! Hostile download servers: each reply ends in a bounded time with a typed error, and leaves no
//! partial file behind. The servers are raw TCP on loopback, so they can misbehave in ways a
//! well-formed HTTP server cannot (trickle, never finish, lie about the length).

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use multiconvert_core::download::save_stream;
use multiconvert_core::http::{HttpClient, HttpConfig, Timeouts};
use multiconvert_core::{ErrorKind, Output, SaveOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A loopback server that hands every connection, its request read, to `reply`.
async fn serve<F, Fut>(reply: F) -> String
where
    F: Fn(TcpStream, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let reply = std::sync::Arc::new(reply);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                reply(socket, request).await;
            });
        }
    });
    format!("http://{addr}")
}

fn client(stall: Duration, download: Duration) -> HttpClient {
    let mut timeouts = Timeouts::default();
    timeouts.stall = stall;
    timeouts.download = download;
    HttpClient::new("test", HttpConfig::default().with_timeouts(timeouts)).unwrap()
}

async fn save(
    client: &HttpClient,
    url: &str,
    output: &Output,
    dest: &Path,
    options: &SaveOptions,
) -> multiconvert_core::Result<multiconvert_core::Saved> {
    let stream = client.download(url, Default::default(), false).await?;
    save_stream("test", output, stream, dest, options).await
}

fn left_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Saves `url` into a fresh directory and returns the error, how long it took, and what the
/// directory holds afterwards (it must be empty).
async fn failing_save(
    client: &HttpClient,
    url: &str,
    output: Output,
    options: SaveOptions,
) -> (multiconvert_core::Error, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let e = save(client, url, &output, dir.path(), &options)
        .await
        .expect_err("a hostile reply must fail");
    let took = started.elapsed();
    assert_eq!(
        left_in(dir.path()),
        Vec::<String>::new(),
        "partial file left"
    );
    (e, took)
}

#[tokio::test]
async fn one_byte_a_second_ends_at_the_stall_window() {
    let base = serve(|mut s, _| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
            .await;
        for _ in 0..100 {
            if s.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let client = client(Duration::from_millis(800), Duration::from_secs(60));
    let url = format!("{base}/out.bin");
    let (e, took) = failing_save(&client, &url, Output::new(&url), SaveOptions::default()).await;
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.message().contains("stalled"), "{e}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test]
async fn ten_gigabytes_announced_that_never_arrive_end_at_the_stall_window() {
    let base = serve(|mut s, _| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10000000000\r\n\r\nsome bytes")
            .await;
        // Then nothing, with the connection held open.
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let client = client(Duration::from_millis(500), Duration::from_secs(60));
    let url = format!("{base}/big.bin");
    let (e, took) = failing_save(&client, &url, Output::new(&url), SaveOptions::default()).await;
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // With a size cap, it is refused before a byte is written.
    let (e, took) = failing_save(
        &client,
        &url,
        Output::new(&url),
        SaveOptions::default().max_bytes(1 << 30),
    )
    .await;
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

/// A chunked body that never ends: 64 KiB chunks as fast as the client takes them.
async fn endless(mut s: TcpStream) {
    if s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let chunk = [b'z'; 65536];
    loop {
        let head = format!("{:x}\r\n", chunk.len());
        if s.write_all(head.as_bytes()).await.is_err()
            || s.write_all(&chunk).await.is_err()
            || s.write_all(b"\r\n").await.is_err()
        {
            return;
        }
    }
}

#[tokio::test]
async fn a_body_larger_than_announced_is_stopped_at_once() {
    let base = serve(|s, _| endless(s)).await;
    let client = client(Duration::from_secs(30), Duration::from_secs(60));
    let url = format!("{base}/out.bin");
    let (e, took) = failing_save(
        &client,
        &url,
        Output::new(&url).with_size(100_000),
        SaveOptions::default(),
    )
    .await;
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(e.message().contains("larger than announced"), "{e}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[tokio::test]
async fn a_never_ending_body_ends_at_the_size_cap_or_the_download_deadline() {
    let base = serve(|s, _| endless(s)).await;
    let url = format!("{base}/out.bin");
    let client_ = client(Duration::from_secs(30), Duration::from_secs(60));
    let (e, _) = failing_save(
        &client_,
        &url,
        Output::new(&url),
        SaveOptions::default().max_bytes(4 << 20),
    )
    .await;
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    // Nothing announced and no cap: the download's deadline ends it (a slow one, so the test
    // writes megabytes, not gigabytes, before it).
    let slow = serve(|mut s, _| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            .await;
        loop {
            if s.write_all(b"8000\r\n").await.is_err()
                || s.write_all(&[b'y'; 0x8000]).await.is_err()
                || s.write_all(b"\r\n").await.is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let url = format!("{slow}/out.bin");
    let client = client(Duration::from_secs(30), Duration::from_millis(1500));
    let (e, took) = failing_save(&client, &url, Output::new(&url), SaveOptions::default()).await;
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

fn redirect_to(
    location: String,
) -> impl Fn(TcpStream, String) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    move |mut s, _| {
        let location = location.clone();
        Box::pin(async move {
            let head =
                format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n");
            let _ = s.write_all(head.as_bytes()).await;
        })
    }
}

#[tokio::test]
async fn redirects_to_another_host_over_http_and_loops_are_refused() {
    let target = serve(|mut s, _| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
            .await;
    })
    .await;
    let client = client(Duration::from_secs(30), Duration::from_secs(60));
    // Another host (localhost is not 127.0.0.1 by name) over plain http: refused.
    let elsewhere = target.replace("127.0.0.1", "localhost");
    let hop = serve(redirect_to(format!("{elsewhere}/x"))).await;
    let url = format!("{hop}/out.bin");
    let (e, _) = failing_save(&client, &url, Output::new(&url), SaveOptions::default()).await;
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(e.message().contains("another host"), "{e}");
    // A loop: refused after a bounded number of hops.
    let looping = serve(|mut s, request| async move {
        let host = request
            .lines()
            .find_map(|l| {
                l.strip_prefix("host: ")
                    .or_else(|| l.strip_prefix("Host: "))
            })
            .unwrap_or_default()
            .to_owned();
        let head = format!(
            "HTTP/1.1 302 Found\r\nlocation: http://{host}/again\r\ncontent-length: 0\r\n\r\n"
        );
        let _ = s.write_all(head.as_bytes()).await;
    })
    .await;
    let url = format!("{looping}/out.bin");
    let (e, _) = failing_save(&client, &url, Output::new(&url), SaveOptions::default()).await;
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(e.message().contains("too many redirects"), "{e}");
    // The same host on another port is the vendor's own: followed.
    let same_host = serve(redirect_to(format!("{target}/x"))).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{same_host}/out.bin");
    let saved = save(
        &client,
        &url,
        &Output::new(&url).with_filename("out.bin"),
        dir.path(),
        &SaveOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(saved.path).unwrap(), b"hello");
}

#[tokio::test]
async fn a_download_with_a_secret_follows_no_redirect() {
    let target = serve(|mut s, _| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
            .await;
    })
    .await;
    let hop = serve(redirect_to(format!("{target}/x"))).await;
    let client = client(Duration::from_secs(30), Duration::from_secs(60));
    let e = client
        .download(&format!("{hop}/out.bin"), Default::default(), true)
        .await
        .expect_err("a redirect is not followed with a secret");
    assert_eq!(e.http_status(), Some(302), "{e}");
}

#[tokio::test]
async fn a_body_read_late_is_not_a_stall() {
    let base = serve(|mut s, _| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
            .await;
    })
    .await;
    let client = client(Duration::from_millis(300), Duration::from_secs(60));
    let url = format!("{base}/out.bin");
    let stream = client
        .download(&url, Default::default(), false)
        .await
        .unwrap();
    // The caller reads it three windows later: the body's pace, not the caller's, is judged.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let output = Output::new(&url).with_filename("out.bin");
    let saved = save_stream("test", &output, stream, dir.path(), &SaveOptions::default())
        .await
        .unwrap();
    assert_eq!(std::fs::read(saved.path).unwrap(), b"hello");
}
