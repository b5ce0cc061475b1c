//! Standard input as a channel of lines, for the interactive clients.
//!
//! Reading stdin blocks, so a plain thread does it and feeds the lines to
//! the event loop through a bounded [`mpsc`] channel: the loop never
//! blocks, and the thread waits while the loop is behind.

use std::io::{self, BufRead};
use std::thread;

use runtime::sync::mpsc;

/// Lines of standard input (without their line endings), read on a
/// helper thread. The channel closes at end of input; a read error is the
/// last item.
pub fn lines() -> mpsc::Receiver<io::Result<String>> {
    let (tx, rx) = mpsc::channel(16);
    thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let failed = line.is_err();
            // The receiver is gone (the program is finishing): stop reading.
            if tx.blocking_send(line).is_err() || failed {
                break;
            }
        }
    });
    rx
}
