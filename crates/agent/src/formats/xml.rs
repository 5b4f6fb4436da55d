//! A small element tree read from an outside XML document with `quick-xml`, keeping each
//! element's line so that every rejected element can be named by line and path.
//!
//! Why not `quick-xml`'s serde deserializer: it loses positions, and the ingest must name
//! every rejected element. The tree is bounded (depth, element count, document size), a
//! DOCTYPE is refused (no entity expansion of any kind beyond the five predefined ones and
//! character references), and parser messages never quote document text: a syntax error
//! names its category and line only, since text may hold a confidential value.

use quick_xml::events::Event;
use quick_xml::Reader;

use super::FormatError;

/// Largest XML document read, in bytes.
pub const MAX_XML_BYTES: usize = 32 * 1024 * 1024;
/// Deepest element nesting accepted.
pub const MAX_DEPTH: usize = 64;
/// Most elements one document may hold.
pub const MAX_ELEMENTS: usize = 1_000_000;

/// One element: its local name (namespace prefix dropped), attributes, text and children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Local name (`b2mml:ID` → `ID`).
    pub name: String,
    /// Attributes as (local name, unescaped value), in document order.
    pub attrs: Vec<(String, String)>,
    /// Text content directly inside the element (CDATA included), trimmed.
    pub text: String,
    /// Child elements in order.
    pub children: Vec<Element>,
    /// 1-based line of the start tag.
    pub line: usize,
}

impl Element {
    /// Children named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Text of the first child named `name`, when present and not empty.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.as_str())
            .filter(|t| !t.is_empty())
    }

    /// Value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Byte offset → 1-based line.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Lines {
        Lines(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    fn line(&self, offset: u64) -> usize {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        self.0.partition_point(|&nl| nl < offset) + 1
    }
}

fn local(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, l)| l)
}

/// What kind of XML defect, without quoting any document text.
fn category(e: &quick_xml::Error) -> String {
    use quick_xml::errors::IllFormedError as I;
    match e {
        quick_xml::Error::Syntax(s) => s.to_string(),
        quick_xml::Error::IllFormed(I::MissingEndTag(_)) => "an element is not closed".into(),
        quick_xml::Error::IllFormed(I::UnmatchedEndTag(_)) => {
            "an end tag closes no open element".into()
        }
        quick_xml::Error::IllFormed(I::MismatchedEndTag { .. }) => {
            "an end tag does not match its start tag".into()
        }
        quick_xml::Error::IllFormed(_) => "ill-formed markup".into(),
        quick_xml::Error::InvalidAttr(_) => "malformed attribute".into(),
        quick_xml::Error::Encoding(_) => "not valid UTF-8".into(),
        quick_xml::Error::Escape(_) => "bad entity or character reference".into(),
        quick_xml::Error::Namespace(_) => "bad namespace prefix".into(),
        quick_xml::Error::Io(_) => "read error".into(),
    }
}

/// Parses a whole document into its root element. Errors name the line and the kind of
/// defect, never document text.
pub fn parse(bytes: &[u8], origin: &str) -> Result<Element, FormatError> {
    let bad = |line: usize, reason: String| FormatError::Xml {
        origin: origin.to_string(),
        line,
        reason,
    };
    let bytes = super::within_limit(bytes, origin, MAX_XML_BYTES)?;
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        bad(line, "not valid UTF-8".into())
    })?;
    let lines = Lines::new(text);
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(false);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let before = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| bad(lines.line(reader.error_position()), category(&e)))?;
        let line = lines.line(before);
        let element = |e: &quick_xml::events::BytesStart<'_>| -> Result<Element, FormatError> {
            let mut attrs = Vec::new();
            for a in e.attributes() {
                let a = a.map_err(|_| bad(line, "malformed attribute".into()))?;
                let key = local(a.key.as_ref()).to_string();
                if key == "xmlns" || a.key.as_ref().starts_with("xmlns:") {
                    continue;
                }
                let value = a
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map_err(|_| bad(line, "bad entity or character reference".into()))?;
                attrs.push((key, value.into_owned()));
            }
            Ok(Element {
                name: local(e.name().as_ref()).to_string(),
                attrs,
                text: String::new(),
                children: Vec::new(),
                line,
            })
        };
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() && stack.is_empty() => {
                return Err(bad(line, "content after the root element".into()));
            }
            Event::Start(e) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err(bad(
                        line,
                        format!("more than {MAX_DEPTH} nested or {MAX_ELEMENTS} elements in all"),
                    ));
                }
                stack.push(element(&e)?);
            }
            Event::Empty(e) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(bad(line, format!("more than {MAX_ELEMENTS} elements")));
                }
                let el = element(&e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let Some(mut done) = stack.pop() else {
                    return Err(bad(line, "an end tag closes no open element".into()));
                };
                done.text = done.text.trim().to_string();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(bad(line, "text outside the root element".into())),
                }
            }
            Event::CData(t) => match stack.last_mut() {
                Some(el) => el.text.push_str(&t.xml10_content()),
                None => return Err(bad(line, "CDATA outside the root element".into())),
            },
            Event::GeneralRef(r) => {
                let resolved: String = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| bad(line, "unknown entity reference".into()))?
                        .to_string(),
                    Err(_) => return Err(bad(line, "bad character reference".into())),
                };
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&resolved),
                    None => return Err(bad(line, "reference outside the root element".into())),
                }
            }
            Event::DocType(_) => {
                return Err(bad(line, "a DOCTYPE is not accepted".into()));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(bad(
            lines.line(reader.buffer_position()),
            "an element is not closed".into(),
        ));
    }
    root.ok_or_else(|| bad(1, "no root element".into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tree_keeps_lines_names_and_text() {
        let doc = "<?xml version=\"1.0\"?>\n<a:Root xmlns:a=\"u\" k=\"v&amp;w\">\n  <a:X>1 &lt; 2</a:X>\n  <Y/><![CDATA[c]]>\n</a:Root>\n";
        let r = parse(doc.as_bytes(), "t").unwrap();
        assert_eq!(r.name, "Root");
        assert_eq!(r.line, 2);
        assert_eq!(r.attr("k"), Some("v&w"));
        assert_eq!(r.child_text("X"), Some("1 < 2"));
        assert_eq!(r.child("X").unwrap().line, 3);
        assert_eq!(r.child("Y").unwrap().line, 4);
        assert_eq!(r.text, "c");
    }

    #[test]
    fn defects_name_the_line_not_the_text() {
        for (doc, line) in [
            ("<a>\n<b>4242.5</c>\n</a>", 2),
            ("<a>\n<b>&secret4242;</b></a>", 2),
            ("<!DOCTYPE a [<!ENTITY x \"4242\">]>\n<a/>", 1),
            ("<a>\n\n<b>", 3),
            ("<a/><b/>", 1),
            ("", 1),
        ] {
            let e = parse(doc.as_bytes(), "t").unwrap_err();
            let FormatError::Xml { line: l, .. } = &e else {
                panic!("{e}")
            };
            assert_eq!(*l, line, "{doc}: {e}");
            assert!(!e.to_string().contains("4242"), "{e}");
        }
    }

    #[test]
    fn depth_is_bounded() {
        let doc = "<a>".repeat(MAX_DEPTH + 1);
        assert!(parse(doc.as_bytes(), "t").is_err());
    }
}
