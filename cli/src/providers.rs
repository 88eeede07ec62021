//! Providers from the environment.

use std::sync::Arc;

use multiconvert_cloudconvert::CloudConvert;
use multiconvert_convertapi::ConvertApi;
use multiconvert_core::failover::{Failover, Route};
use multiconvert_core::{ConversionProvider, Result};
use multiconvert_local::Local;
use multiconvert_office::Office;
use multiconvert_online_convert::OnlineConvert;

use crate::args::ProviderChoice;

fn set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// Whether online-convert has a key in the environment.
pub fn online_convert_configured() -> bool {
    set("API2CONVERT_API_KEY") || set("ONLINE_CONVERT_API_KEY")
}

/// Whether ConvertAPI has a secret in the environment.
pub fn convertapi_configured() -> bool {
    set("CONVERTAPI_SECRET")
}

/// Whether CloudConvert has a key in the environment.
pub fn cloudconvert_configured() -> bool {
    set("CLOUDCONVERT_API_KEY")
}

/// Whether any vendor is configured.
pub fn any_vendor_configured() -> bool {
    online_convert_configured() || convertapi_configured() || cloudconvert_configured()
}

/// The office provider, when LibreOffice is found. Its warm workers start on their first job:
/// a command may convert no document at all.
pub fn office() -> Option<Office> {
    office_from_env().ok()
}

fn office_from_env() -> Result<Office> {
    Office::new(multiconvert_office::Config::from_env()?.warm_up(false))
}

/// A built provider: one vendor, or the `auto` router over several.
pub enum Built {
    /// One provider.
    Single(Arc<dyn ConversionProvider>),
    /// The failover router of `auto`.
    Router(Arc<Failover>),
}

impl Built {
    /// The provider, whichever it is.
    pub fn provider(&self) -> Arc<dyn ConversionProvider> {
        match self {
            Built::Single(p) => p.clone(),
            Built::Router(r) => r.clone(),
        }
    }

    /// What `amount` of provider `name`'s cost comes to at its price (see [`price_of`]).
    pub fn price_of(&self, name: &str, amount: Option<u64>) -> Option<f64> {
        match self {
            Built::Single(p) => price_of(p, None, name, amount),
            Built::Router(r) => price_of(&self.provider(), Some(r), name, amount),
        }
    }
}

/// What `amount` of provider `name`'s cost comes to at its price, when it has one: `name` is a
/// member of `router`, or else `provider` itself.
pub fn price_of(
    provider: &Arc<dyn ConversionProvider>,
    router: Option<&Failover>,
    name: &str,
    amount: Option<u64>,
) -> Option<f64> {
    let member = match router {
        Some(router) => router.member(name)?,
        None => provider,
    };
    let price = member.info().price?;
    Some(price.unit_price() * amount? as f64)
}

/// The provider `choice` names. `Auto` is a failover over the configured vendors
/// (online-convert, then ConvertAPI, then CloudConvert) and then the local providers (images in-process, documents
/// on LibreOffice when it is found), which the router skips when they cannot serve the
/// conversion; with no vendor and no LibreOffice it is the image provider alone.
pub fn build(choice: ProviderChoice) -> Result<Built> {
    build_for(choice, None, Route::Ordered)
}

/// [`build`] for `request`, a failover ordered by `route`: with no vendor configured, `Auto` is the one local provider that can
/// serve it (documents on LibreOffice, else images), so its errors name that provider.
pub fn build_for(
    choice: ProviderChoice,
    request: Option<&multiconvert_core::JobRequest>,
    route: Route,
) -> Result<Built> {
    let mut members = members(choice)?;
    if members.len() == 1 {
        return Ok(Built::Single(members.remove(0)));
    }
    if !any_vendor_configured() {
        // Only the local providers: the one that serves the request, so its errors name it.
        let serves = |p: &Arc<dyn ConversionProvider>| {
            request.is_some_and(|r| p.info().capabilities.refusal(r).is_none())
        };
        let local = members.remove(0);
        return Ok(Built::Single(match members.pop() {
            Some(office) if !serves(&local) && serves(&office) => office,
            _ => local,
        }));
    }
    let mut router = Failover::builder().route(route);
    for member in members {
        router = router.member(member);
    }
    Ok(Built::Router(Arc::new(router.build()?)))
}

/// The providers `choice` names, in failover order: one, or for `Auto` the configured vendors
/// (online-convert, then ConvertAPI, then CloudConvert), then the image provider, then LibreOffice when found.
pub fn members(choice: ProviderChoice) -> Result<Vec<Arc<dyn ConversionProvider>>> {
    Ok(match choice {
        ProviderChoice::Local => vec![Arc::new(Local::from_env()?)],
        ProviderChoice::Office => vec![Arc::new(office_from_env()?)],
        ProviderChoice::OnlineConvert => vec![Arc::new(OnlineConvert::from_env()?)],
        ProviderChoice::Convertapi => vec![Arc::new(ConvertApi::from_env()?)],
        ProviderChoice::Cloudconvert => vec![Arc::new(CloudConvert::from_env()?)],
        ProviderChoice::Auto => {
            let mut members: Vec<Arc<dyn ConversionProvider>> = Vec::new();
            if online_convert_configured() {
                members.push(Arc::new(OnlineConvert::from_env()?));
            }
            if convertapi_configured() {
                members.push(Arc::new(ConvertApi::from_env()?));
            }
            if cloudconvert_configured() {
                members.push(Arc::new(CloudConvert::from_env()?));
            }
            members.push(Arc::new(Local::from_env()?));
            if let Some(office) = office() {
                members.push(Arc::new(office));
            }
            members
        }
    })
}

/// What provider `name` can do, configured or not (built with placeholder credentials when it
/// is not configured: only its declared capabilities are read).
pub fn capabilities(name: &str) -> Option<multiconvert_core::Capabilities> {
    let placeholder = "unconfigured";
    let provider: Arc<dyn ConversionProvider> = match name {
        "local" => Arc::new(Local::new(std::env::temp_dir().join("multiconvert-local")).ok()?),
        "office" => Arc::new(office()?),
        "online-convert" => Arc::new(
            OnlineConvert::from_env()
                .or_else(|_| {
                    OnlineConvert::new(
                        multiconvert_online_convert::Config::builder()
                            .api_key(placeholder)
                            .build()?,
                    )
                })
                .ok()?,
        ),
        "convertapi" => Arc::new(
            ConvertApi::from_env()
                .or_else(|_| {
                    ConvertApi::new(
                        multiconvert_convertapi::Config::builder()
                            .secret(placeholder)
                            .build()?,
                    )
                })
                .ok()?,
        ),
        "cloudconvert" => Arc::new(
            CloudConvert::from_env()
                .or_else(|_| {
                    CloudConvert::new(
                        multiconvert_cloudconvert::Config::builder()
                            .api_key(placeholder)
                            .build()?,
                    )
                })
                .ok()?,
        ),
        _ => return None,
    };
    Some(provider.info().capabilities)
}
