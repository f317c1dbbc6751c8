//! The MCP tools, one module per noun they act on. Each tool is declared
//! with the scope it needs written above it (`#[scope(...)]`), and the
//! scope check `/mcp` runs before a `tools/call` ([`required_scope`]) is
//! generated from those declarations, so a tool cannot exist without one.
//!
//! Tools are thin: they take the principal and the arguments to the
//! engine and turn its answer into a result — or its error into a problem
//! object with `isError: true`.

use axum::http::request::Parts;
use rmcp::ErrorData;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{CallToolResult, JsonObject};
use serde::Serialize;
use serde_json::Value;
use signet_esign::{Caller, EsignError};
use signet_oauth::Scope;

use crate::Principal;
use crate::service::SignetMcp;

/// The input schema `tools/list` advertises for a tool (see `schemas`).
macro_rules! schema {
    ($ty:ty) => {
        ::rmcp::handler::server::common::schema_for_input::<$ty>()
            .unwrap_or_else(|_| ::rmcp::handler::server::common::schema_for_empty_input())
    };
}

/// What `#[scope(...)]` says: a scope, or `any` valid token.
macro_rules! needs {
    (any) => {
        None
    };
    ($($scope:tt)+) => {
        Some($($scope)+)
    };
}

/// One group of tools: an ordinary rmcp `#[tool_router]` impl named
/// `$router`, and the group's [`Group`] (`GROUP`) pairing each tool's name
/// (its function's name: do not rename with `name = …`; a test checks)
/// with the scope declared above it.
macro_rules! tools {
    (
        router = $router:ident;
        $(
            #[scope($($scope:tt)+)]
            #[tool($($attr:tt)*)]
            async fn $name:ident($($params:tt)*) -> Result<CallToolResult, ErrorData> {
                $($body:tt)*
            }
        )*
    ) => {
        #[::rmcp::tool_router(router = $router, vis = "pub(super)")]
        impl SignetMcp {
            $(
                #[::rmcp::tool($($attr)*)]
                async fn $name($($params)*) -> Result<CallToolResult, ErrorData> {
                    $($body)*
                }
            )*
        }

        pub(super) const GROUP: super::Group = super::Group {
            router: SignetMcp::$router,
            scopes: &[$((stringify!($name), needs!($($scope)+))),*],
        };
    };
}

mod account;
mod deliverables;
mod emails;
mod envelopes;
mod events;
mod recipients;
mod uploads;

/// A module's tools and the scope each needs (`None`: any valid token).
#[derive(Debug)]
pub(crate) struct Group {
    router: fn() -> ToolRouter<SignetMcp>,
    scopes: &'static [(&'static str, Option<Scope>)],
}

const GROUPS: [Group; 7] = [
    account::GROUP,
    envelopes::GROUP,
    uploads::GROUP,
    recipients::GROUP,
    events::GROUP,
    emails::GROUP,
    deliverables::GROUP,
];

/// Every tool, built once (the service is created per request).
pub(crate) fn router() -> ToolRouter<SignetMcp> {
    GROUPS
        .iter()
        .fold(ToolRouter::new(), |router, group| router + (group.router)())
}

/// The scope a `tools/call` of `tool` needs; a call without it is refused
/// with 403 before the tool runs. `None` for a tool that needs only a valid
/// token (`whoami`) and for an unknown one (rmcp answers that).
pub fn required_scope(tool: &str) -> Option<Scope> {
    GROUPS
        .iter()
        .flat_map(|group| group.scopes)
        .find(|(name, _)| *name == tool)
        .and_then(|(_, scope)| *scope)
}

/// The principal the guard attached to this request. Its absence means the
/// service was mounted without the guard: refuse rather than run unguarded.
pub(crate) fn principal(parts: &Parts) -> Result<&Principal, ErrorData> {
    parts
        .extensions
        .get::<std::sync::Arc<Principal>>()
        .map(|p| &**p)
        .ok_or_else(|| ErrorData::internal_error("request was not authenticated", None))
}

pub(crate) fn caller(parts: &Parts) -> Result<Caller, ErrorData> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every tool served has its scope declared under the name it is
    /// called by, and nothing else is declared.
    #[test]
    fn every_tool_declares_its_scope_under_its_name() {
        let mut served: Vec<String> = router()
            .list_all()
            .into_iter()
            .map(|t| t.name.into_owned())
            .collect();
        let mut declared: Vec<String> = GROUPS
            .iter()
            .flat_map(|g| g.scopes)
            .map(|(name, _)| (*name).to_owned())
            .collect();
        served.sort();
        declared.sort();
        assert_eq!(served, declared);
        assert_eq!(served.len(), 13);
    }

    /// DESIGN §3.7: a tool that only reads needs `envelopes:read`, one that
    /// changes anything `envelopes:write`; `whoami` any valid token.
    #[test]
    fn readers_need_read_and_writers_write() {
        for tool in router().list_all() {
            let read_only = tool
                .annotations
                .as_ref()
                .and_then(|a| a.read_only_hint)
                .unwrap_or(false);
            let expected = match (tool.name.as_ref(), read_only) {
                ("whoami", _) => None,
                (_, true) => Some(Scope::EnvelopesRead),
                (_, false) => Some(Scope::EnvelopesWrite),
            };
            assert_eq!(required_scope(&tool.name), expected, "{}", tool.name);
        }
        assert_eq!(required_scope("no_such_tool"), None);
    }
}
