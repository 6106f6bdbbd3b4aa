//! The `flowgate` binary.

/// jemalloc rather than glibc's allocator: glibc keeps what a large request freed in per-thread
/// arenas (four 25 MB bulk creates left RSS 200 MB above where it started, growing with each call
/// as calls landed on other threads); jemalloc's background thread gives freed pages back to the
/// system within seconds (the same four calls: 30 MB above the start after 12 s).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    flowgate_actors::cli::main()
}
