//! What an input document is, read from its own bytes before LibreOffice sees it.
//!
//! LibreOffice opens nearly anything: random bytes named `.docx` fall back to its text import and
//! "convert" into pages of mojibake, a zip bomb is parsed until the deadline kills it, and a
//! password-protected document fails like any broken one. [`inspect`] tells what a file is — an
//! OOXML package by the main part its `[Content_Types].xml` names, an OpenDocument package by its
//! leading `mimetype` entry, a Word, Excel or PowerPoint binary by the streams of its OLE2
//! compound file, RTF, PDF and images by their leading bytes, text by its bytes — and refuses with
//! a [`Refusal`] that names the declared format beside the one found, or the limit passed.
//!
//! A zip is judged by its central directory alone: the declared sizes and the number of entries
//! are bounded by [`ArchiveLimits`] before anything is inflated, and the only parts ever inflated
//! are `[Content_Types].xml` (at most 1 MiB) and an OpenDocument `mimetype` (at most 256 bytes).
//! The walk is written here rather than taken from a zip crate because the point is to bound the
//! work by what the archive *declares* before allocating anything per entry: it keeps no entry,
//! only sums.
//!
//! ```
//! use multiconvert_office::inspect::{inspect, ArchiveLimits, Found, Refusal};
//!
//! let limits = ArchiveLimits::default();
//! assert_eq!(inspect(b"Plain words.\n", "txt", &limits), Ok(Found::Text));
//! let refusal = inspect(&[0x00, 0x9f, 0x13, 0xd2, 0x00, 0x41], "docx", &limits).unwrap_err();
//! assert_eq!(refusal.code(), "format_mismatch");
//! assert!(refusal.to_string().contains("declared docx"), "{refusal}");
//! ```

use std::fmt;
use std::io::Read;

/// Below this declared expansion no compression ratio is refused: small documents of repetitive
/// XML reach high ratios and cost nothing.
pub const RATIO_FLOOR: u64 = 16 << 20;

/// The largest `[Content_Types].xml` read (real ones are a few KiB).
const CONTENT_TYPES_MAX: u64 = 1 << 20;
/// The largest OpenDocument `mimetype` entry read (real ones are under 50 bytes).
const MIMETYPE_MAX: u64 = 256;
/// How much of a file the text test reads.
const TEXT_SAMPLE: usize = 64 << 10;

/// Bounds on what a zip-based document may declare, checked from its central directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchiveLimits {
    /// The declared uncompressed size of all entries together, in bytes
    /// (`MULTICONVERT_OFFICE_MAX_EXPANDED`, default 512 MiB; `None`: unbounded).
    pub max_expanded: Option<u64>,
    /// The declared uncompressed total over the archive's size, checked once the total passes
    /// [`RATIO_FLOOR`] (`MULTICONVERT_OFFICE_MAX_RATIO`, default 100; `None`: unbounded).
    pub max_ratio: Option<u64>,
    /// The number of entries (`MULTICONVERT_OFFICE_MAX_ENTRIES`, default 10 000; `None`:
    /// unbounded).
    pub max_entries: Option<u64>,
}

impl Default for ArchiveLimits {
    /// 512 MiB expanded, a ratio of 100, 10 000 entries. Real documents stay far inside them: an
    /// OOXML or ODF part's XML deflates 5–30×, and media inside are stored near 1×; the ratio of
    /// 100 is Apache POI's default zip-bomb bound.
    fn default() -> Self {
        ArchiveLimits {
            max_expanded: Some(512 << 20),
            max_ratio: Some(100),
            max_entries: Some(10_000),
        }
    }
}

