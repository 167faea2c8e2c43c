//! HTTPS (issue #15) on the real binary, with certificates made here (rcgen): a root CA, an
//! intermediate and a server certificate served as a PEM chain. The AWS SDK and the aws CLI
//! trust only the test's root; plain HTTP to the HTTPS port is refused in words; TLS below 1.2
//! is refused; the connection bounds hold over TLS; a renewed certificate is picked up (file
//! change and SIGHUP) while a client keeps working; virtual-host style with a wildcard
//! certificate. PostgreSQL over TLS with libpq's `sslmode` values.

use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{ObjectLockMode, ObjectLockRetentionMode};
use holdfast_testkit::{Postgres, ROOT_AK, ROOT_SK, Server, ServerOptions, bucket_name};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");
/// The base domain of the virtual-host tests; the wildcard `*.s3.holdfast.test` covers it.
const DOMAIN: &str = "s3.holdfast.test";

/// A root CA and an intermediate signed by it; server certificates are signed by the
/// intermediate, so a server must send its chain for a client that trusts only the root.
struct Pki {
    root_pem: String,
    intermediate: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate: the chain file's text (leaf, then intermediate) and the key's.
struct Leaf {
    chain_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Pki {
    fn new(name: &str) -> Self {
        let ca = |cn: &str| {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.distinguished_name.push(DnType::CommonName, cn);
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            p
        };
        let root = CertifiedIssuer::self_signed(ca(&format!("{name} root")), KeyPair::generate().unwrap()).unwrap();
        let intermediate =
            CertifiedIssuer::signed_by(ca(&format!("{name} intermediate")), KeyPair::generate().unwrap(), &root)
                .unwrap();
        Self { root_pem: root.pem(), intermediate }
    }

    /// A certificate for 127.0.0.1, localhost and `names`.
    fn leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_for(names, true)
    }

