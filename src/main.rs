//! The `streak-connector` binary: parse the command line, load the configuration,
//! set up logging, and hand over to the command. Wiring only; everything else lives
//! in the library (`streak_connector::app`).

use std::process::ExitCode;

use clap::Parser;
use streak_connector::app;
use streak_connector::cli::{Cli, Command};
use streak_connector::config::{process_env, Config, LogFormat};
use streak_connector::telemetry::init_logging;

/// mimalloc rather than glibc's malloc: a poll allocates and frees a few small
/// buffers per member (listing entries, packed members, encoded records), and
/// glibc's allocator was a fifth to a quarter of a large poll's CPU
/// (docs/benchmarks.md). librdkafka keeps its own (the C library's) allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let log_format = cli.settings.log_format.unwrap_or(LogFormat::Text);
    let env = process_env();
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Simulate(args) => {
                init_logging(log_format);
                streak_connector::simulator::cli::run(args).await
            }
            Command::Schemas(args) => app::schemas(args.dir.as_deref()),
            Command::Status(args) => app::status(args, &cli.settings).await,
            Command::Demo(args) => {
                init_logging(log_format);
                app::demo(args, &cli.settings).await
            }
            Command::Guard(command) => app::guard(command, &cli.settings, &env).await,
            Command::Check => {
                init_logging(log_format);
                app::check(&cli.settings, &env).await
            }
            command => {
                let config = Config::load(&cli.settings, &env)?;
                init_logging(config.log_format);
                match command {
                    Command::Run => app::run(config).await,
                    Command::Once(args) => app::once(config, args.dry_run).await,
                    Command::Tail(args) => app::tail(config, args).await,
                    Command::Audit(args) => app::audit(config, args).await,
                    Command::Reconcile(args) => app::reconcile(config, args).await,
                    _ => unreachable!("handled above"),
                }
            }
        }
    });
    // Do not wait for blocked threads (a consumer's poll) at exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // reconcile's verdict for cron, not a failure: the findings are printed.
        Err(e) if e.is::<app::FindingsFound>() => ExitCode::from(app::FINDINGS_EXIT),
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
