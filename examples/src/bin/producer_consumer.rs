//! producer_consumer: producers steam buns (包子) into a steamer that holds
//! only a few, consumers take them out and eat them; every producer and
//! consumer is a task, the steamer a bounded channel.
//!
//! A full steamer makes producers wait (backpressure) instead of piling up
//! buns; an empty one makes consumers wait. When every producer is done and
//! the steamer is empty, the channel reports the end and consumers go home.

use std::future::poll_fn;
use std::io;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use examples::cli::{Args, Error, Long, Usage};
use runtime::sync::mpsc::{self, Receiver, TrySendError};

const USAGE: Usage = Usage {
    name: "producer_consumer",
    text: "\
usage: producer_consumer [--producers N] [--consumers N] [--buns N] [--capacity N] [--eat-ms MS]

Producers and consumers as tasks over a bounded channel (the steamer).
Prints one line per bun made, per wait on a full steamer, and per bun eaten,
then a summary.

options:
  --producers N  producer tasks (default 2)
  --consumers N  consumer tasks (default 3)
  --buns N       buns each producer makes (default 5)
  --capacity N   buns the steamer holds (default 3)
  --eat-ms MS    how long eating a bun takes (default 0: a yield)
  --help         show this help
",
};

/// One steamed bun: who made it, and its number at that producer.
#[derive(Debug)]
struct Bun {
    producer: usize,
    number: usize,
}

#[derive(Clone, Copy, Debug)]
struct Options {
    producers: usize,
    consumers: usize,
    buns: usize,
    capacity: usize,
    eat: Duration,
}

fn main() -> ExitCode {
    let opts = match USAGE.parse(options) {
        Ok(o) => o,
        Err(exit) => return exit,
    };
    match runtime::block_on(run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("producer_consumer: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The options, from the command line.
fn options(args: &mut Args) -> Result<Options, Error> {
    let mut opts = Options { producers: 2, consumers: 3, buns: 5, capacity: 3, eat: Duration::ZERO };
    while let Some(arg) = args.next()? {
        match arg {
            Long("producers") => opts.producers = at_least_one(args)?,
            Long("consumers") => opts.consumers = at_least_one(args)?,
            Long("buns") => opts.buns = args.parsed()?,
            Long("capacity") => opts.capacity = at_least_one(args)?,
            Long("eat-ms") => opts.eat = args.millis()?,
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(opts)
}

/// The option's value, a count that must be at least 1.
fn at_least_one(args: &mut Args) -> Result<usize, Error> {
    match args.parsed()? {
        0 => Err(format!("{} must be at least 1", args.option()).into()),
        n => Ok(n),
    }
}

async fn run(opts: Options) -> io::Result<()> {
    let (steamer, taken) = mpsc::channel::<Bun>(opts.capacity);
    let counter = Arc::new(Counter::new(taken));
    let producers: Vec<_> = (1..=opts.producers)
        .map(|id| {
            let steamer = steamer.clone();
            runtime::spawn(async move {
                for number in 1..=opts.buns {
                    let bun = Bun { producer: id, number };
                    // Try first, only to say when the steamer is full; then wait for room.
                    let sent = match steamer.try_send(bun) {
                        Ok(()) => Ok(()),
                        Err(TrySendError::Full(bun)) => {
                            println!("producer {id} waits: the steamer is full");
                            steamer.send(bun).await.map_err(drop)
                        }
                        Err(TrySendError::Closed(_)) => Err(()),
                    };
                    if sent.is_err() {
                        return; // every consumer is gone
                    }
                    println!("producer {id} made bun {id}.{number}");
                }
            })
        })
        .collect();
    // Only the producers hold senders now: the channel closes when they finish.
    drop(steamer);
    let consumers: Vec<_> = (1..=opts.consumers)
        .map(|id| {
            let counter = counter.clone();
            runtime::spawn(async move {
                let mut eaten = 0usize;
                while let Some(bun) = counter.take().await {
                    println!("consumer {id} ate bun {}.{}", bun.producer, bun.number);
                    eaten += 1;
                    if opts.eat.is_zero() {
                        runtime::yield_now().await;
                    } else {
                        runtime::time::sleep(opts.eat).await;
                    }
                }
                eaten
            })
        })
        .collect();
    for p in producers {
        p.await?;
    }
    let mut counts = Vec::new();
    for c in consumers {
        counts.push(c.await?);
    }
    let total: usize = counts.iter().sum();
    let each: Vec<String> = counts.iter().enumerate().map(|(i, n)| format!("consumer {} ate {n}", i + 1)).collect();
    println!("all {total} buns eaten: {}", each.join(", "));
    Ok(())
}

/// The steamer's taking side, shared by every consumer.
///
/// An mpsc channel has a single receiver, which keeps one waker: the last
/// consumer to wait. So whoever gets a bun (or the end) wakes every other
/// waiting consumer, and one of them parks its waker on the receiver again.
struct Counter {
    taken: Mutex<Receiver<Bun>>,
    /// Consumers waiting for a bun.
    waiting: Mutex<Vec<Waker>>,
}

impl Counter {
    fn new(taken: Receiver<Bun>) -> Counter {
        Counter { taken: Mutex::new(taken), waiting: Mutex::new(Vec::new()) }
    }

    /// The next bun; `None` once the producers are done and the steamer is empty.
    async fn take(&self) -> Option<Bun> {
        poll_fn(|cx| self.poll_take(cx)).await
    }

    fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Option<Bun>> {
        // Both locks are held only inside this poll, never across an await.
        let got = lock(&self.taken).poll_recv(cx);
        let mut waiting = lock(&self.waiting);
        if got.is_ready() {
            let others = std::mem::take(&mut *waiting);
            drop(waiting);
            others.into_iter().for_each(Waker::wake);
        } else if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
            waiting.push(cx.waker().clone());
        }
        got
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
