//! The token rule: one deterministic estimate used for usage, quotas and prompt caching.
//!
//! It is not a real tokenizer. Text costs the larger of two estimates: a quarter of its
//! characters (English prose runs at about 4 characters a token), and its pieces (a word, a
//! digit group, a punctuation run, a CJK character, a line break), which is the better guess
//! for code, JSON, numbers and non-Latin scripts. A request also pays the framing a chat model
//! wraps around it: a fixed cost per request, per message, for the system prompt, for the
//! tool-use instructions when tools are offered, per tool and per document. Images cost
//! Anthropic's `width × height / 750` from the dimensions in the image header, documents the
//! text they carry (text formats) or a size-based figure (binary formats). See
//! `docs/simulator.md`, "Token rule".

use serde_json::Value;

/// Every request: the turn framing around the conversation (`Human:`/`Assistant:` markers).
pub(crate) const REQUEST_TOKENS: u64 = 4;
/// Every message: its role marker and separators.
pub(crate) const MESSAGE_TOKENS: u64 = 3;
/// A system prompt (once, when it has any content): its wrapper.
pub(crate) const SYSTEM_TOKENS: u64 = 2;
/// The tool-use instructions a model is given when tools are offered (Anthropic documents
/// 264 to 346 tokens by model and tool choice).
pub(crate) const TOOL_PROMPT_TOKENS: u64 = 300;
/// Each offered tool or tool call/result: its wrapper.
pub(crate) const TOOL_TOKENS: u64 = 3;
/// Each document: the wrapper naming it and its format, besides the name itself.
pub(crate) const DOCUMENT_WRAPPER_TOKENS: u64 = 10;
/// A document whose size cannot be seen (an `s3Location` source).
pub(crate) const DOCUMENT_UNSEEN_TOKENS: u64 = 1_000;
/// A binary document (other than a PDF with countable pages): `ceil(bytes / 4)`, at most this.
pub(crate) const DOCUMENT_MAX_TOKENS: u64 = 100_000;
/// A PDF page (Anthropic quotes 1,500 to 3,000 tokens a page).
pub(crate) const PDF_PAGE_TOKENS: u64 = 1_500;
/// An image whose dimensions cannot be read, and the most any image costs (Anthropic resizes
/// larger images to about 1.15 megapixels, about 1,600 tokens).
pub(crate) const IMAGE_MAX_TOKENS: u64 = 1_600;
/// A video, whatever its length.
pub(crate) const VIDEO_TOKENS: u64 = 4_000;

/// The most characters a single word piece covers before it counts as another token.
const WORD_CHARS: u64 = 8;
/// Digits are grouped by three.
const DIGIT_CHARS: u64 = 3;
/// Punctuation runs merge by two (`":`, `},`, `//`).
const PUNCT_CHARS: u64 = 2;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Word,
    Digit,
    Punct,
    Space,
    Wide,
}

fn class(c: char) -> Class {
    if c.is_whitespace() {
        Class::Space
    } else if c.is_ascii_digit() {
        Class::Digit
    } else if u32::from(c) >= 0x2E80 {
        // CJK, kana, hangul, emoji and other wide scripts: about a token a character.
        Class::Wide
    } else if c.is_alphanumeric() {
        Class::Word
    } else {
        Class::Punct
    }
}

/// Tokens of a run of `len` characters of one class (`newline` when a space run breaks a line).
fn run_tokens(class: Class, len: u64, newline: bool) -> u64 {
    match class {
        Class::Word => len.div_ceil(WORD_CHARS),
        Class::Digit => len.div_ceil(DIGIT_CHARS),
        Class::Punct => len.div_ceil(PUNCT_CHARS),
        Class::Wide => len,
        // Single spaces fold into the next word; line breaks and indentation are tokens.
        Class::Space => u64::from(newline || len > 1),
    }
}

/// The pieces estimate: words, digit groups, punctuation runs, wide characters, line breaks.
fn piece_tokens(s: &str) -> u64 {
    let mut total = 0;
    let mut run: Option<(Class, u64, bool)> = None;
    for c in s.chars() {
        let k = class(c);
        match &mut run {
            Some((rk, len, nl)) if *rk == k && k != Class::Wide => {
                *len += 1;
                *nl |= c == '\n';
            }
            _ => {
                if let Some((rk, len, nl)) = run {
                    total += run_tokens(rk, len, nl);
                }
                run = Some((k, 1, c == '\n'));
            }
        }
    }
    if let Some((rk, len, nl)) = run {
        total += run_tokens(rk, len, nl);
    }
    total
}

