//! `dtfhe demo`: the embedded walk-through on bundled data; `--serve` then serves its
//! deployment's dashboard with a one-time sign-in link.

use clap::Args;
use dtfhe_cli::CliError;
use dtfhe_dashboard::{App, Backend, Options, Role, Users};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Keep the deployment in this directory (must not hold one already);
    /// default: a temporary directory, deleted at the end.
    #[arg(long, value_name = "D")]
    dir: Option<PathBuf>,
    /// Then serve the deployment's dashboard and print a local URL with a one-time sign-in
    /// link (as notebook servers do); runs until interrupted.
    #[arg(long)]
    serve: bool,
    /// Address the dashboard listens on (with --serve).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8780",
        requires = "serve"
    )]
    listen: std::net::SocketAddr,
}

/// `dtfhe demo [--serve]`.
pub(crate) fn run(a: DemoArgs) -> Result<(), CliError> {
    if !a.serve {
        return dtfhe_cli::demo::run(a.dir.as_deref());
    }
    let temp;
    let dir = match a.dir {
        Some(d) => d,
        None => {
            temp = dtfhe_cli::demo::temp_dir("dtfhe-demo-")?;
            temp.path().join("deployment")
        }
    };
    dtfhe_cli::demo::run(Some(&dir))?;
    // The dashboard's own account for the link: a random password nobody is told.
    let state = dir.join("dashboard");
    let mut users = Users::load(&state)?;
    if users.get("demo").is_none() {
        let mut pw = [0u8; 24];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut pw);
        users.add("demo", Role::Admin, &["*".into()], &hex::encode(pw), false)?;
    }
    let app = Arc::new(App::new(Options::new(
        Backend::Embedded {
            dir: dir.clone().into(),
        },
        state,
    ))?);
    super::dashboard::serve(app, a.listen, move |app, listen| {
        let link = app.one_time_link("demo", dtfhe_dashboard::app::ONE_TIME_LINK_TTL)?;
        println!();
        println!("Open the demo's dashboard (one-time sign-in link, valid 15 minutes):");
        println!("  http://{listen}{link}");
        println!(
            "Add your own users with `dtfhe dashboard add-user --dir {}`.",
            dir.display()
        );
        Ok(())
    })
}
