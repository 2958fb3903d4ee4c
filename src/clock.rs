//! The one place that reads the wall clock. Everything else receives `now`
//! (DESIGN rule 7), so tests and verification code can pin time.

use chrono::{DateTime, SubsecRound, Utc};

#[allow(clippy::disallowed_methods)]
pub fn now() -> DateTime<Utc> {
    // Microsecond precision: both backends store it exactly, so a value read
    // back compares equal to the value written.
    Utc::now().trunc_subsecs(6)
}
