//! A stand-in for kube-apiserver's TLS front door, for tests: it serves the apiserver
//! certificate, requires a client certificate signed by the cluster CA (rustls' WebPKI client
//! verifier, as kube-apiserver's --client-ca-file), answers `GET /version`, and records the CN
//! and O of every client that completed a handshake.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use x509_parser::prelude::{FromDer, X509Certificate};

/// A client identity as the API server's x509 authenticator reads it: user = CN, groups = O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

pub struct FakeApiServer {
    seen: Arc<Mutex<Vec<Identity>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeApiServer {
    /// Listens on 127.0.0.1:`port` (0 for any free port) with `pki/apiserver.{crt,key}` and
    /// trusts client certificates from `pki/ca.crt`.
    pub fn start(pki: &Path, port: u16) -> FakeApiServer {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(pki.join("apiserver.crt"))
                .expect("apiserver.crt")
                .collect::<Result<_, _>>()
                .expect("apiserver.crt parses");
        let key = PrivateKeyDer::from_pem_file(pki.join("apiserver.key")).expect("apiserver.key");
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(pki.join("ca.crt")).expect("ca.crt") {
            roots.add(ca.expect("ca.crt parses")).expect("CA is usable");
        }
        let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
            .build()
            .expect("client verifier");
        let config = Arc::new(
            ServerConfig::builder()
                .with_client_cert_verifier(verifier)
                .with_single_cert(certs, key)
                .expect("server config"),
        );
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let seen = seen.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            // Handshake failures (an untrusted client) are expected in tests.
                            let _ = serve(stream, config.clone(), &seen);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        FakeApiServer {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Identities of the clients that completed a handshake so far.
    pub fn seen(&self) -> Vec<Identity> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    stream: TcpStream,
    config: Arc<ServerConfig>,
    seen: &Mutex<Vec<Identity>>,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let conn = ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = StreamOwned::new(conn, stream);
    // Read the request line and headers; completing them completes the handshake.
    let mut reader = BufReader::new(&mut tls);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
    }
    let identity = tls
        .conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|der| {
            X509Certificate::from_der(der)
                .ok()
                .map(|(_, c)| identity_of(&c))
        });
    if let Some(id) = identity {
        seen.lock().unwrap().push(id);
    }
    let body = if request_line.starts_with("GET /version") {
        r#"{"major":"1","minor":"31","gitVersion":"v1.31.0","gitCommit":"0000000000000000000000000000000000000000","gitTreeState":"clean","buildDate":"2024-08-13T00:00:00Z","goVersion":"go1.22.5","compiler":"gc","platform":"linux/amd64"}"#
    } else {
        r#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":404}"#
    };
    let status = if request_line.starts_with("GET /version") {
        "200 OK"
    } else {
        "404 Not Found"
    };
    write!(
        tls,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    tls.flush()?;
    tls.conn.send_close_notify();
    let _ = tls.flush();
    Ok(())
}

fn identity_of(cert: &X509Certificate<'_>) -> Identity {
    let subject = cert.subject();
    Identity {
        user: subject
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .unwrap_or_default()
            .to_string(),
        groups: subject
            .iter_organization()
            .filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect(),
    }
}
