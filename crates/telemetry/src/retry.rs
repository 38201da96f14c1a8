//! Waiting for a dependency at start-up, shared by every service.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::Health;

/// Runs `attempt` until it succeeds, backing off from 0.5 s to 10 s between tries while
/// `health` (`/readyz`) reports why the service is not ready. Services start before their
/// dependencies in docker-compose and Kubernetes, so an unreachable NATS or database is waited
/// for; an error `fatal` says retrying cannot fix (bad configuration) is returned at once.
/// `None` if `shutdown` came first.
pub async fn until_ready<T, E, Fut>(
    what: &str,
    health: &Health,
    shutdown: &CancellationToken,
    mut attempt: impl FnMut() -> Fut,
    fatal: impl Fn(&E) -> bool,
) -> Result<Option<T>, E>
where
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut delay = Duration::from_millis(500);
    loop {
        match attempt().await {
            Ok(v) => return Ok(Some(v)),
            Err(e) if fatal(&e) => return Err(e),
            Err(error) => {
                health.set_not_ready(format!("{what}: {error}"));
                tracing::warn!(message = "Dependency not available yet; retrying.", dependency = what, %error, retry_in_ms = delay.as_millis() as u64);
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(None),
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}
