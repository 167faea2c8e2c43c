//! The hot paths in process, for instruction counts (`scripts/perf-guard.sh` runs this under
//! callgrind): the S3 service as the server builds it (`holdfast_api::in_process`: s3s with
//! Holdfast's authentication and access check, the engine, SQLite, blob files in a temporary
//! directory), called with signed requests, without the HTTP edge and without sockets.
//!
//! Every run signs the same `iters` requests (and makes the same bodies); with `dry` it
//! stops there. The instructions of a path per request are therefore
//! `(count(run) - count(dry run)) / iters`: setup, signing and bodies cancel out, what is
//! left is what the server does for a request: SigV4 verification, routing, access check,
//! the operation, the metadata commit or read.

use anyhow::{Context, bail};
use bytes::Bytes;
use holdfast_api::in_process::InProcess;
use holdfast_api::{ApiConfig, Gateway};
use holdfast_bench::HotPath;
use holdfast_blob::LocalBlobStore;
use holdfast_engine::{Engine, EngineConfig};
use holdfast_identity::signer::{self as sigv4, Signer, UNSIGNED_PAYLOAD};
use holdfast_identity::{Directory, RootCredentials, Sealer};
use holdfast_meta::{IdentityStore, MetaStore};
use http::Method;
use std::sync::Arc;

const AK: &str = "HFHOTPATHSACCESSKEY0";
const SK: &str = "hotpaths-secret-key-000000000000000000000";
const HOST: &str = "127.0.0.1:9000";
const BUCKET: &str = "hot";

