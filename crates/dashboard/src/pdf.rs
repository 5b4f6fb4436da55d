//! A report as PDF: its title, facts line, and per released result a bar chart, the table of
//! its numbers as the page shows them, and its release facts. Rendered on request from the
//! sealed report (never stored unsealed), with the vendored DejaVu Sans subset embedded
//! (`assets/vendor/fonts/`), so nothing is fetched and every reader shows the same letters.
//!
//! The font is embedded as a simple TrueType font in WinAnsi encoding (Latin-1 and a few
//! symbols): text outside it is written with ASCII stand-ins (`<=`, `epsilon`), never dropped
//! silently.

use crate::reports::{Report, ReportTable};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

/// The vendored font (DejaVu Sans, subset; license next to it).
const FONT: &[u8] = include_bytes!("../assets/vendor/fonts/DejaVuSans-subset.ttf");
/// The font's name in the PDF.
const FONT_NAME: &str = "DejaVuSans";
/// A4 in points.
const PAGE: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 48.0;
const BODY: f32 = 9.0;
const TABLE: f32 = 8.0;

/// Why a PDF could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The vendored font does not parse (a build defect).
    #[error("the vendored PDF font: {0}")]
    Font(String),
}

/// The WinAnsi code of `c`, if it has one.
fn win_ansi(c: char) -> Option<u8> {
    let u = c as u32;
    match u {
        0x20..=0x7E | 0xA0..=0xFF => u8::try_from(u).ok(),
        0x20AC => Some(0x80),
        0x2026 => Some(0x85),
        0x2018 => Some(0x91),
        0x2019 => Some(0x92),
        0x201C => Some(0x93),
        0x201D => Some(0x94),
        0x2022 => Some(0x95),
        0x2013 => Some(0x96),
        0x2014 => Some(0x97),
        _ => None,
    }
}

/// The character WinAnsi code `b` stands for (the inverse of [`win_ansi`]).
fn from_win_ansi(b: u8) -> Option<char> {
    match b {
        0x20..=0x7E | 0xA0..=0xFF => Some(char::from(b)),
        0x80 => Some('€'),
        0x85 => Some('…'),
        0x91 => Some('‘'),
        0x92 => Some('’'),
        0x93 => Some('“'),
        0x94 => Some('”'),
        0x95 => Some('•'),
        0x96 => Some('–'),
        0x97 => Some('—'),
        _ => None,
    }
}

/// `text` in WinAnsi bytes; characters outside it by ASCII stand-ins.
fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match (win_ansi(c), c) {
            (Some(b), _) => out.push(b),
            (None, '≤') => out.extend_from_slice(b"<="),
            (None, '≥') => out.extend_from_slice(b">="),
            (None, 'ε') => out.extend_from_slice(b"epsilon"),
            (None, '\n' | '\t') => out.push(b' '),
            (None, _) => out.push(b'?'),
        }
    }
    out
}

/// Advance widths (thousandths of the font size) of codes 32..=255.
struct Metrics {
    widths: Vec<f32>,
    ascent: f32,
    descent: f32,
    cap_height: f32,
    bbox: Rect,
}

fn metrics() -> Result<Metrics, PdfError> {
    let face = ttf_parser::Face::parse(FONT, 0).map_err(|e| PdfError::Font(e.to_string()))?;
    let per_em = f32::from(face.units_per_em());
    let scale = |v: f32| v * 1000.0 / per_em;
    let widths = (32u8..=255)
        .map(|b| {
            from_win_ansi(b)
                .and_then(|c| face.glyph_index(c))
                .and_then(|g| face.glyph_hor_advance(g))
                .map_or(0.0, |w| scale(f32::from(w)))
        })
        .collect();
    let b = face.global_bounding_box();
    Ok(Metrics {
        widths,
        ascent: scale(f32::from(face.ascender())),
        descent: scale(f32::from(face.descender())),
        cap_height: scale(f32::from(face.capital_height().unwrap_or(face.ascender()))),
        bbox: Rect::new(
            scale(f32::from(b.x_min)),
            scale(f32::from(b.y_min)),
            scale(f32::from(b.x_max)),
            scale(f32::from(b.y_max)),
        ),
    })
}

impl Metrics {
    /// Width of `text` at `size` points.
    fn width(&self, text: &str, size: f32) -> f32 {
        encode(text)
            .iter()
            .map(|&b| {
                self.widths
                    .get(usize::from(b.saturating_sub(32)))
                    .copied()
                    .unwrap_or(0.0)
            })
            .sum::<f32>()
            * size
            / 1000.0
    }
}

/// Pages of content, written top to bottom.
struct Writer<'m> {
    metrics: &'m Metrics,
    pages: Vec<Content>,
    y: f32,
}

