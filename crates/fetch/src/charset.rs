//! Bytes to text. Feeds and pages on Arabic sites are still often in windows-1256 and often
//! mislabelled, so the order of evidence matters:
//!
//! 1. a byte-order mark (it cannot be wrong);
//! 2. the `charset` of the HTTP `Content-Type`;
//! 3. the document's own declaration (`<?xml encoding=…?>`, `<meta charset>`);
//! 4. UTF-8 if the bytes are valid UTF-8;
//! 5. statistical detection (chardetng).
//!
//! A label of UTF-8 (from 2 or 3) on bytes that are not UTF-8 is treated as a lie and detection
//! decides, since that is the usual failure of legacy sites behind modern servers, unless the
//! bytes are UTF-8 with a few bad bytes (a truncated character, one stray byte): then they are
//! decoded as UTF-8, and only the bad bytes become U+FFFD. Re-decoding a whole Arabic feed as
//! another charset for one bad byte would turn every entry into mojibake.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

use crate::FetchError;

/// Decoded text and how its encoding was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The text, UTF-8. For XML, the declaration's `encoding` now says `utf-8`.
    pub text: String,
    /// The encoding's canonical name (e.g. `windows-1256`).
    pub encoding: &'static str,
    /// Which evidence decided: `bom`, `http`, `declaration`, `utf8`, `detected`.
    pub decided_by: &'static str,
}

/// Decodes a feed (XML or JSON). `content_type` is the HTTP header, if any; `origin` names the
/// input in errors.
pub fn decode_body(bytes: &[u8], content_type: Option<&str>, origin: &str) -> Result<Decoded, FetchError> {
    let mut d = decode(bytes, content_type, xml_declared_encoding(bytes), origin)?;
    d.text = rewrite_xml_declaration(d.text);
    Ok(d)
}

/// Decodes an HTML page, honouring `<meta charset>` / `http-equiv` declarations.
pub fn decode_html(bytes: &[u8], content_type: Option<&str>, origin: &str) -> Result<Decoded, FetchError> {
    decode(bytes, content_type, html_declared_encoding(bytes), origin)
}

fn decode(
    bytes: &[u8],
    content_type: Option<&str>,
    declared: Option<String>,
    origin: &str,
) -> Result<Decoded, FetchError> {
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        let (text, _) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        return Ok(Decoded { text: text.into_owned(), encoding: enc.name(), decided_by: "bom" });
    }
    // UTF-16 without a BOM announces itself by the NULs around "<".
    if bytes.starts_with(&[b'<', 0, b'?', 0]) || bytes.starts_with(&[b'<', 0, b'r', 0]) {
        return Ok(lossy(UTF_16LE, bytes, "declaration"));
    }
    if bytes.starts_with(&[0, b'<', 0, b'?']) || bytes.starts_with(&[0, b'<', 0, b'r']) {
        return Ok(lossy(UTF_16BE, bytes, "declaration"));
    }
    if bytes.starts_with(&[0, 0, 0, b'<']) || bytes.starts_with(&[b'<', 0, 0, 0]) {
        return Err(FetchError::Encoding { url: origin.to_owned(), encoding: "UTF-32".into() });
    }
    let header = content_type.and_then(charset_param);
    for (label, source) in [(header, "http"), (declared, "declaration")] {
        let Some(label) = label else { continue };
        let Some(enc) = Encoding::for_label(label.trim().as_bytes()) else {
            return Err(FetchError::Encoding { url: origin.to_owned(), encoding: label });
        };
        // A UTF-16 label on ASCII-compatible bytes is a mislabel: decoding it would produce
        // garbage, so ignore it, as browsers do.
        if enc == UTF_16LE || enc == UTF_16BE {
            continue;
        }
        if enc == UTF_8 && std::str::from_utf8(bytes).is_err() && !mostly_utf8(bytes) {
            break; // a lying UTF-8 label: let detection decide
        }
        return Ok(lossy(enc, bytes, source));
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok(Decoded { text: s.to_owned(), encoding: UTF_8.name(), decided_by: "utf8" });
    }
    if mostly_utf8(bytes) {
        return Ok(lossy(UTF_8, bytes, "utf8"));
    }
    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    det.feed(bytes, true);
    let enc = det.guess(None, chardetng::Utf8Detection::Allow);
    Ok(lossy(enc, bytes, "detected"))
}

