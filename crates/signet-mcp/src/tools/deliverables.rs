//! Deliverables: the signed PDF of a completed envelope.

use axum::http::request::Parts;
use rmcp::ErrorData;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, JsonObject};
use signet_oauth::Scope;

use super::{caller, id_arg, respond};
use crate::schemas;
use crate::service::SignetMcp;

tools! {
    router = deliverable_tools;

    #[scope(Scope::EnvelopesRead)]
    #[tool(
        description = "The signed PDF of a completed envelope (its documents followed, for the standard type, by a certificate of completion), sealed by this Signet instance (PAdES; verify it at /verify or with `signet verify`), with a download URL valid for one hour.",
        input_schema = schema!(schemas::EnvelopeId),
        annotations(title = "Get deliverables", read_only_hint = true, open_world_hint = false)
    )]
    async fn get_deliverables(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = caller(&parts)?;
        respond(
            async {
                self.esign
                    .get_deliverables(&caller, &id_arg(&args, "envelope_id")?)
                    .await
            }
            .await,
        )
    }
}
