//! Streaming: a 2 GiB PUT and GET through the AWS SDK (aws-chunked upload with a
//! trailing checksum, as current SDKs send) with the server's peak RSS under 200 MiB.

use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::ChecksumAlgorithm;
use holdfast_testkit::{Server, bucket_name};
use md5::Digest as _;
use std::io::Write;

const SIZE: u64 = 2 << 30;
const RSS_LIMIT_KIB: u64 = 200 * 1024;

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

fn chunk(i: u64) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..(1 << 20))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gib_put_and_get_in_bounded_memory() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let s3 = srv.client();
    let b = bucket_name("stream");
    s3.create_bucket().bucket(&b).send().await.unwrap();

    // The source file is written once; its MD5 is the expected ETag.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two-gib");
    let mut md5 = md5::Md5::new();
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for i in 0..(SIZE >> 20) {
            let c = chunk(i);
            md5.update(&c);
            f.write_all(&c).unwrap();
        }
        f.flush().unwrap();
    }
    let want = hex::encode(md5.finalize());

    let started = std::time::Instant::now();
    let put = s3
        .put_object()
        .bucket(&b)
        .key("big")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .unwrap();
    let put_secs = started.elapsed().as_secs_f64();
    assert_eq!(put.e_tag(), Some(format!("\"{want}\"").as_str()));
    drop(dir);

    let started = std::time::Instant::now();
    let get = s3.get_object().bucket(&b).key("big").send().await.unwrap();
    assert_eq!(get.content_length(), Some(SIZE as i64));
    let mut body = get.body;
    let mut md5 = md5::Md5::new();
    let mut n = 0u64;
    while let Some(bytes) = body.try_next().await.unwrap() {
        n += bytes.len() as u64;
        md5.update(&bytes);
    }
    let get_secs = started.elapsed().as_secs_f64();
    assert_eq!(n, SIZE);
    assert_eq!(hex::encode(md5.finalize()), want);

    let peak = peak_rss_kib(srv.pid());
    eprintln!(
        "streaming: 2 GiB PUT {put_secs:.1} s ({:.0} MiB/s), GET {get_secs:.1} s ({:.0} MiB/s), server peak RSS {:.1} MiB",
        2048.0 / put_secs,
        2048.0 / get_secs,
        peak as f64 / 1024.0
    );
    assert!(peak < RSS_LIMIT_KIB, "peak RSS {peak} KiB over {RSS_LIMIT_KIB} KiB");
}
