//! Configuration: builder and environment.

use std::fmt;
use std::time::Duration;

use multiconvert_core::config::{
    non_blank, paced, parse_base_url, price_from_lookup, rate_from_lookup,
};
use multiconvert_core::http::HttpConfig;
use multiconvert_core::pace::Rate;
use multiconvert_core::{Error, PollPolicy, Price, Result, Secret};
use url::Url;

use crate::NAME;

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://v2.convertapi.com";

/// The request rate an instance keeps to unless told otherwise: unlimited. ConvertAPI documents
/// no request rate, only a throttling answer (`503`, "retry after a few seconds"); the instance's
/// budget makes such an answer hold back all of its requests. Set a rate with
/// [`ConfigBuilder::rate`] or `MULTICONVERT_RATE_CONVERTAPI`.
pub fn default_rate() -> Rate {
    Rate::unlimited()
}

/// Which of ConvertAPI's two documented async routes to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AsyncRoute {
    /// `POST /async/convert/{from}/to/{to}`, `GET`/`DELETE /async/job/{id}`; WebHook called back
    /// with `POST {"JobId"}`; client JobIds of 32 `[a-z0-9]`. The default.
    #[default]
    Current,
    /// `POST /convert/{from}/to/{to}?Async=true`, `GET`/`DELETE /job/{id}`; WebHook called back
    /// with `GET ?JobId=`; client JobIds are RFC 4122 UUIDs.
    Legacy,
}

impl AsyncRoute {
    /// `current` or `legacy`.
    pub fn as_str(self) -> &'static str {
        match self {
            AsyncRoute::Current => "current",
            AsyncRoute::Legacy => "legacy",
        }
    }
    /// Parses `current` or `legacy` (case-insensitive).
    pub fn parse(text: &str) -> Option<AsyncRoute> {
        match text.trim().to_ascii_lowercase().as_str() {
            "current" => Some(AsyncRoute::Current),
            "legacy" => Some(AsyncRoute::Legacy),
            _ => None,
        }
    }
}

/// How `submit` waits for ConvertAPI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubmitStyle {
    /// Semi-async where it serves, async otherwise (the default). A request with no callback
    /// whose [expected duration](multiconvert_core::JobRequest::expected_duration) is unknown or
    /// at most the [held limit](ConfigBuilder::held_limit) is sent as a synchronous convert
    /// carrying a client JobId, held open until ConvertAPI answers with the result: the job is
    /// done when `submit` returns and the wait ends at its first poll, answered from memory.
    /// Should the connection drop, the result is fetched by that JobId, never converted twice.
    /// A request with a callback (the `WebHook`), one expected to run longer, and a journaled
    /// one (a held conversion's JobId answers only once it is done, so a resumed process could not
    /// tell a running job from one that never arrived) are submitted async.
    #[default]
    Auto,
    /// Always async: `submit` returns the JobId at once and the result is polled for (or
    /// announced by the `WebHook`). For callers that must have the handle before the conversion
    /// ends (`multiconvert convert --no-wait`).
    Async,
}

impl SubmitStyle {
    /// Parses `auto` or `async` (case-insensitive).
    pub fn parse(text: &str) -> Option<SubmitStyle> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(SubmitStyle::Auto),
            "async" => Some(SubmitStyle::Async),
            _ => None,
        }
    }
}

/// How long a held (semi-async) request may be expected to run by default: a connection held
/// much longer is at the mercy of proxies and NAT timeouts, so longer jobs go async.
pub const DEFAULT_HELD_LIMIT: Duration = Duration::from_secs(120);

/// How the secret is sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// `Authorization: Bearer <secret>`: the secret never appears in a URL. The default.
    #[default]
    Bearer,
    /// `?Secret=<secret>` in the query, for old deployments only. Errors, logs and fixtures
    /// scrub it.
    Query,
}

/// The provider's configuration. `Debug` never shows the secret.
#[derive(Clone)]
pub struct Config {
    pub(crate) name: String,
    pub(crate) secret: Secret,
    pub(crate) base_url: Url,
    pub(crate) route: AsyncRoute,
    pub(crate) auth: AuthMode,
    pub(crate) http: HttpConfig,
    pub(crate) price: Option<Price>,
    pub(crate) poll_policy: PollPolicy,
    pub(crate) conversion_timeout: Duration,
    pub(crate) inline_uploads: bool,
    pub(crate) submit_style: SubmitStyle,
    pub(crate) held_limit: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("name", &self.name)
            .field("secret", &self.secret)
            .field("base_url", &self.base_url.as_str())
            .field("route", &self.route)
            .field("auth", &self.auth)
            .field("http", &self.http)
            .field("poll_policy", &self.poll_policy)
            .field("conversion_timeout", &self.conversion_timeout)
            .field("inline_uploads", &self.inline_uploads)
            .field("submit_style", &self.submit_style)
            .field("held_limit", &self.held_limit)
            .finish()
    }
}

/// The default waiting: at least 5 s between polls (the documented pacing), growing to 15 s,
/// 20 minutes in all (the longest conversion `Timeout` ConvertAPI accepts).
pub fn default_poll_policy() -> PollPolicy {
    PollPolicy::default()
        .with_initial_interval(Duration::from_secs(5))
        .with_min_interval(Duration::from_secs(5))
        .with_max_interval(Duration::from_secs(15))
        .with_factor(1.5)
        .with_deadline(Duration::from_secs(1200))
}

