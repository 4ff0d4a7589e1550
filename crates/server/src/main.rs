use std::process::ExitCode;

fn main() -> ExitCode {
    medvault_server::cli::main()
}
