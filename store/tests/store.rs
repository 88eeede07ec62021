//! The same tests against every backend: SQLite always, PostgreSQL when
//! `MULTICONVERT_TEST_POSTGRES_URL` names a server (`.ci/run` starts a private cluster on a
//! loopback port and sets it, with `MULTICONVERT_REQUIRE_POSTGRES=1` so it cannot be skipped).
//! Each test gets a database of its own.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use multiconvert_core::{JobHandle, JobStatus};
use multiconvert_store::{State, Store, Submission};

mod common;
use common::databases;

fn submission(key: &str) -> Submission {
    Submission::new(key, "convertapi", "sha256:abc", format!("in/{key}.docx")).in_batch("b1")
}

#[tokio::test]
async fn a_job_is_journaled_through_its_life() {
    for (url, _keep) in databases().await {
        let store = Store::open(&url).await.unwrap();
        let backend = store.backend();
        assert!(store.record_submission(&submission("k1")).await.unwrap());
        assert!(
            !store.record_submission(&submission("k1")).await.unwrap(),
            "{backend}: a resumed key is not journaled twice"
        );
        let pending = store.entry("k1").await.unwrap().unwrap();
        assert_eq!(pending.state, State::Pending);
        let handle = JobHandle::new("convertapi-eu", "rwvd6vtq58eurfwv5zw5h2ci2pgno1pn")
            .with_token("job-token")
            .with_meta("route", "current");
        store.record_handle("k1", &handle).await.unwrap();
        store
            .record_status("k1", &JobStatus::Processing)
            .await
            .unwrap();
        let unfinished = store.unfinished().await.unwrap();
        assert_eq!(unfinished.len(), 1, "{backend}");
        assert_eq!(unfinished[0].state, State::Submitted);
        // The handle comes back whole: another process resumes from it.
        assert_eq!(unfinished[0].handle.as_ref(), Some(&handle), "{backend}");
        assert_eq!(unfinished[0].submission.provider, "convertapi-eu");
        store
            .record_status("k1", &JobStatus::Completed)
            .await
            .unwrap();
        store.record_output("k1", "out/k1.pdf", 1234).await.unwrap();
        store.record_output("k1", "out/k1.pdf", 1234).await.unwrap();
        store.record_cost("k1", 2).await.unwrap();
        let done = store.entry("k1").await.unwrap().unwrap();
        assert_eq!(done.state, State::Done, "{backend}");
        assert_eq!(done.status, Some(JobStatus::Completed));
        assert_eq!(done.cost, Some(2));
        assert_eq!(
            store.outputs("k1").await.unwrap(),
            [("out/k1.pdf".to_owned(), 1234)]
        );
        assert!(store.unfinished().await.unwrap().is_empty());
        // Reopening applies no migration twice and keeps everything.
        drop(store);
        let again = Store::open(&url).await.unwrap();
        assert_eq!(again.entry("k1").await.unwrap().unwrap().state, State::Done);
    }
}

