//! The key path over real HTTP, in one process: the platform router on 127.0.0.1:0, three
//! trustees as threads running the real daemon (`dtfhe_trustee::daemon`), an edge agent
//! uploading a small CSV, and the analyst client of `dtfhe query --server`.
//!
//! - the ceremony over HTTP yields a deployment whose keys decrypt: a query end to end
//!   equals the plaintext computation, and `audit verify` accepts the ledger;
//! - one trustee refusing (a stricter local k) → nothing released, its reason shown;
//! - a trustee absent → the analyst times out naming it, nothing released;
//! - a tampered platform ciphertext → every trustee refuses;
//! - rows that land while the trustees review leave the release as computed; a platform
//!   that drops or lowers the chunk pin is refused;
//! - the platform directory holds no key share and no plaintext marker value.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use dtfhe_analyst::net::{self, RemoteQueryOptions};
use dtfhe_analyst::AnalystError as CliError;
use dtfhe_api::{Client, Identity, Role};
use dtfhe_engine::plaintext::{self, PlainRow};
use dtfhe_engine::Catalog;
use dtfhe_model::{Schema, Value};
use dtfhe_server::keypath::PendingRelease;
use dtfhe_store::EntryKind;
use dtfhe_testkit::platform::{self as kit, client};
use dtfhe_trustee::daemon::{self, DaemonOptions, MISMATCH_REASON};

const TRUSTEES: [&str; 3] = ["plant-a", "plant-b", "plant-c"];
const SCHEMA: &str = "dataset = \"runs\"\nstage = \"manufacturing\"\n\n[[columns]]\nname = \"line\"\nkind = \"public\"\ntype = \"text\"\n\n[[columns]]\nname = \"torque\"\nkind = \"encrypted\"\nscale = 2\nmin = 0\nmax = 1000\n\n[[columns]]\nname = \"rpm\"\nkind = \"encrypted\"\nscale = 0\nmin = 0\nmax = 3000\n";
/// A value that must never appear in clear on the platform.
const MARKER: &str = "777.77";
const SQL: &str =
    "SELECT line, COUNT(*), SUM(torque), AVG(torque), AVG(rpm) FROM runs GROUP BY line";

fn csv_text() -> String {
    let mut s = String::from("line,torque,rpm\n");
    let rows = [
        ("L1", "12.50", "1500"),
        ("L1", "14.25", "1620"),
        ("L1", "MARK", "1710"),
        ("L1", "9.75", "1405"),
        ("L2", "20.00", "2100"),
        ("L2", "22.50", "2210"),
        ("L2", "19.25", "1990"),
        ("L2", "21.00", "2050"),
    ];
    for (l, t, r) in rows {
        let t = if t == "MARK" { MARKER } else { t };
        s.push_str(&format!("{l},{t},{r}\n"));
    }
    s
}

fn plain_rows() -> Vec<PlainRow> {
    plain_rows_of(&csv_text(), "edge-1")
}

/// The rows of `csv` (as [`csv_text`]) as uploaded by `source`.
fn plain_rows_of(csv: &str, source: &str) -> Vec<PlainRow> {
    csv.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            PlainRow::from([
                ("source".to_string(), Value::Text(source.into())),
                ("line".to_string(), Value::Text(f[0].into())),
                ("torque".to_string(), Value::Dec(f[1].parse().unwrap())),
                ("rpm".to_string(), Value::Dec(f[2].parse().unwrap())),
            ])
        })
        .collect()
}

/// The platform of these tests (see [`platform`]) and its parties.
struct Platform {
    kit: kit::Platform,
    root: PathBuf,
    trustees: Vec<Identity>,
    analyst: Identity,
    analyst_file: PathBuf,
}

impl Platform {
    /// Trustee `t`'s own directory.
    fn trustee_dir(&self, t: &str) -> PathBuf {
        self.root.join("trustees").join(t)
    }
}

impl std::ops::Deref for Platform {
    type Target = kit::Platform;
    fn deref(&self) -> &kit::Platform {
        &self.kit
    }
}

