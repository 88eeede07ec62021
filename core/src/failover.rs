//! A router that is itself a provider: submit to the first member that can take the job, move on
//! when a vendor is down, throttled, out of credits or rejects our credentials, and send
//! everything about a job back to the member that owns it.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::capabilities::{Capabilities, ProviderInfo};
use crate::error::{Attempt, Error, ErrorKind, Operation, Result};
use crate::model::{Job, JobHandle, JobRequest, Output, WebhookEvent, WebhookRequest};
use crate::poll::PollPolicy;
use crate::provider::{ByteStream, ConversionProvider, ProviderExt};
use crate::seen::Seen;
use crate::shared::CooldownBoard;
use crate::spend::{Budget, MemoryLedger, Reserved, SpendLedger};

/// The handle meta key under which a router records its attempts (JSON).
pub const ATTEMPTS_META: &str = "failover.attempts";

/// The handle meta key under which a router records the job's conversions (`png>jpg`, several
/// joined by `,`), so that what the job cost is learned for that conversion.
pub const CONVERSIONS_META: &str = "failover.conversions";

/// The handle meta key under which a router records the budget reservation a job holds, to
/// settle with what the job cost when it ends.
pub const RESERVATION_META: &str = "failover.reservation";

/// In which order a [`Failover`] tries its members for a job.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Route {
    /// In the order they were added.
    #[default]
    Ordered,
    /// The lowest expected cost for this conversion first: a member's
    /// [`price`](ProviderInfo::price) times the units its jobs of the same conversion cost on
    /// average (learned from the jobs this router saw complete, or given with
    /// [`FailoverBuilder::expected_cost`]; one unit a conversion until then). Members without a
    /// price come after those with one; ties keep their order.
    Cheapest,
    /// The member of this name first, then the others in order.
    Prefer(String),
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Ordered => f.write_str("ordered"),
            Route::Cheapest => f.write_str("cheapest"),
            Route::Prefer(name) => write!(f, "prefer={name}"),
        }
    }
}

impl FromStr for Route {
    type Err = Error;

    /// `ordered`, `cheapest` or `prefer=<member name>`.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "ordered" => Ok(Route::Ordered),
            "cheapest" => Ok(Route::Cheapest),
            other => match other.strip_prefix("prefer=") {
                Some(name) if !name.trim().is_empty() => Ok(Route::Prefer(name.trim().to_owned())),
                _ => Err(Error::config(
                    "failover",
                    format!("{s:?} is not a route: write ordered, cheapest or prefer=<name>"),
                )),
            },
        }
    }
}

/// The request's conversions as (source, target) format pairs, in lower case.
fn conversion_pairs(request: &JobRequest) -> Vec<(String, String)> {
    request
        .format_pairs()
        .into_iter()
        .map(|(s, t)| (s.to_ascii_lowercase(), t.to_ascii_lowercase()))
        .collect()
}

/// What a member's jobs cost, by conversion: the mean units seen, and how many jobs.
#[derive(Default)]
struct Learned {
    by_conversion: HashMap<(String, String), (f64, u64)>,
    /// Jobs already counted (a completed job polled again counts once).
    counted: Seen<String, 10_000>,
}

impl Learned {
    fn add(&mut self, key: (String, String), amount: f64, jobs: u64) {
        let (mean, n) = self.by_conversion.entry(key).or_insert((0.0, 0));
        let total = *n + jobs;
        *mean += (amount - *mean) * jobs as f64 / total as f64;
        *n = total;
    }

    /// The units one conversion of `pair` is expected to cost: its mean, else the mean over
    /// every conversion seen.
    fn expected(&self, pair: &(String, String)) -> f64 {
        self.by_conversion
            .get(pair)
            .map_or_else(|| self.overall(), |(mean, _)| *mean)
    }

