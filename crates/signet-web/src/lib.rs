//! Signet's HTML pages: one layout, one small stylesheet of our own (no
//! external fonts or CDNs), and templates that escape everything they show.
//! Pages work without JavaScript. Handlers live with the flows they serve;
//! this crate only renders.

use askama::Template;

/// The stylesheet, served at `/assets/signet.css`.
pub const STYLESHEET: &str = include_str!("../assets/signet.css");
/// The signing page's drawing pad, served at `/assets/signing.js`. The
/// page works without it (signatures are then typed).
pub const SIGNING_SCRIPT: &str = include_str!("../assets/signing.js");

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

/// A document on the signing page, with its pages once they can be shown.
#[derive(Debug)]
pub struct SigningDocument {
    pub name: String,
    pub pages: Option<i64>,
    pub view_href: String,
    pub download_href: String,
    pub page_views: Vec<SigningPageView>,
}

/// One page: its image, the places on it, and the recipient's own fields
/// whose first place is on it (the controls follow the page they belong to).
#[derive(Debug)]
pub struct SigningPageView {
    pub number: u32,
    pub image_href: String,
    /// The page's width and height in points, for the image's aspect ratio.
    pub width: u32,
    pub height: u32,
    pub alt: String,
    pub boxes: Vec<SigningBox>,
    pub fields: Vec<SigningField>,
}

/// A place drawn over a page image, in percentages of the page.
#[derive(Debug)]
pub struct SigningBox {
    pub style: String,
    pub label: String,
    /// The id of the recipient's control for it; `None` for someone else's place.
    pub target: Option<String>,
    /// What the place already shows.
    pub shown: Option<String>,
    pub signature_like: bool,
}

/// How a field is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldControl {
    /// Signature or initials: typed, drawn, or either.
    Mark {
        typed: bool,
        drawn: bool,
    },
    Text,
    Multiline,
    Checkbox,
    Dropdown,
}

/// One of the recipient's fields, with what they entered so far.
#[derive(Debug)]
pub struct SigningField {
    /// The control's id (`place-KEY`), which the boxes link to.
    pub id: String,
    /// The form name (`place.KEY`).
    pub name: String,
    pub label: String,
    pub required: bool,
    pub control: FieldControl,
    pub options: Vec<String>,
    pub value: String,
    /// Drawn rather than typed, when the form comes back.
    pub drawn: bool,
    pub drawing: String,
}

impl SigningField {
    pub fn is_mark(&self) -> bool {
        matches!(self.control, FieldControl::Mark { .. })
    }

    pub fn can_type(&self) -> bool {
        matches!(self.control, FieldControl::Mark { typed: true, .. })
    }

    pub fn can_draw(&self) -> bool {
        matches!(self.control, FieldControl::Mark { drawn: true, .. })
    }

    pub fn both_ways(&self) -> bool {
        matches!(
            self.control,
            FieldControl::Mark {
                typed: true,
                drawn: true
            }
        )
    }
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
    /// They own no signature place: they type their name for the envelope.
    pub types_name: bool,
    /// What was typed, kept when the form comes back with an error.
    pub typed: &'a str,
    /// The statement they agree to before signing.
    pub consent: &'a str,
    pub consented: bool,
}

/// The public page that verifies a deliverable.
#[derive(Debug, Template)]
#[template(path = "verify.html")]
pub struct VerifyPage<'a> {
    /// The form's proof that it came from this page (a signed expiry).
    pub expires: &'a str,
    pub signature: &'a str,
    pub limit_mb: usize,
    pub outcome: Option<VerifyOutcome>,
    pub error: Option<&'a str>,
}

/// A verification's verdict, ready to show.
#[derive(Debug)]
pub struct VerifyOutcome {
    /// `valid`, `modified` or `unknown` (also the CSS class).
    pub result: String,
    pub heading: String,
    pub summary: String,
    pub details: Vec<(String, String)>,
}

/// The first page of a recipient who must enter a code sent to their email
/// before the signing page opens.
#[derive(Debug, Template)]
#[template(path = "signing_code.html")]
pub struct SigningCodePage<'a> {
    pub title: &'a str,
    pub test_mode: bool,
    /// "Enter the code we sent to j•••@example.com."
    pub lead: &'a str,
    /// Where the current code stands (time and attempts left, expired, locked).
    pub status: Option<&'a str>,
    pub error: Option<&'a str>,
    /// A code is waiting to be entered: show the entry form.
    pub entry: bool,
    /// A code was sent before, so the button asks for a new one.
    pub sent: bool,
    /// How long until another code may be sent; the button is hidden meanwhile.
    pub send_wait: Option<&'a str>,
    pub send_action: &'a str,
    pub enter_action: &'a str,
    pub digits: usize,
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
    fn the_code_page_offers_to_send_and_then_to_enter() {
        let mut page = SigningCodePage {
            title: "NDA <b>",
            test_mode: false,
            lead: "To open this request, enter a code we send to j•••@example.com.",
            status: None,
            error: None,
            entry: false,
            sent: false,
            send_wait: None,
            send_action: "/sign/t/send-code",
            enter_action: "/sign/t/code",
            digits: 8,
        };
        let html = render(&page);
        assert!(
            html.contains("NDA &#60;b&#62;") || html.contains("NDA &lt;b&gt;"),
            "{html}"
        );
        assert!(
            html.contains(r#"<form method="post" action="/sign/t/send-code">"#),
            "{html}"
        );
        assert!(html.contains("Send me a code"), "{html}");
        assert!(!html.contains(r#"name="code""#), "{html}");
        page.entry = true;
        page.sent = true;
        page.send_wait = Some("45 seconds");
        page.error = Some("That code is not right. 4 attempts left.");
        let html = render(&page);
        assert!(html.contains(r#"action="/sign/t/code""#), "{html}");
        assert!(html.contains(r#"autocomplete="one-time-code""#), "{html}");
        assert!(html.contains(r#"aria-invalid="true""#), "{html}");
        assert!(
            html.contains("You can ask for a new code in 45 seconds."),
            "{html}"
        );
        assert!(!html.contains("/sign/t/send-code"), "{html}");
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
