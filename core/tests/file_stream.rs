//! `file_stream`: a path upload's body, read ahead in bounded chunks, whole and in order.

use futures_util::TryStreamExt;
use multiconvert_core::http::{file_stream, UPLOAD_CHUNK};

async fn chunks(path: std::path::PathBuf) -> std::io::Result<Vec<bytes::Bytes>> {
    file_stream(path).try_collect().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_streams_whole_in_bounded_chunks_sized_to_it() {
    let dir = tempfile::tempdir().unwrap();
    for len in [
        1,
        1000,
        UPLOAD_CHUNK,
        UPLOAD_CHUNK + 1,
        3 * UPLOAD_CHUNK + 12_345,
    ] {
        let body: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let path = dir.path().join(format!("f{len}"));
        std::fs::write(&path, &body).unwrap();
        let got = chunks(path).await.unwrap();
        assert!(got.iter().all(|c| !c.is_empty() && c.len() <= UPLOAD_CHUNK));
        // A small file is one chunk of its own size, not a padded buffer.
        if len <= UPLOAD_CHUNK {
            assert_eq!(got.len(), 1, "{len}");
        }
        assert!(got.concat() == body, "{len} bytes came out different");
    }
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert!(chunks(empty).await.unwrap().is_empty());
    let missing = chunks(dir.path().join("missing")).await.unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
}
