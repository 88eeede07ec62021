//! Configuration: builder and environment.

use std::fmt;

use multiconvert_core::config::{
    non_blank, paced, parse_base_url, price_from_lookup, rate_from_lookup,
};
use multiconvert_core::http::HttpConfig;
use multiconvert_core::pace::Rate;
use multiconvert_core::{Error, PollPolicy, Price, Result, Secret};
use url::Url;

use crate::NAME;

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.api2convert.com/v2";

/// The request rate an instance keeps to unless told otherwise: unlimited. online-convert
/// documents no request rate, only a cap on concurrent conversions per contract, answered with a
/// `429`; the instance's budget still makes such an answer hold back all of its requests for the
/// `Retry-After`. Set a rate with [`ConfigBuilder::rate`] or `MULTICONVERT_RATE_ONLINE_CONVERT`.
pub fn default_rate() -> Rate {
    Rate::unlimited()
}

/// How incoming callbacks are checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum WebhookVerification {
    /// No secret: every event is a hint marked unverified, and only ever triggers a confirming poll.
    #[default]
    Unsigned,
    /// `X-Oc-Signature` must be the hex HMAC-SHA256 of the raw body under this secret; a missing or
    /// wrong signature is rejected.
    Secret(Secret),
}

/// How `submit` creates a job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SubmitMode {
    /// Create the job staged (`process: false`, with its inputs and conversions), upload local
    /// files, then `PATCH {"process": true}`. Every step can be retried or reconciled without a
    /// second conversion. The default.
    #[default]
    TwoPhase,
    /// One `POST /jobs` with `process: true` when no input needs uploading: one round trip less,
    /// but after an ambiguous failure it is not resent (nothing proves the server deduplicates).
    OneShot,
}

/// The default waiting: 1 s ×1.5 up to 5 s with jitter, 300 s in all, and from the first poll
/// after 1 s on, never more than a tenth of the time waited between polls (at least 0.1 s apart):
/// a job of 1 to 60 s is noticed within 10 % of its running time after it ends. That costs polls
/// (about 8 for a 1.5 s job, 30 for 15 s, 45 for a minute, against 3, 7 and 15 on the plain
/// schedule); a configured callback ends the wait at once instead (see the webhook receiver).
pub fn default_poll_policy() -> PollPolicy {
    PollPolicy::default()
        .with_min_interval(std::time::Duration::from_millis(100))
        .with_lateness(Some(0.1))
}

/// The provider's configuration. `Debug` never shows the key or the webhook secret.
#[derive(Clone)]
pub struct Config {
    pub(crate) name: String,
    pub(crate) api_key: Secret,
    pub(crate) base_url: Url,
    pub(crate) webhook: WebhookVerification,
    pub(crate) http: HttpConfig,
    pub(crate) price: Option<Price>,
    pub(crate) submit_mode: SubmitMode,
    pub(crate) poll_policy: PollPolicy,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("name", &self.name)
            .field("api_key", &self.api_key)
            .field("base_url", &self.base_url.as_str())
            .field("webhook", &self.webhook)
            .field("http", &self.http)
            .field("submit_mode", &self.submit_mode)
            .field("poll_policy", &self.poll_policy)
            .finish()
    }
}

