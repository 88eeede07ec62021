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

/// The live API base.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudconvert.com/v2";

/// The request rate an instance keeps to unless told otherwise: 450 a minute with bursts of 50,
/// so that no minute sees more than the 500 requests CloudConvert's API host announces in
/// `X-Ratelimit-Limit` (its window is not documented; a minute is the cautious reading). Set
/// another with [`ConfigBuilder::rate`] or `MULTICONVERT_RATE_CLOUDCONVERT`.
pub fn default_rate() -> Rate {
    Rate::per_second(450.0 / 60.0).with_burst(50)
}
/// The live sync base: `GET {sync}/jobs/{id}` blocks until the job ends.
pub const DEFAULT_SYNC_BASE_URL: &str = "https://sync.api.cloudconvert.com/v2";
/// The sandbox API base (sandbox keys are separate; only whitelisted inputs are processed).
pub const SANDBOX_BASE_URL: &str = "https://api.sandbox.cloudconvert.com/v2";
/// The sandbox sync base.
pub const SANDBOX_SYNC_BASE_URL: &str = "https://sync.api.sandbox.cloudconvert.com/v2";

/// The default waiting: 1 s ×1.5 up to 5 s, 300 s in all, never more than a tenth of the time
/// waited late (as online-convert's), for when no sync host is configured: with one, waiting is
/// one request.
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
    pub(crate) sync_base_url: Option<Url>,
    pub(crate) webhook_secret: Option<Secret>,
    pub(crate) http: HttpConfig,
    pub(crate) price: Option<Price>,
    pub(crate) poll_policy: PollPolicy,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("name", &self.name)
            .field("api_key", &self.api_key)
            .field("base_url", &self.base_url.as_str())
            .field(
                "sync_base_url",
                &self.sync_base_url.as_ref().map(Url::as_str),
            )
            .field("webhook_secret", &self.webhook_secret)
            .field("http", &self.http)
            .field("poll_policy", &self.poll_policy)
            .finish()
    }
}

impl Config {
    /// A builder.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// From the environment: `CLOUDCONVERT_API_KEY` (required), `CLOUDCONVERT_BASE_URL`,
    /// `CLOUDCONVERT_SYNC_BASE_URL`, `CLOUDCONVERT_SANDBOX` (`1` or `true`: the sandbox hosts),
    /// `CLOUDCONVERT_WEBHOOK_SECRET` (the webhook's signing secret). A custom API base without a
    /// sync base waits by polling.
    ///
    /// `MULTICONVERT_RATE_CLOUDCONVERT` sets the request rate (`50/s`, `3000/min,burst=20`,
    /// `unlimited`; default [`default_rate`]), `MULTICONVERT_PRICE_CLOUDCONVERT` what a unit of its
    /// cost is worth (`0.02`).
    pub fn from_env() -> Result<Config> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config> {
        let present = |name: &str| non_blank(&lookup, name);
        let key = present("CLOUDCONVERT_API_KEY")
            .ok_or_else(|| Error::config(NAME, "no API key: set CLOUDCONVERT_API_KEY"))?;
        let mut builder = Config::builder().api_key(key);
        if let Some(sandbox) = present("CLOUDCONVERT_SANDBOX") {
            builder = builder.sandbox(match sandbox.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" => false,
                _ => {
                    return Err(Error::config(
                        NAME,
                        "CLOUDCONVERT_SANDBOX must be 1 or 0 (true or false)",
                    ))
                }
            });
        }
        if let Some(base) = present("CLOUDCONVERT_BASE_URL") {
            builder = builder.base_url(base);
        }
        if let Some(sync) = present("CLOUDCONVERT_SYNC_BASE_URL") {
            builder = builder.sync_base_url(sync);
        }
        if let Some(secret) = lookup("CLOUDCONVERT_WEBHOOK_SECRET") {
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

    /// The API base.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The sync base, when waiting can block on it.
    pub fn sync_base_url(&self) -> Option<&Url> {
        self.sync_base_url.as_ref()
    }

    /// The instance name (default [`NAME`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same configuration with `http` as its HTTP settings.
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
}

/// Builds a [`Config`].
///
/// ```
/// use multiconvert_cloudconvert::Config;
/// let config = Config::builder().api_key("my-key").sandbox(true).build().unwrap();
/// assert_eq!(config.base_url().host_str(), Some("api.sandbox.cloudconvert.com"));
/// assert!(!format!("{config:?}").contains("my-key"));
/// // A custom API base alone: no sync host is assumed, waiting polls.
/// let local = Config::builder()
///     .api_key("k")
///     .base_url("http://127.0.0.1:8080/v2")
///     .build()
///     .unwrap();
/// assert!(local.sync_base_url().is_none());
/// ```
#[derive(Default)]
pub struct ConfigBuilder {
    name: Option<String>,
    api_key: Option<Secret>,
    base_url: Option<String>,
    sync_base_url: Option<String>,
    sandbox: bool,
    webhook_secret: Option<Secret>,
    http: Option<HttpConfig>,
    rate: Option<Rate>,
    price: Option<Price>,
    poll_policy: Option<PollPolicy>,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("api_key", &self.api_key)
            .field("base_url", &self.base_url)
            .field("sync_base_url", &self.sync_base_url)
            .field("sandbox", &self.sandbox)
            .field("webhook_secret", &self.webhook_secret)
            .finish_non_exhaustive()
    }
}

