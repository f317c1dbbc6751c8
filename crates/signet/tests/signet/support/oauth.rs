//! The authorization server as the scenarios use it: Ada and her two
//! organizations, client registration, the authorization request, the token
//! endpoint, introspection and the keys; `connect…` runs the whole flow and
//! gives an [`Agent`]. The flow itself (forms, PKCE, the code exchange) is
//! `signet_testkit::oauth`, shared with the benchmarks.

use reqwest::{Response, StatusCode, redirect};
use serde_json::{Value, json};
use signet_identity::Password;
use signet_store::audit::Actor;
use signet_testkit::browser::Browser;
use signet_testkit::oauth::{self as flow, Consent, Pkce, new_pkce};
use tokio::task::JoinSet;

use super::agent::Agent;
use super::server::Server;

pub const EMAIL: &str = "ada@example.com";
pub const PASSWORD: &str = "correct horse battery";
pub const CALLBACK: &str = "http://127.0.0.1:7777/callback";
/// The `state` of [`authorize_path`]'s requests (with a character to escape).
const STATE: &str = "st&te=1";

/// Ada, member of Acme and Beta (both with active accounts); returns their ids.
pub async fn seed(server: &Server) -> (String, String) {
    let identity = &server.running.state.identity;
    identity
        .create_user(
            &Actor::Cli,
            EMAIL,
            Some("Ada"),
            Some(Password::new(PASSWORD).unwrap()),
        )
        .await
        .unwrap();
    let mut ids = Vec::new();
    for name in ["Acme", "Beta"] {
        let org = identity
            .create_organization(&Actor::Cli, name, Some(EMAIL))
            .await
            .unwrap();
        identity.link_account(&Actor::Cli, &org.id).await.unwrap();
        ids.push(org.id);
    }
    (ids[0].clone(), ids[1].clone())
}

/// Ada alone, in her one organization (Solo, with an active account);
/// returns its id.
pub async fn seed_solo(server: &Server) -> String {
    let identity = &server.running.state.identity;
    identity
        .create_user(
            &Actor::Cli,
            EMAIL,
            None,
            Some(Password::new(PASSWORD).unwrap()),
        )
        .await
        .unwrap();
    let org = identity
        .create_organization(&Actor::Cli, "Solo", Some(EMAIL))
        .await
        .unwrap();
    identity.link_account(&Actor::Cli, &org.id).await.unwrap();
    org.id
}

/// Registers `body` dynamically; the registration must succeed (201).
pub async fn register(server: &Server, body: Value) -> Value {
    let response = flow::register(&server.http, &server.base, &body).await;
    assert_eq!(response.status(), 201, "{body}");
    response.json().await.unwrap()
}

/// A public client called "Test Agent" redirecting to [`CALLBACK`].
pub async fn public_client(server: &Server) -> String {
    public_client_named(server, "Test Agent").await
}

pub async fn public_client_named(server: &Server, name: &str) -> String {
    let client = register(server, json!({ "client_name": name, "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none" })).await;
    client["client_id"].as_str().unwrap().to_owned()
}

/// An authorization request to [`CALLBACK`] with `state` [`STATE`], then `extra`.
pub fn authorize_path(client_id: &str, pkce: &Pkce, extra: &[(&str, &str)]) -> String {
    let mut params = vec![("state", STATE)];
    params.extend_from_slice(extra);
    flow::authorize_path(client_id, CALLBACK, &pkce.challenge, &params)
}

/// An authorization request to another redirect URI (`state` `s1`).
pub fn authorize_path_to(client_id: &str, redirect_uri: &str, pkce: &Pkce) -> String {
    flow::authorize_path(client_id, redirect_uri, &pkce.challenge, &[("state", "s1")])
}

/// Runs authorize → sign-in as Ada (if needed) → consent (picking `org`)
/// and returns the client's callback URL.
pub async fn authorize(browser: &Browser, path: &str, org: Option<&str>) -> String {
    authorize_as(browser, path, org, EMAIL).await
}

/// [`authorize`] for another user (whose password is [`PASSWORD`]).
pub async fn authorize_as(browser: &Browser, path: &str, org: Option<&str>, email: &str) -> String {
    flow::approve(browser, path, org, email, PASSWORD).await
}

/// Connects Ada's `client_id` to `org` through the whole flow.
pub async fn connect(server: &Server, browser: &Browser, client_id: &str, org: &str) -> Agent {
    connect_as(server, browser, client_id, org, EMAIL, None).await
}

/// Connects `client_id` to `org` as `email`, asking for `scope` (`None`:
/// no `scope` parameter, so the server's default). The code exchange must
/// succeed.
pub async fn connect_as(
    server: &Server,
    browser: &Browser,
    client_id: &str,
    org: &str,
    email: &str,
    scope: Option<&str>,
) -> Agent {
    let mut params = vec![("state", STATE)];
    params.extend(scope.map(|scope| ("scope", scope)));
    let consent = Consent {
        client_id,
        redirect_uri: CALLBACK,
        params: &params,
        org: Some(org),
        email,
        password: PASSWORD,
    };
    let tokens = issued(flow::connect(browser, &server.http, &consent).await).await;
    Agent::new(server, client_id, tokens)
}