impl Config {
    /// A builder.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// From the environment: `CONVERTAPI_SECRET`, `CONVERTAPI_BASE_URL`,
    /// `CONVERTAPI_ASYNC_ROUTE` (`current` or `legacy`), `CONVERTAPI_SUBMIT` (`auto` or
    /// `async`, see [`SubmitStyle`]).
    ///
    /// `MULTICONVERT_RATE_CONVERTAPI` sets the request rate (`50/s`, `3000/min,burst=20`,
    /// `unlimited`; default [`default_rate`]), `MULTICONVERT_PRICE_CONVERTAPI` what a unit of its
    /// cost is worth (`0.02`).
    pub fn from_env() -> Result<Config> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config> {
        let present = |name: &str| non_blank(&lookup, name);
        let secret = present("CONVERTAPI_SECRET")
            .ok_or_else(|| Error::config(NAME, "no secret: set CONVERTAPI_SECRET"))?;
        let mut builder = Config::builder().secret(secret);
        if let Some(base) = present("CONVERTAPI_BASE_URL") {
            builder = builder.base_url(base);
        }
        if let Some(route) = present("CONVERTAPI_ASYNC_ROUTE") {
            let route = AsyncRoute::parse(&route).ok_or_else(|| {
                Error::config(NAME, "CONVERTAPI_ASYNC_ROUTE must be `current` or `legacy`")
            })?;
            builder = builder.route(route);
        }
        if let Some(style) = present("CONVERTAPI_SUBMIT") {
            let style = SubmitStyle::parse(&style).ok_or_else(|| {
                Error::config(NAME, "CONVERTAPI_SUBMIT must be `auto` or `async`")
            })?;
            builder = builder.submit_style(style);
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

    /// The async route.
    pub fn route(&self) -> AsyncRoute {
        self.route
    }

    /// The instance name (default [`NAME`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How `submit` waits.
    pub fn submit_style(&self) -> SubmitStyle {
        self.submit_style
    }

    /// The same configuration with another submit style.
    pub fn with_submit_style(mut self, style: SubmitStyle) -> Self {
        self.submit_style = style;
        self
    }
}

/// Builds a [`Config`].
///
/// ```
/// use multiconvert_convertapi::{AsyncRoute, Config};
/// let config = Config::builder().secret("my-secret").route(AsyncRoute::Legacy).build().unwrap();
/// assert!(!format!("{config:?}").contains("my-secret"));
/// ```
#[derive(Default)]
pub struct ConfigBuilder {
    name: Option<String>,
    secret: Option<Secret>,
    base_url: Option<String>,
    route: AsyncRoute,
    auth: AuthMode,
    http: Option<HttpConfig>,
    rate: Option<Rate>,
    price: Option<Price>,
    poll_policy: Option<PollPolicy>,
    conversion_timeout: Option<Duration>,
    inline_uploads: bool,
    submit_style: SubmitStyle,
    held_limit: Option<Duration>,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("secret", &self.secret)
            .field("base_url", &self.base_url)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl ConfigBuilder {
    /// The instance name, used in job handles, by routers and in webhook receiver paths
    /// (default `convertapi`). Give each instance its own when one application uses two
    /// accounts or both routes side by side.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// The API secret or token (required).
    pub fn secret(mut self, secret: impl Into<Secret>) -> Self {
        self.secret = Some(secret.into());
        self
    }
    /// The base URL (default [`DEFAULT_BASE_URL`]; regional hosts work too).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }
    /// The async route (default [`AsyncRoute::Current`]).
    pub fn route(mut self, route: AsyncRoute) -> Self {
        self.route = route;
        self
    }
    /// How the secret is sent (default Bearer; query only for old deployments).
    pub fn auth(mut self, auth: AuthMode) -> Self {
        self.auth = auth;
        self
    }
    /// HTTP settings.
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
    /// The conversion `Timeout` sent to ConvertAPI (clamped to 10–1200 s; default 900 s). The
    /// semi-async request's read timeout is this plus 10 s.
    pub fn conversion_timeout(mut self, timeout: Duration) -> Self {
        self.conversion_timeout = Some(timeout);
        self
    }
    /// Sends local files inline, as multipart file parts of the convert request, instead of
    /// uploading them first (`POST /upload`) and passing their FileId. One round trip less; the
    /// default (off) keeps the convert request small and the upload separately retryable.
    pub fn inline_uploads(mut self, inline: bool) -> Self {
        self.inline_uploads = inline;
        self
    }
    /// How `submit` waits (default [`SubmitStyle::Auto`]).
    pub fn submit_style(mut self, style: SubmitStyle) -> Self {
        self.submit_style = style;
        self
    }
    /// The longest expected duration a request is held open for (default
    /// [`DEFAULT_HELD_LIMIT`]; see [`SubmitStyle::Auto`]).
    pub fn held_limit(mut self, limit: Duration) -> Self {
        self.held_limit = Some(limit);
        self
    }
    /// Checks and builds.
    pub fn build(self) -> Result<Config> {
        let secret = self
            .secret
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::config(NAME, "a secret is required"))?;
        let base = self.base_url.unwrap_or_else(|| DEFAULT_BASE_URL.into());
        let base_url = parse_base_url(NAME, &base)?;
        let timeout = self
            .conversion_timeout
            .unwrap_or(Duration::from_secs(900))
            .clamp(Duration::from_secs(10), Duration::from_secs(1200));
        let name = match self.name {
            Some(name) => multiconvert_core::config::instance_name(NAME, &name)?,
            None => NAME.to_owned(),
        };
        let http = paced(self.http, self.rate, default_rate(), &name);
        Ok(Config {
            name,
            secret,
            base_url,
            route: self.route,
            auth: self.auth,
            http,
            price: self.price,
            poll_policy: self.poll_policy.unwrap_or_else(default_poll_policy),
            conversion_timeout: timeout,
            inline_uploads: self.inline_uploads,
            submit_style: self.submit_style,
            held_limit: self.held_limit.unwrap_or(DEFAULT_HELD_LIMIT),
        })
    }
}
