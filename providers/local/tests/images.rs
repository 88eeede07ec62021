//! Real conversions between every format, options, and every refusal.

use std::path::PathBuf;

use multiconvert_core::{
    Conversion, ConversionProvider, ErrorKind, Input, JobHandle, JobRequest, JobStatus, Output,
    PollPolicy, ProviderExt, SaveOptions,
};
use multiconvert_local::Local;

fn sample(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/samples"
    ))
    .join(name)
}

fn provider() -> (Local, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Local::new(dir.path().join("jobs")).unwrap(), dir)
}

async fn convert_to(
    p: &Local,
    conversion: Conversion,
) -> multiconvert_core::Result<multiconvert_core::Job> {
    let request = JobRequest::new(Input::path(sample("photo.png")), conversion);
    p.convert(&request, &p.info().poll_policy).await
}

#[tokio::test]
async fn png_converts_to_every_format_and_back() {
    let (p, dir) = provider();
    for target in [
        "png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp", "ico",
    ] {
        let job = convert_to(&p, Conversion::to(target)).await.unwrap();
        assert_eq!(job.status, JobStatus::Completed, "{target}");
        let out = &job.outputs[0];
        assert_eq!(
            out.filename.as_deref(),
            Some(format!("photo.{target}").as_str())
        );
        let saved = p
            .save(out, dir.path(), &SaveOptions::default())
            .await
            .unwrap();
        let bytes = std::fs::read(&saved.path).unwrap();
        assert_eq!(bytes.len() as u64, out.size.unwrap());
        let image = image::load_from_memory(&bytes).unwrap_or_else(|e| panic!("{target}: {e}"));
        assert_eq!((image.width(), image.height()), (64, 48), "{target}");
        // And back to PNG from what was just written.
        let back = JobRequest::new(Input::path(&saved.path), Conversion::to("png"));
        let job = p.convert(&back, &p.info().poll_policy).await.unwrap();
        assert_eq!(job.status, JobStatus::Completed, "{target} -> png");
    }
}

#[tokio::test]
async fn quality_and_size_options_apply() {
    let (p, _dir) = provider();
    let small = convert_to(&p, Conversion::to("jpg").option("quality", 10))
        .await
        .unwrap();
    let large = convert_to(&p, Conversion::to("jpg").option("quality", 100))
        .await
        .unwrap();
    assert!(small.outputs[0].size < large.outputs[0].size);
    let job = convert_to(&p, Conversion::to("png").option("width", 32))
        .await
        .unwrap();
    let bytes = read_output(&p, &job.outputs[0]).await;
    let image = image::load_from_memory(&bytes).unwrap();
    assert_eq!(
        (image.width(), image.height()),
        (32, 24),
        "the aspect ratio is kept"
    );
    let job = convert_to(
        &p,
        Conversion::to("png")
            .option("width", "10")
            .option("height", 10),
    )
    .await
    .unwrap();
    let image = image::load_from_memory(&read_output(&p, &job.outputs[0]).await).unwrap();
    assert_eq!((image.width(), image.height()), (10, 10));
}

async fn read_output(p: &Local, output: &Output) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let saved = p
        .save(output, dir.path(), &SaveOptions::default())
        .await
        .unwrap();
    std::fs::read(saved.path).unwrap()
}

#[tokio::test]
async fn refusals_are_typed_and_early() {
    let (p, _dir) = provider();
    let cases: Vec<(JobRequest, ErrorKind)> = vec![
        (
            JobRequest::new(Input::path(sample("photo.png")), Conversion::to("pdf")),
            ErrorKind::Unsupported,
        ),
        (
            JobRequest::new(
                Input::bytes(&b"%PDF-1.7"[..], "a.pdf"),
                Conversion::to("png"),
            ),
            ErrorKind::Unsupported,
        ),
        (
            JobRequest::new(
                Input::bytes(&b"not an image at all"[..], "a.png"),
                Conversion::to("jpg"),
            ),
            ErrorKind::InvalidInput,
        ),
        (
            JobRequest::new(
                Input::path(sample("photo.png")),
                Conversion::to("jpg").option("quality", 0),
            ),
            ErrorKind::InvalidInput,
        ),
        (
            JobRequest::new(
                Input::path(sample("photo.png")),
                Conversion::to("png").option("quality", 50),
            ),
            ErrorKind::InvalidInput,
        ),
        (
            JobRequest::new(
                Input::path(sample("photo.png")),
                Conversion::to("png").option("dpi", 300),
            ),
            ErrorKind::InvalidInput,
        ),
        (
            JobRequest::new(
                Input::path(sample("photo.png")),
                Conversion::to("png").option("width", 0),
            ),
            ErrorKind::InvalidInput,
        ),
        (
            JobRequest::new(
                Input::remote("https://example.com/a.png".parse().unwrap()),
                Conversion::to("jpg"),
            ),
            ErrorKind::Unsupported,
        ),
        (
            JobRequest::new(Input::path("/nonexistent/a.png"), Conversion::to("jpg")),
            ErrorKind::Io,
        ),
    ];
    for (request, kind) in cases {
        let e = p.submit(&request).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{request:?}: {e}");
    }
}

