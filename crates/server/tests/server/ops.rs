use serde_json::Value;

use crate::support::Server;

#[tokio::test]
async fn healthz_says_ok() {
    let server = Server::start().await;
    let response = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );
}

#[tokio::test]
async fn readyz_reports_the_database_it_checked() {
    let server = Server::start().await;
    let response = reqwest::get(server.url("/readyz")).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "ready", "database": "sqlite"})
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_not_raw_path() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        client.get(server.url("/healthz")).send().await.unwrap();
    }
    client
        .get(server.url("/fhir/Patient/Smith?name=Jane"))
        .send()
        .await
        .unwrap();
    client
        .get(server.url("/records/Smith/Jane"))
        .send()
        .await
        .unwrap();

    let response = client.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            r#"medvault_http_requests_total{method="GET",route="/healthz",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/fhir/{type}/{id}",status="401"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("medvault_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        !text.contains("Smith") && !text.contains("Jane"),
        "raw paths leaked: {text}"
    );
    assert!(text.ends_with("# EOF\n"));
}

#[tokio::test]
async fn openapi_is_3_1_and_every_documented_route_is_served() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let spec: Value = crate::support::get_json(&client, server.url("/openapi.json")).await;
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3.1"),
        "{spec}"
    );

    let paths = spec["paths"].as_object().expect("paths");
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    for (path, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            let response = client
                .request(method.to_uppercase().parse().unwrap(), server.url(path))
                .send()
                .await
                .unwrap();
            assert!(
                response.status() != 404 && response.status() != 405,
                "{method} {path} is documented but answers {}",
                response.status()
            );
        }
    }
}
