use clap::Parser;
use tessera_api::cli::{Cli, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tessera: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
