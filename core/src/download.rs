//! Writing an output to disk: streamed, verified, atomic, contained.

use futures_util::StreamExt;
use md5::{Digest, Md5};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::error::{Error, ErrorKind, Operation, Result};
use crate::model::{Checksum, Output};
use crate::stream::ByteStream;

/// What to do when the destination file already exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overwrite {
    /// Fail with an [`Io`](ErrorKind::Io) error and leave the file alone (the default).
    #[default]
    Never,
    /// Replace it atomically.
    Replace,
    /// Keep it and write `name (1).ext`, `name (2).ext`, … instead.
    Rename,
}

/// How [`save_stream`] writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SaveOptions {
    /// What to do with an existing file.
    pub overwrite: Overwrite,
    /// The file name to use in a directory destination, instead of the vendor's (still reduced
    /// to a safe basename).
    pub filename: Option<String>,
    /// Refuse outputs larger than this many bytes.
    pub max_bytes: Option<u64>,
}

impl SaveOptions {
    /// Sets the overwrite policy.
    pub fn overwrite(mut self, overwrite: Overwrite) -> Self {
        self.overwrite = overwrite;
        self
    }
    /// Sets the file name.
    pub fn filename(mut self, name: impl Into<String>) -> Self {
        self.filename = Some(name.into());
        self
    }
    /// Sets the size cap.
    pub fn max_bytes(mut self, max: u64) -> Self {
        self.max_bytes = Some(max);
        self
    }
}

/// A file written by [`save_stream`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Saved {
    /// Where it was written.
    pub path: PathBuf,
    /// How many bytes.
    pub size: u64,
}

/// Reduces an untrusted file name to a basename that cannot leave the directory it is joined to:
/// `\` counts as a separator, only the last component is kept, control characters and characters
/// Windows refuses are replaced, trailing dots and spaces dropped, the length capped at 200 bytes;
/// what remains empty, `.` or `..` becomes `download`.
///
/// ```
/// use multiconvert_core::download::safe_filename;
/// assert_eq!(safe_filename("../../etc/passwd"), "passwd");
/// assert_eq!(safe_filename("C:\\temp\\..\\report.pdf"), "report.pdf");
/// assert_eq!(safe_filename(".."), "download");
/// assert_eq!(safe_filename("a\u{0}b\r\n.png"), "a_b__.png");
/// ```
pub fn safe_filename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut cleaned: String = last
        .chars()
        .map(|c| match c {
            c if c.is_control() => '_',
            ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c => c,
        })
        .collect();
    while cleaned.ends_with(['.', ' ']) {
        cleaned.pop();
    }
    let cleaned = cleaned.trim_start().to_owned();
    let mut cleaned = if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        "download".to_owned()
    } else {
        cleaned
    };
    if cleaned.len() > 200 {
        // Keep the extension: it tells the user what the file is.
        let ext = cleaned
            .rsplit_once('.')
            .map(|(_, e)| e)
            .filter(|e| e.len() <= 16 && !e.is_empty())
            .map(|e| format!(".{e}"))
            .unwrap_or_default();
        let mut cut = 200 - ext.len();
        while !cleaned.is_char_boundary(cut) {
            cut -= 1;
        }
        cleaned = format!("{}{}", &cleaned[..cut], ext);
    }
    cleaned
}

/// The file names a job's outputs are saved under, in order: each output's name reduced by
/// [`safe_filename`] (its id, else `download`, when it has none), and a name already taken by an
/// earlier output of the job (compared without case, as on case-insensitive file systems) gets
/// `-2`, `-3`, … before its extension. The same outputs always get the same names.
///
/// ```
/// use multiconvert_core::{download::distinct_filenames, Output};
/// let outputs = [
///     Output::new("https://a/1").with_filename("photo.jpg"),
///     Output::new("https://a/2").with_filename("../photo.jpg"),
///     Output::new("https://a/3").with_filename("PHOTO.jpg"),
///     Output::new("https://a/4").with_filename("photo-2.jpg"),
/// ];
/// assert_eq!(distinct_filenames(&outputs), ["photo.jpg", "photo-2.jpg", "PHOTO-3.jpg", "photo-2-2.jpg"]);
/// ```
pub fn distinct_filenames(outputs: &[Output]) -> Vec<String> {
    let mut taken = std::collections::HashSet::new();
    outputs
        .iter()
        .map(|output| {
            let name = safe_filename(
                output
                    .filename
                    .as_deref()
                    .or(output.id.as_deref())
                    .unwrap_or("download"),
            );
            let (stem, ext) = match name.rsplit_once('.') {
                Some((stem, ext)) if !stem.is_empty() => (stem.to_owned(), format!(".{ext}")),
                _ => (name.clone(), String::new()),
            };
            let mut candidate = name;
            let mut n = 2;
            while !taken.insert(candidate.to_lowercase()) {
                candidate = format!("{stem}-{n}{ext}");
                n += 1;
            }
            candidate
        })
        .collect()
}

