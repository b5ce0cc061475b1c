//! Fuzzes the client's response parser (`examples::http::proto::ResponseParser`,
//! with `ChunkedDecoder`) through the invariants in
//! `examples::http::proto::invariants`: no panic, the same outcome however the
//! bytes are cut into reads, a body no longer than the input and exactly
//! as long as a `Content-Length` says; and a body encoded as chunks (in
//! sizes and styles the input picks) decodes back to itself.
//!
//! Input: a flags byte (bit 0: the request was `HEAD`; bit 1: round-trip
//! mode), one byte `n` and `n % 5` cut positions (two bytes each), then the
//! response bytes, or in round-trip mode 8 style bytes, 3 chunk sizes and
//! the body.
#![no_main]

use examples::http::proto::invariants::{check_chunked_round_trip, check_response, cuts_and_input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let (cuts, input) = cuts_and_input(rest);
    if flags & 2 == 0 {
        check_response(input, flags & 1 == 1, &cuts);
        return;
    }
    if input.len() < 11 {
        return;
    }
    let (style, rest) = input.split_at(8);
    let (sizes, body) = rest.split_at(3);
    let style = u64::from_le_bytes(style.try_into().unwrap_or_default());
    let sizes: Vec<usize> = sizes.iter().map(|&s| usize::from(s)).collect();
    check_chunked_round_trip(body, &sizes, style, &cuts);
});
