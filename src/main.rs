fn main() -> std::process::ExitCode {
    qlab::cli::main()
}