fn io_error(provider: &str, message: String, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, provider.to_owned(), Operation::Save, message).with_source(e)
}

const PARTIAL_SUFFIX: &str = ".part";
const PARTIAL_RANDOM: usize = 6;

fn partial_prefix(target: &Path) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.")
}

/// Removes the temporary files that saves of `target` killed midway (a crash, `SIGKILL`) left
/// beside it, and returns how many it removed. A save that fails in-process cleans up after
/// itself; only a process that died leaves one.
///
/// Call it only while no other save to `target` is running (e.g. while holding a claim on the
/// job that owns it): a live save's temporary file looks the same.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let target = dir.path().join("report.pdf");
/// std::fs::write(dir.path().join(".report.pdf.a1B2c3.part"), b"half").unwrap();
/// std::fs::write(dir.path().join("report.pdf.part"), b"not ours").unwrap();
/// assert_eq!(multiconvert_core::remove_partial_saves(&target).unwrap(), 1);
/// assert!(dir.path().join("report.pdf.part").exists());
/// ```
pub fn remove_partial_saves(target: &Path) -> std::io::Result<usize> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let prefix = partial_prefix(target);
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(PARTIAL_SUFFIX))
            .is_some_and(|random| {
                random.len() == PARTIAL_RANDOM && random.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        if ours && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Writes `stream` to `dest`.
///
/// `dest` is a directory (existing, or ending in a separator: the file is named after
/// `options.filename`, else the output's filename, reduced by [`safe_filename`]) or a file path.
/// Bytes go to a temporary file beside the destination, which is renamed into place only once
/// the length matches `Content-Length` and the output's `size`, and the checksum matches when the
/// vendor gave one; on any error the temporary file is removed and nothing is left behind.
pub async fn save_stream(
    provider: &str,
    output: &Output,
    mut stream: ByteStream,
    dest: &Path,
    options: &SaveOptions,
) -> Result<Saved> {
    let is_dir = dest.is_dir() || dest.as_os_str().to_string_lossy().ends_with(['/', '\\']);
    let target = if is_dir {
        let name = options
            .filename
            .as_deref()
            .or(output.filename.as_deref())
            .or(output.id.as_deref())
            .unwrap_or("download");
        tokio::fs::create_dir_all(dest).await.map_err(|e| {
            io_error(
                provider,
                "could not create the destination directory".into(),
                e,
            )
        })?;
        dest.join(safe_filename(name))
    } else {
        dest.to_path_buf()
    };
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let Some(max) = options.max_bytes {
        if let Some(len) = stream.content_length.or(output.size).filter(|&n| n > max) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                provider.to_owned(),
                Operation::Save,
                format!("the output is {len} bytes, more than the {max} allowed"),
            ));
        }
    }

    let mut builder = tempfile::Builder::new();
    // Named after its destination, so a save killed midway can be found and swept by whoever
    // next saves the same file (see `remove_partial_saves`).
    let prefix = partial_prefix(&target);
    builder
        .prefix(&prefix)
        .rand_bytes(PARTIAL_RANDOM)
        .suffix(PARTIAL_SUFFIX);
    // A temporary file is private (0600); the saved output should be an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let temp = builder.tempfile_in(&dir).map_err(|e| {
        io_error(
            provider,
            format!("could not create a temporary file in {}", dir.display()),
            e,
        )
    })?;
    let mut writer = DiskWriter::new(
        temp,
        output.checksum.as_ref().map(|Checksum::Md5(_)| Md5::new()),
        stream.content_length.or(output.size),
    );
    let announced = [stream.content_length, output.size]
        .into_iter()
        .flatten()
        .min();
    let streamed = async {
        let mut written: u64 = 0;
        while let Some(chunk) = stream.stream.next().await {
            let chunk = chunk.map_err(|e| e.with_operation(Operation::Download))?;
            written += chunk.len() as u64;
            // A body that outgrows what was announced is stopped at once, not read to its end.
            if let Some(announced) = announced.filter(|&n| written > n) {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    provider.to_owned(),
                    Operation::Download,
                    format!(
                        "the download is larger than announced: over {written} bytes of {announced}"
                    ),
                ));
            }
            if options.max_bytes.is_some_and(|max| written > max) {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    provider.to_owned(),
                    Operation::Save,
                    "the output is larger than allowed",
                ));
            }
            writer
                .push(&chunk)
                .await
                .map_err(|e| io_error(provider, "could not write the output".into(), e))?;
        }
        Ok(written)
    }
    .await;
    let written = match streamed {
        Ok(written) => written,
        Err(e) => {
            // The partial file is gone before the error returns, not whenever a write in
            // flight lets go of it.
            writer.abort().await;
            return Err(e);
        }
    };
    let (temp, md5) = writer
        .finish()
        .await
        .map_err(|e| io_error(provider, "could not write the output".into(), e))?;

    for (what, expected) in [
        ("Content-Length", stream.content_length),
        ("announced size", output.size),
    ] {
        if let Some(expected) = expected.filter(|&n| n != written) {
            return Err(Error::new(
                ErrorKind::Transport,
                provider.to_owned(),
                Operation::Download,
                format!("truncated download: got {written} bytes, the {what} is {expected}"),
            ));
        }
    }
    if let (Some(h), Some(Checksum::Md5(expected))) = (md5, &output.checksum) {
        let actual = hex::encode(h.finalize());
        if !actual.eq_ignore_ascii_case(expected.trim()) {
            return Err(Error::new(
                ErrorKind::Transport,
                provider.to_owned(),
                Operation::Download,
                format!("checksum mismatch: the MD5 is {actual}, the vendor announced {expected}"),
            ));
        }
    }

    let path = persist(provider, temp, target, options.overwrite)?;
    Ok(Saved {
        path,
        size: written,
    })
}

