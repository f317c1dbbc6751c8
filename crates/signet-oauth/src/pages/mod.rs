//! The pages a person sees, each a thin adapter over the services behind
//! it; every page carries the security headers and works without
//! JavaScript.
//!
//! - this module: the router, the helpers every page shares (headers,
//!   cookies, forms, the session), the home page and the stylesheet;
//! - `sign_in.rs`: sign-in and sign-out;
//! - `consent.rs`: `/oauth/authorize`, the consent page and its answer,
//!   over [`authorize`](crate::authorize) and [`Grants`](crate::grants::Grants);
//! - `applications.rs`: Settings → Applications (Rename, Disconnect).

mod applications;
mod consent;
mod sign_in;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use signet_http::ClientAddr;
use signet_identity::{ClientInfo, Session};
use signet_web::{MessagePage, render};
use url::form_urlencoded;

use crate::http::OAuthState;

/// Largest form accepted from a browser.
const FORM_LIMIT: usize = 64 * 1024;

pub fn router(state: OAuthState) -> Router {
    Router::new()
        .route("/", get(home))
        .route(
            "/login",
            get(sign_in::login_form).post(sign_in::login_submit),
        )
        .route("/logout", axum::routing::post(sign_in::logout))
        .route(
            "/oauth/authorize",
            get(consent::authorize_get).post(consent::authorize_post),
        )
        .route("/assets/signet.css", get(stylesheet))
        .merge(applications::router())
        .with_state(state)
}

/// An HTML response with the headers every page carries.
fn page(status: StatusCode, html: String) -> Response {
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
    signet_http::no_store(response)
}

fn message(status: StatusCode, title: &str, text: &str) -> Response {
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

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    signet_http::no_store(response)
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

    async fn session(&self, headers: &HeaderMap) -> Option<Session> {
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

async fn read_form(body: Body) -> Option<Vec<(String, String)>> {
    let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.ok()?;
    Some(form_urlencoded::parse(&bytes).into_owned().collect())
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A path on this site to return to after sign-in. Only a path that means
/// the same to every browser qualifies: one leading `/`, no `//`, no
/// backslash (browsers read it as `/`), no control character or space
/// (browsers drop tabs and newlines, so `/\t/host` would become `//host`),
/// and it must stay on this origin once resolved. Anything else becomes `/`.
fn safe_return_to(candidate: Option<&str>) -> String {
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
