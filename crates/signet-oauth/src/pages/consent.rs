//! `/oauth/authorize`: the checks of [`authorize`](crate::authorize), the
//! consent page for one organization, and the answer to it — a code
//! redirect, or the client told that access was denied.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use signet_http::ClientAddr;
use signet_identity::{AccountStatus, Session};
use signet_store::audit::{self, Actor, AuditAction, AuditEvent};
use signet_store::random;
use signet_web::{ConsentPage, OrgChoice, render};
use url::form_urlencoded;

use super::{field, message, page, read_form, see_other};
use crate::authorize::{self, AuthorizeRequest, Refusal};
use crate::grants::{Approval, Remembered};
use crate::http::OAuthState;
use crate::{OAuthError, Scope};

fn refusal_response(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Page(text) => message(
            StatusCode::BAD_REQUEST,
            "This connection request cannot be completed",
            &text,
        ),
        Refusal::Redirect(location) => see_other(&location),
    }
}

/// The request's parameters as a path to come back to after sign-in,
/// without `prompt=login` (which sign-in just satisfied).
fn authorize_return_path(request: &AuthorizeRequest) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &request.params {
        if name == "prompt" {
            let kept: Vec<&str> = value
                .split(' ')
                .filter(|p| *p != "login" && !p.is_empty())
                .collect();
            if !kept.is_empty() {
                query.append_pair(name, &kept.join(" "));
            }
        } else {
            query.append_pair(name, value);
        }
    }
    format!("/oauth/authorize?{}", query.finish())
}

pub(super) async fn authorize_get(
    State(state): State<OAuthState>,
    client: ClientAddr,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let request = match authorize::validate(&state.clients, &state.issuer, &params).await {
        Ok(request) => request,
        Err(refusal) => return refusal_response(refusal),
    };
    let redirect_error = |error: OAuthError| {
        see_other(&authorize::error_redirect(
            &state.issuer,
            &request.redirect_uri,
            request.state.as_deref(),
            &error,
        ))
    };
    let session = if request.prompts("login") {
        None
    } else {
        state.session(&headers).await
    };
    let Some(session) = session else {
        if request.prompts("none") {
            return redirect_error(OAuthError::LoginRequired(
                "The user is not signed in".to_owned(),
            ));
        }
        let return_to = authorize_return_path(&request);
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", &return_to)
            .finish();
        return see_other(&format!("/login?{query}"));
    };
    let organizations = match state.identity.organizations_of_user(&session.user.id).await {
        Ok(orgs) => orgs,
        Err(error) => return redirect_error(OAuthError::Server(error.to_string())),
    };
    if organizations.is_empty() {
        if request.prompts("none") {
            return redirect_error(OAuthError::AccessDenied(
                "The user belongs to no organization".to_owned(),
            ));
        }
        return message(
            StatusCode::FORBIDDEN,
            "No organization to connect",
            "You are not a member of any organization, so there is nothing to connect this application to. Ask an administrator to add you to one.",
        );
    }
    if let [only] = organizations.as_slice()
        && !request.prompts("consent")
    {
        let consent = Remembered {
            user_id: &session.user.id,
            org_id: &only.id,
            client_id: &request.client.id,
            install_key: request.client.install_key(&request.redirect_uri),
            redirect_uri: &request.redirect_uri,
            session_id: &session.id,
            scopes: &request.scopes,
        };
        match state.grants.remembered(&consent).await {
            Ok(true) => {
                return issue_code(&state, &request, &session, &only.id, client).await;
            }
            Ok(false) => {}
            Err(error) => return redirect_error(error),
        }
    }
    if request.prompts("none") {
        return redirect_error(OAuthError::ConsentRequired(
            "The user has not approved this application".to_owned(),
        ));
    }
    let redirect_host = url::Url::parse(&request.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| {
            request
                .redirect_uri
                .split(':')
                .next()
                .unwrap_or_default()
                .to_owned()
                + ":"
        });
    let localhost_only = request
        .client
        .redirect_uris
        .iter()
        .all(|uri| url::Url::parse(uri).is_ok_and(|u| crate::redirect_uri::is_loopback(&u)));
    let choices = organizations
        .into_iter()
        .map(|org| OrgChoice {
            note: match org.account_status {
                None => Some("no account".to_owned()),
                Some(AccountStatus::Active) => None,
                Some(status) => Some(format!("account {status}")),
            },
            id: org.id,
            name: org.name,
        })
        .collect();
    let carried: Vec<(String, String)> = request
        .params
        .iter()
        .filter(|(k, _)| k != "prompt")
        .cloned()
        .collect();
    page(
        StatusCode::OK,
        render(&ConsentPage {
            client_name: &request.client.name,
            redirect_host: &redirect_host,
            localhost_only,
            scopes: request.scopes.iter().map(|s| scope_in_words(s)).collect(),
            organizations: choices,
            user_email: &session.user.email,
            csrf: &session.csrf_token,
            request: carried,
        }),
    )
}