/// Bytes per write but the last. The network hands over chunks of up to ~400 KiB; they are
/// copied into one of two reused buffers and dropped at once, so the HTTP stack recycles its read
/// buffer instead of allocating (and faulting in) a fresh one per chunk, which costs more than the
/// copy. While one buffer is on its way to disk, the other fills: two buffers bound a save's
/// memory whatever the file's size.
const WRITE_BATCH: usize = 1 << 20;

/// The file, the running checksum and an emptied buffer, owned by whichever side holds them: the
/// async side between writes, blocking-pool threads during one.
type WriterState = (tempfile::NamedTempFile, Option<Md5>, Vec<u8>);

/// A batch on its way: the write and, beside it on another thread, the checksum (MD5 runs at
/// about the disk's speed, so in series the two would halve the throughput).
struct Running {
    write: JoinHandle<std::io::Result<(tempfile::NamedTempFile, Arc<Vec<u8>>)>>,
    hash: Option<JoinHandle<Md5>>,
}

/// Writes a download to its temporary file on the blocking pool, a batch at a time, while the next
/// batch arrives from the network: network, checksum and disk work side by side, and no thread is
/// held while the network is idle.
struct DiskWriter {
    /// The file, between writes.
    idle: Option<WriterState>,
    /// The write in progress.
    running: Option<Running>,
    /// The batch filling.
    filling: Vec<u8>,
    /// What a batch buffer holds: a batch, or the whole body when it is announced smaller, so a
    /// small download never holds a megabyte.
    capacity: usize,
}

impl DiskWriter {
    fn new(temp: tempfile::NamedTempFile, md5: Option<Md5>, expected: Option<u64>) -> Self {
        let capacity = expected.map_or(WRITE_BATCH, |n| (n as usize).min(WRITE_BATCH));
        DiskWriter {
            idle: Some((temp, md5, Vec::new())),
            running: None,
            filling: Vec::with_capacity(capacity),
            capacity,
        }
    }

    /// Queues `chunk`; with a batch full, waits for the disk (the previous write) and starts the
    /// next write.
    async fn push(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.filling.extend_from_slice(chunk);
        if self.filling.len() >= WRITE_BATCH {
            let state = self.take_file().await?;
            self.start(state, false);
        }
        Ok(())
    }

