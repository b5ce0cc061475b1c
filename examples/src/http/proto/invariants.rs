//! What the HTTP parsers promise for any input, as checks that panic when a
//! promise is broken. The seeded random-input tests (`fuzz_tests.rs`, run
//! by `cargo test`) and the fuzz targets (`fuzz/`) both call them.
//!
//! Each check runs a parser on one input twice, whole and cut into pieces
//! at `cuts` (as reads would deliver it), and checks:
//! - it does not panic;
//! - the outcome does not depend on how the bytes arrived;
//! - lengths stay within what was given and what was declared.

use std::io;

use super::request::{parse_request_full, parse_simple_get};
use super::{
    parse_request, BodyLength, BodySkip, ChunkedDecoder, RequestError, RequestHead, Response, ResponseParser,
    MAX_REQUEST_HEAD,
};

/// `input` cut at `cuts` (taken modulo its length, sorted, deduplicated):
/// non-empty pieces that join up to `input`.
pub fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().filter(|_| !input.is_empty()).map(|c| c % input.len()).collect();
    at.push(0);
    at.push(input.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| &input[w[0]..w[1]]).filter(|p| !p.is_empty()).collect()
}

/// A fuzz input split into the cuts it starts with and the bytes after
/// them: one byte `n`, then `n % 5` cut positions (two bytes each,
/// little-endian; fewer if the input is shorter), then the rest.
pub fn cuts_and_input(data: &[u8]) -> (Vec<usize>, &[u8]) {
    let Some((&n, rest)) = data.split_first() else { return (Vec::new(), data) };
    let n = (usize::from(n) % 5).min(rest.len() / 2);
    let (cuts, input) = rest.split_at(2 * n);
    (cuts.chunks(2).map(|c| usize::from(u16::from_le_bytes([c[0], c[1]]))).collect(), input)
}

type Parsed = Result<Option<(RequestHead, usize)>, RequestError>;

/// [`parse_request`] on `input`, and on each prefix ending at a cut (what
/// a server parses as a head arrives in pieces):
/// - the fast path for simple heads gives exactly what httparse gives;
/// - a complete head lies within the input and within [`MAX_REQUEST_HEAD`];
/// - a prefix shorter than the head needs more bytes; a longer one gives
///   the same head; once a prefix is rejected, every longer one is;
/// - the body after the head is skipped exactly, however it is cut: a
///   `Content-Length` body to the byte, a chunked one to its end, never
///   past the input.
pub fn check_request(input: &[u8], cuts: &[usize]) {
    if let Some(fast) = parse_simple_get(input) {
        assert_eq!(
            parse_request_full(input),
            Ok(Some(fast)),
            "the fast path disagrees with httparse on {:?}",
            String::from_utf8_lossy(input)
        );
    }
    let whole = parse_request(input);
    if let Ok(Some((_, len))) = &whole {
        assert!(*len <= input.len() && *len <= MAX_REQUEST_HEAD, "head of {len} bytes from {} bytes", input.len());
    }
    let mut rejected = false;
    let mut end = 0;
    for piece in pieces(input, cuts) {
        end += piece.len();
        let prefix = parse_request(&input[..end]);
        check_prefix(&whole, &prefix, end, rejected);
        rejected |= prefix.is_err();
    }
    if let Ok(Some((head, len))) = whole {
        check_body_skip(head.body, &input[len..], cuts);
    }
}

/// One prefix's result, given the whole input's.
fn check_prefix(whole: &Parsed, prefix: &Parsed, end: usize, rejected: bool) {
    if rejected {
        assert!(prefix.is_err(), "prefix of {end} bytes accepted after a shorter one was rejected: {prefix:?}");
    }
    match whole {
        Ok(Some((head, len))) if end >= *len => {
            assert_eq!(prefix, &Ok(Some((*head, *len))), "prefix of {end} bytes");
        }
        Ok(_) => assert_eq!(prefix, &Ok(None), "prefix of {end} bytes of a head that needs more"),
        Err(_) => assert!(matches!(prefix, Ok(None) | Err(_)), "prefix of {end} bytes of a rejected head: {prefix:?}"),
    }
}

/// Skips a body framed as `body` from `rest`, whole and in pieces.
fn check_body_skip(body: BodyLength, rest: &[u8], cuts: &[usize]) {
    let mut whole = BodySkip::new(body);
    let whole_used = whole.skip(rest).map_err(|e| e.kind());
    let mut cut = BodySkip::new(body);
    let mut cut_used = Ok(0);
    for piece in pieces(rest, cuts) {
        match cut.skip(piece) {
            Ok(n) => {
                assert!(n <= piece.len(), "skipped {n} of a {}-byte piece", piece.len());
                cut_used = cut_used.map(|u| u + n);
                if n < piece.len() {
                    assert!(cut.is_done(), "skip stopped short of a piece without finishing the body");
                    break;
                }
            }
            Err(e) => {
                cut_used = Err(e.kind());
                break;
            }
        }
    }
    assert_eq!(whole_used, cut_used, "skipping a {body:?} body whole and in pieces");
    if whole_used.is_ok() {
        assert_eq!(whole.is_done(), cut.is_done(), "{body:?}: finished whole but not in pieces, or the reverse");
    }
    match (body, whole_used) {
        (BodyLength::Empty, used) => assert_eq!(used, Ok(0)),
        (BodyLength::Length(n), used) => {
            let expected = usize::try_from(n).unwrap_or(usize::MAX).min(rest.len());
            assert_eq!(used, Ok(expected), "Content-Length {n} body from {} bytes", rest.len());
            assert_eq!(whole.is_done(), rest.len() as u64 >= n);
        }
        (BodyLength::Chunked, Ok(used)) => assert!(used <= rest.len()),
        (BodyLength::Chunked, Err(kind)) => assert_eq!(kind, io::ErrorKind::InvalidData),
    }
}

