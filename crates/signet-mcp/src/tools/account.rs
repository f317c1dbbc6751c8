//! Who the connection acts as: the one tool any valid token may call, so
//! an agent can always find out what it is allowed to do.

use axum::http::request::Parts;
use rmcp::ErrorData;
use rmcp::handler::server::tool::Extension;
use rmcp::model::CallToolResult;
use serde_json::json;

use super::principal;
use crate::service::SignetMcp;

tools! {
    router = account_tools;

    #[scope(any)]
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