/// A new "Test Agent" client, connected by Ada in a new browser to `org`
/// with `scope` (`None`: the server's default).
pub async fn connect_agent(server: &Server, org: &str, scope: Option<&str>) -> Agent {
    let client_id = public_client(server).await;
    let browser = server.browser();
    connect_as(server, &browser, &client_id, org, EMAIL, scope).await
}

/// Exchanges the code of `callback` (sent to `redirect_uri`), the client
/// authenticating with `client_auth`.
pub async fn exchange(
    server: &Server,
    callback: &str,
    redirect_uri: &str,
    pkce: &Pkce,
    client_auth: &[(&str, &str)],
) -> Response {
    flow::exchange(
        &server.http,
        &server.base,
        callback,
        redirect_uri,
        pkce,
        client_auth,
    )
    .await
}

/// The form of a refresh by a public client.
pub fn refresh_grant<'a>(refresh_token: &'a str, client_id: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", client_id),
    ]
}

pub async fn token(server: &Server, form: &[(&str, &str)]) -> Response {
    post_token(&server.http, &server.base, form).await
}

pub async fn post_token(http: &reqwest::Client, base: &str, form: &[(&str, &str)]) -> Response {
    http.post(format!("{base}/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Posts `form` to the token endpoint, which must issue tokens.
pub async fn token_ok(server: &Server, form: &[(&str, &str)]) -> Value {
    issued(token(server, form).await).await
}

/// The tokens of a token endpoint response, which must be a 200 with
/// `Cache-Control: no-store`.
pub async fn issued(response: Response) -> Value {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// A refresh by a public client: the status and the body.
pub async fn refresh_status(
    server: &Server,
    client_id: &str,
    refresh_token: &str,
) -> (StatusCode, Value) {
    let response = token(server, &refresh_grant(refresh_token, client_id)).await;
    (response.status(), response.json().await.unwrap())
}

/// Asserts an OAuth error response (status, `no-store`, the RFC code) and
/// returns its description.
pub async fn oauth_error(response: Response, status: u16, code: &str) -> String {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    body["error_description"].as_str().unwrap().to_owned()
}

/// A 200 response's JSON body (shown if the status is another).
pub async fn ok_json(response: Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// Asserts the authorization request is refused with an HTML page saying `reason`.
pub async fn assert_authorization_refused(
    browser: &Browser,
    client_id: &str,
    redirect_uri: &str,
    reason: &str,
) {
    let pkce = new_pkce();
    let page = browser
        .get(&authorize_path_to(client_id, redirect_uri, &pkce))
        .await;
    assert_eq!(page.status(), 400, "{client_id}");
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains(reason),
        "{client_id}: expected {reason:?} in\n{html}"
    );
}

/// Posts one sign-in as Ada per password, all at once, from the same form.
pub async fn guesses_in_parallel(server: &Server, passwords: Vec<String>) -> Vec<u16> {
    let (cookie, form) = flow::login_form(&server.http, &server.base).await;
    let mut set = JoinSet::new();
    for password in passwords {
        let mut form = form.clone();
        form.push(("email".into(), EMAIL.into()));
        form.push(("password".into(), password));
        let (http, url, cookie) = (
            server.http.clone(),
            format!("{}/login", server.base),
            cookie.clone(),
        );
        set.spawn(async move {
            let sent = http.post(url).header("cookie", cookie).form(&form).send();
            sent.await.unwrap().status().as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = set.join_next().await {
        statuses.push(status.unwrap());
    }
    statuses.sort_unstable();
    statuses
}

/// A resource server registered by the operator for introspection:
/// `(client_id, client_secret)`.
pub async fn introspection_client(server: &Server) -> (String, String) {
    let added = server
        .cli(
            &[
                "clients",
                "add",
                "--name",
                "Resource server",
                "--introspection",
                "--json",
            ],
            None,
        )
        .await
        .json();
    assert_eq!(added["introspection"], true, "{added}");
    assert_eq!(added["token_endpoint_auth_method"], "client_secret_basic");
    (
        added["client_id"].as_str().unwrap().to_owned(),
        added["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// Introspects `token` as `client` (HTTP Basic); the answer must be 200.
pub async fn introspect(server: &Server, client: &(String, String), token: &str) -> Value {
    let response = server
        .http
        .post(format!("{}/oauth/introspect", server.base))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// The claims of a JWT, unverified.
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &data_encoding::BASE64URL_NOPAD
            .decode(payload.as_bytes())
            .unwrap(),
    )
    .unwrap()
}

/// The `kid` of a JWT's header.
pub fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Verifies `token` (EdDSA, audience `http://aud.example/mcp`) against a
/// JWKS document, as a resource server would.
pub fn verify(token: &str, jwks: &Value) -> Result<Value, String> {
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let set: JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let kid = kid_of(token);
    let jwk = set.find(&kid).ok_or_else(|| format!("{kid} not in JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["http://aud.example/mcp"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

/// The `oauth2` crate's HTTP hook, served by reqwest without following
/// redirects (as the crate requires).
pub async fn oauth2_http(
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, std::io::Error> {
    let client = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .map_err(std::io::Error::other)?;
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(std::io::Error::other)?;
    let mut builder = oauth2::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response
        .bytes()
        .await
        .map_err(std::io::Error::other)?
        .to_vec();
    builder.body(body).map_err(std::io::Error::other)
}
