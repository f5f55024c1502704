//! Puts the built script and styles (`crates/report/assets/`, made by
//! `scripts/build-report-assets.sh`) and the data into the page template.

use super::data::ReportData;

const TEMPLATE: &str = include_str!("../../assets/template.html");
const SCRIPT: &str = include_str!("../../assets/report.js");
const STYLES: &str = include_str!("../../assets/report.css");
const LICENSES: &str = include_str!("../../assets/THIRD-PARTY-LICENSES.txt");

/// The page for `data`.
pub fn render_html(data: &ReportData) -> Result<String, serde_json::Error> {
    let json = serde_json::to_string(data)?;
    let title = escape_text(&data.title);
    let licenses = escape_text(LICENSES);
    let data = script_safe(&json);
    let script = script_safe_code(SCRIPT);
    Ok(fill(
        TEMPLATE,
        &[
            ("/*@STYLES@*/", STYLES),
            ("@TITLE@", &title),
            ("@LICENSES@", &licenses),
            ("@DATA@", &data),
            ("/*@SCRIPT@*/", &script),
        ],
    ))
}

/// `template` with each marker replaced by its value. Only the template is
/// searched, so a value (a file name in the data) that happens to contain
/// a marker stays as it is.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some((at, marker, value)) = values
        .iter()
        .filter_map(|&(m, v)| rest.find(m).map(|at| (at, m, v)))
        .min_by_key(|&(at, _, _)| at)
    {
        out.push_str(&rest[..at]);
        out.push_str(value);
        rest = &rest[at + marker.len()..];
    }
    out.push_str(rest);
    out
}

/// JSON that cannot end its `<script>` element: `<` appears in JSON only
/// inside strings, where `\u003c` means the same character.
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c")
}

/// A bundled script that cannot end its element early. esbuild escapes
/// `</script` in string literals already; this is a second guard.
fn script_safe_code(code: &str) -> String {
    code.replace("</script", "<\\/script")
}

fn escape_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_close_its_script_element() {
        let json = serde_json::to_string("</script><!--").unwrap();
        let safe = script_safe(&json);
        assert!(!safe.contains('<'));
        let back: String = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, "</script><!--");
    }

    #[test]
    fn values_are_never_searched_for_markers() {
        let page = fill("<t>@A@</t><d>@B@</d>@A@", &[("@A@", "x@B@"), ("@B@", "y")]);
        assert_eq!(page, "<t>x@B@</t><d>y</d>x@B@");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape_text("a<b>&c"), "a&lt;b&gt;&amp;c");
    }
}
