//! Timers: deadline order, never early, timeouts, intervals, cancellation.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use runtime::time::{interval, interval_at, sleep, sleep_until, timeout, timeout_at, Elapsed, MissedTickBehavior};
use runtime::Runtime;
use tests::lock;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn pending_timers() -> usize {
    runtime::metrics().expect("inside a runtime").pending_timers
}

/// Polls `f` exactly once (inside the current task) and reports whether it completed.
async fn poll_once<F: Future + Unpin>(f: &mut F) -> bool {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *f).poll(cx).is_ready())).await
}

#[test]
fn sleeps_fire_in_deadline_order() -> io::Result<()> {
    // A fixed shuffle of 0..20, each step 3 ms apart. The deadlines count
    // from one instant, so the expected order does not depend on how long
    // spawning the tasks takes.
    const ORDER: [u64; 20] = [13, 2, 19, 7, 0, 11, 16, 4, 9, 18, 1, 14, 6, 12, 3, 17, 8, 5, 15, 10];
    let rt = Runtime::new()?;
    let fired = Arc::new(Mutex::new(Vec::new()));
    rt.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = ORDER
            .iter()
            .map(|&k| {
                let fired = fired.clone();
                runtime::spawn(async move {
                    sleep_until(start + ms(3 * k)).await;
                    lock(&fired).push(k);
                })
            })
            .collect();
        for h in handles {
            h.await?;
        }
        Ok::<(), io::Error>(())
    })?;
    assert_eq!(*lock(&fired), (0..20).collect::<Vec<u64>>());
    assert_eq!(rt.metrics().pending_timers, 0);
    Ok(())
}

#[test]
fn sleeps_never_complete_early() -> io::Result<()> {
    const DURATIONS_MS: [u64; 8] = [1, 7, 3, 15, 2, 10, 5, 20];
    let rt = Runtime::new()?;
    rt.block_on(async {
        let handles: Vec<_> = DURATIONS_MS
            .iter()
            .map(|&d| {
                runtime::spawn(async move {
                    let requested = ms(d);
                    let start = Instant::now();
                    sleep(requested).await;
                    (requested, start.elapsed())
                })
            })
            .collect();
        for h in handles {
            let (requested, elapsed) = h.await?;
            assert!(elapsed >= requested, "sleep({requested:?}) completed after {elapsed:?}");
        }
        // Sequential sleeps in one task too.
        for d in [1, 4, 2] {
            let start = Instant::now();
            sleep(ms(d)).await;
            assert!(start.elapsed() >= ms(d));
        }
        Ok::<(), io::Error>(())
    })
}

#[test]
fn timeout_elapses_and_drops_the_inner_future() -> io::Result<()> {
    let rt = Runtime::new()?;
    rt.block_on(async {
        let start = Instant::now();
        let res: Result<(), Elapsed> = timeout(ms(20), sleep(Duration::from_secs(3600))).await;
        let elapsed = res.expect_err("the inner sleep outlasts the timeout");
        assert_eq!(elapsed.to_string(), "deadline has elapsed");
        assert!(start.elapsed() >= ms(20), "timed out after {:?}", start.elapsed());
        assert_eq!(pending_timers(), 0, "the inner sleep and the deadline are both gone");

        let deadline = Instant::now() + ms(5);
        let err: io::Error = timeout_at(deadline, std::future::pending::<()>()).await.expect_err("pending").into();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(Instant::now() >= deadline);
        Ok::<(), io::Error>(())
    })
}

#[test]
fn timeout_that_does_not_elapse_returns_the_output() -> io::Result<()> {
    let rt = Runtime::new()?;
    rt.block_on(async {
        assert_eq!(timeout(Duration::from_secs(3600), async { 7 }).await, Ok(7));
        let start = Instant::now();
        timeout(Duration::from_secs(3600), sleep(ms(10))).await.map_err(io::Error::from)?;
        assert!(start.elapsed() >= ms(10));
        assert_eq!(pending_timers(), 0, "the unused deadline is cancelled");
        let handle = runtime::spawn(async { 5 });
        assert_eq!(timeout(Duration::from_secs(3600), handle).await.map_err(io::Error::from)??, 5);
        Ok::<(), io::Error>(())
    })
}

