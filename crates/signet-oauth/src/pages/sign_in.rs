//! Sign-in and sign-out. Sign-in is CSRF-protected by a cookie of its own,
//! generic in its failure message, and throttled per address and account.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use signet_http::ClientAddr;
use signet_identity::{Password, SignIn};
use signet_store::random;
use signet_web::{LoginPage, render};
use url::form_urlencoded;

use super::{
    client_info, cookie_value, field, message, page, read_form, safe_return_to, see_other,
};
use crate::http::OAuthState;

const LOGIN_CSRF_COOKIE: &str = "signet_login_csrf";

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

pub(super) async fn login_form(
    State(state): State<OAuthState>,
    RawQuery(query): RawQuery,
) -> Response {
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let return_to = safe_return_to(field(&params, "return_to"));
    login_page(&state, StatusCode::OK, &return_to, "", None)
}

pub(super) async fn login_submit(
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

pub(super) async fn logout(
    State(state): State<OAuthState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
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
