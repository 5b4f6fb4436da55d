//! `dtfhe ingest`: encrypt a CSV file at its source into an embedded deployment.

use clap::Args;
use dtfhe_agent::formats::{DocumentFormat, DocumentNotes};
use dtfhe_cli::CliError;
use dtfhe_embedded::ops;
use dtfhe_embedded::DeploymentDir;
use dtfhe_store::StoreLocation;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Deployment directory (created by `dtfhe init`).
    #[arg(long, value_name = "D")]
    dir: PathBuf,
    /// Dataset schema (TOML): table name, stage, CSV layout, public and encrypted columns.
    #[arg(long, value_name = "S.toml")]
    schema: PathBuf,
    /// CSV file to encrypt and append.
    #[arg(long, value_name = "F.csv", conflicts_with_all = ["file", "format"], required_unless_present = "file")]
    csv: Option<PathBuf>,
    /// Format of FILE: `csv` (as `--csv`), `b2mml` (ISA-95 B2MML production performance or
    /// job response XML), `mtconnect` (an MTConnectStreams document, e.g. an agent's
    /// `/sample` response), `aas` (an Asset Administration Shell V3 JSON environment:
    /// Nameplate, TechnicalData, TimeSeries properties by semanticId). A document is read
    /// into the same checked rows a CSV file makes. `cad`: a CAD / PLM parameter export
    /// (CSV lines `part,parameter,value` or JSON), one row per part. `step`: a STEP file,
    /// sealed as an artifact of --product, its HEADER (FILE_NAME name and time stamp,
    /// FILE_SCHEMA) ingested as one row of public fields.
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// With --format step: the product the STEP file is sealed for.
    #[arg(long, value_name = "P")]
    product: Option<String>,
    /// The file to encrypt and append, read as `--format` says.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Data owner of these rows (a plant, a supplier); queryable as the public column `source`.
    #[arg(long, value_name = "NAME", default_value = "local")]
    source: String,
}

/// The formats `dtfhe ingest` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// A CSV export laid out as the schema's `[csv]` section says.
    Csv,
    /// ISA-95 B2MML (V0600/V0700) ProductionPerformance or JobResponse XML.
    B2mml,
    /// An MTConnectStreams document.
    Mtconnect,
    /// An Asset Administration Shell V3 JSON environment (properties by semanticId).
    Aas,
    /// A CAD / PLM engineering-parameter export (CSV `part,parameter,value` or JSON).
    Cad,
    /// A STEP file (ISO 10303-21): sealed as an artifact of `--product`, its HEADER facts
    /// ingested as one row.
    Step,
}

/// `dtfhe ingest`.
pub(crate) fn run(a: IngestArgs, store: &StoreLocation) -> Result<(), CliError> {
    let at = |dir: &Path| DeploymentDir::new(dir, store.clone());
    let Some(file) = a.csv.or(a.file) else {
        return Err(CliError::Usage(
            "give the file to ingest: --csv F.csv, or FILE with --format".into(),
        ));
    };
    let format = match a.format {
        Format::Csv => ops::InputFormat::Csv,
        Format::B2mml => ops::InputFormat::Document(DocumentFormat::B2mml),
        Format::Mtconnect => ops::InputFormat::Document(DocumentFormat::MtConnect),
        Format::Aas => ops::InputFormat::Document(DocumentFormat::Aas),
        Format::Cad => ops::InputFormat::Document(DocumentFormat::CadParameters),
        Format::Step => ops::InputFormat::Csv,
    };
    if (a.format == Format::Step) != a.product.is_some() {
        return Err(CliError::Usage(
            "--product P goes with --format step (the product the STEP file is sealed for), \
             and only with it"
                .into(),
        ));
    }
    let opts = ops::IngestOptions {
        dir: at(&a.dir),
        schema: a.schema,
        csv: file,
        source: a.source.clone(),
        progress: std::io::stderr().is_terminal(),
    };
    let r = match &a.product {
        Some(product) => {
            let (r, step) = ops::ingest_step(&opts, product)?;
            let h = &step.header;
            match &step.artifact {
                Some(p) => println!(
                    "sealed {} ({} bytes) as artifact {} of product `{product}`",
                    p.name, p.size, p.id
                ),
                None => println!(
                    "{} was already sealed for product `{product}` (same bytes)",
                    opts.csv.display()
                ),
            }
            println!(
                "STEP header: FILE_NAME {:?} of {:?}, FILE_SCHEMA {:?}",
                h.name, h.time_stamp, h.schemas
            );
            r
        }
        None => ops::ingest_as(&opts, format)?,
    };
    if let Some(notes) = &r.document {
        print_notes(notes);
    }
    if r.already_ingested {
        println!(
            "already ingested: this file ({} rows, {} chunk{}) from source `{}` is \
             already stored in `{}`; nothing was stored",
            r.rows,
            r.resumed,
            if r.resumed == 1 { "" } else { "s" },
            a.source,
            r.dataset
        );
        return Ok(());
    }
    let rate = if r.total_seconds > 0.0 {
        r.encrypted_values as f64 / r.total_seconds
    } else {
        0.0
    };
    println!(
        "ingested {} rows into `{}` from source `{}`: {} chunk{}, {} encrypted values in {:.2} s ({:.0} values/s)",
        r.rows,
        r.dataset,
        a.source,
        r.chunks,
        if r.chunks == 1 { "" } else { "s" },
        r.encrypted_values,
        r.total_seconds,
        rate
    );
    if r.resumed > 0 {
        println!(
            "resumed an interrupted ingest: {} chunk{} of this file were already stored",
            r.resumed,
            if r.resumed == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// What a document gave besides its rows: said before the ingest line, so that counted but
/// unstored values are never silent.
fn print_notes(n: &DocumentNotes) {
    if n.unavailable > 0 {
        println!(
            "{} observation{} UNAVAILABLE: counted, not stored",
            n.unavailable,
            if n.unavailable == 1 { " was" } else { "s were" }
        );
    }
    if n.unmapped > 0 {
        println!(
            "{} value{} that no column maps (data items, parameters): skipped",
            n.unmapped,
            if n.unmapped == 1 { "" } else { "s" }
        );
    }
    if let Some(next) = n.next_sequence {
        println!("next sequence: {next} (poll /sample?from={next})");
    }
}
