//! `multiconvert`: convert files locally or through a vendor API, with failover.

mod args;
mod batch;
mod conformance;
mod progress;
mod providers;
mod report;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use futures_util::TryStreamExt;
use multiconvert_core::download::save_stream;
use multiconvert_core::failover::Failover;
use multiconvert_core::{
    failed_job_error, Attempt, ByteStream, Conversion, ConversionProvider, Input, Job, JobHandle,
    JobRequest, JobStatus, Overwrite, ProviderExt, SaveOptions,
};
use serde_json::{json, Value};

use crate::args::{Cli, Command, ConvertArgs, JobArgs, OnConflict, ProvidersArgs};
use crate::progress::Bars;
use crate::report::{exit, fail};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::OTHER);
        }
    };
    ExitCode::from(runtime.block_on(run(cli)))
}

/// `RUST_LOG` set to a level (`error`, `warn`, `info`, `debug`, `trace`, `off`) writes the
/// library's events at that level and above to stderr, so `--json` output stays clean. Secrets are
/// never in them (the fault-matrix and CLI tests check at `trace`).
fn init_logging() {
    let Some(level) = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        return;
    };
    let Ok(level) = level
        .trim()
        .parse::<tracing_subscriber::filter::LevelFilter>()
    else {
        eprintln!("warning: RUST_LOG={level:?} is not a level (error, warn, info, debug, trace, off): no logs");
        return;
    };
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

async fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Convert(args) => convert(args).await,
        Command::Batch(args) => batch::run(args).await,
        Command::Status(args) => status(args).await,
        Command::Delete(args) => delete(args).await,
        Command::Providers(args) => list_providers(args).await,
        Command::Conformance(args) => conformance::run(args).await,
        Command::Emulate(args) => {
            u8::try_from(multiconvert_emulator::command::run(&args).await).unwrap_or(exit::OTHER)
        }
    }
}

fn input_of(text: &str) -> Input {
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Input::remote(url),
        _ => Input::path(text),
    }
}

fn attempts_of(handle: &JobHandle) -> Vec<Attempt> {
    let attempts = Failover::attempts(handle);
    if attempts.is_empty() {
        vec![Attempt::succeeded(
            handle.provider.clone(),
            format!("job {}", handle.id),
        )]
    } else {
        attempts
    }
}

