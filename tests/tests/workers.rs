//! Workers: a runtime of several loops, one per thread, with a `Send`
//! handle that spawns onto them. Every test holds the fd lock: one counts
//! the process's fds and threads.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use net::{TcpListener, TcpStream};
use runtime::io::{AsyncReadExt, AsyncWriteExt};
use runtime::{Builder, Handle, Runtime};
use tests::lock;
use tests::net_util::{open_fds, within};

const LIMIT: Duration = Duration::from_secs(60);

fn two_workers() -> io::Result<Runtime> {
    Builder::new().worker_threads(2).build()
}

/// The README's server shape (accept in `block_on`, a task per connection)
/// uses both workers: 1,000 connections are all echoed and each worker
/// serves at least a quarter of them.
#[test]
fn a_two_worker_echo_server_uses_both_workers() -> io::Result<()> {
    let _fds = tests::fd_lock();
    const CONNECTIONS: usize = 1000;
    let rt = two_workers()?;
    let served: Arc<Mutex<HashMap<ThreadId, usize>>> = Arc::default();
    rt.block_on(within(LIMIT, "echo server", async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let clients = thread::spawn(move || -> io::Result<()> {
            for i in 0..CONNECTIONS {
                let mut s = std::net::TcpStream::connect(addr)?;
                let msg = (i as u32).to_le_bytes();
                s.write_all(&msg)?;
                let mut back = [0u8; 4];
                s.read_exact(&mut back)?;
                assert_eq!(back, msg);
            }
            Ok(())
        });
        let mut tasks = Vec::new();
        for _ in 0..CONNECTIONS {
            let (mut conn, _) = listener.accept().await?;
            let served = served.clone();
            tasks.push(runtime::spawn(async move {
                let mut buf = [0u8; 4];
                conn.read_exact(&mut buf).await?;
                conn.write_all(&buf).await?;
                *lock(&served).entry(thread::current().id()).or_default() += 1;
                Ok::<_, io::Error>(())
            }));
        }
        for t in tasks {
            t.await.map_err(io::Error::from)??;
        }
        clients.join().map_err(|_| io::Error::other("clients panicked"))??;
        Ok(())
    }))?;
    let served = lock(&served).clone();
    assert_eq!(served.values().sum::<usize>(), CONNECTIONS);
    assert_eq!(served.len(), 2, "connections served on {} threads: {served:?}", served.len());
    assert!(served.values().all(|&n| n >= CONNECTIONS / 4), "uneven: {served:?}");
    Ok(())
}

/// Eight plain threads spawn 10,000 tasks each through a handle; every
/// JoinHandle completes with its output.
#[test]
fn eight_threads_spawn_ten_thousand_tasks_each_through_a_handle() -> io::Result<()> {
    let _fds = tests::fd_lock();
    let rt = two_workers()?;
    let handle = rt.handle();
    let (tx, rx) = std_mpsc::channel();
    let spawners: Vec<_> = (0..8u64)
        .map(|t| {
            let (handle, tx) = (handle.clone(), tx.clone());
            thread::spawn(move || {
                let joins: Vec<_> = (0..10_000u64).map(|i| handle.spawn(async move { t * 10_000 + i })).collect();
                let _ = tx.send(joins);
            })
        })
        .collect();
    drop(tx);
    for s in spawners {
        s.join().map_err(|_| io::Error::other("spawner panicked"))?;
    }
    let total = rt.block_on(within(LIMIT, "joins", async move {
        let mut sum = 0u64;
        let mut count = 0usize;
        while let Ok(joins) = rx.try_recv() {
            for j in joins {
                sum += j.await.map_err(io::Error::from)?;
                count += 1;
            }
        }
        Ok::<_, io::Error>((sum, count))
    }))?;
    assert_eq!(total.1, 80_000);
    assert_eq!(total.0, (0..80_000u64).sum::<u64>());
    Ok(())
}

/// A task on one worker awaits the JoinHandle of a task on the other and
/// is woken when it completes; a channel works across workers too.
#[test]
fn a_task_awaits_a_join_handle_from_another_worker() -> io::Result<()> {
    let _fds = tests::fd_lock();
    let rt = two_workers()?;
    let handle = rt.handle();
    let out = rt.block_on(within(LIMIT, "cross-worker join", async move {
        let (tx, rx) = runtime::sync::oneshot::channel::<ThreadId>();
        let producer = handle.spawn_on(1, async move {
            let _ = tx.send(thread::current().id());
            runtime::time::sleep(Duration::from_millis(5)).await;
            thread::current().id()
        });
        let consumer = handle.spawn_on(0, async move {
            let theirs = rx.await.map_err(|_| io::Error::other("producer gone"))?;
            let done = producer.await.map_err(io::Error::from)?;
            Ok::<_, io::Error>((theirs, done, thread::current().id()))
        });
        consumer.await.map_err(io::Error::from)?
    }))?;
    assert_eq!(out.0, out.1, "the producer ran on one worker");
    assert_ne!(out.1, out.2, "the consumer ran on the other");
    Ok(())
}