#[tokio::test]
async fn a_completion_is_recorded_in_one_commit() {
    for (url, _keep) in databases().await {
        let store = Store::open(&url).await.unwrap();
        let backend = store.backend();
        store.record_submission(&submission("k2")).await.unwrap();
        let first = JobHandle::new("convertapi", "first-job");
        store.record_handle("k2", &first).await.unwrap();
        // Marked before its download, as a batch does.
        store.record_output("k2", "out/a.pdf", 0).await.unwrap();
        let before = store.writes();
        // A failover moved the job: the handle it ended with is the one kept.
        let moved = JobHandle::new("online-convert", "second-job");
        let outputs = [("out/a.pdf".to_owned(), 10), ("out/b.pdf".to_owned(), 20)];
        store
            .record_completed("k2", &moved, Some(3), &outputs)
            .await
            .unwrap();
        assert_eq!(store.writes() - before, 1, "{backend}: one commit");
        let done = store.entry("k2").await.unwrap().unwrap();
        assert_eq!(done.state, State::Done, "{backend}");
        assert_eq!(done.status, Some(JobStatus::Completed), "{backend}");
        assert_eq!(done.cost, Some(3), "{backend}");
        assert_eq!(done.handle, Some(moved), "{backend}");
        assert_eq!(done.submission.provider, "online-convert", "{backend}");
        let mut saved = store.outputs("k2").await.unwrap();
        saved.sort();
        assert_eq!(saved, outputs, "{backend}");
        // No cost reported keeps the one recorded.
        store
            .record_completed(
                "k2",
                &JobHandle::new("online-convert", "second-job"),
                None,
                &[],
            )
            .await
            .unwrap();
        assert_eq!(
            store.entry("k2").await.unwrap().unwrap().cost,
            Some(3),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn a_duplicate_webhook_to_two_instances_is_confirmed_once() {
    for (url, _keep) in databases().await {
        let a = Store::open(&url).await.unwrap();
        let b = Store::open(&url).await.unwrap();
        let (first, second) = tokio::join!(
            a.first_delivery("online-convert", "job-1", "completed"),
            b.first_delivery("online-convert", "job-1", "completed"),
        );
        let (first, second) = (first.unwrap(), second.unwrap());
        assert!(
            first ^ second,
            "{}: exactly one instance confirms it",
            a.backend()
        );
        // Another status of the same job is a new delivery; a forgotten one may come again.
        assert!(a
            .first_delivery("online-convert", "job-1", "processing")
            .await
            .unwrap());
        a.forget_delivery("online-convert", "job-1", "processing")
            .await
            .unwrap();
        assert!(b
            .first_delivery("online-convert", "job-1", "processing")
            .await
            .unwrap());
    }
}

#[tokio::test]
async fn a_cooldown_set_by_one_instance_is_honoured_by_another() {
    for (url, _keep) in databases().await {
        let a = Store::open(&url).await.unwrap();
        let b = Store::open(&url).await.unwrap();
        assert_eq!(b.cooling_until("convertapi").await.unwrap(), None);
        let until = SystemTime::now() + Duration::from_secs(60);
        a.cool_down("convertapi", until).await.unwrap();
        let seen = b.cooling_until("convertapi").await.unwrap().unwrap();
        let drift = seen.duration_since(until).unwrap_or_else(|e| e.duration());
        assert!(
            drift < Duration::from_millis(2),
            "{}: {drift:?}",
            b.backend()
        );
        // A shorter cooldown does not cut a longer one short.
        b.cool_down("convertapi", SystemTime::now() + Duration::from_secs(1))
            .await
            .unwrap();
        assert!(a.cooling_until("convertapi").await.unwrap().unwrap() >= seen);
        // One in the past is no cooldown.
        a.cool_down("online-convert", SystemTime::now() - Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(b.cooling_until("online-convert").await.unwrap(), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_on_several_instances_never_claim_the_same_job() {
    for (url, _keep) in databases().await {
        let seed = Store::open(&url).await.unwrap();
        let backend = seed.backend();
        for i in 0..40 {
            seed.record_submission(&submission(&format!("job-{i:02}")))
                .await
                .unwrap();
        }
        let mut workers = Vec::new();
        for w in 0..4 {
            let store = Arc::new(Store::open(&url).await.unwrap());
            workers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let claimed = store
                        .claim("b1", &format!("worker-{w}"), 3, Duration::from_secs(3600))
                        .await
                        .unwrap();
                    if claimed.is_empty() {
                        return mine;
                    }
                    mine.extend(claimed.into_iter().map(|e| e.submission.key));
                }
            }));
        }
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.await.unwrap());
        }
        let distinct: BTreeSet<_> = all.iter().cloned().collect();
        assert_eq!(all.len(), 40, "{backend}: claimed {} in all", all.len());
        assert_eq!(distinct.len(), 40, "{backend}: a job was claimed twice");

        // The workers finish their jobs; then a claim older than `stale` is taken over (its
        // worker died), a fresh one is not.
        for key in &all {
            seed.record_status(key, &JobStatus::Completed)
                .await
                .unwrap();
        }
        seed.record_submission(&submission("late")).await.unwrap();
        assert_eq!(
            seed.claim("b1", "a", 1, Duration::from_secs(3600))
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(seed
            .claim("b1", "b", 1, Duration::from_secs(3600))
            .await
            .unwrap()
            .is_empty());
        tokio::time::sleep(Duration::from_millis(20)).await;
        let taken = seed
            .claim("b1", "b", 1, Duration::from_millis(5))
            .await
            .unwrap();
        assert_eq!(taken[0].submission.key, "late", "{backend}");
    }
}

/// Many handles opening one new state at the same moment (two `batch` processes started
/// together, each with a pool): every open succeeds, the migrations apply once, and every handle
/// works. On SQLite the second of two processes used to fail at once with "could not open its
/// SQLite file".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_state_opened_by_many_at_once_opens_for_all() {
    for (url, _keep) in databases().await {
        let opens: Vec<_> = (0..8)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { Store::open(&url).await })
            })
            .collect();
        let mut stores = Vec::new();
        for open in opens {
            stores.push(open.await.unwrap().unwrap_or_else(|e| panic!("{url}: {e}")));
        }
        for (i, store) in stores.iter().enumerate() {
            assert!(store
                .record_submission(&submission(&format!("k{i}")))
                .await
                .unwrap());
        }
        assert_eq!(stores[0].batch_entries("b1").await.unwrap().len(), 8);
    }
}