    /// The mean units of a conversion over every one seen; one before any.
    fn overall(&self) -> f64 {
        let (sum, n) = self
            .by_conversion
            .values()
            .fold((0.0, 0u64), |(s, c), (mean, n)| {
                (s + mean * *n as f64, c + n)
            });
        if n > 0 {
            sum / n as f64
        } else {
            1.0
        }
    }
}

/// Knows which conversions a vendor offers, possibly by asking it (and caching the answer).
#[async_trait]
pub trait FormatCatalog: Send + Sync + fmt::Debug {
    /// `Some(true)` / `Some(false)` when known, `None` when the catalog cannot tell.
    async fn supports(&self, source: &str, target: &str) -> Result<Option<bool>>;
}

struct Member {
    provider: Arc<dyn ConversionProvider>,
    catalog: Option<Arc<dyn FormatCatalog>>,
    cooling_until: Mutex<Option<Instant>>,
    learned: Mutex<Learned>,
}

impl Member {
    fn name(&self) -> String {
        self.provider.info().name.to_string()
    }
    fn cooling(&self, now: Instant) -> bool {
        self.cooling_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|until| until > now)
    }
    fn cool_down(&self, until: Instant) {
        let mut slot = self.cooling_until.lock().unwrap_or_else(|p| p.into_inner());
        *slot = Some(slot.map_or(until, |current| current.max(until)));
    }
    fn learned(&self) -> std::sync::MutexGuard<'_, Learned> {
        self.learned.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// The units of its cost `request` is expected to take here.
    fn expected_units(&self, request: &JobRequest) -> f64 {
        let learned = self.learned();
        let pairs = conversion_pairs(request);
        if pairs.is_empty() {
            learned.overall()
        } else {
            pairs.iter().map(|pair| learned.expected(pair)).sum()
        }
    }
    /// What `request` is expected to cost here, in the caller's money; infinite without a price.
    fn expected_cost(&self, request: &JobRequest) -> f64 {
        match self.provider.info().price {
            Some(price) => price.unit_price() * self.expected_units(request),
            None => f64::INFINITY,
        }
    }
    fn new(provider: Arc<dyn ConversionProvider>, catalog: Option<Arc<dyn FormatCatalog>>) -> Self {
        Member {
            provider,
            catalog,
            cooling_until: Mutex::new(None),
            learned: Mutex::new(Learned::default()),
        }
    }
}

/// Builds a [`Failover`].
pub struct FailoverBuilder {
    members: Vec<Member>,
    base_cooldown: Duration,
    max_attempts: Option<usize>,
    board: Option<Arc<dyn CooldownBoard>>,
    route: Route,
    expected: Vec<(String, (String, String), f64, u64)>,
    budgets: HashMap<String, Budget>,
    ledger: Option<Arc<dyn SpendLedger>>,
    quota_cooldown: Duration,
}

impl fmt::Debug for FailoverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailoverBuilder")
            .field("members", &self.members.len())
            .finish_non_exhaustive()
    }
}

