//! Real documents through real LibreOffice, checked by content: the PDF's pages and text.
//!
//! Without LibreOffice these tests say so and pass, so `cargo test` works on a fresh machine;
//! `.ci/run` installs it and sets `MULTICONVERT_REQUIRE_SOFFICE=1`, which makes a missing
//! LibreOffice a failure.

use std::path::PathBuf;
use std::time::Duration;

use multiconvert_core::{
    Conversion, ConversionProvider, Input, JobRequest, JobStatus, ProviderExt, SaveOptions,
};
use multiconvert_office::{Config, Office};

fn samples() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/samples/office"
    ))
}

/// The provider on the machine's LibreOffice, or `None` (with a message) where there is none.
fn office(root: &std::path::Path, workers: usize) -> Option<Office> {
    match Office::new(
        Config::from_env()
            .unwrap()
            .root(root)
            .concurrency(workers)
            .deadline(Duration::from_secs(120)),
    ) {
        Ok(office) => Some(office),
        Err(e) if std::env::var_os("MULTICONVERT_REQUIRE_SOFFICE").is_some() => {
            panic!("MULTICONVERT_REQUIRE_SOFFICE is set but: {e}")
        }
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

/// The text of every page of a PDF, and its page count.
fn pdf_text(bytes: &[u8]) -> (usize, String) {
    let doc = lopdf::Document::load_mem(bytes).expect("a readable PDF");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    let text = doc.extract_text(&pages).unwrap_or_default();
    (pages.len(), text)
}

async fn to_pdf(office: &Office, name: &str) -> Vec<u8> {
    let request = JobRequest::new(Input::path(samples().join(name)), Conversion::to("pdf"));
    let job = office
        .convert(&request, &office.info().poll_policy)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(job.status, JobStatus::Completed);
    let out = tempfile::tempdir().unwrap();
    let saved = office
        .save_all(&job, out.path(), &SaveOptions::default())
        .await
        .unwrap();
    assert_eq!(saved.len(), 1);
    std::fs::read(&saved[0].path).unwrap()
}

#[tokio::test]
async fn office_documents_become_pdfs_with_their_words() {
    let root = tempfile::tempdir().unwrap();
    let Some(office) = office(root.path(), 2) else {
        return;
    };
    let cases = [
        ("report.docx", "Quarterly report"),
        ("report.odt", "Revenue grew"),
        ("table.xlsx", "North"),
        ("slides.pptx", "Multiconvert slides"),
        ("page.html", "becomes a PDF"),
    ];
    for (name, words) in cases {
        let pdf = to_pdf(&office, name).await;
        let (pages, text) = pdf_text(&pdf);
        assert!(pages >= 1, "{name}: no pages");
        let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(words), "{name}: {words:?} not in {flat:?}");
    }
    assert!(office.version().await.unwrap().starts_with("LibreOffice"));
}

#[tokio::test]
async fn between_office_formats() {
    let root = tempfile::tempdir().unwrap();
    let Some(office) = office(root.path(), 2) else {
        return;
    };
    let request = JobRequest::new(
        Input::path(samples().join("report.docx")),
        Conversion::to("odt"),
    )
    .conversion(Conversion::to("txt"));
    let job = office
        .convert(&request, &office.info().poll_policy)
        .await
        .unwrap();
    let names: Vec<_> = job
        .outputs
        .iter()
        .map(|o| o.filename.clone().unwrap())
        .collect();
    assert_eq!(names, ["report.odt", "report.txt"]);
    let mut text = Vec::new();
    let stream = office.download(&job.outputs[1]).await.unwrap();
    use futures_util::TryStreamExt;
    let chunks: Vec<_> = stream.stream.try_collect().await.unwrap();
    for c in chunks {
        text.extend_from_slice(&c);
    }
    assert!(String::from_utf8_lossy(&text).contains("Quarterly report"));
}

/// Ten conversions at once on four workers: no profile-lock failure, every one completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_conversions_in_parallel_all_complete() {
    let root = tempfile::tempdir().unwrap();
    let Some(office) = office(root.path(), 4) else {
        return;
    };
    let office = std::sync::Arc::new(office);
    let names = [
        "report.docx",
        "table.xlsx",
        "slides.pptx",
        "page.html",
        "report.odt",
    ];
    let mut handles = Vec::new();
    for i in 0..10 {
        let request = JobRequest::new(
            Input::path(samples().join(names[i % names.len()])),
            Conversion::to("pdf"),
        );
        handles.push(office.submit(&request).await.unwrap());
    }
    let policy = office.info().poll_policy;
    for handle in &handles {
        let job = office.wait(handle, &policy).await.unwrap();
        assert_eq!(job.status, JobStatus::Completed, "{:?}", job.messages);
    }
}