#[tokio::test]
async fn a_bad_url_is_a_clear_error() {
    let e = Store::open("postgres://nobody@127.0.0.1:9/none")
        .await
        .unwrap_err();
    assert!(e.message().contains("connect to PostgreSQL"), "{e}");
    let e = Store::open("sqlite:/nonexistent-dir/x/state.db")
        .await
        .unwrap_err();
    assert!(e.message().contains("SQLite"), "{e}");
    // Said once: "store access failed", never "store store failed".
    assert!(!e.to_string().contains("store store"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_jobs_are_taken_over_and_a_live_ones_are_not() {
    for (url, _keep) in databases().await {
        let store = Store::open(&url).await.unwrap();
        let backend = store.backend();
        for key in ["a", "b", "c"] {
            store.record_submission(&submission(key)).await.unwrap();
        }
        let other = Submission::new("z", "local", "d", "in/z.png").in_batch("b2");
        store.record_submission(&other).await.unwrap();
        let lease = Duration::from_millis(300);

        let first = store.claim("b1", "w1", 2, lease).await.unwrap();
        assert_eq!(first.len(), 2, "{backend}");
        // Submitted (the vendor has the job), then w1 dies: its claim is taken over once stale.
        let handle = JobHandle::new("convertapi", "0123456789abcdefghijklmnopqrstuv");
        store
            .journal(&first[0].submission.key)
            .record_handle(&handle)
            .await
            .unwrap();
        let rest = store.claim("b1", "w2", 10, lease).await.unwrap();
        assert_eq!(rest.len(), 1, "{backend}: only the unclaimed one");
        assert_eq!(store.remaining("b1").await.unwrap(), 3);
        assert_eq!(store.remaining("b2").await.unwrap(), 1);

        // w2 stays alive (renews); w1 does not.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(store.renew("w2").await.unwrap(), 1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let taken = store.claim("b1", "w3", 10, lease).await.unwrap();
        let keys: Vec<_> = taken.iter().map(|e| e.submission.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"], "{backend}: w1's, not w2's");
        let resumed = taken.iter().find(|e| e.state == State::Submitted).unwrap();
        assert_eq!(resumed.handle.as_ref(), Some(&handle), "{backend}");

        // Released, a claim is free at once; an ended entry is never claimed.
        store.release("w2", &rest[0].submission.key).await.unwrap();
        store
            .record_error(&taken[1].submission.key, "unsupported")
            .await
            .unwrap();
        let again = store.claim("b1", "w4", 10, lease).await.unwrap();
        assert_eq!(again.len(), 1, "{backend}");
        assert_eq!(again[0].submission.key, rest[0].submission.key);
        let failed = store
            .entry(&taken[1].submission.key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(failed.state, State::Failed);
        assert_eq!(failed.error.as_deref(), Some("unsupported"));
        assert_eq!(store.remaining("b1").await.unwrap(), 2, "{backend}");
    }
}

/// Reservations from several instances at once never pass a budget's cap; settling replaces a
/// reservation with what the job cost, once.
#[tokio::test]
async fn budgets_hold_across_instances_and_settle_once() {
    use multiconvert_core::spend::{Reserved, SpendLedger};
    for (url, _keep) in databases().await {
        let seed = Store::open(&url).await.unwrap();
        let backend = seed.backend();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let store = Store::open(&url).await.unwrap();
            tasks.push(tokio::spawn(async move {
                let mut held = Vec::new();
                for _ in 0..10 {
                    if let Reserved::Held(id) = store.reserve("oc", "2026-12", 15, 1).await.unwrap()
                    {
                        held.push(id);
                    }
                }
                held
            }));
        }
        let mut held = Vec::new();
        for task in tasks {
            held.extend(task.await.unwrap());
        }
        assert_eq!(held.len(), 15, "{backend}: 40 asked for a cap of 15");
        assert_eq!(seed.spent("oc", "2026-12").await.unwrap(), 15, "{backend}");
        assert_eq!(
            seed.reserve("oc", "2026-12", 15, 1).await.unwrap(),
            Reserved::Over { spent: 15 },
            "{backend}"
        );
        // Another period and another member count apart.
        assert!(matches!(
            seed.reserve("oc", "2027-01", 15, 1).await.unwrap(),
            Reserved::Held(_)
        ));
        assert!(matches!(
            seed.reserve("ca", "2026-12", 15, 1).await.unwrap(),
            Reserved::Held(_)
        ));
        // A job that never ran frees its unit; one that cost three takes three; a second
        // settlement of either changes nothing.
        seed.settle(&held[0], 0).await.unwrap();
        seed.settle(&held[1], 3).await.unwrap();
        seed.settle(&held[0], 5).await.unwrap();
        seed.settle(&held[1], 5).await.unwrap();
        assert_eq!(seed.spent("oc", "2026-12").await.unwrap(), 16, "{backend}");
        seed.settle("no-such-reservation", 9).await.unwrap();
        assert_eq!(seed.spent("oc", "2026-12").await.unwrap(), 16, "{backend}");
    }
}

/// An entry a worker deferred (gave up on for this run) is neither waited for nor taken up by
/// another live worker; once its claim is stale a rerun takes it.
#[tokio::test]
async fn a_deferred_entry_is_left_to_a_rerun() {
    for (url, _keep) in databases().await {
        let store = Store::open(&url).await.unwrap();
        let backend = store.backend();
        for key in ["d1", "d2"] {
            store.record_submission(&submission(key)).await.unwrap();
        }
        let hour = Duration::from_secs(3600);
        assert_eq!(store.claim("b1", "w1", 1, hour).await.unwrap().len(), 1);
        let mine = store.claim("b1", "w1", 1, hour).await.unwrap();
        store.defer("w1", &mine[0].submission.key).await.unwrap();
        assert_eq!(store.remaining("b1").await.unwrap(), 1, "{backend}");
        assert!(
            store.claim("b1", "w2", 5, hour).await.unwrap().is_empty(),
            "{backend}"
        );
        assert_eq!(
            store.renew("w1").await.unwrap(),
            2,
            "{backend}: both claims renewed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        let rerun = store
            .claim("b1", "w3", 5, Duration::from_millis(10))
            .await
            .unwrap();
        assert_eq!(rerun.len(), 2, "{backend}: stale claims are taken up");
    }
}
