//! The router's rules, as properties over scripted fake members on a paused tokio clock.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use multiconvert_core::failover::Failover;
use multiconvert_core::{
    async_trait, Capabilities, Conversion, ConversionProvider, Error, ErrorKind, Input, Job,
    JobHandle, JobRequest, Operation, PollPolicy, ProviderInfo, Result, WebhookEvent,
    WebhookRequest,
};
use proptest::prelude::*;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
enum Step {
    Ok,
    /// A failover-eligible error, with an optional Retry-After in seconds.
    Eligible(ErrorKind, Option<u64>),
    Invalid,
}

#[derive(Debug)]
struct Scripted {
    info: ProviderInfo,
    script: Mutex<VecDeque<Step>>,
    calls: Mutex<Vec<Instant>>,
}

impl Scripted {
    fn new(name: String, remote: bool, script: Vec<Step>) -> Arc<Self> {
        let caps = Capabilities::new()
            .with_remote_input(remote)
            .with_upload(true);
        Arc::new(Scripted {
            info: ProviderInfo::new(name, caps, PollPolicy::default()),
            script: Mutex::new(script.into()),
            calls: Mutex::new(Vec::new()),
        })
    }
    fn peek(&self) -> Step {
        self.script
            .lock()
            .unwrap()
            .front()
            .copied()
            .unwrap_or(Step::Ok)
    }
    fn calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

#[async_trait]
impl ConversionProvider for Scripted {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }
    async fn submit(&self, _: &JobRequest) -> Result<JobHandle> {
        self.calls.lock().unwrap().push(Instant::now());
        let step = self.script.lock().unwrap().pop_front().unwrap_or(Step::Ok);
        let name = self.info.name.to_string();
        match step {
            Step::Ok => Ok(JobHandle::new(name, "job")),
            Step::Eligible(kind, after) => {
                let mut e = Error::new(kind, name, Operation::Submit, "vendor trouble");
                if let Some(s) = after {
                    e = e.with_retry_after(Duration::from_secs(s));
                }
                Err(e)
            }
            Step::Invalid => Err(Error::new(
                ErrorKind::InvalidInput,
                name,
                Operation::Submit,
                "bad file",
            )),
        }
    }
    async fn poll(&self, h: &JobHandle) -> Result<Job> {
        Ok(Job::new(h.clone(), multiconvert_core::JobStatus::Completed))
    }
    fn webhook(&self, _: &WebhookRequest) -> Result<WebhookEvent> {
        Err(Error::new(
            ErrorKind::WebhookRejected,
            "fake",
            Operation::Webhook,
            "no",
        ))
    }
    async fn delete(&self, _: &JobHandle) -> Result<()> {
        Ok(())
    }
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Ok),
        1 => (prop_oneof![
            Just(ErrorKind::Transport),
            Just(ErrorKind::RateLimited),
            Just(ErrorKind::QuotaExhausted),
            Just(ErrorKind::Unauthenticated),
            Just(ErrorKind::Unsupported),
        ], prop::option::of(0u64..120)).prop_map(|(k, a)| Step::Eligible(k, a)),
        1 => Just(Step::Invalid),
    ]
}

fn remote_request() -> JobRequest {
    JobRequest::new(
        Input::remote("https://example.com/a.png".parse().unwrap()),
        Conversion::to("jpg"),
    )
}

