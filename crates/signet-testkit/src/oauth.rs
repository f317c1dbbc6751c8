//! The OAuth flow as a client and a person go through it, over plain HTTP:
//! PKCE, registration, the authorization request, the sign-in and consent
//! forms, and the code exchange.

use reqwest::{Response, StatusCode};
use serde_json::Value;
use signet_store::random;
use url::Url;

use crate::browser::{Browser, location, param, query};
use crate::html::{hidden_inputs, org_choices};

/// A PKCE pair (RFC 7636, S256).
#[derive(Debug)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

/// A fresh verifier (using every unreserved punctuation character) and its challenge.
pub fn new_pkce() -> Pkce {
    let verifier = format!("{}{}", random::token().unwrap(), "-._~");
    let challenge = random::digest(&verifier);
    Pkce {
        verifier,
        challenge,
    }
}

/// Dynamic registration (RFC 7591) of `body`, as `http` sends it.
pub async fn register(http: &reqwest::Client, base: &str, body: &Value) -> Response {
    http.post(format!("{base}/oauth/register"))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The path of an authorization request with PKCE; `extra` parameters
/// (`state`, `scope`, `resource`…) follow in their order.
pub fn authorize_path(
    client_id: &str,
    redirect_uri: &str,
    code_challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut url = Url::parse("http://x/oauth/authorize").unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_challenge", code_challenge)
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(extra);
    format!("{}?{}", url.path(), url.query().unwrap())
}

/// Signs in through the login page at `login_url`; returns where the
/// sign-in sent the browser.
pub async fn sign_in(browser: &Browser, login_url: &str, email: &str, password: &str) -> Response {
    let page = browser.get(login_url).await;
    assert_eq!(page.status(), 200);
    let mut form = hidden_inputs(&page.text().await.unwrap());
    form.push(("email".into(), email.into()));
    form.push(("password".into(), password.into()));
    browser.post("/login", &form).await
}

/// A sign-in form as a browser holds it: its CSRF cookie and hidden
/// fields, for posting many attempts without a cookie store.
pub async fn login_form(http: &reqwest::Client, base: &str) -> (String, Vec<(String, String)>) {
    let page = http.get(format!("{base}/login")).send().await.unwrap();
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';')
                .next()
                .filter(|c| c.starts_with("signet_login_csrf="))
        })
        .unwrap()
        .to_owned();
    (cookie, hidden_inputs(&page.text().await.unwrap()))
}

/// Runs authorize → sign-in (if asked) → consent (picking `org`, or the
/// first organization offered) and returns the client's callback URL. A
/// remembered consent goes straight back.
pub async fn approve(
    browser: &Browser,
    authorize_path: &str,
    org: Option<&str>,
    email: &str,
    password: &str,
) -> String {
    let mut response = browser.get(authorize_path).await;
    if response.status() == StatusCode::SEE_OTHER && location(&response).starts_with("/login") {
        let signed_in = sign_in(browser, &location(&response), email, password).await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        response = browser.get(&location(&signed_in)).await;
    }
    if response.status() == StatusCode::SEE_OTHER {
        return location(&response);
    }
    assert_eq!(response.status(), 200, "consent page");
    let html = response.text().await.unwrap();
    let mut form = hidden_inputs(&html);
    let choices = org_choices(&html);
    let org = org
        .map(str::to_owned)
        .unwrap_or_else(|| choices[0].0.clone());
    form.push(("org_id".into(), org));
    form.push(("decision".into(), "approve".into()));
    let decided = browser.post("/oauth/authorize", &form).await;
    assert_eq!(decided.status(), StatusCode::SEE_OTHER);
    location(&decided)
}

/// Exchanges the code of `callback` at the token endpoint (RFC 6749
/// §4.1.3, with the PKCE verifier); `client_auth` is how the client
/// authenticates in the body (`client_id`, or an assertion).
pub async fn exchange(
    http: &reqwest::Client,
    base: &str,
    callback: &str,
    redirect_uri: &str,
    pkce: &Pkce,
    client_auth: &[(&str, &str)],
) -> Response {
    let code = param(&query(callback), "code")
        .unwrap_or_else(|| panic!("no code in {callback}"))
        .to_owned();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", &pkce.verifier),
    ];
    form.extend_from_slice(client_auth);
    http.post(format!("{base}/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// What a person approves for a public client: who signs in, for which
/// organization (`None`: the first offered), and the authorization
/// request's extra parameters (`state`, `scope`, `resource`…).
#[derive(Debug)]
pub struct Consent<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub params: &'a [(&'a str, &'a str)],
    pub org: Option<&'a str>,
    pub email: &'a str,
    pub password: &'a str,
}

/// The whole flow for a public client: a fresh PKCE pair, authorize →
/// sign-in → consent in `browser`, then the code exchanged by `http` (the
/// client's own HTTP client). Returns the token endpoint's response.
pub async fn connect(browser: &Browser, http: &reqwest::Client, consent: &Consent<'_>) -> Response {
    let pkce = new_pkce();
    let path = authorize_path(
        consent.client_id,
        consent.redirect_uri,
        &pkce.challenge,
        consent.params,
    );
    let callback = approve(browser, &path, consent.org, consent.email, consent.password).await;
    exchange(
        http,
        browser.base(),
        &callback,
        consent.redirect_uri,
        &pkce,
        &[("client_id", consent.client_id)],
    )
    .await
}

/// The redirect URI of the benches' public clients: nothing listens there,
/// the flow reads the code off the redirect.
pub const BENCH_CALLBACK: &str = "http://127.0.0.1:9/callback";

/// Registers a public client named `name` (redirect [`BENCH_CALLBACK`]);
/// its `client_id`.
pub async fn register_public(browser: &Browser, name: &str) -> String {
    let body = serde_json::json!({
        "client_name": name,
        "redirect_uris": [BENCH_CALLBACK],
        "token_endpoint_auth_method": "none",
    });
    let client: Value = register(browser.http(), browser.base(), &body)
        .await
        .json()
        .await
        .unwrap();
    client["client_id"].as_str().unwrap().to_owned()
}

/// A new connection's access token for `/mcp`: authorization, sign-in if
/// asked, consent for the first organization offered, the code exchange.
pub async fn access_token(
    browser: &Browser,
    client_id: &str,
    email: &str,
    password: &str,
) -> String {
    let resource = format!("{}/mcp", browser.base());
    let consent = Consent {
        client_id,
        redirect_uri: BENCH_CALLBACK,
        params: &[("resource", &resource)],
        org: None,
        email,
        password,
    };
    let tokens: Value = connect(browser, browser.http(), &consent)
        .await
        .json()
        .await
        .unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}
