use std::process::ExitCode;

fn main() -> ExitCode {
    kubepki::cli::main()
}