impl ArchiveLimits {
    /// No bound at all: every archive passes (what LibreOffice alone would do).
    pub fn unbounded() -> Self {
        ArchiveLimits {
            max_expanded: None,
            max_ratio: None,
            max_entries: None,
        }
    }
    /// Sets the bound on the declared uncompressed total.
    pub fn with_max_expanded(mut self, bytes: Option<u64>) -> Self {
        self.max_expanded = bytes;
        self
    }
    /// Sets the bound on the compression ratio.
    pub fn with_max_ratio(mut self, ratio: Option<u64>) -> Self {
        self.max_ratio = ratio;
        self
    }
    /// Sets the bound on the number of entries.
    pub fn with_max_entries(mut self, entries: Option<u64>) -> Self {
        self.max_entries = entries;
        self
    }
}

/// What a file was found to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Found {
    /// A format named by its usual extension: `docx`, `xlsx`, `pptx`, `odt`, `ods`, `odp`, `odg`,
    /// `doc`, `xls`, `ppt`, `rtf`, `pdf`, `png`, `jpg`, `gif`.
    Format(&'static str),
    /// A zip archive that is no office document this provider knows.
    Zip,
    /// An OLE2 compound file that is no Word, Excel or PowerPoint binary.
    Ole2,
    /// A zip archive or OLE2 file too damaged to read; says what is wrong.
    Damaged(&'static str),
    /// Text (any 8-bit encoding or UTF-16 with its byte-order mark).
    Text,
    /// Bytes of no format recognised here, and not text.
    Binary,
    /// Nothing at all.
    Empty,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Format(format) => {
                // "an" before a letter whose name starts with a vowel sound: an xlsx, an odt.
                let article = if format
                    .starts_with(['a', 'e', 'i', 'o', 'f', 'h', 'l', 'm', 'n', 'r', 's', 'x'])
                {
                    "an"
                } else {
                    "a"
                };
                write!(f, "{article} {format} file")
            }
            Found::Zip => f.write_str("a zip archive that is no office document"),
            Found::Ole2 => {
                f.write_str("an OLE2 compound file that is no Word, Excel or PowerPoint file")
            }
            Found::Damaged(what) => f.write_str(what),
            Found::Text => f.write_str("plain text"),
            Found::Binary => f.write_str("binary data of no document format"),
            Found::Empty => f.write_str("an empty file"),
        }
    }
}

/// A bound of [`ArchiveLimits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// [`ArchiveLimits::max_expanded`].
    Expanded,
    /// [`ArchiveLimits::max_ratio`].
    Ratio,
    /// [`ArchiveLimits::max_entries`].
    Entries,
}

impl Limit {
    /// The environment variable that sets it.
    pub fn variable(self) -> &'static str {
        match self {
            Limit::Expanded => "MULTICONVERT_OFFICE_MAX_EXPANDED",
            Limit::Ratio => "MULTICONVERT_OFFICE_MAX_RATIO",
            Limit::Entries => "MULTICONVERT_OFFICE_MAX_ENTRIES",
        }
    }
}

/// Why a document is not handed to LibreOffice.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The bytes are not of the declared format.
    Mismatch {
        /// The format the file was declared as (its extension, or the request's source format).
        declared: String,
        /// What it is.
        found: Found,
    },
    /// The document is encrypted with a password.
    PasswordProtected,
    /// A zip archive declares more than a bound allows.
    OverLimit {
        /// Which bound.
        limit: Limit,
        /// What the archive declares (bytes, a ratio, or entries).
        value: u64,
        /// The bound.
        bound: u64,
    },
}

impl Refusal {
    /// A stable code for the refusal: `format_mismatch`, `password_protected` or
    /// `archive_limit`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Mismatch { .. } => "format_mismatch",
            Refusal::PasswordProtected => "password_protected",
            Refusal::OverLimit { .. } => "archive_limit",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Mismatch { declared, found } => write!(
                f,
                "the input is declared {declared} but is {found} (if it is another format, name \
                 that as its source format, e.g. --from)"
            ),
            Refusal::PasswordProtected => f.write_str(
                "the document is password-protected: remove its password and send it again",
            ),
            Refusal::OverLimit {
                limit,
                value,
                bound,
            } => {
                let (what, unit) = match limit {
                    Limit::Expanded => ("expands to", " bytes"),
                    Limit::Ratio => ("is compressed at a ratio of", ":1"),
                    Limit::Entries => ("holds", " entries"),
                };
                write!(
                    f,
                    "the document's archive {what} {value}{unit}, over the bound of {bound}{unit}: \
                     refused as a likely zip bomb ({} sets the bound, 0 lifts it)",
                    limit.variable()
                )
            }
        }
    }
}