/// Tokens of a text string under the simulator's rule: the larger of `ceil(chars / 4)` and its
/// pieces (words of up to 8 characters, groups of up to 3 digits, runs of up to 2 punctuation
/// characters, each CJK or other wide character, each line break or run of spaces). A prefix
/// never costs more than the whole string. Output tokens are this count of the text sent.
///
/// ```
/// assert_eq!(bedrock_sim::text_tokens("The quick brown fox jumps over the lazy dog."), 11);
/// assert_eq!(bedrock_sim::text_tokens(r#"{"a":1,"b":2}"#), 9);
/// ```
pub fn text_tokens(s: &str) -> u64 {
    let quarter = (s.chars().count() as u64).div_ceil(4);
    quarter.max(piece_tokens(s))
}

/// Tokens of a JSON value: the text rule on its compact serialisation with sorted keys (so
/// the count does not depend on the order a client serialised an object in), at least 1.
pub(crate) fn json_tokens(v: &Value) -> u64 {
    text_tokens(&canonical_json(v)).max(1)
}

/// Tokens of JSON the simulator sends (tool-use input, scripted blocks): the text rule on the
/// compact serialisation exactly as sent, at least 1.
pub(crate) fn sent_json_tokens(v: &Value) -> u64 {
    text_tokens(&v.to_string()).max(1)
}

