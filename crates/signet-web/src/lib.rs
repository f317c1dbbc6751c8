//! Signet's HTML pages: one layout, one small stylesheet of our own (no
//! external fonts or CDNs), and templates that escape everything they show.
//! Pages work without JavaScript. Handlers live with the flows they serve;
//! this crate only renders.

use askama::Template;

/// The stylesheet, served at `/assets/signet.css`.
pub const STYLESHEET: &str = include_str!("../assets/signet.css");

#[derive(Debug, Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub csrf: &'a str,
    pub return_to: &'a str,
    pub email: &'a str,
    pub error: Option<&'a str>,
}

/// One organization in the consent page's picker.
#[derive(Debug)]
pub struct OrgChoice {
    pub id: String,
    pub name: String,
    /// Why it may not work yet, e.g. "no account" or "account suspended".
    pub note: Option<String>,
}

#[derive(Debug, Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub client_name: &'a str,
    pub redirect_host: &'a str,
    pub localhost_only: bool,
    /// The scopes in plain words.
    pub scopes: Vec<&'a str>,
    pub organizations: Vec<OrgChoice>,
    pub user_email: &'a str,
    pub csrf: &'a str,
    /// The authorization request, carried through the form.
    pub request: Vec<(String, String)>,
}

#[derive(Debug, Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub title: &'a str,
    pub text: &'a str,
    /// Shows a sign-out button when set.
    pub sign_out_csrf: Option<&'a str>,
    /// An optional link: `(href, label)`.
    pub link: Option<(&'a str, &'a str)>,
}

/// One row of the Connected applications page, ready to show.
#[derive(Debug)]
pub struct ConnectionRow {
    pub id: String,
    pub name: String,
    pub client_id: String,
    pub user_email: String,
    pub created: String,
    pub last_seen: String,
    pub call_count: i64,
    pub scopes: String,
    pub active: bool,
    pub disconnected: Option<String>,
    /// Whether the viewer may rename and disconnect it.
    pub can_manage: bool,
    /// Why the last rename of this row was refused, shown by its field.
    pub rename_error: Option<String>,
}

/// An organization in the page's switcher.
#[derive(Debug)]
pub struct OrgLink {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Template)]
#[template(path = "applications.html")]
pub struct ApplicationsPage<'a> {
    pub organizations: Vec<OrgLink>,
    pub current_org: &'a str,
    pub current_org_name: &'a str,
    /// Owners and admins see every connection; members their own.
    pub sees_all: bool,
    pub connections: Vec<ConnectionRow>,
    pub csrf: &'a str,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
}

#[derive(Debug, Template)]
#[template(path = "disconnect.html")]
pub struct DisconnectPage<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub client_id: &'a str,
    pub user_email: &'a str,
    pub org_id: &'a str,
    pub csrf: &'a str,
}

/// A document listed on the signing page.
#[derive(Debug)]
pub struct SigningDocument {
    pub name: String,
    pub pages: Option<i64>,
    pub view_href: String,
    pub download_href: String,
}

/// Whether the signing page offers the form or says how things stand.
#[derive(Debug)]
pub enum SigningState {
    Open,
    Done(String),
}

#[derive(Debug, Template)]
#[template(path = "signing.html")]
pub struct SigningPage<'a> {
    pub title: &'a str,
    pub message: Option<&'a str>,
    pub recipient_name: &'a str,
    pub recipient_email: &'a str,
    pub test_mode: bool,
    pub documents: Vec<SigningDocument>,
    pub state: SigningState,
    /// "sign" or "approve".
    pub verb: &'a str,
    pub verb_title: &'a str,
    pub error: Option<&'a str>,
    /// What was typed, kept when the form comes back with an error.
    pub typed: &'a str,
}

/// Renders a template; a rendering failure (which askama's compile-time
/// checks make unlikely) becomes a plain, safe page.
pub fn render(page: &impl Template) -> String {
    page.render().unwrap_or_else(|_| {
        "<!doctype html><title>Signet</title><p>Something went wrong; please try again.</p>"
            .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_they_show() {
        let html = render(&MessagePage {
            title: "<script>alert(1)</script>",
            text: "a & b",
            sign_out_csrf: None,
            link: None,
        });
        assert!(
            html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        assert!(html.contains("/assets/signet.css"));
    }

    #[test]
    fn consent_preselects_a_single_organization() {
        let page = ConsentPage {
            client_name: "Claude",
            redirect_host: "claude.ai",
            localhost_only: false,
            scopes: vec!["Read your envelopes"],
            organizations: vec![OrgChoice {
                id: "org_1".into(),
                name: "Acme".into(),
                note: None,
            }],
            user_email: "ada@example.com",
            csrf: "tok",
            request: vec![("client_id".into(), "cli_1".into())],
        };
        let html = render(&page);
        assert!(html.contains(r#"value="org_1" required checked"#), "{html}");
        assert!(
            html.contains(r#"<input type="hidden" name="client_id" value="cli_1">"#),
            "{html}"
        );
    }
}
