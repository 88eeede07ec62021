//! Progress bars on a terminal; nothing otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use multiconvert_core::upload::{Progress, ProgressEvent};

/// The bars of one command: hidden unless stdout is a terminal and JSON was not asked for.
#[derive(Clone, Debug)]
pub struct Bars {
    visible: bool,
}

impl Bars {
    /// Bars for this run.
    pub fn new(json: bool) -> Self {
        Bars {
            visible: !json && std::io::stdout().is_terminal(),
        }
    }

    fn bar(&self, length: Option<u64>, message: &str) -> ProgressBar {
        if !self.visible {
            return ProgressBar::hidden();
        }
        let bar = match length {
            Some(len) => ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
                .with_style(
                    ProgressStyle::with_template(
                        "{msg:10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                    )
                    .expect("a valid template")
                    .progress_chars("=> "),
                ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .expect("a valid template"),
            ),
        };
        bar.set_message(message.to_owned());
        if length.is_none() {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        bar
    }

    /// A byte bar for an upload of `len` bytes, and the observer that feeds it.
    pub fn upload(&self, len: u64) -> (ProgressBar, Progress) {
        let bar = self.bar(Some(len), "upload");
        let feed = bar.clone();
        let progress = Progress::new(move |event| match event {
            ProgressEvent::Restart => feed.set_position(0),
            ProgressEvent::Advance(n) => feed.inc(n),
            _ => {}
        });
        (bar, progress)
    }

    /// A spinner showing the vendor's status while waiting.
    pub fn waiting(&self) -> ProgressBar {
        self.bar(None, "waiting")
    }

    /// A byte bar for a download.
    pub fn download(&self, len: Option<u64>, name: &str) -> ProgressBar {
        let bar = self.bar(Some(len.unwrap_or(0)), name);
        if len.is_none() {
            bar.set_length(0);
        }
        bar
    }
}
