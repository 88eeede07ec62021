//! `multiconvert conformance record|check`: the conformance scenarios against the vendor the
//! environment names (the real one, or the emulator), recorded as cassettes or compared with
//! the committed contract.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use multiconvert_cloudconvert::CloudConvert;
use multiconvert_conformance::check::{self, Baseline, Report, Verdict};
use multiconvert_conformance::live::{self, Credentials, Fault, LiveTarget, Loopback, NotRun};
use multiconvert_conformance::record::{self, RecordOptions};
use multiconvert_conformance::{Cassette, SCENARIOS};
use multiconvert_convertapi::{AsyncRoute, ConvertApi};
use multiconvert_core::http::HttpConfig;
use multiconvert_core::{async_trait, ConversionProvider, PollPolicy};
use multiconvert_online_convert::OnlineConvert;
use serde_json::json;

use crate::args::{ConformanceAction, ConformanceArgs, ConformanceProvider};
use crate::report::exit;

mod committed {
    include!(concat!(env!("OUT_DIR"), "/committed.rs"));
}

/// The credential `auth_rejected` sends: one no vendor issued.
const REJECTED: &str = "mc-conformance-rejected-credential";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A built-in vendor as the environment configures it.
struct Target {
    vendor: ConformanceProvider,
    route: AsyncRoute,
    emulator: bool,
    base_url: String,
    /// The plain client that arms the emulator's faults (never tapped, never given a secret).
    http: multiconvert_core::reqwest::Client,
}

impl Target {
    fn from_env(vendor: ConformanceProvider, emulator: bool) -> Result<Target, String> {
        let (route, base_url) = match vendor {
            ConformanceProvider::OnlineConvert => {
                let config =
                    multiconvert_online_convert::Config::from_env().map_err(|e| e.to_string())?;
                (AsyncRoute::Current, config.base_url().to_string())
            }
            ConformanceProvider::Convertapi => {
                let config =
                    multiconvert_convertapi::Config::from_env().map_err(|e| e.to_string())?;
                (config.route(), config.base_url().to_string())
            }
            ConformanceProvider::Cloudconvert => {
                let config =
                    multiconvert_cloudconvert::Config::from_env().map_err(|e| e.to_string())?;
                (AsyncRoute::Current, config.base_url().to_string())
            }
        };
        Ok(Target {
            vendor,
            route,
            emulator,
            base_url: base_url.trim_end_matches('/').to_owned(),
            http: {
                multiconvert_core::http::install_crypto_provider();
                multiconvert_core::reqwest::Client::new()
            },
        })
    }

    fn lookup(&self, credentials: Credentials) -> impl Fn(&str) -> Option<String> {
        move |name: &str| match (credentials, name) {
            (
                Credentials::Rejected,
                "CONVERTAPI_SECRET"
                | "API2CONVERT_API_KEY"
                | "ONLINE_CONVERT_API_KEY"
                | "CLOUDCONVERT_API_KEY",
            ) => Some(REJECTED.to_owned()),
            _ => env(name),
        }
    }

    fn origin(&self) -> String {
        multiconvert_core::url::Url::parse(&self.base_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| self.base_url.clone())
    }
}

#[async_trait]
impl LiveTarget for Target {
    fn suite(&self) -> &str {
        match (self.vendor, self.route) {
            (ConformanceProvider::OnlineConvert, _) => "online-convert",
            (ConformanceProvider::Convertapi, AsyncRoute::Legacy) => "convertapi-legacy",
            (ConformanceProvider::Convertapi, _) => "convertapi-current",
            (ConformanceProvider::Cloudconvert, _) => "cloudconvert",
        }
    }

    fn base_url(&self) -> String {
        self.base_url.clone()
    }