/// A fresh platform running a ceremony for [`TRUSTEES`] (bfv-8192, k = 2) on loopback;
/// identities registered.
fn platform() -> Platform {
    let kit = kit::Platform::awaiting_ceremony(&TRUSTEES);
    let root = kit.tmp.path().to_path_buf();
    let trustees: Vec<Identity> = TRUSTEES
        .iter()
        .map(|t| Identity::generate(t).unwrap())
        .collect();
    let analyst = Identity::generate("ana").unwrap();
    let analyst_file = root.join("ana.id");
    analyst.save_new(&analyst_file).unwrap();
    for t in &trustees {
        kit.register(t, Role::Trustee, &[]);
    }
    kit.register(&analyst, Role::Analyst, &["runs"]);
    Platform {
        kit,
        root,
        trustees,
        analyst,
        analyst_file,
    }
}

fn trustee_opts(p: &Platform, i: usize, stop: &Arc<AtomicBool>) -> DaemonOptions {
    DaemonOptions {
        max_age: Some(Duration::from_secs(3600)),
        ..DaemonOptions::embedded(
            p.trustee_dir(TRUSTEES[i]),
            p.base.clone(),
            p.trustees[i].clone(),
            stop.clone(),
        )
    }
}

/// Runs the ceremony with every trustee (threads), then uploads the CSV with an edge agent.
fn ceremony_and_data(p: &Platform) {
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<JoinHandle<()>> = (0..TRUSTEES.len())
        .map(|i| {
            let opts = trustee_opts(p, i, &stop);
            std::thread::spawn(move || {
                let c = Client::new(&opts.server, Some(opts.identity.clone()), opts.timeout);
                daemon::ceremony(&c, &opts).unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    upload(p, "edge-1", &csv_text());
}

/// Registers `source` and uploads `csv` (rows of [`SCHEMA`]) with an edge agent.
fn upload(p: &Platform, source: &str, csv_text: &str) {
    let id = Identity::generate(source).unwrap();
    p.register(&id, Role::Source, &["runs"]);
    let schema = p.root.join("runs.toml");
    let csv = p.root.join(format!("{source}.csv"));
    std::fs::write(&schema, SCHEMA).unwrap();
    std::fs::write(&csv, csv_text).unwrap();
    let agent = dtfhe_agent::upload::EdgeAgent::new(
        &p.base,
        id,
        &p.root.join(format!("spool-{source}")),
        dtfhe_agent::upload::RetryPolicy::default(),
    )
    .unwrap();
    agent.ingest_csv(&schema, &csv, &mut |_| {}).unwrap();
}

/// Starts the review loops of the trustees `which`, with per-trustee option tweaks.
fn reviewers(
    p: &Platform,
    which: &[usize],
    tweak: impl Fn(usize, &mut DaemonOptions),
) -> (Arc<AtomicBool>, Vec<JoinHandle<()>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let handles = which
        .iter()
        .map(|&i| {
            let mut opts = trustee_opts(p, i, &stop);
            tweak(i, &mut opts);
            std::thread::spawn(move || daemon::run(&opts).unwrap())
        })
        .collect();
    (stop, handles)
}

fn stop_all((stop, handles): (Arc<AtomicBool>, Vec<JoinHandle<()>>)) {
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
}

/// The analyst's options for `sql` (waiting `timeout` seconds at most).
fn options(p: &Platform, sql: &str, epsilon: Option<f64>, timeout: u64) -> RemoteQueryOptions {
    RemoteQueryOptions {
        server: p.base.clone(),
        identity: p.analyst_file.clone(),
        sql: sql.into(),
        epsilon,
        timeout: Duration::from_secs(timeout),
        poll: Duration::from_millis(100),
    }
}

fn ask(p: &Platform, timeout: u64) -> Result<dtfhe_release::QueryReport, CliError> {
    net::query(&options(p, SQL, None, timeout))
}

/// The analyst asks [`SQL`] (waiting at most `timeout` seconds) while `revs` review, and
/// fails with exit code `code`; the reviewers are stopped. The failure's message.
fn ask_fails(
    p: &Platform,
    revs: (Arc<AtomicBool>, Vec<JoinHandle<()>>),
    timeout: u64,
    code: i32,
) -> String {
    let err = ask(p, timeout).unwrap_err();
    stop_all(revs);
    assert_eq!(err.exit_code(), code, "{err}");
    err.to_string()
}

/// The analyst asks [`SQL`] on a thread of its own; the platform, before any trustee looks,
/// alters the new pending release with `alter`, as a dishonest platform would. Returns the
/// analyst's thread.
fn ask_then_alter(
    p: &Platform,
    alter: impl FnOnce(&mut PendingRelease),
) -> JoinHandle<Result<dtfhe_release::QueryReport, CliError>> {
    let opts = options(p, SQL, None, 120);
    let before = p.state.keypath.releases.lock().unwrap().len();
    let analyst = std::thread::spawn(move || net::query(&opts));
    loop {
        let mut releases = p.state.keypath.releases.lock().unwrap();
        if releases.len() > before {
            alter(releases.values_mut().next_back().unwrap());
            return analyst;
        }
        drop(releases);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a dishonest platform does to release `r`: swaps its first two ciphertexts on disk
/// and the hashes it shows, consistently.
fn swap_first_two(dir: &std::path::Path, r: &mut PendingRelease) {
    use dtfhe_server::release_payload as payload;
    let path = payload::ciphertexts_path(&dir.join(dtfhe_server::keypath::RELEASES_DIR), r.id);
    let mut cts = payload::read_checked(&path, &r.hashes).unwrap();
    cts.swap(0, 1);
    payload::write(&path, &cts).unwrap();
    r.hashes.swap(0, 1);
}

fn entries(p: &Platform, kind: EntryKind) -> Vec<dtfhe_store::Entry> {
    let store = p.state.store.lock().unwrap();
    store
        .entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn ceremony_and_query_over_http_equal_the_plaintext_computation() {
    let p = platform();
    ceremony_and_data(&p);
    let revs = reviewers(&p, &[0, 1, 2], |_, _| {});
    let report = ask(&p, 120).unwrap();
    stop_all(revs);

    // Every trustee attested the deployment's keys after checking them against the
    // ceremony's messages; a source can verify that before encrypting.
    let ana = client(&p.base, &p.analyst);
    let d: dtfhe_api::types::DeploymentInfo = ana.get_json("/v1/deployment").unwrap();
    let ids: Vec<dtfhe_api::types::IdentityRecord> = ana.get_json("/v1/identities").unwrap();
    let atts: Vec<dtfhe_api::ceremony::Attestation> =
        ana.get_json("/v1/ceremony/attestations").unwrap();
    assert_eq!(atts.len(), 3);
    dtfhe_api::ceremony::check_attestations(&d, &atts, &ids).unwrap();
    let mut other = d.clone();
    other.public_key = dtfhe_api::types::b64(b"a key of the platform's own");
    let e = dtfhe_api::ceremony::check_attestations(&other, &atts, &ids).unwrap_err();
    assert!(
        matches!(e, dtfhe_api::ceremony::AttestationError::WrongKeys { .. }),
        "{e}"
    );
    let e = dtfhe_api::ceremony::check_attestations(&d, &atts[..2], &ids).unwrap_err();
    assert!(
        matches!(e, dtfhe_api::ceremony::AttestationError::NotAttested { .. }),
        "{e}"
    );
    // A trustee cannot attest in another's name, nor other keys.
    let forged = dtfhe_api::ceremony::attest(&p.trustees[0], b"x", b"y");
    let e = client(&p.base, &p.trustees[0])
        .post_json::<_, Vec<dtfhe_api::ceremony::Attestation>>("/v1/ceremony/attestation", &forged)
        .unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");
    let mut theirs = atts[1].clone();
    theirs.trustee = TRUSTEES[1].into();
    let e = client(&p.base, &p.trustees[0])
        .post_json::<_, Vec<dtfhe_api::ceremony::Attestation>>("/v1/ceremony/attestation", &theirs)
        .unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");

    let schema = Schema::from_toml_str(SCHEMA, "schema").unwrap();
    let catalog = Catalog::new(&[&schema]);
    let query = dtfhe_engine::plan(SQL, &catalog).unwrap();
    let expected = plaintext::evaluate(&query, &plain_rows());
    plaintext::compare(&report.result, &expected, 1e-9, 1e-9).unwrap();
    assert_eq!(report.result.rows.len(), 2);

    // The ledger holds the embedded path's chain, and the audit check accepts it.
    assert_eq!(entries(&p, EntryKind::TrusteeApproved).len(), 3);
    assert_eq!(entries(&p, EntryKind::ResultDelivered).len(), 1);
    let ceremony_steps = entries(&p, EntryKind::CeremonyStep);
    assert_eq!(
        ceremony_steps.len(),
        1 + 3 * 3 + 1 + 3,
        "seed, 9 shares, keys, 3 attestations"
    );
    let all = p.state.store.lock().unwrap().entries().unwrap();
    let trustees: Vec<String> = TRUSTEES.iter().map(|t| t.to_string()).collect();
    assert_eq!(
        dtfhe_embedded::audit::check_releases(&all, &trustees).unwrap(),
        1
    );

    // Nothing secret on the platform: no share bytes, no plaintext marker.
    let platform_files = files(&p.dir);
    for t in TRUSTEES {
        let share =
            dtfhe_model::secret_file::read_secret(&p.trustee_dir(t).join("share.key")).unwrap();
        let probe = &share[share.len() - 64..];
        for f in &platform_files {
            let bytes = std::fs::read(f).unwrap();
            assert!(
                !contains(&bytes, probe),
                "{} holds part of {t}'s share",
                f.display()
            );
        }
    }
    // Nor a released value (sums and averages as printed), nor a decryption share (the
    // trustees' share logs hold them in hex; the platform only ever saw them sealed).
    let mut probes: Vec<Vec<u8>> = vec![MARKER.as_bytes().to_vec()];
    for line in report.result.to_csv().lines().skip(1) {
        for cell in line.split(',').skip(2) {
            probes.push(cell.as_bytes().to_vec());
        }
    }
    for t in TRUSTEES {
        let log =
            std::fs::read_to_string(p.trustee_dir(t).join(dtfhe_trustee::shares::SHARES_FILE))
                .unwrap();
        for line in log.lines() {
            let payload = line.split('\t').nth(3).unwrap();
            let share: Vec<u8> = (0..payload.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&payload[i..i + 2], 16).unwrap())
                .collect();
            probes.push(share[share.len() - 24..].to_vec());
            probes.push(payload.as_bytes()[payload.len() - 48..].to_vec());
        }
    }
    assert!(probes.len() > 3 + 6, "{} probes", probes.len());
    for f in &platform_files {
        let bytes = std::fs::read(f).unwrap();
        for probe in &probes {
            assert!(
                !contains(&bytes, probe),
                "{} holds {:?}",
                f.display(),
                String::from_utf8_lossy(probe)
            );
        }
    }
}

#[test]
fn one_trustee_refusing_releases_nothing() {
    let p = platform();
    ceremony_and_data(&p);
    // plant-c's own policy wants groups of at least 10 rows; each line has 4.
    let revs = reviewers(&p, &[0, 1, 2], |i, o| {
        if i == 2 {
            o.min_group_size = Some(10);
        }
    });
    let msg = ask_fails(&p, revs, 120, 4);
    assert!(msg.contains("trustee plant-c refuses"), "{msg}");
    assert!(msg.contains("fewer than k = 10"), "{msg}");
    assert!(msg.contains("nothing was decrypted"), "{msg}");
    assert_eq!(entries(&p, EntryKind::TrusteeRefused).len(), 1);
    assert!(entries(&p, EntryKind::ResultDelivered).is_empty());
}

#[test]
fn an_absent_trustee_makes_the_analyst_time_out() {
    let p = platform();
    ceremony_and_data(&p);
    let revs = reviewers(&p, &[0, 1], |_, _| {});
    let msg = ask_fails(&p, revs, 8, 5);
    assert!(msg.contains("plant-c did not answer"), "{msg}");
    assert!(msg.contains("nothing was released"), "{msg}");
    assert!(!msg.contains("plant-a"), "{msg}");
    assert!(entries(&p, EntryKind::ResultDelivered).is_empty());
}

#[test]
fn trustees_refuse_tampered_platform_ciphertexts() {
    let p = platform();
    ceremony_and_data(&p);
    // The analyst asks first; before any trustee looks, the platform swaps two sums (and
    // "fixes" the hashes it shows, as a dishonest platform would).
    let dir = p.state.opts.dir.clone();
    let analyst = ask_then_alter(&p, |r| swap_first_two(&dir, r));
    let revs = reviewers(&p, &[0, 1, 2], |_, _| {});
    let err = analyst.join().unwrap().unwrap_err();
    stop_all(revs);
    assert_eq!(err.exit_code(), 4, "{err}");
    assert!(err.to_string().contains(MISMATCH_REASON), "{err}");
    assert!(entries(&p, EntryKind::ResultDelivered).is_empty());
    assert!(entries(&p, EntryKind::TrusteeApproved).is_empty());
    let _ = &p.analyst;
}

#[test]
fn forged_statements_and_rewritten_queries_are_refused() {
    let p = platform();
    ceremony_and_data(&p);
    // A statement signed by another key than the analyst's: 400 naming the field, logged
    // nowhere as a query.
    let mallory = Identity::generate("ana").unwrap();
    let recipient = dtfhe_api::types::b64(&[7u8; 32]);
    let forged = dtfhe_api::release::QueryRequest {
        sql: SQL.into(),
        epsilon: None,
        recipient: recipient.clone(),
        timestamp: 1,
        statement_signature: dtfhe_api::release::sign_statement(&mallory, 1, None, &recipient, SQL),
    };
    let e = client(&p.base, &p.analyst)
        .post_json::<_, dtfhe_api::release::QueryAccepted>("/v1/queries", &forged)
        .unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");
    assert!(e.to_string().contains("statement_signature"), "{e}");
    assert!(entries(&p, EntryKind::QueryRun).is_empty());

    // The platform rewrites the SQL of a signed request (here: drops the grouping); every
    // trustee notices the statement no longer verifies and refuses.
    let analyst = ask_then_alter(&p, |r| {
        r.sql = "SELECT COUNT(*), SUM(torque) FROM runs".into();
    });
    let revs = reviewers(&p, &[0, 1, 2], |_, _| {});
    let err = analyst.join().unwrap().unwrap_err();
    stop_all(revs);
    assert_eq!(err.exit_code(), 4, "{err}");
    assert!(
        err.to_string()
            .contains("statement signature does not verify"),
        "{err}"
    );
    assert!(entries(&p, EntryKind::ResultDelivered).is_empty());

    // A statement signed two hours ago (an analyst who gave up long since): refused by
    // every trustee's age limit, no budget spent.
    let ts = dtfhe_model::clock::now_unix() - 7200;
    let stale = dtfhe_api::release::QueryRequest {
        sql: SQL.into(),
        epsilon: Some(0.5),
        recipient: recipient.clone(),
        timestamp: ts,
        statement_signature: dtfhe_api::release::sign_statement(
            &p.analyst,
            ts,
            Some(0.5),
            &recipient,
            SQL,
        ),
    };
    let ana = client(&p.base, &p.analyst);
    let accepted: dtfhe_api::release::QueryAccepted = ana.post_json("/v1/queries", &stale).unwrap();
    let revs = reviewers(&p, &[0, 1, 2], |_, _| {});
    let status = loop {
        let s: dtfhe_api::release::QueryStatus = ana
            .get_json(&format!("/v1/queries/{}", accepted.query_id))
            .unwrap();
        if s.state != dtfhe_api::release::QueryState::Pending {
            break s;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    stop_all(revs);
    assert_eq!(status.state, dtfhe_api::release::QueryState::Refused);
    let reason = status.answers[0].answer.reason.clone().unwrap();
    assert!(
        reason.contains("s old, beyond this trustee's limit of 3600 s"),
        "{reason}"
    );
    for t in TRUSTEES {
        let spent = p.trustee_dir(t).join(dtfhe_release::disclosure::SPENT_FILE);
        assert!(!spent.exists(), "{t} spent budget on a stale request");
    }
}

#[test]
fn a_differentially_private_query_is_released_with_exact_counts() {
    let p = platform();
    ceremony_and_data(&p);
    // The trustees' own policy selects dp mode (an audit-mode trustee charges no budget).
    for t in TRUSTEES {
        let dir = p.trustee_dir(t);
        std::fs::remove_file(dir.join(dtfhe_release::disclosure::POLICY_FILE)).unwrap();
        let policy = dtfhe_release::LocalPolicy {
            mode: dtfhe_release::Mode::dp(10.0, None).unwrap(),
            ..Default::default()
        };
        dtfhe_release::Disclosure::create(&dir, &policy).unwrap();
    }
    let revs = reviewers(&p, &[0, 1, 2], |_, _| {});
    let report = net::query(&options(&p, SQL, Some(1.0), 120)).unwrap();
    stop_all(revs);
    assert_eq!(report.epsilon, Some(1.0));
    let csv = report.result.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[1].starts_with("L1,4,"), "{csv}");
    assert!(lines[2].starts_with("L2,4,"), "{csv}");
    // Each trustee spent ε = 1 on `runs` in its own budget log.
    for t in TRUSTEES {
        let spent = p.trustee_dir(t).join(dtfhe_release::disclosure::SPENT_FILE);
        let log = std::fs::read_to_string(spent).unwrap();
        assert_eq!(log.trim(), "runs\t1.0", "{t}");
    }
    // A product sum at bfv-8192 is too noisy for the flooding: the platform refuses it
    // itself (422, logged) before any trustee re-derives it.
    let denied = entries(&p, EntryKind::AccessDenied).len();
    let sql = "SELECT line, STDDEV_POP(rpm) FROM runs GROUP BY line";
    let err = net::query(&options(&p, sql, None, 30)).unwrap_err();
    assert_eq!(err.exit_code(), 4, "{err}");
    assert!(
        err.to_string().contains("exceeds what flooding hides"),
        "{err}"
    );
    assert_eq!(entries(&p, EntryKind::AccessDenied).len(), denied + 1);
    assert!(p.state.keypath.releases.lock().unwrap().len() == 1);
}

#[test]
fn ciphertexts_swapped_for_the_analyst_do_not_open() {
    let p = platform();
    ceremony_and_data(&p);
    let opts = options(&p, SQL, None, 120);
    let submitted = net::submit(&opts).unwrap();
    let revs = reviewers(&p, &[0, 1, 2], |_, _| {});
    loop {
        let answered = p.state.keypath.releases.lock().unwrap()[&submitted.id]
            .answers
            .len();
        if answered == TRUSTEES.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop_all(revs);
    // After the trustees approved their own computation, the platform shows the analyst
    // other (consistently hashed) ciphertexts: every sealed box is bound to the trustee's
    // hash, so nothing opens and nothing wrong is printed.
    {
        let mut releases = p.state.keypath.releases.lock().unwrap();
        let r = releases.get_mut(&submitted.id).unwrap();
        swap_first_two(&p.state.opts.dir, r);
    }
    let err = net::finish(submitted, &opts).unwrap_err();
    assert_eq!(err.exit_code(), 9, "{err}");
    assert!(err.to_string().contains("does not open"), "{err}");
}

/// A trustee checks the ceremony transcript once per set of keys: a restart with the keys it
/// already checked skips the transcript (shown by removing its own ceremony message, which
/// the full check needs), while a relinearisation key the platform swaps in afterwards (a
/// valid key of another ceremony) is checked in full and refused, and the record of what was
/// verified stays as it was.
#[test]
fn a_checked_deployment_is_not_rechecked_but_a_swapped_relin_key_is() {
    let p = platform();
    ceremony_and_data(&p);
    let stop = Arc::new(AtomicBool::new(false));
    let opts = trustee_opts(&p, 0, &stop);
    let c = Client::new(&opts.server, Some(opts.identity.clone()), opts.timeout);
    let record = opts.dir.join(daemon::VERIFIED_FILE);
    let verified = std::fs::read(&record).expect("recorded by the ceremony's check");

    let rlk1 = opts.dir.join(daemon::RLK1_FILE);
    let own = std::fs::read(&rlk1).expect("own round-1 message");
    std::fs::remove_file(&rlk1).unwrap();
    daemon::verify_and_attest(&c, &opts).expect("the same keys, already checked");
    std::fs::write(&rlk1, &own).unwrap();

    // The platform operator swaps in the relinearisation key of another ceremony.
    let other = tempfile::tempdir().unwrap();
    kit::create_deployment(other.path(), &TRUSTEES);
    let swapped = dtfhe_store::Store::open(other.path())
        .unwrap()
        .deployment()
        .unwrap()
        .relin_key;
    let db = rusqlite::Connection::open(p.dir.join(dtfhe_store::STORE_FILE)).unwrap();
    db.execute_batch("DROP TRIGGER deployment_no_update")
        .unwrap();
    db.execute("UPDATE deployment SET relin_key = ?1", [&swapped])
        .unwrap();
    let err = daemon::verify_and_attest(&c, &opts).expect_err("a swapped key");
    assert!(
        err.to_string()
            .contains("refusing to serve this deployment"),
        "{err}"
    );
    assert_eq!(std::fs::read(&record).unwrap(), verified);
}

/// Rows a second source uploads later: more on line L1 and a new line L3.
const LATER_CSV: &str = "line,torque,rpm\nL1,30.00,1800\nL1,31.50,1810\nL3,5.00,900\nL3,6.25,950\n";

/// The plaintext answer to [`SQL`] over `rows`.
fn expected(rows: &[PlainRow]) -> dtfhe_engine::ResultSet {
    let schema = Schema::from_toml_str(SCHEMA, "schema").unwrap();
    let query = dtfhe_engine::plan(SQL, &Catalog::new(&[&schema])).unwrap();
    plaintext::evaluate(&query, rows)
}

#[test]
fn rows_landing_while_trustees_review_leave_the_release_as_computed() {
    let p = platform();
    ceremony_and_data(&p);
    // The platform computes the query; before any trustee looks, another source uploads.
    let analyst = ask_then_alter(&p, |r| {
        assert_eq!(r.chunks_upto.keys().collect::<Vec<_>>(), ["runs"]);
    });
    upload(&p, "edge-2", LATER_CSV);
    let revs = reviewers(&p, &[0, 1, 2], |_, _| {});
    let first = analyst.join().unwrap().unwrap();
    plaintext::compare(&first.result, &expected(&plain_rows()), 1e-9, 1e-9).unwrap();
    assert_eq!(first.result.rows.len(), 2);
    // The next query covers the new rows too.
    let second = ask(&p, 120).unwrap();
    stop_all(revs);
    let mut all = plain_rows();
    all.extend(plain_rows_of(LATER_CSV, "edge-2"));
    plaintext::compare(&second.result, &expected(&all), 1e-9, 1e-9).unwrap();
    assert_eq!(second.result.rows.len(), 3);
    assert!(entries(&p, EntryKind::TrusteeRefused).is_empty());
}

#[test]
fn a_platform_that_drops_or_lowers_the_chunk_pin_is_refused() {
    let p = platform();
    ceremony_and_data(&p);
    // The platform alters the request before any trustee looks (the trustees start after).
    let refused = |alter: fn(&mut PendingRelease)| -> CliError {
        let analyst = ask_then_alter(&p, alter);
        let revs = reviewers(&p, &[0, 1, 2], |_, _| {});
        let err = analyst.join().unwrap().unwrap_err();
        stop_all(revs);
        err
    };
    // No pin: the request would leave open which chunks count.
    let err = refused(|r| r.chunks_upto.clear());
    assert_eq!(err.exit_code(), 4, "{err}");
    assert!(
        err.to_string()
            .contains("does not say which chunks of `runs` it covers"),
        "{err}"
    );
    // A pin below the chunks computed over: the trustees' re-derivation is not the
    // platform's ciphertexts.
    let err = refused(|r| {
        for upto in r.chunks_upto.values_mut() {
            *upto -= 1;
        }
    });
    assert_eq!(err.exit_code(), 4, "{err}");
    assert!(entries(&p, EntryKind::TrusteeApproved).is_empty());
    assert!(entries(&p, EntryKind::ResultDelivered).is_empty());
}
