//! Bad input gets a specific 4xx in problem+json, with the request id, never a 5xx.

use crate::support::{problem, Server};

#[tokio::test]
async fn unknown_route_is_a_404_problem() {
    let server = Server::start().await;
    let response = reqwest::get(server.url("/no/such/route")).await.unwrap();
    assert_eq!(response.status(), 404);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = problem(response).await;
    assert_eq!(body["status"], 404);
    assert_eq!(body["title"], "Not Found");
    assert_eq!(
        body["request_id"],
        request_id.as_str(),
        "body and header carry one request id"
    );
}

#[tokio::test]
async fn wrong_method_is_a_405_problem_naming_the_allowed_ones() {
    let server = Server::start().await;
    let response = reqwest::Client::new()
        .delete(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.headers()["allow"]
        .to_str()
        .unwrap()
        .contains("GET"));
    assert_eq!(problem(response).await["status"], 405);
}

#[tokio::test]
async fn oversized_body_is_a_413_problem() {
    let temp = tempfile::tempdir().unwrap();
    let command = crate::support::medvault(temp.path());
    let server = Server::start_with(command, &["--max-body-bytes", "1024"]).await;
    let response = reqwest::Client::new()
        .post(server.url("/healthz"))
        .header("content-type", "application/json")
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(problem(response).await["status"], 413);
}

#[tokio::test]
async fn security_headers_are_on_successes_and_errors() {
    let server = Server::start().await;
    for path in ["/healthz", "/missing"] {
        let response = reqwest::get(server.url(path)).await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(
            headers.get("strict-transport-security").is_none(),
            "no HSTS over plain HTTP"
        );
    }
}

#[tokio::test]
async fn a_plain_caller_request_id_is_kept_and_an_injected_one_replaced() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let kept = client
        .get(server.url("/healthz"))
        .header("x-request-id", "gateway-42")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "gateway-42");

    let injected = "x\",\"level\":\"ERROR";
    let replaced = client
        .get(server.url("/healthz"))
        .header("x-request-id", injected)
        .send()
        .await
        .unwrap();
    let id = replaced.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(id, injected);
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    assert!(
        !server.logs().contains("\\\"level\\\":\\\"ERROR"),
        "caller text reached the logs"
    );
}
