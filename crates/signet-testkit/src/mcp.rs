//! What an MCP client sends to `/mcp` over plain HTTP (stateless JSON
//! mode: no `initialize`, no session).

use serde_json::{Value, json};

/// The `Accept` the streamable HTTP transport requires.
pub const ACCEPT: &str = "application/json, text/event-stream";

/// The `MCP-Protocol-Version` clients send.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// `tools/call whoami` as a JSON-RPC request.
pub fn whoami_request() -> Value {
    json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "whoami", "arguments": {} } })
}
