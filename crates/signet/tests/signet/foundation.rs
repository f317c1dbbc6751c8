//! The foundation: discovery documents, keys, the admin CLI, bootstrap,
//! health and configuration errors.

use std::time::Duration;

use serde_json::{Value, json};
use signet_identity::{AccountStatus, Role};
use signet_store::testing::TestDb;

use crate::support::{BIN, kid_of, serve_in, start, verify};

signet_store::store_tests!(
    discovery_documents_match_field_by_field,
    jwks_verifies_tokens_across_a_cli_rotation,
    cli_manages_identity_while_the_server_runs,
    cli_refusals_are_one_line_and_write_nothing,
    health_and_readiness,
);

async fn discovery_documents_match_field_by_field(db: TestDb) {
    // A configured public URL, given with a trailing slash and upper case.
    let server = start(db, Some("HTTPS://Signet.Example.com/")).await;
    let p = "https://signet.example.com";
    let expected_as = json!({
        "issuer": p,
        "authorization_endpoint": format!("{p}/oauth/authorize"),
        "token_endpoint": format!("{p}/oauth/token"),
        "registration_endpoint": format!("{p}/oauth/register"),
        "revocation_endpoint": format!("{p}/oauth/revoke"),
        "introspection_endpoint": format!("{p}/oauth/introspect"),
        "jwks_uri": format!("{p}/oauth/jwks.json"),
        "scopes_supported": ["envelopes:read", "envelopes:write", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": true,
    });
    let expected_prm = json!({
        "resource": format!("{p}/mcp"),
        "authorization_servers": [p],
        "scopes_supported": ["envelopes:read", "envelopes:write"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Signet",
    });
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let response = server.get(path).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["cache-control"], "public, max-age=3600");
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            expected_as,
            "{path}"
        );
    }
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        assert_eq!(server.get_json(path).await, expected_prm, "{path}");
    }
    // The issuer is byte-identical to the PRM's authorization server.
    let text = server
        .get("/.well-known/oauth-authorization-server")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#""issuer":"https://signet.example.com""#),
        "{text}"
    );

    // Browser clients may read them cross-origin, without credentials.
    let response = server
        .http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            server.base
        ))
        .header("Origin", "http://localhost:6274")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(
        response
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    let preflight = server
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/oauth/jwks.json", server.base),
        )
        .header("Origin", "http://localhost:6274")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "mcp-protocol-version")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(
        preflight.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
    assert_eq!(
        preflight.headers()["access-control-allow-headers"],
        "mcp-protocol-version"
    );

    let missing = server.get("/.well-known/nothing-here").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["x-content-type-options"], "nosniff");
    assert_eq!(missing.json::<Value>().await.unwrap()["error"], "not_found");
    server.running.stop().await.unwrap();
}

async fn jwks_verifies_tokens_across_a_cli_rotation(db: TestDb) {
    let server = start(db, None).await;
    let claims =
        json!({ "sub": "usr_test", "aud": "http://aud.example/mcp", "exp": 4_000_000_000_i64 });
    let keys = &server.running.state.keys;
    let old_token = keys.sign("at+jwt", &claims).await.unwrap();

    let jwks = server.get("/oauth/jwks.json").await;
    assert_eq!(jwks.headers()["content-type"], "application/jwk-set+json");
    assert_eq!(jwks.headers()["cache-control"], "public, max-age=300");
    let jwks: Value = jwks.json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(verify(&old_token, &jwks).unwrap()["sub"], "usr_test");

    // Rotate from another process while the server runs.
    let rotated = server.cli(&["keys", "rotate", "--json"], None).await.json();
    let new_kid = rotated["id"].as_str().unwrap().to_owned();
    assert_eq!(rotated["kid"], new_kid.as_str());
    assert_eq!(rotated["status"], "active");
    assert_ne!(new_kid, kid_of(&old_token));

    let jwks = server.get_json("/oauth/jwks.json").await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [new_kid.as_str(), kid_of(&old_token).as_str()]);
    assert!(
        verify(&old_token, &jwks).is_ok(),
        "the old key's tokens still verify"
    );
    // The running server signs with the new key at once.
    let new_token = keys.sign("at+jwt", &claims).await.unwrap();
    assert_eq!(kid_of(&new_token), new_kid);
    assert!(verify(&new_token, &jwks).is_ok());

    let listed = server.cli(&["keys", "list", "--json"], None).await.json();
    assert_eq!(listed[0]["status"], "active");
    assert_eq!(listed[1]["status"], "retiring");
    assert!(listed[1]["published_until"].is_string());
    let text = server.cli(&["keys", "list"], None).await.ok();
    assert!(text.starts_with("KID "), "{text}");
    assert!(text.contains("retiring (published until "), "{text}");
    server.running.stop().await.unwrap();
}

