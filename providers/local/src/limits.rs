//! What one image may cost to read: bounds checked before any pixel is decoded, so a small file
//! that declares a huge canvas (a decompression bomb) is refused at submit instead of taking the
//! process's memory.

use std::fmt;

use multiconvert_core::{Error, Result};

use crate::NAME;

/// Bounds on one image, in and out. Each is checked from the file's header before decoding; the
/// decoder itself is also held to [`max_alloc`](Self::max_alloc) (the `image` crate's
/// [`Limits`](image::Limits)). A file over a bound is an
/// [`InvalidInput`](multiconvert_core::ErrorKind::InvalidInput) error that names the bound.
///
/// Memory per conversion is about 8 bytes per pixel of the larger of input and output (the
/// decoded image and its copy in the target's pixel layout), so the defaults cap one conversion
/// near 512 MiB.
///
/// ```
/// use multiconvert_local::ImageLimits;
///
/// let limits = ImageLimits::default().with_max_pixels(4_000_000);
/// assert_eq!(limits.max_pixels, 4_000_000);
/// assert_eq!(limits.max_dimension, 16_384);
/// let from_env = ImageLimits::from_lookup(|name| {
///     (name == "MULTICONVERT_LOCAL_MAX_FRAMES").then(|| "50".to_owned())
/// })?;
/// assert_eq!(from_env.max_frames, 50);
/// # Ok::<(), multiconvert_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageLimits {
    /// Largest width or height, in pixels (default 16 384).
    pub max_dimension: u32,
    /// Largest width × height (default 64 Mi pixels, 8192 × 8192).
    pub max_pixels: u64,
    /// Most frames in an animated GIF (default 10 000). Only the first frame is converted; the
    /// rest are counted from their headers, never decoded.
    pub max_frames: u32,
    /// Most bytes the decoder may allocate for one image (default 512 MiB).
    pub max_alloc: u64,
}

/// Which bound an image broke; its `Display` names the field and its environment variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// [`ImageLimits::max_dimension`].
    Dimension,
    /// [`ImageLimits::max_pixels`].
    Pixels,
    /// [`ImageLimits::max_frames`].
    Frames,
    /// [`ImageLimits::max_alloc`].
    Alloc,
}

impl Limit {
    /// The field's name, as error messages give it.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Dimension => "max_dimension",
            Limit::Pixels => "max_pixels",
            Limit::Frames => "max_frames",
            Limit::Alloc => "max_alloc",
        }
    }

    /// The environment variable that sets it.
    pub fn variable(self) -> &'static str {
        match self {
            Limit::Dimension => "MULTICONVERT_LOCAL_MAX_DIMENSION",
            Limit::Pixels => "MULTICONVERT_LOCAL_MAX_PIXELS",
            Limit::Frames => "MULTICONVERT_LOCAL_MAX_FRAMES",
            Limit::Alloc => "MULTICONVERT_LOCAL_MAX_ALLOC",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (set by {})", self.name(), self.variable())
    }
}

/// An image over one of its [`ImageLimits`]: which, and a message with the figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverLimit {
    /// The bound.
    pub limit: Limit,
    /// What was over it, by how much, and the variable that raises it.
    pub message: String,
}

impl fmt::Display for OverLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OverLimit {}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits {
            max_dimension: 16_384,
            max_pixels: 64 << 20,
            max_frames: 10_000,
            max_alloc: 512 << 20,
        }
    }
}

impl ImageLimits {
    /// The defaults, each overridden by its variable when set: `MULTICONVERT_LOCAL_MAX_DIMENSION`,
    /// `MULTICONVERT_LOCAL_MAX_PIXELS`, `MULTICONVERT_LOCAL_MAX_FRAMES`,
    /// `MULTICONVERT_LOCAL_MAX_ALLOC` (bytes). A value that is not a whole number above 0 is a
    /// [`Config`](multiconvert_core::ErrorKind::Config) error.
    pub fn from_env() -> Result<Self> {
        ImageLimits::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let read = |limit: Limit| -> Result<Option<u64>> {
            let Some(text) = multiconvert_core::config::non_blank(&lookup, limit.variable()) else {
                return Ok(None);
            };
            text.trim()
                .parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .map(Some)
                .ok_or_else(|| {
                    Error::config(
                        NAME,
                        format!("{} must be a whole number above 0", limit.variable()),
                    )
                })
        };
        let mut limits = ImageLimits::default();
        if let Some(n) = read(Limit::Dimension)? {
            limits.max_dimension = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(n) = read(Limit::Pixels)? {
            limits.max_pixels = n;
        }
        if let Some(n) = read(Limit::Frames)? {
            limits.max_frames = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(n) = read(Limit::Alloc)? {
            limits.max_alloc = n;
        }
        Ok(limits)
    }

    /// Sets [`max_dimension`](Self::max_dimension) (at least 1).
    pub fn with_max_dimension(mut self, pixels: u32) -> Self {
        self.max_dimension = pixels.max(1);
        self
    }

    /// Sets [`max_pixels`](Self::max_pixels) (at least 1).
    pub fn with_max_pixels(mut self, pixels: u64) -> Self {
        self.max_pixels = pixels.max(1);
        self
    }

    /// Sets [`max_frames`](Self::max_frames) (at least 1).
    pub fn with_max_frames(mut self, frames: u32) -> Self {
        self.max_frames = frames.max(1);
        self
    }

    /// Sets [`max_alloc`](Self::max_alloc) (at least 1).
    pub fn with_max_alloc(mut self, bytes: u64) -> Self {
        self.max_alloc = bytes.max(1);
        self
    }

    /// Checks an image's size against `max_dimension` and `max_pixels`, `what` naming the image
    /// in the message.
    pub fn check_size(&self, what: &str, width: u32, height: u32) -> Result<(), OverLimit> {
        if width > self.max_dimension || height > self.max_dimension {
            return Err(self.over(
                Limit::Dimension,
                format!("{what} is {width}×{height} pixels"),
                format!("{} pixels per side", self.max_dimension),
            ));
        }
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_pixels {
            return Err(self.over(
                Limit::Pixels,
                format!("{what} is {width}×{height} = {pixels} pixels"),
                format!("{} pixels", self.max_pixels),
            ));
        }
        Ok(())
    }

    /// `what`, over `limit` of `bound`.
    pub(crate) fn over(&self, limit: Limit, what: String, bound: String) -> OverLimit {
        OverLimit {
            limit,
            message: format!("{what}, over the local provider's {limit} of {bound}"),
        }
    }

    /// The decoder's limits: the `image` crate enforces these again while it decodes.
    pub(crate) fn decoder(&self) -> image::Limits {
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(self.max_dimension);
        limits.max_image_height = Some(self.max_dimension);
        limits.max_alloc = Some(self.max_alloc);
        limits
    }
}
