//! `/api/v1/admin/users`: admins manage accounts; nobody else may.

use serde_json::{json, Value};

use crate::realm::{Realm, PASSWORD};

async fn admin_realm() -> (Realm, String) {
    let realm = Realm::start(&[]).await;
    realm.add_user("root@example.org", &["admin"]);
    let (token, _) = realm.tokens("root@example.org").await;
    (realm, token)
}

async fn send(
    realm: &Realm,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = realm
        .client
        .request(method.parse().unwrap(), realm.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = if status == 204 {
        Value::Null
    } else {
        response.json().await.unwrap()
    };
    (status, body)
}

#[tokio::test]
async fn non_admins_get_403_on_every_admin_route_and_strangers_401() {
    let (realm, _) = admin_realm().await;
    realm.add_user("doc@example.org", &["physician", "director", "auditor"]);
    let (doc, _) = realm.tokens("doc@example.org").await;
    let someone = uuid::Uuid::new_v4();
    let routes = [
        (
            "POST",
            "/api/v1/admin/users".to_owned(),
            Some(json!({"email": "x@example.org", "roles": ["nurse"]})),
        ),
        ("GET", "/api/v1/admin/users".to_owned(), None),
        ("GET", format!("/api/v1/admin/users/{someone}"), None),
        (
            "PATCH",
            format!("/api/v1/admin/users/{someone}"),
            Some(json!({"status": "disabled"})),
        ),
        ("DELETE", format!("/api/v1/admin/users/{someone}"), None),
    ];
    for (method, path, body) in routes {
        let (status, problem) = send(&realm, method, &path, &doc, body.clone()).await;
        assert_eq!(status, 403, "{method} {path}: {problem}");
        let anonymous = realm
            .client
            .request(method.parse().unwrap(), realm.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401, "{method} {path}");
    }
}

#[tokio::test]
async fn an_admin_creates_reads_updates_lists_and_deletes_users() {
    let (realm, root) = admin_realm().await;
    let (status, created) = send(&realm, "POST", "/api/v1/admin/users", &root, Some(json!({
        "email": "Nurse.Nia@Example.org", "display_name": "Nia", "roles": ["nurse"], "password": PASSWORD,
    }))).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["email"], "nurse.nia@example.org");
    let id = created["id"].as_str().unwrap().to_owned();
    let (nia, _) = realm.tokens("nurse.nia@example.org").await;

    let (status, read) = send(
        &realm,
        "GET",
        &format!("/api/v1/admin/users/{id}"),
        &root,
        None,
    )
    .await;
    assert_eq!((status, &read["roles"]), (200, &json!(["nurse"])));

    let (status, updated) = send(
        &realm,
        "PATCH",
        &format!("/api/v1/admin/users/{id}"),
        &root,
        Some(json!({"roles": ["nurse", "physician"], "display_name": null})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["roles"], json!(["nurse", "physician"]));
    assert!(updated["display_name"].is_null());

    // Disabling ends her sessions at once and stops her signing in.
    let (status, _) = send(
        &realm,
        "PATCH",
        &format!("/api/v1/admin/users/{id}"),
        &root,
        Some(json!({"status": "disabled"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(realm.me_status(&nia).await, 401);
    assert_eq!(
        realm
            .login("nurse.nia@example.org", PASSWORD)
            .await
            .status(),
        401
    );

    let (status, page) = send(
        &realm,
        "GET",
        "/api/v1/admin/users?status=disabled",
        &root,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["users"].as_array().unwrap().len(), 1);

    let (status, _) = send(
        &realm,
        "DELETE",
        &format!("/api/v1/admin/users/{id}"),
        &root,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(
        &realm,
        "GET",
        &format!("/api/v1/admin/users/{id}"),
        &root,
        None,
    )
    .await;
    assert_eq!(status, 404);

    let events = realm.audit_events().await;
    let actions: Vec<_> = events.iter().map(|e| e.action.code()).collect();
    for action in [
        "user.create",
        "user.role_change",
        "user.update",
        "user.delete",
    ] {
        assert!(
            actions.contains(&action),
            "{action} not audited: {actions:?}"
        );
    }
}

#[tokio::test]
async fn user_listing_filters_and_pages() {
    let (realm, root) = admin_realm().await;
    for (email, role) in [
        ("a@example.org", "nurse"),
        ("b@example.org", "nurse"),
        ("c@example.org", "nurse"),
        ("d@example.org", "physician"),
    ] {
        let (status, body) = send(
            &realm,
            "POST",
            "/api/v1/admin/users",
            &root,
            Some(json!({"email": email, "roles": [role]})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, first) = send(
        &realm,
        "GET",
        "/api/v1/admin/users?role=nurse&limit=2",
        &root,
        None,
    )
    .await;
    let emails = |page: &Value| {
        page["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(emails(&first), ["a@example.org", "b@example.org"]);
    let next = first["next"].as_str().unwrap();
    let (_, second) = send(
        &realm,
        "GET",
        &format!("/api/v1/admin/users?role=nurse&limit=2&after={next}"),
        &root,
        None,
    )
    .await;
    assert_eq!(emails(&second), ["c@example.org"]);
    assert!(second["next"].is_null());
    for bad in [
        "role=surgeon",
        "limit=0",
        "limit=1000",
        "status=sleeping",
        "after=nope",
        "colour=red",
    ] {
        let (status, _) = send(
            &realm,
            "GET",
            &format!("/api/v1/admin/users?{bad}"),
            &root,
            None,
        )
        .await;
        assert!(status == 422 || status == 400, "{bad}: {status}");
    }
}

#[tokio::test]
async fn bad_user_input_gets_specific_errors_and_never_echoes_the_password() {
    let (realm, root) = admin_realm().await;
    let weak = "aaaaaaaaaaaaaaaa";
    let cases = [
        (json!({"email": "not-an-email", "roles": ["nurse"]}), 422),
        (json!({"email": "x@example.org", "roles": ["surgeon"]}), 422),
        (json!({"email": "x@example.org", "roles": []}), 422),
        (
            json!({"email": "x@example.org", "roles": ["nurse"], "password": weak}),
            422,
        ),
        (
            json!({"email": "x@example.org", "roles": ["nurse"], "password": "short-1!"}),
            422,
        ),
        (
            json!({"email": "x@example.org", "roles": ["nurse"], "password": "Password1234"}),
            422,
        ),
        (
            json!({"email": "x@example.org", "roles": ["nurse"], "patient_id": "P-1"}),
            422,
        ),
        (
            json!({"email": "x@example.org", "roles": ["nurse"], "practitioner_id": "not/an id"}),
            422,
        ),
        (
            json!({"email": "root@example.org", "roles": ["nurse"]}),
            409,
        ),
    ];
    for (body, status) in cases {
        let (got, problem) = send(
            &realm,
            "POST",
            "/api/v1/admin/users",
            &root,
            Some(body.clone()),
        )
        .await;
        assert_eq!(got, status, "{body}: {problem}");
        assert!(!problem.to_string().contains(weak), "{problem}");
    }
    let (_, list) = send(&realm, "GET", "/api/v1/admin/users", &root, None).await;
    assert_eq!(
        list["users"].as_array().unwrap().len(),
        1,
        "nothing was half-created"
    );
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_disabled_demoted_or_deleted() {
    let (realm, root) = admin_realm().await;
    let (_, me) = send(&realm, "GET", "/api/v1/me", &root, None).await;
    let id = me["id"].as_str().unwrap();
    let path = format!("/api/v1/admin/users/{id}");
    for change in [json!({"status": "disabled"}), json!({"roles": ["auditor"]})] {
        let (status, problem) = send(&realm, "PATCH", &path, &root, Some(change)).await;
        assert_eq!(status, 409, "{problem}");
    }
    assert_eq!(send(&realm, "DELETE", &path, &root, None).await.0, 409);
    assert_eq!(realm.me_status(&root).await, 200);
}