impl FailoverBuilder {
    /// Adds a member; members are tried in the order they are added.
    pub fn member(mut self, provider: Arc<dyn ConversionProvider>) -> Self {
        self.members.push(Member::new(provider, None));
        self
    }
    /// Adds a member whose format support is looked up in `catalog`.
    pub fn member_with_catalog(
        mut self,
        provider: Arc<dyn ConversionProvider>,
        catalog: Arc<dyn FormatCatalog>,
    ) -> Self {
        self.members.push(Member::new(provider, Some(catalog)));
        self
    }
    /// Caps what member `member` may spend per period, in units of its cost: before a submit
    /// the job's expected cost is reserved in the [`ledger`](Self::ledger), and a member whose
    /// budget it would pass is skipped like a cooled-down one.
    pub fn budget(mut self, member: &str, budget: Budget) -> Self {
        self.budgets.insert(member.to_owned(), budget);
        self
    }
    /// Where budgets are counted (default: this process's memory; `multiconvert-store` gives
    /// one shared by every instance on a SQLite or PostgreSQL store).
    pub fn ledger(mut self, ledger: Arc<dyn SpendLedger>) -> Self {
        self.ledger = Some(ledger);
        self
    }
    /// How long a member whose vendor says its quota or credits ran out rests when the vendor
    /// gives no time to retry after (default one hour; never shorter than the base cooldown).
    pub fn quota_cooldown(mut self, cooldown: Duration) -> Self {
        self.quota_cooldown = cooldown;
        self
    }
    /// In which order members are tried (default [`Route::Ordered`]).
    pub fn route(mut self, route: Route) -> Self {
        self.route = route;
        self
    }
    /// What `jobs` earlier conversions of `source` to `target` at member `member` cost, on
    /// average (`mean` units of its cost): what [`Route::Cheapest`] starts from, say from a
    /// journal of earlier runs.
    pub fn expected_cost(
        mut self,
        member: &str,
        source: &str,
        target: &str,
        mean: f64,
        jobs: u64,
    ) -> Self {
        if mean.is_finite() && mean >= 0.0 && jobs > 0 {
            let pair = (source.to_ascii_lowercase(), target.to_ascii_lowercase());
            self.expected.push((member.to_owned(), pair, mean, jobs));
        }
        self
    }
    /// The shortest cooldown after a failover-eligible error (default 30 s); a longer
    /// `Retry-After` wins.
    pub fn base_cooldown(mut self, cooldown: Duration) -> Self {
        self.base_cooldown = cooldown;
        self
    }
    /// Shares cooldowns with other instances through `board` (`multiconvert-store` gives a
    /// SQLite or PostgreSQL one): a member one instance cooled down is skipped by all of them.
    pub fn cooldowns(mut self, board: Arc<dyn CooldownBoard>) -> Self {
        self.board = Some(board);
        self
    }
    /// How many members one submit may call at most (default: all).
    pub fn max_attempts(mut self, attempts: usize) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }
    /// Builds the router; it needs at least one member, with distinct names.
    pub fn build(self) -> Result<Failover> {
        let first = self
            .members
            .first()
            .ok_or_else(|| Error::config("failover", "a failover needs at least one member"))?;
        let mut names: Vec<String> = self.members.iter().map(Member::name).collect();
        names.sort();
        names.dedup();
        if names.len() != self.members.len() {
            return Err(Error::config("failover", "two members have the same name"));
        }
        let capabilities = self.members.iter().fold(Capabilities::new(), |acc, m| {
            acc.union(m.provider.info().capabilities)
        });
        let poll_policy: PollPolicy = first.provider.info().poll_policy;
        if let Some(name) = self.budgets.keys().find(|n| !names.contains(n)) {
            return Err(Error::config(
                "failover",
                format!("a budget for {name:?}, which is no member"),
            ));
        }
        if let Route::Prefer(name) = &self.route {
            if !names.contains(name) {
                return Err(Error::config(
                    "failover",
                    format!("prefer={name}: no member is called {name:?}"),
                ));
            }
        }
        for (name, pair, mean, jobs) in self.expected {
            if let Some(member) = self.members.iter().find(|m| m.name() == name) {
                member.learned().add(pair, mean, jobs);
            }
        }
        Ok(Failover {
            info: ProviderInfo::new("failover", capabilities, poll_policy),
            max_attempts: self.max_attempts.unwrap_or(self.members.len()),
            members: self.members,
            base_cooldown: self.base_cooldown,
            board: self.board,
            route: self.route,
            budgets: self.budgets,
            ledger: self
                .ledger
                .unwrap_or_else(|| Arc::new(MemoryLedger::default())),
            quota_cooldown: self.quota_cooldown,
            settled: Mutex::default(),
        })
    }
}

