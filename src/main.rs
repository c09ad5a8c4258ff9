fn main() -> std::process::ExitCode {
    convene::cli::run()
}
