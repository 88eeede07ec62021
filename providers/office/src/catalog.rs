//! What the found LibreOffice can convert: one table per installed module.

use std::path::Path;
use std::sync::OnceLock;

use multiconvert_core::FormatTable;

const WRITER_TO: &[&str] = &["pdf", "docx", "odt", "rtf", "txt", "html"];
const CALC_TO: &[&str] = &["pdf", "xlsx", "ods", "csv", "html"];
const IMPRESS_TO: &[&str] = &["pdf", "pptx", "odp"];

const WRITER: &[(&str, &[&str])] = &[
    ("docx", WRITER_TO),
    ("doc", WRITER_TO),
    ("odt", WRITER_TO),
    ("fodt", WRITER_TO),
    ("rtf", WRITER_TO),
    ("txt", WRITER_TO),
    ("html", WRITER_TO),
    ("htm", WRITER_TO),
];
const CALC: &[(&str, &[&str])] = &[
    ("xlsx", CALC_TO),
    ("xls", CALC_TO),
    ("ods", CALC_TO),
    ("fods", CALC_TO),
    ("csv", CALC_TO),
];
const IMPRESS: &[(&str, &[&str])] = &[
    ("pptx", IMPRESS_TO),
    ("ppt", IMPRESS_TO),
    ("odp", IMPRESS_TO),
    ("fodp", IMPRESS_TO),
];

/// LibreOffice's modules, as found beside its binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Modules {
    /// Writer: text documents and web pages.
    pub writer: bool,
    /// Calc: spreadsheets.
    pub calc: bool,
    /// Impress: presentations.
    pub impress: bool,
}

impl Modules {
    /// The modules installed with the binary at `soffice`: their libraries in its program
    /// directory (Debian installs each module as its own package). A layout where none is found
    /// (another platform, a wrapper script) is taken to have them all.
    pub fn detect(soffice: &Path) -> Modules {
        let program = std::fs::canonicalize(soffice)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let has = |lib: &str| {
            program.as_ref().is_some_and(|dir| {
                ["so", "dylib", "dll"]
                    .iter()
                    .any(|ext| dir.join(format!("{lib}.{ext}")).exists())
            })
        };
        let found = Modules {
            writer: has("libswlo"),
            calc: has("libsclo"),
            impress: has("libsdlo"),
        };
        if found
            == (Modules {
                writer: false,
                calc: false,
                impress: false,
            })
        {
            Modules {
                writer: true,
                calc: true,
                impress: true,
            }
        } else {
            found
        }
    }

    /// The source → target table of these modules (built once per combination).
    pub fn table(self) -> FormatTable {
        static TABLES: [OnceLock<FormatTable>; 8] = [const { OnceLock::new() }; 8];
        let index =
            usize::from(self.writer) | usize::from(self.calc) << 1 | usize::from(self.impress) << 2;
        TABLES[index].get_or_init(|| {
            let mut rows: Vec<(&'static str, &'static [&'static str])> = Vec::new();
            for (on, table) in [
                (self.writer, WRITER),
                (self.calc, CALC),
                (self.impress, IMPRESS),
            ] {
                if on {
                    rows.extend_from_slice(table);
                }
            }
            // At most eight small tables per process, one per module combination.
            Box::leak(rows.into_boxed_slice())
        })
    }
}

/// What a produced file of `target` must start with to count as one; `None`: any non-empty file.
pub fn magic(target: &str) -> Option<&'static [u8]> {
    match target {
        "pdf" => Some(b"%PDF-"),
        "docx" | "xlsx" | "pptx" | "odt" | "ods" | "odp" => Some(b"PK\x03\x04"),
        "rtf" => Some(b"{\\rtf"),
        _ => None,
    }
}

/// The media type of a produced file.
pub fn content_type(target: &str) -> &'static str {
    match target {
        "pdf" => "application/pdf",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "odt" => "application/vnd.oasis.opendocument.text",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        "odp" => "application/vnd.oasis.opendocument.presentation",
        "rtf" => "application/rtf",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "html" => "text/html",
        _ => "application/octet-stream",
    }
}

/// The `--convert-to` argument for `target`: a filter where the bare extension is ambiguous.
pub fn convert_to(source: &str, target: &str) -> String {
    match (target, source) {
        ("txt", _) => "txt:Text".into(),
        ("csv", _) => "csv:Text - txt - csv (StarCalc)".into(),
        ("html", "xlsx" | "xls" | "ods" | "fods" | "csv") => "html:HTML (StarCalc)".into(),
        ("html", _) => "html:HTML (StarWriter)".into(),
        (t, _) => t.to_owned(),
    }
}
