//! Request bodies: pseudo-random bytes, different for every request (a store that
//! deduplicates would look faster on repeated bytes), generated as they are sent so that a
//! large body is never held in memory.

use crate::client::ReqBody;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::pin::Pin;
use std::task::{Context, Poll};

const CHUNK: usize = 256 << 10;

/// wyrand: fast, and good enough that no two requests share a block.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0xa076_1d64_78bd_642f);
    let t = u128::from(*state) * u128::from(*state ^ 0xe703_7ed1_a0b4_28db);
    ((t >> 64) ^ t) as u64
}

fn fill(state: &mut u64, buf: &mut [u8]) {
    let mut words = buf.chunks_exact_mut(8);
    for w in &mut words {
        w.copy_from_slice(&next(state).to_le_bytes());
    }
    let tail = words.into_remainder();
    let last = next(state).to_le_bytes();
    let n = tail.len();
    tail.copy_from_slice(&last[..n]);
}

/// A seed for request `n` of a run (`run` is random per process).
pub fn seed(run: u64, n: u64) -> u64 {
    run ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d
}

/// `len` unique bytes, in memory (small bodies, or when their MD5 is needed).
pub fn bytes(seed: u64, len: usize) -> Bytes {
    let mut state = seed;
    let mut v = vec![0u8; len];
    fill(&mut state, &mut v);
    Bytes::from(v)
}

/// A streamed body of `len` unique bytes.
pub struct RandomBody {
    state: u64,
    remaining: u64,
}

impl Body for RandomBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = usize::try_from(self.remaining).unwrap_or(CHUNK).min(CHUNK);
        let mut v = vec![0u8; n];
        fill(&mut self.state, &mut v);
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(v)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// A body of `len` unique bytes: in one piece when small, streamed when large.
pub fn body(seed: u64, len: u64) -> ReqBody {
    if len <= CHUNK as u64 {
        crate::client::full(bytes(seed, usize::try_from(len).unwrap_or(0)))
    } else {
        RandomBody { state: seed, remaining: len }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_differ_per_request_and_have_their_length() {
        let a = bytes(seed(1, 0), 4096);
        let b = bytes(seed(1, 1), 4096);
        assert_eq!(a.len(), 4096);
        assert_ne!(a, b);
        assert_ne!(a[..8], a[8..16]);
        assert_eq!(bytes(seed(1, 2), 13).len(), 13);
    }
}