    fn provider(
        &self,
        http: HttpConfig,
        credentials: Credentials,
    ) -> Result<Arc<dyn ConversionProvider>, String> {
        let lookup = self.lookup(credentials);
        Ok(match self.vendor {
            ConformanceProvider::OnlineConvert => Arc::new(
                OnlineConvert::new(
                    multiconvert_online_convert::Config::from_lookup(lookup)
                        .map_err(|e| e.to_string())?
                        .with_http(http),
                )
                .map_err(|e| e.to_string())?,
            ),
            ConformanceProvider::Convertapi => Arc::new(
                ConvertApi::new(
                    multiconvert_convertapi::Config::from_lookup(lookup)
                        .map_err(|e| e.to_string())?
                        // The suites are the async route's contract (`convertapi-current`,
                        // `convertapi-legacy`): their scenarios submit, poll and call back.
                        .with_submit_style(multiconvert_convertapi::SubmitStyle::Async)
                        .with_http(http),
                )
                .map_err(|e| e.to_string())?,
            ),
            ConformanceProvider::Cloudconvert => Arc::new(
                CloudConvert::new(
                    multiconvert_cloudconvert::Config::from_lookup(lookup)
                        .map_err(|e| e.to_string())?
                        .with_http(http),
                )
                .map_err(|e| e.to_string())?,
            ),
        })
    }

    fn secrets(&self) -> Vec<(String, String)> {
        let mut secrets = vec![];
        match self.vendor {
            ConformanceProvider::OnlineConvert => {
                for name in ["API2CONVERT_API_KEY", "ONLINE_CONVERT_API_KEY"] {
                    if let Some(key) = env(name) {
                        secrets.push(("api_key".to_owned(), key));
                    }
                }
                secrets.push(("api_key".to_owned(), REJECTED.to_owned()));
                if let Some(secret) = env("API2CONVERT_WEBHOOK_SECRET") {
                    secrets.push(("webhook_secret".to_owned(), secret));
                }
            }
            ConformanceProvider::Convertapi => {
                if let Some(secret) = env("CONVERTAPI_SECRET") {
                    secrets.push(("secret".to_owned(), secret));
                }
                secrets.push(("secret".to_owned(), REJECTED.to_owned()));
            }
            ConformanceProvider::Cloudconvert => {
                if let Some(key) = env("CLOUDCONVERT_API_KEY") {
                    secrets.push(("api_key".to_owned(), key));
                }
                secrets.push(("api_key".to_owned(), REJECTED.to_owned()));
                if let Some(secret) = env("CLOUDCONVERT_WEBHOOK_SECRET") {
                    secrets.push(("webhook_secret".to_owned(), secret));
                }
            }
        }
        secrets
    }

    fn unknown_job_id(&self) -> String {
        match self.vendor {
            ConformanceProvider::OnlineConvert | ConformanceProvider::Cloudconvert => {
                uuid::Uuid::new_v4().to_string()
            }
            ConformanceProvider::Convertapi => {
                multiconvert_convertapi::request::new_job_id(self.route)
            }
        }
    }

    async fn arm(&self, fault: Fault) -> Result<bool, String> {
        if !self.emulator {
            return Ok(false);
        }
        let oc = self.vendor == ConformanceProvider::OnlineConvert;
        let cc = self.vendor == ConformanceProvider::Cloudconvert;
        let (submit, poll) = match self.vendor {
            ConformanceProvider::OnlineConvert => ("oc.create", "oc.poll"),
            ConformanceProvider::Cloudconvert => ("cc.create", "cc.poll"),
            ConformanceProvider::Convertapi => ("ca.submit", "ca.poll"),
        };
        let spec = match fault {
            // As each vendor documents it: online-convert and CloudConvert 429, ConvertAPI 503
            // without a Retry-After.
            Fault::ThrottleSubmit if oc || cc => json!({"operation": submit,
                "fault": {"kind": "status", "status": 429, "retry_after": 1}}),
            Fault::ThrottleSubmit => json!({"operation": submit,
                "fault": {"kind": "status", "status": 503}}),
            Fault::QuotaOnSubmit => json!({"operation": submit, "fault": {"kind": "quota"}}),
            // A gateway's answer (HTML, not the vendor's JSON), as the cassettes transcribe it.
            Fault::TransientPoll => json!({"operation": poll,
                "fault": {"kind": "after_commit", "status": if oc { 503 } else { 502 }}}),
            Fault::GarbagePoll => json!({"operation": poll, "fault": {"kind": "garbage"}}),
        };
        arm_emulator(&self.http, &self.origin(), &spec).await?;
        Ok(true)
    }

