//! Graceful shutdown: a request in flight when SIGTERM arrives still gets its answer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::Server;

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish_then_exits_cleanly() {
    let server = Server::start().await;
    let mut in_flight = TcpStream::connect(server.addr).unwrap();
    in_flight
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // Half a request: the server has begun on it but cannot answer yet.
    in_flight
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    // Connections are accepted in the order they were made, so once a later one has been
    // served, the half-sent one is certainly in the server's hands.
    assert_eq!(
        reqwest::get(server.url("/healthz")).await.unwrap().status(),
        200
    );

    server.send_sigterm();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.logs().contains("shutting down") {
        assert!(
            Instant::now() < deadline,
            "no shutdown log:\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    in_flight.write_all(b"Connection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    in_flight.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with(r#"{"status":"ok"}"#), "{response}");

    let (status, logs) = server.wait_for_exit();
    assert!(status.success(), "{status:?}");
    assert!(logs.contains("shutdown complete"), "{logs}");
}
