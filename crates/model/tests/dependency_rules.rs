//! The workspace's dependency rules (issue 10, docs/ARCHITECTURE.md): which workspace crate
//! may depend on which, checked against `cargo metadata`, so a layering mistake (the engine
//! linking the store and with it rusqlite and PostgreSQL, an edge agent linking the platform
//! server) fails a test instead of growing silently.
//!
//! The rules cover normal and build dependencies: what ships in each role's binary.
//! Dev-dependencies (tests may start a platform or open a store) are not restricted, except
//! that they must name declared crates; the test fixtures ([`DEV_ONLY`]) may be nothing
//! else.
//!
//! To add a crate: add a row to [`RULES`] with every workspace crate it may depend on. A
//! workspace crate without a row fails the test, so every new crate declares its place.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Every workspace crate and the workspace crates it may depend on (normal and build
/// dependencies).
const RULES: &[(&str, &[&str])] = &[
    // Pure layers: no I/O beyond files; the ledger reads its entries with the model's cursor.
    ("dtfhe-model", &[]),
    ("dtfhe-ledger", &["dtfhe-model"]),
    ("dtfhe-crypto", &["dtfhe-model"]),
    // The platform's persistent store: the only crate that links the database clients.
    ("dtfhe-store", &["dtfhe-model", "dtfhe-ledger"]),
    ("dtfhe-engine", &["dtfhe-model", "dtfhe-crypto"]),
    (
        "dtfhe-release",
        &["dtfhe-model", "dtfhe-crypto", "dtfhe-engine"],
    ),
    // Wire types and the blocking client; with crypto to decode the deployment's keys
    // (`remote`), shared by the trustee daemon and the analyst.
    (
        "dtfhe-api",
        &["dtfhe-model", "dtfhe-ledger", "dtfhe-crypto"],
    ),
    // Roles: none of them links the store or the server, except the server itself.
    (
        "dtfhe-trustee",
        &[
            "dtfhe-model",
            "dtfhe-crypto",
            "dtfhe-engine",
            "dtfhe-api",
            "dtfhe-release",
            "dtfhe-ledger",
        ],
    ),
    (
        "dtfhe-agent",
        &["dtfhe-model", "dtfhe-crypto", "dtfhe-api", "dtfhe-ledger"],
    ),
    (
        "dtfhe-server",
        &[
            "dtfhe-model",
            "dtfhe-crypto",
            "dtfhe-ledger",
            "dtfhe-store",
            "dtfhe-engine",
            "dtfhe-api",
            "dtfhe-release",
        ],
    ),
    // The single-directory deployment: store, every trustee and the source side on one machine.
    (
        "dtfhe-embedded",
        &[
            "dtfhe-model",
            "dtfhe-ledger",
            "dtfhe-crypto",
            "dtfhe-store",
            "dtfhe-engine",
            "dtfhe-release",
            "dtfhe-trustee",
            "dtfhe-agent",
        ],
    ),
    // The analyst's machine: networked query and remote audit; no store, no server, no
    // trustee (it reads the deployment and schemas with `dtfhe_api::remote`).
    (
        "dtfhe-analyst",
        &[
            "dtfhe-model",
            "dtfhe-ledger",
            "dtfhe-crypto",
            "dtfhe-engine",
            "dtfhe-release",
            "dtfhe-api",
        ],
    ),
    // Measurements: drive the roles as their users do.
    (
        "dtfhe-bench",
        &[
            "dtfhe-model",
            "dtfhe-crypto",
            "dtfhe-store",
            "dtfhe-engine",
            "dtfhe-release",
            "dtfhe-api",
            "dtfhe-agent",
            "dtfhe-embedded",
            "dtfhe-analyst",
        ],
    ),
    // The analyst organisation's dashboard: the embedded deployment (through `dtfhe-embedded`)
    // or the networked analyst; never the store's database clients, the platform server or a
    // trustee directly.
    (
        "dtfhe-dashboard",
        &[
            "dtfhe-model",
            "dtfhe-ledger",
            "dtfhe-engine",
            "dtfhe-release",
            "dtfhe-api",
            "dtfhe-embedded",
            "dtfhe-analyst",
        ],
    ),
    // The `dtfhe` binary may link everything.
    (
        "dtfhe-cli",
        &[
            "dtfhe-model",
            "dtfhe-crypto",
            "dtfhe-ledger",
            "dtfhe-store",
            "dtfhe-engine",
            "dtfhe-release",
            "dtfhe-api",
            "dtfhe-trustee",
            "dtfhe-agent",
            "dtfhe-server",
            "dtfhe-embedded",
            "dtfhe-analyst",
            "dtfhe-bench",
            "dtfhe-dashboard",
        ],
    ),
    // Development tool: fuzz targets call the decoders of the library crates (none of the
    // production crates depends on it).
    (
        "dtfhe-fuzz",
        &[
            "dtfhe-model",
            "dtfhe-crypto",
            "dtfhe-ledger",
            "dtfhe-release",
            "dtfhe-api",
            "dtfhe-trustee",
            "dtfhe-engine",
            "dtfhe-agent",
        ],
    ),
    // Development only: the tests' shared fixtures (a platform on loopback, scratch
    // databases); a dev-dependency of the crates whose tests use them, never a normal one.
    (
        "dtfhe-testkit",
        &["dtfhe-api", "dtfhe-crypto", "dtfhe-server", "dtfhe-store"],
    ),
];

