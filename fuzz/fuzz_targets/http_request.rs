//! Fuzzes the server's request-head parser and body skipper
//! (`examples::http::parse_request`, `BodySkip`) through the invariants in
//! `examples::http::invariants`: no panic, the same answer however the
//! bytes are cut into reads, lengths within the input and the head limit.
//!
//! Input: one byte `n`, then `n % 5` cut positions (two bytes each), then
//! the request bytes.
#![no_main]

use examples::http::invariants::check_request;
use libfuzzer_sys::fuzz_target;

/// Splits `data` into cut positions and the input they cut.
fn cuts_and_input(data: &[u8]) -> (Vec<usize>, &[u8]) {
    let Some((&n, rest)) = data.split_first() else { return (Vec::new(), data) };
    let n = (usize::from(n) % 5).min(rest.len() / 2);
    let (cuts, input) = rest.split_at(2 * n);
    (cuts.chunks(2).map(|c| usize::from(u16::from_le_bytes([c[0], c[1]]))).collect(), input)
}

fuzz_target!(|data: &[u8]| {
    let (cuts, input) = cuts_and_input(data);
    check_request(input, &cuts);
});
