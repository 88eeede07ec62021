//! # multiconvert-office
//!
//! Office documents converted with no account and no network: docx, xlsx, pptx, odt, ods, odp,
//! rtf, txt, html and csv to PDF and between office formats, on headless LibreOffice, as a
//! [`ConversionProvider`](multiconvert_core::ConversionProvider).
//!
//! LibreOffice is found on `PATH` (`soffice`, `libreoffice`) or named by `MULTICONVERT_SOFFICE`;
//! what it can convert follows from the modules installed with it (Writer, Calc, Impress). With
//! none found, [`Office::new`] is a [`Config`](multiconvert_core::ErrorKind::Config) error that
//! says how to install it.
//!
//! Every input is [inspected](inspect) before LibreOffice sees it: bytes that are not the
//! declared format, zip bombs (by their central directory's declared sizes) and
//! password-protected documents are refused at submit as
//! [`InvalidInput`](multiconvert_core::ErrorKind::InvalidInput) naming what was found or the limit
//! passed, instead of converting into mojibake or running to the deadline.
//!
//! Real process handling: a bounded pool of workers (one per core by default), each with its own
//! LibreOffice profile (`-env:UserInstallation`), macros disabled, inputs and outputs in a
//! private directory per job, the output checked (there, non-empty, the right magic bytes)
//! before the job completes, and a deadline per conversion after which its whole process tree is
//! killed. A crash or a hang fails that job alone and never wedges the pool. Workers are
//! [`warm`] by default: each keeps one LibreOffice running and feeds it documents over UNO
//! (Debian's `python3-uno`), instead of paying LibreOffice's start-up (about a second) per
//! document.
#![warn(missing_docs)]

pub mod catalog;
pub mod config;
pub mod inspect;
pub mod process;
pub mod provider;
pub mod warm;

pub use config::{find_soffice, Config, Engine, INSTALL_HINT};
pub use inspect::ArchiveLimits;
pub use provider::Office;
pub use warm::Recycling;

/// The provider's name.
pub const NAME: &str = "office";