impl std::error::Error for Refusal {}

/// Checks that `bytes` are a document of format `declared` (a lower-case extension) within
/// `limits`, and returns what they are. A zip archive is held to the limits whatever it is
/// declared as, and an encrypted document is refused as such whatever it is declared as. A
/// declared format this module does not know passes as whatever was found.
pub fn inspect(bytes: &[u8], declared: &str, limits: &ArchiveLimits) -> Result<Found, Refusal> {
    let found = identify(bytes, limits)?;
    let accepted = match expected(declared) {
        Expect::Exactly(format) => found == Found::Format(format),
        Expect::Text => matches!(found, Found::Text | Found::Format("rtf")),
        Expect::Anything => true,
    };
    if accepted {
        Ok(found)
    } else {
        Err(Refusal::Mismatch {
            declared: declared.to_owned(),
            found,
        })
    }
}

enum Expect {
    Exactly(&'static str),
    Text,
    Anything,
}

fn expected(declared: &str) -> Expect {
    match declared {
        "docx" | "docm" | "dotx" | "dotm" => Expect::Exactly("docx"),
        "xlsx" | "xlsm" | "xltx" | "xltm" => Expect::Exactly("xlsx"),
        "pptx" | "pptm" | "potx" | "potm" | "ppsx" | "ppsm" => Expect::Exactly("pptx"),
        "odt" | "ott" => Expect::Exactly("odt"),
        "ods" | "ots" => Expect::Exactly("ods"),
        "odp" | "otp" => Expect::Exactly("odp"),
        "odg" | "otg" => Expect::Exactly("odg"),
        "doc" | "dot" => Expect::Exactly("doc"),
        "xls" | "xlt" => Expect::Exactly("xls"),
        "ppt" | "pot" | "pps" => Expect::Exactly("ppt"),
        "rtf" => Expect::Exactly("rtf"),
        "pdf" => Expect::Exactly("pdf"),
        "txt" | "text" | "csv" | "tsv" | "html" | "htm" | "xhtml" | "xml" | "fodt" | "fods"
        | "fodp" | "fodg" => Expect::Text,
        _ => Expect::Anything,
    }
}

/// What `bytes` are, whatever they were declared as; a zip over `limits` or an encrypted
/// document is refused.
pub fn identify(bytes: &[u8], limits: &ArchiveLimits) -> Result<Found, Refusal> {
    const OLE2: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    if bytes.is_empty() {
        return Ok(Found::Empty);
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return zip(bytes, limits);
    }
    if bytes.starts_with(OLE2) {
        return ole2(bytes);
    }
    let unmarked = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    for (magic, format) in [
        (&b"{\\rtf"[..], "rtf"),
        (b"%PDF-", "pdf"),
        (b"\x89PNG\r\n\x1a\n", "png"),
        (b"\xFF\xD8\xFF", "jpg"),
        (b"GIF87a", "gif"),
        (b"GIF89a", "gif"),
    ] {
        if unmarked.starts_with(magic) {
            return Ok(Found::Format(format));
        }
    }
    Ok(if is_text(bytes) {
        Found::Text
    } else {
        Found::Binary
    })
}

/// Text by its first 64 KiB: a UTF-16 byte-order mark, or no NUL and at most one control
/// character in a hundred (tab, line and page breaks, ESC and DOS's end-of-file aside), in any
/// 8-bit encoding. Random bytes fail at once: a NUL is one byte in 256.
fn is_text(bytes: &[u8]) -> bool {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return true;
    }
    let sample = &bytes[..bytes.len().min(TEXT_SAMPLE)];
    if sample.contains(&0) {
        return false;
    }
    let controls = sample
        .iter()
        .filter(|&&b| {
            (b < 0x20 && !matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | 0x1A | 0x1B))
                || b == 0x7F
        })
        .count();
    controls * 100 <= sample.len()
}

