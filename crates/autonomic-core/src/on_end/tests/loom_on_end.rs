//! Loom model of [`OnEnd`](crate::on_end::OnEnd): attaches racing the close.
//!
//! Run: `cargo xtask loom` (or `RUSTFLAGS="--cfg autonomic_loom" LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p autonomic-core --lib loom_`).

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use crate::on_end::OnEnd;

fn counting(count: &Arc<AtomicUsize>) -> Box<dyn FnOnce() + Send> {
    let count = count.clone();
    // Relaxed: the model checks the count after joining every thread.
    Box::new(move || {
        count.fetch_add(1, Ordering::Relaxed);
    })
}

/// Two threads attach while a third closes (and a second close races it): every action runs
/// exactly once, whether it was attached before the close (run by the closer) or after it
/// (run by its attacher).
#[test]
fn every_action_runs_exactly_once() {
    loom::model(|| {
        let hook = Arc::new(OnEnd::new());
        let count = Arc::new(AtomicUsize::new(0));
        let attachers: Vec<_> = (0..2)
            .map(|_| {
                let (hook, count) = (hook.clone(), count.clone());
                thread::spawn(move || hook.attach(counting(&count)))
            })
            .collect();
        let closer = {
            let hook = hook.clone();
            thread::spawn(move || hook.close())
        };
        let by_main = hook.close();
        let by_closer = closer.join().unwrap();
        for a in attachers {
            a.join().unwrap();
        }
        assert!(by_main + by_closer <= 2);
        // Relaxed: every thread that counted has been joined (the join synchronises).
        assert_eq!(count.load(Ordering::Relaxed), 2);
        drop(hook);
        // Relaxed: as above.
        assert_eq!(count.load(Ordering::Relaxed), 2);
    });
}

/// A session dropped without ending: the last reference's drop runs what was attached.
#[test]
fn the_last_drop_runs_pending_actions() {
    loom::model(|| {
        let hook = Arc::new(OnEnd::new());
        let count = Arc::new(AtomicUsize::new(0));
        let other = {
            let (hook, count) = (hook.clone(), count.clone());
            thread::spawn(move || {
                hook.attach(counting(&count));
                drop(hook);
            })
        };
        hook.attach(counting(&count));
        drop(hook);
        other.join().unwrap();
        // Relaxed: the other thread has been joined (the join synchronises).
        assert_eq!(count.load(Ordering::Relaxed), 2);
    });
}