async fn convert(args: ConvertArgs) -> u8 {
    let json = args.json;
    let bars = Bars::new(json);
    let input = input_of(&args.input);
    let mut conversion = Conversion::to(&args.to);
    if let Some(from) = &args.from {
        conversion = conversion.from(from);
    }
    for (key, value) in &args.options {
        conversion = conversion.option(key.clone(), value.clone());
    }
    let mut request = JobRequest::new(input, conversion);
    if let Some(callback) = &args.callback {
        request = request.callback(callback.clone());
    }
    let built = match providers::build_for(args.provider, Some(&request), args.route.clone()) {
        Ok(b) => b,
        Err(e) => return fail(&e, json),
    };
    let provider = built.provider();
    let upload_bar = match std::fs::metadata(&args.input) {
        Ok(meta) if meta.is_file() => {
            let (bar, progress) = bars.upload(meta.len());
            request.upload_progress = Some(progress);
            Some(bar)
        }
        _ => None,
    };
    if args.no_wait {
        let submitted = provider.submit(&request).await;
        if let Some(bar) = upload_bar {
            bar.finish_and_clear();
        }
        let handle = match submitted {
            Ok(h) => h,
            Err(e) => return fail(&e, json),
        };
        let status = provider
            .poll(&handle)
            .await
            .map(|job| job.status.to_string())
            .unwrap_or_else(|_| "submitted".into());
        print_result(json, &handle, &status, &[], None, &attempts_of(&handle));
        if handle.provider == multiconvert_local::NAME {
            // Local work runs in this process: let it finish before exiting.
            let _ = provider.wait(&handle, &provider.info().poll_policy).await;
        }
        return exit::OK;
    }

    let mut policy = provider.info().poll_policy;
    if let Some(secs) = args.timeout {
        policy = policy.with_deadline(std::time::Duration::from_secs(secs));
    }
    let spinner = bars.waiting();
    let observe = |job: &Job| {
        if let Some(bar) = &upload_bar {
            bar.finish_and_clear();
        }
        spinner.set_message(format!("waiting: {}", job.status))
    };
    let converted = match &built {
        // A vendor that fails the job on its own side hands it to the next one.
        providers::Built::Router(router) => {
            router
                .convert_resubmitting_with(&request, &policy, &observe)
                .await
        }
        providers::Built::Single(single) => match single.submit(&request).await {
            Ok(handle) => single
                .wait_with(&handle, &policy, &observe)
                .await
                .and_then(|job| {
                    if job.status == JobStatus::Completed {
                        Ok(job)
                    } else {
                        Err(failed_job_error(&job.handle.provider, &job))
                    }
                }),
            Err(e) => Err(e),
        },
    };
    if let Some(bar) = &upload_bar {
        bar.finish_and_clear();
    }
    spinner.finish_and_clear();
    let job = match converted {
        Ok(job) => job,
        Err(e) => return fail(&e, json),
    };
    let options = SaveOptions::default().overwrite(match args.on_conflict {
        OnConflict::Error => Overwrite::Never,
        OnConflict::Overwrite => Overwrite::Replace,
        OnConflict::Rename => Overwrite::Rename,
    });
    let mut saved = Vec::new();
    // Outputs that share a name (two inputs called photo.png) are all saved, under distinct names.
    let names = multiconvert_core::distinct_filenames(&job.outputs);
    for (output, name) in job.outputs.iter().zip(names) {
        let options = options.clone().filename(name);
        match save(&provider, &bars, output, &args.out, &options).await {
            Ok(s) => saved.push(json!({
                "path": s.path.display().to_string(),
                "filename": s.path.file_name().map(|n| n.to_string_lossy().into_owned()),
                "size": s.size,
            })),
            Err(e) => return fail(&e.with_job(job.handle.clone()), json),
        }
    }
    let spent = job.cost.as_ref().map(|cost| Spent {
        price: built.price_of(&job.handle.provider, Some(cost.amount)),
        cost,
    });
    print_result(
        json,
        &job.handle,
        job.status.as_str(),
        &saved,
        spent,
        &attempts_of(&job.handle),
    );
    exit::OK
}

async fn save(
    provider: &Arc<dyn ConversionProvider>,
    bars: &Bars,
    output: &multiconvert_core::Output,
    dir: &std::path::Path,
    options: &SaveOptions,
) -> multiconvert_core::Result<multiconvert_core::Saved> {
    let stream = provider.download(output).await?;
    let name = output.filename.clone().unwrap_or_else(|| "download".into());
    let bar = bars.download(stream.content_length.or(output.size), &name);
    let feed = bar.clone();
    let counted = ByteStream::new(
        stream
            .stream
            .inspect_ok(move |chunk| feed.inc(chunk.len() as u64)),
        stream.content_length,
        stream.content_type,
    );
    // A trailing separator makes `out` a directory even before it exists.
    let result = save_stream(
        &provider.info().name,
        output,
        counted,
        &dir.join(""),
        options,
    )
    .await;
    bar.finish_and_clear();
    result
}

/// What a job cost and what that comes to at its provider's price.
struct Spent<'a> {
    cost: &'a multiconvert_core::Cost,
    price: Option<f64>,
}

fn print_result(
    json: bool,
    handle: &JobHandle,
    status: &str,
    outputs: &[Value],
    spent: Option<Spent<'_>>,
    attempts: &[Attempt],
) {
    if json {
        println!(
            "{}",
            json!({
                "provider": handle.provider,
                "job_id": handle.id,
                "status": status,
                "outputs": outputs,
                "cost": spent.as_ref().map(|s| s.cost.amount),
                "cost_unit": spent.as_ref().map(|s| &s.cost.unit),
                "price": spent.as_ref().and_then(|s| s.price),
                "attempts": attempts,
            })
        );
        return;
    }
    match &spent {
        Some(Spent {
            cost,
            price: Some(price),
        }) => println!(
            "{} job {}: {status}, cost {cost} (price {price:.4})",
            handle.provider, handle.id
        ),
        Some(Spent { cost, price: None }) => {
            println!(
                "{} job {}: {status}, cost {cost}",
                handle.provider, handle.id
            )
        }
        None => println!("{} job {}: {status}", handle.provider, handle.id),
    }
    for output in outputs {
        println!(
            "  {} ({} bytes)",
            output["path"].as_str().unwrap_or_default(),
            output["size"]
        );
    }
    for attempt in attempts.iter().filter(|a| a.error.is_some()) {
        println!("  tried {} first: {}", attempt.provider, attempt.detail);
    }
}