/// A bounds-checked little-endian reader over a slice.
struct Le<'a>(&'a [u8]);

impl Le<'_> {
    fn u16(&self, at: usize) -> Option<u16> {
        Some(u16::from_le_bytes(
            self.0.get(at..at.checked_add(2)?)?.try_into().ok()?,
        ))
    }
    fn u32(&self, at: usize) -> Option<u32> {
        Some(u32::from_le_bytes(
            self.0.get(at..at.checked_add(4)?)?.try_into().ok()?,
        ))
    }
    fn u64(&self, at: usize) -> Option<u64> {
        Some(u64::from_le_bytes(
            self.0.get(at..at.checked_add(8)?)?.try_into().ok()?,
        ))
    }
}

const DAMAGED_ZIP: Found =
    Found::Damaged("a damaged zip archive (cut off, or its central directory is unreadable)");

/// One entry of the central directory: enough to find and read its data.
#[derive(Clone, Copy)]
struct Entry {
    method: u16,
    compressed: u64,
    uncompressed: u64,
    offset: u64,
}

/// Where the central directory is and how many entries it says it holds.
struct Directory {
    offset: usize,
    size: usize,
    entries: u64,
}

/// Finds the end-of-central-directory record (and its zip64 form when the plain one is full).
fn directory(bytes: &[u8]) -> Option<Directory> {
    const EOCD: &[u8] = b"PK\x05\x06";
    // The record is 22 bytes and may be followed by a comment of up to 65 535.
    let window = bytes.len().saturating_sub(22 + 0xFFFF);
    let at = window + bytes[window..].windows(4).rposition(|w| w == EOCD)?;
    let le = Le(bytes);
    let mut entries = u64::from(le.u16(at + 10)?);
    let mut size = u64::from(le.u32(at + 12)?);
    let mut offset = u64::from(le.u32(at + 16)?);
    if entries == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
        let locator = at.checked_sub(20)?;
        if le.u32(locator)? != 0x0706_4b50 {
            return None;
        }
        let record = usize::try_from(le.u64(locator + 8)?).ok()?;
        if le.u32(record)? != 0x0606_4b50 {
            return None;
        }
        entries = le.u64(record + 32)?;
        size = le.u64(record + 40)?;
        offset = le.u64(record + 48)?;
    }
    let offset = usize::try_from(offset).ok()?;
    let size = usize::try_from(size).ok()?;
    (offset.checked_add(size)? <= bytes.len()).then_some(Directory {
        offset,
        size,
        entries,
    })
}