    /// The file, once the running write (if any) is done.
    async fn take_file(&mut self) -> std::io::Result<WriterState> {
        match (self.running.take(), self.idle.take()) {
            (Some(Running { write, hash }), _) => {
                let joined = |e: tokio::task::JoinError| std::io::Error::other(e);
                // Both are awaited before any error returns, so no thread outlives the save.
                let md5 = match hash {
                    Some(hash) => Some(hash.await.map_err(joined)?),
                    None => None,
                };
                let (temp, batch) = write.await.map_err(joined)??;
                // The hasher has let go of its reference: the buffer comes back for reuse.
                let spare = Arc::try_unwrap(batch).unwrap_or_default();
                Ok((temp, md5, spare))
            }
            (None, Some(state)) => Ok(state),
            // Unreachable: every write started hands the file back through `running`.
            (None, None) => Err(std::io::Error::other("the download's file was lost")),
        }
    }

    fn start(&mut self, (mut temp, md5, mut spare): WriterState, sync: bool) {
        spare.clear();
        if !sync {
            // The last write needs no buffer behind it.
            spare.reserve(self.capacity);
        }
        let batch = Arc::new(std::mem::replace(&mut self.filling, spare));
        let hash = md5.map(|mut h| {
            let batch = Arc::clone(&batch);
            tokio::task::spawn_blocking(move || {
                h.update(&batch[..]);
                h
            })
        });
        let write = tokio::task::spawn_blocking(move || {
            temp.as_file_mut().write_all(&batch)?;
            start_writeback(temp.as_file(), batch.len());
            if sync {
                temp.as_file().sync_all()?;
            }
            Ok((temp, batch))
        });
        self.running = Some(Running { write, hash });
    }

    /// Waits for the write in flight and deletes the file.
    async fn abort(mut self) {
        drop(self.take_file().await);
    }

    /// Writes what is queued and syncs the file to disk; returns it with the checksum.
    async fn finish(mut self) -> std::io::Result<(tempfile::NamedTempFile, Option<Md5>)> {
        let state = self.take_file().await?;
        self.start(state, true);
        let (temp, md5, _) = self.take_file().await?;
        Ok((temp, md5))
    }
}

/// Asks the kernel to start writing the batch just written (the last `len` bytes) to disk now, not
/// at the final `fsync`: the disk works while the network does, so the fsync that makes the save
/// durable finds little left to do. Only a hint: durability still comes from that fsync.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File, len: usize) {
    use std::io::Seek;
    use std::os::fd::AsRawFd;
    let Ok(end) = (&*file).stream_position() else {
        return;
    };
    let offset = end.saturating_sub(len as u64);
    // SAFETY: a plain syscall on an open descriptor we own; it reads no memory of ours.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_: &std::fs::File, _: usize) {}

fn persist(
    provider: &str,
    temp: tempfile::NamedTempFile,
    target: PathBuf,
    overwrite: Overwrite,
) -> Result<PathBuf> {
    let exists_error = |path: &Path| {
        Error::new(
            ErrorKind::Io,
            provider.to_owned(),
            Operation::Save,
            format!("{} already exists", path.display()),
        )
    };
    match overwrite {
        Overwrite::Replace => temp.persist(&target).map(|_| target).map_err(|e| {
            io_error(
                provider,
                "could not move the output into place".into(),
                e.error,
            )
        }),
        Overwrite::Never => match temp.persist_noclobber(&target) {
            Ok(_) => Ok(target),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(exists_error(&target))
            }
            Err(e) => Err(io_error(
                provider,
                "could not move the output into place".into(),
                e.error,
            )),
        },
        Overwrite::Rename => {
            let mut temp = temp;
            let stem = target
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let ext = target
                .extension()
                .map(|e| format!(".{}", e.to_string_lossy()))
                .unwrap_or_default();
            for n in 0..10_000u32 {
                let candidate = if n == 0 {
                    target.clone()
                } else {
                    target.with_file_name(format!("{stem} ({n}){ext}"))
                };
                match temp.persist_noclobber(&candidate) {
                    Ok(_) => return Ok(candidate),
                    Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => temp = e.file,
                    Err(e) => {
                        return Err(io_error(
                            provider,
                            "could not move the output into place".into(),
                            e.error,
                        ))
                    }
                }
            }
            Err(exists_error(&target))
        }
    }
}