    /// A certificate for localhost and `names`, and 127.0.0.1 when `ip`.
    fn leaf_for(&self, names: &[&str], ip: bool) -> Leaf {
        let mut p = CertificateParams::new(
            ["localhost".to_owned()].into_iter().chain(names.iter().map(|n| (*n).to_owned())).collect::<Vec<_>>(),
        )
        .unwrap();
        if ip {
            p.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        }
        p.distinguished_name.push(DnType::CommonName, "holdfast test server");
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.intermediate).unwrap();
        Leaf {
            chain_pem: format!("{}{}", cert.pem(), self.intermediate.pem()),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

/// Writes a file the way renewal tools do: a new file renamed over the old one.
fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

struct TlsFiles {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

fn write_tls_files(pki: &Pki, leaf: &Leaf) -> TlsFiles {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, ca) = (dir.path().join("cert.pem"), dir.path().join("key.pem"), dir.path().join("ca.pem"));
    std::fs::write(&cert, &leaf.chain_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    std::fs::write(&ca, &pki.root_pem).unwrap();
    TlsFiles { _dir: dir, cert, key, ca }
}

/// A server on HTTPS; `top` goes before the `[tls]` section, `tls` inside it.
fn tls_server(pki: &Pki, files: &TlsFiles, top: &str, tls: &str) -> Server {
    Server::start_with(
        BIN,
        ServerOptions {
            config_toml: format!(
                "{top}\n[tls]\ncert = {:?}\nkey = {:?}\n{tls}",
                files.cert.display().to_string(),
                files.key.display().to_string()
            ),
            tls_ca: Some(pki.root_pem.clone().into_bytes()),
            ..Default::default()
        },
    )
}

/// A rustls client that trusts `root_pem`, limited to `versions`.
fn tls_connector(root_pem: &str, versions: &[&'static rustls::SupportedProtocolVersion]) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

type TlsStream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn handshake(addr: &str, root_pem: &str, versions: &[&'static rustls::SupportedProtocolVersion]) -> TlsStream {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    tls_connector(root_pem, versions).connect(name, tcp).await.unwrap()
}

/// The DER of the certificate a fresh handshake is shown.
async fn served_cert(addr: &str, root_pem: &str) -> Vec<u8> {
    let s = handshake(addr, root_pem, &[&rustls::version::TLS13]).await;
    s.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// Reads until the peer closes (EOF or error) or `limit` passes; what came and whether it closed.
async fn read_until_closed(mut s: impl tokio::io::AsyncRead + Unpin, limit: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, false),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn https_serves_the_sdk_through_a_pem_chain_and_refuses_plain_http() {
    let pki = Pki::new("https");
    let files = write_tls_files(&pki, &pki.leaf(&[]));
    let server = tls_server(&pki, &files, "", "");
    assert!(server.endpoint.starts_with("https://127.0.0.1:"), "{}", server.endpoint);

    // The SDK trusts only the root: the chain file's intermediate makes the path.
    let c = server.client();
    let b = bucket_name("tls-sdk");
    c.create_bucket().bucket(&b).object_lock_enabled_for_bucket(true).send().await.unwrap();
    let until = aws_smithy_types_date(3600);
    c.put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"over tls"))
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .send()
        .await
        .unwrap();
    let got = c.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"over tls");
    let r = c.get_object_retention().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(r.retention.unwrap().mode, Some(ObjectLockRetentionMode::Governance));

    // A client that trusts another CA gets no answer from the server at all.
    let other = Pki::new("other");
    let stranger = holdfast_testkit::s3_client_tls(&server.endpoint, ROOT_AK, ROOT_SK, other.root_pem.as_bytes());
    let err = stranger.list_buckets().send().await.unwrap_err();
    assert!(format!("{err:?}").to_lowercase().contains("certificate"), "{err:?}");

    // Plain HTTP to the HTTPS port: a 400 that says what to do, then the socket closes.
    let mut tcp = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    tcp.write_all(b"GET /_holdfast/health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let (answer, closed) = read_until_closed(tcp, Duration::from_secs(10)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
    assert!(answer.contains("This port speaks HTTPS only: use https://"), "{answer}");
    assert!(closed, "the plain connection is closed after the refusal");

    // TLS 1.2 and 1.3 both work; the health page answers over either.
    for v in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut s = handshake(&server.addr, &pki.root_pem, &[v]).await;
        assert_eq!(s.get_ref().1.protocol_version(), Some(v.version));
        s.write_all(b"GET /_holdfast/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let (answer, _) = read_until_closed(s, Duration::from_secs(10)).await;
        assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    }
}

/// A retain-until date `secs` from now, as the SDK takes it.
fn aws_smithy_types_date(secs: u64) -> holdfast_testkit::aws_sdk_s3::primitives::DateTime {
    let at = std::time::SystemTime::now() + Duration::from_secs(secs);
    holdfast_testkit::aws_sdk_s3::primitives::DateTime::from(at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_refuses_tls_below_1_2() {
    let pki = Pki::new("old-tls");
    let files = write_tls_files(&pki, &pki.leaf(&[]));
    let server = tls_server(&pki, &files, "", "");
    // rustls cannot offer TLS 1.0 or 1.1; OpenSSL can (security level 0 lets it try).
    for (flag, name) in [("-tls1_1", "TLSv1.1"), ("-tls1", "TLSv1")] {
        let out = openssl_s_client(&server.addr, &files.ca, &[flag, "-cipher", "DEFAULT@SECLEVEL=0"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("no peer certificate available") && text.contains("Cipher is (NONE)"),
            "{name} handshake succeeded: {text}"
        );
    }
    for (flag, name) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let out = openssl_s_client(&server.addr, &files.ca, &[flag]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("Verify return code: 0 (ok)"), "{name}: {text}");
        assert!(text.contains(name), "{name}: {text}");
    }
}

fn openssl_s_client(addr: &str, ca: &Path, extra: &[&str]) -> std::process::Output {
    let out = std::process::Command::new("openssl")
        .args(["s_client", "-connect", addr, "-servername", "localhost", "-CAfile"])
        .arg(ca)
        .args(extra)
        .stdin(std::process::Stdio::null())
        .output();
    out.unwrap_or_else(|e| panic!("openssl (Debian's openssl package, installed by .ci/run) cannot run: {e}"))
}

/// Sends `bytes` one at a time, one every 300 ms, until the peer closes; when it closed.
async fn trickle(mut s: impl tokio::io::AsyncWrite + Unpin, bytes: &[u8], started: Instant) -> Option<Duration> {
    for b in bytes.iter().cycle().take(100) {
        if s.write_all(&[*b]).await.is_err() || s.flush().await.is_err() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn https_keeps_the_connection_bounds() {
    let pki = Pki::new("bounds");
    let files = write_tls_files(&pki, &pki.leaf(&[]));
    let server = tls_server(&pki, &files, "[limits]\nidle_secs = 2\nheader_secs = 1\n", "");
    let started = Instant::now();
    // A socket that says nothing is closed after idle_secs.
    let silent = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    // A handshake sent a byte at a time is a slow request head: the activity keeps the idle
    // timeout away, the header timeout closes it.
    let slow_hello = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    let mut hello = vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
    hello.resize(600, 0);
    // After a handshake, a request head sent a byte at a time: closed the same way.
    let slow_head = handshake(&server.addr, &pki.root_pem, &[&rustls::version::TLS13]).await;
    let (hello, head, idle) = tokio::join!(
        trickle(slow_hello, &hello, started),
        trickle(
            slow_head,
            b"GET /_holdfast/health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            started
        ),
        async {
            let (_, closed) = read_until_closed(silent, Duration::from_secs(10)).await;
            closed.then(|| started.elapsed())
        },
    );
    let within = |t: Option<Duration>| t.is_some_and(|t| t < Duration::from_secs(5));
    assert!(within(hello), "a trickled handshake is closed: {hello:?}");
    assert!(within(head), "a trickled request head over TLS is closed: {head:?}");
    assert!(within(idle) && idle.unwrap() >= Duration::from_secs(2), "silent socket closed after idle_secs: {idle:?}");
    // The server still answers.
    server.client().list_buckets().send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn https_keeps_the_connection_cap() {
    let pki = Pki::new("cap");
    let files = write_tls_files(&pki, &pki.leaf(&[]));
    let server = tls_server(&pki, &files, "[limits]\nmax_connections = 2\n", "");
    // Two idle TLS connections fill the cap ...
    let first = handshake(&server.addr, &pki.root_pem, &[&rustls::version::TLS13]).await;
    let second = handshake(&server.addr, &pki.root_pem, &[&rustls::version::TLS13]).await;
    // ... a third takes the place of one of them, and is served.
    let mut third = handshake(&server.addr, &pki.root_pem, &[&rustls::version::TLS12]).await;
    third.write_all(b"GET /_holdfast/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let (answer, _) = read_until_closed(third, Duration::from_secs(10)).await;
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    let (a, b) = tokio::join!(
        read_until_closed(first, Duration::from_secs(3)),
        read_until_closed(second, Duration::from_secs(3))
    );
    assert!(a.1 || b.1, "an idle connection was closed to make room");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_renewed_certificate_is_served_while_a_client_keeps_working() {
    let pki = Pki::new("reload");
    let first = pki.leaf(&[]);
    let files = write_tls_files(&pki, &first);
    let server = tls_server(&pki, &files, "", "reload_secs = 0.2\n");
    assert_eq!(served_cert(&server.addr, &pki.root_pem).await, first.der);

    // A client writes and reads all along, on its pooled connections and new ones.
    let c = server.client();
    let b = bucket_name("tls-reload");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let worker = {
        let (c, b, stop, done) = (c.clone(), b.clone(), Arc::clone(&stop), Arc::clone(&done));
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body = format!("round {n}");
                c.put_object().bucket(&b).key("k").body(ByteStream::from(body.clone().into_bytes())).send().await?;
                let got = c.get_object().bucket(&b).key("k").send().await?.body.collect().await?.into_bytes();
                assert_eq!(got.as_ref(), body.as_bytes());
                n += 1;
                done.store(n, Ordering::Relaxed);
            }
            Ok::<u64, Box<dyn std::error::Error + Send + Sync>>(n)
        })
    };

    // Renewal by the files: the certificate first, the key a moment later (a mismatched pair
    // in between keeps the old certificate), both renamed into place.
    let second = pki.leaf(&[]);
    replace_file(&files.cert, &second.chain_pem);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(served_cert(&server.addr, &pki.root_pem).await, first.der, "a half-renewed pair is not served");
    replace_file(&files.key, &second.key_pem);
    wait_for_cert(&server.addr, &pki.root_pem, &second.der).await;

    // A broken renewal (a file that is not PEM) leaves the certificate in use.
    replace_file(&files.cert, "not a certificate\n");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(served_cert(&server.addr, &pki.root_pem).await, second.der);

    let before = done.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let rounds = worker.await.unwrap().expect("the client never failed during the renewals");
    assert!(rounds > before && before > 0, "the client kept working: {before} then {rounds} rounds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate() {
    let pki = Pki::new("sighup");
    let first = pki.leaf(&[]);
    let files = write_tls_files(&pki, &first);
    // The file check is an hour away: only the signal can make the change show.
    let server = tls_server(&pki, &files, "", "reload_secs = 3600\n");
    let second = pki.leaf(&[]);
    replace_file(&files.cert, &second.chain_pem);
    replace_file(&files.key, &second.key_pem);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(served_cert(&server.addr, &pki.root_pem).await, first.der);
    let ok = std::process::Command::new("kill").arg("-HUP").arg(server.pid().to_string()).status().unwrap();
    assert!(ok.success());
    wait_for_cert(&server.addr, &pki.root_pem, &second.der).await;
    server.client().list_buckets().send().await.unwrap();
}

async fn wait_for_cert(addr: &str, root_pem: &str, want: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while served_cert(addr, root_pem).await != want {
        assert!(Instant::now() < deadline, "the renewed certificate was not served within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_certificate_or_key_stops_the_start_with_a_reason() {
    let pki = Pki::new("bad");
    let leaf = pki.leaf(&[]);
    let other = pki.leaf(&[]);
    let files = write_tls_files(&pki, &leaf);
    let data = tempfile::tempdir().unwrap();
    let start = |cert: &Path, key: &Path| {
        std::process::Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path().join("d"))
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .env("HOLDFAST_ROOT_ACCESS_KEY", ROOT_AK)
            .env("HOLDFAST_ROOT_SECRET_KEY", ROOT_SK)
            .output()
            .unwrap()
    };
    let wrong_key = data.path().join("other.key");
    std::fs::write(&wrong_key, &other.key_pem).unwrap();
    let out = start(&files.cert, &wrong_key);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("does not belong to the certificate"), "{err}");
    let out = start(&files.cert, &data.path().join("missing.key"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("cannot read the TLS key"), "{err}");
    let out = start(&files.key, &files.key);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("holds no CERTIFICATE"), "{err}");
    assert!(!data.path().join("d").exists(), "a failed start leaves no data dir");
    // A certificate without a key is refused, not served as plain HTTP.
    let out = std::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&files.cert)
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn virtual_host_style_over_https_with_a_wildcard_certificate() {
    let pki = Pki::new("vhost");
    let wildcard = format!("*.{DOMAIN}");
    let files = write_tls_files(&pki, &pki.leaf(&[DOMAIN, &wildcard]));
    let server = tls_server(&pki, &files, &format!("base_domain = \"{DOMAIN}\"\n"), "");
    let port = server.addr.rsplit(':').next().unwrap();
    // <bucket>.s3.holdfast.test resolves to the server; the wildcard covers every bucket.
    let c = holdfast_testkit::s3_client_tls_vhost(
        &format!("https://{DOMAIN}:{port}"),
        "127.0.0.1".parse().unwrap(),
        ROOT_AK,
        ROOT_SK,
        pki.root_pem.as_bytes(),
    );
    let b = bucket_name("tls-vhost");
    c.create_bucket().bucket(&b).send().await.unwrap();
    c.put_object().bucket(&b).key("a/b.txt").body(ByteStream::from_static(b"vhost")).send().await.unwrap();
    let list = c.list_objects_v2().bucket(&b).send().await.unwrap();
    assert_eq!(list.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), ["a/b.txt"]);
    let got = c.get_object().bucket(&b).key("a/b.txt").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"vhost");
}

/// The aws CLI (installed by .ci/run) with `--ca-bundle`: a lock bucket, an upload under
/// retention, the retention read back and the delete refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_works_over_https_with_a_ca_bundle() {
    let pki = Pki::new("cli");
    let files = write_tls_files(&pki, &pki.leaf(&[]));
    let server = tls_server(&pki, &files, "", "");
    let b = bucket_name("tls-cli");
    let cli = |args: &[&str]| {
        let out = std::process::Command::new("aws")
            .args(["--endpoint-url", &server.endpoint, "--ca-bundle"])
            .arg(&files.ca)
            .args(["--region", "us-east-1", "--output", "json"])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", ROOT_AK)
            .env("AWS_SECRET_ACCESS_KEY", ROOT_SK)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .unwrap_or_else(|e| panic!("the aws CLI (installed by .ci/run) cannot run: {e}"));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = cli(&["s3api", "create-bucket", "--bucket", &b, "--object-lock-enabled-for-bucket"]);
    assert!(ok, "{out}");
    let body = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(body.path(), b"cli over tls").unwrap();
    let until = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    let until = until.format(&time::format_description::well_known::Rfc3339).unwrap();
    let (ok, out) = cli(&[
        "s3api",
        "put-object",
        "--bucket",
        &b,
        "--key",
        "k",
        "--body",
        body.path().to_str().unwrap(),
        "--object-lock-mode",
        "COMPLIANCE",
        "--object-lock-retain-until-date",
        &until,
    ]);
    assert!(ok, "{out}");
    let version: serde_json::Value = serde_json::from_str(&out).unwrap();
    let version = version["VersionId"].as_str().unwrap().to_owned();
    let (ok, out) = cli(&["s3api", "get-object-retention", "--bucket", &b, "--key", "k"]);
    assert!(ok && out.contains("\"Mode\": \"COMPLIANCE\""), "{out}");
    let (ok, out) = cli(&["s3api", "delete-object", "--bucket", &b, "--key", "k", "--version-id", &version]);
    assert!(!ok && out.contains("AccessDenied"), "{out}");
    // botocore sends its uploads over HTTPS as aws-chunked with Transfer-Encoding: chunked
    // and a trailing checksum; `s3 cp` of 9 MiB goes in parts.
    let big: Vec<u8> = (0..9u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(body.path(), &big).unwrap();
    let (ok, out) = cli(&["s3", "cp", body.path().to_str().unwrap(), &format!("s3://{b}/big")]);
    assert!(ok, "{out}");
    let back = tempfile::NamedTempFile::new().unwrap();
    let (ok, out) = cli(&["s3", "cp", &format!("s3://{b}/big"), back.path().to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(std::fs::read(back.path()).unwrap() == big, "the 9 MiB object reads back byte for byte");
    // Without the CA bundle the CLI refuses the certificate.
    let out = std::process::Command::new("aws")
        .args(["--endpoint-url", &server.endpoint, "--region", "us-east-1", "s3api", "list-buckets"])
        .env("AWS_ACCESS_KEY_ID", ROOT_AK)
        .env("AWS_SECRET_ACCESS_KEY", ROOT_SK)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("CERTIFICATE_VERIFY_FAILED"), "{err}");
}

/// PostgreSQL that refuses unencrypted connections: libpq's `sslmode` values decide.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_sslmode_in_the_url_is_honoured() {
    let pki = Pki::new("pg");
    // Named for localhost only: reached as 127.0.0.1 the name does not match.
    let leaf = pki.leaf_for(&[], false);
    let pg = Postgres::start_tls(&leaf.chain_pem, &leaf.key_pem);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.root_pem).unwrap();
    let stranger = dir.path().join("stranger.pem");
    std::fs::write(&stranger, Pki::new("stranger").root_pem).unwrap();
    let db = pg.database("hf_tls");
    let url = |query: &str| format!("{db}?{query}");
    // `holdfast admin report` opens the store as a server does (its pool, its TLS).
    let report = |meta: String| {
        let conf = dir.path().join("c.toml");
        std::fs::write(&conf, format!("[meta]\nbackend = \"postgres\"\n{meta}")).unwrap();
        let out = std::process::Command::new(BIN)
            .args(["admin", "report", "--data-dir"])
            .arg(dir.path())
            .arg("--config")
            .arg(&conf)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, err) = report(format!("url = {:?}\n", url("sslmode=disable")));
    assert!(!ok && err.contains("no encryption"), "sslmode=disable meets hostnossl reject: {err}");
    for mode in ["sslmode=prefer", "sslmode=require"] {
        let (ok, err) = report(format!("url = {:?}\n", url(mode)));
        assert!(ok, "{mode}: {err}");
    }
    let (ok, err) = report(format!("url = {:?}\n", db));
    assert!(ok, "no sslmode is prefer: {err}");
    let ca_arg = ca.display().to_string();
    let (ok, err) = report(format!("url = {:?}\n", url(&format!("sslmode=verify-ca&sslrootcert={ca_arg}"))));
    assert!(ok, "verify-ca with sslrootcert: {err}");
    let (ok, err) = report(format!("url = {:?}\nca_file = {ca_arg:?}\n", url("sslmode=verify-ca")));
    assert!(ok, "verify-ca with [meta] ca_file: {err}");
    let stranger_arg = stranger.display().to_string();
    for mode in ["verify-full", "verify-ca", "require"] {
        let (ok, err) = report(format!("url = {:?}\nca_file = {stranger_arg:?}\n", url(&format!("sslmode={mode}"))));
        assert!(!ok && err.to_lowercase().contains("certificate"), "{mode} with a CA that did not sign: {err}");
    }
    let (ok, err) = report(format!("url = {:?}\n", url("sslmode=verify-full")));
    assert!(!ok && err.contains("sslrootcert"), "verify-full without a CA: {err}");
    // The host name: reached as 127.0.0.1, a certificate for localhost passes verify-ca,
    // not verify-full; reached as localhost it passes both.
    let (ok, err) = report(format!("url = {:?}\nca_file = {ca_arg:?}\n", url("sslmode=verify-full")));
    assert!(!ok && err.contains("not valid for name"), "verify-full, name mismatch: {err}");
    let by_name = db.replace("@127.0.0.1:", "@localhost:");
    let (ok, err) = report(format!("url = {:?}\nca_file = {ca_arg:?}\n", format!("{by_name}?sslmode=verify-full")));
    assert!(ok, "verify-full by name: {err}");
    // A whole server on verify-full: writes and reads through TLS.
    let server = Server::start_with(
        BIN,
        ServerOptions {
            config_toml: format!(
                "[meta]\nbackend = \"postgres\"\nurl = {:?}\norphan_grace_secs = 0\n",
                format!("{by_name}?sslmode=verify-full&sslrootcert={ca_arg}")
            ),
            ..Default::default()
        },
    );
    let c = server.client();
    let b = bucket_name("pg-tls");
    c.create_bucket().bucket(&b).send().await.unwrap();
    c.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"pg tls")).send().await.unwrap();
    let got = c.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"pg tls");
    let ssl = pg
        .psql(
            "hf_tls",
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'holdfast' AND s.ssl",
        )
        .unwrap();
    assert!(ssl.trim().parse::<u32>().unwrap() >= 1, "the server's connections are encrypted: {ssl}");
}
