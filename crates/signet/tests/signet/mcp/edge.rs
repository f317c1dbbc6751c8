//! `/mcp` under attack: malformed JSON-RPC answered in JSON-RPC, request
//! targets and headers HTTP forbids, and connections left usable (or
//! closed, saying so) after a refusal. Raw TCP where reqwest cannot send
//! what is tested.

use serde_json::{Value, json};
use signet_store::testing::TestDb;

use crate::support::{
    ACCEPT, Raw, assert_connection_usable_or_closed, assert_json_rpc_error, connect_agent,
    exchange_raw, host_of, post_raw, seed, start,
};

signet_store::store_tests!(
    malformed_requests_get_json_rpc_errors,
    host_target_and_origin_are_checked_strictly,
    a_refused_request_leaves_its_connection_usable_or_closed,
    request_metadata_headers_must_agree_with_the_body,
);

async fn malformed_requests_get_json_rpc_errors(db: TestDb) {
    let server = start(db, None).await;
    let (acme, _) = seed(&server).await;
    let token = connect_agent(&server, &acme, None).await.access;
    let json = Some("application/json");

    // Not JSON at all, or JSON too deep to read: -32700.
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"whoami","arguments":{{"a":{}{}}}}}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    for body in [
        String::new(),
        "{not json".to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"} trailing"#.to_owned(),
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"x\":\"\\ud800\"}".to_owned(),
        deep,
    ] {
        let what = body.chars().take(80).collect::<String>();
        let response = post_raw(&server, &token, json, Some(ACCEPT), body).await;
        assert_json_rpc_error(response, 400, -32700, Value::Null, &what).await;
    }
    let invalid_utf8 =
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"x\":\"\xff\"}".to_vec();
    let response = post_raw(&server, &token, json, Some(ACCEPT), invalid_utf8).await;
    assert_json_rpc_error(response, 400, -32700, Value::Null, "invalid UTF-8").await;

    // JSON, but not one JSON-RPC 2.0 request: -32600.
    for body in [
        r#"{"jsonrpc":"1.0","id":1,"method":"tools/list"}"#,
        r#"{"id":1,"method":"tools/list"}"#,
        r#"{"jsonrpc":2,"id":1,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":{},"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":[1],"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":true,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":null,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":1.5,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":1}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":7}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":null}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":"x"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","result":{}}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
        r#"1"#,
        r#""x""#,
        r#"null"#,
        r#"[]"#,
        r#"["2.0",1,"tools/list"]"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}]"#,
        // Repeated members the scope check could read two ways.
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","name":"other"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}"#,
        r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"},"params":{}}"#,
        r#"{"jsonrpc":"2.0","id":1,"meth\u006fd":"tools/list","method":"tools/list"}"#,
    ] {
        let response = post_raw(&server, &token, json, Some(ACCEPT), body).await;
        assert_json_rpc_error(response, 400, -32600, Value::Null, body).await;
    }

    // A well-formed tools/call with unusable params: -32602, answering the
    // request (its id echoed) as rmcp answers an unknown tool.
    for (body, id) in [
        (
            r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"whoami","arguments":"x"}}"#,
            json!(9),
        ),
        (
            r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"whoami","arguments":[]}}"#,
            json!("a"),
        ),
        (
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"whoami","arguments":1}}"#,
            json!(3),
        ),
        (
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/call"}"#,
            json!(4),
        ),
        (
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":[]}"#,
            json!(5),
        ),
        (
            r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"arguments":{}}}"#,
            json!(6),
        ),
        (
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":7}}"#,
            json!(7),
        ),
        (
            r#"{"jsonrpc":"2.0","id":8.0,"method":"tools/call","params":{"name":"whoami","arguments":"x"}}"#,
            json!(8),
        ),
        (
            r#"{"jsonrpc":"2.0","id":10,"method":"tools/list","params":[1]}"#,
            json!(10),
        ),
        (
            r#"{"jsonrpc":"2.0","id":11,"method":"no/such/method","params":[]}"#,
            json!(11),
        ),
    ] {
        let response = post_raw(&server, &token, json, Some(ACCEPT), body).await;
        assert_json_rpc_error(response, 200, -32602, id, body).await;
    }
    // A notification has no response to carry the error: 400.
    for body in [
        r#"{"jsonrpc":"2.0","method":"notifications/initialized","params":[]}"#,
        r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"whoami","arguments":"x"}}"#,
    ] {
        let response = post_raw(&server, &token, json, Some(ACCEPT), body).await;
        assert_json_rpc_error(response, 400, -32602, Value::Null, body).await;
    }

    // What rmcp refuses in text/plain is answered in JSON-RPC too, with the
    // status HTTP gives it.
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let response = post_raw(&server, &token, Some("text/plain"), Some(ACCEPT), body).await;
    assert_json_rpc_error(response, 415, -32600, Value::Null, "text/plain").await;
    let response = post_raw(&server, &token, None, Some(ACCEPT), body).await;
    assert_json_rpc_error(response, 415, -32600, Value::Null, "no content type").await;
    let response = post_raw(&server, &token, json, Some("application/json"), body).await;
    assert_json_rpc_error(response, 406, -32600, Value::Null, "accepts JSON only").await;
    let response = post_raw(&server, &token, json, None, body).await;
    assert_json_rpc_error(response, 406, -32600, Value::Null, "no Accept").await;
    let get = server
        .http
        .get(format!("{}/mcp", server.base))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(get.headers()["allow"], "POST");
    assert_json_rpc_error(get, 405, -32600, Value::Null, "GET").await;
    // A body declared larger than 4 MiB is refused unread (and its
    // connection closed). The body is not sent: `Expect: 100-continue`
    // waits for a go-ahead that does not come, so no unread bytes race the
    // close.
    let mut raw = Raw::connect(&server).await;
    raw.send(
        format!(
            "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept: {ACCEPT}\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            server.running.local_addr,
            4 * 1024 * 1024 + 1
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let too_large = raw.response().await.unwrap();
    assert_eq!(too_large.status, 413);
    assert!(
        too_large
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let error = too_large.json();
    assert_eq!(error["jsonrpc"], "2.0");
    assert_eq!(error["id"], Value::Null);
    assert_eq!(error["error"]["code"], -32600);
    assert!(too_large.closes());

    // What is valid still works: escaped names, a parameter-less request,
    // absent arguments, a string id, a notification.
    for (body, id) in [
        (
            r#"{"jsonrpc":"2.0","id":7,"method":"tools\/call","params":{"na\u006de":"whoami","arguments":{}}}"#,
            json!(7),
        ),
        (
            r#"{"jsonrpc":"2.0","id":"s","method":"tools/call","params":{"name":"whoami"}}"#,
            json!("s"),
        ),
        (
            r#" {"params":{"name":"whoami","arguments":null},"method":"tools/call","id":1,"jsonrpc":"2.0"} "#,
            json!(1),
        ),
    ] {
        let response = post_raw(&server, &token, json, Some(ACCEPT), body).await;
        assert_eq!(response.status(), 200, "{body}");
        let result: Value = response.json().await.unwrap();
        assert_eq!(result["id"], id, "{body}");
        assert_eq!(
            result["result"]["structuredContent"]["organization_id"],
            acme.as_str(),
            "{body}"
        );
    }
    // `null` params are read as absent, as rmcp reads them.
    for body in [
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":null}"#,
    ] {
        let listed = post_raw(&server, &token, json, Some(ACCEPT), body).await;
        assert_eq!(listed.status(), 200, "{body}");
        let listed: Value = listed.json().await.unwrap();
        assert!(
            listed["result"]["tools"]
                .as_array()
                .is_some_and(|t| !t.is_empty()),
            "{body}"
        );
    }
    let notification = post_raw(
        &server,
        &token,
        json,
        Some(ACCEPT),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )
    .await;
    assert_eq!(notification.status(), 202);
    let unknown = post_raw(
        &server,
        &token,
        json,
        Some(ACCEPT),
        r#"{"jsonrpc":"2.0","id":3,"method":"no/such/method","params":{}}"#,
    )
    .await;
    assert_json_rpc_error(unknown, 200, -32601, json!(3), "unknown method").await;
    server.running.stop().await.unwrap();
}

const WHOAMI: &[u8] =
    br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#;

async fn host_target_and_origin_are_checked_strictly(db: TestDb) {
    let server = start(db, None).await;
    let host = host_of(&server);
    let common = "Content-Type: application/json\r\nAccept: application/json, text/event-stream";

    // The baseline: our Host, no token, the bearer check answers.
    let ours = exchange_raw(
        &server,
        format!("POST /mcp HTTP/1.1\r\nHost: {host}\r\n{common}").as_bytes(),
        WHOAMI,
    )
    .await;
    assert_eq!(ours.status, 401);

    // RFC 9112 §3.2: more than one Host is a 400, whichever comes first.
    for hosts in [
        format!("Host: {host}\r\nHost: evil.example"),
        format!("Host: evil.example\r\nHost: {host}"),
        format!("Host: {host}\r\nHost: {host}"),
    ] {
        let response = exchange_raw(
            &server,
            format!("POST /mcp HTTP/1.1\r\n{hosts}\r\n{common}").as_bytes(),
            WHOAMI,
        )
        .await;
        assert_eq!(response.status, 400, "{hosts}");
        assert_eq!(response.json()["error"], "invalid_request", "{hosts}");
    }
    // …and so is an HTTP/1.1 request with none.
    let none = exchange_raw(
        &server,
        format!("POST /mcp HTTP/1.1\r\n{common}").as_bytes(),
        WHOAMI,
    )
    .await;
    assert_eq!(none.status, 400);

    // RFC 9112 §3.2.2: an absolute-form target's authority wins over Host,
    // so it is checked like Host.
    for target in [
        "http://evil.example/mcp".to_owned(),
        format!("http://evil.example@{host}/mcp"),
        format!("http://{host}@evil.example/mcp"),
    ] {
        let response = exchange_raw(
            &server,
            format!("POST {target} HTTP/1.1\r\nHost: {host}\r\n{common}").as_bytes(),
            WHOAMI,
        )
        .await;
        assert_eq!(response.status, 403, "{target}");
        assert_eq!(response.json()["error"], "forbidden", "{target}");
    }
    let absolute_ours = exchange_raw(
        &server,
        format!("POST http://{host}/mcp HTTP/1.1\r\nHost: {host}\r\n{common}").as_bytes(),
        WHOAMI,
    )
    .await;
    assert_eq!(absolute_ours.status, 401);

    // Host values that are not a plain host[:port] are not ours.
    for bad in [
        format!("evil.example@{host}"),
        format!("{host}/x"),
        format!("{host}#"),
    ] {
        let response = exchange_raw(
            &server,
            format!("POST /mcp HTTP/1.1\r\nHost: {bad}\r\n{common}").as_bytes(),
            WHOAMI,
        )
        .await;
        assert_eq!(response.status, 403, "{bad}");
    }
    let mut non_ascii_host = format!("POST /mcp HTTP/1.1\r\nHost: {host}").into_bytes();
    non_ascii_host.extend_from_slice(b"\xc3\xa9\r\n");
    non_ascii_host.extend_from_slice(common.as_bytes());
    let response = exchange_raw(&server, &non_ascii_host, WHOAMI).await;
    assert_eq!(response.status, 400);

    // An Origin that is not visible ASCII is refused like a foreign one,
    // and so is a second Origin that is foreign.
    let issuer = server.running.state.issuer.as_str().to_owned();
    let mut head =
        format!("POST /mcp HTTP/1.1\r\nHost: {host}\r\n{common}\r\nOrigin: {issuer}").into_bytes();
    head.extend_from_slice(b"\xff");
    let response = exchange_raw(&server, &head, WHOAMI).await;
    assert_eq!(response.status, 403);
    assert_eq!(response.json()["error"], "forbidden");
    let mut head =
        format!("POST /mcp HTTP/1.1\r\nHost: {host}\r\n{common}\r\nOrigin: http://").into_bytes();
    head.extend_from_slice(b"\xe9vil.example");
    let response = exchange_raw(&server, &head, WHOAMI).await;
    assert_eq!(response.status, 403);
    let two_origins = exchange_raw(
        &server,
        format!("POST /mcp HTTP/1.1\r\nHost: {host}\r\n{common}\r\nOrigin: {issuer}\r\nOrigin: https://evil.example").as_bytes(),
        WHOAMI,
    )
    .await;
    assert_eq!(two_origins.status, 403);
    let own_origin = exchange_raw(
        &server,
        format!("POST /mcp HTTP/1.1\r\nHost: {host}\r\n{common}\r\nOrigin: {issuer}").as_bytes(),
        WHOAMI,
    )
    .await;
    assert_eq!(own_origin.status, 401);
    server.running.stop().await.unwrap();
}

async fn a_refused_request_leaves_its_connection_usable_or_closed(db: TestDb) {
    let server = start(db, None).await;
    let host = host_of(&server);
    let body = String::from_utf8_lossy(WHOAMI).into_owned();
    let mcp_head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n",
        body.len()
    );

    // No token, the whole request sent at once: the 401, then the next request.
    let mut raw = Raw::connect(&server).await;
    raw.send(format!("{mcp_head}\r\n{body}").as_bytes())
        .await
        .unwrap();
    let first = raw.response().await.unwrap();
    assert_eq!(first.status, 401);
    assert_connection_usable_or_closed(&mut raw, &first, &host, "401").await;
    // /mcp reads a small body before refusing, so the connection stays.
    assert!(!first.closes());

    // The same with `Expect: 100-continue`: the body comes only if the server
    // asks for it, so a server that answers without reading it must close.
    let mut raw = Raw::connect(&server).await;
    raw.send(format!("{mcp_head}Expect: 100-continue\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut first = raw.response().await.unwrap();
    if first.status == 100 {
        raw.send(body.as_bytes()).await.unwrap();
        first = raw.response().await.unwrap();
    }
    assert_eq!(first.status, 401);
    assert_connection_usable_or_closed(&mut raw, &first, &host, "401 after Expect").await;
    assert!(!first.closes());

    // A foreign Origin (a small body is read before the 403), any route
    // that answers without reading the body, and an oversized declared body
    // (never read: the connection is closed instead).
    for (head, what, closes) in [
        (
            format!("{mcp_head}Origin: https://evil.example\r\nExpect: 100-continue\r\n"),
            "foreign origin",
            false,
        ),
        (
            format!(
                "POST /no/such/route HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nExpect: 100-continue\r\n",
                body.len()
            ),
            "unknown route",
            true,
        ),
        (
            format!(
                "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\nExpect: 100-continue\r\n"
            ),
            "100 MB declared",
            true,
        ),
    ] {
        let mut raw = Raw::connect(&server).await;
        raw.send(format!("{head}\r\n").as_bytes()).await.unwrap();
        let mut first = raw.response().await.unwrap();
        if first.status == 100 {
            raw.send(body.as_bytes()).await.unwrap();
            first = raw.response().await.unwrap();
        }
        assert!(first.status >= 400, "{what}: {}", first.status);
        assert_connection_usable_or_closed(&mut raw, &first, &host, what).await;
        assert_eq!(first.closes(), closes, "{what}");
    }

    // Requests whose bodies are read, and bodiless GETs, keep their
    // connection: three on one socket, none says close.
    let mut raw = Raw::connect(&server).await;
    let form = "grant_type=refresh_token&refresh_token=nope&client_id=nope";
    for request in [
        format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        format!(
            "POST /oauth/token HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        ),
        format!("GET /.well-known/oauth-protected-resource/mcp HTTP/1.1\r\nHost: {host}\r\n\r\n"),
    ] {
        raw.send(request.as_bytes()).await.unwrap();
        let response = raw.response().await.unwrap();
        assert!(!response.closes(), "{request}");
        assert!(response.status < 500, "{request}");
    }
    raw.send(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(raw.response().await.unwrap().status, 200);
    server.running.stop().await.unwrap();
}

/// `Mcp-Method` / `Mcp-Name` (MCP 2026-07-28): the scope is checked on
/// them before the body is read, and headers that disagree with the body
/// are refused with -32020 whatever version the request names.
async fn request_metadata_headers_must_agree_with_the_body(db: TestDb) {
    let server = start(db, None).await;
    let (acme, _) = seed(&server).await;
    let reader = connect_agent(&server, &acme, Some("envelopes:read"))
        .await
        .access;
    let post = |version: &'static str, headers: Vec<(&'static str, &'static str)>, body: Value| {
        let mut request = server
            .http
            .post(format!("{}/mcp", server.base))
            .bearer_auth(&reader)
            .header("mcp-protocol-version", version)
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let call = |tool: &str| json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": tool, "arguments": {} } });
    let old = "2025-11-25";

    // Agreeing headers: the call runs.
    let ok = post(
        old,
        vec![("mcp-method", "tools/call"), ("mcp-name", "whoami")],
        call("whoami"),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["result"]["isError"], false, "{body}");

    // The header names a tool the token may call, the body another one.
    for (headers, what) in [
        (
            vec![("mcp-method", "tools/call"), ("mcp-name", "whoami")],
            "Mcp-Name differs",
        ),
        (vec![("mcp-method", "tools/list")], "Mcp-Method differs"),
        (vec![("mcp-method", "tools/call")], "Mcp-Name missing"),
        (vec![("mcp-name", "delete_envelope")], "Mcp-Method missing"),
        (
            vec![("mcp-method", "tools/call"), ("mcp-name", "=?base64?!!?=")],
            "Mcp-Name not Base64",
        ),
    ] {
        let response = post(old, headers, call("delete_envelope")).await.unwrap();
        assert_json_rpc_error(response, 400, -32020, Value::Null, what).await;
    }
    // Base64-encoded names are decoded before they are compared.
    let encoded = post(
        old,
        vec![
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?d2hvYW1p?="),
        ],
        call("whoami"),
    )
    .await
    .unwrap();
    assert_eq!(encoded.status(), 200);

    // A declared call the token lacks the scope for is refused on the
    // headers, with the RFC 6750 answer.
    let refused = post(
        old,
        vec![
            ("mcp-method", "tools/call"),
            ("mcp-name", "create_envelope"),
        ],
        call("create_envelope"),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="insufficient_scope""#)
    );

    // From 2026-07-28 on, rmcp compares the headers with the message it
    // runs: a mismatch never reaches the tool either.
    let new = post(
        "2026-07-28",
        vec![("mcp-method", "tools/call"), ("mcp-name", "whoami")],
        call("delete_envelope"),
    )
    .await
    .unwrap();
    assert_eq!(new.status(), 400);
    let body: Value = new.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32020, "{body}");
}
