//! The command line of `multiconvert-emulator` and `multiconvert emulate`: one argument set for
//! both.

use std::net::IpAddr;
use std::time::Duration;

use crate::{Emulator, EmulatorConfig, FaultSpec};

/// Serves online-convert's, ConvertAPI's and CloudConvert's APIs on localhost until interrupted. Prints the bound
/// base URLs as one JSON line on stdout.
#[derive(Clone, Debug, clap::Args)]
#[non_exhaustive]
pub struct EmulateArgs {
    /// The address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// online-convert's port (0: a free one).
    #[arg(long, default_value_t = 0)]
    pub online_convert_port: u16,
    /// ConvertAPI's port (0: a free one; the same port as online-convert's serves both).
    #[arg(long, default_value_t = 0)]
    pub convertapi_port: u16,
    /// CloudConvert's port (0: a free one; its API under /v2, its sync host under /sync/v2).
    #[arg(long, default_value_t = 0)]
    pub cloudconvert_port: u16,
    /// Accept only this online-convert API key (default: any non-empty key).
    #[arg(long)]
    pub online_convert_key: Option<String>,
    /// Accept only this ConvertAPI secret (default: any non-empty secret).
    #[arg(long)]
    pub convertapi_secret: Option<String>,
    /// Accept only this CloudConvert API key (default: any non-empty key).
    #[arg(long)]
    pub cloudconvert_key: Option<String>,
    /// Sign online-convert callbacks (X-Oc-Signature) and CloudConvert webhooks
    /// (CloudConvert-Signature) with this secret.
    #[arg(long)]
    pub webhook_secret: Option<String>,
    /// How long each conversion takes, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub work_ms: u64,
    /// Faults to arm from the start: a JSON fault or list of faults, inline or `@file.json`.
    #[arg(long)]
    pub faults: Option<String>,
    /// The seed of probabilistic faults.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Limit each vendor account to this many requests a second (default: unlimited); past it,
    /// the vendor's throttling answer (429, or ConvertAPI's 503).
    #[arg(long)]
    pub rate_limit: Option<u32>,
}

impl EmulateArgs {
    /// The configuration these arguments describe.
    pub fn config(&self) -> Result<EmulatorConfig, String> {
        let mut config = EmulatorConfig {
            bind: self.bind,
            online_convert_port: self.online_convert_port,
            convertapi_port: self.convertapi_port,
            cloudconvert_port: self.cloudconvert_port,
            online_convert_key: self.online_convert_key.clone().filter(|k| !k.is_empty()),
            convertapi_secret: self.convertapi_secret.clone().filter(|s| !s.is_empty()),
            cloudconvert_key: self.cloudconvert_key.clone().filter(|k| !k.is_empty()),
            webhook_secret: self.webhook_secret.clone().filter(|s| !s.is_empty()),
            work: Duration::from_millis(self.work_ms),
            seed: self.seed,
            rate_limit: self.rate_limit.filter(|&n| n > 0),
            ..EmulatorConfig::default()
        };
        if let Some(faults) = &self.faults {
            let text = match faults.strip_prefix('@') {
                Some(path) => {
                    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?
                }
                None => faults.clone(),
            };
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("--faults is not JSON: {e}"))?;
            let specs: Vec<FaultSpec> = match value {
                serde_json::Value::Array(_) => serde_json::from_value(value),
                one => serde_json::from_value(one).map(|s| vec![s]),
            }
            .map_err(|e| format!("--faults: {e}"))?;
            config.faults = specs;
        }
        Ok(config)
    }
}

/// Runs the emulator until Ctrl-C or SIGTERM; returns the process exit code.
pub async fn run(args: &EmulateArgs) -> i32 {
    let config = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("multiconvert-emulator: {e}");
            return 2;
        }
    };
    let running = match Emulator::start(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("multiconvert-emulator: {e}");
            return 1;
        }
    };
    println!("{}", running.addresses_json());
    stopped().await;
    running.shutdown().await;
    0
}

async fn stopped() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
