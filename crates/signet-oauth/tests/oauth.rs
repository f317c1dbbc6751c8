//! The authorization server against real databases: SQLite always,
//! PostgreSQL when `SIGNET_TEST_POSTGRES_URL` is set (and always under CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use signet_oauth::{KeyEncryptionKey, KeyError, KeyRing, KeyStatus};
use signet_store::audit::Actor;
use signet_store::testing::TestDb;
use signet_store::{ManualClock, UnixTime, sqlx};

signet_store::store_tests!(
    first_start_creates_exactly_one_active_key,
    tokens_verify_against_the_published_jwks,
    rotation_keeps_the_old_key_published_until_its_tokens_expire,
    another_process_rotating_is_seen_without_restart,
    keys_are_sealed_at_rest_with_the_key_encryption_key,
    introspection_hides_other_clients_tokens_from_all_but_introspection_clients,
);

const LIFETIME: Duration = Duration::from_secs(3600);
const KEK: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Claims {
    sub: String,
    exp: i64,
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(UnixTime::from_secs(1_795_000_000)))
}

fn ring(db: &TestDb, clock: &Arc<ManualClock>, kek: Option<&str>) -> KeyRing {
    KeyRing::new(
        db.store.clone(),
        clock.clone(),
        kek.map(|k| KeyEncryptionKey::parse(k).unwrap()),
        LIFETIME,
    )
}

fn claims() -> Claims {
    // Far in the future: these tests move an injected clock, not the wall
    // clock jsonwebtoken checks `exp` against.
    Claims {
        sub: "usr_x".into(),
        exp: 4_000_000_000,
    }
}

/// Verifies a token the way an outside resource server would: with the
/// published JWKS only.
fn verify_with_jwks(token: &str, jwks: &serde_json::Value) -> Result<Claims, String> {
    let set: JwkSet = serde_json::from_value(jwks.clone()).map_err(|e| e.to_string())?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = set
        .find(&kid)
        .ok_or_else(|| format!("kid {kid} not published"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

fn kids(jwks: &serde_json::Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn first_start_creates_exactly_one_active_key(db: TestDb) {
    let clock = clock();
    let (a, b) = (ring(&db, &clock, None), ring(&db, &clock, None));
    // Two instances starting at once on one database.
    let (ra, rb) = tokio::join!(a.ensure_active_key(), b.ensure_active_key());
    let created: Vec<String> = [ra.unwrap(), rb.unwrap()].into_iter().flatten().collect();
    assert_eq!(created.len(), 1, "exactly one instance creates the key");
    assert_eq!(a.ensure_active_key().await.unwrap(), None);
    let listed = a.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].kid, created[0]);
    assert_eq!(listed[0].status, KeyStatus::Active);
    assert_eq!(listed[0].algorithm, "EdDSA");
    assert!(!listed[0].encrypted);
    assert_eq!(a.check_active_key().await.unwrap(), created[0]);
}

async fn tokens_verify_against_the_published_jwks(db: TestDb) {
    let clock = clock();
    let keys = ring(&db, &clock, None);
    let err = keys.sign("at+jwt", &claims()).await.unwrap_err();
    assert!(matches!(err, KeyError::NoActiveKey));
    let kid = keys.ensure_active_key().await.unwrap().unwrap();
    let token = keys.sign("at+jwt", &claims()).await.unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.kid.as_deref(), Some(kid.as_str()));

    let jwks = keys.jwks().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    let jwk = &jwks["keys"][0];
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(jwk["alg"], "EdDSA");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["kid"], kid.as_str());
    assert_eq!(jwk["x"].as_str().unwrap().len(), 43, "32 bytes, base64url");
    assert!(jwk.get("d").is_none(), "no private part is published");
    assert_eq!(verify_with_jwks(&token, &jwks).unwrap(), claims());

    // The same key through the resource server's path.
    let key = keys.verifying_key(&kid).await.unwrap().unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.required_spec_claims.clear();
    assert!(jsonwebtoken::decode::<Claims>(&token, &key, &validation).is_ok());
    // A tampered token does not verify.
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged_payload =
        data_encoding::BASE64URL_NOPAD.encode(br#"{"sub":"usr_admin","exp":4000000000}"#);
    parts[1] = &forged_payload;
    assert!(verify_with_jwks(&parts.join("."), &jwks).is_err());
}

async fn rotation_keeps_the_old_key_published_until_its_tokens_expire(db: TestDb) {
    let clock = clock();
    let keys = ring(&db, &clock, None);
    let old = keys.ensure_active_key().await.unwrap().unwrap();
    let old_token = keys.sign("at+jwt", &claims()).await.unwrap();

    clock.advance(Duration::from_secs(10));
    let new = keys.rotate(&Actor::Cli).await.unwrap();
    assert_ne!(new.kid, old);
    let new_token = keys.sign("at+jwt", &claims()).await.unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&new_token)
            .unwrap()
            .kid
            .unwrap(),
        new.kid
    );

    let jwks = keys.jwks().await.unwrap();
    assert_eq!(kids(&jwks), [new.kid.clone(), old.clone()]);
    assert!(verify_with_jwks(&old_token, &jwks).is_ok());
    assert!(verify_with_jwks(&new_token, &jwks).is_ok());
    let listed = keys.list().await.unwrap();
    assert_eq!(listed[1].status, KeyStatus::Retiring);
    assert_eq!(
        listed[1].published_until,
        Some(UnixTime::from_secs(1_795_000_010 + 3600 + 300))
    );

    // One second before the end of its overlap it is still published...
    clock.advance(LIFETIME + Duration::from_secs(299));
    assert_eq!(kids(&keys.jwks().await.unwrap()).len(), 2);
    assert!(keys.verifying_key(&old).await.unwrap().is_some());
    // ...and then it is gone.
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        kids(&keys.jwks().await.unwrap()),
        std::slice::from_ref(&new.kid)
    );
    assert!(keys.verifying_key(&old).await.unwrap().is_none());
    assert_eq!(keys.list().await.unwrap()[1].status, KeyStatus::Retired);
}

