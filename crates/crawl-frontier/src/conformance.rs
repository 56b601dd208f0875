//! Conformance tests every [`Frontier`] implementation must pass: the memory
//! and the Redis frontier run the same scenarios.

use crawl_core::{FrontierEntry, HostKey, UrlHash};
use tokio::time::Duration;
use url::Url;

use crate::{Admission, Candidate, Claim, Completed, Completion, Frontier, Leased};

pub fn cand(host: &str, path: &str) -> Candidate {
    let url = format!("http://{host}{path}");
    Candidate {
        hash: UrlHash::of(&Url::parse(&url).unwrap()),
        host: HostKey::from(host),
        entry: FrontierEntry { url, depth: 0, attempt: 0, redirects: 0, origin: None },
    }
}

fn done(l: &Leased, delay_ms: u64) -> Completion {
    Completion {
        host: l.host.clone(),
        token: l.token,
        delay: Duration::from_millis(delay_ms),
        backoff: false,
        requeue: None,
    }
}

/// Dedup, one lease per host, politeness after completion, fencing.
pub async fn leases_and_politeness(f: &dyn Frontier) {
    let adm = f
        .admit(&[cand("a.test", "/1"), cand("a.test", "/2"), cand("b.test", "/1"), cand("a.test", "/1")])
        .await
        .unwrap();
    assert_eq!(adm, vec![Admission::Queued, Admission::Queued, Admission::Queued, Admission::Duplicate]);

    let r = f.release(10).await.unwrap();
    assert_eq!(r.leased.len(), 2, "one URL per host");
    let a = r.leased.iter().find(|l| l.host.as_str() == "a.test").unwrap().clone();
    assert!(a.entry.url.ends_with("/1"), "FIFO per host");
    assert!(f.release(10).await.unwrap().leased.is_empty(), "hosts stay leased");

    assert_eq!(f.claim(&a.host, a.token).await.unwrap(), Claim::Granted);
    assert_eq!(f.claim(&a.host, a.token ^ 1).await.unwrap(), Claim::Stale);
    let stale = Completion { token: a.token ^ 1, ..done(&a, 0) };
    assert_eq!(f.complete(stale).await.unwrap(), Completed::Stale);

    assert_eq!(f.complete(done(&a, 300)).await.unwrap(), Completed::Ok);
    assert_eq!(f.claim(&a.host, a.token).await.unwrap(), Claim::AlreadyDone);
    let st = f.stats().await.unwrap();
    assert_eq!(st.urls_queued, 1);
    assert_eq!(st.hosts_leased, 1);
    assert_eq!(st.hosts_waiting, 1);
    assert!(f.release(10).await.unwrap().leased.is_empty(), "a.test waits out its delay");

    tokio::time::sleep(Duration::from_millis(350)).await;
    let r = f.release(10).await.unwrap();
    assert_eq!(r.leased.len(), 1);
    assert!(r.leased[0].entry.url.ends_with("/2"));
}

/// A host whose queue ran dry keeps its clock: a new URL waits.
pub async fn empty_host_keeps_its_clock(f: &dyn Frontier) {
    f.admit(&[cand("c.test", "/1")]).await.unwrap();
    let l = f.release(1).await.unwrap().leased.remove(0);
    f.complete(done(&l, 400)).await.unwrap();
    f.admit(&[cand("c.test", "/2")]).await.unwrap();
    let r = f.release(10).await.unwrap();
    assert!(r.leased.is_empty(), "delay holds across an empty queue");
    assert!(r.next_due_in.is_some());
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(f.release(10).await.unwrap().leased.len(), 1);
}

/// Requeue on completion and after a stale claim: nothing is lost.
pub async fn requeue_keeps_urls(f: &dyn Frontier) {
    f.admit(&[cand("d.test", "/1"), cand("d.test", "/2")]).await.unwrap();
    let l = f.release(1).await.unwrap().leased.remove(0);
    let mut retry = l.entry.clone();
    retry.attempt += 1;
    let c = Completion { requeue: Some((l.hash, retry)), ..done(&l, 0) };
    f.complete(c).await.unwrap();
    let again = f.release(1).await.unwrap().leased.remove(0);
    assert_eq!(again.entry.url, l.entry.url, "a requeued URL goes first");
    assert_eq!(again.entry.attempt, 1);
    f.requeue(&again.host, again.hash, again.entry.clone()).await.unwrap();
    assert_eq!(f.stats().await.unwrap().urls_queued, 2);
}

/// `max_urls_per_host` stops one host's admissions, not the others', and
/// keeps counting after the host's queue has drained.
pub async fn host_admission_limit(f: &dyn Frontier, max: u64) {
    let batch: Vec<_> = (0..max + 2).map(|i| cand("trap.test", &format!("/{i}"))).collect();
    let adm = f.admit(&batch).await.unwrap();
    assert_eq!(adm.iter().filter(|a| **a == Admission::Queued).count() as u64, max);
    assert_eq!(adm.iter().filter(|a| **a == Admission::OverHostLimit).count(), 2);
    assert_eq!(f.admit(&[cand("other.test", "/0")]).await.unwrap(), [Admission::Queued]);
    // Drain every queue: the budget is spent for good.
    loop {
        let leased = f.release(10).await.unwrap().leased;
        if leased.is_empty() {
            break;
        }
        for l in &leased {
            f.complete(done(l, 0)).await.unwrap();
        }
    }
    assert_eq!(f.stats().await.unwrap().urls_queued, 0);
    assert_eq!(f.admit(&[cand("trap.test", "/new")]).await.unwrap(), [Admission::OverHostLimit]);
    assert_eq!(
        f.admit(&[cand("trap.test", "/0")]).await.unwrap(),
        [Admission::Duplicate],
        "a URL admitted before is still a duplicate"
    );
}

/// `max_urls` stops admission without marking URLs seen.
pub async fn admission_limit(f: &dyn Frontier, max: u64) {
    let batch: Vec<_> = (0..max + 2).map(|i| cand("e.test", &format!("/{i}"))).collect();
    let adm = f.admit(&batch).await.unwrap();
    assert_eq!(adm.iter().filter(|a| **a == Admission::Queued).count() as u64, max);
    assert_eq!(adm.iter().filter(|a| **a == Admission::OverLimit).count(), 2);
}
