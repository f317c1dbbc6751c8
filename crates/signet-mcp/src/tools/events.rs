//! Events: what happened to envelopes, and the long-poll that waits for
//! the next thing to happen.

use axum::http::request::Parts;
use rmcp::ErrorData;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, JsonObject};
use signet_oauth::Scope;

use super::{caller, respond};
use crate::schemas;
use crate::service::SignetMcp;

tools! {
    router = event_tools;

    #[scope(Scope::EnvelopesRead)]
    #[tool(
        description = "Events (envelope.created, envelope.started, recipient.sent, recipient.completed, envelope.completed, deliverable.generated, …), oldest first, after the cursor `after`. With `wait_seconds` (up to 30) the call waits for the next event and returns as soon as one arrives, or with `timed_out: true`. Pass `next_cursor` as `after` next time.",
        input_schema = schema!(schemas::ListEvents),
        annotations(title = "List or wait for events", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_events(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = caller(&parts)?;
        respond(self.esign.list_events(&caller, &args).await)
    }
}
