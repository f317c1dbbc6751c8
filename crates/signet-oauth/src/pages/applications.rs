//! Settings → Applications: the connections of an organization, with Rename
//! and Disconnect. Owners and admins see and manage every connection of the
//! organization; members see and manage their own.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use signet_identity::{OrganizationOfUser, Session};
use signet_store::audit::Actor;
use signet_store::random;
use signet_web::{ApplicationsPage, ConnectionRow, DisconnectPage, OrgLink, render};
use url::form_urlencoded;

use super::{field, message, page, read_form, see_other};
use crate::OAuthError;
use crate::connections::{Connection, DisconnectReason, MAX_NAME_CHARS};
use crate::http::OAuthState;

const PATH: &str = "/settings/applications";

pub fn router() -> Router<OAuthState> {
    Router::new()
        .route(PATH, get(list))
        .route(
            "/settings/applications/{id}/rename",
            axum::routing::post(rename),
        )
        .route(
            "/settings/applications/{id}/disconnect",
            get(confirm).post(disconnect),
        )
}

#[derive(Deserialize)]
struct ListQuery {
    org: Option<String>,
    notice: Option<String>,
    /// The connection whose rename was refused, to show the error by it.
    rename_error: Option<String>,
}

fn to_login(return_to: &str) -> Response {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", return_to)
        .finish();
    see_other(&format!("/login?{query}"))
}

fn back_to(org_id: &str, notice: &str) -> Response {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("org", org_id)
        .append_pair("notice", notice)
        .finish();
    see_other(&format!("{PATH}?{query}"))
}

/// May this member manage this connection?
fn may_manage(session: &Session, membership: &OrganizationOfUser, connection: &Connection) -> bool {
    membership.role.is_manager() || connection.user_id == session.user.id
}

/// The signed-in user, their membership in the connection's organization,
/// and the connection, if they may manage it.
async fn authorised(
    state: &OAuthState,
    headers: &HeaderMap,
    id: &str,
) -> Result<(Session, Connection), Response> {
    let Some(session) = state.session(headers).await else {
        return Err(to_login(PATH));
    };
    let not_found = || {
        message(
            StatusCode::NOT_FOUND,
            "No such connection",
            "This connection does not exist or is not yours to manage.",
        )
    };
    let connection = match state.connections.get(id).await {
        Ok(Some(connection)) => connection,
        Ok(None) => return Err(not_found()),
        Err(error) => return Err(error_page(&error.to_string())),
    };
    let memberships = state
        .identity
        .organizations_of_user(&session.user.id)
        .await
        .map_err(|e| error_page(&e.to_string()))?;
    match memberships.iter().find(|m| m.id == connection.org_id) {
        Some(membership) if may_manage(&session, membership, &connection) => {
            Ok((session, connection))
        }
        _ => Err(not_found()),
    }
}

fn error_page(detail: &str) -> Response {
    tracing::error!(%detail, "settings page failed");
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "Signet could not load your applications just now; try again.",
    )
}

