//! The MCP service: Signet's tools, served statelessly over Streamable HTTP
//! so any instance can answer any request.

use axum::http::request::Parts;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};
use serde_json::json;

use crate::Principal;

/// The scope each tool needs; a call without it is refused with 403 before
/// the tool runs. A tool not listed (`whoami`) needs only a valid token.
const TOOL_SCOPES: &[(&str, &str)] = &[];

pub fn required_scope(tool: &str) -> Option<&'static str> {
    TOOL_SCOPES
        .iter()
        .find(|(name, _)| *name == tool)
        .map(|(_, scope)| *scope)
}

#[derive(Clone, Debug)]
pub struct SignetMcp {
    tool_router: ToolRouter<Self>,
}

impl Default for SignetMcp {
    fn default() -> Self {
        Self::new()
    }
}

/// The principal the guard attached to this request. Its absence means the
/// service was mounted without the guard: refuse rather than run unguarded.
fn principal(parts: &Parts) -> Result<&Principal, ErrorData> {
    parts
        .extensions
        .get::<Principal>()
        .ok_or_else(|| ErrorData::internal_error("request was not authenticated", None))
}

#[tool_router(router = tool_router)]
impl SignetMcp {
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Who this connection acts as: the user, the organization and its account (status, live mode), the connection, the granted scopes and when the access token expires.",
        annotations(title = "Who am I", read_only_hint = true, open_world_hint = false)
    )]
    async fn whoami(
        &self,
        Extension(parts): Extension<Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let p = principal(&parts)?;
        Ok(CallToolResult::structured(json!({
            "user_id": p.user_id,
            "organization_id": p.org_id,
            "account": {
                "id": p.account_id,
                "status": p.account_status,
                "live_mode": p.live_mode,
            },
            "connection": {
                "id": p.connection_id,
                "name": p.connection_name,
                "client_id": p.client_id,
            },
            "scopes": p.scopes,
            "token_expires_at": p.token_expires_at,
        })))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SignetMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("signet", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Signet: send documents for e-signature and follow them until they are signed.",
            )
    }
}