impl ConfigBuilder {
    /// The instance name, used in job handles, by routers and in webhook receiver paths
    /// (default `cloudconvert`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// The API key (required), sent as `Authorization: Bearer` to the API and sync hosts only.
    pub fn api_key(mut self, key: impl Into<Secret>) -> Self {
        self.api_key = Some(key.into());
        self
    }
    /// The API base, ending in `/v2` (default [`DEFAULT_BASE_URL`], or the sandbox's).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }
    /// The sync base, ending in `/v2` (default [`DEFAULT_SYNC_BASE_URL`], or the sandbox's,
    /// unless a custom API base is set: then none, and waiting polls).
    pub fn sync_base_url(mut self, url: impl Into<String>) -> Self {
        self.sync_base_url = Some(url.into());
        self
    }
    /// The sandbox hosts instead of the live ones.
    pub fn sandbox(mut self, sandbox: bool) -> Self {
        self.sandbox = sandbox;
        self
    }
    /// Requires webhooks signed with this secret (`CloudConvert-Signature`). An empty secret is
    /// a configuration error: it would accept anyone's signature.
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
        let (default_base, default_sync) = if self.sandbox {
            (SANDBOX_BASE_URL, SANDBOX_SYNC_BASE_URL)
        } else {
            (DEFAULT_BASE_URL, DEFAULT_SYNC_BASE_URL)
        };
        let custom_base = self.base_url.is_some();
        let base_url = parse_base_url(NAME, self.base_url.as_deref().unwrap_or(default_base))?;
        let sync_base_url = match (self.sync_base_url, custom_base) {
            (Some(sync), _) => Some(parse_base_url(NAME, &sync)?),
            // Whoever moved the API elsewhere (an emulator, a proxy) did not say where its sync
            // host is: polling is right everywhere, a guessed host is not.
            (None, true) => None,
            (None, false) => Some(parse_base_url(NAME, default_sync)?),
        };
        if self.webhook_secret.as_ref().is_some_and(|s| s.is_empty()) {
            return Err(Error::config(
                NAME,
                "the webhook secret is empty: leave it unset to treat callbacks as unverified hints",
            ));
        }
        let name = match self.name {
            Some(name) => multiconvert_core::config::instance_name(NAME, &name)?,
            None => NAME.to_owned(),
        };
        let http = paced(self.http, self.rate, default_rate(), &name);
        Ok(Config {
            name,
            api_key,
            base_url,
            sync_base_url,
            webhook_secret: self.webhook_secret,
            http,
            price: self.price,
            poll_policy: self.poll_policy.unwrap_or_else(default_poll_policy),
        })
    }
}
