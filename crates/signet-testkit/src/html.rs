//! Reading Signet's pages as a browser would: the hidden inputs a form
//! submits and the organizations a consent page offers.

/// The HTML escapes askama writes, undone.
fn unescape(text: &str) -> String {
    text.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
}

/// Every `<input type="hidden">` of a page, as a browser would submit it.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once('"').unwrap();
            let value = rest
                .split_once("value=\"")
                .unwrap()
                .1
                .split_once('"')
                .unwrap()
                .0;
            (unescape(name), unescape(value))
        })
        .collect()
}

/// The organization choices of a consent page: `(id, label)`.
pub fn org_choices(html: &str) -> Vec<(String, String)> {
    html.split("name=\"org_id\" value=\"")
        .skip(1)
        .map(|rest| {
            let (id, rest) = rest.split_once('"').unwrap();
            let label = rest
                .split_once('>')
                .unwrap()
                .1
                .split_once("</label>")
                .unwrap()
                .0
                .trim();
            (id.to_owned(), unescape(label))
        })
        .collect()
}
