//! Benchmarks of the operations (not written yet).

fn main() {}
