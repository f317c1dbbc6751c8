//! The MCP service: Signet's tools ([`crate::tools`]) and resources,
//! served statelessly over Streamable HTTP so any instance can answer any
//! request.

use axum::http::request::Parts;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    Implementation, JsonObject, ListResourceTemplatesResult, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};
use serde_json::json;
use signet_esign::{Caller, Esign, EsignError};
use signet_oauth::Scope;

use crate::tools::{self, caller};

const TEMPLATE: &str = "signet://envelope/{envelope_id}";
const RESOURCE_PREFIX: &str = "signet://envelope/";

#[derive(Clone, Debug)]
pub struct SignetMcp {
    /// Built once: the service is created per request (stateless mode).
    tool_router: std::sync::Arc<ToolRouter<Self>>,
    /// The engine every tool and resource calls.
    pub(crate) esign: Esign,
}

impl SignetMcp {
    pub fn new(esign: Esign) -> Self {
        Self {
            tool_router: std::sync::Arc::new(tools::router()),
            esign,
        }
    }
}

/// Reading resources shows envelopes, so it needs the read scope too.
pub fn required_scope_for_method(method: &str) -> Option<Scope> {
    matches!(
        method,
        "resources/list" | "resources/read" | "resources/templates/list"
    )
    .then_some(Scope::EnvelopesRead)
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
