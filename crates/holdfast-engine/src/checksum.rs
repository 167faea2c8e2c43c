//! Content digests: the MD5 behind ETags, the five S3 checksum algorithms, and how part
//! checksums combine into a multipart object's (full-object CRC or checksum-of-checksums).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crc_fast::CrcAlgorithm;
use holdfast_meta::ChecksumAlgorithm;
use md5::Digest as _;

fn crc_algorithm(a: ChecksumAlgorithm) -> Option<(CrcAlgorithm, usize)> {
    match a {
        ChecksumAlgorithm::Crc32 => Some((CrcAlgorithm::Crc32IsoHdlc, 4)),
        ChecksumAlgorithm::Crc32c => Some((CrcAlgorithm::Crc32Iscsi, 4)),
        ChecksumAlgorithm::Crc64Nvme => Some((CrcAlgorithm::Crc64Nvme, 8)),
        ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => None,
    }
}

/// Length in bytes of a raw digest.
pub fn digest_len(a: ChecksumAlgorithm) -> usize {
    match a {
        ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
        ChecksumAlgorithm::Crc64Nvme => 8,
        ChecksumAlgorithm::Sha1 => 20,
        ChecksumAlgorithm::Sha256 => 32,
    }
}

/// Decodes a base64 checksum value, requiring the algorithm's digest length.
pub fn decode(a: ChecksumAlgorithm, value: &str) -> Option<Vec<u8>> {
    B64.decode(value.trim()).ok().filter(|raw| raw.len() == digest_len(a))
}

pub fn encode(raw: &[u8]) -> String {
    B64.encode(raw)
}