    fn reaches_loopback(&self) -> bool {
        self.emulator
    }

    fn public_sample_url(&self) -> Option<String> {
        env("MULTICONVERT_CONFORMANCE_SAMPLE_URL")
    }
}

/// Posts a fault spec to the emulator's control endpoint at `origin`.
pub async fn arm_emulator(
    client: &multiconvert_core::reqwest::Client,
    origin: &str,
    spec: &serde_json::Value,
) -> Result<(), String> {
    let response = client
        .post(format!("{origin}/__emulator/faults"))
        .json(spec)
        .send()
        .await
        .map_err(|e| format!("the emulator's control endpoint: {}", e.without_url()))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "the emulator refused the fault: {}",
            response.status()
        ))
    }
}

/// The scenarios asked for, in suite order.
fn selected(args: &ConformanceArgs) -> Result<Vec<&'static str>, String> {
    if args.scenarios.is_empty() {
        return Ok(SCENARIOS.iter().map(|s| s.name).collect());
    }
    args.scenarios
        .iter()
        .map(|name| {
            SCENARIOS
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.name)
                .ok_or_else(|| {
                    format!(
                        "no scenario {name}; one of {}",
                        SCENARIOS
                            .iter()
                            .map(|s| s.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
        })
        .collect()
}

fn baseline(suite: &str, scenario: &str, dir: Option<&Path>) -> Result<Baseline, String> {
    if let Some(dir) = dir {
        let cassette =
            Cassette::load(&dir.join(format!("{scenario}.json"))).map_err(|e| e.to_string())?;
        let mut others = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.extension().is_some_and(|e| e == "json") {
                others.push(Cassette::load(&path).map_err(|e| e.to_string())?);
            }
        }
        return Ok(Baseline::recorded(cassette)?.with_suite(others));
    }
    let parse = |text: &str| serde_json::from_str::<Cassette>(text).map_err(|e| e.to_string());
    let (_, _, cassette, snapshot) = committed::COMMITTED
        .iter()
        .find(|(s, n, _, _)| *s == suite && *n == scenario)
        .ok_or_else(|| format!("the committed contract has no {scenario} for {suite}"))?;
    let others = committed::COMMITTED
        .iter()
        .filter(|(s, _, _, _)| *s == suite)
        .map(|(_, _, c, _)| parse(c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Baseline::snapshot(parse(cassette)?, snapshot)?.with_suite(others))
}

/// Runs `multiconvert conformance …`; the exit code.
pub async fn run(args: ConformanceArgs) -> u8 {
    let emulator = args.emulator || env("MULTICONVERT_CONFORMANCE_EMULATOR").is_some();
    let target = match Target::from_env(args.provider, emulator) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::AUTH;
        }
    };
    let scenarios = match selected(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let recording = matches!(args.action, ConformanceAction::Record)
        || env("MULTICONVERT_RECORD").is_some_and(|v| v != "0");
    let suite = target.suite().to_owned();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("recorded").join(&suite));
    // What it will spend, before anything is sent.
    let plans: Vec<_> = scenarios.iter().filter_map(|s| live::plan(s)).collect();
    let total: u32 = plans.iter().map(|p| p.jobs).sum();
    if args.json {
        println!(
            "{}",
            json!({"plan": {"suite": suite, "base_url": target.base_url, "jobs": total,
                "scenarios": plans}})
        );
    } else {
        eprintln!(
            "{} scenario(s) against {} ({suite}): at most {total} job(s), each deleted at the end",
            plans.len(),
            target.base_url
        );
        for p in &plans {
            eprintln!(
                "  {:28} {} job(s){}",
                p.scenario,
                p.jobs,
                match p.fault {
                    Some(f) => format!(", needs the target to produce {f:?}"),
                    None => String::new(),
                }
            );
        }
    }
    if args.dry_run {
        return exit::OK;
    }
    if recording {
        if let Err(e) = std::fs::create_dir_all(&out) {
            eprintln!("error: cannot create {}: {e}", out.display());
            return exit::OTHER;
        }
    }
    let loopback = if target.reaches_loopback() {
        Some(Loopback::start().await)
    } else {
        None
    };
    let policy = if emulator {
        PollPolicy::fixed(Duration::from_millis(20), Duration::from_secs(30))
    } else {
        PollPolicy::fixed(Duration::from_millis(500), Duration::from_secs(300))
    };
    let mut worst = exit::OK;
    let mut counts = [0u32; 5]; // same, changed, failed, skipped, recorded
    for scenario in scenarios {
        let run = live::run(&target, scenario, policy, loopback.as_ref()).await;
        let run = match run {
            Ok(run) => run,
            Err(NotRun::NotApplicable(why)) | Err(NotRun::Unavailable(why)) => {
                counts[3] += 1;
                print_line(
                    args.json,
                    json!({"scenario": scenario, "verdict": "skipped", "why": why}),
                    &format!("skipped  {scenario}: {why}"),
                );
                continue;
            }
        };
        for (job, result) in &run.cleanup {
            if let Err(e) = result {
                eprintln!("warning: job {job} of {scenario} could not be deleted: {e}");
                worst = worst.max(exit::OTHER);
            }
        }
        if recording {
            let options = RecordOptions {
                secrets: target.secrets(),
                base_url: target.base_url(),
                sample_origins: loopback
                    .as_ref()
                    .map(Loopback::sample_origins)
                    .unwrap_or_default(),
                notes: format!(
                    "multiconvert conformance record --provider {} ({suite})",
                    args.provider.as_str()
                ),
            };
            let written = record::cassette(&run, &options, &out)
                .and_then(|c| record::write(&c, &out, scenario));
            match written {
                Ok(()) => {
                    counts[4] += 1;
                    print_line(
                        args.json,
                        json!({"scenario": scenario, "recorded": out.join(format!("{scenario}.json"))}),
                        &format!(
                            "recorded {scenario} -> {}",
                            out.join(format!("{scenario}.json")).display()
                        ),
                    );
                }
                Err(e) => {
                    worst = worst.max(exit::FAILED);
                    print_line(
                        args.json,
                        json!({"scenario": scenario, "verdict": "failed", "error": e}),
                        &format!("failed   {scenario}: {e}"),
                    );
                }
            }
            if matches!(args.action, ConformanceAction::Record) {
                continue;
            }
        }
        let report = match baseline(&suite, scenario, args.baseline.as_deref()) {
            Ok(b) => check::check(&run, &b),
            Err(e) => {
                counts[3] += 1;
                print_line(
                    args.json,
                    json!({"scenario": scenario, "verdict": "skipped", "why": e}),
                    &format!("skipped  {scenario}: {e}"),
                );
                continue;
            }
        };
        let code = match report.verdict {
            Verdict::Same => {
                counts[0] += 1;
                exit::OK
            }
            Verdict::Changed => {
                counts[1] += 1;
                exit::DRIFT
            }
            Verdict::Failed => {
                counts[2] += 1;
                exit::FAILED
            }
        };
        worst = worst.max(code);
        print_report(args.json, &report);
    }
    let summary = json!({"summary": {"same": counts[0], "changed": counts[1], "failed": counts[2],
        "skipped": counts[3], "recorded": counts[4]}});
    if args.json {
        println!("{summary}");
    } else {
        eprintln!(
            "same {}, changed {}, failed {}, skipped {}, recorded {}",
            counts[0], counts[1], counts[2], counts[3], counts[4]
        );
    }
    worst
}

fn print_line(json: bool, value: serde_json::Value, text: &str) {
    if json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

fn print_report(json: bool, report: &Report) {
    if json {
        println!("{}", serde_json::to_string(report).unwrap_or_default());
    } else {
        print!("{report}");
    }
}
