//! Envelopes themselves: create (and send), read, list, cancel, delete.

use axum::http::request::Parts;
use rmcp::ErrorData;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, JsonObject};
use serde_json::Value;
use signet_esign::EsignError;
use signet_oauth::Scope;

use super::{caller, id_arg, respond};
use crate::schemas;
use crate::service::SignetMcp;

tools! {
    router = envelope_tools;

    #[scope(Scope::EnvelopesWrite)]
    #[tool(
        description = "Create an envelope and send it for signature in one step. Documents are fetched and checked in the background (status `processing`), then recipients are asked (status `in_progress`). With `reminders`, recipients who have not finished are reminded by email; with `expires_in` or `expires_at`, an envelope not finished by then becomes `expired`. In test mode (the default) no email leaves Signet: read the signing links with `list_emails`. Wait for progress with `list_events`.",
        input_schema = schema!(schemas::CreateEnvelope),
        annotations(title = "Create and send an envelope", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn create_envelope(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = caller(&parts)?;
        respond(self.esign.create_envelope(&caller, &args).await)
    }

    #[scope(Scope::EnvelopesRead)]
    #[tool(
        description = "An envelope with its documents (kind, pages, SHA-256, and their places: page, box in points from the page's top-left, filled or not), recipients (status, times, reminders sent and when the next is due), `expires_at`, `reminders` and `captures` (values of places with `capture_as`, once their recipient has finished).",
        input_schema = schema!(schemas::EnvelopeId),
        annotations(title = "Get an envelope", read_only_hint = true, open_world_hint = false)
    )]
    async fn get_envelope(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = caller(&parts)?;
        respond(
            async {
                self.esign
                    .get_envelope(&caller, &id_arg(&args, "envelope_id")?)
                    .await
            }
            .await,
        )
    }

    #[scope(Scope::EnvelopesRead)]
    #[tool(
        description = "Envelopes of this organization, newest first, optionally by status, topic or mode. Pass `next_cursor` as `cursor` for the next page.",
        input_schema = schema!(schemas::ListEnvelopes),
        annotations(title = "List envelopes", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_envelopes(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = caller(&parts)?;
        respond(self.esign.list_envelopes(&caller, &args).await)
    }

    #[scope(Scope::EnvelopesWrite)]
    #[tool(
        description = "Cancel an envelope that is in progress; recipients who were asked are told. Only `in_progress` envelopes can be canceled.",
        input_schema = schema!(schemas::CancelEnvelope),
        annotations(title = "Cancel an envelope", read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true)
    )]
    async fn cancel_envelope(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = caller(&parts)?;
        respond(
            async {
                let reason = match args.get("reason") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.as_str()),
                    Some(_) => return Err(EsignError::invalid("reason", "must be a string")),
                };
                self.esign
                    .cancel_envelope(&caller, &id_arg(&args, "envelope_id")?, reason)
                    .await
            }
            .await,
        )
    }

    #[scope(Scope::EnvelopesWrite)]
    #[tool(
        description = "Delete a completed, canceled, failed or expired envelope with its documents, events, emails and deliverable.",
        input_schema = schema!(schemas::EnvelopeId),
        annotations(title = "Delete an envelope", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn delete_envelope(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(args): Parameters<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = caller(&parts)?;
        respond(
            async {
                self.esign
                    .delete_envelope(&caller, &id_arg(&args, "envelope_id")?)
                    .await
            }
            .await,
        )
    }
}
