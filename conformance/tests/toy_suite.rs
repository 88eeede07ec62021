//! The conformance suite against the toy provider: green when it behaves, red when it does not.

mod toy;

use std::path::Path;

use multiconvert_conformance::{block_on, run_scenario, Outcome};
use toy::{Breakage, Toy};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/toy");

multiconvert_conformance::conformance_suite! {
    provider: "toy",
    fixtures: FIXTURES,
    factory: |base: &str| Toy::build(base, None),
}

fn run_broken(scenario: &str, breakage: Breakage) -> Outcome {
    block_on(run_scenario(Path::new(FIXTURES), scenario, |base: &str| {
        Toy::build(base, Some(breakage))
    }))
}

#[track_caller]
fn assert_fails(outcome: Outcome, needle: &str) {
    match outcome {
        Outcome::Failed(report) => assert!(
            report.contains(needle),
            "the failure report should mention {needle:?}:\n{report}"
        ),
        other => panic!("a broken provider passed: {other:?}"),
    }
}

#[test]
fn a_failed_job_reported_as_completed_is_caught() {
    assert_fails(
        run_broken("job_fails", Breakage::FailedLooksCompleted),
        "expected a failed job, got completed",
    );
}

#[test]
fn a_secret_in_an_error_is_caught() {
    assert_fails(
        run_broken("auth_rejected", Breakage::LeaksKeyInErrors),
        "shows a secret",
    );
}

#[test]
fn a_secret_sent_to_the_download_host_is_caught() {
    assert_fails(
        run_broken("remote_input_completes", Breakage::KeyToDownloadHost),
        "header x-toy-key: must not be sent",
    );
}

#[test]
fn an_unchecked_webhook_signature_is_caught() {
    assert_fails(
        run_broken("webhook_forged", Breakage::TrustsWebhooks),
        "expected a webhook_rejected error",
    );
}

#[test]
fn an_unexpected_extra_request_is_caught_with_a_diff() {
    assert_fails(
        run_broken("transient_error_then_ok", Breakage::DoublePoll),
        "unexpected request",
    );
}

#[test]
fn a_missing_cassette_fails_instead_of_passing() {
    let outcome = block_on(run_scenario(
        Path::new("/nonexistent"),
        "not_found",
        |b: &str| Toy::build(b, None),
    ));
    assert_fails(outcome, "cannot read");
}