/// A zip's central directory, walked once under `limits`; then what the archive holds.
fn zip(bytes: &[u8], limits: &ArchiveLimits) -> Result<Found, Refusal> {
    let Some(dir) = directory(bytes) else {
        return Ok(DAMAGED_ZIP);
    };
    let over = |limit, value: u64, bound: Option<u64>| match bound {
        Some(bound) if value > bound => Err(Refusal::OverLimit {
            limit,
            value,
            bound,
        }),
        _ => Ok(()),
    };
    over(Limit::Entries, dir.entries, limits.max_entries)?;
    let cd = Le(&bytes[dir.offset..dir.offset + dir.size]);
    let (mut at, mut count, mut expanded) = (0usize, 0u64, 0u64);
    let (mut content_types, mut mimetype) = (None, None);
    while at < dir.size {
        let Some(entry) = central_entry(&cd, at) else {
            return Ok(DAMAGED_ZIP);
        };
        let (entry, name, next) = entry;
        count += 1;
        over(Limit::Entries, count, limits.max_entries)?;
        expanded = expanded.saturating_add(entry.uncompressed);
        if name.eq_ignore_ascii_case(b"[Content_Types].xml") {
            content_types = Some(entry);
        } else if name == b"mimetype" && entry.offset == 0 {
            mimetype = Some(entry);
        }
        at = next;
    }
    over(Limit::Expanded, expanded, limits.max_expanded)?;
    if expanded > RATIO_FLOOR {
        let ratio = expanded / (bytes.len() as u64).max(1);
        over(Limit::Ratio, ratio, limits.max_ratio)?;
    }
    if let Some(entry) = content_types {
        let Some(xml) = read_entry(bytes, entry, CONTENT_TYPES_MAX) else {
            return Ok(DAMAGED_ZIP);
        };
        return Ok(ooxml_type(&xml.to_ascii_lowercase()).map_or(Found::Zip, Found::Format));
    }
    if let Some(entry) = mimetype {
        let Some(mime) = read_entry(bytes, entry, MIMETYPE_MAX) else {
            return Ok(DAMAGED_ZIP);
        };
        return Ok(odf_type(mime.trim_ascii()).map_or(Found::Zip, Found::Format));
    }
    Ok(Found::Zip)
}

/// The central-directory entry at `at`: the entry, its name, and where the next one starts.
fn central_entry<'a>(cd: &Le<'a>, at: usize) -> Option<(Entry, &'a [u8], usize)> {
    if cd.u32(at)? != 0x0201_4b50 {
        return None;
    }
    let method = cd.u16(at + 10)?;
    let mut compressed = u64::from(cd.u32(at + 20)?);
    let mut uncompressed = u64::from(cd.u32(at + 24)?);
    let name_len = usize::from(cd.u16(at + 28)?);
    let extra_len = usize::from(cd.u16(at + 30)?);
    let comment_len = usize::from(cd.u16(at + 32)?);
    let mut offset = u64::from(cd.u32(at + 42)?);
    let name = cd.0.get(at + 46..at + 46 + name_len)?;
    let extra =
        cd.0.get(at + 46 + name_len..at + 46 + name_len + extra_len)?;
    const FULL: u64 = 0xFFFF_FFFF;
    if uncompressed == FULL || compressed == FULL || offset == FULL {
        // The zip64 extra field holds, in this order, each of the three that is full.
        let extra = Le(extra);
        let mut field = 0;
        while field + 4 <= extra.0.len() {
            let (id, len) = (extra.u16(field)?, usize::from(extra.u16(field + 2)?));
            if id == 0x0001 {
                let mut value = field + 4;
                for slot in [&mut uncompressed, &mut compressed, &mut offset] {
                    if *slot == FULL {
                        *slot = extra.u64(value)?;
                        value += 8;
                    }
                }
                break;
            }
            field += 4 + len;
        }
    }
    let next = at + 46 + name_len + extra_len + comment_len;
    Some((
        Entry {
            method,
            compressed,
            uncompressed,
            offset,
        },
        name,
        next,
    ))
}

/// The data of `entry`, stored or deflated, when it inflates to at most `max` bytes.
fn read_entry(bytes: &[u8], entry: Entry, max: u64) -> Option<Vec<u8>> {
    let le = Le(bytes);
    let local = usize::try_from(entry.offset).ok()?;
    if le.u32(local)? != 0x0403_4b50 {
        return None;
    }
    let start = local + 30 + usize::from(le.u16(local + 26)?) + usize::from(le.u16(local + 28)?);
    let data = bytes.get(start..start.checked_add(usize::try_from(entry.compressed).ok()?)?)?;
    let mut out = Vec::new();
    match entry.method {
        0 => out.extend_from_slice(data),
        8 => {
            flate2::read::DeflateDecoder::new(data)
                .take(max + 1)
                .read_to_end(&mut out)
                .ok()?;
        }
        _ => return None,
    }
    (out.len() as u64 <= max).then_some(out)
}

