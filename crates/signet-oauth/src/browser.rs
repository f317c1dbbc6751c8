//! The pages a person sees: sign-in, consent, sign-out. Thin adapters over
//! [`authorize`](crate::authorize), [`Grants`](crate::grants::Grants) and
//! the identity service; every page carries the security headers and works
//! without JavaScript.

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use signet_http::ClientAddr;
use signet_identity::{AccountStatus, ClientInfo, Password, Session, SignIn};
use signet_store::audit::{self, Actor, AuditEvent};
use signet_store::random;
use signet_web::{ConsentPage, LoginPage, MessagePage, OrgChoice, render};
use url::form_urlencoded;

use crate::OAuthError;
use crate::authorize::{self, AuthorizeRequest, Refusal};
use crate::grants::{Approval, Remembered};
use crate::http::OAuthState;

const LOGIN_CSRF_COOKIE: &str = "signet_login_csrf";
/// Largest form accepted from a browser.
const FORM_LIMIT: usize = 64 * 1024;

pub fn router(state: OAuthState) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login_submit))
        .route("/logout", axum::routing::post(logout))
        .route("/oauth/authorize", get(authorize_get).post(authorize_post))
        .route("/assets/signet.css", get(stylesheet))
        .merge(crate::settings::router())
        .with_state(state)
}

/// An HTML response with the headers every page carries.
pub(crate) fn page(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(crate) fn message(status: StatusCode, title: &str, text: &str) -> Response {
    page(
        status,
        render(&MessagePage {
            title,
            text,
            sign_out_csrf: None,
            link: None,
        }),
    )
}

pub(crate) fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

impl OAuthState {
    fn session_cookie_name(&self) -> &'static str {
        if self.issuer.is_https() {
            "__Host-signet_session"
        } else {
            "signet_session"
        }
    }

    fn cookie(&self, name: &str, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.issuer.is_https() {
            "; Secure"
        } else {
            ""
        };
        let text =
            format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
        HeaderValue::from_str(&text)
            .unwrap_or_else(|_| HeaderValue::from_static("signet_invalid=1"))
    }

    pub(crate) async fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let cookie = cookie_value(headers, self.session_cookie_name())?;
        self.identity.session(&cookie).await.ok().flatten()
    }
}

