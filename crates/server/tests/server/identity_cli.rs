//! `medvault user …` at the command line.

use crate::realm::{Realm, PASSWORD};

#[tokio::test]
async fn the_first_start_says_how_to_create_an_admin() {
    let realm = Realm::start(&[]).await;
    assert!(realm
        .server()
        .logs()
        .contains("medvault user add --email you@example.org --role admin --password-stdin"));
}

#[tokio::test]
async fn users_are_added_listed_repassworded_and_disabled_from_the_cli() {
    let realm = Realm::start(&[]).await;
    let (ok, stdout, stderr) = realm.run_cli(
        &[
            "user",
            "add",
            "--email",
            "doc@example.org",
            "--role",
            "physician",
            "--role",
            "director",
            "--name",
            "Dr Who",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("created user") && stdout.contains("physician, director")
            || stdout.contains("director, physician"),
        "{stdout}"
    );
    assert_eq!(
        realm.login("doc@example.org", PASSWORD).await.status(),
        200,
        "the trailing newline is not part of the password"
    );

    let (ok, stdout, _) = realm.run_cli(&["user", "list"], "");
    assert!(
        ok && stdout.contains("doc@example.org") && stdout.contains("active"),
        "{stdout}"
    );

    let new_password = "Another-Long-Passphrase-88";
    let (ok, _, stderr) = realm.run_cli(
        &[
            "user",
            "set-password",
            "--email",
            "doc@example.org",
            "--password-stdin",
        ],
        new_password,
    );
    assert!(ok, "{stderr}");
    assert_eq!(realm.login("doc@example.org", PASSWORD).await.status(), 401);
    assert_eq!(
        realm.login("doc@example.org", new_password).await.status(),
        200
    );

    let (ok, stdout, _) = realm.run_cli(&["user", "disable", "--email", "doc@example.org"], "");
    assert!(ok && stdout.contains("disabled"), "{stdout}");
    assert_eq!(
        realm.login("doc@example.org", new_password).await.status(),
        401
    );
}

#[tokio::test]
async fn cli_refusals_are_one_clear_line_without_the_password() {
    let realm = Realm::start(&[]).await;
    realm.add_user("doc@example.org", &["physician"]);
    let cases: [(&[&str], &str, &str); 4] = [
        (
            &[
                "user",
                "add",
                "--email",
                "x@example.org",
                "--role",
                "surgeon",
            ],
            "",
            "unknown role",
        ),
        (
            &[
                "user",
                "add",
                "--email",
                "x@example.org",
                "--role",
                "nurse",
                "--password-stdin",
            ],
            "qwertyuiop12",
            "password",
        ),
        (
            &[
                "user",
                "add",
                "--email",
                "doc@example.org",
                "--role",
                "nurse",
            ],
            "",
            "already exists",
        ),
        (
            &["user", "disable", "--email", "nobody@example.org"],
            "",
            "no such user",
        ),
    ];
    for (args, stdin, expected) in cases {
        let (ok, _, stderr) = realm.run_cli(args, stdin);
        assert!(!ok, "{args:?} succeeded");
        let errors: Vec<_> = stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(errors[0].contains(expected), "{args:?}: {stderr}");
        if !stdin.is_empty() {
            assert!(!stderr.contains(stdin), "{stderr}");
        }
    }
}
