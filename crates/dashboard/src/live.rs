//! What wakes the live views of a networked dashboard: the platform's chunk feed, read as
//! the analyst's identity (so it announces the chunks of the datasets that identity may
//! read, and nothing else), turned into one message per dataset that changed. An embedded
//! dashboard has no feed: its live views watch the store (see `app::view_events`).
//!
//! The feed is read on a thread of its own and opened again (after [`RETRY`]) when it
//! breaks; while it is down the live views get no news, and the page still shows when its
//! numbers were released.

use crate::backend::Backend;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::broadcast;

/// Wait before opening a broken feed again.
pub const RETRY: Duration = Duration::from_secs(5);

/// What a live view hears: a dataset with new chunks, or [`ANY`].
pub type Changed = broadcast::Receiver<Arc<str>>;

/// The message when announcements were dropped: every view is stale.
pub const ANY: &str = "*";

/// The feed's announcements, by dataset.
#[derive(Debug)]
pub struct Live {
    tx: Arc<broadcast::Sender<Arc<str>>>,
}

impl Live {
    /// Starts reading the chunk feed of a networked `backend` (`None` for an embedded one);
    /// `log` gets a line when the feed breaks. The reader stops once `Live` is dropped (at
    /// its next message or retry).
    pub fn start(backend: &Backend, log: impl Fn(&str) + Send + 'static) -> Option<Live> {
        let Backend::Networked {
            server, identity, ..
        } = backend
        else {
            return None;
        };
        let tx = Arc::new(broadcast::channel::<Arc<str>>(256).0);
        let weak: Weak<broadcast::Sender<Arc<str>>> = Arc::downgrade(&tx);
        let (server, identity) = (server.clone(), identity.clone());
        std::thread::spawn(move || loop {
            match dtfhe_analyst::follow::open_feed(&server, &identity, &[]) {
                Ok(feed) => {
                    for m in feed {
                        let Some(tx) = weak.upgrade() else { return };
                        let dataset: Arc<str> = match m {
                            Ok(dtfhe_api::feed::FeedMessage::Chunk(e)) => e.dataset.into(),
                            Ok(dtfhe_api::feed::FeedMessage::Lagged(_)) => ANY.into(),
                            Err(e) => {
                                log(&format!("chunk feed: {e}"));
                                break;
                            }
                        };
                        let _ = tx.send(dataset);
                    }
                }
                Err(e) => log(&format!("chunk feed: {e}")),
            }
            if weak.strong_count() == 0 {
                return;
            }
            std::thread::sleep(RETRY);
        });
        Some(Live { tx })
    }

    /// A receiver of the datasets that change from now on.
    pub fn subscribe(&self) -> Changed {
        self.tx.subscribe()
    }
}
