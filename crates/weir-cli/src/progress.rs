//! The progress line of `weir run`: rows in and out, rates, and the sinks' watermark.
//! Drawn only when stderr is a terminal (indicatif hides itself otherwise).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use weir_runtime::JobMetrics;
use weir_types::Watermark;

/// A running progress line.
pub struct Progress {
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts updating the line twice a second.
    pub fn start(metrics: Arc<JobMetrics>) -> Progress {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let line = bar.clone();
        let task = tokio::spawn(async move {
            let mut last = (Instant::now(), 0u64);
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let now = Instant::now();
                let rows_in = JobMetrics::get(&metrics.records_in);
                let rows_out = JobMetrics::get(&metrics.records_out);
                let rate =
                    (rows_in - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3);
                last = (now, rows_in);
                let watermark = Watermark(metrics.sink_watermark.load(Ordering::Relaxed));
                line.set_message(format!(
                    "in {rows_in} ({rate:.0}/s)  out {rows_out}  watermark {watermark}"
                ));
                line.tick();
            }
        });
        Progress { bar, task }
    }

    /// Removes the line.
    pub fn finish(self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}
