//! Fuzzes the server's request-head parser and body skipper
//! (`examples::http::proto::parse_request`, `BodySkip`) through the invariants in
//! `examples::http::proto::invariants`: no panic, the same answer however the
//! bytes are cut into reads, lengths within the input and the head limit.
//!
//! Input: one byte `n`, then `n % 5` cut positions (two bytes each), then
//! the request bytes.
#![no_main]

use examples::http::proto::invariants::{check_request, cuts_and_input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (cuts, input) = cuts_and_input(data);
    check_request(input, &cuts);
});
