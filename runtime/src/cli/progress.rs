//! Progress bars on stderr for the slow parts of a command: filling large maps, timing
//! engines. Drawn only when stderr is a terminal; otherwise nothing is printed.

use indicatif::{ProgressBar, ProgressStyle};

/// Map fills at least this large show their progress.
pub(crate) const LARGE_FILL: usize = 100_000;

/// A bar of `len` steps counted in `unit`, with a message after it.
pub(crate) fn bar(len: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{bar:30}} {{pos}}/{{len}} {unit}, {{msg}} ({{elapsed}})"
        ))
        .expect("a valid template"),
    );
    bar
}
