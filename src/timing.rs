//! Opt-in stage timings for profiling and the benchmark script (`scripts/bench.sh`).
//!
//! With the environment variable `APIGEN_TIMINGS=1`, each timed stage prints one line to
//! standard error: `timing: <stage> <milliseconds> ms`. Otherwise `stage` only runs its
//! closure. This is the one place the library writes to the terminal, and only on request.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("APIGEN_TIMINGS").is_some_and(|v| v != "0"))
}

/// Runs `f`; when timings are on, prints how long it took (wall clock, milliseconds).
pub fn stage<T>(name: &str, f: impl FnOnce() -> T) -> T {
    if !enabled() {
        return f();
    }
    let start = Instant::now();
    let out = f();
    eprintln!(
        "timing: {name} {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    out
}
