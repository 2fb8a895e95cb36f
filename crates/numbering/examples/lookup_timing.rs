//! Times `time_zones` and `us_state` over a million numbers.
//!
//! Run: `cargo run --release -p herald-numbering --example lookup_timing`

use std::hint::black_box;
use std::io::Write as _;
use std::time::Instant;

use herald_numbering::{time_zones, us_state};

const NUMBERS: u32 = 1_000_000;

fn main() -> std::io::Result<()> {
    // Spread over NANP area codes plus some international numbers, built before timing.
    let numbers: Vec<String> = (0..NUMBERS)
        .map(|i| {
            if i % 10 == 0 {
                format!("+44207{:07}", i % 10_000_000)
            } else {
                format!("+1{}{:07}", 200 + i % 800, i % 10_000_000)
            }
        })
        .collect();
    let mut out = std::io::stdout().lock();

    let start = Instant::now();
    let mut known = 0u32;
    for number in &numbers {
        known += u32::from(black_box(time_zones(black_box(number))).known().is_some());
    }
    let tz = start.elapsed();

    let start = Instant::now();
    let mut states = 0u32;
    for number in &numbers {
        states += u32::from(black_box(us_state(black_box(number))).is_some());
    }
    let st = start.elapsed();

    let per = |d: std::time::Duration| d.as_secs_f64() * 1e9 / f64::from(NUMBERS);
    writeln!(
        out,
        "time_zones: {:.0} ns/lookup ({known} known of {NUMBERS}); us_state: {:.0} ns/lookup ({states} with a state)",
        per(tz),
        per(st)
    )
}
