//! How a failover chooses among its members: in order, by expected cost (price × the units its
//! jobs of that conversion cost, learned as they complete), or one preferred; and never past a
//! member's budget.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use multiconvert_core::failover::{Failover, Route};
use multiconvert_core::{
    async_trait, Capabilities, Conversion, ConversionProvider, Cost, Error, ErrorKind, Input, Job,
    JobHandle, JobRequest, JobStatus, Operation, PollPolicy, Price, ProviderExt, ProviderInfo,
    Result, WebhookEvent, WebhookRequest,
};

/// A member whose every job completes costing `units`.
#[derive(Debug)]
struct Priced {
    info: ProviderInfo,
    units: u64,
    submits: AtomicU64,
}

impl Priced {
    fn new(name: &str, price: Option<f64>, units: u64) -> Arc<Self> {
        let caps = Capabilities::new().with_remote_input(true);
        Arc::new(Priced {
            info: ProviderInfo::new(name.to_owned(), caps, PollPolicy::default())
                .with_price(price.map(|p| Price::per_unit(p).unwrap())),
            units,
            submits: AtomicU64::new(0),
        })
    }
}

#[async_trait]
impl ConversionProvider for Priced {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }
    async fn submit(&self, _: &JobRequest) -> Result<JobHandle> {
        let n = self.submits.fetch_add(1, Ordering::SeqCst);
        Ok(JobHandle::new(
            self.info.name.to_string(),
            format!("job-{n}"),
        ))
    }
    async fn poll(&self, h: &JobHandle) -> Result<Job> {
        let mut job = Job::new(h.clone(), JobStatus::Completed);
        job.cost = Some(Cost::new(self.units, "credits"));
        Ok(job)
    }
    fn webhook(&self, _: &WebhookRequest) -> Result<WebhookEvent> {
        Err(Error::new(
            ErrorKind::WebhookRejected,
            "priced",
            Operation::Webhook,
            "no",
        ))
    }
    async fn delete(&self, _: &JobHandle) -> Result<()> {
        Ok(())
    }
}

fn request(target: &str) -> JobRequest {
    JobRequest::new(
        Input::remote("https://example.com/a.png".parse().unwrap()),
        Conversion::to(target),
    )
}

fn router(members: &[Arc<Priced>], route: Route) -> Failover {
    members
        .iter()
        .fold(Failover::builder().route(route), |b, m| b.member(m.clone()))
        .build()
        .unwrap()
}

async fn run(router: &Failover, request: &JobRequest) -> Job {
    let handle = router.submit(request).await.unwrap();
    router.wait(&handle, &PollPolicy::default()).await.unwrap()
}

#[test]
fn routes_are_read_as_written_and_a_preferred_member_must_exist() {
    assert_eq!("ordered".parse::<Route>().unwrap(), Route::Ordered);
    assert_eq!(" cheapest ".parse::<Route>().unwrap(), Route::Cheapest);
    assert_eq!(
        "prefer=convertapi".parse::<Route>().unwrap(),
        Route::Prefer("convertapi".into())
    );
    for bad in ["", "fastest", "prefer=", "prefer= "] {
        let e = bad.parse::<Route>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{bad}");
    }
    let a = Priced::new("a", None, 1);
    let e = Failover::builder()
        .route(Route::Prefer("b".into()))
        .member(a)
        .build()
        .unwrap_err();
    assert!(e.message().contains("no member is called"), "{e}");
}

#[tokio::test]
async fn ordered_keeps_the_order_and_prefer_puts_one_first() {
    let members = [
        Priced::new("a", Some(3.0), 1),
        Priced::new("b", Some(1.0), 1),
        Priced::new("c", None, 1),
    ];
    let png = request("jpg");
    assert_eq!(
        router(&members, Route::Ordered).order(&png),
        ["a", "b", "c"]
    );
    assert_eq!(
        router(&members, Route::Prefer("c".into())).order(&png),
        ["c", "a", "b"]
    );
}