impl Writer<'_> {
    fn page(&mut self) -> &mut Content {
        if self.pages.is_empty() {
            self.pages.push(Content::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Room for `height` points below the cursor, or a new page.
    fn room(&mut self, height: f32) {
        if self.pages.is_empty() || self.y - height < MARGIN {
            self.pages.push(Content::new());
            self.y = PAGE.1 - MARGIN;
        }
    }

    fn text_at(&mut self, x: f32, y: f32, size: f32, text: &str) {
        let bytes = encode(text);
        self.page()
            .begin_text()
            .set_font(Name(b"F1"), size)
            .next_line(x, y)
            .show(Str(&bytes))
            .end_text();
    }

    /// One line of text (cut at the page width), then the cursor below it.
    fn line(&mut self, size: f32, text: &str) {
        self.room(size * 1.5);
        self.y -= size * 1.3;
        let max = PAGE.0 - 2.0 * MARGIN;
        let mut t = text.to_string();
        while self.metrics.width(&t, size) > max && !t.is_empty() {
            t.pop();
        }
        let y = self.y;
        self.text_at(MARGIN, y, size, &t);
        self.y -= size * 0.3;
    }

    /// Words of `text` wrapped at the page width.
    fn paragraph(&mut self, size: f32, text: &str) {
        let max = PAGE.0 - 2.0 * MARGIN;
        let mut line = String::new();
        for word in text.split_whitespace() {
            let next = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if self.metrics.width(&next, size) > max && !line.is_empty() {
                self.line(size, &line);
                line = word.to_string();
            } else {
                line = next;
            }
        }
        if !line.is_empty() {
            self.line(size, &line);
        }
    }

    /// Horizontal bars of `(label, value)` (a released series), scaled to the largest.
    fn bars(&mut self, bars: &[(String, f64)], unit: &str) {
        let finite: Vec<&(String, f64)> = bars.iter().filter(|(_, v)| v.is_finite()).collect();
        let top = finite.iter().map(|(_, v)| v.abs()).fold(0.0f64, f64::max);
        if finite.is_empty() || top <= 0.0 {
            return;
        }
        let label_w = finite
            .iter()
            .map(|(l, _)| self.metrics.width(l, TABLE))
            .fold(0.0f32, f32::max)
            + 8.0;
        let span = PAGE.0 - 2.0 * MARGIN - label_w - 60.0;
        for (label, value) in finite {
            self.room(14.0);
            self.y -= 12.0;
            let y = self.y;
            self.text_at(MARGIN, y, TABLE, label);
            let w = (value.abs() / top) as f32 * span;
            self.page()
                .set_fill_rgb(0.33, 0.44, 0.78)
                .rect(MARGIN + label_w, y - 1.0, w.max(0.5), 8.0)
                .fill_nonzero()
                .set_fill_rgb(0.0, 0.0, 0.0);
            let shown = crate::html::round_shown(*value);
            self.text_at(MARGIN + label_w + w + 4.0, y, TABLE, &shown);
        }
        self.line(TABLE, &format!("({unit})"));
    }

    /// A table: header and rows, columns as wide as their widest cell (the font shrinks to
    /// fit the page).
    fn table(&mut self, columns: &[String], rows: &[Vec<String>]) {
        let all = std::iter::once(columns).chain(rows.iter().map(Vec::as_slice));
        let mut widths = vec![0.0f32; columns.len()];
        for row in all {
            for (i, cell) in row.iter().enumerate().take(widths.len()) {
                widths[i] = widths[i].max(self.metrics.width(cell, TABLE) + 10.0);
            }
        }
        let total: f32 = widths.iter().sum();
        let max = PAGE.0 - 2.0 * MARGIN;
        let size = if total > max {
            TABLE * max / total
        } else {
            TABLE
        };
        let fit = size / TABLE;
        for (n, row) in std::iter::once(columns)
            .chain(rows.iter().map(Vec::as_slice))
            .enumerate()
        {
            self.room(size * 1.6);
            self.y -= size * 1.5;
            let mut x = MARGIN;
            let y = self.y;
            for (i, cell) in row.iter().enumerate().take(widths.len()) {
                self.text_at(x, y, size, cell);
                x += widths[i] * fit;
            }
            if n == 0 {
                let under = y - size * 0.35;
                self.page()
                    .set_line_width(0.5)
                    .move_to(MARGIN, under)
                    .line_to(MARGIN + total.min(max), under)
                    .stroke();
            }
        }
    }
}

/// The PDF of `r`.
pub fn render(r: &Report) -> Result<Vec<u8>, PdfError> {
    let m = metrics()?;
    let mut w = Writer {
        metrics: &m,
        pages: Vec::new(),
        y: 0.0,
    };
    w.line(16.0, &r.title);
    w.paragraph(
        BODY,
        &format!(
            "Made {} by {} from the view {}. Ledger: {}. Every number below was released by \
             the trustees that approved it (see its release facts); nothing else is in a report.",
            crate::html::utc(r.created_unix),
            r.created_by,
            r.view,
            if r.ledger.is_empty() {
                "-".to_string()
            } else {
                r.ledger.join("; ")
            }
        ),
    );
    if r.tables.is_empty() {
        w.paragraph(
            BODY,
            "This report was saved before reports kept their tables for PDF: open its HTML.",
        );
    }
    for t in &r.tables {
        part(&mut w, t);
    }
    Ok(assemble(&m, w.pages))
}

fn part(w: &mut Writer<'_>, t: &ReportTable) {
    w.room(80.0);
    w.y -= 8.0;
    w.line(12.0, &t.title);
    if let Some(refusal) = &t.refusal {
        w.paragraph(BODY, &format!("Not released: {refusal}"));
        return;
    }
    w.bars(&t.chart, &t.unit);
    w.table(&t.columns, &t.rows);
    w.y -= 4.0;
    for f in &t.facts {
        w.paragraph(TABLE, f);
    }
}

/// The document: catalog, pages, the embedded font.
fn assemble(m: &Metrics, pages: Vec<Content>) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let font = Ref::new(3);
    let descriptor = Ref::new(4);
    let file = Ref::new(5);
    let first_page = 6;
    let n = i32::try_from(pages.len()).unwrap_or(i32::MAX);
    let ids: Vec<(Ref, Ref)> = (0..n)
        .map(|i| {
            (
                Ref::new(first_page + 2 * i),
                Ref::new(first_page + 2 * i + 1),
            )
        })
        .collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(ids.iter().map(|(p, _)| *p)).count(n);
    for ((page_id, content_id), content) in ids.iter().zip(pages) {
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE.0, PAGE.1))
            .parent(tree)
            .contents(*content_id);
        page.resources().fonts().pair(Name(b"F1"), font);
        page.finish();
        pdf.stream(*content_id, &content.finish());
    }
    {
        let mut f = pdf.indirect(font).dict();
        f.pair(Name(b"Type"), Name(b"Font"));
        f.pair(Name(b"Subtype"), Name(b"TrueType"));
        f.pair(Name(b"BaseFont"), Name(FONT_NAME.as_bytes()));
        f.pair(Name(b"FirstChar"), 32);
        f.pair(Name(b"LastChar"), 255);
        f.insert(Name(b"Widths"))
            .array()
            .items(m.widths.iter().copied());
        f.pair(Name(b"FontDescriptor"), descriptor);
        f.pair(Name(b"Encoding"), Name(b"WinAnsiEncoding"));
    }
    pdf.font_descriptor(descriptor)
        .name(Name(FONT_NAME.as_bytes()))
        .flags(pdf_writer::types::FontFlags::NON_SYMBOLIC)
        .bbox(m.bbox)
        .italic_angle(0.0)
        .ascent(m.ascent)
        .descent(m.descent)
        .cap_height(m.cap_height)
        .stem_v(80.0)
        .font_file2(file);
    let mut stream = pdf.stream(file, FONT);
    stream.pair(
        Name(b"Length1"),
        i32::try_from(FONT.len()).unwrap_or(i32::MAX),
    );
    stream.finish();
    pdf.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            title: "OEE and scrap rate (2026-12-02 06:00 UTC)".into(),
            tables: vec![
                ReportTable {
                    title: "OEE per line".into(),
                    columns: vec!["line".into(), "runs".into(), "oee".into()],
                    rows: (0..70)
                        .map(|i| vec![format!("L{i}"), "15".into(), format!("0.9{i:02}67")])
                        .collect(),
                    chart: vec![("L1".into(), 0.949967), ("L2".into(), 0.81)],
                    unit: "oee, ratio".into(),
                    facts: vec!["Disclosure: audited exact release, k = 5; ε none".into()],
                    refusal: None,
                },
                ReportTable {
                    title: "Per plant".into(),
                    columns: Vec::new(),
                    rows: Vec::new(),
                    chart: Vec::new(),
                    unit: String::new(),
                    facts: Vec::new(),
                    refusal: Some("fewer than k = 5 rows in group plant-c".into()),
                },
            ],
            ..crate::reports::sample("0123456789abcdef")
        }
    }

    #[test]
    fn a_report_renders_to_a_pdf_whose_text_reads_back() {
        let bytes = render(&sample()).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        let doc = lopdf::Document::load_mem(&bytes).unwrap();
        let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
        assert!(pages.len() >= 2, "70 rows fit one page?");
        let text = doc.extract_text(&pages).unwrap();
        for want in [
            "OEE and scrap rate",
            "0.949967",
            "0.96967",
            "L69",
            "release 7, delivered in entry 12",
            "Not released: fewer than k = 5",
            "epsilon none",
        ] {
            assert!(
                text.contains(want),
                "`{want}` not in the PDF's text:\n{text}"
            );
        }
    }

    #[test]
    fn the_vendored_font_measures_latin_text_and_encodes_winansi() {
        let m = metrics().unwrap();
        assert!(m.width("OEE 0.949967", 10.0) > 30.0);
        assert_eq!(encode("≤15 – ε"), b"<=15 \x96 epsilon".to_vec());
        assert_eq!(from_win_ansi(win_ansi('é').unwrap()), Some('é'));
    }
}
