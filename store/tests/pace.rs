//! One provider instance's request budget shared through the store, on every backend: slots
//! handed out by two handles at once are one schedule, and budgets that share through it keep
//! to one rate together.

use std::sync::Arc;
use std::time::{Duration, Instant};

use multiconvert_core::pace::{Rate, RequestBudget, SharedPace};
use multiconvert_store::Store;

mod common;
use common::databases;

/// Two handles (two processes' worth) take 30 slots each at once from one instance at 50 ms
/// apart: no two slots closer than the interval, a pause holds the next back.
#[tokio::test]
async fn slots_from_two_handles_are_one_schedule() {
    for (url, _keep) in databases().await {
        let backend = Store::open(&url).await.unwrap().backend();
        let now = 1_000_000_000_i64;
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let store = Store::open(&url).await.unwrap();
            tasks.push(tokio::spawn(async move {
                let mut slots = Vec::new();
                for _ in 0..30 {
                    slots.push(store.take_slot("oc", now, 50_000, 0).await.unwrap());
                }
                slots
            }));
        }
        let mut slots = Vec::new();
        for task in tasks {
            slots.extend(task.await.unwrap());
        }
        slots.sort_unstable();
        let expected: Vec<i64> = (0..60).map(|i| now + i * 50_000).collect();
        assert_eq!(slots, expected, "{backend}");
        // A burst allowance lets slots run ahead of the schedule, never before now.
        let store = Store::open(&url).await.unwrap();
        assert_eq!(
            store.take_slot("ca", now, 50_000, 100_000).await.unwrap(),
            now
        );
        assert_eq!(
            store.take_slot("ca", now, 50_000, 100_000).await.unwrap(),
            now
        );
        assert_eq!(
            store.take_slot("ca", now, 50_000, 100_000).await.unwrap(),
            now
        );
        assert_eq!(
            store.take_slot("ca", now, 50_000, 100_000).await.unwrap(),
            now + 50_000
        );
        // A pause: nothing before its end.
        store.pause_until("ca", now + 2_000_000).await.unwrap();
        assert_eq!(
            store.take_slot("ca", now, 50_000, 100_000).await.unwrap(),
            now + 2_000_000,
            "{backend}"
        );
    }
}

/// Budgets named after one instance in this process, sharing through the store, keep to one
/// rate together: two at 20/s send 30 requests in about 1.5 s, not 0.75 s. (The shared pace is
/// process-wide: this binary sets it once, on the last backend.)
#[tokio::test]
async fn named_budgets_sharing_through_the_store_keep_one_rate() {
    let (url, _keep) = databases().await.pop().unwrap();
    let store = Store::open(&url).await.unwrap();
    assert!(multiconvert_core::pace::share_through(Arc::new(store)));
    let rate = Rate::per_second(20.0);
    let (a, b) = (
        RequestBudget::named(rate, "shared-oc"),
        RequestBudget::named(rate, "shared-oc"),
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for budget in [a, b] {
        tasks.push(tokio::spawn(async move {
            for _ in 0..15 {
                budget.acquire().await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1_350), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}