/// Failover across vendors, as a [`ConversionProvider`].
///
/// `submit` tries members in order. It skips a member that is cooling down or whose capabilities
/// (input kinds, several inputs or conversions, output targets, callbacks, formats) cannot serve
/// the request; a catalog that cannot answer (unreachable, or no such endpoint) skips nobody: the
/// member's own answer decides. A failover-eligible error ([`Error::is_failover_eligible`]:
/// transport, throttling, exhausted quota, rejected credentials, never an ambiguous submit) cools
/// the member down for `max(Retry-After, base)` and moves on; an
/// [`Unsupported`](ErrorKind::Unsupported) answer moves on without a cooldown; any other error
/// (invalid input above all) ends the submit at once. When every member fails, one error lists each attempt.
///
/// The handle names the member that owns the job, so `poll`, `delete` and `download` go to it;
/// the attempts are recorded in the handle ([`Failover::attempts`]) and traced.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use multiconvert_core::{ConversionProvider, failover::Failover};
/// # fn members(a: Arc<dyn ConversionProvider>, b: Arc<dyn ConversionProvider>) -> multiconvert_core::Result<()> {
/// let router = Failover::builder().member(a).member(b).build()?;
/// # let _ = router; Ok(()) }
/// ```
pub struct Failover {
    info: ProviderInfo,
    members: Vec<Member>,
    base_cooldown: Duration,
    max_attempts: usize,
    board: Option<Arc<dyn CooldownBoard>>,
    route: Route,
    budgets: HashMap<String, Budget>,
    ledger: Arc<dyn SpendLedger>,
    quota_cooldown: Duration,
    /// Reservations this router settled lately (a job polled again settles nothing).
    settled: Mutex<Seen<String, 10_000>>,
}

/// What a budget said about a member before a submit.
enum Hold {
    /// The member has no budget.
    Unbudgeted,
    /// Reserved under this id.
    Held(String),
    /// Skip it: why.
    Over(String),
}

impl fmt::Debug for Failover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failover")
            .field(
                "members",
                &self.members.iter().map(Member::name).collect::<Vec<_>>(),
            )
            .field("base_cooldown", &self.base_cooldown)
            .field("max_attempts", &self.max_attempts)
            .field("route", &self.route)
            .field("budgets", &self.budgets)
            .finish()
    }
}

impl Failover {
    /// A builder.
    pub fn builder() -> FailoverBuilder {
        FailoverBuilder {
            members: Vec::new(),
            base_cooldown: Duration::from_secs(30),
            max_attempts: None,
            board: None,
            route: Route::Ordered,
            expected: Vec::new(),
            budgets: HashMap::new(),
            ledger: None,
            quota_cooldown: Duration::from_secs(3600),
        }
    }

    /// Reserves what `request` is expected to cost at `member`, when it has a budget. A ledger
    /// that cannot answer skips the member: a budget is never passed for want of checking it.
    async fn hold(&self, member: &Member, request: &JobRequest) -> Hold {
        let name = member.name();
        let Some(budget) = self.budgets.get(&name) else {
            return Hold::Unbudgeted;
        };
        let amount = (member.expected_units(request).ceil() as u64).max(1);
        let period = budget.period.key(chrono::Utc::now());
        match self
            .ledger
            .reserve(&name, &period, budget.cap, amount)
            .await
        {
            Ok(Reserved::Held(id)) => Hold::Held(id),
            Ok(Reserved::Over { spent }) => Hold::Over(format!(
                "over its budget of {budget} ({spent} spent or held in {period}, this job \
                 expected to take {amount})"
            )),
            Err(e) => Hold::Over(format!("its budget could not be checked: {e}")),
        }
    }

