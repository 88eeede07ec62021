//! What the CLI prints and how it exits.

use multiconvert_core::{Error, ErrorKind};
use serde_json::{json, Value};

/// Exit codes: a public contract.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Anything not classified below.
    pub const OTHER: u8 = 1;
    /// Bad command line.
    pub const USAGE: u8 = 2;
    /// No credentials, or credentials rejected.
    pub const AUTH: u8 = 3;
    /// Out of quota, or rate limited.
    pub const QUOTA: u8 = 4;
    /// Invalid input, unsupported request, or not found.
    pub const INPUT: u8 = 5;
    /// The conversion ran and failed.
    pub const FAILED: u8 = 6;
    /// A deadline passed (the job may still be running).
    pub const TIMEOUT: u8 = 7;
    /// The network or the vendor's servers failed.
    pub const NETWORK: u8 = 8;
    /// `conformance check`: the vendor's behaviour differs from the baseline.
    pub const DRIFT: u8 = 10;
}

/// The exit code of an error.
pub fn exit_code(error: &Error) -> u8 {
    match error.kind() {
        ErrorKind::Unauthenticated | ErrorKind::Config => exit::AUTH,
        ErrorKind::QuotaExhausted | ErrorKind::RateLimited => exit::QUOTA,
        ErrorKind::InvalidInput
        | ErrorKind::NotFound
        | ErrorKind::Unsupported
        | ErrorKind::Conflict
        | ErrorKind::WebhookRejected
        | ErrorKind::Io => exit::INPUT,
        ErrorKind::ConversionFailed => exit::FAILED,
        ErrorKind::Timeout => exit::TIMEOUT,
        ErrorKind::Transport | ErrorKind::Protocol => exit::NETWORK,
        _ => exit::OTHER,
    }
}

/// The `--json` form of an error: `{"error": {"kind", "message", "provider"}}`.
pub fn error_json(error: &Error) -> Value {
    json!({"error": {
        "kind": error.kind().as_str(),
        "message": error.to_string(),
        "provider": error.provider(),
    }})
}

/// Prints an error (JSON on stdout, or text on stderr) and returns its exit code.
pub fn fail(error: &Error, as_json: bool) -> u8 {
    if as_json {
        println!("{}", error_json(error));
    } else {
        eprintln!("error: {error}");
        if let Some(id) = error.job_id() {
            eprintln!("job: {id}");
        }
    }
    exit_code(error)
}