struct Signed {
    method: Method,
    path: String,
    /// The canonical query string (sorted, encoded), empty for none.
    query: String,
    /// Signed headers besides host, x-amz-content-sha256 and x-amz-date.
    headers: Vec<(&'static str, String)>,
    amz_date: String,
    authorization: String,
    body: Bytes,
}

fn sign(signer: &Signer, method: Method, path: String, body: Bytes, now: i64) -> Signed {
    sign_with(signer, method, path, Vec::new(), body, now)
}

fn sign_with(
    signer: &Signer,
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
    now: i64,
) -> Signed {
    sign_full(signer, method, path, String::new(), headers, body, now)
}

/// A GET with a query (`query` already canonical: sorted names, encoded values).
fn sign_query(signer: &Signer, path: String, query: String, now: i64) -> Signed {
    sign_full(signer, Method::GET, path, query, Vec::new(), Bytes::new(), now)
}

fn sign_full(
    signer: &Signer,
    method: Method,
    path: String,
    query: String,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
    now: i64,
) -> Signed {
    let amz_date = sigv4::amz_date(now);
    let signed: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let sig = signer.sign(method.as_str(), HOST, &path, &query, &signed, UNSIGNED_PAYLOAD, &amz_date);
    Signed { method, path, query, headers, amz_date: sig.amz_date, authorization: sig.authorization, body }
}

async fn call(service: &InProcess, r: Signed) -> anyhow::Result<usize> {
    let len = r.body.len();
    let uri = if r.query.is_empty() { r.path } else { format!("{}?{}", r.path, r.query) };
    let mut req = http::Request::builder()
        .method(r.method)
        .uri(uri)
        .header("host", HOST)
        .header("x-amz-content-sha256", UNSIGNED_PAYLOAD)
        .header("x-amz-date", r.amz_date)
        .header("authorization", r.authorization);
    for (name, value) in r.headers {
        req = req.header(name, value);
    }
    if len > 0 {
        req = req.header("content-length", len);
    }
    let (status, body) = service.call(req.body(r.body)?).await.map_err(anyhow::Error::msg)?;
    if !status.is_success() {
        bail!("HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body.len())
}

fn key(i: u64) -> String {
    format!("/{BUCKET}/k{i:06}")
}

/// Keys prepared for the list path: every page of 1,000 it asks for is full.
const LIST_KEYS: u64 = 2000;

/// ListObjectsV2, one page of 1,000 keys after a start key that moves with `i`.
fn list_page(signer: &Signer, i: u64, now: i64) -> Signed {
    let query = format!("list-type=2&max-keys=1000&start-after=k{:06}", (i * 7) % (LIST_KEYS - 1000));
    sign_query(signer, format!("/{BUCKET}"), query, now)
}

/// The embedded store the hot paths are counted on, as the two boundaries the layers use.
#[cfg(feature = "sqlite")]
fn open_store(dir: &std::path::Path) -> anyhow::Result<(Arc<dyn MetaStore>, Arc<dyn IdentityStore>)> {
    let meta = Arc::new(holdfast_meta::sqlite::SqliteMeta::open(&dir.join("meta.db"))?);
    Ok((Arc::clone(&meta) as Arc<dyn MetaStore>, meta as Arc<dyn IdentityStore>))
}

#[cfg(not(feature = "sqlite"))]
fn open_store(_dir: &std::path::Path) -> anyhow::Result<(Arc<dyn MetaStore>, Arc<dyn IdentityStore>)> {
    Err(crate::config::MetaBackend::Sqlite.compiled_out())
}

/// Runs `iters` requests of `path` (or with `dry` only prepares them); prints a summary line.
pub fn run(path: HotPath, iters: u64, dry: bool) -> anyhow::Result<()> {
    // One thread: the same interleaving every run, so that counts repeat.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(run_async(path, iters, dry))
}

async fn run_async(path: HotPath, iters: u64, dry: bool) -> anyhow::Result<()> {
    let tmp = std::env::temp_dir().join(format!("holdfast-hotpaths-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let result = measure(&tmp, path, iters, dry).await;
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// The S3 service as the server builds it, over `meta` and blob files in `dir`.
async fn service(
    dir: &std::path::Path,
    meta: Arc<dyn MetaStore>,
    identities: Arc<dyn IdentityStore>,
) -> anyhow::Result<InProcess> {
    let blobs = Arc::new(LocalBlobStore::open(dir)?);
    let engine = Arc::new(Engine::new(meta, blobs, EngineConfig::default()).await?);
    let root = RootCredentials { access_key: AK.into(), secret_key: SK.into() };
    let sealer = Sealer::from_key(&[7u8; 32]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let owner = "0".repeat(64);
    let directory = Directory::new(identities, sealer, root, "000000000000".into(), owner);
    let gateway = Gateway::new(engine, Arc::new(directory), ApiConfig::default());
    Ok(InProcess::new(gateway))
}

fn unix_now() -> anyhow::Result<i64> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    Ok(i64::try_from(now)?)
}

async fn measure(dir: &std::path::Path, path: HotPath, iters: u64, dry: bool) -> anyhow::Result<()> {
    let (meta, identities) = open_store(dir)?;
    let service = service(dir, meta, identities).await?;
    let signer = Signer::new(AK, SK, "us-east-1");
    let now = unix_now()?;

    // Setup, the same in every run: the bucket, and for GET the objects it reads.
    call(&service, sign(&signer, Method::PUT, format!("/{BUCKET}"), Bytes::new(), now)).await.context("bucket")?;
    let body = |i: u64| holdfast_bench::payload::bytes(holdfast_bench::payload::seed(0x5eed, i), 4096);
    let prepared = match path {
        HotPath::Get4k | HotPath::Head => iters,
        HotPath::List => LIST_KEYS,
        HotPath::Sigv4 | HotPath::Put4k => 0,
    };
    for i in 0..prepared {
        let bytes = if path == HotPath::List { Bytes::new() } else { body(i) };
        call(&service, sign(&signer, Method::PUT, key(i), bytes, now)).await.context("preparing")?;
    }
    // A few requests of the measured kind first, in both runs: statement caches, pools.
    let warm = match path {
        HotPath::Sigv4 => sign(&signer, Method::HEAD, format!("/{BUCKET}"), Bytes::new(), now),
        HotPath::Put4k => sign(&signer, Method::PUT, "/hot/warm".into(), body(u64::MAX), now),
        HotPath::Get4k => sign(&signer, Method::GET, key(0), Bytes::new(), now),
        HotPath::Head => sign(&signer, Method::HEAD, key(0), Bytes::new(), now),
        HotPath::List => list_page(&signer, 0, now),
    };
    call(&service, warm).await.context("warm-up")?;

    let requests: Vec<Signed> = (0..iters)
        .map(|i| match path {
            HotPath::Sigv4 => sign(&signer, Method::HEAD, format!("/{BUCKET}"), Bytes::new(), now),
            HotPath::Put4k => sign(&signer, Method::PUT, format!("/{BUCKET}/p{i:06}"), body(1 << 32 | i), now),
            HotPath::Get4k => sign(&signer, Method::GET, key(i), Bytes::new(), now),
            HotPath::Head => sign(&signer, Method::HEAD, key(i), Bytes::new(), now),
            HotPath::List => list_page(&signer, i, now),
        })
        .collect();
    let mut received = 0;
    if !dry {
        for r in requests {
            received += call(&service, r).await?;
        }
    }
    println!("hotpath {path:?} iters {iters} dry {dry} received {received}");
    Ok(())
}

#[cfg(all(test, feature = "sqlite"))]
mod bucket_reads;
