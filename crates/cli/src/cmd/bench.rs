//! `dtfhe bench`: a thin entry to the `dtfhe-bench` crate (figures, load test, audit cost).

use clap::{Args, Subcommand};
use dtfhe_bench::{figures as bench, load as bench_load};
use dtfhe_cli::CliError;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct BenchArgs {
    /// A load test instead of the single-deployment figures.
    #[command(subcommand)]
    command: Option<BenchCommand>,
    /// Row counts to measure, comma-separated.
    #[arg(
        long,
        value_name = "N,...",
        value_delimiter = ',',
        default_value = "100000,1000000"
    )]
    rows: Vec<usize>,
    /// Only 10,000 rows (a quick check that everything runs).
    #[arg(long)]
    quick: bool,
    /// BFV parameter preset of the benchmark deployments.
    #[arg(long, value_name = "NAME", default_value = "bfv-16384",
          value_parser = ["bfv-16384", "bfv-8192"])]
    preset: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Bounded load test on loopback: a real server process and three trustee processes,
    /// concurrent edge agents ingesting, concurrent analysts querying.
    #[command(
        long_about = "Bounded load test of the networked deployment on loopback, in a \
temporary directory: starts `dtfhe serve` on 127.0.0.1:0 and three `dtfhe trustee` processes \
(key ceremony), registers the parties, then (1) --agents edge agents (threads running the \
`dtfhe agent` uploader) ingest their own small CSV files at once: chunks/s and values/s, \
encryption alone measured separately, every chunk stored exactly once; (2) --analysts \
analysts (threads running `dtfhe query --server`) ask aggregate queries at once: p50/p99/max \
latency and queries/s, every released result compared with the plaintext (exit 7 if one \
differs); (3) the server's peak and current memory (VmHWM, VmRSS). Every wait is bounded by \
--deadline-seconds; every process started is stopped on every exit path. Prints a table."
    )]
    Load(bench_load::LoadArgs),
    /// MQTT on loopback: values/s through a Mosquitto broker into the edge agent, and the
    /// latency from a published value to the released aggregate (p50, p99).
    Mqtt(dtfhe_bench::mqtt::MqttArgs),
    /// OPC UA on loopback: values/s from the asyncua machine server through the edge agent,
    /// and the latency from a value's source timestamp to the released aggregate (p50, p99).
    Opcua(dtfhe_bench::opcua::OpcuaArgs),
    /// Cost of the disclosure audit: check time (median, max) and memory after 100, 1,000
    /// and 10,000 committed releases on a 1,000,000-row dataset (in memory, no deployment).
    Audit,
}

/// `dtfhe bench`.
pub(crate) fn run(a: BenchArgs) -> Result<(), CliError> {
    match a {
        BenchArgs {
            command: Some(BenchCommand::Load(load)),
            ..
        } => Ok(bench_load::run(&load)?),
        BenchArgs {
            command: Some(BenchCommand::Mqtt(m)),
            ..
        } => Ok(dtfhe_bench::mqtt::run(&m)?),
        BenchArgs {
            command: Some(BenchCommand::Opcua(o)),
            ..
        } => Ok(dtfhe_bench::opcua::run(&o)?),
        BenchArgs {
            command: Some(BenchCommand::Audit),
            ..
        } => Ok(dtfhe_bench::audit::run()?),
        a => {
            let rows = if a.quick { vec![10_000] } else { a.rows };
            if rows.contains(&0) {
                return Err(CliError::Usage(
                    "--rows: every row count must be at least 1".into(),
                ));
            }
            Ok(bench::run(&rows, &a.preset)?)
        }
    }
}
