//! Process handling against a fake soffice (a shell script that hangs, crashes, writes garbage
//! or nothing, depending on the document it is given): no LibreOffice needed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use multiconvert_core::{
    Conversion, ConversionProvider, ErrorKind, Input, JobRequest, JobStatus, ProviderExt,
};
use multiconvert_office::{Config, Office};

mod fake;
use fake::Fake;

/// A text document whose first word tells the fake what to do.
fn document(content: &str) -> JobRequest {
    JobRequest::new(
        Input::bytes(content.as_bytes().to_vec(), "report.txt"),
        Conversion::to("pdf"),
    )
}

/// Processes whose command line holds `marker` (a hang's duration).
fn marked_sleeps(marker: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|cmd| cmd.windows(marker.len()).any(|w| w == marker.as_bytes()))
        .count()
}

async fn failure_code(office: &Office, request: &JobRequest) -> String {
    let e = office
        .convert(request, &office.info().poll_policy)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConversionFailed, "{e}");
    e.provider_code().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_hung_conversion_is_killed_at_its_deadline_with_its_process_tree() {
    let fake = Fake::new();
    let office = fake.office(1, Duration::from_millis(800));
    let started = Instant::now();
    assert_eq!(
        failure_code(&office, &document("HANG 37.11")).await,
        "deadline"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        marked_sleeps("37.11"),
        0,
        "the hung process tree outlived its deadline"
    );
}

#[tokio::test]
async fn crashes_garbage_and_missing_output_fail_their_job_with_a_code() {
    let fake = Fake::new();
    let office = fake.office(2, Duration::from_secs(20));
    assert_eq!(failure_code(&office, &document("CRASH")).await, "crashed");
    assert_eq!(
        failure_code(&office, &document("GARBAGE")).await,
        "invalid_output"
    );
    assert_eq!(
        failure_code(&office, &document("NOTHING")).await,
        "no_output"
    );
    let job = office
        .convert(&document("fine"), &office.info().poll_policy)
        .await
        .unwrap();
    assert_eq!(job.outputs[0].filename.as_deref(), Some("report.pdf"));
}

#[tokio::test]
async fn a_hang_never_wedges_the_pool() {
    let fake = Fake::new();
    let office = fake.office(1, Duration::from_millis(800));
    let hung = office.submit(&document("HANG 37.22")).await.unwrap();
    let fine = office.submit(&document("fine")).await.unwrap();
    let policy = office.info().poll_policy;
    let done = office.wait(&fine, &policy).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(
        office.wait(&hung, &policy).await.unwrap().status,
        JobStatus::Failed
    );
}

