//! `bgcopy`: the command-line tool of the bgcopy library: durable background HTTP(S)
//! downloads with the job model of Windows BITS. The reference is `docs/cli.md`.

mod args;
mod commands;
mod demo;
mod fail;
mod get;
mod info;
mod interrupt;
mod logger;
mod names;
mod progress;
mod service;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    logger::init(cli.quiet, cli.verbose);
    let cli_verbose = cli.verbose > 0;
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(failure) => failure.report(),
    };
    // The -v lines the library made are written by its own thread: let it finish.
    if cli_verbose {
        bgcopy::logging::flush(std::time::Duration::from_secs(2));
    }
    std::process::exit(code);
}
