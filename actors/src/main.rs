//! The `flowgate` binary.

fn main() -> std::process::ExitCode {
    flowgate_actors::cli::main()
}
