//! The test-mode outbox: the emails Signet would have sent, signing links
//! included, so an agent can drive a test envelope to the end.

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
    router = email_tools;

    #[scope(Scope::EnvelopesRead)]
    #[tool(
        description = "The test-mode outbox, newest first: every email Signet would have sent (signing requests with their links, verification codes with their `code`, completions, cancellations).",
        input_schema = schema!(schemas::ListEmails),
        annotations(title = "List test emails", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_emails(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = caller(&parts)?;
        respond(self.esign.list_emails(&caller, &args).await)
    }

    #[scope(Scope::EnvelopesRead)]
    #[tool(
        description = "One test-mode email with its full body and link.",
        input_schema = schema!(schemas::EmailId),
        annotations(title = "Get a test email", read_only_hint = true, open_world_hint = false)
    )]
    async fn get_email(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = caller(&parts)?;
        respond(
            async {
                self.esign
                    .get_email(&caller, &id_arg(&args, "email_id")?)
                    .await
            }
            .await,
        )
    }
}
