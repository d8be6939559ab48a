#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn heads_parse_into_requests() {
    let req = parse_head(b"POST /http-bind HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-A: 1\r\nX-A: 2\r\n\r\n").unwrap();
    assert_eq!(req.method(), Method::POST);
    assert_eq!(req.uri().path(), "/http-bind");
    assert_eq!(req.version(), Version::HTTP_11);
    assert_eq!(req.headers().get_all("x-a").iter().count(), 2);
    assert_eq!(body_length(req.headers()), Ok(5));
    assert_eq!(parse_head(b"GET / HTTP/2.0\r\n\r\n").err(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap().version(), Version::HTTP_10);
    assert_eq!(parse_head(b"G@T / HTTP/1.1\r\n\r\n").err(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(parse_head(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n").err(), Some(StatusCode::BAD_REQUEST));
    let many: String = (0..MAX_HEADERS + 1).map(|i| format!("X-{i}: v\r\n")).collect();
    let head = format!("GET / HTTP/1.1\r\n{many}\r\n");
    assert_eq!(parse_head(head.as_bytes()).err(), Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE));
}

#[test]
fn body_framing() {
    let h = |pairs: &[(&str, &str)]| {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        m
    };
    assert_eq!(body_length(&h(&[])), Ok(0));
    assert_eq!(body_length(&h(&[("content-length", "12")])), Ok(12));
    assert_eq!(body_length(&h(&[("content-length", "12"), ("content-length", "12")])), Ok(12));
    assert_eq!(body_length(&h(&[("content-length", "12"), ("content-length", "13")])), Err(StatusCode::BAD_REQUEST));
    assert_eq!(body_length(&h(&[("content-length", "-1")])), Err(StatusCode::BAD_REQUEST));
    assert_eq!(body_length(&h(&[("content-length", "+1")])), Err(StatusCode::BAD_REQUEST));
    assert_eq!(body_length(&h(&[("transfer-encoding", "chunked")])), Err(StatusCode::LENGTH_REQUIRED));
    assert!(wants_close(Version::HTTP_10, &h(&[])));
    assert!(!wants_close(Version::HTTP_10, &h(&[("connection", "Keep-Alive")])));
    assert!(!wants_close(Version::HTTP_11, &h(&[])));
    assert!(wants_close(Version::HTTP_11, &h(&[("connection", "keep-alive, Close")])));
    assert!(expects_continue(&h(&[("expect", "100-Continue")])));
}

fn app() -> Router {
    use axum::routing::post;
    Router::new()
        .route("/echo", post(|body: String| async move { body }))
        .route("/close", post(|| async { ([(header::CONNECTION, "close")], "bye") }))
}

fn limits() -> Limits {
    Limits { request: Duration::from_secs(5), idle: Duration::from_secs(5), max_body: 64 }
}

async fn exchange(input: &[u8]) -> String {
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let task = tokio::spawn(serve(server, app(), peer, limits()));
    client.write_all(input).await.unwrap();
    client.shutdown().await.unwrap();
    let mut out = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut client, &mut out).await.unwrap();
    task.await.unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn keep_alive_pipelining_and_errors() {
    // Two pipelined requests on one connection, answered in order.
    let out = exchange(b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPOST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nde").await;
    let first = out.find("\r\n\r\nabc").unwrap();
    let second = out.find("\r\n\r\nde").unwrap();
    assert!(first < second, "{out}");
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
    assert!(out.contains("content-length: 3\r\n"), "{out}");
    // A response that closes the connection ends it: the next request is not answered.
    let out = exchange(b"POST /close HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 1\r\n\r\nx").await;
    assert_eq!(out.matches("HTTP/1.1").count(), 1, "{out}");
    assert!(out.contains("connection: close\r\n"), "{out}");
    // HTTP/1.0 closes after one response.
    let out = exchange(b"POST /echo HTTP/1.0\r\nContent-Length: 1\r\n\r\nxPOST /echo HTTP/1.0\r\n\r\n").await;
    assert_eq!(out.matches("HTTP/1.1").count(), 1, "{out}");
    // Refusals close the connection.
    assert!(exchange(b"POST /echo HTTP/1.1\r\nContent-Length: 65\r\n\r\n").await.starts_with("HTTP/1.1 413 "));
    assert!(exchange(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").await.starts_with("HTTP/1.1 411 "));
    assert!(exchange(b"this is not http\r\n\r\n").await.starts_with("HTTP/1.1 400 "));
    let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD + 10));
    assert!(exchange(huge.as_bytes()).await.starts_with("HTTP/1.1 431 "));
    // A body cut short by the client's close gets no answer.
    assert_eq!(exchange(b"POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc").await, "");
    // 100-continue: not needed when the body came with the head...
    let out = exchange(b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok").await;
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    // ...sent when the client waits for it.
    let (mut client, server) = tokio::io::duplex(1024);
    let task = tokio::spawn(serve(server, app(), "127.0.0.1:1".parse().unwrap(), limits()));
    client.write_all(b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n").await.unwrap();
    let mut interim = [0u8; 25];
    tokio::io::AsyncReadExt::read_exact(&mut client, &mut interim).await.unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    client.write_all(b"ok").await.unwrap();
    client.shutdown().await.unwrap();
    let mut out = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut client, &mut out).await.unwrap();
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200 OK"));
    task.await.unwrap();
    // HEAD: the length but no body.
    let out = exchange(b"HEAD /missing HTTP/1.1\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 404 ") || out.starts_with("HTTP/1.1 405 "), "{out}");
}

#[tokio::test]
async fn slow_requests_time_out() {
    let limits = Limits { request: Duration::from_millis(300), idle: Duration::from_millis(300), max_body: 64 };
    let (mut client, server) = tokio::io::duplex(1024);
    let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let task = tokio::spawn(serve(server, app(), peer, limits));
    client.write_all(b"POST /echo HTTP/1.1\r\nContent-Le").await.unwrap();
    let mut out = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut client, &mut out).await.unwrap();
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 408 "));
    task.await.unwrap();
    // A connection that never sends anything is closed without an answer.
    let (mut client, server) = tokio::io::duplex(1024);
    let task = tokio::spawn(serve(server, app(), peer, limits));
    let mut out = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut client, &mut out).await.unwrap();
    assert!(out.is_empty());
    task.await.unwrap();
}

#[tokio::test]
async fn a_client_that_leaves_cancels_its_request() {
    struct Dropped(Option<tokio::sync::oneshot::Sender<()>>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    let app = Router::new().route(
        "/hold",
        axum::routing::post(move || {
            let guard = Dropped(tx.lock().unwrap().take());
            async move {
                tokio::time::sleep(Duration::from_secs(60)).await;
                drop(guard);
                "late"
            }
        }),
    );
    let (mut client, server) = tokio::io::duplex(1024);
    let task = tokio::spawn(serve(server, app, "127.0.0.1:1".parse().unwrap(), limits()));
    client.write_all(b"POST /hold HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(client);
    tokio::time::timeout(Duration::from_secs(5), rx).await.expect("handler dropped").expect("signal");
    task.await.unwrap();
}