/// The OOXML format whose main part a lower-cased `[Content_Types].xml` names.
fn ooxml_type(xml: &[u8]) -> Option<&'static str> {
    const MAIN: &[(&str, &str)] = &[
        ("wordprocessingml.document.main+xml", "docx"),
        ("wordprocessingml.template.main+xml", "docx"),
        ("ms-word.document.macroenabled.main+xml", "docx"),
        ("ms-word.template.macroenabledtemplate.main+xml", "docx"),
        ("spreadsheetml.sheet.main+xml", "xlsx"),
        ("spreadsheetml.template.main+xml", "xlsx"),
        ("ms-excel.sheet.macroenabled.main+xml", "xlsx"),
        ("ms-excel.template.macroenabled.main+xml", "xlsx"),
        ("presentationml.presentation.main+xml", "pptx"),
        ("presentationml.slideshow.main+xml", "pptx"),
        ("presentationml.template.main+xml", "pptx"),
        ("ms-powerpoint.presentation.macroenabled.main+xml", "pptx"),
        ("ms-powerpoint.slideshow.macroenabled.main+xml", "pptx"),
        ("ms-powerpoint.template.macroenabled.main+xml", "pptx"),
    ];
    MAIN.iter()
        .find(|(main, _)| xml.windows(main.len()).any(|w| w == main.as_bytes()))
        .map(|&(_, format)| format)
}

/// The OpenDocument format of a `mimetype` entry.
fn odf_type(mime: &[u8]) -> Option<&'static str> {
    let kind = mime.strip_prefix(b"application/vnd.oasis.opendocument.")?;
    let kind = kind.strip_suffix(b"-template").unwrap_or(kind);
    match kind {
        b"text" | b"text-master" | b"text-web" => Some("odt"),
        b"spreadsheet" => Some("ods"),
        b"presentation" => Some("odp"),
        b"graphics" => Some("odg"),
        _ => None,
    }
}

