//! runtime::sync channels between tasks and threads: order, closing from
//! either side, backpressure on a bounded channel, and one-shot values.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use runtime::sync::mpsc::{self, TryRecvError, TrySendError};
use runtime::sync::oneshot;
use tests::net_util::run;
use tests::{yield_until, DropCounter};

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn messages_arrive_in_order_then_none_when_senders_drop() -> io::Result<()> {
    run(LIMIT, async {
        let (tx, mut rx) = mpsc::channel(4);
        let tx2 = tx.clone();
        let a = runtime::spawn(async move {
            for i in 0..100 {
                tx.send(("a", i)).await.map_err(|_| io::Error::other("receiver gone"))?;
            }
            Ok::<_, io::Error>(())
        });
        let b = runtime::spawn(async move {
            for i in 0..100 {
                tx2.send(("b", i)).await.map_err(|_| io::Error::other("receiver gone"))?;
            }
            Ok::<_, io::Error>(())
        });
        let (mut next_a, mut next_b) = (0, 0);
        // Ends when both senders are dropped: at most 200 messages, then None.
        while let Some((who, i)) = rx.recv().await {
            let next = if who == "a" { &mut next_a } else { &mut next_b };
            assert_eq!(i, *next, "messages from {who} out of order");
            *next += 1;
        }
        assert_eq!((next_a, next_b), (100, 100));
        a.await??;
        b.await??;
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        Ok(())
    })
}

#[test]
fn queued_messages_survive_the_senders() -> io::Result<()> {
    run(LIMIT, async {
        let (tx, mut rx) = mpsc::channel(8);
        for i in 0..5 {
            tx.try_send(i).map_err(|e| io::Error::other(e.to_string()))?;
        }
        drop(tx);
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        assert_eq!(got, [0, 1, 2, 3, 4]);
        Ok(())
    })
}

#[test]
fn a_full_channel_makes_the_sender_wait() -> io::Result<()> {
    run(LIMIT, async {
        let (tx, mut rx) = mpsc::channel(2);
        let sent = Arc::new(AtomicUsize::new(0));
        let producer = runtime::spawn({
            let sent = sent.clone();
            async move {
                for i in 0..5 {
                    tx.send(i).await.map_err(|_| io::Error::other("receiver gone"))?;
                    sent.fetch_add(1, SeqCst);
                }
                Ok::<_, io::Error>(())
            }
        });
        // The producer fills the channel and then waits: exactly 2 sent.
        yield_until("the channel to fill", || sent.load(SeqCst) == 2).await?;
        for _ in 0..10 {
            runtime::yield_now().await;
        }
        assert_eq!(sent.load(SeqCst), 2, "a send went past a full channel");
        assert_eq!(rx.len(), 2);

        // Each receive makes room for exactly one more.
        assert_eq!(rx.recv().await, Some(0));
        yield_until("one more send", || sent.load(SeqCst) == 3).await?;
        assert_eq!(rx.len(), 2);
        let mut rest = Vec::new();
        while let Some(v) = rx.recv().await {
            rest.push(v);
        }
        assert_eq!(rest, [1, 2, 3, 4]);
        producer.await??;
        Ok(())
    })
}

#[test]
fn try_send_reports_full_and_closed() -> io::Result<()> {
    run(LIMIT, async {
        let (tx, mut rx) = mpsc::channel(1);
        assert!(tx.try_send(1).is_ok());
        assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        drop(rx);
        assert!(tx.is_closed());
        assert!(matches!(tx.try_send(3), Err(TrySendError::Closed(3))));
        assert_eq!(tx.send(4).await.map_err(|e| e.0), Err(4), "send to a dropped receiver hands the value back");
        Ok(())
    })
}

#[test]
fn closing_the_receiver_wakes_waiting_senders() -> io::Result<()> {
    run(LIMIT, async {
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send(0).map_err(|e| io::Error::other(e.to_string()))?;
        let polled = Arc::new(AtomicBool::new(false));
        let waiting = runtime::spawn({
            let polled = polled.clone();
            async move {
                polled.store(true, SeqCst);
                // The channel is full: this parks within the same poll.
                tx.send(1).await.map_err(|e| e.0)
            }
        });
        yield_until("the sender to wait", || polled.load(SeqCst)).await?;
        rx.close();
        assert_eq!(waiting.await?, Err(1), "the waiting send failed with its value");
        // Already queued messages can still be taken after close.
        assert_eq!(rx.recv().await, Some(0));
        assert_eq!(rx.recv().await, None);
        Ok(())
    })
}

