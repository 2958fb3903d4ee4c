//! Recording login events (SPEC §10) and the matching Prometheus counter, so
//! `/metrics` and the event table always agree on outcomes and reasons.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::events::NewEvent;
use crate::store::{self, Db};

pub const LOGINS_METRIC: &str = "gatehouse_logins_total";

/// Counts an attempt whose event is already written (inside a transaction
/// that has committed).
pub fn count(e: &NewEvent) {
    metrics::counter!(
        LOGINS_METRIC,
        "method" => e.method.as_str(),
        "outcome" => e.outcome.as_str(),
        "reason" => e.reason.clone()
    )
    .increment(1);
}

/// Writes an event on its own and counts it.
pub async fn record(db: &Db, e: &NewEvent, now: DateTime<Utc>) -> store::Result<Uuid> {
    let id = db.record_event(e, now).await?;
    count(e);
    Ok(id)
}
