//! Benchmark of the bundled catalog: load time, lookup time and resident memory.
//!
//! Run with `cargo run --release -p bedrock-catalog --example bench_catalog`.
//! Targets: load ≤ 5 ms, lookup ≤ 1 µs median, loaded catalog ≤ 2 MB resident.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports: JSON lines on stdout, readable lines on stderr"
)]
#![allow(clippy::unwrap_used, reason = "a benchmark aborts on any failure")]
#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock time"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bedrock_catalog::{AccessPreference, Catalog};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median per-call time of `f`, measured in batches so the clock's resolution does not dominate.
fn per_call(batches: usize, per_batch: u32, mut f: impl FnMut()) -> Duration {
    let mut times = Vec::with_capacity(batches);
    for _ in 0..batches {
        let start = Instant::now();
        for _ in 0..per_batch {
            f();
        }
        times.push(start.elapsed() / per_batch);
    }
    median(times)
}

/// Resident set size in bytes (Linux `/proc/self/statm`), if available.
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn main() {
    // Warm up (page in the binary's data) before measuring.
    let catalog = Catalog::bundled().unwrap();

    let loads: Vec<Duration> = (0..30)
        .map(|_| {
            let start = Instant::now();
            black_box(Catalog::bundled().unwrap());
            start.elapsed()
        })
        .collect();
    let load_min = *loads.iter().min().unwrap();
    let load_median = median(loads);

    let by_alias = per_call(200, 2_000, || {
        black_box(catalog.resolve(black_box("Claude 3 Haiku")).unwrap());
    });
    let by_id = per_call(200, 2_000, || {
        black_box(
            catalog
                .resolve(black_box("anthropic.claude-3-haiku-20240307-v1:0"))
                .unwrap(),
        );
    });
    let by_variant = per_call(200, 2_000, || {
        black_box(catalog.resolve(black_box("claude-3-haiku")).unwrap());
    });
    let access = per_call(200, 2_000, || {
        black_box(
            catalog
                .access(
                    black_box("Claude Haiku 4.5"),
                    "us-east-1",
                    AccessPreference::PreferDirect,
                )
                .unwrap(),
        );
    });
    let miss = per_call(20, 100, || {
        black_box(
            catalog
                .resolve(black_box("Llama 3.1 7B Instruct"))
                .unwrap_err(),
        );
    });

    // Resident memory per loaded catalog: load several and divide to average out allocator noise.
    const COPIES: u64 = 10;
    let before = rss();
    let kept: Vec<Catalog> = (0..COPIES).map(|_| Catalog::bundled().unwrap()).collect();
    let after = rss();
    black_box(&kept);

    eprintln!(
        "bedrock-catalog bundled snapshot: {} models",
        catalog.models().len()
    );
    eprintln!(
        "load from bundled snapshot: median {load_median:?}, min {load_min:?} (target <= 5 ms)"
    );
    emit("load_median", load_median.as_secs_f64() * 1e3, "ms");
    eprintln!("resolve friendly name (\"Claude 3 Haiku\"): median {by_alias:?} (target <= 1 µs)");
    emit(
        "lookup_friendly_name_median",
        by_alias.as_secs_f64() * 1e6,
        "µs",
    );
    eprintln!("resolve model id: median {by_id:?}");
    eprintln!("resolve normalized variant (\"claude-3-haiku\"): median {by_variant:?}");
    eprintln!("access(name, region, pref): median {access:?}");
    eprintln!("unknown name with suggestions: median {miss:?}");
    match (before, after) {
        (Some(b), Some(a)) => {
            let per = a.saturating_sub(b) / COPIES;
            let mb = per as f64 / 1_048_576.0;
            eprintln!("resident memory per loaded catalog: {mb:.2} MB (target <= 2 MB)");
            emit("resident_per_catalog", mb, "MB");
        }
        _ => eprintln!("resident memory: /proc/self/statm not available"),
    }
}

/// One measurement as a JSON line on stdout, the form `cargo xtask bench` reads; the readable
/// lines go to stderr.
fn emit(measure: &str, value: f64, unit: &str) {
    println!(
        "{}",
        serde_json::json!({ "measure": measure, "value": value, "unit": unit })
    );
}