#[test]
fn dropping_the_receiver_drops_queued_messages() -> io::Result<()> {
    let drops = Arc::new(AtomicUsize::new(0));
    run(LIMIT, async {
        let (tx, rx) = mpsc::channel(4);
        for _ in 0..3 {
            tx.try_send(DropCounter::new(&drops)).map_err(|_| io::Error::other("full"))?;
        }
        assert_eq!(drops.load(SeqCst), 0);
        drop(rx);
        assert_eq!(drops.load(SeqCst), 3);
        Ok(())
    })
}

#[test]
fn unbounded_never_waits() -> io::Result<()> {
    run(LIMIT, async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for i in 0..10_000 {
            tx.send(i).map_err(|e| io::Error::other(e.to_string()))?;
        }
        assert_eq!(rx.len(), 10_000);
        drop(tx);
        let mut n = 0;
        while let Some(v) = rx.recv().await {
            assert_eq!(v, n);
            n += 1;
        }
        assert_eq!(n, 10_000);
        Ok(())
    })
}

#[test]
fn threads_feed_and_drain_tasks() -> io::Result<()> {
    run(LIMIT, async {
        // A plain thread produces with blocking_send, waiting on the bounded channel.
        let (tx, mut rx) = mpsc::channel(2);
        let producer = std::thread::spawn(move || {
            for i in 0..1000 {
                if tx.blocking_send(i).is_err() {
                    return Err(i);
                }
            }
            Ok(())
        });
        for i in 0..1000 {
            assert_eq!(rx.recv().await, Some(i));
        }
        assert_eq!(rx.recv().await, None);
        producer
            .join()
            .map_err(|_| io::Error::other("producer panicked"))?
            .map_err(|i| io::Error::other(format!("send {i} failed")))?;

        // And a thread consumes with blocking_recv.
        let (tx, mut rx) = mpsc::channel::<u32>(2);
        let consumer = std::thread::spawn(move || {
            let mut sum = 0;
            while let Some(v) = rx.blocking_recv() {
                sum += v;
            }
            sum
        });
        for i in 1..=100 {
            tx.send(i).await.map_err(|_| io::Error::other("consumer gone"))?;
        }
        drop(tx);
        let consumer = runtime::spawn_blocking(move || consumer.join());
        let sum = consumer.await?.map_err(|_| io::Error::other("consumer panicked"))?;
        assert_eq!(sum, 5050);
        Ok(())
    })
}

#[test]
#[should_panic(expected = "stall the weft runtime")]
fn blocking_recv_inside_the_runtime_panics() {
    runtime::block_on(async {
        let (_tx, mut rx) = mpsc::channel::<()>(1);
        rx.blocking_recv();
    });
}

#[test]
fn oneshot_delivers_once_across_threads() -> io::Result<()> {
    run(LIMIT, async {
        let (tx, rx) = oneshot::channel();
        std::thread::spawn(move || tx.send(String::from("from a thread")));
        assert_eq!(rx.await.map_err(|e| io::Error::other(e.to_string()))?, "from a thread");

        let (tx, mut rx) = oneshot::channel::<u8>();
        assert!(rx.try_recv().is_err());
        tx.send(7).map_err(|_| io::Error::other("receiver gone"))?;
        assert_eq!(rx.try_recv().ok(), Some(7));
        Ok(())
    })
}

#[test]
fn oneshot_reports_either_side_gone() -> io::Result<()> {
    run(LIMIT, async {
        // The sender is dropped: the receiver fails instead of waiting forever.
        let (tx, rx) = oneshot::channel::<u8>();
        let waiting = runtime::spawn(rx);
        runtime::yield_now().await;
        drop(tx);
        assert!(waiting.await?.is_err());

        // The receiver is dropped: the send hands the value back, and
        // `closed()` wakes a sender waiting for that.
        let (mut tx, rx) = oneshot::channel::<u8>();
        assert!(!tx.is_closed());
        let dropper = runtime::spawn(async move {
            runtime::yield_now().await;
            drop(rx);
        });
        tx.closed().await;
        assert!(tx.is_closed());
        assert_eq!(tx.send(9), Err(9));
        dropper.await?;
        Ok(())
    })
}

#[test]
fn channel_types_are_send() {
    fn check<T: Send>() {}
    check::<mpsc::Sender<String>>();
    check::<mpsc::Receiver<String>>();
    check::<mpsc::UnboundedSender<String>>();
    check::<oneshot::Sender<String>>();
    check::<oneshot::Receiver<String>>();
}