#[tokio::test]
async fn a_document_that_needs_more_memory_than_the_bound_fails_its_job_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let probe_root = tempfile::tempdir().unwrap();
    let Some(office) = office(probe_root.path(), 1) else {
        return;
    };
    drop(office);
    // 64 MiB of address space: LibreOffice cannot even map its libraries, as a document that
    // needs more than the bound cannot get it.
    let office = Office::new(
        Config::from_env()
            .unwrap()
            .root(root.path())
            .concurrency(1)
            .max_memory(Some(64 << 20)),
    )
    .unwrap();
    let request = JobRequest::new(
        Input::path(samples().join("report.docx")),
        Conversion::to("pdf"),
    );
    let e = office
        .convert(&request, &office.info().poll_policy)
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        multiconvert_core::ErrorKind::ConversionFailed,
        "{e}"
    );
    assert!(e.message().contains("max_memory"), "{e}");
    assert!(
        e.message().contains("MULTICONVERT_OFFICE_MAX_MEMORY"),
        "{e}"
    );
}

/// This process's `VmHWM` (peak RSS) in KiB, after resetting it when `reset`.
fn peak_rss_kib(reset: bool) -> u64 {
    if reset {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    }
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Random bytes named `.docx`, the 300 MB zip bomb (`bomb.docx`, 0.9 MB on disk) and a
/// password-protected docx are refused at submit, before LibreOffice runs: before the check, the
/// first came back as a PDF of mojibake after 7 s and the bomb ran until the deadline killed it
/// (60 s and more). The refusal's time and peak RSS are printed (`--nocapture`).
#[tokio::test]
async fn hostile_documents_are_refused_before_libreoffice_runs() {
    let root = tempfile::tempdir().unwrap();
    let Some(office) = office(root.path(), 1) else {
        return;
    };
    let random = multiconvert_conformance::template::noise(0x2545_F491_4F6C_DD1D, 50_000);
    let cases = [
        (Input::bytes(random, "random.docx"), "format_mismatch"),
        (Input::path(samples().join("bomb.docx")), "archive_limit"),
        (
            Input::path(samples().join("locked.docx")),
            "password_protected",
        ),
    ];
    for (input, code) in cases {
        let name = input.effective_filename().unwrap_or_default();
        let request = JobRequest::new(input, Conversion::to("pdf"));
        let before = peak_rss_kib(true);
        let started = std::time::Instant::now();
        let e = office.submit(&request).await.unwrap_err();
        let elapsed = started.elapsed();
        let growth = peak_rss_kib(false).saturating_sub(before);
        println!("{name}: refused in {elapsed:?}, peak RSS +{growth} KiB: {e}");
        assert_eq!(
            e.kind(),
            multiconvert_core::ErrorKind::InvalidInput,
            "{name}: {e}"
        );
        assert_eq!(e.provider_code(), Some(code), "{name}: {e}");
    }
    // The real documents beside them still pass the same check.
    let pdf = to_pdf(&office, "report.docx").await;
    assert!(pdf.starts_with(b"%PDF-"));
}

/// Whether the warm engine runs here (Debian's python3 imports uno); CI installs python3-uno
/// and requires it.
async fn warm_engine_runs() -> bool {
    let runs =
        multiconvert_office::warm::python_has_uno(std::path::Path::new("/usr/bin/python3")).await;
    assert!(
        runs || std::env::var_os("MULTICONVERT_REQUIRE_SOFFICE").is_none(),
        "MULTICONVERT_REQUIRE_SOFFICE is set but python3-uno is missing"
    );
    runs
}

/// The pids of the soffice.bin processes whose command line names `marker`.
fn soffice_pids(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let entry = e.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd);
            (cmd.contains("soffice.bin") && cmd.contains(marker)).then_some(pid)
        })
        .collect()
}

