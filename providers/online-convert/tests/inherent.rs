//! Every inherent endpoint and special flow against its cassette.

mod common;

use common::{builder, replay, verify};
use multiconvert_conformance::fake_secret;
use multiconvert_core::{
    CloudLocation, Conversion, ConversionProvider, ErrorKind, Input, JobHandle, JobRequest,
    JobStatus, ProviderExt, Secret,
};
use multiconvert_online_convert::request::JobUpdate;
use multiconvert_online_convert::{cloud, InputOrder, OnlineConvert, SubmitMode};
use serde_json::json;

const JOB: &str = "8daae6d1-26e0-11e5-b2a1-0800273b325b";

fn oc(base: &str) -> OnlineConvert {
    OnlineConvert::new(builder(&format!("{base}/v2")).build().unwrap()).unwrap()
}

fn handle() -> JobHandle {
    JobHandle::new("online-convert", JOB)
}

/// The sample PNG uploaded, to JPEG.
fn sample_upload() -> JobRequest {
    JobRequest::new(
        Input::bytes(
            multiconvert_conformance::scenarios::SAMPLE_PNG,
            "sample.png",
        ),
        Conversion::to("jpg").category("image"),
    )
}

fn remote() -> JobRequest {
    JobRequest::new(
        Input::remote("https://example.com/sample.png".parse().unwrap()),
        Conversion::to("jpg").category("image"),
    )
}

