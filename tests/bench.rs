//! Benchmarks: `cargo test --release --test bench -- --ignored --nocapture`.
//! Each prints figures (medians over several runs); none asserts timing.
