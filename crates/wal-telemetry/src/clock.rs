//! A cheap monotonic clock for ages of handles.
//!
//! A handle's birth time is read on every registration, which must cost a few nanoseconds, not
//! the 20 to 25 of a precise clock. Ages are reported in milliseconds and compared with
//! thresholds of seconds, so the coarse clock's resolution (a few milliseconds) is plenty.

/// Nanoseconds on a monotonic clock with an arbitrary origin; never 0.
#[cfg(all(target_os = "linux", not(loom)))]
pub(crate) fn now_nanos() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    (secs.saturating_mul(1_000_000_000) + nanos).max(1)
}

/// Nanoseconds on a monotonic clock with an arbitrary origin; never 0.
#[cfg(any(not(target_os = "linux"), loom))]
pub(crate) fn now_nanos() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1)
}
