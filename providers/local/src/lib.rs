//! # multiconvert-local
//!
//! Real in-process conversions of raster images between PNG, JPEG, GIF, BMP, TIFF, WebP and ICO
//! (the `image` crate's pure-Rust codecs), as a multiconvert
//! [`ConversionProvider`](multiconvert_core::ConversionProvider): the provider that works with no
//! account, so `multiconvert convert photo.png --to jpg` converts a file on any machine.
//!
//! - Options: `quality` (JPEG, 1–100, default 85), `width` and `height` (pixels; one of them keeps
//!   the aspect ratio). Anything else is refused, never silently ignored.
//! - Work runs on the blocking pool, off the async runtime. Jobs have real statuses (queued,
//!   processing, completed, failed) recorded under the job directory (`MULTICONVERT_LOCAL_DIR`,
//!   default `<temp>/multiconvert-local`), so another process can read or delete them; the
//!   conversion itself runs in the process that submitted it.
//! - An unsupported pair is an [`Unsupported`](multiconvert_core::ErrorKind::Unsupported) error and
//!   an unreadable image an [`InvalidInput`](multiconvert_core::ErrorKind::InvalidInput) error at
//!   submit; an image whose body turns out corrupt fails the job with code `invalid_input`.
//! - Every image is held to [`ImageLimits`] (dimensions, total pixels, GIF frames, decoder
//!   memory; `MULTICONVERT_LOCAL_MAX_*`), checked from its header before any pixel is decoded: a
//!   small file declaring a huge canvas is an `InvalidInput` error naming the limit, not a
//!   gigabyte of memory.
#![warn(missing_docs)]

pub mod convert;
pub mod limits;
pub mod provider;

pub use limits::{ImageLimits, Limit, OverLimit};
/// The on-disk job lifecycle moved to core ([`multiconvert_core::disk_jobs`]) so that every
/// in-process provider depends on core alone; these names keep working.
pub use multiconvert_core::disk_jobs as jobs;
/// See [`jobs`]: the job record (`StoredJob`) is in [`multiconvert_core::disk_jobs`] too.
pub use multiconvert_core::disk_jobs as store;
pub use multiconvert_core::DiskJobs;
pub use provider::{Local, FORMATS};

/// The provider's name.
pub const NAME: &str = "local";
