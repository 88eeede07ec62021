//! The image work itself: decode, resize, encode. Pure and blocking; the provider runs it on the
//! blocking pool.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::error::LimitErrorKind;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader};
use multiconvert_core::JsonMap;
use serde_json::Value;

use crate::limits::{ImageLimits, Limit, OverLimit};
/// ICO holds at most 256×256; larger images are scaled down to fit.
pub const ICO_MAX: u32 = 256;

/// Every format the provider reads and writes, by its usual extensions.
pub fn format_of(name: &str) -> Option<ImageFormat> {
    Some(match name.to_ascii_lowercase().as_str() {
        "png" => ImageFormat::Png,
        "jpg" | "jpeg" => ImageFormat::Jpeg,
        "gif" => ImageFormat::Gif,
        "bmp" => ImageFormat::Bmp,
        "tif" | "tiff" => ImageFormat::Tiff,
        "webp" => ImageFormat::WebP,
        "ico" => ImageFormat::Ico,
        _ => return None,
    })
}

/// The media type of a format.
pub fn content_type(format: ImageFormat) -> &'static str {
    format.to_mime_type()
}

/// Conversion options, checked before any work starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// JPEG quality, 1–100 (default 85).
    pub quality: Option<u8>,
    /// Target width in pixels.
    pub width: Option<u32>,
    /// Target height in pixels.
    pub height: Option<u32>,
}

fn integer(key: &str, value: &Value, range: std::ops::RangeInclusive<u64>) -> Result<u64, String> {
    let n = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("option {key} must be a whole number"))?;
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "option {key} must be between {} and {}, not {n}",
            range.start(),
            range.end()
        ))
    }
}

impl Options {
    /// Reads `quality`, `width`, `height` (each side at most `limits.max_dimension`); anything
    /// else is refused (never silently ignored).
    pub fn parse(
        options: &JsonMap,
        target: ImageFormat,
        limits: &ImageLimits,
    ) -> Result<Options, String> {
        let side = 1..=u64::from(limits.max_dimension);
        let mut out = Options::default();
        for (key, value) in options {
            match key.as_str() {
                "quality" => {
                    if target != ImageFormat::Jpeg {
                        return Err("option quality applies to jpg only".into());
                    }
                    out.quality = Some(integer(key, value, 1..=100)? as u8);
                }
                "width" => out.width = Some(integer(key, value, side.clone())? as u32),
                "height" => out.height = Some(integer(key, value, side.clone())? as u32),
                other => {
                    return Err(format!(
                    "unknown option {other:?}: the local provider takes quality, width and height"
                ))
                }
            }
        }
        Ok(out)
    }
}

/// The format the bytes are in, from their signature.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    image::guess_format(bytes).ok()
}

/// Why an image's header was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Not an image the provider reads, or corrupt.
    Unreadable(String),
    /// Over one of the limits.
    OverLimit(OverLimit),
}

impl From<OverLimit> for HeaderError {
    fn from(o: OverLimit) -> Self {
        HeaderError::OverLimit(o)
    }
}

/// The decoder's error, its own limit errors named as the bound they enforce.
fn decode_error(e: ImageError, limits: &ImageLimits) -> HeaderError {
    if let ImageError::Limits(l) = &e {
        match l.kind() {
            LimitErrorKind::DimensionError => {
                return limits
                    .over(
                        Limit::Dimension,
                        "the image is too large".into(),
                        format!("{} pixels per side", limits.max_dimension),
                    )
                    .into()
            }
            LimitErrorKind::InsufficientMemory => {
                return limits
                    .over(
                        Limit::Alloc,
                        "the image needs more memory to decode".into(),
                        format!("{} bytes", limits.max_alloc),
                    )
                    .into()
            }
            _ => {}
        }
    }
    HeaderError::Unreadable(e.to_string())
}

impl From<OverLimit> for Failure {
    fn from(o: OverLimit) -> Self {
        Failure::Input(o.message)
    }
}

impl From<HeaderError> for Failure {
    fn from(e: HeaderError) -> Self {
        match e {
            HeaderError::Unreadable(m) => {
                Failure::Input(format!("the image could not be decoded: {m}"))
            }
            HeaderError::OverLimit(o) => Failure::Input(o.message),
        }
    }
}

fn reader<'a>(
    bytes: &'a [u8],
    limits: &ImageLimits,
) -> Result<ImageReader<Cursor<&'a [u8]>>, HeaderError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| HeaderError::Unreadable(e.to_string()))?;
    reader.limits(limits.decoder());
    Ok(reader)
}

/// Counts a GIF's frames from their headers (no pixel is decoded), stopping past `max_frames`.
fn check_frames(bytes: &[u8], limits: &ImageLimits) -> Result<(), HeaderError> {
    let unreadable = |e: gif::DecodingError| HeaderError::Unreadable(format!("bad GIF: {e}"));
    let mut options = gif::DecodeOptions::new();
    options.skip_frame_decoding(true);
    if let Some(cap) = std::num::NonZeroU64::new(limits.max_alloc) {
        options.set_memory_limit(gif::MemoryLimit::Bytes(cap));
    }
    let mut decoder = options.read_info(Cursor::new(bytes)).map_err(unreadable)?;
    let mut frames: u64 = 0;
    // With decoding skipped, each read passes over the frame's compressed data.
    while decoder.read_next_frame().map_err(unreadable)?.is_some() {
        frames += 1;
        if frames > u64::from(limits.max_frames) {
            return Err(limits
                .over(
                    Limit::Frames,
                    "the GIF has more frames".into(),
                    format!("{} frames", limits.max_frames),
                )
                .into());
        }
    }
    Ok(())
}

