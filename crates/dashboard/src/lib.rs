//! `dtfhe dashboard`: the analyst organisation's own web UI. It is not a page of the
//! platform: it runs where the analyst's results are opened (embedded: this process plays
//! every trustee of a deployment directory; networked: it queries as the analyst's identity
//! and opens the trustees' sealed shares itself) and shows released aggregates, with their
//! release facts, to its own signed-in users.
//!
//! - [`users`]: local accounts (Argon2id), roles viewer / analyst / auditor / admin, and the
//!   datasets each may see;
//! - [`session`]: sessions (HttpOnly SameSite=Strict cookie, CSRF token per session) and the
//!   sign-in limiter;
//! - [`backend`]: the deployment, through `dtfhe_embedded` or `dtfhe_analyst`;
//! - [`live`]: the platform's chunk feed, which wakes a networked dashboard's live views;
//! - [`reports`]: views rendered to reports (HTML, and PDF on request: [`pdf`]), sealed at
//!   rest under the dashboard's key, made on demand or on a schedule;
//! - [`schedule`]: when scheduled reports are made (intervals, or clock times per shift);
//! - [`scores`]: a source's own predicted remaining life per asset, shown only when the
//!   dashboard runs as that source;
//! - [`app`]: routes, role and dataset checks, the Content Security Policy;
//! - [`pages`], [`html`], [`views`]: what is shown.
#![forbid(unsafe_code)]

pub mod app;
pub mod backend;
pub mod error;
pub mod html;
pub mod live;
pub mod pages;
pub mod pdf;
pub mod reports;
pub mod schedule;
pub mod scores;
pub mod session;
pub mod users;
pub mod views;

pub use app::{App, Options};
pub use backend::Backend;
pub use error::DashboardError;
pub use users::{Role, Users};
