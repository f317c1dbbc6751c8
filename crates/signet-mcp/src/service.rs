//! The MCP service: Signet's tools and resources, served statelessly over
//! Streamable HTTP so any instance can answer any request. Tools are thin:
//! they take the principal and the arguments to the engine and turn its
//! answer into a result — or its error into a problem object with
//! `isError: true`.

use axum::http::request::Parts;
use rmcp::handler::server::common::schema_for_input;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, Implementation, JsonObject, ListResourceTemplatesResult, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde::Serialize;
use serde_json::{Value, json};
use signet_esign::{Caller, Esign, EsignError};

use crate::Principal;
use crate::schemas;

pub const READ: &str = "envelopes:read";
pub const WRITE: &str = "envelopes:write";

/// The scope each tool needs; a call without it is refused with 403 before
/// the tool runs. A tool not listed (`whoami`) needs only a valid token.
const TOOL_SCOPES: &[(&str, &str)] = &[
    ("create_envelope", WRITE),
    ("get_envelope", READ),
    ("list_envelopes", READ),
    ("cancel_envelope", WRITE),
    ("delete_envelope", WRITE),
    ("mint_upload_url", WRITE),
    ("list_events", READ),
    ("list_emails", READ),
    ("get_email", READ),
    ("resend_request", WRITE),
    ("replace_recipient", WRITE),
    ("get_deliverables", READ),
];

pub fn required_scope(tool: &str) -> Option<&'static str> {
    TOOL_SCOPES
        .iter()
        .find(|(name, _)| *name == tool)
        .map(|(_, scope)| *scope)
}

/// Reading resources shows envelopes, so it needs the read scope too.
pub fn required_scope_for_method(method: &str) -> Option<&'static str> {
    matches!(
        method,
        "resources/list" | "resources/read" | "resources/templates/list"
    )
    .then_some(READ)
}

const TEMPLATE: &str = "signet://envelope/{envelope_id}";
const RESOURCE_PREFIX: &str = "signet://envelope/";

#[derive(Clone, Debug)]
pub struct SignetMcp {
    /// Built once: the service is created per request (stateless mode).
    tool_router: std::sync::Arc<ToolRouter<Self>>,
    esign: Esign,
}

/// The principal the guard attached to this request. Its absence means the
/// service was mounted without the guard: refuse rather than run unguarded.
fn principal(parts: &Parts) -> Result<&Principal, ErrorData> {
    parts
        .extensions
        .get::<Principal>()
        .ok_or_else(|| ErrorData::internal_error("request was not authenticated", None))
}

fn caller(parts: &Parts) -> Result<Caller, ErrorData> {
    let p = principal(parts)?;
    Ok(Caller {
        org_id: p.org_id.clone(),
        user_id: p.user_id.clone(),
        connection_id: Some(p.connection_id.clone()),
        live_mode: p.live_mode,
    })
}

/// The engine's answer as a tool result: structured content on success, a
/// problem object with `isError: true` otherwise.
fn respond<T: Serialize>(outcome: Result<T, EsignError>) -> Result<CallToolResult, ErrorData> {
    Ok(
        match outcome
            .and_then(|v| serde_json::to_value(v).map_err(|e| EsignError::Internal(e.to_string())))
        {
            Ok(value) => CallToolResult::structured(value),
            Err(error) => CallToolResult::structured_error(error.problem()),
        },
    )
}

/// A required id argument, as a validation error when missing.
fn id_arg(args: &JsonObject, name: &str) -> Result<String, EsignError> {
    match args.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err(EsignError::invalid(name, "is required"))
        }
        Some(_) => Err(EsignError::invalid(name, "must be a string")),
    }
}

macro_rules! schema {
    ($ty:ty) => {
        schema_for_input::<$ty>()
            .unwrap_or_else(|_| rmcp::handler::server::common::schema_for_empty_input())
    };
}

#[tool_router(router = tool_router)]
impl SignetMcp {
    pub fn new(esign: Esign) -> Self {
        Self {
            tool_router: std::sync::Arc::new(Self::tool_router()),
            esign,
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

    #[tool(
        description = "Create an envelope and send it for signature in one step. Documents are fetched and checked in the background (status `processing`), then recipients are asked (status `in_progress`). In test mode (the default) no email leaves Signet: read the signing links with `list_emails`. Wait for progress with `list_events`.",
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

    #[tool(
        description = "An envelope with its documents (kind, pages, SHA-256) and recipients (status, times).",
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

    #[tool(
        description = "Delete a completed, canceled or failed envelope with its documents, events, emails and deliverable.",
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

    #[tool(
        description = "The test-mode outbox, newest first: every email Signet would have sent (signing requests with their links, completions, cancellations).",
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

    #[tool(
        description = "The signed PDF of a completed envelope (its documents followed by an audit trail), with a download URL valid for one hour.",
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

fn context_caller(context: &RequestContext<RoleServer>) -> Result<Caller, ErrorData> {
    context
        .extensions
        .get::<Parts>()
        .ok_or_else(|| ErrorData::internal_error("request was not authenticated", None))
        .and_then(caller)
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SignetMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build())
            .with_server_info(Implementation::new("signet", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Signet: send documents for e-signature and follow them until they are signed. \
                 create_envelope sends; list_emails shows test-mode signing links; list_events with \
                 wait_seconds waits for progress; get_deliverables returns the signed PDF.",
            )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let caller = context_caller(&context)?;
        let mut args = JsonObject::new();
        args.insert("limit".to_owned(), json!(10));
        let page = self
            .esign
            .list_envelopes(&caller, &args)
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let resources = page["envelopes"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|e| {
                        let id = e["envelope_id"].as_str()?;
                        let title = e["title"].as_str().unwrap_or(id);
                        let status = e["status"].as_str().unwrap_or_default();
                        Some(
                            Resource::new(format!("{RESOURCE_PREFIX}{id}"), title.to_owned())
                                .with_description(format!("Envelope, {status}"))
                                .with_mime_type("application/json"),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(TEMPLATE, "envelope")
                .with_title("Envelope")
                .with_description("An envelope as get_envelope returns it")
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ReadResourceResponse, ErrorData> {
        let caller = context_caller(&context)?;
        let not_found = || {
            ErrorData::resource_not_found(
                "No such envelope in this organization",
                Some(json!({ "uri": request.uri })),
            )
        };
        let Some(id) = request.uri.strip_prefix(RESOURCE_PREFIX) else {
            return Err(not_found());
        };
        match self.esign.get_envelope(&caller, id).await {
            Ok(envelope) => {
                let text = serde_json::to_string(&envelope)
                    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
                Ok(ReadResourceResult::new(vec![
                    ResourceContents::text(text, request.uri.clone())
                        .with_mime_type("application/json"),
                ])
                .into())
            }
            Err(EsignError::NotFound(_)) => Err(not_found()),
            Err(e) => Err(ErrorData::internal_error(e.to_string(), None)),
        }
    }
}
