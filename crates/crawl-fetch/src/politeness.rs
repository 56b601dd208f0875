//! How long a host rests between two requests.
//!
//! After each request: `max(--delay, robots Crawl-delay, k × response time)`,
//! the Mercator/Heritrix rule that slows down automatically for a struggling
//! server. After a 429/503 or a network error the host backs off
//! exponentially, or for as long as `Retry-After` asks.

use std::time::Duration;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct Politeness {
    /// Floor between two requests to one host (`--delay`).
    pub min_delay: Duration,
    /// k in k × response time (`--delay-factor`).
    pub delay_factor: f64,
    /// Ceiling on a robots.txt Crawl-delay (some sites ask for hours).
    pub max_crawl_delay: Duration,
    /// First backoff step; doubles with each failed attempt.
    pub backoff_base: Duration,
    /// Ceiling on any backoff, `Retry-After` included.
    pub max_backoff: Duration,
}

impl Default for Politeness {
    fn default() -> Self {
        Politeness {
            min_delay: Duration::from_secs(1),
            delay_factor: 5.0,
            max_crawl_delay: Duration::from_secs(60),
            backoff_base: Duration::from_secs(5),
            max_backoff: Duration::from_secs(600),
        }
    }
}

impl Politeness {
    /// Rest after a normal request that took `elapsed`.
    pub fn delay(&self, crawl_delay: Option<Duration>, elapsed: Duration) -> Duration {
        let crawl = crawl_delay.unwrap_or_default().min(self.max_crawl_delay);
        self.min_delay.max(crawl).max(elapsed.mul_f64(self.delay_factor))
    }

    /// Rest after a failed attempt (`attempt` counts from 0), at least the
    /// normal delay, at least what the server asked for.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>, normal: Duration) -> Duration {
        let exp = self.backoff_base.saturating_mul(1u32 << attempt.min(16));
        exp.max(retry_after.unwrap_or_default()).min(self.max_backoff).max(normal)
    }
}

/// `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?;
    (at.with_timezone(&Utc) - now).to_std().ok().or(Some(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_takes_the_largest_constraint() {
        let p = Politeness { min_delay: Duration::from_millis(50), ..Politeness::default() };
        assert_eq!(p.delay(None, Duration::from_millis(2)), Duration::from_millis(50));
        assert_eq!(p.delay(Some(Duration::from_secs(1)), Duration::from_millis(2)), Duration::from_secs(1));
        assert_eq!(p.delay(None, Duration::from_millis(100)), Duration::from_millis(500));
        assert_eq!(p.delay(Some(Duration::from_secs(3600)), Duration::ZERO), Duration::from_secs(60));
    }

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        let p = Politeness::default();
        let n = Duration::from_secs(1);
        assert_eq!(p.backoff(0, None, n), Duration::from_secs(5));
        assert_eq!(p.backoff(2, None, n), Duration::from_secs(20));
        assert_eq!(p.backoff(0, Some(Duration::from_secs(120)), n), Duration::from_secs(120));
        assert_eq!(p.backoff(30, None, n), Duration::from_secs(600));
    }

    #[test]
    fn retry_after_forms() {
        let now = DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Sun, 29 Nov 2026 10:01:00 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after("Sun, 29 Nov 2026 09:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
