//! What the benchmark reports share: the machine they ran on, and their sections of
//! `docs/benchmarks.md`, which several harnesses write without erasing one another's.

use std::path::Path;
use std::process::Command;

/// The first line `cmd arg` prints, or `"<cmd>: not found"`.
pub fn version(cmd: &str, arg: &str) -> String {
    Command::new(cmd)
        .arg(arg)
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("{cmd}: not found"))
}

/// Cores, CPU model, memory, kernel and rustc: `2 cores (…), 24 GiB RAM; Linux …; rustc …`.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map_or("?".into(), |kib| {
            format!("{:.0} GiB", kib as f64 / 1048576.0)
        });
    format!(
        "{cores} cores ({cpu}), {mem} RAM; {}; {}",
        version("uname", "-sr"),
        version("rustc", "-V"),
    )
}

/// How a new `docs/benchmarks.md` starts.
pub const HEADER: &str = "# Benchmarks\n\nEach section below is written by the harness it names, from one run of it: run that \
     harness again rather than edit a figure by hand.\n";

fn markers(name: &str) -> (String, String) {
    (
        format!("<!-- section {name}: generated, do not edit by hand -->"),
        format!("<!-- end of section {name} -->"),
    )
}

/// Section `name` of `doc` (its markers included), if it has one.
pub fn section<'a>(doc: &'a str, name: &str) -> Option<&'a str> {
    let (begin, end) = markers(name);
    let start = doc.find(&begin)?;
    let stop = start + doc[start..].find(&end)? + end.len();
    Some(&doc[start..stop])
}

/// `doc` with section `name` holding `body`: replaced where it was, else appended.
pub fn splice(doc: &str, name: &str, body: &str) -> String {
    let (begin, end) = markers(name);
    let block = format!("{begin}\n{}\n{end}", body.trim_end());
    match section(doc, name) {
        Some(old) => doc.replacen(old, &block, 1),
        None if doc.trim().is_empty() => format!("{block}\n"),
        None => format!("{}\n\n{block}\n", doc.trim_end()),
    }
}

/// Writes `body` as section `name` of the file at `path`, keeping everything else in it.
pub fn write_section(path: &Path, name: &str, body: &str) -> std::io::Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(old) => old,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HEADER.to_owned(),
        Err(e) => return Err(e),
    };
    std::fs::write(path, splice(&old, name, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_appended_once_then_replaced_in_place() {
        let doc = "# Benchmarks\n\nby hand\n";
        let one = splice(doc, "office", "first");
        assert!(one.starts_with("# Benchmarks\n\nby hand\n\n<!-- section office"));
        let two = splice(&one, "office", "second\n");
        assert_eq!(two.matches("<!-- section office").count(), 1);
        assert!(two.contains("\nsecond\n<!-- end of section office -->"));
        assert!(!two.contains("first"));
        assert_eq!(section(&two, "sdk"), None);
        let three = splice(&two, "sdk", "other");
        assert!(section(&three, "office").unwrap().contains("second"));
        assert!(section(&three, "sdk").unwrap().contains("other"));
    }
}
