//! What a provider's capabilities let it take.

use multiconvert_core::{Capabilities, CloudLocation, Conversion, Input, JobRequest};

const FORMATS: multiconvert_core::FormatTable = &[("png", &["jpg", "gif"]), ("jpg", &["png"])];

fn png(target: &str) -> JobRequest {
    JobRequest::new(Input::path("a.png"), Conversion::to(target))
}

#[test]
fn refusals_name_what_is_missing() {
    let caps = Capabilities::new().with_upload(true).with_formats(FORMATS);
    assert_eq!(caps.refusal(&png("jpg")), None);
    assert!(caps.refusal(&png("pdf")).unwrap().contains("png to pdf"));
    let remote = JobRequest::new(
        Input::remote("https://x/a.png".parse().unwrap()),
        Conversion::to("jpg"),
    );
    assert!(caps.refusal(&remote).unwrap().contains("remote"));
    assert!(caps
        .refusal(&png("jpg").input(Input::path("b.png")))
        .unwrap()
        .contains("several inputs"));
    assert!(caps
        .refusal(&png("jpg").conversion(Conversion::to("gif")))
        .unwrap()
        .contains("several conversions"));
    assert!(caps
        .refusal(&png("jpg").callback("https://app/cb".parse().unwrap()))
        .unwrap()
        .contains("callbacks"));
    let target = JobRequest::new(
        Input::path("a.png"),
        Conversion::to("jpg").output_target(CloudLocation::new("azure")),
    );
    assert!(caps.refusal(&target).unwrap().contains("output targets"));
    assert!(caps.refusal(&JobRequest::default()).is_some());
    // An unknown source format is the provider's to judge.
    let unnamed = JobRequest::new(Input::bytes(&b"x"[..], "noext"), Conversion::to("jpg"));
    assert_eq!(caps.refusal(&unnamed), None);
    // An explicit source format is checked.
    let declared = JobRequest::new(
        Input::bytes(&b"x"[..], "noext"),
        Conversion::to("jpg").from("gif"),
    );
    assert!(caps.refusal(&declared).is_some());
}

#[test]
fn a_union_has_every_ability_and_no_format_table() {
    let a = Capabilities::new().with_upload(true).with_formats(FORMATS);
    let b = Capabilities::new()
        .with_remote_input(true)
        .with_webhooks(true);
    let u = a.union(b);
    assert!(u.upload() && u.remote_input() && u.webhooks());
    assert!(!u.delete());
    assert_eq!(u.supports("png", "mp3"), None);
    assert_eq!(Capabilities::default(), Capabilities::new());
}