#[tokio::test]
async fn deleting_a_running_job_kills_its_conversion() {
    let fake = Fake::new();
    let office = fake.office(1, Duration::from_secs(60));
    let handle = office.submit(&document("HANG 37.33")).await.unwrap();
    for _ in 0..100 {
        if marked_sleeps("37.33") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    office.delete(&handle).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(marked_sleeps("37.33"), 0, "the conversion outlived its job");
    assert_eq!(
        office.poll(&handle).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn refusals_are_typed_and_early() {
    let fake = Fake::new();
    let office = fake.office(1, Duration::from_secs(5));
    let png = JobRequest::new(
        Input::bytes(vec![1, 2, 3], "photo.png"),
        Conversion::to("pdf"),
    );
    assert_eq!(
        office.submit(&png).await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    let options = JobRequest::new(
        Input::bytes(b"x".to_vec(), "a.docx"),
        Conversion::to("pdf").option("quality", 3),
    );
    assert_eq!(
        office.submit(&options).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let remote = JobRequest::new(
        Input::remote("https://example.com/a.docx".parse().unwrap()),
        Conversion::to("pdf"),
    );
    assert_eq!(
        office.submit(&remote).await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    assert_eq!(
        office.version().await.as_deref(),
        Some("LibreOffice 0.0.0 fake")
    );
}

/// The fake converts whatever it is given, so a refusal here is the input check's alone: bytes
/// that are not what their name says never reach a worker, and no job is left behind.
#[tokio::test]
async fn inputs_that_are_not_what_they_say_never_reach_libreoffice() {
    let fake = Fake::new();
    let office = fake.office(1, Duration::from_secs(5));
    for (bytes, name, code) in [
        (
            vec![0x00, 0x91, 0xfe, 0x07, 0x00, 0x13],
            "random.docx",
            "format_mismatch",
        ),
        (b"just words".to_vec(), "sheet.xlsx", "format_mismatch"),
        (
            b"PK\x03\x04 cut off".to_vec(),
            "report.odt",
            "format_mismatch",
        ),
        (vec![0x00; 64], "notes.txt", "format_mismatch"),
    ] {
        let request = JobRequest::new(Input::bytes(bytes, name), Conversion::to("pdf"));
        let e = office.submit(&request).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{name}: {e}");
        assert_eq!(e.provider_code(), Some(code), "{name}: {e}");
        assert!(e.message().contains("declared"), "{name}: {e}");
    }
    let jobs = std::fs::read_dir(fake.root().join("jobs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(jobs, 0, "a refused input left a job behind");
    // `source_format` says what a file is: the same text named .bin converts.
    let named = JobRequest::new(
        Input::bytes(b"plain words".to_vec(), "notes.bin"),
        Conversion::to("pdf").from("txt"),
    );
    let job = office
        .convert(&named, &office.info().poll_policy)
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed);
}

async fn output_text(office: &Office, request: &JobRequest) -> String {
    let job = office
        .convert(request, &office.info().poll_policy)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let saved = office
        .save_all(&job, dir.path(), &multiconvert_core::SaveOptions::default())
        .await
        .unwrap();
    std::fs::read_to_string(&saved[0].path).unwrap()
}

#[tokio::test]
async fn each_libreoffice_runs_within_its_memory_bound() {
    let fake = Fake::new();
    let bounded = Office::new(
        fake.config(1, Duration::from_secs(5))
            .max_memory(Some(300 << 20)),
    )
    .unwrap();
    let text = output_text(&bounded, &document("LIMIT")).await;
    assert!(text.contains("as=307200"), "{text}");
    let unbounded = Office::new(fake.config(1, Duration::from_secs(5)).max_memory(None)).unwrap();
    let text = output_text(&unbounded, &document("LIMIT")).await;
    assert!(text.contains("as=unlimited"), "{text}");
    // The default bounds it too.
    let text = output_text(&fake.office(1, Duration::from_secs(5)), &document("LIMIT")).await;
    assert!(text.contains("as=2097152"), "{text}");
}

#[tokio::test]
async fn an_input_over_max_input_is_refused_at_submit() {
    let fake = Fake::new();
    let office = Office::new(fake.config(1, Duration::from_secs(5)).max_input(16)).unwrap();
    let e = office
        .submit(&document("a document longer than sixteen bytes"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(office.submit(&document("short")).await.is_ok());
    // Base64 is measured before it is decoded.
    let encoded = JobRequest::new(
        Input::base64("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", "a.docx"),
        Conversion::to("pdf"),
    );
    let e = office.submit(&encoded).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

#[test]
fn limits_come_from_the_environment() {
    let env = multiconvert_conformance::fake_env;
    let config = Config::from_lookup(env(&[
        ("MULTICONVERT_OFFICE_MAX_INPUT", "1048576"),
        ("MULTICONVERT_OFFICE_MAX_MEMORY", "0"),
    ]))
    .unwrap();
    assert_eq!((config.max_input, config.max_memory), (1 << 20, None));
    let config =
        Config::from_lookup(env(&[("MULTICONVERT_OFFICE_MAX_MEMORY", "1073741824")])).unwrap();
    assert_eq!(config.max_memory, Some(1 << 30));
    for (name, bad) in [
        ("MULTICONVERT_OFFICE_MAX_INPUT", "0"),
        ("MULTICONVERT_OFFICE_MAX_INPUT", "big"),
        ("MULTICONVERT_OFFICE_MAX_MEMORY", "-5"),
    ] {
        let e = Config::from_lookup(|n| (n == name).then(|| bad.to_owned())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains(name), "{e}");
    }
}

#[test]
fn a_missing_libreoffice_says_how_to_install_it() {
    let e = Office::new(Config::new().soffice(PathBuf::from("/nonexistent/soffice"))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains("apt-get install"), "{e}");
    assert!(e.message().contains("MULTICONVERT_SOFFICE"), "{e}");
}