/// The provider a job belongs to, and a handle for it.
fn job_of(args: &JobArgs) -> multiconvert_core::Result<(Arc<dyn ConversionProvider>, JobHandle)> {
    let provider = providers::build(args.provider.into())?.provider();
    let handle = JobHandle::new(provider.info().name.to_string(), args.job_id.clone());
    Ok((provider, handle))
}

async fn status(args: JobArgs) -> u8 {
    let (provider, handle) = match job_of(&args) {
        Ok(found) => found,
        Err(e) => return fail(&e, args.json),
    };
    let job = match provider.poll(&handle).await {
        Ok(job) => job,
        Err(e) => return fail(&e, args.json),
    };
    let outputs: Vec<Value> = job
        .outputs
        .iter()
        .map(|o| json!({"filename": o.filename, "size": o.size, "url": o.url}))
        .collect();
    if args.json {
        println!(
            "{}",
            json!({
                "provider": job.handle.provider,
                "job_id": job.handle.id,
                "status": job.status.as_str(),
                "outputs": outputs,
                "messages": job.messages,
            })
        );
    } else {
        println!(
            "{} job {}: {}",
            job.handle.provider, job.handle.id, job.status
        );
        for o in &job.outputs {
            println!(
                "  {} ({} bytes)",
                o.filename.as_deref().unwrap_or("?"),
                o.size.unwrap_or(0)
            );
        }
        for m in &job.messages {
            println!(
                "  {:?} {}: {}",
                m.severity,
                m.code.as_deref().unwrap_or("-"),
                m.text
            );
        }
    }
    exit::OK
}

async fn delete(args: JobArgs) -> u8 {
    let (provider, handle) = match job_of(&args) {
        Ok(found) => found,
        Err(e) => return fail(&e, args.json),
    };
    if let Err(e) = provider.delete(&handle).await {
        return fail(&e, args.json);
    }
    if args.json {
        println!(
            "{}",
            json!({"provider": handle.provider, "job_id": handle.id, "deleted": true})
        );
    } else {
        println!("deleted {} job {}", handle.provider, handle.id);
    }
    exit::OK
}

async fn list_providers(args: ProvidersArgs) -> u8 {
    let office = providers::office();
    let office_note = match &office {
        Some(o) => format!(
            "{} at {}",
            o.version().await.unwrap_or_else(|| "LibreOffice".into()),
            o.soffice().display()
        ),
        None => multiconvert_office::INSTALL_HINT.to_owned(),
    };
    let entries = [
        (
            "local",
            true,
            "in-process raster images (png, jpg, gif, bmp, tiff, webp, ico)".to_owned(),
        ),
        ("office", office.is_some(), office_note),
        (
            "online-convert",
            providers::online_convert_configured(),
            "set API2CONVERT_API_KEY".to_owned(),
        ),
        (
            "convertapi",
            providers::convertapi_configured(),
            "set CONVERTAPI_SECRET".to_owned(),
        ),
        (
            "cloudconvert",
            providers::cloudconvert_configured(),
            "set CLOUDCONVERT_API_KEY".to_owned(),
        ),
    ];
    let described: Vec<Value> = entries
        .iter()
        .map(|(name, configured, hint)| {
            let capabilities = providers::capabilities(name);
            json!({"name": name, "configured": configured, "note": hint, "capabilities": capabilities})
        })
        .collect();
    if args.json {
        println!("{}", json!({ "providers": described }));
    } else {
        for (entry, (_, configured, hint)) in described.iter().zip(&entries) {
            let state = if *configured {
                "configured"
            } else {
                "not configured"
            };
            let abilities: Vec<&str> = entry["capabilities"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter(|(_, v)| v.as_bool() == Some(true))
                        .map(|(k, _)| k.as_str())
                        .collect()
                })
                .unwrap_or_default();
            println!(
                "{:<15} {state:<15} {hint}",
                entry["name"].as_str().unwrap_or_default()
            );
            println!("{:<15} {}", "", abilities.join(", "));
        }
    }
    exit::OK
}