async fn another_process_rotating_is_seen_without_restart(db: TestDb) {
    let clock = clock();
    let server = ring(&db, &clock, None);
    let first = server.ensure_active_key().await.unwrap().unwrap();
    let token = server.sign("at+jwt", &claims()).await.unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().kid.unwrap(),
        first
    );

    // `signet keys rotate` in another process: its own pool, its own ring.
    let cli_store = signet_store::Store::connect(&db.url).await.unwrap();
    let cli = KeyRing::new(cli_store, clock.clone(), None, LIFETIME);
    let second = cli.rotate(&Actor::Cli).await.unwrap();

    let token = server.sign("at+jwt", &claims()).await.unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().kid.unwrap(),
        second.kid
    );
    assert_eq!(kids(&server.jwks().await.unwrap()), [second.kid, first]);
}

async fn keys_are_sealed_at_rest_with_the_key_encryption_key(db: TestDb) {
    let clock = clock();
    let sealed = ring(&db, &clock, Some(KEK));
    let kid = sealed.ensure_active_key().await.unwrap().unwrap();
    let (encryption, private_key): (String, Vec<u8>) = sqlx::query_as(
        "SELECT private_key_encryption, private_key FROM signing_keys WHERE kid = $1",
    )
    .bind(&kid)
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert_eq!(encryption, "aes-256-gcm");
    assert_eq!(private_key.len(), 12 + 48 + 16, "nonce, PKCS#8 v1, tag");
    assert!(sealed.list().await.unwrap()[0].encrypted);
    let token = sealed.sign("at+jwt", &claims()).await.unwrap();
    assert!(verify_with_jwks(&token, &sealed.jwks().await.unwrap()).is_ok());

    let no_kek = ring(&db, &clock, None);
    let err = no_kek.check_active_key().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("signing key {kid} is encrypted but SIGNET_KEY_ENCRYPTION_KEY is not set")
    );
    let wrong = ring(&db, &clock, Some(&KEK.replace("00", "ff")));
    let err = wrong.sign("at+jwt", &claims()).await.unwrap_err();
    assert!(matches!(err, KeyError::Undecryptable { .. }), "{err}");
    // The public half is published whatever the KEK.
    assert_eq!(kids(&no_kek.jwks().await.unwrap()), [kid]);
}