#[tokio::test]
async fn dynamic_job_flow() {
    let (_, r) = replay("dynamic_job_flow").await;
    let oc = oc(&r.base_url());
    let empty = JobRequest::default();
    let job = oc.create(&empty).await.unwrap();
    assert_eq!(job.status, JobStatus::Incomplete);
    assert!(job.status.is_staged());
    let input = Input::remote("https://example.com/report.pdf".parse().unwrap())
        .password(fake_secret("pdf_password"));
    let added = oc.add_input(&job.handle, &input).await.unwrap();
    assert_eq!(added.id, "ed5c51d7-4b1a-4c2e-9a55-5d6f0b8c1e22");
    assert_eq!(added.kind.as_deref(), Some("remote"));
    assert_eq!(added.filename.as_deref(), Some("report.pdf"));
    assert_eq!(added.status.as_deref(), Some("ready"));
    let conversion = oc
        .add_conversion(&job.handle, &Conversion::to("png").category("image"))
        .await
        .unwrap();
    assert_eq!(conversion.id, "8932aa48-8932-4aa8-b66c-114995edd980");
    assert_eq!(conversion.target, "png");
    assert_eq!(conversion.category.as_deref(), Some("image"));
    let started = oc
        .start(
            &job.handle,
            Some(&"https://app.example.com/hooks/oc".parse().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(started.status, JobStatus::Downloading);
    verify(&r);
}

#[tokio::test]
async fn multi_input_multi_conversion_with_callback() {
    let (_, r) = replay("multi_input").await;
    let mut request = JobRequest::new(
        Input::remote("https://example.com/a.png".parse().unwrap()),
        Conversion::to("jpg")
            .category("image")
            .option("quality", 80),
    )
    .input(Input::remote("https://example.com/b.png".parse().unwrap()))
    .conversion(Conversion::to("pdf").category("document"))
    .callback("https://app.example.com/hooks/oc".parse().unwrap())
    .notify_status(true);
    request.fail_on_input_error = Some(false);
    let handle = oc(&r.base_url()).submit(&request).await.unwrap();
    assert_eq!(handle.id, JOB);
    verify(&r);
}

#[tokio::test]
async fn cloud_input_and_output_target() {
    let (_, r) = replay("cloud_input_output_target").await;
    let input = cloud::amazons3(
        "reports",
        "in/sample.png",
        None,
        &fake_secret("aws_access_key_id"),
        &fake_secret("aws_secret_access_key"),
        None,
    );
    let target = cloud::azure(
        "results",
        "out/sample.jpg",
        &fake_secret("azure_account"),
        &fake_secret("azure_key"),
    );
    let request = JobRequest::new(
        Input::cloud(input),
        Conversion::to("jpg")
            .category("image")
            .output_target(target),
    );
    assert!(!format!("{request:?}").contains("mc-fake-"));
    oc(&r.base_url()).submit(&request).await.unwrap();
    verify(&r);
}

#[tokio::test]
async fn one_shot_submit_is_one_request() {
    let (_, r) = replay("one_shot_submit").await;
    let oc = OnlineConvert::new(
        builder(&format!("{}/v2", r.base_url()))
            .submit_mode(SubmitMode::OneShot)
            .build()
            .unwrap(),
    )
    .unwrap();
    assert!(!oc.info().capabilities.idempotent_submit());
    oc.submit(&remote()).await.unwrap();
    verify(&r);
}

#[tokio::test]
async fn a_204_on_create_is_an_invalid_input_error() {
    let (_, r) = replay("create_204_error").await;
    let e = oc(&r.base_url()).submit(&remote()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(e.http_status(), Some(204));
    assert!(e.message().contains("created no job"), "{e}");
    verify(&r);
}

#[tokio::test]
async fn a_second_start_of_a_running_job_is_a_conflict_carrying_the_handle() {
    let (_, r) = replay("start_conflict_already_running").await;
    let e = oc(&r.base_url()).submit(&remote()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(e.http_status(), Some(409));
    let job = e.job().expect("the error names the job");
    assert_eq!(job.id, JOB);
    assert!(job.token.is_some(), "the handle keeps its token to resume");
    // No GET after the 409: verify() fails on any extra request.
    verify(&r);
}

#[tokio::test]
async fn update_job_patches_settings_without_starting() {
    let (_, r) = replay("update_job").await;
    let update = JobUpdate::new()
        .callback("https://app.example.com/hooks/oc".parse().unwrap())
        .notify_status(true)
        .fail_on_input_error(false)
        .download_password(fake_secret("download_password"));
    let job = oc(&r.base_url())
        .update_job(&handle(), &update)
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Ready);
    assert!(job.status.is_staged());
    verify(&r);
}

#[tokio::test]
async fn an_empty_update_is_refused_without_a_request() {
    // No cassette interaction at all: any request would be unmatched.
    let server = wiremock::MockServer::start().await;
    let e = oc(&server.uri())
        .update_job(&handle(), &JobUpdate::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn list_all_walks_every_page_until_the_total() {
    use futures_util::TryStreamExt;
    let (_, r) = replay("list_all_pages").await;
    let oc = oc(&r.base_url());
    let jobs: Vec<_> = oc
        .list_all(Some(JobStatus::Failed))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(jobs.len(), 3);
    assert!(jobs.iter().all(|j| j.status == JobStatus::Failed));
    assert_eq!(jobs[2].handle.id, "8daae6d1-26e0-11e5-b2a1-080027332503");
    // Two pages and no third request: verify() fails on an unmatched one.
    verify(&r);
}

#[tokio::test]
async fn a_named_instance_names_its_handles_jobs_and_errors() {
    let (_, r) = replay("start_conflict_already_running").await;
    let oc = OnlineConvert::new(
        builder(&format!("{}/v2", r.base_url()))
            .name("oc-eu")
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(oc.info().name, "oc-eu");
    let e = oc.submit(&remote()).await.unwrap_err();
    assert_eq!(e.provider(), "oc-eu");
    assert_eq!(e.job().unwrap().provider, "oc-eu");
    verify(&r);
    assert!(builder("https://example.com").name("a/b").build().is_err());
}

#[tokio::test]
async fn an_ambiguous_upload_is_reconciled_without_a_second_upload() {
    let (_, r) = replay("upload_ambiguous_reconciled").await;
    oc(&r.base_url()).submit(&sample_upload()).await.unwrap();
    verify(&r);
}

#[tokio::test]
async fn a_resent_upload_whose_first_send_lands_late_is_converted_once() {
    let (_, r) = replay("upload_resent_first_lands_late").await;
    oc(&r.base_url()).submit(&sample_upload()).await.unwrap();
    // The late input was deleted before the start: every interaction ran, in order.
    verify(&r);
}

#[tokio::test]
async fn list_with_filters_and_an_empty_page() {
    let (_, r) = replay("list_jobs").await;
    let oc = oc(&r.base_url());
    let page = oc.list(Some(&JobStatus::Completed), Some(2)).await.unwrap();
    assert_eq!(page.total, Some(51));
    assert_eq!(page.jobs.len(), 1);
    assert_eq!(page.jobs[0].status, JobStatus::Completed);
    let empty = oc.list(Some(&JobStatus::Failed), None).await.unwrap();
    assert!(empty.jobs.is_empty());
    verify(&r);
}

#[tokio::test]
async fn history_and_statuses() {
    let (_, r) = replay("history").await;
    let history = oc(&r.base_url()).history(&handle()).await.unwrap();
    insta::assert_json_snapshot!("history", history);
    verify(&r);

    let (_, r) = replay("statuses").await;
    let statuses = oc(&r.base_url()).statuses().await.unwrap();
    assert!(statuses.iter().any(|s| s.code == "completed"));
    assert_eq!(statuses.len(), 7);
    verify(&r);
}

#[tokio::test]
async fn reorder_inputs_reads_the_count_then_patches() {
    let (_, r) = replay("reorder_inputs").await;
    let orders = [
        InputOrder::new("in-2", 1).slide_duration(2.5),
        InputOrder::new("in-1", 2).resize_handling("fit"),
    ];
    oc(&r.base_url())
        .reorder_inputs(&handle(), &orders)
        .await
        .unwrap();
    verify(&r);
}

#[tokio::test]
async fn reorder_beyond_the_input_count_is_refused_before_the_patch() {
    // The cassette's job has two inputs; position 3 is refused and no PATCH is sent.
    let (cassette, r) = replay("reorder_inputs").await;
    let e = oc(&r.base_url())
        .reorder_inputs(&handle(), &[InputOrder::new("in-1", 3)])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.message().contains("beyond the job's 2 input"), "{e}");
    let report = r.verify().unwrap_err();
    assert!(report.contains("never requested"), "{report}");
    assert_eq!(cassette.interactions.len(), 2);
}

#[tokio::test]
async fn out_of_range_values_are_refused_without_any_request() {
    let oc = oc("http://127.0.0.1:9");
    for orders in [
        vec![InputOrder::new("a", 0)],
        vec![InputOrder::new("a", 1).slide_duration(0.05)],
        vec![InputOrder::new("a", 1).slide_duration(120.5)],
        vec![InputOrder::new("a", 1), InputOrder::new("b", 1)],
    ] {
        let e = oc.reorder_inputs(&handle(), &orders).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{orders:?}");
    }
    let e = oc
        .patch_output(&handle(), "o", Some("../x.pdf"), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = oc
        .patch_conversion(&handle(), "c", None, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn set_decrypt_password() {
    let (_, r) = replay("set_decrypt_password").await;
    oc(&r.base_url())
        .set_decrypt_password(&handle(), "in-1", &Secret::new(fake_secret("pdf_password")))
        .await
        .unwrap();
    verify(&r);
}

#[tokio::test]
async fn patch_conversion_and_output() {
    let (_, r) = replay("patch_conversion").await;
    let options = json!({"quality": 90}).as_object().cloned();
    let metadata = json!({"author": "ACME"}).as_object().cloned();
    oc(&r.base_url())
        .patch_conversion(
            &handle(),
            "c3c1b2e8-2b6b-4d4e-9d1c-0c2a3f3e9a11",
            options,
            metadata,
        )
        .await
        .unwrap();
    verify(&r);

    let (_, r) = replay("patch_output").await;
    oc(&r.base_url())
        .patch_output(
            &handle(),
            "2b46fd4e-46fd-4e3c-826b-db01a140dea0",
            Some("report.jpg"),
            Some(&Secret::new(fake_secret("download_password"))),
        )
        .await
        .unwrap();
    verify(&r);
}

#[tokio::test]
async fn download_with_a_password_sends_only_the_password() {
    let (_, r) = replay("download_with_password").await;
    let output = multiconvert_core::Output::new(format!(
        "{}/dl/web2/download-file/6f8b4b3b-6f8b-4b3b-b67e-150c407614b8/sample.jpg",
        r.base_url()
    ));
    let oc = oc(&r.base_url());
    let mut stream = oc
        .download_with_password(&output, &Secret::new(fake_secret("download_password")))
        .await
        .unwrap();
    use futures_util_free::next_chunk;
    let first = next_chunk(&mut stream).await;
    assert!(first.starts_with(b"stand-in"));
    verify(&r);
}

mod futures_util_free {
    /// Reads the first chunk without pulling in a stream crate for one call.
    pub async fn next_chunk(stream: &mut multiconvert_core::ByteStream) -> Vec<u8> {
        std::future::poll_fn(|cx| stream.stream.as_mut().poll_next(cx))
            .await
            .unwrap()
            .unwrap()
            .to_vec()
    }
}

#[tokio::test]
async fn conversions_catalog() {
    let (_, r) = replay("conversions_catalog").await;
    let catalog = oc(&r.base_url())
        .conversions(Some("image"), Some("jpg"), None)
        .await
        .unwrap();
    assert_eq!(catalog.len(), 1);
    assert_eq!(catalog[0].options["quality"]["maximum"], 100);
    verify(&r);
}

#[tokio::test]
async fn the_legacy_base_url_without_v2_works() {
    let (_, r) = replay("legacy_base_url").await;
    let oc = OnlineConvert::new(builder(&r.base_url()).build().unwrap()).unwrap();
    oc.submit(&remote()).await.unwrap();
    verify(&r);
}

#[tokio::test]
async fn an_unsigned_callback_is_an_unverified_hint_confirmed_by_polling() {
    let (cassette, r) = replay("callback_unsigned").await;
    let oc = oc(&r.base_url());
    let request = multiconvert_conformance::scenarios::inbound_request(
        &cassette,
        &r.bindings(),
        &common::fixtures(),
    )
    .unwrap();
    let event = oc.webhook(&request).unwrap();
    assert!(!event.verified);
    assert_eq!(event.status, Some(JobStatus::Completed));
    assert_eq!(
        event.dedupe_key,
        format!("{JOB}:completed:2017-08-15T17:21:30")
    );
    let job = oc.confirm(&event).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    verify(&r);
}

#[tokio::test]
async fn a_cloud_location_needs_a_provider() {
    let oc = oc("http://127.0.0.1:9");
    let request = JobRequest::new(Input::cloud(CloudLocation::new("")), Conversion::to("jpg"));
    let e = oc.submit(&request).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn upload_progress_is_reported_chunk_by_chunk() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use multiconvert_core::upload::{Progress, ProgressEvent};

    let (_, r) = replay("upload_input_completes").await;
    let sent = Arc::new(AtomicU64::new(0));
    let restarts = Arc::new(AtomicU64::new(0));
    let (s, rs) = (sent.clone(), restarts.clone());
    let mut request = JobRequest::new(
        Input::path(common::fixtures().join("../../conformance/assets/sample.png")),
        Conversion::to("jpg").category("image"),
    );
    request.upload_progress = Some(Progress::new(move |event| match event {
        ProgressEvent::Restart => {
            rs.fetch_add(1, Ordering::SeqCst);
            s.store(0, Ordering::SeqCst);
        }
        ProgressEvent::Advance(n) => {
            s.fetch_add(n, Ordering::SeqCst);
        }
        _ => {}
    }));
    let oc = oc(&r.base_url());
    let job = oc
        .convert(
            &request,
            &multiconvert_conformance::scenarios::fast_policy(),
        )
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(
        sent.load(Ordering::SeqCst),
        165,
        "every byte of the sample, once"
    );
    assert_eq!(restarts.load(Ordering::SeqCst), 1);
}
