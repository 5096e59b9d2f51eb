//! Slow, idle and too many clients against `bank_server::serve_with`, with real sockets on
//! loopback. Every loop is bounded; the limits are set low so that each test takes seconds.

use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use bank_server::{serve_with, ConnectionLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
/// Far above every deadline the tests expect, so that a slow machine does not fail them.
const PATIENCE: Duration = Duration::from_secs(8);

fn app() -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "late"
            }),
        )
}

struct Server {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(max_connections: usize) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = ConnectionLimits {
        header_timeout: HEADER_TIMEOUT,
        max_connections,
        shutdown_grace: Duration::from_secs(1),
    };
    let task = tokio::spawn(serve_with(listener, app(), limits, async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop: Some(stop),
        task,
    }
}

/// Reads until the server closes the connection; false if it is still open after `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    false
}

async fn health(addr: std::net::SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_headers_is_disconnected() {
    let server = start(64).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    let started = Instant::now();
    let mut closed = false;
    // One header line every 300 ms, for at most PATIENCE: the server must hang up first.
    for i in 0..(PATIENCE.as_millis() / 300) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if s.write_all(format!("X-{i}: y\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await {
            // A 408 or a close: either way the server gave up on us.
            let _ = n;
            closed = true;
            break;
        }
    }
    assert!(closed, "still open after {:?}", started.elapsed());
    assert!(health(server.addr).await.contains("200 OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_the_header_timeout() {
    let server = start(64).await;
    // Connected, nothing sent.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    // One request, then idle on a kept-alive connection.
    let mut kept = TcpStream::connect(server.addr).await.unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("200 OK"));
    assert!(closed_within(&mut silent, PATIENCE).await, "silent client");
    assert!(closed_within(&mut kept, PATIENCE).await, "idle keep-alive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_and_health_answers_once_idle_ones_are_dropped() {
    let cap = 8;
    let server = start(cap).await;
    let mut idle = Vec::new();
    for _ in 0..cap * 3 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Every slot is taken by a silent client; /health gets one as they time out.
    let started = Instant::now();
    let answer = tokio::time::timeout(PATIENCE * 2, health(server.addr))
        .await
        .expect("health answered");
    assert!(answer.contains("200 OK"), "{answer}");
    assert!(
        started.elapsed() >= HEADER_TIMEOUT / 2,
        "the cap held: answered after {:?}",
        started.elapsed()
    );
    for s in &mut idle {
        assert!(closed_within(s, PATIENCE * 2).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_what_is_left_after_the_grace_period() {
    let mut server = start(64).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        open.push(s);
    }
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let _ = idle.read(&mut buf).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let _ = server.stop.take().unwrap().send(());
    tokio::time::timeout(PATIENCE, &mut server.task)
        .await
        .expect("the server stopped")
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    eprintln!("shutdown with 3 requests in flight and 1 idle client took {took:?}");
    for s in &mut open {
        assert!(closed_within(s, Duration::from_secs(2)).await);
    }
    assert!(closed_within(&mut idle, Duration::from_secs(2)).await);
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "no longer listening"
    );
}