/// Behind the endpoint's own refusal, `Grants::introspect` itself answers
/// `active: false` about another client's token to anyone but an
/// introspection client.
async fn introspection_hides_other_clients_tokens_from_all_but_introspection_clients(db: TestDb) {
    use serde_json::json;
    use signet_oauth::clients::Clients;
    use signet_oauth::grants::{Approval, Grants, TokenSettings};
    use signet_store::random;

    let clock = clock();
    let keys = ring(&db, &clock, None);
    keys.ensure_active_key().await.unwrap();
    let issuer = signet_oauth::Issuer::parse("https://signet.example").unwrap();
    let grants = Grants::new(
        db.store.clone(),
        clock.clone(),
        keys,
        issuer,
        TokenSettings {
            access_token_ttl: LIFETIME,
            refresh_token_ttl: Duration::from_secs(86_400),
            refresh_grace: Duration::ZERO,
        },
    );
    let identity = signet_identity::Identity::new(db.store.clone(), clock.clone());
    let user = identity
        .create_user(&Actor::Cli, "ada@example.com", None, None)
        .await
        .unwrap();
    let org = identity
        .create_organization(&Actor::Cli, "Acme", Some("ada@example.com"))
        .await
        .unwrap();
    let clients = Clients::new(db.store.clone(), clock.clone());
    let callback = "http://127.0.0.1:7777/callback";
    let client = |registered: serde_json::Value| {
        let clients = &clients;
        async move {
            let id = registered["client_id"].as_str().unwrap().to_owned();
            clients.get(&id).await.unwrap().unwrap()
        }
    };
    let owner = client(
        clients
            .register(
                &json!({ "redirect_uris": [callback], "token_endpoint_auth_method": "none" }),
                None,
            )
            .await
            .unwrap(),
    )
    .await;
    let other = client(
        clients
            .register(&json!({ "redirect_uris": [callback] }), None)
            .await
            .unwrap(),
    )
    .await;
    let resource_server = client(
        clients
            .add_manual("Resource server", &[], false, true)
            .await
            .unwrap(),
    )
    .await;
    assert!(!owner.may_introspect() && !other.may_introspect());
    assert!(resource_server.may_introspect());

    let verifier = format!("{}{}", random::token().unwrap(), "-._~");
    let scopes = ["envelopes:read".to_owned()];
    let code = grants
        .approve(Approval {
            user_id: &user.id,
            org_id: &org.id,
            client: &owner,
            scopes: &scopes,
            redirect_uri: callback,
            redirect_uri_explicit: true,
            code_challenge: &random::digest(&verifier),
            client_ip: None,
            session_id: "test",
        })
        .await
        .unwrap();
    let tokens = grants
        .exchange_code(&owner, &code, Some(callback), Some(&verifier), None)
        .await
        .unwrap();
    let refresh = tokens.refresh_token.unwrap();
    for token in [tokens.access_token.as_str(), refresh.as_str()] {
        assert_eq!(
            grants.introspect(&other, token).await.unwrap(),
            json!({ "active": false })
        );
        let seen = grants.introspect(&resource_server, token).await.unwrap();
        assert_eq!(seen["active"], true, "{seen}");
        assert_eq!(seen["sub"], user.id.as_str());
        // A client may learn about its own tokens.
        assert_eq!(
            grants.introspect(&owner, token).await.unwrap()["active"],
            true
        );
    }
}