/// Whether `bytes` are UTF-8 text with a few bad bytes: at least 20 valid non-ASCII characters
/// per invalid sequence. Text in a legacy single-byte charset (windows-1256, ISO-8859-x) has
/// high bytes that almost never form valid UTF-8 sequences, so it fails this by far.
fn mostly_utf8(bytes: &[u8]) -> bool {
    let (mut valid, mut invalid) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        valid += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        invalid += usize::from(!chunk.invalid().is_empty());
    }
    valid > 0 && valid >= 20 * invalid
}

fn lossy(enc: &'static Encoding, bytes: &[u8], decided_by: &'static str) -> Decoded {
    let (text, _) = enc.decode_without_bom_handling(bytes);
    Decoded { text: text.into_owned(), encoding: enc.name(), decided_by }
}

/// `charset` parameter of a `Content-Type` value.
fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("charset").then(|| v.trim().trim_matches(['"', '\'']).to_owned())
    })
}

/// The `encoding` pseudo-attribute of an XML declaration at the start of `bytes`.
fn xml_declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(512)];
    let head = String::from_utf8_lossy(head);
    let decl = head.trim_start().strip_prefix("<?xml")?;
    let decl = &decl[..decl.find("?>")?];
    attr_value(decl, "encoding")
}

/// The value of attribute `name` in a tag's text (quoted or not); `None` when absent or empty.
pub(crate) fn attr_value(s: &str, name: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find(name) {
        let start = from + pos + name.len();
        let rest = lower[start..].trim_start();
        if let Some(rest) = rest.strip_prefix('=') {
            let rest = rest.trim_start();
            let offset = lower.len() - rest.len();
            let quote = rest.chars().next()?;
            let value = if quote == '"' || quote == '\'' {
                let body = &s[offset + 1..];
                &body[..body.find(quote)?]
            } else {
                let body = &s[offset..];
                &body[..body
                    .find(|c: char| c.is_whitespace() || matches!(c, ';' | '>' | '/' | '"' | '\''))
                    .unwrap_or(body.len())]
            };
            return Some(value.trim().to_owned()).filter(|v| !v.is_empty());
        }
        from = start;
    }
    None
}

/// The charset declared by a `<meta>` tag in the first 4 KiB of an HTML page.
fn html_declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    let lower = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find("<meta") {
        let start = from + pos;
        let end = lower[start..].find('>').map_or(lower.len(), |e| start + e);
        let tag = &head[start..end];
        if let Some(v) = attr_value(tag, "charset") {
            return Some(v);
        }
        from = end;
    }
    None
}

