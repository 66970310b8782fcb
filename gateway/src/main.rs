//! `oncelink`: the gateway and its command line. Everything is in the library; see `cli`.

fn main() -> std::process::ExitCode {
    oncelink_gateway::cli::main()
}
