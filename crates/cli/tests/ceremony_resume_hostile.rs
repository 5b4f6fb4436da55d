//! A trustee resumed from its ceremony progress file trusts the platform no more than before:
//! the real trustee daemon (in this process) against the platform router on loopback, the
//! other trustee played by the test.
//!
//! After the trustee gave its round-2 share and stopped, the platform "restarts" (a fresh
//! in-memory ceremony with the same seed) and the other trustee gives a *different* round-1
//! share, so the round-1 aggregate is no longer the one the kept round-2 share answers. The
//! restarted trustee gives its kept public-key and round-1 shares again, then stops with an
//! error naming the reason instead of sending its round-2 share for another aggregate (or
//! computing a second one from its secrets); its progress file is left as it was.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dtfhe_api::ceremony::{CeremonyShare, CeremonyState};
use dtfhe_api::types::b64;
use dtfhe_api::{Client, Identity, Role};
use dtfhe_crypto::ceremony::net::{
    pk_share, CeremonySeed, ProgressStage, RelinParty, RelinProgress,
};
use dtfhe_server::routes::ceremony::Ceremony;
use dtfhe_testkit::platform::{self as kit, client};
use dtfhe_trustee::daemon::{self, DaemonOptions};
use dtfhe_trustee::progress;

const TRUSTEES: [&str; 2] = ["plant-a", "plant-b"];

fn post(c: &Client, step: &str, bytes: &[u8]) -> CeremonyState {
    c.post_json(
        &format!("/v1/ceremony/{step}"),
        &CeremonyShare { share: b64(bytes) },
    )
    .unwrap()
}

#[test]
fn a_resumed_trustee_gives_no_round_2_for_another_aggregate() {
    let p = kit::Platform::awaiting_ceremony(&TRUSTEES);
    let a = Identity::generate(TRUSTEES[0]).unwrap();
    let b = Identity::generate(TRUSTEES[1]).unwrap();
    p.register(&a, Role::Trustee, &[]);
    p.register(&b, Role::Trustee, &[]);
    let cb = client(&p.base, &b);
    let state = |c: &Client| c.get_json::<CeremonyState>("/v1/ceremony").unwrap();
    let params = dtfhe_crypto::params_by_name("bfv-8192").unwrap();
    let seed = CeremonySeed::from_hex(&state(&cb).seed).unwrap();
    let mut rng = rand::rng();

    // plant-b (the test) gives its public-key and round-1 shares.
    let sk_b = dtfhe_crypto::ceremony::new_share(&params, &mut rng);
    let pk_b = pk_share(&params, &sk_b, &seed, &mut rng)
        .unwrap()
        .to_bytes();
    post(&cb, "pk-share", &pk_b);
    let mut party_b = RelinParty::new(&params, &sk_b, &seed, &mut rng).unwrap();
    post(&cb, "rlk1", &party_b.round1(&mut rng).unwrap().to_bytes());

    // plant-a (the daemon) gives all three; stopped once its round 2 is in.
    let dir = p.tmp.path().join("trustees").join(TRUSTEES[0]);
    let stop = Arc::new(AtomicBool::new(false));
    let opts = DaemonOptions::embedded(dir.clone(), p.base.clone(), a.clone(), stop.clone());
    let run = |opts: DaemonOptions| {
        std::thread::spawn(move || {
            let c = Client::new(&opts.server, Some(opts.identity.clone()), opts.timeout);
            daemon::ceremony(&c, &opts)
        })
    };
    let first = run(opts.clone());
    let started = Instant::now();
    while !state(&cb).rlk2.contains(&TRUSTEES[0].to_string()) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "plant-a gave no round 2"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let e = first.join().unwrap().expect_err("stopped mid-ceremony");
    assert!(
        e.to_string().contains("stopped during the key ceremony"),
        "{e}"
    );
    let file = progress::progress_file(&dir, seed.id());
    let kept = std::fs::read(&file).unwrap();
    let record = dtfhe_model::secret_file::read_secret(&file).unwrap();
    assert_eq!(
        RelinProgress::from_bytes(&params, &record).unwrap().stage(),
        ProgressStage::Round2Given
    );

    // The platform restarts (same seed, nothing accepted), and plant-b's round-1 share is
    // now another one.
    {
        let mut store = p.state.store.lock().unwrap();
        let fresh = Ceremony::start(&mut store, &p.state.opts).unwrap();
        *p.state.keypath.ceremony().unwrap() = fresh;
    }
    assert_eq!(state(&cb).seed, seed.to_hex());
    post(&cb, "pk-share", &pk_b);
    let mut other = RelinParty::new(&params, &sk_b, &seed, &mut rng).unwrap();
    post(&cb, "rlk1", &other.round1(&mut rng).unwrap().to_bytes());

    // plant-a restarts: its kept shares again, then a refusal to answer this aggregate.
    let mut again = opts;
    again.stop = None;
    let e = run(again).join().unwrap().expect_err("another aggregate");
    let msg = e.to_string();
    assert!(
        msg.contains("round-1 aggregate is not the one trustee plant-a answered"),
        "{msg}"
    );
    let s = state(&cb);
    assert_eq!(s.pk_shares, TRUSTEES.map(String::from).to_vec());
    assert_eq!(s.rlk1, TRUSTEES.map(String::from).to_vec());
    assert!(
        s.rlk2.is_empty(),
        "no round-2 share for another aggregate: {s:?}"
    );
    assert!(!s.complete);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        kept,
        "the progress file is unchanged"
    );
}