async fn list(
    State(state): State<OAuthState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let Some(session) = state.session(&headers).await else {
        return to_login(PATH);
    };
    let memberships = match state.identity.organizations_of_user(&session.user.id).await {
        Ok(memberships) => memberships,
        Err(error) => return error_page(&error.to_string()),
    };
    let current = match &query.org {
        Some(org) => memberships.iter().find(|m| &m.id == org),
        None => memberships.first(),
    };
    let Some(current) = current else {
        return message(
            StatusCode::NOT_FOUND,
            "No organization",
            "You are not a member of this organization, or of any.",
        );
    };
    if let Err(error) = state.usage.flush(state.identity.store()).await {
        tracing::warn!(%error, "could not record connection usage before listing");
    }
    let connections = match state.connections.of_organization(&current.id).await {
        Ok(connections) => connections,
        Err(error) => return error_page(&error.to_string()),
    };
    let rows = connections
        .into_iter()
        .filter(|c| current.role.is_manager() || c.user_id == session.user.id)
        .map(|c| ConnectionRow {
            can_manage: c.is_active() && may_manage(&session, current, &c),
            rename_error: (query.rename_error.as_deref() == Some(c.id.as_str()))
                .then(|| format!("A name has 1 to {MAX_NAME_CHARS} characters.")),
            active: c.is_active(),
            disconnected: c.revoked_at.map(|t| t.rfc3339()),
            created: c.created_at.rfc3339(),
            last_seen: c
                .last_seen_at
                .map_or_else(|| "never".to_owned(), |t| t.rfc3339()),
            id: c.id,
            name: c.name,
            client_id: c.client_id,
            user_email: c.user_email,
            call_count: c.call_count,
            scopes: c.scopes,
        })
        .collect();
    let notice = match query.notice.as_deref() {
        Some("renamed") => Some("The connection was renamed."),
        Some("disconnected") => {
            Some("The application was disconnected. Its next request will be refused.")
        }
        _ => None,
    };
    page(
        StatusCode::OK,
        render(&ApplicationsPage {
            organizations: memberships
                .iter()
                .map(|m| OrgLink {
                    id: m.id.clone(),
                    name: m.name.clone(),
                })
                .collect(),
            current_org: &current.id,
            current_org_name: &current.name,
            sees_all: current.role.is_manager(),
            connections: rows,
            csrf: &session.csrf_token,
            notice,
            error: None,
        }),
    )
}

fn csrf_ok(form: &[(String, String)], session: &Session) -> bool {
    field(form, "csrf").is_some_and(|sent| random::constant_time_eq(sent, &session.csrf_token))
}

const EXPIRED: &str =
    "This form expired or did not come from Signet. Go back, reload the page and try again.";

/// [`authorised`] for a form post: also reads the form and checks its CSRF
/// token, refusing with a page titled `refused` if it does not match.
async fn authorised_form(
    state: &OAuthState,
    headers: &HeaderMap,
    id: &str,
    body: Body,
    refused: &str,
) -> Result<(Session, Connection, Vec<(String, String)>), Response> {
    let (session, connection) = authorised(state, headers, id).await?;
    let form = read_form(body).await.unwrap_or_default();
    if !csrf_ok(&form, &session) {
        return Err(message(StatusCode::FORBIDDEN, refused, EXPIRED));
    }
    Ok((session, connection, form))
}

async fn rename(
    State(state): State<OAuthState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let (session, connection, form) =
        match authorised_form(&state, &headers, &id, body, "Not renamed").await {
            Ok(found) => found,
            Err(response) => return response,
        };
    match state
        .connections
        .rename(
            &Actor::User(session.user.id.clone()),
            &id,
            field(&form, "name").unwrap_or_default(),
        )
        .await
    {
        Ok(_) => back_to(&connection.org_id, "renamed"),
        Err(OAuthError::InvalidRequest(_)) => {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("org", &connection.org_id)
                .append_pair("rename_error", &connection.id)
                .finish();
            see_other(&format!("{PATH}?{query}"))
        }
        Err(error) => error_page(&error.to_string()),
    }
}

async fn confirm(
    State(state): State<OAuthState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (session, connection) = match authorised(&state, &headers, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !connection.is_active() {
        return back_to(&connection.org_id, "disconnected");
    }
    page(
        StatusCode::OK,
        render(&DisconnectPage {
            id: &connection.id,
            name: &connection.name,
            client_id: &connection.client_id,
            user_email: &connection.user_email,
            org_id: &connection.org_id,
            csrf: &session.csrf_token,
        }),
    )
}

async fn disconnect(
    State(state): State<OAuthState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let (session, connection, _) =
        match authorised_form(&state, &headers, &id, body, "Not disconnected").await {
            Ok(found) => found,
            Err(response) => return response,
        };
    match state
        .connections
        .disconnect(
            &Actor::User(session.user.id.clone()),
            &id,
            DisconnectReason::Disconnected,
        )
        .await
    {
        Ok(_) => back_to(&connection.org_id, "disconnected"),
        Err(error) => error_page(&error.to_string()),
    }
}