/// After decoding, the document is UTF-8: say so in its declaration, or the XML parser would
/// decode it a second time with the original label.
fn rewrite_xml_declaration(text: String) -> String {
    let trimmed = text.trim_start();
    if !trimmed.starts_with("<?xml") {
        return text;
    }
    let lead = text.len() - trimmed.len();
    let Some(end) = trimmed.find("?>") else { return text };
    let decl = &trimmed[..end];
    let lower = decl.to_ascii_lowercase();
    let Some(pos) = lower.find("encoding") else { return text };
    let after = &decl[pos..];
    let Some(q1) = after.find(['"', '\'']) else { return text };
    let quote = after.as_bytes()[q1] as char;
    let Some(q2) = after[q1 + 1..].find(quote) else { return text };
    let value_start = lead + pos + q1 + 1;
    let value_end = value_start + q2;
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..value_start]);
    out.push_str("utf-8");
    out.push_str(&text[value_end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bad_byte_in_utf8_arabic_stays_one_replacement_character() {
        let entry = "<item><title>تلقى وزير الخارجية الروسي اتصالا هاتفيا من نظيره الأميركي</title></item>";
        let good = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss><channel>{}</channel></rss>",
            entry.repeat(3)
        );
        let mut bytes = good.clone().into_bytes();
        // A stray byte between two elements, in the middle of the feed.
        let at = good.match_indices("<item>").nth(1).map_or(0, |(i, _)| i);
        bytes.insert(at, 0xff);
        for content_type in [Some("application/rss+xml; charset=utf-8"), None] {
            let d = decode_body(&bytes, content_type, "t").unwrap();
            assert_eq!(d.encoding, "UTF-8", "{content_type:?}");
            assert_eq!(d.text.matches('\u{fffd}').count(), 1);
            assert_eq!(d.text.matches("تلقى وزير الخارجية الروسي").count(), 3, "every entry intact");
        }
        // A windows-1256 body labelled UTF-8 is still found out.
        let (cp1256, _, _) = encoding_rs::WINDOWS_1256.encode(&good);
        let d = decode_body(&cp1256, Some("text/xml; charset=utf-8"), "t").unwrap();
        assert_eq!(d.encoding, "windows-1256");
        assert!(d.text.contains("تلقى وزير"));
    }

    #[test]
    fn windows_1256_declared_in_xml_is_decoded_and_redeclared() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1256
            .encode("<?xml version=\"1.0\" encoding=\"windows-1256\"?><rss><t>بوتين</t></rss>");
        let d = decode_body(&bytes, None, "t").unwrap();
        assert_eq!(d.encoding, "windows-1256");
        assert_eq!(d.decided_by, "declaration");
        assert!(d.text.contains("بوتين"));
        assert!(d.text.contains("encoding=\"utf-8\""), "{}", d.text);
    }

    #[test]
    fn http_charset_beats_declaration_and_bom_beats_both() {
        let (bytes, _, _) =
            encoding_rs::WINDOWS_1256.encode("<?xml version='1.0' encoding='iso-8859-1'?><a>ترامب</a>");
        let d = decode_body(&bytes, Some("text/xml; charset=\"windows-1256\""), "t").unwrap();
        assert_eq!((d.encoding, d.decided_by), ("windows-1256", "http"));
        let mut with_bom = vec![0xEF, 0xBB, 0xBF];
        with_bom.extend_from_slice("<a>ترامب</a>".as_bytes());
        let d = decode_body(&with_bom, Some("text/xml; charset=windows-1256"), "t").unwrap();
        assert_eq!((d.encoding, d.decided_by), ("UTF-8", "bom"));
        assert!(d.text.contains("ترامب"));
    }

    #[test]
    fn a_lying_utf8_label_falls_back_to_detection() {
        let text = "<rss><item><title>وزير الخارجية الروسي سيرغي لافروف في اتصال هاتفي مع نظيره الأمريكي</title></item></rss>";
        let (bytes, _, _) = encoding_rs::WINDOWS_1256.encode(text);
        let d = decode_body(&bytes, Some("application/rss+xml; charset=utf-8"), "t").unwrap();
        assert_eq!(d.decided_by, "detected");
        assert_eq!(d.encoding, "windows-1256");
        assert_eq!(d.text, text);
    }

    #[test]
    fn unknown_label_is_a_clear_error() {
        let e = decode_body(b"<?xml version='1.0' encoding='x-klingon'?><a/>", None, "feed.xml").unwrap_err();
        assert_eq!(e.to_string(), "feed.xml: unsupported character encoding \"x-klingon\"");
    }

    #[test]
    fn html_meta_charset() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1256.encode("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1256\"></head><body>روسيا</body></html>");
        let d = decode_html(&bytes, None, "p").unwrap();
        assert_eq!((d.encoding, d.decided_by), ("windows-1256", "declaration"));
        assert!(d.text.contains("روسيا"));
    }
}