/// How a response read ended: the response, or the error's kind.
type Outcome = Result<Response, io::ErrorKind>;

/// Feeds `pieces` to a parser, then ends the stream if it is not done.
fn read_response(pieces: &[&[u8]], head_request: bool) -> Outcome {
    let mut p = ResponseParser::new(head_request);
    for piece in pieces {
        if p.feed(piece).map_err(|e| e.kind())? {
            break;
        }
    }
    if !p.is_done() {
        p.finish().map_err(|e| e.kind())?;
    }
    p.into_response().map_err(|e| e.kind())
}

/// [`ResponseParser`] on `input` then end of stream, fed whole and in pieces:
/// - the same outcome either way (the same response, or the same kind of error);
/// - the body is never longer than the input, and is empty for a `HEAD`
///   request, a 1xx, 204 or 304;
/// - a body framed by `Content-Length` has exactly that length.
pub fn check_response(input: &[u8], head_request: bool, cuts: &[usize]) {
    let whole = read_response(&[input], head_request);
    let cut = read_response(&pieces(input, cuts), head_request);
    assert_eq!(whole, cut, "reading a response whole and in pieces");
    let Ok(r) = whole else { return };
    assert!(r.body.len() <= input.len(), "a {}-byte body from {} bytes", r.body.len(), input.len());
    let bodiless = head_request || matches!(r.status, 100..=199 | 204 | 304);
    if bodiless {
        assert!(r.body.is_empty(), "status {} (HEAD: {head_request}) with a body", r.status);
        return;
    }
    let length = r.header("content-length").map(|v| v.split(',').map(str::trim).next().unwrap_or_default());
    if r.header("transfer-encoding").is_none() {
        if let Some(n) = length.and_then(|v| v.parse::<usize>().ok()) {
            assert_eq!(r.body.len(), n, "body framed by Content-Length: {n}");
        }
    }
}

/// Encodes `body` as chunks of the sizes in `sizes` (cycled; 0 counts as 1),
/// with extensions, upper-case hex, bare LFs and trailers where the bits of
/// `style` say; returns the wire bytes.
pub fn encode_chunked(body: &[u8], sizes: &[usize], mut style: u64) -> Vec<u8> {
    // One bit of `style` per question, reused cyclically.
    let mut bit = || {
        style = style.rotate_right(1);
        style & 1 == 1
    };
    let mut wire = Vec::new();
    let eol = |bare: bool| if bare { &b"\n"[..] } else { b"\r\n" };
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let size = sizes.get(i % sizes.len().max(1)).copied().unwrap_or(1).clamp(1, rest.len());
        i += 1;
        let (chunk, after) = rest.split_at(size);
        rest = after;
        let hex = if bit() { format!("{size:X}") } else { format!("{size:x}") };
        wire.extend_from_slice(hex.as_bytes());
        if bit() {
            wire.extend_from_slice(b";name=value");
        }
        wire.extend_from_slice(eol(bit()));
        wire.extend_from_slice(chunk);
        wire.extend_from_slice(eol(bit()));
    }
    wire.extend_from_slice(b"0");
    wire.extend_from_slice(eol(bit()));
    if bit() {
        wire.extend_from_slice(b"Trailer-Field: x");
        wire.extend_from_slice(eol(bit()));
    }
    wire.extend_from_slice(eol(bit()));
    wire
}

/// `body` encoded by [`encode_chunked`] decodes back to itself, however the
/// wire is cut, both by [`ChunkedDecoder`] (which stops exactly at the end,
/// leaving the bytes after it alone) and inside a whole response.
pub fn check_chunked_round_trip(body: &[u8], sizes: &[usize], style: u64, cuts: &[usize]) {
    let wire = encode_chunked(body, sizes, style);
    let after = b"HTTP/1.1 200 OK\r\n";
    let stream = [wire.as_slice(), after].concat();
    let mut dec = ChunkedDecoder::new();
    let mut out = Vec::new();
    let mut used = 0;
    for piece in pieces(&stream, cuts) {
        let n = match dec.decode(piece, Some(&mut out)) {
            Ok(n) => n,
            Err(e) => panic!("decoding our own encoding failed after {used} bytes: {e}"),
        };
        used += n;
        if dec.is_done() {
            break;
        }
        assert_eq!(n, piece.len(), "the decoder stopped inside the body");
    }
    assert!(dec.is_done(), "not done after the whole body");
    assert_eq!(used, wire.len(), "the decoder used bytes past the body");
    assert_eq!(out, body, "the body did not round-trip");

    let response = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".as_slice(), &wire].concat();
    match read_response(&pieces(&response, cuts), false) {
        Ok(r) => assert_eq!(r.body, body, "the body did not round-trip through a response"),
        Err(kind) => panic!("a chunked response of our own encoding failed: {kind:?}"),
    }
}