/// Workspace crates that may only ever be dev-dependencies (test fixtures).
const DEV_ONLY: &[&str] = &["dtfhe-testkit"];

/// Third-party crates only these workspace crates may depend on directly (the database
/// clients belong to the store; the test fixtures tamper with databases as attackers would).
const RESTRICTED: &[(&str, &[&str])] = &[
    ("rusqlite", &["dtfhe-store", "dtfhe-testkit"]),
    ("postgres", &["dtfhe-store", "dtfhe-testkit"]),
];

/// (package name, [(dependency name, kind)]) for every workspace member, from
/// `cargo metadata --no-deps` (kind: "normal", "dev" or "build").
fn workspace() -> BTreeMap<String, Vec<(String, String)>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .expect("workspace_members")
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    let mut crates = BTreeMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        let id = p["id"].as_str().expect("package id");
        if !members.contains(id) {
            continue;
        }
        let deps = p["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .map(|d| {
                let name = d["name"].as_str().expect("dependency name").to_string();
                let kind = d["kind"].as_str().unwrap_or("normal").to_string();
                (name, kind)
            })
            .collect();
        crates.insert(p["name"].as_str().expect("name").to_string(), deps);
    }
    crates
}

/// Every violation of the rules in `crates`, one message each, naming the edge.
fn violations(crates: &BTreeMap<String, Vec<(String, String)>>) -> Vec<String> {
    let rules: BTreeMap<&str, &[&str]> = RULES.iter().copied().collect();
    let mut bad = Vec::new();
    for (name, deps) in crates {
        let Some(allowed) = rules.get(name.as_str()) else {
            bad.push(format!(
                "workspace crate `{name}` has no row in RULES (tests/dependency_rules.rs): \
                 declare which workspace crates it may depend on"
            ));
            continue;
        };
        for (dep, kind) in deps {
            if crates.contains_key(dep) {
                if !rules.contains_key(dep.as_str()) {
                    continue; // reported once, as an undeclared crate
                }
                if kind != "dev" && DEV_ONLY.contains(&dep.as_str()) {
                    bad.push(format!(
                        "forbidden edge `{name}` -> `{dep}` ({kind} dependency): `{dep}` is \
                         a test fixture, only ever a dev-dependency"
                    ));
                } else if kind != "dev" && !allowed.contains(&dep.as_str()) {
                    bad.push(format!(
                        "forbidden edge `{name}` -> `{dep}` ({kind} dependency): `{name}` may \
                         depend only on {allowed:?}"
                    ));
                }
            } else if let Some((_, owners)) = RESTRICTED.iter().find(|(r, _)| r == dep) {
                if kind != "dev" && !owners.contains(&name.as_str()) {
                    bad.push(format!(
                        "forbidden edge `{name}` -> `{dep}` ({kind} dependency): only \
                         {owners:?} may link `{dep}`"
                    ));
                }
            }
        }
    }
    for (name, _) in RULES {
        if !crates.contains_key(*name) {
            bad.push(format!(
                "RULES names `{name}`, which is not a workspace crate (remove its row)"
            ));
        }
    }
    bad
}

#[test]
fn workspace_crates_follow_the_dependency_rules() {
    let crates = workspace();
    let bad = violations(&crates);
    assert!(
        bad.is_empty(),
        "dependency rules broken:\n  {}",
        bad.join("\n  ")
    );
}

/// The checker itself catches each kind of violation (so the test above can fail).
#[test]
fn the_checker_reports_forbidden_and_undeclared_edges() {
    let mut crates = workspace();
    let normal = |d: &str| (d.to_string(), "normal".to_string());
    for (krate, dep) in [
        ("dtfhe-engine", "dtfhe-store"),
        ("dtfhe-agent", "postgres"),
        ("dtfhe-cli", "dtfhe-testkit"),
        // The analyst must not link a trustee (its key-share code) to read the deployment.
        ("dtfhe-analyst", "dtfhe-trustee"),
    ] {
        crates.get_mut(krate).expect(krate).push(normal(dep));
    }
    crates.insert("dtfhe-newcomer".into(), vec![normal("dtfhe-model")]);
    let bad = violations(&crates);
    // Each violation, with what its message must say.
    for says in [
        &["`dtfhe-analyst` -> `dtfhe-trustee`"][..],
        &["`dtfhe-engine` -> `dtfhe-store`"],
        &["`dtfhe-agent` -> `postgres`"],
        &["`dtfhe-cli` -> `dtfhe-testkit`", "test fixture"],
        &["`dtfhe-newcomer` has no row"],
    ] {
        assert!(
            bad.iter().any(|m| says.iter().all(|s| m.contains(s))),
            "{says:?}: {bad:?}"
        );
    }
    // A dev-dependency on the store (a test opening one) is allowed.
    let mut crates = workspace();
    crates
        .get_mut("dtfhe-engine")
        .expect("engine")
        .push(("dtfhe-store".to_string(), "dev".to_string()));
    assert!(violations(&crates).is_empty(), "{:?}", violations(&crates));
}
