//! `/mcp` as an MCP client speaks to it (JSON-RPC over plain HTTP, as the
//! tests have always driven it): requests with any token, and an [`Agent`]
//! that holds its tokens and calls tools. Also the refusals `/mcp` answers.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use signet_testkit::mcp::{ACCEPT, PROTOCOL_VERSION, whoami_request};

use super::oauth::{issued, post_token, refresh_grant};
use super::server::Server;

/// Posts a JSON-RPC request to `/mcp`, with `token` as the bearer if any.
pub async fn call(server: &Server, token: Option<&str>, body: &Value) -> Response {
    post_mcp(&server.http, &server.base, token, body).await
}

async fn post_mcp(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    body: &Value,
) -> Response {
    let mut request = http
        .post(format!("{base}/mcp"))
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", PROTOCOL_VERSION)
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// Posts raw bytes to `/mcp` with `token`, choosing the `Content-Type`
/// and `Accept` headers (or sending none).
pub async fn post_raw(
    server: &Server,
    token: &str,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Response {
    let mut request = server
        .http
        .post(format!("{}/mcp", server.base))
        .bearer_auth(token)
        .header("mcp-protocol-version", PROTOCOL_VERSION)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.send().await.unwrap()
}

/// `whoami` with `token`: it must answer 200 without a tool error; returns
/// what it says.
pub async fn whoami(server: &Server, token: &str) -> Value {
    whoami_at(&server.http, &server.base, token).await
}

async fn whoami_at(http: &reqwest::Client, base: &str, token: &str) -> Value {
    let response = post_mcp(http, base, Some(token), &whoami_request()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["isError"], false, "{body}");
    body["result"]["structuredContent"].clone()
}

/// Asserts a refusal from the seed's 401 table: status, the exact
/// `WWW-Authenticate` and the body.
pub async fn assert_refused(server: &Server, response: Response, message: &str) {
    let p = server.running.state.issuer.as_str();
    assert_eq!(response.status(), 401, "{message}");
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let expected = if message == "Missing bearer token" {
        format!(
            r#"Bearer resource_metadata="{p}/.well-known/oauth-protected-resource/mcp", scope="envelopes:read envelopes:write""#
        )
    } else {
        format!(
            r#"Bearer resource_metadata="{p}/.well-known/oauth-protected-resource/mcp", scope="envelopes:read envelopes:write", error="invalid_token", error_description="{message}""#
        )
    };
    assert_eq!(challenge, expected);
    let body: Value = response.json().await.unwrap();
    let code = if message == "Missing bearer token" {
        "invalid_request"
    } else {
        "invalid_token"
    };
    assert_eq!(body, json!({ "error": code, "error_description": message }));
}

/// A JSON-RPC error object, in `application/json`, with this status, code and id.
pub async fn assert_json_rpc_error(
    response: Response,
    status: u16,
    code: i64,
    id: Value,
    what: &str,
) {
    assert_eq!(response.status(), status, "{what}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{what}: {content_type}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0", "{what}: {body}");
    assert_eq!(body["id"], id, "{what}: {body}");
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
    assert_eq!(body.as_object().unwrap().len(), 3, "{what}: {body}");
}

/// An MCP client connected through the authorization flow: its client id,
/// what the token endpoint issued, and the way to `/mcp`.
pub struct Agent {
    pub client_id: String,
    /// The token endpoint's response.
    pub tokens: Value,
    pub access: String,
    pub refresh: String,
    http: reqwest::Client,
    base: String,
}

/// A tool's answer: whether it is a tool error, and its structured content.
pub struct ToolResult {
    pub is_error: bool,
    pub content: Value,
}

impl Agent {
    /// The agent of `client_id` holding what the token endpoint issued.
    pub fn new(server: &Server, client_id: &str, tokens: Value) -> Self {
        Self::with(server.http.clone(), server.base.clone(), client_id, tokens)
    }

    fn with(http: reqwest::Client, base: String, client_id: &str, tokens: Value) -> Self {
        Self {
            client_id: client_id.to_owned(),
            access: tokens["access_token"].as_str().unwrap().to_owned(),
            refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
            tokens,
            http,
            base,
        }
    }

    /// The server this agent talks to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Posts a JSON-RPC request to `/mcp` with the access token.
    pub async fn request(&self, body: &Value) -> Response {
        post_mcp(&self.http, &self.base, Some(&self.access), body).await
    }

    /// Calls a tool; the call must reach it (200, a result object).
    pub async fn call(&self, tool: &str, arguments: Value) -> ToolResult {
        let request = json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": { "name": tool, "arguments": arguments } });
        let response = self.request(&request).await;
        assert_eq!(response.status(), 200, "{tool}");
        let body: Value = response.json().await.unwrap();
        let result = &body["result"];
        assert!(result.is_object(), "{tool}: {body}");
        ToolResult {
            is_error: result["isError"] == true,
            content: result["structuredContent"].clone(),
        }
    }

    /// Calls a tool that must succeed; returns its structured content.
    pub async fn ok(&self, tool: &str, arguments: Value) -> Value {
        let result = self.call(tool, arguments).await;
        assert!(!result.is_error, "{tool} failed: {}", result.content);
        result.content
    }

    /// Calls a tool that must fail with a problem object of type `kind`;
    /// returns the problem.
    pub async fn problem(&self, tool: &str, arguments: Value, kind: &str) -> Value {
        let ToolResult { is_error, content } = self.call(tool, arguments).await;
        assert!(is_error, "{tool} should have failed: {content}");
        assert_eq!(content["type"], kind, "{content}");
        assert!(
            content["title"].is_string()
                && content["detail"].is_string()
                && content["status"].is_number(),
            "{content}"
        );
        content
    }

    /// `whoami`, which must succeed: who and what this agent acts for.
    pub async fn whoami(&self) -> Value {
        whoami_at(&self.http, &self.base, &self.access).await
    }

    /// `whoami` whatever the answer: its status and body.
    pub async fn whoami_status(&self) -> (StatusCode, Value) {
        let response = self.request(&whoami_request()).await;
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// The same agent after a refresh (which must succeed): new tokens.
    pub async fn refreshed(&self) -> Agent {
        let form = refresh_grant(&self.refresh, &self.client_id);
        let tokens = issued(post_token(&self.http, &self.base, &form).await).await;
        Self::with(
            self.http.clone(),
            self.base.clone(),
            &self.client_id,
            tokens,
        )
    }
}
