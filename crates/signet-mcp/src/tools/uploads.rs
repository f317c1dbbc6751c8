//! Uploads: a signed URL for a document the agent holds, to use in
//! `create_envelope` instead of a public URL.

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
    router = upload_tools;

    #[scope(Scope::EnvelopesWrite)]
    #[tool(
        description = "A signed URL to PUT one PDF or DOCX file to (once, within 5 minutes, at most 10 MB, with the returned Content-Type), and the `url` to use as a document in `create_envelope` (valid 24 hours).",
        input_schema = schema!(schemas::MintUploadUrl),
        annotations(title = "Get an upload URL", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn mint_upload_url(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = caller(&parts)?;
        respond(self.esign.mint_upload_url(&caller, &args).await)
    }
}