/// An OLE2 compound file: a password-protected OOXML package, or a Word, Excel or PowerPoint
/// binary by its main stream.
fn ole2(bytes: &[u8]) -> Result<Found, Refusal> {
    let Ok(mut file) = cfb::CompoundFile::open(std::io::Cursor::new(bytes)) else {
        return Ok(Found::Damaged("a damaged OLE2 compound file"));
    };
    if file.exists("/EncryptedPackage") {
        return Err(Refusal::PasswordProtected);
    }
    if file.is_stream("/WordDocument") {
        // The FIB's fEncrypted bit (0x0100 of the flags at offset 10): an encrypted Word binary.
        let mut fib = [0u8; 12];
        let encrypted = file
            .open_stream("/WordDocument")
            .and_then(|mut s| s.read_exact(&mut fib))
            .is_ok()
            && u16::from_le_bytes([fib[10], fib[11]]) & 0x0100 != 0;
        return if encrypted {
            Err(Refusal::PasswordProtected)
        } else {
            Ok(Found::Format("doc"))
        };
    }
    if file.is_stream("/Workbook") || file.is_stream("/Book") {
        return Ok(Found::Format("xls"));
    }
    if file.is_stream("/PowerPoint Document") {
        return Ok(Found::Format("ppt"));
    }
    Ok(Found::Ole2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip of `(name, data, declared uncompressed size)` entries, stored: enough to drive the
    /// central-directory walk with any declared sizes.
    pub(crate) fn stored_zip(entries: &[(&str, &[u8], u64)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data, declared) in entries {
            let offset = out.len() as u32;
            let declared32 = (*declared).min(0xFFFF_FFFE) as u32;
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&declared32.to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            central.extend_from_slice(b"PK\x01\x02");
            central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&declared32.to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    const DOCX_TYPES: &[u8] = br#"<Types><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;

    #[test]
    fn a_stored_ooxml_and_odf_package_are_told_apart() {
        let limits = ArchiveLimits::default();
        let docx = stored_zip(&[
            ("[Content_Types].xml", DOCX_TYPES, DOCX_TYPES.len() as u64),
            ("word/document.xml", b"<w:document/>", 13),
        ]);
        assert_eq!(inspect(&docx, "docx", &limits), Ok(Found::Format("docx")));
        assert_eq!(
            inspect(&docx, "xlsx", &limits),
            Err(Refusal::Mismatch {
                declared: "xlsx".into(),
                found: Found::Format("docx")
            })
        );
        let mime = b"application/vnd.oasis.opendocument.spreadsheet";
        let ods = stored_zip(&[("mimetype", mime, mime.len() as u64)]);
        assert_eq!(inspect(&ods, "ods", &limits), Ok(Found::Format("ods")));
        assert!(inspect(&ods, "odt", &limits).is_err());
        // A mimetype that is not the first entry makes no OpenDocument package.
        let late = stored_zip(&[("a", b"x", 1), ("mimetype", mime, mime.len() as u64)]);
        assert_eq!(identify(&late, &limits), Ok(Found::Zip));
    }

    #[test]
    fn declared_sizes_are_bounded_before_anything_is_inflated() {
        let limits = ArchiveLimits::default();
        let big = stored_zip(&[
            ("[Content_Types].xml", DOCX_TYPES, DOCX_TYPES.len() as u64),
            ("word/document.xml", b"x", 300 << 20),
            ("word/more.xml", b"x", 300 << 20),
        ]);
        match inspect(&big, "docx", &limits) {
            Err(Refusal::OverLimit {
                limit: Limit::Expanded,
                value,
                bound,
            }) => assert_eq!(
                (value, bound),
                ((600 << 20) + DOCX_TYPES.len() as u64, 512 << 20)
            ),
            other => panic!("{other:?}"),
        }
        let dense = stored_zip(&[("word/document.xml", b"x", 20 << 20)]);
        let refusal = identify(&dense, &limits).unwrap_err();
        assert!(
            matches!(
                refusal,
                Refusal::OverLimit {
                    limit: Limit::Ratio,
                    ..
                }
            ),
            "{refusal:?}"
        );
        assert!(
            refusal
                .to_string()
                .contains("MULTICONVERT_OFFICE_MAX_RATIO"),
            "{refusal}"
        );
        // Under the floor a high ratio is harmless.
        let small = stored_zip(&[("word/document.xml", b"x", 1 << 20)]);
        assert_eq!(identify(&small, &limits), Ok(Found::Zip));
        let many: Vec<(String, &[u8], u64)> =
            (0..20).map(|i| (format!("f{i}"), &b""[..], 0)).collect();
        let many: Vec<(&str, &[u8], u64)> =
            many.iter().map(|(n, d, s)| (n.as_str(), *d, *s)).collect();
        let entries = limits.with_max_entries(Some(10));
        let refusal = identify(&stored_zip(&many), &entries).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::OverLimit {
                limit: Limit::Entries,
                value: 20,
                bound: 10
            }
        );
        assert_eq!(
            identify(&stored_zip(&many), &ArchiveLimits::unbounded()),
            Ok(Found::Zip)
        );
    }

    #[test]
    fn text_and_leading_bytes() {
        let limits = ArchiveLimits::default();
        assert_eq!(inspect(b"a,b\n1,2\n", "csv", &limits), Ok(Found::Text));
        assert_eq!(
            inspect(b"caf\xe9 cr\xe8me\r\n", "txt", &limits),
            Ok(Found::Text)
        );
        assert_eq!(inspect(b"\xFF\xFEh\0i\0", "txt", &limits), Ok(Found::Text));
        assert_eq!(
            inspect(b"{\\rtf1 hello}", "rtf", &limits),
            Ok(Found::Format("rtf"))
        );
        assert_eq!(
            inspect(b"{\\rtf1 hello}", "txt", &limits),
            Ok(Found::Format("rtf"))
        );
        assert!(inspect(b"plain", "rtf", &limits).is_err());
        assert!(inspect(b"\x89PNG\r\n\x1a\nxxxx", "docx", &limits).is_err());
        assert!(inspect(b"abc\0def", "txt", &limits).is_err());
        assert_eq!(identify(b"", &limits), Ok(Found::Empty));
        // A format this module does not know passes as whatever it is.
        assert_eq!(inspect(b"\0\x01", "wpd", &limits), Ok(Found::Binary));
    }

    #[test]
    fn damaged_archives_are_named_as_such() {
        let limits = ArchiveLimits::default();
        let docx = stored_zip(&[("[Content_Types].xml", DOCX_TYPES, DOCX_TYPES.len() as u64)]);
        let cut = &docx[..docx.len() - 10];
        assert_eq!(identify(cut, &limits), Ok(DAMAGED_ZIP));
        let ole = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0, 0];
        assert!(matches!(identify(&ole, &limits), Ok(Found::Damaged(_))));
    }

    fn sample(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../fixtures/samples/office/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).unwrap()
    }

    #[test]
    fn the_real_samples_are_what_they_say() {
        let limits = ArchiveLimits::default();
        for (name, declared) in [
            ("report.docx", "docx"),
            ("report.odt", "odt"),
            ("table.xlsx", "xlsx"),
            ("slides.pptx", "pptx"),
            ("page.html", "html"),
            ("report.fodt", "fodt"),
            ("table.fods", "fods"),
            ("slides.fodp", "fodp"),
        ] {
            assert!(inspect(&sample(name), declared, &limits).is_ok(), "{name}");
        }
        assert_eq!(
            inspect(&sample("locked.docx"), "docx", &limits),
            Err(Refusal::PasswordProtected)
        );
        let bomb = inspect(&sample("bomb.docx"), "docx", &limits).unwrap_err();
        assert!(
            matches!(
                bomb,
                Refusal::OverLimit {
                    limit: Limit::Ratio,
                    ..
                }
            ),
            "{bomb}"
        );
        // Lifted, the bomb is what it says: a docx.
        let lifted = ArchiveLimits::unbounded();
        assert_eq!(
            inspect(&sample("bomb.docx"), "docx", &lifted),
            Ok(Found::Format("docx"))
        );
        // One refusal per cause, its code stable.
        assert_eq!(
            inspect(&sample("table.xlsx"), "docx", &limits)
                .unwrap_err()
                .to_string(),
            "the input is declared docx but is an xlsx file (if it is another format, name that \
             as its source format, e.g. --from)"
        );
    }

    proptest::proptest! {
        /// Any bytes under any declared format: a finding or a typed refusal, never a panic;
        /// a package found is a zip.
        #[test]
        fn any_bytes_are_judged_without_panic(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048),
            declared in proptest::sample::select(vec!["docx", "xlsx", "odt", "doc", "txt", "rtf", "csv"]),
        ) {
            let limits = ArchiveLimits::default();
            if let Ok(Found::Format("docx" | "xlsx" | "pptx" | "odt" | "ods" | "odp")) =
                inspect(&bytes, declared, &limits)
            {
                proptest::prop_assert!(bytes.starts_with(b"PK"));
            }
        }

        /// A real package cut short or with bytes overwritten anywhere (its central directory
        /// included): still a finding or a typed refusal, never a panic.
        #[test]
        fn damaged_packages_are_judged_without_panic(
            cut in 0usize..30_000,
            flips in proptest::collection::vec((0usize..30_000, proptest::num::u8::ANY), 0..16),
            which in 0usize..4,
        ) {
            let name = ["report.docx", "report.odt", "table.xlsx", "locked.docx"][which];
            let mut bytes = sample(name);
            for (at, value) in flips {
                let at = at % bytes.len();
                bytes[at] = value;
            }
            bytes.truncate(cut.max(1));
            let limits = ArchiveLimits::default().with_max_expanded(Some(1 << 20));
            let _ = inspect(&bytes, "docx", &limits);
        }
    }
}