/// The warm engine (the default where python3-uno is installed, as in CI) keeps one LibreOffice
/// per worker across conversions, and dropping the provider ends it.
#[tokio::test]
async fn the_warm_engine_keeps_one_libreoffice_per_worker() {
    let root = tempfile::tempdir().unwrap();
    let Some(office) = office(root.path(), 1) else {
        return;
    };
    let marker = root.path().join("profiles").display().to_string();
    let mut seen = Vec::new();
    for name in ["report.docx", "table.xlsx", "slides.pptx", "report.docx"] {
        let pdf = to_pdf(&office, name).await;
        assert!(pdf.starts_with(b"%PDF-"), "{name}");
        seen.push(soffice_pids(&marker));
    }
    if warm_engine_runs().await {
        assert_eq!(seen[0].len(), 1, "{seen:?}");
        assert!(
            seen.iter().all(|pids| pids == &seen[0]),
            "a new LibreOffice per job: {seen:?}"
        );
    }
    drop(office);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !soffice_pids(&marker).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker outlived its provider"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fifty conversions in a row on one worker recycled every twenty: the worker's LibreOffice is
/// replaced in the background, and every job succeeds, the ones right after a recycle included.
/// The workers start with the provider, before the first job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_recycled_mid_run_fails_no_job() {
    let root = tempfile::tempdir().unwrap();
    // Probed on a root of its own: two providers must never share one (their workers would
    // start two LibreOffices on one profile).
    let probe_root = tempfile::tempdir().unwrap();
    let Some(probe) = office(probe_root.path(), 1) else {
        return;
    };
    drop(probe);
    let office = Office::new(
        Config::from_env()
            .unwrap()
            .root(root.path())
            .concurrency(1)
            .recycling(multiconvert_office::Recycling::default().with_max_jobs(20)),
    )
    .unwrap();
    let marker = root.path().join("profiles").display().to_string();
    let warm = warm_engine_runs().await;
    if warm {
        // Started by Office::new, before any job.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while soffice_pids(&marker).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "no LibreOffice started ahead of the first job"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut generations = Vec::new();
    for i in 0..50 {
        let pdf = to_pdf(&office, "report.docx").await;
        assert!(pdf.starts_with(b"%PDF-"), "job {i}");
        let pids = soffice_pids(&marker);
        if generations.last() != Some(&pids) && !pids.is_empty() {
            generations.push(pids);
        }
    }
    if warm {
        assert!(generations.len() >= 2, "never recycled: {generations:?}");
    }
}

/// A worker's LibreOffice killed while idle (a crash between jobs): the next job never reached
/// it, is sent to a fresh LibreOffice and succeeds.
#[tokio::test]
async fn a_libreoffice_that_died_between_jobs_costs_no_job() {
    let root = tempfile::tempdir().unwrap();
    let Some(office) = office(root.path(), 1) else {
        return;
    };
    let marker = root.path().join("profiles").display().to_string();
    assert!(to_pdf(&office, "report.docx").await.starts_with(b"%PDF-"));
    if !warm_engine_runs().await {
        return; // per call: nothing stays running to kill
    }
    let before = soffice_pids(&marker);
    assert_eq!(before.len(), 1, "{before:?}");
    for pid in &before {
        // SIGKILL, as a crash would end it.
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(to_pdf(&office, "table.xlsx").await.starts_with(b"%PDF-"));
    let after = soffice_pids(&marker);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, before);
}

/// A job this process runs is seen the moment it ends, not at the next poll: with a minute
/// between polls, the wait still returns with the first document.
#[tokio::test]
async fn a_wait_returns_when_the_job_ends_not_at_the_next_poll() {
    let root = tempfile::tempdir().unwrap();
    let Some(office) = office(root.path(), 1) else {
        return;
    };
    let slow = multiconvert_core::PollPolicy::default()
        .with_initial_interval(Duration::from_secs(60))
        .with_min_interval(Duration::from_secs(60))
        .with_max_interval(Duration::from_secs(60))
        .with_deadline(Duration::from_secs(600));
    let request = JobRequest::new(
        Input::path(samples().join("report.docx")),
        Conversion::to("pdf"),
    );
    let handle = office.submit(&request).await.unwrap();
    let job = tokio::time::timeout(Duration::from_secs(45), office.wait(&handle, &slow))
        .await
        .expect("the wait sat out a poll interval after the job ended")
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.messages);
    // A job this process is not running (here: one already ended) is answered by a poll.
    let again = tokio::time::timeout(Duration::from_secs(5), office.wait(&handle, &slow))
        .await
        .expect("an ended job waited a poll interval")
        .unwrap();
    assert_eq!(again.status, JobStatus::Completed);
}