impl Config {
    /// A builder.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// From the environment: the key from `API2CONVERT_API_KEY` (or `ONLINE_CONVERT_API_KEY`), the
    /// base URL from `API2CONVERT_BASE_URL`, the webhook secret from `API2CONVERT_WEBHOOK_SECRET`.
    ///
    /// `MULTICONVERT_RATE_ONLINE_CONVERT` sets the request rate (`50/s`, `3000/min,burst=20`,
    /// `unlimited`; default [`default_rate`]), `MULTICONVERT_PRICE_ONLINE_CONVERT` what a unit of its
    /// cost is worth (`0.02`).
    pub fn from_env() -> Result<Config> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config> {
        let present = |name: &str| non_blank(&lookup, name);
        let key = present("API2CONVERT_API_KEY")
            .or_else(|| present("ONLINE_CONVERT_API_KEY"))
            .ok_or_else(|| {
                Error::config(
                    NAME,
                    "no API key: set API2CONVERT_API_KEY (or ONLINE_CONVERT_API_KEY)",
                )
            })?;
        let mut builder = Config::builder().api_key(key);
        if let Some(base) = present("API2CONVERT_BASE_URL") {
            builder = builder.base_url(base);
        }
        if let Some(secret) = lookup("API2CONVERT_WEBHOOK_SECRET") {
            builder = builder.webhook_secret(secret);
        }
        if let Some(price) = price_from_lookup(NAME, NAME, &lookup)? {
            builder = builder.price(price);
        }
        if let Some(rate) = rate_from_lookup(NAME, NAME, &lookup)? {
            builder = builder.rate(rate);
        }
        builder.build()
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The same configuration with `http` as its HTTP settings (timeouts, retries, a
    /// [`tap`](multiconvert_core::tap) for record mode), keeping the instance's request budget
    /// unless `http` carries one.
    pub fn with_http(mut self, http: HttpConfig) -> Self {
        let budget = self.http.budget().cloned();
        self.http = match budget {
            Some(budget) if http.budget().is_none() => http.with_budget(budget),
            _ => http,
        };
        self
    }

    /// What one unit of the instance's cost is worth, when set.
    pub fn price(&self) -> Option<Price> {
        self.price
    }

    /// The instance's request rate.
    pub fn rate(&self) -> Rate {
        self.http
            .budget()
            .map_or_else(Rate::unlimited, |budget| budget.rate())
    }

    /// The instance name (default [`NAME`]).
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Builds a [`Config`].
///
/// ```
/// use multiconvert_online_convert::Config;
/// let config = Config::builder()
///     .api_key("my-key")
///     .base_url("https://api2.online-convert.com")
///     .build()
///     .unwrap();
/// assert!(!format!("{config:?}").contains("my-key"));
/// ```
#[derive(Default)]
pub struct ConfigBuilder {
    name: Option<String>,
    api_key: Option<Secret>,
    base_url: Option<String>,
    webhook_secret: Option<Secret>,
    http: Option<HttpConfig>,
    rate: Option<Rate>,
    price: Option<Price>,
    submit_mode: SubmitMode,
    poll_policy: Option<PollPolicy>,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("api_key", &self.api_key)
            .field("base_url", &self.base_url)
            .field("webhook_secret", &self.webhook_secret)
            .finish_non_exhaustive()
    }
}

impl ConfigBuilder {
    /// The instance name, used in job handles, by routers and in webhook receiver paths
    /// (default `online-convert`). Give each instance its own when one application uses two
    /// accounts side by side.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// The account API key (required).
    pub fn api_key(mut self, key: impl Into<Secret>) -> Self {
        self.api_key = Some(key.into());
        self
    }
    /// The base URL (default [`DEFAULT_BASE_URL`]; the legacy host without `/v2` works too).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }
    /// Requires signed callbacks, checked with this secret.
    pub fn webhook_secret(mut self, secret: impl Into<Secret>) -> Self {
        self.webhook_secret = Some(secret.into());
        self
    }
    /// HTTP settings (timeouts, retries, a caller's client builder).
    pub fn http(mut self, http: HttpConfig) -> Self {
        self.http = Some(http);
        self
    }
    /// The instance's request rate (default [`default_rate`]): every request of every wait of
    /// this instance takes a slot of one budget at this rate (see
    /// [`pace`](multiconvert_core::pace)). It replaces a budget given with [`http`](Self::http);
    /// to share one budget between instances of one account, give them the same `HttpConfig`
    /// with [`HttpConfig::with_budget`] instead.
    pub fn rate(mut self, rate: Rate) -> Self {
        self.rate = Some(rate);
        self
    }
    /// What one unit of this instance's [`Cost`](multiconvert_core::Cost) is worth to you (no
    /// default): what routing by cost and the reports compare vendors by.
    pub fn price(mut self, price: Price) -> Self {
        self.price = Some(price);
        self
    }
    /// How `submit` creates jobs.
    pub fn submit_mode(mut self, mode: SubmitMode) -> Self {
        self.submit_mode = mode;
        self
    }
    /// The default poll policy (see [`default_poll_policy`]).
    pub fn poll_policy(mut self, policy: PollPolicy) -> Self {
        self.poll_policy = Some(policy);
        self
    }
    /// Checks and builds.
    pub fn build(self) -> Result<Config> {
        let api_key = self
            .api_key
            .filter(|k| !k.is_empty())
            .ok_or_else(|| Error::config(NAME, "an API key is required"))?;
        let base = self.base_url.unwrap_or_else(|| DEFAULT_BASE_URL.into());
        let base_url = parse_base_url(NAME, &base)?;
        let webhook = match self.webhook_secret {
            Some(s) if s.is_empty() => {
                return Err(Error::config(
                    NAME,
                    "the webhook secret is empty: leave it unset for unsigned callbacks",
                ))
            }
            Some(s) => WebhookVerification::Secret(s),
            None => WebhookVerification::Unsigned,
        };
        let name = match self.name {
            Some(name) => multiconvert_core::config::instance_name(NAME, &name)?,
            None => NAME.to_owned(),
        };
        let http = paced(self.http, self.rate, default_rate(), &name);
        Ok(Config {
            name,
            api_key,
            base_url,
            webhook,
            http,
            price: self.price,
            submit_mode: self.submit_mode,
            poll_policy: self.poll_policy.unwrap_or_else(default_poll_policy),
        })
    }
}
