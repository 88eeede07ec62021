//! What a provider can do, so callers and routers can ask before they try.

use std::borrow::Cow;

use crate::cost::{Cost, Price};
use crate::model::{InputKind, JobRequest};
use crate::poll::PollPolicy;

/// A static table of supported conversions: `(source, &[targets])`. `"*"` matches any format.
pub type FormatTable = &'static [(&'static str, &'static [&'static str])];

/// A provider's abilities. `Copy`, everything false by default; set with the `with_*` builders.
///
/// ```
/// use multiconvert_core::Capabilities;
/// const FORMATS: multiconvert_core::FormatTable = &[("png", &["jpg", "gif"]), ("*", &["pdf"])];
/// let caps = Capabilities::new().with_remote_input(true).with_formats(FORMATS);
/// assert!(caps.remote_input() && !caps.upload());
/// assert_eq!(caps.supports("PNG", "jpg"), Some(true));
/// assert_eq!(caps.supports("docx", "pdf"), Some(true));
/// assert_eq!(caps.supports("png", "mp3"), Some(false));
/// assert_eq!(Capabilities::new().supports("png", "jpg"), None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    remote_input: bool,
    upload: bool,
    base64: bool,
    cloud_input: bool,
    file_id_input: bool,
    multiple_inputs: bool,
    multiple_conversions: bool,
    output_targets: bool,
    webhooks: bool,
    signed_webhooks: bool,
    delete: bool,
    staged_jobs: bool,
    idempotent_submit: bool,
    remote_service: bool,
    formats: Option<FormatTable>,
}

macro_rules! capability {
    ($($field:ident, $with:ident: $doc:literal;)*) => {
        /// Every ability by name, for listings (`multiconvert providers --json`).
        impl serde::Serialize for Capabilities {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(None)?;
                $(map.serialize_entry(stringify!($field), &self.$field)?;)*
                map.end()
            }
        }

        impl Capabilities {
            $(
                #[doc = concat!("Whether the provider ", $doc, ".")]
                pub const fn $field(&self) -> bool {
                    self.$field
                }
                #[doc = concat!("Declares whether the provider ", $doc, ".")]
                pub const fn $with(mut self, yes: bool) -> Self {
                    self.$field = yes;
                    self
                }
            )*
        }
    };
}

capability! {
    remote_input, with_remote_input: "fetches inputs from URLs";
    upload, with_upload: "accepts uploaded local files";
    base64, with_base64: "accepts inline base64 inputs";
    cloud_input, with_cloud_input: "reads inputs from cloud storage";
    file_id_input, with_file_id_input: "accepts files already stored at the vendor";
    multiple_inputs, with_multiple_inputs: "takes several inputs in one job";
    multiple_conversions, with_multiple_conversions: "runs several conversions in one job";
    output_targets, with_output_targets: "writes outputs to cloud storage";
    webhooks, with_webhooks: "calls back when a job changes";
    signed_webhooks, with_signed_webhooks: "signs its callbacks";
    delete, with_delete: "can delete or cancel a job";
    staged_jobs, with_staged_jobs: "builds jobs step by step before starting them";
    idempotent_submit, with_idempotent_submit: "can retry a submit without risking a second job";
    remote_service, with_remote_service: "is a service reached over the network, which can reject credentials, throttle, run out of quota, fail transiently or answer malformed replies";
}

impl Capabilities {
    /// Nothing supported.
    pub const fn new() -> Self {
        Capabilities {
            remote_input: false,
            upload: false,
            base64: false,
            cloud_input: false,
            file_id_input: false,
            multiple_inputs: false,
            multiple_conversions: false,
            output_targets: false,
            webhooks: false,
            signed_webhooks: false,
            delete: false,
            staged_jobs: false,
            idempotent_submit: false,
            remote_service: false,
            formats: None,
        }
    }