/// A spreadsheet of `rows` × 50 identical cells in a few hundred bytes: loading and laying it out
/// keeps LibreOffice busy for minutes, as the documents users report spinning at 100 % do.
fn endless_sheet(rows: usize) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.spreadsheet">
<office:body><office:spreadsheet><table:table table:name="Slow">
<table:table-column table:number-columns-repeated="50"/>
<table:table-row table:number-rows-repeated="{rows}"><table:table-cell table:number-columns-repeated="50" office:value-type="string"><text:p>slow</text:p></table:table-cell></table:table-row>
</table:table></office:spreadsheet></office:body></office:document>
"#
    )
    .into_bytes()
}

/// A text document whose Basic macro, bound to its load event, writes `marker`.
fn macro_document(marker: &std::path::Path) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:script="urn:oasis:names:tc:opendocument:xmlns:script:1.0" xmlns:ooo="http://openoffice.org/2004/office" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:dom="http://www.w3.org/2001/xml-events" office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.text">
<office:scripts>
<office:script script:language="ooo:Basic">
<ooo:libraries>
<ooo:library-embedded ooo:name="Standard">
<ooo:module ooo:name="Opened">
<ooo:source-code>Sub Main
  Dim n As Integer
  n = FreeFile()
  Open "{}" For Output As #n
  Print #n, "the macro ran"
  Close #n
End Sub
</ooo:source-code>
</ooo:module>
</ooo:library-embedded>
</ooo:libraries>
</office:script>
<office:event-listeners>
<script:event-listener script:language="ooo:script" script:event-name="dom:load" xlink:href="vnd.sun.star.script:Standard.Opened.Main?language=Basic&amp;location=document" xlink:type="simple"/>
</office:event-listeners>
</office:scripts>
<office:body><office:text><text:p>A document with a macro on open.</text:p></office:text></office:body>
</office:document>
"#,
        marker.display()
    )
    .into_bytes()
}

/// The code a failed conversion reports.
async fn failed_with(office: &Office, request: &JobRequest) -> String {
    office
        .convert(request, &office.info().poll_policy)
        .await
        .map(|job| format!("completed: {:?}", job.status))
        .unwrap_or_else(|e| e.provider_code().unwrap_or("none").to_owned())
}