async fn cli_manages_identity_while_the_server_runs(db: TestDb) {
    let server = start(db, None).await;
    let identity = &server.running.state.identity;

    let user_id = server
        .cli(
            &[
                "user",
                "add",
                "--email",
                "Ada@Example.com",
                "--name",
                "Ada",
                "--password-stdin",
            ],
            Some("correct horse battery\n"),
        )
        .await
        .ok();
    let user_id = user_id.trim();
    assert!(user_id.starts_with("usr_"), "{user_id}");
    let signed_in = identity
        .verify_password(
            "ada@example.com",
            signet_identity::Password::attempt("correct horse battery"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(signed_in.id, user_id);

    // A generated password is shown once, on stderr, leaving stdout to the id.
    let generated = server
        .cli(&["user", "add", "--email", "bob@example.com"], None)
        .await;
    assert_eq!(generated.code, 0);
    assert!(generated.stdout.trim().starts_with("usr_"));
    assert!(
        generated
            .stderr
            .contains("Generated password for bob@example.com (shown once): ")
    );

    let org_id = server
        .cli(
            &["org", "add", "--name", "Acme", "--owner", "ada@example.com"],
            None,
        )
        .await
        .ok();
    let org_id = org_id.trim().to_owned();
    assert!(org_id.starts_with("org_"));
    let added = server
        .cli(
            &[
                "org",
                "add-member",
                "--org",
                "Acme",
                "--email",
                "bob@example.com",
                "--role",
                "admin",
                "--json",
            ],
            None,
        )
        .await
        .json();
    assert_eq!(
        added,
        json!({ "org_id": org_id, "id": added["id"], "email": "bob@example.com", "role": "admin", "change": "added" })
    );
    let account = server
        .cli(&["account", "link", "--org", &org_id, "--json"], None)
        .await
        .json();
    assert!(account["id"].as_str().unwrap().starts_with("acc_"));
    assert_eq!(account["status"], "active");
    assert_eq!(account["live_mode"], false);

    // The server sees every change at once.
    let orgs = identity.organizations_of_user(user_id).await.unwrap();
    assert_eq!(orgs.len(), 1);
    assert_eq!(
        (orgs[0].id.as_str(), orgs[0].role, orgs[0].account_status),
        (org_id.as_str(), Role::Owner, Some(AccountStatus::Active))
    );

    let suspended = server
        .cli(
            &[
                "account",
                "set-status",
                "--org",
                "Acme",
                "--status",
                "suspended",
            ],
            None,
        )
        .await
        .ok();
    assert!(
        suspended.contains("suspended, live mode off"),
        "{suspended}"
    );
    assert_eq!(
        identity.account_of(&org_id).await.unwrap().unwrap().status,
        AccountStatus::Suspended
    );
    let live = server
        .cli(
            &["account", "set-live-mode", "--org", "Acme", "on", "--json"],
            None,
        )
        .await
        .json();
    assert_eq!(
        (live["status"].as_str(), live["live_mode"].as_bool()),
        (Some("suspended"), Some(true))
    );

    let members = server
        .cli(&["org", "members", "--org", "Acme", "--json"], None)
        .await
        .json();
    assert_eq!(members.as_array().unwrap().len(), 2);
    assert_eq!(members[0]["email"], "Ada@Example.com");
    assert_eq!(members[0]["role"], "owner");
    let removed = server
        .cli(
            &[
                "org",
                "remove-member",
                "--org",
                "Acme",
                "--email",
                "bob@example.com",
            ],
            None,
        )
        .await
        .ok();
    assert_eq!(removed.trim(), "Removed bob@example.com (admin) from Acme");

    let migrated = server.cli(&["migrate"], None).await.ok();
    assert!(migrated.trim().ends_with("is up to date"), "{migrated}");
    let users = server.cli(&["user", "list", "--json"], None).await.json();
    // The bootstrap owner plus the two added here.
    assert_eq!(users.as_array().unwrap().len(), 3);
    let orgs = server.cli(&["org", "list"], None).await.ok();
    assert!(orgs.lines().next().unwrap().starts_with("ID "), "{orgs}");
    assert!(
        orgs.contains("Acme") && orgs.contains("suspended, live mode on"),
        "{orgs}"
    );
    server.running.stop().await.unwrap();
}

async fn cli_refusals_are_one_line_and_write_nothing(db: TestDb) {
    let server = start(db, None).await;
    server
        .cli(
            &[
                "user",
                "add",
                "--email",
                "ada@example.com",
                "--password-stdin",
            ],
            Some("correct horse\n"),
        )
        .await
        .ok();
    server
        .cli(
            &["org", "add", "--name", "Acme", "--owner", "ada@example.com"],
            None,
        )
        .await
        .ok();
    let before = server.count_rows("audit_events").await;

    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (
            vec!["user", "add", "--email", "ADA@example.com"],
            None,
            "error: a user with email ADA@example.com already exists",
        ),
        (
            vec![
                "user",
                "add",
                "--email",
                "eve@example.com",
                "--password-stdin",
            ],
            Some("\n"),
            "error: the password is empty",
        ),
        (
            vec![
                "user",
                "add",
                "--email",
                "eve@example.com",
                "--password-stdin",
            ],
            Some(""),
            "error: the password is empty",
        ),
        (
            vec!["user", "add", "--email", "not-an-email"],
            None,
            "error: invalid email address \"not-an-email\"",
        ),
        (
            vec![
                "org",
                "add-member",
                "--org",
                "Nope",
                "--email",
                "ada@example.com",
            ],
            None,
            "error: no organization with id or name \"Nope\"",
        ),
        (
            vec![
                "org",
                "add-member",
                "--org",
                "Acme",
                "--email",
                "ada@example.com",
                "--role",
                "king",
            ],
            None,
            "error: invalid role \"king\": expected owner, admin or member",
        ),
        (
            vec![
                "org",
                "add-member",
                "--org",
                "Acme",
                "--email",
                "ghost@example.com",
            ],
            None,
            "error: no user with email ghost@example.com",
        ),
        (
            vec![
                "org",
                "remove-member",
                "--org",
                "Acme",
                "--email",
                "ada@example.com",
            ],
            None,
            "is the last owner of organization",
        ),
        (
            vec![
                "account",
                "set-status",
                "--org",
                "Acme",
                "--status",
                "paused",
            ],
            None,
            "error: invalid account status \"paused\": expected active, suspended or blocked",
        ),
        (
            vec!["account", "set-live-mode", "--org", "Acme", "maybe"],
            None,
            "error: invalid live mode \"maybe\": expected on or off",
        ),
        (
            vec!["org", "add", "--name", "   "],
            None,
            "error: invalid organization name: it is empty",
        ),
    ];
    for (args, stdin, expected) in cases {
        let out = server.cli(&args, stdin).await;
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", out.stdout);
        assert_eq!(
            out.stderr.lines().count(),
            1,
            "{args:?}: one line, got {:?}",
            out.stderr
        );
        assert!(out.stderr.contains(expected), "{args:?}: {:?}", out.stderr);
    }
    let org_id = server
        .running
        .state
        .identity
        .resolve_organization("Acme")
        .await
        .unwrap()
        .id;
    let out = server
        .cli(
            &[
                "account",
                "set-status",
                "--org",
                "Acme",
                "--status",
                "blocked",
            ],
            None,
        )
        .await;
    assert_eq!(
        out.stderr.trim(),
        format!(
            "error: organization {org_id} is not linked to an account: run `signet account link --org {org_id}`"
        )
    );
    assert_eq!(
        server.count_rows("audit_events").await,
        before,
        "refusals wrote nothing"
    );
    server.running.stop().await.unwrap();
}

async fn health_and_readiness(db: TestDb) {
    let server = start(db, None).await;
    assert_eq!(server.get_json("/healthz").await, json!({ "status": "ok" }));
    assert_eq!(
        server.get_json("/readyz").await,
        json!({ "status": "ready" })
    );
    // With the database gone, the process is alive but not ready.
    server.running.state.store.close().await;
    assert_eq!(server.get_json("/healthz").await, json!({ "status": "ok" }));
    let response = server.get("/readyz").await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.json::<Value>().await.unwrap()["status"],
        "unavailable"
    );
    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn serve_bootstraps_once_and_stops_gracefully_on_sigterm() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut served = serve_in(&data_dir, &["--log-format", "json"]).await;
    let (banner, address) = (served.banner.clone(), served.address.clone());
    let p = format!("http://{address}");
    assert!(
        banner.contains(&format!("MCP endpoint:  {p}/mcp")),
        "{banner}"
    );
    assert!(
        banner.contains(&format!("Sign in at:    {p}/login")),
        "{banner}"
    );
    assert!(
        banner.contains("Email:         admin@localhost"),
        "{banner}"
    );
    let password = banner
        .lines()
        .find_map(|l| l.strip_prefix("  Password:      "))
        .expect("password line")
        .to_owned();
    let file = data_dir.join("initial-admin-password");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{password}\n")
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777,
        0o700
    );

    let body: Value = reqwest::get(format!("{p}/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["issuer"], p.as_str());

    assert!(served.sigterm());
    let status = tokio::time::timeout(Duration::from_secs(30), served.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "graceful exit: {status:?}");
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut served.child.stderr.take().unwrap(), &mut stderr)
        .await
        .unwrap();
    let logs: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("JSON log line: {l}")))
        .collect();
    assert!(
        logs.iter()
            .any(|l| l["message"] == "SIGTERM received; shutting down"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&password),
        "the password never reaches the logs"
    );

    // A later start does not bootstrap again and leaves the file alone.
    let mut served = serve_in(&data_dir, &[]).await;
    let banner = &served.banner;
    assert!(!banner.contains("First start"), "{banner}");
    assert!(!banner.contains("Password:"), "{banner}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{password}\n")
    );
    assert!(served.sigterm());
    assert!(served.child.wait().await.unwrap().success());
}

#[tokio::test]
async fn bad_settings_stop_start_up_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("signet.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nport = 8080\n").unwrap();
    type Case<'a> = (Vec<String>, Vec<(&'a str, &'a str)>, String);
    let cases: Vec<Case> = vec![
        (vec!["--listen".into(), "nowhere".into()], vec![], "error: invalid listen address \"nowhere\" (from flag --listen): expected IP:PORT, such as 127.0.0.1:8080 or [::]:8080".into()),
        (vec![], vec![("SIGNET_PUBLIC_URL", "https://x.example/mcp")], "error: invalid public URL \"https://x.example/mcp\" (from environment variable SIGNET_PUBLIC_URL): must not have a path, query or fragment (Signet serves from the root of its host)".into()),
        (vec!["--config".into(), config.display().to_string()], vec![], format!("error: invalid config file {}: unknown field `port`, expected one of", config.display())),
    ];
    for (args, env, expected) in cases {
        let output = tokio::process::Command::new(BIN)
            .arg("serve")
            .args(&args)
            .arg("--data-dir")
            .arg(dir.path())
            .envs(env)
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with(&expected), "{stderr}");
    }
}
