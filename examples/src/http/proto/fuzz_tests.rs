//! Seeded random-input tests of the HTTP parsers, small enough for every
//! `cargo test`: valid requests and responses, mutated (bits flipped, bytes
//! set, tokens inserted, ranges deleted or repeated, seeds spliced, inputs
//! cut short) or replaced by noise, then fed whole and in pieces through
//! the checks in [`super::invariants`]. The generator is a fixed-seed
//! xorshift64, so every run tries the same inputs and a failure reproduces;
//! it prints the failing input. The fuzz targets in `fuzz/` search further.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use super::invariants::{check_chunked_round_trip, check_request, check_response, pieces};
use super::{MAX_REQUEST_HEAD, MAX_RESPONSE_HEAD};

/// Inputs per parser: enough to hit every mutation on every seed many
/// times, few enough for a debug build to take a second or two.
const ROUNDS: usize = 20_000;
/// One input in this many is also cut at every position.
const EVERY_CUT: usize = 200;

/// xorshift64 (Marsaglia): tiny, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform enough in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// Up to five cut positions in an input of `len` bytes, and one near
    /// each head limit the input reaches (where a read may end).
    fn cuts(&mut self, len: usize) -> Vec<usize> {
        let n = self.below(6);
        let mut cuts: Vec<usize> = (0..n).map(|_| self.below(len.max(1))).collect();
        for limit in [MAX_REQUEST_HEAD, MAX_RESPONSE_HEAD] {
            if len > limit + 8 {
                cuts.push(limit - 4 + self.below(8));
            }
        }
        cuts
    }
}

const REQUESTS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /index.html?q=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4;ext=1\r\nWiki\r\n0\r\nT: v\r\n\r\n",
    b"PUT /x HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\nX: a\tb\r\n\r\n",
    b"GET / HTTP/1.1\nHost: bare-lf\n\n",
    b"OPTIONS * HTTP/1.1\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\nGET / HTTP/1.1\r\n\r\n",
];

const RESPONSES: &[&[u8]] = &[
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nread until the server closes",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
    b"HTTP/1.1 301 Moved\r\nLocation: /y\r\nContent-Length: 3, 3\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nzz",
    b"HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nOKHTTP/1.1 200 OK\r\n",
];

/// Bytes that matter to the parsers, for insertion.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\r\n\r\n",
    b": ",
    b" ",
    b"\t",
    b"\0",
    b",",
    b";",
    b"chunked",
    b"Content-Length: ",
    b"Transfer-Encoding: chunked\r\n",
    b"Connection: close\r\n",
    b"0\r\n\r\n",
    b"ffffffffffffffff",
    b"18446744073709551616",
    b"99999999999999999999",
    b"HTTP/1.1 ",
    b"HTTP/1.0 100 Continue\r\n\r\n",
    b"GET ",
    b"\xff\xfe",
];

/// A seed with one to four mutations.
fn mutate(rng: &mut Rng, seeds: &[&[u8]]) -> Vec<u8> {
    let mut v = seeds[rng.below(seeds.len())].to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(9) {
            0 if at < v.len() => v[at] ^= 1 << rng.below(8),
            1 if at < v.len() => v[at] = rng.next() as u8,
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, token.iter().copied());
            }
            3 => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            4 => {
                let end = (at + 1 + rng.below(32)).min(v.len());
                let copy = v[at.min(end)..end].repeat(1 + rng.below(3));
                v.splice(end..end, copy);
            }
            5 => v.truncate(at),
            6 => {
                let other = seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                v.splice(at..at, other[from..].iter().copied());
            }
            7 => {
                let len = 1 + rng.below(8);
                let noise = rng.bytes(len);
                v.splice(at..at, noise);
            }
            _ => {
                // A run of one byte; now and then a long one, for heads
                // near and over the limits.
                let byte = b"a \r\n:0"[rng.below(6)];
                let len = match rng.below(20) {
                    0 => MAX_RESPONSE_HEAD - 64 + rng.below(128),
                    1 => MAX_REQUEST_HEAD - 64 + rng.below(128),
                    _ => rng.below(64),
                };
                v.splice(at..at, std::iter::repeat_n(byte, len));
            }
        }
    }
    v
}

/// Runs `check`; if it panics, prints the input (so it can become a unit
/// test) and panics again.
fn run(round: usize, input: &[u8], check: impl FnOnce()) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(check)) {
        eprintln!("round {round}: the check failed for {} bytes: {}", input.len(), shown(input));
        resume_unwind(panic);
    }
}