#[test]
fn interval_ticks_are_a_period_apart() -> io::Result<()> {
    const TICKS: u32 = 5;
    let period = ms(10);
    let rt = Runtime::new()?;
    rt.block_on(async {
        let start = Instant::now();
        let mut iv = interval(period);
        let mut ticks = Vec::new();
        for _ in 0..TICKS {
            ticks.push(iv.tick().await);
        }
        let elapsed = start.elapsed();
        assert!(elapsed >= period * (TICKS - 1), "{TICKS} ticks took {elapsed:?}");
        for (i, t) in ticks.iter().enumerate() {
            assert_eq!(*t, ticks[0] + period * i as u32, "tick {i} is on the schedule");
        }
        assert!(ticks[0] >= start);
    });
    Ok(())
}

#[test]
fn interval_burst_catches_up_on_missed_ticks() -> io::Result<()> {
    let period = ms(10);
    let rt = Runtime::new()?;
    rt.block_on(async {
        let start = Instant::now();
        let mut iv = interval_at(start, period);
        assert_eq!(iv.missed_tick_behavior(), MissedTickBehavior::Burst);
        assert_eq!(iv.tick().await, start);
        // A task busy for 3.5 periods (blocking is the point here).
        std::thread::sleep(ms(35));
        for k in 1..=3 {
            assert_eq!(iv.tick().await, start + period * k, "missed tick {k} is fired late, in order");
        }
        let next = iv.tick().await;
        assert_eq!(next, start + period * 4);
        assert!(Instant::now() >= next);
    });
    Ok(())
}

#[test]
fn interval_skip_stays_on_the_grid() -> io::Result<()> {
    let period = ms(10);
    let rt = Runtime::new()?;
    rt.block_on(async {
        let start = Instant::now();
        let mut iv = interval_at(start, period);
        iv.set_missed_tick_behavior(MissedTickBehavior::Skip);
        assert_eq!(iv.tick().await, start);
        std::thread::sleep(ms(35));
        let before = Instant::now();
        assert_eq!(iv.tick().await, start + period, "the late tick itself is reported");
        let after = Instant::now();
        let next = iv.tick().await;
        assert!(Instant::now() >= next);
        let offset = next - start;
        assert_eq!(offset.as_nanos() % period.as_nanos(), 0, "{offset:?} is on the grid");
        // The first grid point after the late tick was taken: the missed ones are skipped.
        assert!(next > before && next <= after + period, "next tick at {offset:?}");
    });
    Ok(())
}

#[test]
fn interval_delay_restarts_the_schedule() -> io::Result<()> {
    let period = ms(10);
    let rt = Runtime::new()?;
    rt.block_on(async {
        let start = Instant::now();
        let mut iv = interval_at(start, period);
        iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
        assert_eq!(iv.tick().await, start);
        std::thread::sleep(ms(35));
        let before = Instant::now();
        assert_eq!(iv.tick().await, start + period);
        let after = Instant::now();
        let next = iv.tick().await;
        assert!(Instant::now() >= next);
        assert!(next >= before + period && next <= after + period, "a period after the late tick");
    });
    Ok(())
}

#[test]
fn dropping_a_sleep_cancels_its_timer() -> io::Result<()> {
    let rt = Runtime::new()?;
    rt.block_on(async {
        assert_eq!(pending_timers(), 0);
        let mut s = sleep(Duration::from_secs(3600));
        assert_eq!(pending_timers(), 0, "a sleep registers on its first poll");
        assert!(!poll_once(&mut s).await);
        assert_eq!(pending_timers(), 1);
        assert!(!poll_once(&mut s).await);
        assert_eq!(pending_timers(), 1, "polling again does not register twice");
        drop(s);
        assert_eq!(pending_timers(), 0);

        // Many at once, dropped in a different order than created.
        let mut sleeps: Vec<_> = (0..1000).map(|i| sleep(Duration::from_secs(3600 + i))).collect();
        for s in &mut sleeps {
            assert!(!poll_once(s).await);
        }
        assert_eq!(pending_timers(), 1000);
        while let Some(s) = sleeps.pop() {
            drop(s);
            if sleeps.len() % 250 == 0 {
                assert_eq!(pending_timers(), sleeps.len());
            }
        }

        // A sleeping task that is aborted.
        let task = runtime::spawn(sleep(Duration::from_secs(3600)));
        tests::yield_until("the task's sleep to register", || pending_timers() == 1).await?;
        task.abort();
        assert!(task.await.expect_err("aborted").is_cancelled());
        assert_eq!(pending_timers(), 0);
        Ok::<(), io::Error>(())
    })?;
    assert_eq!(rt.metrics().pending_timers, 0);
    Ok(())
}