    /// Settles the reservation `job` holds once it has ended: with what the vendor said it
    /// cost, nothing for a job that failed without a cost, and the estimate kept for a job that
    /// completed without one.
    async fn settle(&self, job: &Job) {
        if !job.status.is_terminal() {
            return;
        }
        let Some(id) = job.handle.meta.get(RESERVATION_META) else {
            return;
        };
        let actual = match &job.cost {
            Some(cost) => cost.amount,
            None if job.status == crate::model::JobStatus::Completed => return,
            None => 0,
        };
        // A ledger settles a reservation once anyway: this only spares it the writes of jobs
        // polled again.
        let first = (self.settled.lock().unwrap_or_else(|p| p.into_inner())).first(id.clone());
        if !first {
            return;
        }
        if let Err(e) = self.ledger.settle(id, actual).await {
            tracing::warn!(reservation = %id, error = %e, "failover: a budget reservation could not be settled; its estimate stays held");
        }
    }

    /// How it orders its members.
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// The members in the order this router would try them for `request` (cooldowns and
    /// capabilities aside).
    pub fn order(&self, request: &JobRequest) -> Vec<String> {
        self.ordered(request)
            .into_iter()
            .map(Member::name)
            .collect()
    }

    fn ordered(&self, request: &JobRequest) -> Vec<&Member> {
        let mut members: Vec<&Member> = self.members.iter().collect();
        match &self.route {
            Route::Ordered => {}
            // A stable sort: equal costs keep the order members were added in.
            Route::Cheapest => {
                let costs: HashMap<String, f64> = members
                    .iter()
                    .map(|m| (m.name(), m.expected_cost(request)))
                    .collect();
                members.sort_by(|a, b| costs[&a.name()].total_cmp(&costs[&b.name()]));
            }
            Route::Prefer(name) => members.sort_by_key(|m| m.name() != *name),
        }
        members
    }

    /// Learns what `job` cost at its owner, once per job, when it completed with a cost and
    /// its handle says which conversions it ran.
    fn learn(&self, owner: &str, job: &Job) {
        let (Some(cost), true) = (&job.cost, job.status == crate::model::JobStatus::Completed)
        else {
            return;
        };
        let Some(conversions) = job.handle.meta.get(CONVERSIONS_META) else {
            return;
        };
        let Some(member) = self.members.iter().find(|m| m.name() == owner) else {
            return;
        };
        let pairs: Vec<(String, String)> = conversions
            .split(',')
            .filter_map(|p| p.split_once('>'))
            .map(|(s, t)| (s.to_owned(), t.to_owned()))
            .collect();
        if pairs.is_empty() {
            return;
        }
        let mut learned = member.learned();
        if !learned.counted.first(job.handle.id.clone()) {
            return;
        }
        // A job of several conversions is taken to cost the same for each.
        let each = cost.amount as f64 / pairs.len() as f64;
        for pair in pairs {
            learned.add(pair, each, 1);
        }
    }

    /// The members' names, in order.
    pub fn members(&self) -> Vec<String> {
        self.members.iter().map(Member::name).collect()
    }

    /// The member called `name`.
    pub fn member(&self, name: &str) -> Option<&Arc<dyn ConversionProvider>> {
        self.members
            .iter()
            .find(|m| m.provider.info().name == name)
            .map(|m| &m.provider)
    }

    /// Whether member `name` is cooling down now.
    pub fn is_cooling(&self, name: &str) -> bool {
        let now = Instant::now();
        self.members
            .iter()
            .any(|m| m.provider.info().name == name && m.cooling(now))
    }

    /// The attempts recorded in a handle this router issued.
    pub fn attempts(handle: &JobHandle) -> Vec<Attempt> {
        handle
            .meta
            .get(ATTEMPTS_META)
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default()
    }

