//! MD5 through OpenSSL's libcrypto, for the bodies hashed on a thread of their own (large
//! PUTs and parts): its assembly runs ~1.2× the pure-Rust md-5 crate on this machine (898 vs
//! 742 MiB per CPU-second, docs/performance.md "The large-write pipeline"), and one upload's
//! MD5 is serial, so it bounds a single client's PUT rate. Small bodies keep md-5: creating an
//! OpenSSL context costs more than hashing 4 KiB.

use openssl::hash::{Hasher, MessageDigest};
use std::io;

pub(crate) struct FastMd5(Hasher);

fn io_err(e: openssl::error::ErrorStack) -> io::Error {
    io::Error::other(format!("MD5 (libcrypto): {e}"))
}

impl FastMd5 {
    pub(crate) fn new() -> io::Result<Self> {
        Hasher::new(MessageDigest::md5()).map(Self).map_err(io_err)
    }

    pub(crate) fn update(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.update(data).map_err(io_err)
    }

    pub(crate) fn finish(mut self) -> io::Result<[u8; 16]> {
        let d = self.0.finish().map_err(io_err)?;
        <[u8; 16]>::try_from(&d[..]).map_err(|_| io::Error::other("MD5 (libcrypto): not 16 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest as _;

    fn fast(pieces: &[&[u8]]) -> [u8; 16] {
        let mut h = FastMd5::new().unwrap();
        for p in pieces {
            h.update(p).unwrap();
        }
        h.finish().unwrap()
    }

    #[test]
    fn rfc1321_vectors() {
        for (input, hex_md5) in [
            (&b""[..], "d41d8cd98f00b204e9800998ecf8427e"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ] {
            assert_eq!(hex::encode(fast(&[input])), hex_md5);
        }
    }

    /// The same digest as md-5 (the crate every other MD5 in the server uses) over bodies cut
    /// at awkward places: ETags must not depend on which implementation hashed the body.
    #[test]
    fn agrees_with_md5_crate_whatever_the_cut() {
        let body: Vec<u8> = (0..(3 << 20) + 77u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for cut in [1usize, 63, 64, 65, 4096, 1 << 20, (1 << 20) + 1] {
            let pieces: Vec<&[u8]> = body.chunks(cut).collect();
            assert_eq!(fast(&pieces), <[u8; 16]>::from(md5::Md5::digest(&body)), "cut {cut}");
        }
    }
}
