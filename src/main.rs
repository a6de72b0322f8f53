//! The `crmsync` binary: everything lives in the library; errors become exit codes in `cli`.

fn main() -> std::process::ExitCode {
    crmsync::cli::main()
}
