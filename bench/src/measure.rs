//! Running a contender as a child process and measuring what it cost: wall time, CPU seconds
//! (user + system, its waited-for descendants included, as `wait4` reports them) and peak RSS.
//! Each contender runs in its own process so that nothing else (the emulator, the harness)
//! is counted against it.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one child run cost, and the JSON it printed last.
#[derive(Clone, Debug)]
pub struct Measured {
    /// Wall time from spawn to exit.
    pub wall: Duration,
    /// User + system CPU time of the child and its waited-for descendants.
    pub cpu: Duration,
    /// The largest peak RSS of the child or any descendant, KiB.
    pub peak_kib: u64,
    /// The last line of its standard output, parsed as JSON (`Null` when it is not JSON).
    pub report: serde_json::Value,
    /// Whether it exited 0.
    pub success: bool,
    /// The end of its standard error, for a failure's message.
    pub stderr_tail: String,
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
}

/// The argument that makes the harness's binary a [`trampoline`].
pub const TRAMPOLINE: &str = "--measure";
const RUSAGE_LINE: &str = "MC_RUSAGE ";

/// Runs `cmd` to its end and measures it.
///
/// Through a [`trampoline`]: Linux carries a process's peak RSS across `exec`, so a
/// child spawned by this (large) process would report this process's peak as its own. The
/// trampoline is a fresh, small copy of the harness binary, whose few MiB are the floor.
pub fn run(cmd: Command) -> std::io::Result<Measured> {
    let mut outer = Command::new(std::env::current_exe()?);
    outer
        .arg(TRAMPOLINE)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => outer.env(k, v),
            None => outer.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        outer.current_dir(dir);
    }
    outer
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = outer.spawn()?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    child.wait()?;
    let wall = started.elapsed();
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let usage: serde_json::Value = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(RUSAGE_LINE))
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_default();
    let report = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(serde_json::Value::Null);
    let tail: String = {
        let chars: Vec<char> = stderr.chars().collect();
        chars[chars.len().saturating_sub(2000)..].iter().collect()
    };
    Ok(Measured {
        wall,
        cpu: Duration::from_micros(usage["cpu_us"].as_u64().unwrap_or(0)),
        peak_kib: usage["maxrss_kib"].as_u64().unwrap_or(0),
        report,
        success: usage["success"].as_bool().unwrap_or(false),
        stderr_tail: tail,
    })
}

/// The trampoline's body (`args`: the program and its arguments): runs it with this process's
/// standard streams, then prints its `wait4` resource usage as the last line of standard error.
pub fn trampoline(args: &[String]) -> ! {
    let Some((program, rest)) = args.split_first() else {
        std::process::exit(2)
    };
    let child = match Command::new(program).args(rest).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot run {program}: {e}");
            std::process::exit(127)
        }
    };
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // wait4, not Child::wait: only it reports the child's resource usage (its waited-for
    // descendants included). The child is reaped here and never waited on again.
    // SAFETY: `pid` is our own child; `status` and `usage` are valid for writes.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    drop(child);
    let success = reaped == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let cpu = timeval(usage.ru_utime) + timeval(usage.ru_stime);
    eprintln!(
        "{RUSAGE_LINE}{}",
        serde_json::json!({"cpu_us": cpu.as_micros() as u64, "maxrss_kib": usage.ru_maxrss, "success": success})
    );
    std::process::exit(if success { 0 } else { 1 })
}

/// This process's resident set now (VmRSS), KiB.
pub fn rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Milliseconds since the Unix epoch (the clock the emulator stamps job ends with).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