    fn owner(&self, name: &str, operation: Operation) -> Result<&Arc<dyn ConversionProvider>> {
        // A handle made without the router's help names the router: with one member, that is
        // the owner; with several, it cannot be told.
        if name == self.info.name && self.members.len() == 1 {
            return Ok(&self.members[0].provider);
        }
        self.member(name).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                "failover",
                operation,
                format!("no member is called {name:?}"),
            )
        })
    }

    /// Whether `member` cools down, here or (with a board) at any instance sharing it.
    async fn member_cooling(&self, member: &Member) -> bool {
        if member.cooling(Instant::now()) {
            return true;
        }
        let Some(board) = &self.board else {
            return false;
        };
        match board.cooling_until(&member.name()).await {
            Ok(until) => until.is_some_and(|u| u > std::time::SystemTime::now()),
            Err(e) => {
                tracing::debug!(member = %member.name(), error = %e, "the cooldown board failed; judging by this process alone");
                false
            }
        }
    }

    /// Cools `member` down for `cooldown`, here and on the board.
    async fn rest(&self, member: &Member, cooldown: Duration) {
        member.cool_down(Instant::now() + cooldown);
        if let Some(board) = &self.board {
            let until = std::time::SystemTime::now() + cooldown;
            if let Err(e) = board.cool_down(&member.name(), until).await {
                tracing::debug!(member = %member.name(), error = %e, "the cooldown board failed");
            }
        }
    }

    async fn refusal(&self, member: &Member, request: &JobRequest) -> Option<String> {
        if let Some(reason) = member.provider.info().capabilities.refusal(request) {
            return Some(reason);
        }
        let catalog = member.catalog.as_ref()?;
        for (source, target) in request.format_pairs() {
            match catalog.supports(&source, &target).await {
                Ok(Some(false)) => {
                    return Some(format!(
                        "its catalog has no {source} to {target} conversion"
                    ))
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(member = %member.name(), error = %e, "catalog lookup failed; trying the member anyway")
                }
            }
        }
        None
    }

    /// Submits to the first member that can take the job, leaving out the members named in
    /// `excluded`; `attempts` are earlier attempts to report with this one.
    async fn submit_among(
        &self,
        request: &JobRequest,
        excluded: &[String],
        mut attempts: Vec<Attempt>,
    ) -> Result<JobHandle> {
        let mut called = 0;
        let mut last_error: Option<Error> = None;
        let mut over_budget = Vec::new();
        for member in self.ordered(request) {
            let name = member.name();
            if excluded.contains(&name) {
                continue;
            }
            if called >= self.max_attempts {
                attempts.push(Attempt::skipped(&name, "the attempt cap was reached"));
                continue;
            }
            if self.member_cooling(member).await {
                tracing::info!(member = %name, "failover: skipped, cooling down");
                attempts.push(Attempt::skipped(&name, "cooling down"));
                continue;
            }
            if let Some(reason) = self.refusal(member, request).await {
                tracing::info!(member = %name, %reason, "failover: skipped, cannot serve the request");
                attempts.push(Attempt::skipped(&name, reason));
                continue;
            }
            if called > 0 && !request.is_replayable() {
                attempts.push(Attempt::skipped(
                    &name,
                    "the request's reader was consumed by an earlier attempt",
                ));
                continue;
            }
            let reservation = match self.hold(member, request).await {
                Hold::Unbudgeted => None,
                Hold::Held(id) => Some(id),
                Hold::Over(reason) => {
                    tracing::info!(member = %name, %reason, "failover: skipped, over its budget");
                    over_budget.push(format!("{name}: {reason}"));
                    attempts.push(Attempt::skipped(&name, reason));
                    continue;
                }
            };
            called += 1;
            let submitted = member.provider.submit(request).await;
            if let (Some(id), Err(e)) = (&reservation, &submitted) {
                // A job that provably does not exist costs nothing; an ambiguous one keeps
                // its estimate held.
                if !e.is_ambiguous() {
                    if let Err(e) = self.ledger.settle(id, 0).await {
                        tracing::warn!(reservation = %id, error = %e, "failover: a budget reservation could not be released");
                    }
                }
            }
            match submitted {
                Ok(mut handle) => {
                    if let Some(id) = reservation {
                        handle.meta.insert(RESERVATION_META.into(), id);
                    }
                    tracing::info!(member = %name, job = %handle.id, "failover: submitted");
                    attempts.push(Attempt::succeeded(&name, format!("job {}", handle.id)));
                    handle.provider = name;
                    handle.meta.insert(
                        ATTEMPTS_META.into(),
                        serde_json::to_string(&attempts).expect("attempts serialise"),
                    );
                    let pairs: Vec<String> = conversion_pairs(request)
                        .iter()
                        .map(|(source, target)| format!("{source}>{target}"))
                        .collect();
                    if !pairs.is_empty() {
                        handle.meta.insert(CONVERSIONS_META.into(), pairs.join(","));
                    }
                    return Ok(handle);
                }
                Err(e) if e.kind() == ErrorKind::Unsupported && e.is_failover_eligible() => {
                    // The member cannot do this job, which says nothing about its health: no
                    // cooldown, the next member may.
                    tracing::info!(member = %name, error = %e, "failover: the member cannot do this job; moving on");
                    attempts.push(Attempt::failed(&name, &e));
                    last_error = Some(e);
                }
                Err(e) if e.is_failover_eligible() => {
                    // Spent credits come back at the vendor's reset, which only a Retry-After
                    // tells; a throttle or an outage is worth a try sooner.
                    let rest = if e.kind() == ErrorKind::QuotaExhausted {
                        self.quota_cooldown
                    } else {
                        self.base_cooldown
                    };
                    let cooldown = e.retry_after().unwrap_or(rest).max(self.base_cooldown);
                    self.rest(member, cooldown).await;
                    tracing::warn!(member = %name, error = %e, cooldown_s = cooldown.as_secs_f64(), "failover: moving on");
                    attempts.push(Attempt::failed(&name, &e));
                    last_error = Some(e);
                }
                Err(e) => {
                    tracing::info!(member = %name, error = %e, "failover: not eligible for failover");
                    attempts.push(Attempt::failed(&name, &e));
                    return Err(e.with_attempts(attempts));
                }
            }
        }
        // The last member's error keeps its status, code and Retry-After; the attempts list
        // every member's fate.
        Err(match last_error {
            Some(e) => e.with_attempts(attempts),
            None if !over_budget.is_empty() => Error::new(
                ErrorKind::QuotaExhausted,
                "failover",
                Operation::Submit,
                format!("budgets stopped this job: {}", over_budget.join("; ")),
            )
            .with_attempts(attempts),
            None => {
                let summary = attempts
                    .iter()
                    .map(|a| format!("{}: {}", a.provider, a.detail))
                    .collect::<Vec<_>>()
                    .join("; ");
                Error::new(
                    ErrorKind::Unsupported,
                    "failover",
                    Operation::Submit,
                    format!("no provider can take this job ({summary})"),
                )
                .with_attempts(attempts)
            }
        })
    }

    /// Converts `request`, and when the owning vendor reports the job failed on its own side
    /// ([`Job::failed_on_vendor_side`]: an internal error or timeout, not the input), cools that
    /// member down and submits to the next one. Only a replayable request (no one-shot reader) is
    /// resubmitted; a job that failed because of its input is never tried elsewhere.
    pub async fn convert_resubmitting(
        &self,
        request: &JobRequest,
        policy: &PollPolicy,
    ) -> Result<Job> {
        self.convert_resubmitting_with(request, policy, &|_| {})
            .await
    }

    /// [`convert_resubmitting`](Self::convert_resubmitting), telling `observe` about every poll.
    pub async fn convert_resubmitting_with(
        &self,
        request: &JobRequest,
        policy: &PollPolicy,
        observe: &(dyn for<'j> Fn(&'j Job) + Send + Sync),
    ) -> Result<Job> {
        let mut excluded = Vec::new();
        let mut attempts = Vec::new();
        loop {
            let handle = self.submit_among(request, &excluded, attempts).await?;
            attempts = Failover::attempts(&handle);
            let job = self.wait_with(&handle, policy, observe).await?;
            if job.status == crate::model::JobStatus::Completed {
                return Ok(job);
            }
            let owner = handle.provider.clone();
            let others_left = self
                .members
                .iter()
                .any(|m| m.name() != owner && !excluded.contains(&m.name()));
            if !(job.failed_on_vendor_side() && request.is_replayable() && others_left) {
                return Err(crate::provider::failed_job_error(&owner, &job));
            }
            let error = crate::provider::failed_job_error(&owner, &job);
            tracing::warn!(member = %owner, job = %handle.id, error = %error, "failover: the vendor failed the job; resubmitting elsewhere");
            if let Some(member) = self.members.iter().find(|m| m.name() == owner) {
                self.rest(member, self.base_cooldown).await;
            }
            attempts.push(Attempt::failed(&owner, &error));
            excluded.push(owner);
        }
    }

    /// A job `owner` answered for `handle`, as the router hands it on: named for its owner,
    /// with the handle's meta, its outputs tagged.
    async fn owned(&self, owner: &dyn ConversionProvider, handle: &JobHandle, mut job: Job) -> Job {
        job.handle.provider = owner.info().name.to_string();
        job.handle.meta.extend(handle.meta.clone());
        Failover::tag(&mut job);
        self.learn(&job.handle.provider, &job);
        self.settle(&job).await;
        job
    }

    /// Tags outputs with their owner, so `download` finds it.
    fn tag(job: &mut Job) {
        for output in &mut job.outputs {
            if output.provider.is_none() {
                output.provider = Some(job.handle.provider.clone());
            }
        }
    }
}

