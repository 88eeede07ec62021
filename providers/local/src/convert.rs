//! The image work itself: decode, resize, encode. Pure and blocking; the provider runs it on the
//! blocking pool.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use multiconvert_core::JsonMap;
use serde_json::Value;

/// Largest width or height accepted, in and out (decompression bombs stop here).
pub const MAX_DIMENSION: u32 = 16_384;
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
    /// Reads `quality`, `width`, `height`; anything else is refused (never silently ignored).
    pub fn parse(options: &JsonMap, target: ImageFormat) -> Result<Options, String> {
        let mut out = Options::default();
        for (key, value) in options {
            match key.as_str() {
                "quality" => {
                    if target != ImageFormat::Jpeg {
                        return Err("option quality applies to jpg only".into());
                    }
                    out.quality = Some(integer(key, value, 1..=100)? as u8);
                }
                "width" => out.width = Some(integer(key, value, 1..=MAX_DIMENSION as u64)? as u32),
                "height" => {
                    out.height = Some(integer(key, value, 1..=MAX_DIMENSION as u64)? as u32)
                }
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

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits
}

/// The format the bytes are in, from their signature.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    image::guess_format(bytes).ok()
}

/// Checks that `bytes` start like a readable image (header and dimensions only: cheap).
pub fn check_header(bytes: &[u8]) -> Result<(u32, u32), String> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    reader.limits(limits());
    if reader.format().is_none() {
        return Err("the file is not an image in a format the local provider reads".into());
    }
    reader.into_dimensions().map_err(|e| e.to_string())
}

/// Why a conversion failed: the input could not be read, or the output could not be written.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The image is corrupt or unreadable.
    Input(String),
    /// The encoder refused.
    Output(String),
}

/// Decodes, resizes and encodes one image.
pub fn convert(bytes: &[u8], target: ImageFormat, options: &Options) -> Result<Vec<u8>, Failure> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Failure::Input(e.to_string()))?;
    reader.limits(limits());
    let image = reader
        .decode()
        .map_err(|e| Failure::Input(format!("the image could not be decoded: {e}")))?;
    let image = resize(image, options.width, options.height);
    let image =
        if target == ImageFormat::Ico && (image.width() > ICO_MAX || image.height() > ICO_MAX) {
            image.resize(ICO_MAX, ICO_MAX, FilterType::Triangle)
        } else {
            image
        };
    let mut out = Vec::new();
    let result = match target {
        ImageFormat::Jpeg => {
            let encoder = JpegEncoder::new_with_quality(&mut out, options.quality.unwrap_or(85));
            DynamicImage::ImageRgb8(image.to_rgb8()).write_with_encoder(encoder)
        }
        // These encoders take 8-bit RGB(A) only.
        ImageFormat::Gif | ImageFormat::Ico | ImageFormat::WebP | ImageFormat::Bmp => {
            DynamicImage::ImageRgba8(image.to_rgba8()).write_to(&mut Cursor::new(&mut out), target)
        }
        _ => image.write_to(&mut Cursor::new(&mut out), target),
    };
    result.map_err(|e| Failure::Output(format!("the image could not be encoded: {e}")))?;
    Ok(out)
}

fn resize(image: DynamicImage, width: Option<u32>, height: Option<u32>) -> DynamicImage {
    match (width, height) {
        (None, None) => image,
        (Some(w), Some(h)) => image.resize_exact(w, h, FilterType::Lanczos3),
        (Some(w), None) => {
            let h = ((image.height() as u64 * w as u64) / image.width().max(1) as u64).max(1);
            image.resize_exact(w, h.min(MAX_DIMENSION as u64) as u32, FilterType::Lanczos3)
        }
        (None, Some(h)) => {
            let w = ((image.width() as u64 * h as u64) / image.height().max(1) as u64).max(1);
            image.resize_exact(w.min(MAX_DIMENSION as u64) as u32, h, FilterType::Lanczos3)
        }
    }
}