#[tokio::test]
async fn a_corrupt_image_fails_the_job_with_a_clear_message() {
    let (p, _dir) = provider();
    let request = JobRequest::new(Input::path(sample("corrupt.png")), Conversion::to("jpg"));
    let handle = p.submit(&request).await.unwrap();
    let job = p.wait(&handle, &p.info().poll_policy).await.unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.messages[0].code.as_deref(), Some("invalid_input"));
    let e = p
        .convert(&request, &p.info().poll_policy)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConversionFailed);
    assert!(e.message().contains("could not be decoded"), "{e}");
}

#[tokio::test]
async fn jobs_are_visible_to_another_instance_and_deletable() {
    let (p, dir) = provider();
    let job = convert_to(&p, Conversion::to("gif")).await.unwrap();
    let other = Local::new(dir.path().join("jobs")).unwrap();
    let seen = other
        .poll(&JobHandle::new("local", job.handle.id.clone()))
        .await
        .unwrap();
    assert_eq!(seen.status, JobStatus::Completed);
    assert_eq!(seen.outputs, job.outputs);
    other.delete(&job.handle).await.unwrap();
    assert_eq!(
        p.poll(&job.handle).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        p.delete(&job.handle).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        p.download(&job.outputs[0]).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn hostile_ids_never_become_paths() {
    let (p, _dir) = provider();
    for id in [
        "../../etc",
        "",
        "0123456789abcdef0123456789abcdeF",
        "x/../y",
    ] {
        assert_eq!(
            p.poll(&JobHandle::new("local", id))
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound,
            "{id}"
        );
        assert_eq!(
            p.delete(&JobHandle::new("local", id))
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound,
            "{id}"
        );
    }
    for id in [
        "0123456789abcdef0123456789abcdef/../../x",
        "../x/y",
        "0123456789abcdef0123456789abcdef/a\\b",
    ] {
        let out = Output::stored(id);
        assert_eq!(
            p.download(&out).await.unwrap_err().kind(),
            ErrorKind::NotFound,
            "{id}"
        );
    }
}

#[tokio::test]
async fn several_inputs_and_conversions_in_one_job() {
    let (p, _dir) = provider();
    let request = JobRequest::new(Input::path(sample("photo.png")), Conversion::to("jpg"))
        .input(Input::bytes(
            std::fs::read(sample("photo.png")).unwrap(),
            "photo.png",
        ))
        .conversion(Conversion::to("gif"));
    let job = p.convert(&request, &PollPolicy::default()).await.unwrap();
    let mut names: Vec<_> = job
        .outputs
        .iter()
        .filter_map(|o| o.filename.clone())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["photo-1.gif", "photo-1.jpg", "photo.gif", "photo.jpg"]
    );
}

#[tokio::test]
async fn a_named_instance_names_its_handles() {
    let dir = tempfile::tempdir().unwrap();
    let p = Local::new(dir.path().join("jobs"))
        .unwrap()
        .with_name("local-fast")
        .unwrap();
    assert_eq!(p.info().name, "local-fast");
    let job = convert_to(&p, Conversion::to("bmp")).await.unwrap();
    assert_eq!(job.handle.provider, "local-fast");
    let again = p.poll(&job.handle).await.unwrap();
    assert_eq!(again.handle.provider, "local-fast");
    let e = Local::new(dir.path().join("jobs"))
        .unwrap()
        .with_name("../x")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
}