const BASE: Duration = Duration::from_secs(10);
const QUOTA: Duration = Duration::from_secs(60);

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES (the long run: 100000) as for every other property; 128 by default.
        cases: std::env::var("PROPTEST_CASES").or_else(|_| std::env::var("MC_PROPTEST_CASES")).ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_router_keeps_its_rules(
        members in prop::collection::vec((any::<bool>(), prop::collection::vec(step(), 0..6)), 1..5),
        cap_seed in any::<usize>(),
        gaps in prop::collection::vec(0u64..90, 1..7),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        runtime.block_on(async {
            let fakes: Vec<Arc<Scripted>> = members
                .iter()
                .enumerate()
                .map(|(i, (remote, script))| Scripted::new(format!("m{i}"), *remote, script.clone()))
                .collect();
            let cap = 1 + cap_seed % fakes.len();
            let mut builder = Failover::builder().base_cooldown(BASE).quota_cooldown(QUOTA).max_attempts(cap);
            for f in &fakes {
                builder = builder.member(f.clone());
            }
            let router = builder.build().unwrap();
            // The model: when each member may be called again.
            let mut cool_until: Vec<Option<Instant>> = vec![None; fakes.len()];
            for gap in gaps {
                tokio::time::sleep(Duration::from_secs(gap)).await;
                let now = Instant::now();
                let before: Vec<usize> = fakes.iter().map(|f| f.calls()).collect();
                // What the rules say must happen.
                let mut expected_ok = None;
                let mut expected_invalid = false;
                let mut called = 0;
                let mut model_cool = cool_until.clone();
                for (i, f) in fakes.iter().enumerate() {
                    let capable = members[i].0;
                    let cooling = model_cool[i].is_some_and(|u| u > now);
                    if called >= cap || cooling || !capable {
                        continue;
                    }
                    called += 1;
                    match f.peek() {
                        Step::Ok => { expected_ok = Some(i); break; }
                        Step::Invalid => { expected_invalid = true; break; }
                        // A member that cannot do the job is passed over without a cooldown.
                        Step::Eligible(ErrorKind::Unsupported, _) => {}
                        // Spent credits rest until the vendor's Retry-After, else the quota
                        // cooldown; anything else the Retry-After or the base.
                        Step::Eligible(kind, after) => {
                            let rest = if kind == ErrorKind::QuotaExhausted { QUOTA } else { BASE };
                            let cooldown = after.map_or(rest, Duration::from_secs).max(BASE);
                            model_cool[i] = Some(now + cooldown);
                        }
                    }
                }
                let result = router.submit(&remote_request()).await;
                let calls_now: Vec<usize> = fakes.iter().map(|f| f.calls()).collect();
                let called_now: Vec<usize> = (0..fakes.len()).filter(|&i| calls_now[i] > before[i]).collect();
                // Never more than the cap, never a member twice.
                prop_assert!(called_now.len() <= cap, "called {called_now:?} with cap {cap}");
                prop_assert!(called_now.iter().all(|&i| calls_now[i] == before[i] + 1));
                for &i in &called_now {
                    // Never a member in cooldown, never an incapable one.
                    prop_assert!(cool_until[i].is_none_or(|u| u <= now), "m{i} called while cooling");
                    prop_assert!(members[i].0, "m{i} cannot take remote inputs");
                }
                match (expected_ok, expected_invalid, &result) {
                    (Some(i), _, Ok(handle)) => prop_assert_eq!(&handle.provider, &format!("m{i}")),
                    (Some(i), _, Err(e)) => prop_assert!(false, "m{i} could serve it, got {e}"),
                    (None, true, Err(e)) => {
                        // Invalid input ends the submit: nobody after the member that refused it.
                        prop_assert_eq!(e.kind(), ErrorKind::InvalidInput);
                        let last = *called_now.last().unwrap();
                        prop_assert!(matches!(members[last].1.get(before[last]), Some(Step::Invalid)));
                    }
                    (None, _, Ok(h)) => prop_assert!(false, "no member could serve it, yet {} did", h.provider),
                    (None, false, Err(e)) => prop_assert!(e.kind() != ErrorKind::InvalidInput),
                }
                cool_until = model_cool;
            }
            Ok(())
        })?;
    }
}

#[tokio::test(start_paused = true)]
async fn the_first_vendor_down_the_second_takes_the_job_and_the_first_cools_down() {
    let down = Scripted::new(
        "down".into(),
        true,
        vec![Step::Eligible(ErrorKind::Transport, None)],
    );
    let up = Scripted::new("up".into(), true, vec![]);
    let router = Failover::builder()
        .member(down.clone())
        .member(up.clone())
        .build()
        .unwrap();
    let handle = router.submit(&remote_request()).await.unwrap();
    assert_eq!(handle.provider, "up");
    let attempts = Failover::attempts(&handle);
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].provider, "down");
    assert_eq!(attempts[0].error, Some(ErrorKind::Transport));
    assert_eq!(attempts[1].error, None);
    assert!(router.is_cooling("down"));
    // While it cools, the next job goes straight to the second.
    router.submit(&remote_request()).await.unwrap();
    assert_eq!(down.calls(), 1);
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert!(!router.is_cooling("down"));
    // Poll goes to the owner.
    let job = router.poll(&handle).await.unwrap();
    assert_eq!(job.handle.provider, "up");
}

#[tokio::test(start_paused = true)]
async fn when_every_member_fails_the_error_lists_each_attempt() {
    let a = Scripted::new(
        "a".into(),
        true,
        vec![Step::Eligible(ErrorKind::RateLimited, Some(5))],
    );
    let b = Scripted::new(
        "b".into(),
        true,
        vec![Step::Eligible(ErrorKind::QuotaExhausted, None)],
    );
    let router = Failover::builder().member(a).member(b).build().unwrap();
    let e = router.submit(&remote_request()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QuotaExhausted);
    assert_eq!(e.attempts().len(), 2);
    let shown = e.to_string();
    assert!(shown.contains("a: ") && shown.contains("b: "), "{shown}");
}