fn client_info(headers: &HeaderMap, client: ClientAddr) -> ClientInfo {
    ClientInfo {
        ip: Some(client.to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

pub(crate) async fn read_form(body: Body) -> Option<Vec<(String, String)>> {
    let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.ok()?;
    Some(form_urlencoded::parse(&bytes).into_owned().collect())
}

pub(crate) fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A path on this site to return to after sign-in. Only a path that means
/// the same to every browser qualifies: one leading `/`, no `//`, no
/// backslash (browsers read it as `/`), no control character or space
/// (browsers drop tabs and newlines, so `/\t/host` would become `//host`),
/// and it must stay on this origin once resolved. Anything else becomes `/`.
pub(crate) fn safe_return_to(candidate: Option<&str>) -> String {
    const BASE: &str = "http://signet.invalid/";
    let acceptable = |path: &str| {
        path.starts_with('/')
            && !path.contains("//")
            && !path.contains('\\')
            && !path.chars().any(|c| c.is_control() || c.is_whitespace())
            && url::Url::parse(BASE)
                .and_then(|base| base.join(path))
                .is_ok_and(|resolved| resolved.as_str().starts_with(BASE))
    };
    match candidate {
        Some(path) if acceptable(path) => path.to_owned(),
        _ => "/".to_owned(),
    }
}

async fn stylesheet() -> Response {
    let mut response = signet_web::STYLESHEET.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

async fn home(State(state): State<OAuthState>, headers: HeaderMap) -> Response {
    match state.session(&headers).await {
        Some(session) => {
            let text = format!("You are signed in as {}.", session.user.email);
            page(
                StatusCode::OK,
                render(&MessagePage {
                    title: "Signet",
                    text: &text,
                    sign_out_csrf: Some(&session.csrf_token),
                    link: Some(("/settings/applications", "Connected applications")),
                }),
            )
        }
        None => see_other("/login"),
    }
}

fn login_page(
    state: &OAuthState,
    status: StatusCode,
    return_to: &str,
    email: &str,
    error: Option<&str>,
) -> Response {
    let Ok(csrf) = random::token() else {
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            "Signet could not start a sign-in; try again.",
        );
    };
    let mut response = page(
        status,
        render(&LoginPage {
            csrf: &csrf,
            return_to,
            email,
            error,
        }),
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        state.cookie(LOGIN_CSRF_COOKIE, &csrf, 3600),
    );
    response
}

async fn login_form(State(state): State<OAuthState>, RawQuery(query): RawQuery) -> Response {
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let return_to = safe_return_to(field(&params, "return_to"));
    login_page(&state, StatusCode::OK, &return_to, "", None)
}

async fn login_submit(
    State(state): State<OAuthState>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(form) = read_form(body).await else {
        return message(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Sign-in failed",
            "The form was too large.",
        );
    };
    let return_to = safe_return_to(field(&form, "return_to"));
    let email = field(&form, "email").unwrap_or_default().trim().to_owned();
    let csrf_ok = match (
        cookie_value(&headers, LOGIN_CSRF_COOKIE),
        field(&form, "csrf"),
    ) {
        (Some(cookie), Some(sent)) => random::constant_time_eq(&cookie, sent),
        _ => false,
    };
    if !csrf_ok {
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            &return_to,
            &email,
            Some("Your sign-in form expired. Please try again."),
        );
    }
    // 429 on the sign-in page itself, with `Retry-After`.
    let wait = |seconds: u64, what: &str| {
        let seconds = seconds.max(1);
        let text = format!("Too many {what}. Try again in {seconds} seconds.");
        let mut response = login_page(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            &return_to,
            &email,
            Some(&text),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        response
    };
    let info = client_info(&headers, client);
    if let Err(seconds) = state.sign_in_limit.take(client.0) {
        return wait(seconds, "sign-in attempts");
    }
    let password = Password::attempt(field(&form, "password").unwrap_or_default());
    match state.identity.sign_in(&email, password, &info).await {
        Ok(SignIn::Success { cookie, .. }) => {
            let mut response = see_other(&return_to);
            let lifetime = signet_identity::SESSION_LIFETIME.as_secs();
            response.headers_mut().append(
                header::SET_COOKIE,
                state.cookie(state.session_cookie_name(), &cookie, lifetime),
            );
            response
                .headers_mut()
                .append(header::SET_COOKIE, state.cookie(LOGIN_CSRF_COOKIE, "", 0));
            response
        }
        Ok(SignIn::Failed) => login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            &return_to,
            &email,
            Some("Incorrect email or password."),
        ),
        Ok(SignIn::Throttled { retry_after }) => wait(retry_after.as_secs(), "failed attempts"),
        Err(signet_identity::IdentityError::Busy) => {
            wait(signet_identity::HASH_WAIT.as_secs(), "sign-in attempts")
        }
        Err(error) => {
            tracing::error!(%error, "sign-in failed");
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again",
                "Signet could not sign you in just now; try again.",
            )
        }
    }
}

async fn logout(State(state): State<OAuthState>, headers: HeaderMap, body: Body) -> Response {
    let form = read_form(body).await.unwrap_or_default();
    if let (Some(session), Some(cookie)) = (
        state.session(&headers).await,
        cookie_value(&headers, state.session_cookie_name()),
    ) {
        if !field(&form, "csrf")
            .is_some_and(|sent| random::constant_time_eq(sent, &session.csrf_token))
        {
            return message(
                StatusCode::FORBIDDEN,
                "Not signed out",
                "The sign-out form expired. Go back and try again.",
            );
        }
        let _ = state.identity.end_session(&cookie).await;
    }
    let mut response = see_other("/login");
    response.headers_mut().append(
        header::SET_COOKIE,
        state.cookie(state.session_cookie_name(), "", 0),
    );
    response
}

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
pub(crate) fn authorize_return_path(request: &AuthorizeRequest) -> String {
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

async fn authorize_get(
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
    use crate::Scope;
    match Scope::parse(scope) {
        Some(Scope::EnvelopesRead) => {
            "See your envelopes, their status, events, test emails and signed documents"
        }
        Some(Scope::EnvelopesWrite) => "Create, send, cancel and delete envelopes on your behalf",
        Some(Scope::OfflineAccess) | None => "Use Signet on your behalf",
    }
}

async fn authorize_post(
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
                    action: "consent.denied",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_paths_stay_on_this_site() {
        assert_eq!(
            safe_return_to(Some("/oauth/authorize?a=b")),
            "/oauth/authorize?a=b"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "javascript:alert(1)",
            "",
            "/\t/127.0.0.1:18999/pwned",
            "/\u{b}/evil.example",
            "/\n/evil.example",
            "/a//b",
            "/ /evil.example",
            "/\u{7f}x",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_return_to(None), "/");
    }
}