fn scope_in_words(scope: &str) -> &'static str {
    match Scope::parse(scope) {
        Some(Scope::EnvelopesRead) => {
            "See your envelopes, their status, events, test emails and signed documents"
        }
        Some(Scope::EnvelopesWrite) => "Create, send, cancel and delete envelopes on your behalf",
        Some(Scope::OfflineAccess) | None => "Use Signet on your behalf",
    }
}

pub(super) async fn authorize_post(
    State(state): State<OAuthState>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(form) = read_form(body).await else {
        return message(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request too large",
            "The form was too large.",
        );
    };
    // The consent form's own controls appear once each; the request's
    // parameters travel beside them and are validated again.
    if ["csrf", "decision", "org_id"]
        .iter()
        .any(|name| form.iter().filter(|(k, _)| k == name).count() > 1)
    {
        return message(
            StatusCode::BAD_REQUEST,
            "This connection request cannot be completed",
            "The approval form was altered. Go back to the application and connect again.",
        );
    }
    let params: Vec<(String, String)> = form
        .iter()
        .filter(|(k, _)| authorize::PARAMETERS.contains(&k.as_str()))
        .cloned()
        .collect();
    let request = match authorize::validate(&state.clients, &state.issuer, &params).await {
        Ok(request) => request,
        Err(refusal) => return refusal_response(refusal),
    };
    let Some(session) = state.session(&headers).await else {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", &authorize_return_path(&request))
            .finish();
        return see_other(&format!("/login?{query}"));
    };
    if !field(&form, "csrf").is_some_and(|sent| random::constant_time_eq(sent, &session.csrf_token))
    {
        return message(
            StatusCode::FORBIDDEN,
            "Please try again",
            "This approval form expired or did not come from Signet. Go back to the application and connect again.",
        );
    }
    let redirect_error = |error: OAuthError| {
        see_other(&authorize::error_redirect(
            &state.issuer,
            &request.redirect_uri,
            request.state.as_deref(),
            &error,
        ))
    };
    if field(&form, "decision") != Some("approve") {
        let now = state.clock.now();
        if let Ok(mut conn) = state.identity.store().pool().acquire().await {
            let _ = audit::record(
                &mut conn,
                &Actor::User(session.user.id.clone()),
                now,
                AuditEvent {
                    action: AuditAction::ConsentDenied,
                    subject_id: Some(&request.client.id),
                    org_id: field(&form, "org_id"),
                    detail: serde_json::json!({ "client_id": request.client.id, "client_ip": client.to_string() }).to_string(),
                },
            )
            .await;
        }
        return redirect_error(OAuthError::AccessDenied(
            "The user denied access".to_owned(),
        ));
    }
    let Some(org_id) = field(&form, "org_id") else {
        return message(
            StatusCode::BAD_REQUEST,
            "Choose an organization",
            "Go back and choose the organization to connect.",
        );
    };
    match state.identity.organizations_of_user(&session.user.id).await {
        Ok(orgs) if orgs.iter().any(|o| o.id == org_id) => {
            issue_code(&state, &request, &session, org_id, client).await
        }
        Ok(_) => message(
            StatusCode::FORBIDDEN,
            "Not your organization",
            "You are not a member of the organization you chose.",
        ),
        Err(error) => redirect_error(OAuthError::Server(error.to_string())),
    }
}

async fn issue_code(
    state: &OAuthState,
    request: &AuthorizeRequest,
    session: &Session,
    org_id: &str,
    client: ClientAddr,
) -> Response {
    let ip = client.to_string();
    let approval = Approval {
        user_id: &session.user.id,
        org_id,
        client: &request.client,
        scopes: &request.scopes,
        redirect_uri: &request.redirect_uri,
        redirect_uri_explicit: request.redirect_uri_explicit,
        code_challenge: &request.code_challenge,
        client_ip: Some(&ip),
        session_id: &session.id,
    };
    match state.grants.approve(approval).await {
        Ok(code) => see_other(&authorize::code_redirect(&state.issuer, request, &code)),
        Err(error) => see_other(&authorize::error_redirect(
            &state.issuer,
            &request.redirect_uri,
            request.state.as_deref(),
            &error,
        )),
    }
}
