//! Measuring time inside a run: the host's monotonic clock in a component (`wasi:clocks`),
//! `std::time::Instant` natively. (The wall-clock time of a run is [`Run::at`](crate::Run).)

/// A started stopwatch.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    #[cfg(target_arch = "wasm32")]
    started_ns: u64,
    #[cfg(not(target_arch = "wasm32"))]
    started: std::time::Instant,
}

impl Stopwatch {
    /// Starts one now.
    pub fn start() -> Self {
        Self {
            #[cfg(target_arch = "wasm32")]
            started_ns: crate::wit::wasi::clocks::monotonic_clock::now(),
            #[cfg(not(target_arch = "wasm32"))]
            started: std::time::Instant::now(),
        }
    }

    /// Milliseconds since it started.
    pub fn elapsed_ms(&self) -> f64 {
        #[cfg(target_arch = "wasm32")]
        let ns =
            crate::wit::wasi::clocks::monotonic_clock::now().saturating_sub(self.started_ns) as f64;
        #[cfg(not(target_arch = "wasm32"))]
        let ns = self.started.elapsed().as_nanos() as f64;
        ns / 1e6
    }
}
