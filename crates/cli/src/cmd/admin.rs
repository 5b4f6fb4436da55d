//! `dtfhe admin register|revoke|replace-trustee`: an admin registers a party with the
//! platform, revokes one, or replaces a trustee of a t-of-n deployment (which opens the
//! proactive re-sharing).

use clap::{Args, Subcommand};
use dtfhe_api::types::{IdentityRecord, RevokeRequest};
use dtfhe_api::{Client, Role};
use dtfhe_cli::CliError;
use std::path::PathBuf;
use std::time::Duration;

use super::{api_error, load_identity};

/// `dtfhe admin`.
#[derive(Debug, Args)]
pub(crate) struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
}

/// The platform, the admin's identity and the party an admin command acts on.
#[derive(Debug, clap::Args)]
struct Party {
    /// Platform server URL.
    #[arg(long, value_name = "URL")]
    server: String,
    /// The admin's identity file.
    #[arg(long, value_name = "F")]
    identity: PathBuf,
    /// The party's name.
    #[arg(long, value_name = "N")]
    name: String,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Register a party's public key with a role (and dataset grants for sources and
    /// analysts). Recorded in the ledger as `identity_registered`.
    Register {
        #[command(flatten)]
        party: Party,
        /// Its role: source, analyst, trustee, auditor or admin.
        #[arg(long, value_name = "R")]
        role: Role,
        /// Its public key, ed25519:<base64> (printed by `dtfhe identity new`).
        #[arg(long, value_name = "KEY")]
        public_key: String,
        /// Datasets a source may append to or an analyst may query (`*`: all).
        #[arg(long, value_name = "a,b", value_delimiter = ',')]
        datasets: Vec<String>,
    },
    /// Revoke a registered party: from its next request on the platform refuses it, its
    /// shares (a trustee's) are not counted, trustees refuse its release requests; its
    /// history stays. Recorded in the ledger as `identity_revoked`. Revoking again changes
    /// nothing; the last admin cannot be revoked.
    Revoke {
        #[command(flatten)]
        party: Party,
        /// Why (recorded in the ledger; at most 500 characters).
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Replace a trustee of a t-of-n deployment by another registered trustee at the same
    /// position: recorded in the ledger as `trustee_replaced`; the old trustee's answers
    /// count no more from then on, and the trustees re-share the key to the new list
    /// (proactive re-sharing, nothing is decrypted). Start the new one with `dtfhe trustee
    /// --join`.
    ReplaceTrustee {
        /// Platform server URL.
        #[arg(long, value_name = "URL")]
        server: String,
        /// The admin's identity file.
        #[arg(long, value_name = "F")]
        identity: PathBuf,
        /// The trustee that leaves.
        #[arg(long, value_name = "N")]
        old: String,
        /// The registered trustee that takes its position.
        #[arg(long, value_name = "N")]
        new: String,
    },
}

/// `dtfhe admin register|revoke`.
pub(crate) fn run(a: AdminArgs) -> Result<(), CliError> {
    let (
        Party {
            server,
            identity,
            name,
        },
        role,
        public_key,
        datasets,
    ) = match a.command {
        AdminCommand::Register {
            party,
            role,
            public_key,
            datasets,
        } => (party, role, public_key, datasets),
        AdminCommand::Revoke { party, reason } => {
            return revoke(&party.server, &party.identity, &party.name, &reason)
        }
        AdminCommand::ReplaceTrustee {
            server,
            identity,
            old,
            new,
        } => return replace_trustee(&server, &identity, old, new),
    };
    dtfhe_api::identity::parse_public_key(&public_key)
        .map_err(|e| CliError::Usage(format!("--public-key: {e}")))?;
    let admin = load_identity(&identity)?;
    let client = Client::new(&server, Some(admin), Duration::from_secs(60));
    let record = client
        .register(&IdentityRecord {
            name,
            role,
            public_key: public_key.trim().to_string(),
            datasets,
            revoked: None,
        })
        .map_err(api_error)?;
    println!(
        "registered `{}` as {}{}",
        record.name,
        record.role,
        if record.datasets.is_empty() {
            String::new()
        } else {
            format!(" (datasets: {})", record.datasets.join(", "))
        }
    );
    Ok(())
}

/// `dtfhe admin revoke`: the reason is checked here first (bad input changes nothing).
fn revoke(
    server: &str,
    identity: &std::path::Path,
    name: &str,
    reason: &str,
) -> Result<(), CliError> {
    let request = RevokeRequest {
        reason: reason.to_string(),
    };
    request
        .checked_reason()
        .map_err(|e| CliError::Usage(format!("--{e}")))?;
    if !dtfhe_model::names::is_party_name(name) {
        return Err(CliError::Usage(format!(
            "--name: {name:?} is not a party name (1-64 of letters, digits, '-', '_', '.')"
        )));
    }
    let admin = load_identity(identity)?;
    let client = Client::new(server, Some(admin), Duration::from_secs(60));
    let record = client.revoke(name, &request.reason).map_err(api_error)?;
    let r = record.revoked.as_ref().ok_or_else(|| {
        CliError::Platform(format!(
            "the platform answered `{name}` without its revocation"
        ))
    })?;
    println!(
        "revoked `{}` ({}) by {} at ledger entry {}: {}",
        record.name, record.role, r.by, r.ledger_seq, r.reason
    );
    Ok(())
}

/// `dtfhe admin replace-trustee`: prints the re-sharing the replacement opened.
fn replace_trustee(
    server: &str,
    identity: &std::path::Path,
    old: String,
    new: String,
) -> Result<(), CliError> {
    for (flag, name) in [("--old", &old), ("--new", &new)] {
        if !dtfhe_model::names::is_party_name(name) {
            return Err(CliError::Usage(format!(
                "{flag}: {name:?} is not a party name"
            )));
        }
    }
    let admin = load_identity(identity)?;
    let client = Client::new(server, Some(admin), Duration::from_secs(60));
    let st: dtfhe_api::dealing::ResharingState = client
        .post_json(
            "/v1/trustees/replace",
            &dtfhe_api::dealing::TrusteeReplacement { old, new },
        )
        .map_err(api_error)?;
    println!(
        "replaced `{}` by `{}` at position {}; re-sharing epoch {} opened: {} re-deal to {}",
        st.departed,
        st.joined,
        st.position,
        st.epoch,
        st.redealers.join(", "),
        st.trustees.join(", ")
    );
    Ok(())
}