#[tokio::test(start_paused = true)]
async fn an_ambiguous_submit_never_fails_over() {
    #[derive(Debug)]
    struct Ambiguous(ProviderInfo);
    #[async_trait]
    impl ConversionProvider for Ambiguous {
        fn info(&self) -> &ProviderInfo {
            &self.0
        }
        async fn submit(&self, _: &JobRequest) -> Result<JobHandle> {
            Err(
                Error::new(ErrorKind::Timeout, "amb", Operation::Submit, "no answer")
                    .with_delivery(multiconvert_core::Delivery::Ambiguous),
            )
        }
        async fn poll(&self, h: &JobHandle) -> Result<Job> {
            Ok(Job::new(h.clone(), multiconvert_core::JobStatus::Completed))
        }
        fn webhook(&self, _: &WebhookRequest) -> Result<WebhookEvent> {
            unreachable!()
        }
        async fn delete(&self, _: &JobHandle) -> Result<()> {
            Ok(())
        }
    }
    let amb = Arc::new(Ambiguous(ProviderInfo::new(
        "amb",
        Capabilities::new().with_remote_input(true),
        PollPolicy::default(),
    )));
    let next = Scripted::new("next".into(), true, vec![]);
    let router = Failover::builder()
        .member(amb)
        .member(next.clone())
        .build()
        .unwrap();
    let e = router.submit(&remote_request()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(next.calls(), 0, "a job may exist at the first vendor");
}

#[tokio::test(start_paused = true)]
async fn a_one_shot_reader_is_never_offered_to_a_second_member() {
    let a = Scripted::new(
        "a".into(),
        true,
        vec![Step::Eligible(ErrorKind::Transport, None)],
    );
    let b = Scripted::new("b".into(), true, vec![]);
    let router = Failover::builder()
        .member(a)
        .member(b.clone())
        .build()
        .unwrap();
    let request = JobRequest::new(
        Input::reader(&b"bytes"[..], 5, "a.png"),
        Conversion::to("jpg"),
    );
    assert!(router.submit(&request).await.is_err());
    assert_eq!(b.calls(), 0);
}

/// A member that accepts every job and then fails it, blaming `source`.
#[derive(Debug)]
struct FailsJobs {
    info: ProviderInfo,
    source: &'static str,
    submits: Mutex<usize>,
}

impl FailsJobs {
    fn new(name: &str, source: &'static str) -> Arc<Self> {
        Arc::new(FailsJobs {
            info: ProviderInfo::new(
                name.to_owned(),
                Capabilities::new().with_remote_input(true),
                PollPolicy::default(),
            ),
            source,
            submits: Mutex::new(0),
        })
    }
}

#[async_trait]
impl ConversionProvider for FailsJobs {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }
    async fn submit(&self, _: &JobRequest) -> Result<JobHandle> {
        *self.submits.lock().unwrap() += 1;
        Ok(JobHandle::new(self.info.name.to_string(), "doomed"))
    }
    async fn poll(&self, h: &JobHandle) -> Result<Job> {
        let mut job = Job::new(h.clone(), multiconvert_core::JobStatus::Failed);
        job.messages
            .push(multiconvert_core::JobMessage::error("it broke").with_source(self.source, None));
        Ok(job)
    }
    fn webhook(&self, _: &WebhookRequest) -> Result<WebhookEvent> {
        Err(Error::new(
            ErrorKind::WebhookRejected,
            "fake",
            Operation::Webhook,
            "no",
        ))
    }
    async fn delete(&self, _: &JobHandle) -> Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_vendor_side_failure_is_resubmitted_to_the_next_member() {
    let broken = FailsJobs::new("broken", multiconvert_core::VENDOR_SOURCE);
    let good = Scripted::new("good".into(), true, vec![]);
    let router = Failover::builder()
        .member(broken.clone())
        .member(good.clone())
        .build()
        .unwrap();
    let job = router
        .convert_resubmitting(&remote_request(), &PollPolicy::default())
        .await
        .unwrap();
    assert_eq!(job.handle.provider, "good");
    assert_eq!(good.calls(), 1);
    let attempts = Failover::attempts(&job.handle);
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert_eq!(attempts[1].error, Some(ErrorKind::ConversionFailed));
    assert!(router.is_cooling("broken"));
}

#[tokio::test(start_paused = true)]
async fn a_failure_caused_by_the_input_is_never_resubmitted() {
    let strict = FailsJobs::new("strict", "input");
    let good = Scripted::new("good".into(), true, vec![]);
    let router = Failover::builder()
        .member(strict.clone())
        .member(good.clone())
        .build()
        .unwrap();
    let e = router
        .convert_resubmitting(&remote_request(), &PollPolicy::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConversionFailed);
    assert_eq!(good.calls(), 0);
    assert_eq!(*strict.submits.lock().unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn when_every_member_fails_on_its_side_the_last_failure_is_returned() {
    let a = FailsJobs::new("a", multiconvert_core::VENDOR_SOURCE);
    let b = FailsJobs::new("b", multiconvert_core::VENDOR_SOURCE);
    let router = Failover::builder()
        .member(a.clone())
        .member(b.clone())
        .build()
        .unwrap();
    let e = router
        .convert_resubmitting(&remote_request(), &PollPolicy::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConversionFailed);
    assert_eq!(e.provider(), "b");
    assert_eq!(
        (*a.submits.lock().unwrap(), *b.submits.lock().unwrap()),
        (1, 1)
    );
}