/// Compact JSON with object keys sorted at every level: the same text for the same value,
/// whatever order its keys arrived in.
pub(crate) fn canonical_json(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// The longest prefix of `s` that costs at most `max` tokens.
pub(crate) fn truncate_to_tokens(s: &str, max: u64) -> String {
    if text_tokens(s) <= max {
        return s.to_owned();
    }
    let chars: Vec<char> = s.chars().collect();
    // Invariant: chars[..lo] fits, chars[..hi] does not.
    let (mut lo, mut hi) = (0usize, chars.len());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let prefix: String = chars[..mid].iter().collect();
        if text_tokens(&prefix) <= max {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    chars[..lo].iter().collect()
}

/// Pixel dimensions from the header of a PNG, GIF, JPEG or WebP image.
pub(crate) fn image_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| Some(u32::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let le16 = |i: usize| Some(u32::from(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let le24 = |i: usize| {
        Some(u32::from_le_bytes([
            *b.get(i)?,
            *b.get(i + 1)?,
            *b.get(i + 2)?,
            0,
        ]))
    };
    let be32 = |i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let dims = if b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16) == Some(b"IHDR") {
        (be32(16)?, be32(20)?)
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        (le16(6)?, le16(8)?)
    } else if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        match b.get(12..16)? {
            b"VP8 " => (le16(26)? & 0x3fff, le16(28)? & 0x3fff),
            b"VP8L" => {
                let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
                ((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1)
            }
            b"VP8X" => (le24(24)? + 1, le24(27)? + 1),
            _ => return None,
        }
    } else if b.starts_with(&[0xff, 0xd8]) {
        // JPEG: walk the segments to the first start-of-frame marker.
        let mut i = 2;
        loop {
            while *b.get(i)? != 0xff {
                i += 1;
            }
            while *b.get(i)? == 0xff {
                i += 1;
            }
            let marker = *b.get(i)?;
            i += 1;
            if matches!(marker, 0xd8 | 0x01 | 0xd0..=0xd7) {
                continue;
            }
            if matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc) {
                break (be16(i + 5)?, be16(i + 3)?);
            }
            if marker == 0xd9 || marker == 0xda {
                return None;
            }
            i += usize::try_from(be16(i)?).ok()?;
        }
    } else {
        return None;
    };
    (dims.0 > 0 && dims.1 > 0).then_some(dims)
}

/// Tokens of an image: `ceil(width × height / 750)` from its header, at most
/// [`IMAGE_MAX_TOKENS`]; that maximum when the dimensions cannot be read.
pub(crate) fn image_tokens(image: &Value) -> u64 {
    image
        .pointer("/source/bytes")
        .and_then(Value::as_str)
        .and_then(|b64| aws_smithy_types::base64::decode(b64).ok())
        .and_then(|bytes| image_dimensions(&bytes))
        .map_or(IMAGE_MAX_TOKENS, |(w, h)| {
            (u64::from(w) * u64::from(h))
                .div_ceil(750)
                .clamp(1, IMAGE_MAX_TOKENS)
        })
}

/// Formats whose bytes are text.
const TEXT_FORMATS: [&str; 7] = ["txt", "md", "csv", "html", "json", "xml", "tsv"];

/// Pages of a PDF: its `/Type /Page` objects (not `/Pages`).
fn pdf_pages(b: &[u8]) -> u64 {
    let mut pages = 0;
    let mut i = 0;
    while let Some(at) = b
        .get(i..)
        .and_then(|rest| rest.windows(5).position(|w| w == b"/Type"))
    {
        let mut j = i + at + 5;
        while b.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        if b.get(j..j + 5) == Some(b"/Page") && b.get(j + 5) != Some(&b's') {
            pages += 1;
        }
        i = j;
    }
    pages
}

/// Tokens of a document block: a wrapper with its name, plus its inline text (`source.text`,
/// `source.content`), the text of its bytes for text formats, the pages of a PDF, or
/// `ceil(bytes / 4)` (capped) for other binary formats; a flat figure when it is not inline.
pub(crate) fn document_tokens(doc: &Value) -> u64 {
    let name = doc.get("name").and_then(Value::as_str).unwrap_or_default();
    let wrapper = DOCUMENT_WRAPPER_TOKENS + text_tokens(name);
    let source = doc.get("source");
    if let Some(t) = source.and_then(|s| s.get("text")).and_then(Value::as_str) {
        return wrapper + text_tokens(t);
    }
    if let Some(chunks) = source
        .and_then(|s| s.get("content"))
        .and_then(Value::as_array)
    {
        let text: u64 = chunks
            .iter()
            .filter_map(|c| c.get("text").and_then(Value::as_str))
            .map(text_tokens)
            .sum();
        return wrapper + text;
    }
    let Some(bytes) = source
        .and_then(|s| s.get("bytes"))
        .and_then(Value::as_str)
        .and_then(|b64| aws_smithy_types::base64::decode(b64).ok())
    else {
        return wrapper + DOCUMENT_UNSEEN_TOKENS;
    };
    let format = doc
        .get("format")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if TEXT_FORMATS.contains(&format) {
        return wrapper + text_tokens(&String::from_utf8_lossy(&bytes));
    }
    if format == "pdf" {
        let pages = pdf_pages(&bytes);
        if pages > 0 {
            return wrapper + (pages * PDF_PAGE_TOKENS).min(DOCUMENT_MAX_TOKENS);
        }
    }
    wrapper + (bytes.len() as u64).div_ceil(4).min(DOCUMENT_MAX_TOKENS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_costs_at_least_a_quarter_of_its_chars() {
        assert_eq!(text_tokens(""), 0);
        assert_eq!(text_tokens("hi"), 1);
        assert_eq!(text_tokens("abcd"), 1);
        assert_eq!(text_tokens("abcde"), 2);
        // Prose: the quarter rule.
        let prose = "The quick brown fox jumps over the lazy dog.";
        assert_eq!(text_tokens(prose), 11);
        // JSON and numbers: more pieces than a quarter of the characters.
        assert_eq!(text_tokens(r#"{"a":1,"b":2}"#), 9);
        assert_eq!(text_tokens("3.14159265"), 5);
        // CJK: a token a character.
        assert_eq!(text_tokens("東京都庁"), 4);
        // Line breaks count.
        assert_eq!(text_tokens("a\nb\nc\nd"), 7);
    }

    #[test]
    fn prefixes_never_cost_more_and_truncation_fits() {
        let s = r#"Hello, world! {"k": [1, 22, 333]} 東京 internationalization"#;
        let chars: Vec<char> = s.chars().collect();
        let mut last = 0;
        for n in 0..=chars.len() {
            let t = text_tokens(&chars[..n].iter().collect::<String>());
            assert!(t >= last, "prefix of {n} chars");
            last = t;
        }
        for max in 0..=text_tokens(s) {
            let cut = truncate_to_tokens(s, max);
            assert!(text_tokens(&cut) <= max);
            assert!(s.starts_with(&cut));
            if cut.len() < s.len() {
                let longer: String = s.chars().take(cut.chars().count() + 1).collect();
                assert!(text_tokens(&longer) > max, "the longest fitting prefix");
            }
        }
    }

    #[test]
    fn json_counts_do_not_depend_on_key_order() {
        let a: Value = serde_json::from_str(r#"{"a":"x","b":{"c":1,"d":[true,null]}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"b":{"d":[true,null],"c":1},"a":"x"}"#).unwrap();
        assert_ne!(
            a.to_string(),
            b.to_string(),
            "the order is kept on the wire"
        );
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"a":"x","b":{"c":1,"d":[true,null]}}"#
        );
        assert_eq!(json_tokens(&a), json_tokens(&b));
    }

    fn b64(bytes: &[u8]) -> String {
        aws_smithy_types::base64::encode(bytes)
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend_from_slice(&w.to_be_bytes());
        b.extend_from_slice(&h.to_be_bytes());
        b.extend_from_slice(&[8, 2, 0, 0, 0]);
        b
    }

    #[test]
    fn image_headers_give_dimensions() {
        assert_eq!(image_dimensions(&png(640, 480)), Some((640, 480)));
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&[0x20, 0x03, 0x58, 0x02]);
        assert_eq!(image_dimensions(&gif), Some((800, 600)));
        // JPEG: SOI, an APP0 segment, then SOF0 with height 300 and width 400.
        let jpeg = [
            0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x4a, 0x46, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x01,
            0x2c, 0x01, 0x90, 0x03,
        ];
        assert_eq!(image_dimensions(&jpeg), Some((400, 300)));
        // WebP lossy (VP8): 320 × 240 at bytes 26 and 28.
        let mut webp = b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0".to_vec();
        webp.extend_from_slice(&[0, 0, 0, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]);
        assert_eq!(image_dimensions(&webp), Some((320, 240)));
        // WebP lossless (VP8L): 14-bit width − 1 and height − 1 after the signature byte.
        let bits: u32 = 99 | (49 << 14);
        let mut webpl = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f".to_vec();
        webpl.extend_from_slice(&bits.to_le_bytes());
        assert_eq!(image_dimensions(&webpl), Some((100, 50)));
        // WebP extended (VP8X): 24-bit width − 1 and height − 1 at 24 and 27.
        let mut webpx = b"RIFF\0\0\0\0WEBPVP8X\0\0\0\0\0\0\0\0".to_vec();
        webpx.extend_from_slice(&[0xff, 0x03, 0x00, 0xff, 0x01, 0x00]);
        assert_eq!(image_dimensions(&webpx), Some((1024, 512)));
        assert_eq!(image_dimensions(b"not an image"), None);
    }

    #[test]
    fn images_cost_their_area_over_750() {
        let img = |bytes: &[u8]| json!({"format": "png", "source": {"bytes": b64(bytes)}});
        assert_eq!(image_tokens(&img(&png(750, 100))), 100);
        assert_eq!(image_tokens(&img(&png(16, 16))), 1);
        assert_eq!(image_tokens(&img(&png(4000, 3000))), IMAGE_MAX_TOKENS);
        assert_eq!(image_tokens(&img(b"garbage")), IMAGE_MAX_TOKENS);
        let s3 = json!({"format": "png", "source": {"s3Location": {"uri": "s3://b/k"}}});
        assert_eq!(image_tokens(&s3), IMAGE_MAX_TOKENS);
    }

    #[test]
    fn documents_cost_their_content() {
        let doc = |format: &str, source: Value| json!({"format": format, "name": "doc", "source": source});
        let wrapper = DOCUMENT_WRAPPER_TOKENS + 1;
        let short = "a".repeat(40);
        let long = "word ".repeat(1_600);
        for (format, source) in [
            ("txt", json!({"text": short})),
            ("md", json!({"bytes": b64(short.as_bytes())})),
            ("csv", json!({"content": [{"text": short}]})),
        ] {
            assert_eq!(document_tokens(&doc(format, source)), wrapper + 10);
        }
        assert_eq!(
            document_tokens(&doc("html", json!({"bytes": b64(long.as_bytes())}))),
            wrapper + 2_000,
            "a text document grows with its text"
        );
        let pdf = b"%PDF-1.4 1 0 obj << /Type /Pages /Count 2 >> 2 0 obj << /Type /Page >> 3 0 obj <</Type/Page>>";
        assert_eq!(
            document_tokens(&doc("pdf", json!({"bytes": b64(pdf)}))),
            wrapper + 2 * PDF_PAGE_TOKENS
        );
        assert_eq!(
            document_tokens(&doc("docx", json!({"bytes": b64(&[0u8; 4_001])}))),
            wrapper + 1_001
        );
        assert_eq!(
            document_tokens(&doc("pdf", json!({"s3Location": {"uri": "s3://b/k"}}))),
            wrapper + DOCUMENT_UNSEEN_TOKENS
        );
    }
}