/// Every way a document can go wrong, one after another on one warm worker, and after each the
/// next job succeeds: a document that keeps LibreOffice busy past the deadline (killed, the worker
/// comes back), a LibreOffice that crashes mid-conversion, a zip bomb and a password-protected
/// docx (refused before the engine), and a document whose macro would write a file (it does not:
/// the macro is proved to run in a LibreOffice that allows macros).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_warm_path_survives_each_hostile_document_and_takes_the_next_job() {
    let root = tempfile::tempdir().unwrap();
    let Some(probe) = office(&root.path().join("probe"), 1) else {
        return;
    };
    drop(probe);
    if !warm_engine_runs().await {
        return;
    }
    let office = Office::new(
        Config::from_env()
            .unwrap()
            .root(root.path().join("office"))
            .concurrency(1)
            .deadline(Duration::from_secs(8)),
    )
    .unwrap();
    let marker = root.path().join("office/profiles").display().to_string();
    let next_job_succeeds = |after: &'static str| {
        let office = &office;
        async move {
            let pdf = to_pdf(office, "report.docx").await;
            assert!(pdf.starts_with(b"%PDF-"), "the job after {after}");
        }
    };
    next_job_succeeds("nothing").await;

    // Busy past the deadline: the job fails as such, its LibreOffice is gone, the worker returns.
    let slow = JobRequest::new(
        Input::bytes(endless_sheet(400_000), "slow.fods"),
        Conversion::to("pdf"),
    );
    let first = soffice_pids(&marker);
    assert_eq!(failed_with(&office, &slow).await, "deadline");
    assert!(
        first.iter().all(|pid| !soffice_pids(&marker).contains(pid)),
        "the LibreOffice past its deadline still runs"
    );
    next_job_succeeds("a deadline").await;

    // A crash mid-conversion (SIGSEGV, as a faulting LibreOffice gets): that job alone fails.
    let handle = office.submit(&slow).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let busy = soffice_pids(&marker);
    assert_eq!(busy.len(), 1, "{busy:?}");
    let _ = std::process::Command::new("kill")
        .args(["-SEGV", &busy[0].to_string()])
        .status();
    let job = office
        .wait(&handle, &office.info().poll_policy)
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(
        job.messages.first().and_then(|m| m.code.as_deref()),
        Some("crashed"),
        "{:?}",
        job.messages
    );
    next_job_succeeds("a crash").await;

    // Refused before LibreOffice sees them.
    for (name, code) in [
        ("bomb.docx", "archive_limit"),
        ("locked.docx", "password_protected"),
    ] {
        let request = JobRequest::new(Input::path(samples().join(name)), Conversion::to("pdf"));
        let e = office.submit(&request).await.unwrap_err();
        assert_eq!(e.provider_code(), Some(code), "{name}: {e}");
        next_job_succeeds(name).await;
    }

    // A macro on open: never run here, so its file never appears.
    let written = root.path().join("the-macro-ran.txt");
    let document = macro_document(&written);
    let request = JobRequest::new(
        Input::bytes(document.clone(), "opened.fodt"),
        Conversion::to("pdf"),
    );
    let job = office
        .convert(&request, &office.info().poll_policy)
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.messages);
    assert!(
        !written.exists(),
        "the document's macro ran in the warm worker"
    );
    next_job_succeeds("a macro document").await;

    // The same document loaded by a LibreOffice told to run macros (MacroExecutionMode 4,
    // ALWAYS_EXECUTE_NO_WARN, in a visible frame) does write the file: the fixture's macro is
    // real, and the warm worker is what kept it from running.
    let allowed = root.path().join("allowed");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::write(allowed.join("opened.fodt"), &document).unwrap();
    let mut python = tokio::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(RUN_MACROS)
        .arg(office.soffice())
        .arg(allowed.join("profile"))
        .arg(format!("multiconvert-allowed-{}", std::process::id()))
        .arg(allowed.join("opened.fodt"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The group outlives the script (its LibreOffice stays in it): kill it by the id it had.
    let group = python.id().expect("just spawned");
    let ended = tokio::time::timeout(Duration::from_secs(90), python.wait()).await;
    // The load event's macro may run just after the load returns (seen on a loaded machine):
    // give it time before its LibreOffice goes.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !written.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::process::Command::new("kill")
        .args(["-9", "--", &format!("-{group}")])
        .status();
    let _ = python.wait().await;
    assert!(
        matches!(ended, Ok(Ok(status)) if status.success()),
        "the macro-running LibreOffice did not load the document: {ended:?}"
    );
    assert!(
        written.exists(),
        "the fixture's macro did not run even where macros are allowed: it proves nothing"
    );
}

/// Loads a document with macros allowed: `python3 -c RUN_MACROS SOFFICE PROFILE PIPE DOCUMENT`.
const RUN_MACROS: &str = r#"
import subprocess, sys, time, uno
from com.sun.star.beans import PropertyValue
soffice, profile, pipe, document = sys.argv[1:5]
def start():
    return subprocess.Popen([soffice, "--headless", "--norestore", "--nologo", "--nodefault",
        "--nolockcheck", "-env:UserInstallation=" + uno.systemPathToFileUrl(profile),
        "--accept=pipe,name=%s;urp;" % pipe], stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
office = start()
local = uno.getComponentContext()
resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
for _ in range(600):
    if office.poll() is not None:
        office = start()  # a fresh profile makes the first start exit 81
    try:
        ctx = resolver.resolve("uno:pipe,name=%s;urp;StarOffice.ComponentContext" % pipe)
        break
    except Exception:
        time.sleep(0.1)
desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
mode = PropertyValue()
mode.Name, mode.Value = "MacroExecutionMode", 4
desktop.loadComponentFromURL(uno.systemPathToFileUrl(document), "_blank", 0, (mode,))
"#;