    /// Everything either can do (a router's view of its members); the format table is dropped,
    /// since a union of tables is only known per member.
    pub const fn union(self, other: Capabilities) -> Capabilities {
        Capabilities {
            remote_input: self.remote_input || other.remote_input,
            upload: self.upload || other.upload,
            base64: self.base64 || other.base64,
            cloud_input: self.cloud_input || other.cloud_input,
            file_id_input: self.file_id_input || other.file_id_input,
            multiple_inputs: self.multiple_inputs || other.multiple_inputs,
            multiple_conversions: self.multiple_conversions || other.multiple_conversions,
            output_targets: self.output_targets || other.output_targets,
            webhooks: self.webhooks || other.webhooks,
            signed_webhooks: self.signed_webhooks || other.signed_webhooks,
            delete: self.delete || other.delete,
            staged_jobs: self.staged_jobs || other.staged_jobs,
            idempotent_submit: self.idempotent_submit || other.idempotent_submit,
            remote_service: self.remote_service || other.remote_service,
            formats: None,
        }
    }

    /// The declared source → target format table, when there is one.
    pub fn formats(&self) -> Option<FormatTable> {
        self.formats
    }
    /// Declares the supported source → target formats.
    pub const fn with_formats(mut self, table: FormatTable) -> Self {
        self.formats = Some(table);
        self
    }

    /// Whether the provider converts `source` to `target` (case-insensitive): `None` when it has
    /// declared no table (it may still, the vendor decides).
    pub fn supports(&self, source: &str, target: &str) -> Option<bool> {
        let table = self.formats?;
        let source = source.to_ascii_lowercase();
        let target = target.to_ascii_lowercase();
        Some(table.iter().any(|(from, tos)| {
            (*from == "*" || *from == source) && tos.iter().any(|t| *t == "*" || *t == target)
        }))
    }

    /// Whether the provider accepts inputs of `kind`.
    pub fn accepts(&self, kind: InputKind) -> bool {
        match kind {
            InputKind::Remote => self.remote_input,
            InputKind::Upload => self.upload,
            InputKind::Base64 => self.base64,
            InputKind::Cloud => self.cloud_input,
            InputKind::FileId => self.file_id_input,
        }
    }

    /// Why this provider cannot serve `request`, or `None` when it may. A format pair is refused
    /// only when a table is declared and does not list it, or the source format is unknown.
    pub fn refusal(&self, request: &JobRequest) -> Option<String> {
        if request.inputs.is_empty() || request.conversions.is_empty() {
            return Some("a job needs at least one input and one conversion".into());
        }
        if request.inputs.len() > 1 && !self.multiple_inputs {
            return Some("several inputs in one job are not supported".into());
        }
        if request.conversions.len() > 1 && !self.multiple_conversions {
            return Some("several conversions in one job are not supported".into());
        }
        if let Some(input) = request.inputs.iter().find(|i| !self.accepts(i.kind())) {
            return Some(format!("{:?} inputs are not supported", input.kind()).to_lowercase());
        }
        if request.callback.is_some() && !self.webhooks {
            return Some("callbacks are not supported".into());
        }
        if !self.output_targets
            && request
                .conversions
                .iter()
                .any(|c| !c.output_targets.is_empty())
        {
            return Some("output targets are not supported".into());
        }
        request
            .format_pairs()
            .into_iter()
            .find(|(source, target)| self.supports(source, target) == Some(false))
            .map(|(source, target)| format!("converting {source} to {target} is not supported"))
    }
}

/// Who a provider is and what it can do.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ProviderInfo {
    /// The provider's stable name (`online-convert`, `convertapi`, `local`, …).
    pub name: Cow<'static, str>,
    /// What it can do.
    pub capabilities: Capabilities,
    /// How to wait for its jobs unless the caller says otherwise.
    pub poll_policy: PollPolicy,
    /// What one unit of its [`Cost`] is worth to the caller, when set (see
    /// [`cost`](crate::cost)); an in-process engine is [`Price::FREE`].
    pub price: Option<Price>,
}

impl ProviderInfo {
    /// Info for `name`.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        capabilities: Capabilities,
        poll_policy: PollPolicy,
    ) -> Self {
        ProviderInfo {
            name: name.into(),
            capabilities,
            poll_policy,
            price: None,
        }
    }

    /// The same info with `price` a unit of its cost.
    pub fn with_price(mut self, price: Option<Price>) -> Self {
        self.price = price;
        self
    }

    /// What `cost` comes to in the caller's money, when this provider has a price.
    pub fn price_of(&self, cost: &Cost) -> Option<f64> {
        self.price.map(|p| p.of(cost))
    }
}