/// What an image's header says, read without decoding a pixel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The format, from the file's signature.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The size of the decoded image in memory.
    pub decoded_bytes: u64,
}

/// Reads the header and checks it against the size limits and the decoded size against
/// `max_alloc`; GIF frames are not counted (see [`check_header`]).
fn read_header(bytes: &[u8], limits: &ImageLimits) -> Result<Header, HeaderError> {
    let reader = reader(bytes, limits)?;
    let Some(format) = reader.format() else {
        return Err(HeaderError::Unreadable(
            "the file is not an image in a format the local provider reads".into(),
        ));
    };
    let decoder = reader.into_decoder().map_err(|e| decode_error(e, limits))?;
    let (width, height) = decoder.dimensions();
    limits.check_size("the image", width, height)?;
    let header = Header {
        format,
        width,
        height,
        decoded_bytes: decoder.total_bytes(),
    };
    if header.decoded_bytes > limits.max_alloc {
        return Err(limits
            .over(
                Limit::Alloc,
                format!(
                    "the image is {width}×{height} and needs {} bytes decoded",
                    header.decoded_bytes
                ),
                format!("{} bytes", limits.max_alloc),
            )
            .into());
    }
    Ok(header)
}

/// Checks that `bytes` start like a readable image within `limits`: its header (dimensions,
/// pixels, decoded size) and, for a GIF, its frame count. Cheap: no pixel is decoded.
pub fn check_header(bytes: &[u8], limits: &ImageLimits) -> Result<Header, HeaderError> {
    let header = read_header(bytes, limits)?;
    if header.format == ImageFormat::Gif {
        check_frames(bytes, limits)?;
    }
    Ok(header)
}

/// The size `header`'s image is converted at, checked against `limits` together with the memory
/// the conversion needs: the decoded image and, when resizing, the filter's working buffer (f32
/// RGBA, 16 bytes per pixel of input width × output height).
pub fn plan(
    header: &Header,
    options: &Options,
    limits: &ImageLimits,
) -> Result<(u32, u32), OverLimit> {
    let (width, height) = (header.width, header.height);
    let cap = u64::from(limits.max_dimension);
    let scaled = |side: u32, by: u32, of: u32| -> u32 {
        ((u64::from(side) * u64::from(by)) / u64::from(of.max(1))).clamp(1, cap) as u32
    };
    let (out_w, out_h) = match (options.width, options.height) {
        (None, None) => (width, height),
        (Some(w), Some(h)) => (w, h),
        (Some(w), None) => (w, scaled(height, w, width)),
        (None, Some(h)) => (scaled(width, h, height), h),
    };
    limits.check_size("the resized image", out_w, out_h)?;
    if (out_w, out_h) != (width, height) {
        let working = u64::from(width) * u64::from(out_h) * 16;
        let needed = working.saturating_add(header.decoded_bytes);
        if needed > limits.max_alloc {
            return Err(limits.over(
                Limit::Alloc,
                format!("resizing {width}×{height} to {out_w}×{out_h} needs {needed} bytes"),
                format!("{} bytes", limits.max_alloc),
            ));
        }
    }
    Ok((out_w, out_h))
}

/// Why a conversion failed: the input could not be read, or the output could not be written.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The image is corrupt, unreadable, or over a limit.
    Input(String),
    /// The encoder refused.
    Output(String),
}

/// Decodes, resizes and encodes one image within `limits`: the header and the [`plan`] are
/// checked before any pixel is decoded, and the decoder is held to `max_alloc` as it runs.
pub fn convert(
    bytes: &[u8],
    target: ImageFormat,
    options: &Options,
    limits: &ImageLimits,
) -> Result<Vec<u8>, Failure> {
    let header = read_header(bytes, limits)?;
    let (out_w, out_h) = plan(&header, options, limits)?;
    let resizing = (out_w, out_h) != (header.width, header.height);
    // `decode` reserves the decoded buffer against `max_alloc` before allocating it.
    let image = reader(bytes, limits)?
        .decode()
        .map_err(|e| decode_error(e, limits))?;
    let image = if resizing {
        image.resize_exact(out_w, out_h, FilterType::Lanczos3)
    } else {
        image
    };
    let image =
        if target == ImageFormat::Ico && (image.width() > ICO_MAX || image.height() > ICO_MAX) {
            image.resize(ICO_MAX, ICO_MAX, FilterType::Triangle)
        } else {
            image
        };
    let mut out = Vec::new();
    // `into_rgb8`/`into_rgba8` hand the buffer over uncopied when its layout already matches.
    let result = match target {
        ImageFormat::Jpeg => {
            let encoder = JpegEncoder::new_with_quality(&mut out, options.quality.unwrap_or(85));
            DynamicImage::ImageRgb8(image.into_rgb8()).write_with_encoder(encoder)
        }
        // These encoders take 8-bit RGB(A) only.
        ImageFormat::Gif | ImageFormat::Ico | ImageFormat::WebP | ImageFormat::Bmp => {
            DynamicImage::ImageRgba8(image.into_rgba8())
                .write_to(&mut Cursor::new(&mut out), target)
        }
        _ => image.write_to(&mut Cursor::new(&mut out), target),
    };
    result.map_err(|e| Failure::Output(format!("the image could not be encoded: {e}")))?;
    Ok(out)
}