#[tokio::test]
async fn cheapest_starts_from_prices_and_learns_what_each_conversion_costs() {
    // `a` is cheap a unit but its jpg jobs cost 5 units; `b` costs 3 a unit, 1 unit a job;
    // `c` has no price and comes last.
    let (a, b, c) = (
        Priced::new("a", Some(1.0), 5),
        Priced::new("b", Some(3.0), 1),
        Priced::new("c", None, 1),
    );
    let router = router(&[c.clone(), b.clone(), a.clone()], Route::Cheapest);
    let jpg = request("jpg");
    // Nothing learned: one unit a conversion, so the lowest price first.
    assert_eq!(router.order(&jpg), ["a", "b", "c"]);
    let job = run(&router, &jpg).await;
    assert_eq!(job.handle.provider, "a");
    // a's jpg costs 5 × 1.0 now, more than b's 1 × 3.0.
    assert_eq!(router.order(&jpg), ["b", "a", "c"]);
    // Polling the same job again teaches nothing new.
    router.poll(&job.handle).await.unwrap();
    assert_eq!(router.order(&jpg), ["b", "a", "c"]);
    let job = run(&router, &jpg).await;
    assert_eq!(job.handle.provider, "b");
    // Another conversion at `a` is expected to cost what a's jobs cost on average (5).
    assert_eq!(router.order(&request("gif")), ["b", "a", "c"]);
    assert_eq!(a.submits.load(Ordering::SeqCst), 1);
    assert_eq!(c.submits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn cheapest_starts_from_what_a_journal_says() {
    let (a, b) = (
        Priced::new("a", Some(1.0), 5),
        Priced::new("b", Some(3.0), 1),
    );
    let router = Failover::builder()
        .route(Route::Cheapest)
        .member(a)
        .member(b)
        .expected_cost("a", "png", "JPG", 4.0, 10)
        .build()
        .unwrap();
    assert_eq!(router.order(&request("jpg")), ["b", "a"]);
}

#[tokio::test]
async fn a_member_over_its_budget_is_skipped_and_the_last_says_which_budget_stopped_it() {
    use multiconvert_core::spend::{MemoryLedger, Period, SpendLedger};
    // `a` costs 2 units a job (5 at most a day): the third job would pass it.
    let (a, b) = (Priced::new("a", None, 2), Priced::new("b", None, 1));
    let ledger = Arc::new(MemoryLedger::default());
    let router = Failover::builder()
        .member(a.clone())
        .member(b.clone())
        .budget("a", "5/day".parse().unwrap())
        .budget("b", "1/day".parse().unwrap())
        .ledger(ledger.clone())
        .build()
        .unwrap();
    let today = Period::Day.key(chrono::Utc::now());
    let jpg = request("jpg");
    // Nothing learned: one unit reserved, settled to the 2 it cost.
    assert_eq!(run(&router, &jpg).await.handle.provider, "a");
    assert_eq!(ledger.spent("a", &today).await.unwrap(), 2);
    // Learned: 2 expected, 4 of 5 reserved, then settled to 4.
    assert_eq!(run(&router, &jpg).await.handle.provider, "a");
    assert_eq!(ledger.spent("a", &today).await.unwrap(), 4);
    // 4 + 2 > 5: `b` takes it, then `b` is spent too.
    let job = run(&router, &jpg).await;
    assert_eq!(job.handle.provider, "b");
    let attempts = Failover::attempts(&job.handle);
    assert!(
        attempts[0].detail.contains("over its budget of 5/day"),
        "{attempts:?}"
    );
    let e = router.submit(&jpg).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QuotaExhausted);
    assert!(e.message().contains("budgets stopped this job"), "{e}");
    assert!(e.message().contains("a: over its budget of 5/day"), "{e}");
    assert!(e.message().contains("b: over its budget of 1/day"), "{e}");
    assert_eq!(a.submits.load(Ordering::SeqCst), 2);
    assert_eq!(b.submits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_budget_for_no_member_is_a_configuration_error() {
    let e = Failover::builder()
        .member(Priced::new("a", None, 1))
        .budget("b", "1/day".parse().unwrap())
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
}