/// Dropping a runtime of several workers joins every thread, closes every
/// socket of pending tasks and cancels every task.
#[test]
fn dropping_a_multi_worker_runtime_cancels_tasks_and_closes_fds() -> io::Result<()> {
    let _fds = tests::fd_lock();
    let before = open_fds()?;
    let rt = Builder::new().worker_threads(3).build()?;
    // Worker 0 is the thread that calls block_on; the other two are spawned.
    assert_eq!(worker_threads()?.len(), 2, "the check below sees the workers");
    let handle = rt.handle();
    let dropped = Arc::new(AtomicUsize::new(0));
    let joins = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut joins = Vec::new();
        for i in 0..6 {
            let guard = tests::DropCounter::new(&dropped);
            joins.push(handle.spawn_on(i, async move {
                let _guard = guard;
                let mut s = TcpStream::connect(addr).await?;
                let mut buf = [0u8; 1];
                s.read(&mut buf).await // never answered
            }));
        }
        // Every connection is accepted (so each task holds an open socket).
        let mut accepted = Vec::new();
        for _ in 0..6 {
            accepted.push(listener.accept().await?.0);
        }
        Ok::<_, io::Error>((joins, accepted, listener))
    })?;
    let (joins, accepted, listener) = joins;
    drop(rt);
    drop(accepted);
    drop(listener);
    assert_eq!(dropped.load(SeqCst), 6, "every pending future was dropped");
    let rt = Runtime::new()?;
    for j in joins {
        assert!(rt.block_on(j).unwrap_err().is_cancelled());
    }
    drop(rt);
    assert_eq!(open_fds()?, before, "a worker's fds stayed open");
    // Every test here holds the fd lock, so no other runtime's workers run now.
    assert_eq!(worker_threads()?, Vec::<String>::new(), "a worker thread is still running");
    Ok(())
}

/// A panic stays in its task; the worker goes on.
#[test]
fn a_panic_on_a_worker_stays_in_its_task() -> io::Result<()> {
    let _fds = tests::fd_lock();
    let rt = two_workers()?;
    let handle = rt.handle();
    rt.block_on(async move {
        let bad = handle.spawn_on(1, async { panic!("boom") });
        assert!(bad.await.unwrap_err().is_panic());
        let good = handle.spawn_on(1, async { 7 });
        assert_eq!(good.await.unwrap(), 7);
    });
    Ok(())
}

/// A handle whose runtime is gone reports cancellation instead of hanging.
#[test]
fn a_handle_outliving_its_runtime_cancels() -> io::Result<()> {
    let _fds = tests::fd_lock();
    let rt = two_workers()?;
    let handle: Handle = rt.handle();
    drop(rt);
    let join = handle.spawn(async { 1 });
    let rt = Runtime::new()?;
    assert!(rt.block_on(join).unwrap_err().is_cancelled());
    Ok(())
}

/// `Handle::current` inside tasks; `spawn` inside a task stays on its worker.
#[test]
fn spawn_inside_a_worker_stays_on_it() -> io::Result<()> {
    let _fds = tests::fd_lock();
    let rt = Builder::new().worker_threads(3).build()?;
    let handle = rt.handle();
    rt.block_on(async move {
        for w in 0..3 {
            let same = handle
                .spawn_on(w, async {
                    let here = thread::current().id();
                    let child = runtime::spawn(async { thread::current().id() });
                    let local = runtime::spawn_local(async { thread::current().id() });
                    let workers = Handle::current().workers();
                    (here, child.await.unwrap(), local.await.unwrap(), workers)
                })
                .await
                .unwrap();
            assert_eq!(same.0, same.1);
            assert_eq!(same.0, same.2);
            assert_eq!(same.3, 3);
        }
    });
    Ok(())
}

/// The names of this process's weft worker threads (from /proc/self/task).
fn worker_threads() -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task")? {
        // A thread that exits between read_dir and this read is gone: skip it.
        if let Ok(name) = std::fs::read_to_string(entry?.path().join("comm")) {
            if name.starts_with("weft-worker") {
                names.push(name.trim().to_owned());
            }
        }
    }
    Ok(names)
}
