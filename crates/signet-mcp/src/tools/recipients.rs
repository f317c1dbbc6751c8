//! Recipients of an envelope under way: ask again, or put someone else in
//! their place.

use axum::http::request::Parts;
use rmcp::ErrorData;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, JsonObject};
use signet_esign::EsignError;
use signet_oauth::Scope;

use super::{caller, id_arg, respond};
use crate::schemas;
use crate::service::SignetMcp;

tools! {
    router = recipient_tools;

    #[scope(Scope::EnvelopesWrite)]
    #[tool(
        description = "Send a recipient their signing request again, with a fresh link. Allowed once a minimum interval has passed since the last one (1 minute, then 2, 4, … up to a day).",
        input_schema = schema!(schemas::RecipientRef),
        annotations(title = "Resend a signing request", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn resend_request(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = caller(&parts)?;
        respond(
            async {
                let envelope_id = id_arg(&args, "envelope_id");
                let recipient_id = id_arg(&args, "recipient_id");
                match (envelope_id, recipient_id) {
                    (Ok(e), Ok(r)) => self.esign.resend_request(&caller, &e, &r).await,
                    (Err(EsignError::Validation(mut a)), Err(EsignError::Validation(b))) => {
                        a.extend(b);
                        Err(EsignError::Validation(a))
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
            .await,
        )
    }

    #[scope(Scope::EnvelopesWrite)]
    #[tool(
        description = "Put a new person in a recipient's place before they have finished: same key, type and turn. The old recipient becomes `replaced` and their link stops working; if it was their turn, the new one is asked at once.",
        input_schema = schema!(schemas::ReplaceRecipient),
        annotations(title = "Replace a recipient", read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true)
    )]
    async fn replace_recipient(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = caller(&parts)?;
        respond(self.esign.replace_recipient(&caller, &args).await)
    }
}