#[test]
fn reset_moves_the_deadline() -> io::Result<()> {
    let rt = Runtime::new()?;
    rt.block_on(async {
        let mut s = sleep(Duration::from_secs(3600));
        assert!(!poll_once(&mut s).await);
        let start = Instant::now();
        s.reset(start + ms(5));
        assert_eq!(pending_timers(), 0, "reset cancels the old registration");
        s.await;
        assert!(start.elapsed() >= ms(5));
        assert_eq!(pending_timers(), 0);
    });
    Ok(())
}

#[test]
fn zero_and_past_deadlines_complete() -> io::Result<()> {
    let rt = Runtime::new()?;
    rt.block_on(async {
        sleep(Duration::ZERO).await;
        sleep_until(Instant::now()).await;
        assert_eq!(pending_timers(), 0);

        // Earlier than anything the runtime has seen: ready at the first poll.
        let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap_or_else(Instant::now);
        let mut s = sleep_until(past);
        assert!(s.is_elapsed());
        assert!(poll_once(&mut s).await, "a past deadline completes at the first poll");
        assert_eq!(pending_timers(), 0, "and never registers");

        assert!(timeout_at(past, std::future::pending::<()>()).await.is_err());
        let mut inner = pin!(async { 3 });
        assert_eq!(timeout_at(past, inner.as_mut()).await, Ok(3), "a ready future beats a past deadline");
    });
    Ok(())
}

#[test]
fn extreme_durations_do_not_overflow() -> io::Result<()> {
    let rt = Runtime::new()?;
    rt.block_on(async {
        assert!(timeout(ms(5), sleep(Duration::MAX)).await.is_err());
        assert_eq!(timeout(Duration::MAX, async { 1 }).await, Ok(1));
        assert_eq!(pending_timers(), 0);
    });
    let payload = std::panic::catch_unwind(|| interval(Duration::ZERO)).expect_err("a zero period panics");
    let msg = tests::panic_message(&*payload);
    assert!(msg.contains("non-zero"), "{msg}");
    Ok(())
}

#[test]
fn a_sleep_polled_outside_a_runtime_panics_with_a_clear_message() {
    let payload = std::panic::catch_unwind(|| {
        let mut s = sleep(ms(1));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let _ = Pin::new(&mut s).poll(&mut cx);
    })
    .expect_err("no runtime to register with");
    let msg = tests::panic_message(&*payload);
    assert!(msg.contains("outside of a weft runtime"), "{msg}");
}

#[test]
fn a_sleep_dropped_outside_its_runtime_is_cancelled_at_the_next_turn() -> io::Result<()> {
    let rt = Runtime::new()?;
    // Register a sleep, then carry it out of `block_on` and on to another thread.
    let mut carried = None;
    rt.block_on(async {
        let mut s = sleep(Duration::from_secs(3600));
        assert!(!poll_once(&mut s).await);
        carried = Some(s);
    });
    let s = carried.expect("the sleep was registered");
    assert_eq!(rt.metrics().pending_timers, 1);
    std::thread::scope(|scope| {
        scope.spawn(move || drop(s));
    });
    // The next turn of the loop applies the cancellation.
    rt.block_on(runtime::yield_now());
    assert_eq!(rt.metrics().pending_timers, 0);
    Ok(())
}