/// One running digest of a chosen algorithm.
pub enum Digest {
    Crc(crc_fast::Digest, usize),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Digest {
    pub fn new(a: ChecksumAlgorithm) -> Self {
        match (a, crc_algorithm(a)) {
            (_, Some((crc, width))) => Self::Crc(crc_fast::Digest::new(crc), width),
            (ChecksumAlgorithm::Sha1, None) => Self::Sha1(sha1::Sha1::new()),
            _ => Self::Sha256(sha2::Sha256::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Crc(d, _) => d.update(data),
            Self::Sha1(d) => d.update(data),
            Self::Sha256(d) => d.update(data),
        }
    }

    pub fn finalize(self) -> Vec<u8> {
        match self {
            Self::Crc(d, width) => d.finalize().to_be_bytes()[8 - width..].to_vec(),
            Self::Sha1(d) => d.finalize().to_vec(),
            Self::Sha256(d) => d.finalize().to_vec(),
        }
    }
}

/// Everything computed over a body in one pass: MD5 (ETag), CRC64NVME (the checksum AWS
/// stores for objects uploaded without one), and the algorithm the client asked for.
pub struct BodyHasher {
    md5: Md5Part,
    /// The MD5, when it was computed elsewhere (a large body's MD5 thread).
    md5_done: Option<[u8; 16]>,
    sums: Sums,
}

/// A running md-5 digest and how many bytes it has taken (a fresh one may be swapped for
/// libcrypto's, see `md5_fast`).
pub(crate) struct Md5Part {
    pub(crate) md5: md5::Md5,
    pub(crate) len: u64,
}

/// The checksums other than MD5 (CRC64NVME and the requested one): hashed on a thread of
/// their own beside the MD5 of a large body.
pub(crate) struct Sums {
    crc64: crc_fast::Digest,
    chosen: Option<(ChecksumAlgorithm, Digest)>,
}

impl Sums {
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.crc64.update(data);
        if let Some((_, d)) = &mut self.chosen {
            d.update(data);
        }
    }
}

pub struct BodyDigests {
    pub md5: [u8; 16],
    pub crc64nvme: Vec<u8>,
    pub chosen: Option<(ChecksumAlgorithm, Vec<u8>)>,
}

impl BodyHasher {
    pub fn new(chosen: Option<ChecksumAlgorithm>) -> Self {
        Self {
            md5: Md5Part { md5: md5::Md5::new(), len: 0 },
            md5_done: None,
            sums: Sums {
                crc64: crc_fast::Digest::new(CrcAlgorithm::Crc64Nvme),
                chosen: chosen.filter(|a| *a != ChecksumAlgorithm::Crc64Nvme).map(|a| (a, Digest::new(a))),
            },
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.md5.md5.update(data);
        self.md5.len += data.len() as u64;
        self.sums.update(data);
    }

    /// Split for hashing on two threads (the MD5 and the other checksums).
    pub(crate) fn into_parts(self) -> (Md5Part, Sums) {
        (self.md5, self.sums)
    }

    /// Back together once both threads are done: `md5` is the finished MD5.
    pub(crate) fn from_parts(md5: [u8; 16], sums: Sums) -> Self {
        Self { md5: Md5Part { md5: md5::Md5::new(), len: 0 }, md5_done: Some(md5), sums }
    }

    pub fn finalize(self, requested: Option<ChecksumAlgorithm>) -> BodyDigests {
        let crc64nvme = self.sums.crc64.finalize().to_be_bytes().to_vec();
        let chosen = match (requested, self.sums.chosen) {
            (_, Some((a, d))) => Some((a, d.finalize())),
            (Some(ChecksumAlgorithm::Crc64Nvme), None) => Some((ChecksumAlgorithm::Crc64Nvme, crc64nvme.clone())),
            _ => None,
        };
        let md5 = self.md5_done.unwrap_or_else(|| self.md5.md5.finalize().into());
        BodyDigests { md5, crc64nvme, chosen }
    }
}

/// Whole-object CRC of a concatenation, from each part's CRC and length.
pub fn combine_crc(a: ChecksumAlgorithm, parts: &[(Vec<u8>, u64)]) -> Option<Vec<u8>> {
    let (crc, width) = crc_algorithm(a)?;
    let mut acc: Option<u64> = None;
    for (raw, len) in parts {
        let mut buf = [0u8; 8];
        buf[8 - width..].copy_from_slice(raw.get(..width)?);
        let v = u64::from_be_bytes(buf);
        acc = Some(match acc {
            None => v,
            Some(prev) => crc_fast::checksum_combine(crc, prev, v, *len),
        });
    }
    let v = acc.unwrap_or_else(|| crc_fast::Digest::new(crc).finalize());
    Some(v.to_be_bytes()[8 - width..].to_vec())
}

/// Checksum of the concatenated part checksums, rendered `<base64>-<parts>`.
pub fn composite(a: ChecksumAlgorithm, parts: &[Vec<u8>]) -> String {
    let mut d = Digest::new(a);
    for p in parts {
        d.update(p);
    }
    format!("{}-{}", encode(&d.finalize()), parts.len())
}

/// The ETag of a multipart object: MD5 of the part MD5s, then `-<parts>`.
pub fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    let mut d = md5::Md5::new();
    for m in part_md5s {
        d.update(m);
    }
    format!("{}-{}", hex::encode(d.finalize()), part_md5s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_shot(a: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut d = Digest::new(a);
        d.update(data);
        encode(&d.finalize())
    }

    #[test]
    fn known_vectors() {
        // Values as AWS documents / computes them for "hello world".
        assert_eq!(one_shot(ChecksumAlgorithm::Crc32, b"hello world"), "DUoRhQ==");
        assert_eq!(one_shot(ChecksumAlgorithm::Crc32c, b"hello world"), "yZRlqg==");
        assert_eq!(one_shot(ChecksumAlgorithm::Sha1, b"hello world"), "Kq5sNclPz7QV2+lfQIuc6R7oRu0=");
        assert_eq!(one_shot(ChecksumAlgorithm::Sha256, b"hello world"), "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=");
    }

    #[test]
    fn crc_combination_equals_crc_of_concatenation() {
        for a in [ChecksumAlgorithm::Crc32, ChecksumAlgorithm::Crc32c, ChecksumAlgorithm::Crc64Nvme] {
            let parts: [&[u8]; 3] = [b"abc", b"defgh", b"i"];
            let raw: Vec<(Vec<u8>, u64)> = parts
                .iter()
                .map(|p| {
                    let mut d = Digest::new(a);
                    d.update(p);
                    (d.finalize(), p.len() as u64)
                })
                .collect();
            let whole = one_shot(a, b"abcdefghi");
            assert_eq!(encode(&combine_crc(a, &raw).unwrap()), whole, "{a:?}");
        }
    }

    #[test]
    fn decode_requires_digest_length() {
        assert!(decode(ChecksumAlgorithm::Crc32, "DUoRhQ==").is_some());
        assert!(decode(ChecksumAlgorithm::Crc32, "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=").is_none());
        assert!(decode(ChecksumAlgorithm::Sha1, "not base64!").is_none());
    }
}