/// `input` as an escaped byte string, long runs of one byte written as
/// `[byte x N]`, so that even a 100 KiB head prints in a few lines.
fn shown(input: &[u8]) -> String {
    let mut out = String::from("b\"");
    let mut i = 0;
    while i < input.len() {
        let run = input[i..].iter().take_while(|&&b| b == input[i]).count();
        let escaped: String = std::ascii::escape_default(input[i]).map(char::from).collect();
        if run > 16 {
            out.push_str(&format!("[{escaped} x {run}]"));
            i += run;
        } else {
            out.push_str(&escaped);
            i += 1;
        }
    }
    out.push('"');
    out
}

/// Mutated and random inputs for `check`; one in [`EVERY_CUT`] is also cut
/// at every position.
fn random_inputs(seed: u64, seeds: &[&[u8]], mut check: impl FnMut(&mut Rng, &[u8], &[usize])) {
    let mut rng = Rng(seed);
    for round in 0..ROUNDS {
        let input = if rng.one_in(10) {
            let len = rng.below(300);
            rng.bytes(len)
        } else {
            mutate(&mut rng, seeds)
        };
        let cuts = rng.cuts(input.len());
        run(round, &input, || check(&mut rng, &input, &cuts));
        if round % EVERY_CUT == 0 && input.len() < 1024 {
            run(round, &input, || (1..input.len()).for_each(|cut| check(&mut rng, &input, &[cut])));
        }
    }
}

#[test]
fn request_parser_on_random_input() {
    random_inputs(0x5EED_0000_0000_0001, REQUESTS, |_, input, cuts| check_request(input, cuts));
}

#[test]
fn response_parser_on_random_input() {
    random_inputs(0x5EED_0000_0000_0002, RESPONSES, |rng, input, cuts| check_response(input, rng.one_in(8), cuts));
}

#[test]
fn chunked_bodies_round_trip() {
    let mut rng = Rng(0x5EED_0000_0000_0003);
    for round in 0..ROUNDS / 10 {
        let len = if rng.one_in(20) { rng.below(70_000) } else { rng.below(300) };
        let body = rng.bytes(len);
        let sizes: Vec<usize> = (0..1 + rng.below(4)).map(|_| 1 + rng.below(64)).collect();
        let style = rng.next();
        let cuts = rng.cuts(len + 64);
        run(round, &body, || check_chunked_round_trip(&body, &sizes, style, &cuts));
    }
}

#[test]
fn pieces_join_up() {
    let input = b"0123456789";
    assert_eq!(pieces(input, &[]), [&input[..]]);
    assert_eq!(pieces(input, &[3, 3, 13, 0]), [&b"012"[..], b"3456789"]);
    assert!(pieces(b"", &[1, 2]).is_empty());
}

/// Heads built to sit on the fast path's edges: every byte value in the
/// target and in header values, framing headers in any case, bad names,
/// bare LF, doubled spaces. Wherever the fast path answers, it must give
/// exactly what httparse gives (`check_request` asserts it).
#[test]
fn fast_path_agrees_with_httparse() {
    /// Mostly `usual`, now and then any byte at all.
    fn byte(rng: &mut Rng, usual: u8) -> u8 {
        if rng.one_in(12) {
            rng.next() as u8
        } else {
            usual
        }
    }
    let mut rng = Rng(0x5EED_0000_0000_0004);
    let mut fast = 0;
    for round in 0..ROUNDS {
        let mut head = Vec::new();
        let method: &[u8] =
            if rng.one_in(4) { [&b"HEAD "[..], b"GET  ", b"get ", b"POST "][rng.below(4)] } else { b"GET " };
        head.extend_from_slice(method);
        head.push(b'/');
        for _ in 0..rng.below(12) {
            let c = b'a' + rng.below(26) as u8;
            head.push(byte(&mut rng, c));
        }
        let version: &[u8] = if rng.one_in(4) {
            [&b" HTTP/1.0\r\n"[..], b" HTTP/1.1\n", b" HTTP/2.0\r\n"][rng.below(3)]
        } else {
            b" HTTP/1.1\r\n"
        };
        head.extend_from_slice(version);
        for _ in 0..rng.below(6) {
            let names: [&[u8]; 7] =
                [b"Host", b"connection", b"CONTENT-LENGTH", b"Transfer-Encoding", b"X-Odd", b"Bad Name", b""];
            head.extend_from_slice(names[if rng.one_in(3) { rng.below(7) } else { 0 }]);
            head.push(b':');
            for _ in 0..rng.below(10) {
                let c = b' ' + rng.below(95) as u8;
                head.push(byte(&mut rng, c));
            }
            head.extend_from_slice(if rng.one_in(10) { b"\n" } else { b"\r\n" });
        }
        head.extend_from_slice(b"\r\n");
        fast += usize::from(super::request::parse_simple_get(&head).is_some());
        let cuts = rng.cuts(head.len());
        run(round, &head, || check_request(&head, &cuts));
    }
    assert!(fast > ROUNDS / 10, "the fast path was taken only {fast} times: the test no longer exercises it");
}
