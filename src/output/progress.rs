//! A progress bar on stderr for runs that take more than a moment (many nodes, RSA batches):
//! only when stderr is a terminal and the output is text, never in JSON or YAML runs.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::OutputFormat;
use crate::pki::progress::Progress;

/// Runs with fewer steps than this finish before a bar would be worth drawing.
const MIN_STEPS: u64 = 64;

/// A bar drawn with indicatif, or nothing.
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    /// A bar when it makes sense for `format` and stderr, else a silent one.
    pub fn for_run(format: OutputFormat) -> Bar {
        let on = format == OutputFormat::Text && std::io::stderr().is_terminal();
        Bar {
            bar: on.then(|| ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())),
        }
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        let Some(bar) = &self.bar else { return };
        if total < MIN_STEPS {
            bar.set_draw_target(ProgressDrawTarget::hidden());
            return;
        }
        bar.set_length(total);
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} keys and files")
        {
            bar.set_style(style.progress_chars("=> "));
        }
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
