//! `multiconvert-emulator`: both vendors' APIs on localhost.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "multiconvert-emulator",
    version,
    about = "online-convert and ConvertAPI on localhost, strict, with real conversions and injectable faults"
)]
struct Cli {
    #[command(flatten)]
    args: multiconvert_emulator::command::EmulateArgs,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    std::process::exit(multiconvert_emulator::command::run(&cli.args).await);
}