#[async_trait]
impl ConversionProvider for Failover {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn submit(&self, request: &JobRequest) -> Result<JobHandle> {
        self.submit_among(request, &[], Vec::new()).await
    }

    async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        let owner = self.owner(&handle.provider, Operation::Poll)?;
        let job = owner.poll(handle).await?;
        Ok(self.owned(owner.as_ref(), handle, job).await)
    }

    async fn wait_blocking(&self, handle: &JobHandle, within: Duration) -> Option<Result<Job>> {
        let owner = match self.owner(&handle.provider, Operation::Wait) {
            Ok(owner) => owner,
            Err(e) => return Some(Err(e)),
        };
        Some(match owner.wait_blocking(handle, within).await? {
            Ok(job) => Ok(self.owned(owner.as_ref(), handle, job).await),
            Err(e) => Err(e),
        })
    }

    /// Tries each member's parser: the first that accepts the callback names the owner. A
    /// receiver that knows the vendor (by its URL) should call that member directly.
    fn webhook(&self, request: &WebhookRequest) -> Result<WebhookEvent> {
        let mut last = None;
        for member in &self.members {
            match member.provider.webhook(request) {
                Ok(event) => return Ok(event),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            Error::new(
                ErrorKind::WebhookRejected,
                "failover",
                Operation::Webhook,
                "no member accepts this callback",
            )
        }))
    }

    /// Resumes at the member that owns `handle`.
    async fn resume(&self, handle: &JobHandle, request: &JobRequest) -> Result<JobHandle> {
        let owner = self.owner(&handle.provider, Operation::Submit)?;
        let mut resumed = owner.resume(handle, request).await?;
        resumed.provider = owner.info().name.to_string();
        Ok(resumed)
    }

    async fn delete(&self, handle: &JobHandle) -> Result<()> {
        self.owner(&handle.provider, Operation::Delete)?
            .delete(handle)
            .await
    }

    async fn download(&self, output: &Output) -> Result<ByteStream> {
        match output.provider.as_deref() {
            Some(name) => {
                self.owner(name, Operation::Download)?
                    .download(output)
                    .await
            }
            None => crate::http::default_download("failover", output).await,
        }
    }
}
