//! `save()`: streamed to a temporary file, verified, renamed into place, contained.

use std::path::Path;

use md5::{Digest, Md5};
use multiconvert_core::download::{safe_filename, save_stream};
use multiconvert_core::http::{HttpClient, HttpConfig};
use multiconvert_core::{Checksum, ErrorKind, Output, Overwrite, SaveOptions};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A one-connection HTTP server on loopback that answers with `head` then `body` and closes.
async fn serve_once(head: String, body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = socket.read(&mut buf).await;
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(&body).await.unwrap();
        socket.shutdown().await.unwrap();
    });
    format!("http://{addr}/download-file/abc/result.bin")
}

fn ok_head(len: usize) -> String {
    format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n\r\n")
}

async fn save(
    url: &str,
    output: &Output,
    dest: &Path,
    options: &SaveOptions,
) -> multiconvert_core::Result<multiconvert_core::Saved> {
    let client = HttpClient::new("test", HttpConfig::default()).unwrap();
    let stream = client.download(url, Default::default(), false).await?;
    save_stream("test", output, stream, dest, options).await
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_verified_download_lands_under_its_safe_name() {
    let body = b"hello converted world".to_vec();
    let md5 = hex::encode(Md5::digest(&body));
    let url = serve_once(ok_head(body.len()), body.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let output = Output::new(&url)
        .with_filename("../../etc/result.txt")
        .with_size(body.len() as u64)
        .with_checksum(Checksum::Md5(md5.to_uppercase()));
    let saved = save(&url, &output, dir.path(), &SaveOptions::default())
        .await
        .unwrap();
    assert_eq!(saved.path, dir.path().join("result.txt"));
    assert_eq!(saved.size, body.len() as u64);
    assert_eq!(std::fs::read(&saved.path).unwrap(), body);
    assert_eq!(entries(dir.path()), ["result.txt"]);
}

#[tokio::test]
async fn a_truncated_download_leaves_nothing_behind() {
    let url = serve_once(ok_head(1000), vec![7u8; 400]).await;
    let dir = tempfile::tempdir().unwrap();
    let output = Output::new(&url).with_filename("r.bin");
    let error = save(&url, &output, dir.path(), &SaveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transport, "{error}");
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[tokio::test]
async fn a_size_that_differs_from_the_announced_one_is_refused() {
    let url = serve_once(ok_head(10), vec![1u8; 10]).await;
    let dir = tempfile::tempdir().unwrap();
    let output = Output::new(&url).with_filename("r.bin").with_size(11);
    let error = save(&url, &output, dir.path(), &SaveOptions::default())
        .await
        .unwrap_err();
    assert!(error.message().contains("truncated"), "{error}");
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test]
async fn a_checksum_mismatch_is_detected_and_the_old_file_survives() {
    let url = serve_once(ok_head(5), b"fresh".to_vec()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.bin"), b"old").unwrap();
    let output = Output::new(&url)
        .with_filename("r.bin")
        .with_checksum(Checksum::Md5("00000000000000000000000000000000".into()));
    let options = SaveOptions::default().overwrite(Overwrite::Replace);
    let error = save(&url, &output, dir.path(), &options).await.unwrap_err();
    assert!(error.message().contains("checksum mismatch"), "{error}");
    assert_eq!(std::fs::read(dir.path().join("r.bin")).unwrap(), b"old");
    assert_eq!(entries(dir.path()), ["r.bin"]);
}

#[tokio::test]
async fn the_overwrite_policy_is_explicit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.bin"), b"old").unwrap();

    let url = serve_once(ok_head(3), b"new".to_vec()).await;
    let output = Output::new(&url).with_filename("r.bin");
    let error = save(&url, &output, dir.path(), &SaveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Io);
    assert_eq!(std::fs::read(dir.path().join("r.bin")).unwrap(), b"old");

    let url = serve_once(ok_head(3), b"new".to_vec()).await;
    let options = SaveOptions::default().overwrite(Overwrite::Rename);
    let saved = save(&url, &output, dir.path(), &options).await.unwrap();
    assert_eq!(saved.path, dir.path().join("r (1).bin"));

    let url = serve_once(ok_head(3), b"new".to_vec()).await;
    let options = SaveOptions::default().overwrite(Overwrite::Replace);
    let saved = save(&url, &output, dir.path(), &options).await.unwrap();
    assert_eq!(saved.path, dir.path().join("r.bin"));
    assert_eq!(std::fs::read(&saved.path).unwrap(), b"new");
    assert_eq!(entries(dir.path()), ["r (1).bin", "r.bin"]);
}

#[tokio::test]
async fn an_error_status_is_not_saved_as_the_file() {
    let url = serve_once(
        "HTTP/1.1 410 Gone\r\ncontent-length: 7\r\nconnection: close\r\n\r\n".into(),
        b"expired".to_vec(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = Output::new(&url).with_filename("r.bin");
    let error = save(&url, &output, dir.path(), &SaveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test]
async fn a_size_cap_is_enforced_before_writing() {
    let url = serve_once(ok_head(100), vec![0u8; 100]).await;
    let dir = tempfile::tempdir().unwrap();
    let output = Output::new(&url).with_filename("r.bin");
    let error = save(
        &url,
        &output,
        dir.path(),
        &SaveOptions::default().max_bytes(10),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test]
async fn only_http_urls_are_downloaded() {
    let client = HttpClient::new("test", HttpConfig::default()).unwrap();
    let error = client
        .download("file:///etc/passwd", Default::default(), false)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Protocol);
}

proptest! {
    #[test]
    fn a_sanitised_name_never_leaves_the_directory(name in any::<String>()) {
        let safe = safe_filename(&name);
        prop_assert!(!safe.is_empty());
        prop_assert!(safe != "." && safe != "..");
        prop_assert!(!safe.contains(['/', '\\', '\0']));
        prop_assert!(!safe.chars().any(char::is_control));
        prop_assert!(safe.len() <= 200);
        let dir = Path::new("/srv/out");
        let joined = dir.join(&safe);
        prop_assert_eq!(joined.parent(), Some(dir));
        prop_assert_eq!(joined.components().count(), dir.components().count() + 1);
    }

    #[test]
    fn hostile_path_shapes_are_reduced(prefix in "[./\\\\]{0,12}", stem in "[a-z]{1,8}") {
        let safe = safe_filename(&format!("{prefix}{stem}.pdf"));
        let expected_tail = format!("{stem}.pdf");
        prop_assert!(safe.ends_with(&expected_tail));
        prop_assert!(!safe.contains('/'));
    }
}

/// A provider whose outputs are served from memory: `download` yields the output's id as bytes.
#[derive(Debug)]
struct InMemory(multiconvert_core::ProviderInfo);

#[multiconvert_core::async_trait]
impl multiconvert_core::ConversionProvider for InMemory {
    fn info(&self) -> &multiconvert_core::ProviderInfo {
        &self.0
    }
    async fn submit(
        &self,
        _: &multiconvert_core::JobRequest,
    ) -> multiconvert_core::Result<multiconvert_core::JobHandle> {
        Ok(multiconvert_core::JobHandle::new("memory", "job"))
    }
    async fn poll(
        &self,
        handle: &multiconvert_core::JobHandle,
    ) -> multiconvert_core::Result<multiconvert_core::Job> {
        Ok(multiconvert_core::Job::new(
            handle.clone(),
            multiconvert_core::JobStatus::Completed,
        ))
    }
    fn webhook(
        &self,
        _: &multiconvert_core::WebhookRequest,
    ) -> multiconvert_core::Result<multiconvert_core::WebhookEvent> {
        Ok(multiconvert_core::WebhookEvent::unverified("memory", "job"))
    }
    async fn delete(&self, _: &multiconvert_core::JobHandle) -> multiconvert_core::Result<()> {
        Ok(())
    }
    async fn download(
        &self,
        output: &Output,
    ) -> multiconvert_core::Result<multiconvert_core::ByteStream> {
        let bytes = bytes::Bytes::from(output.id.clone().unwrap_or_default().into_bytes());
        let len = bytes.len() as u64;
        Ok(multiconvert_core::ByteStream::new(
            futures_util::stream::once(async move { Ok(bytes) }),
            Some(len),
            None,
        ))
    }
}

/// Item: every output of a job is saved under the default options, even when they share a name.
#[tokio::test]
async fn outputs_that_share_a_name_are_all_saved_under_distinct_names() {
    use multiconvert_core::ProviderExt;
    let provider = InMemory(multiconvert_core::ProviderInfo::new(
        "memory",
        multiconvert_core::Capabilities::new(),
        multiconvert_core::PollPolicy::default(),
    ));
    let mut job = multiconvert_core::Job::new(
        multiconvert_core::JobHandle::new("memory", "job"),
        multiconvert_core::JobStatus::Completed,
    );
    for (id, name) in [
        ("first", "photo.jpg"),
        ("second", "photo.jpg"),
        ("third", "sub/photo.jpg"),
    ] {
        let mut output = Output::stored(id).with_filename(name);
        output.url = None;
        job.outputs.push(output);
    }
    let dir = tempfile::tempdir().unwrap();
    let saved = provider
        .save_all(&job, dir.path(), &SaveOptions::default())
        .await
        .unwrap();
    let names: Vec<_> = saved
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["photo.jpg", "photo-2.jpg", "photo-3.jpg"]);
    assert_eq!(
        entries(dir.path()),
        ["photo-2.jpg", "photo-3.jpg", "photo.jpg"]
    );
    assert_eq!(
        std::fs::read(dir.path().join("photo-2.jpg")).unwrap(),
        b"second"
    );
    // Saved again with the default policy, nothing is overwritten: the first name collides.
    let again = provider
        .save_all(&job, dir.path(), &SaveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Io);
}

/// A body of `len` bytes that no repeating pattern could pass off as another.
fn varied(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_many_write_batches_is_saved_whole_and_verified() {
    // Several of save's 1 MiB batches and a ragged end: every batch is hashed and written in order.
    let body = varied((5 << 20) + 12_345);
    let md5 = hex::encode(Md5::digest(&body));
    let url = serve_once(ok_head(body.len()), body.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let output = Output::new(&url)
        .with_filename("big.bin")
        .with_size(body.len() as u64)
        .with_checksum(Checksum::Md5(md5));
    let saved = save(&url, &output, dir.path(), &SaveOptions::default())
        .await
        .unwrap();
    assert_eq!(saved.size, body.len() as u64);
    assert!(std::fs::read(&saved.path).unwrap() == body);
    assert_eq!(entries(dir.path()), ["big.bin"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checksum_mismatch_late_in_a_large_body_is_caught() {
    let body = varied(3 << 20);
    let mut announced = body.clone();
    *announced.last_mut().unwrap() ^= 1;
    let md5 = hex::encode(Md5::digest(&announced));
    let url = serve_once(ok_head(body.len()), body).await;
    let dir = tempfile::tempdir().unwrap();
    let output = Output::new(&url)
        .with_filename("big.bin")
        .with_checksum(Checksum::Md5(md5));
    let error = save(&url, &output, dir.path(), &SaveOptions::default())
        .await
        .unwrap_err();
    assert!(error.message().contains("checksum mismatch"), "{error}");
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_dropped_midway_leaves_nothing_behind() {
    // The server sends 3 MiB of an announced 10 MiB and stalls; the caller gives up (drops the
    // future) while a write may be on the blocking pool: that write's file is removed when it ends.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = socket.read(&mut buf).await;
        socket
            .write_all(ok_head(10 << 20).as_bytes())
            .await
            .unwrap();
        socket.write_all(&varied(3 << 20)).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    });
    let url = format!("http://{addr}/r.bin");
    let dir = tempfile::tempdir().unwrap();
    let output = Output::new(&url).with_filename("r.bin");
    let gave_up = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        save(&url, &output, dir.path(), &SaveOptions::default()),
    )
    .await;
    assert!(gave_up.is_err(), "the save cannot have finished");
    let mut left = entries(dir.path());
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        left = entries(dir.path());
    }
    assert!(left.is_empty(), "{left:?}");
}
