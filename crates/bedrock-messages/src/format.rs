//! Media formats and how they are recognised.
//!
//! Bedrock needs the format of every image, document and video spelled out, and rejects bytes
//! that do not match it. A file name says what a file claims to be; its first bytes say what it
//! is. This module asks both: the extension through `mime_guess`, the content through the magic
//! numbers of `infer`. When they disagree the content wins and a [`Warning`] is recorded on the
//! built request. Bytes that are no known format of the claimed kind are rejected.
//!
//! `infer` 0.19 lacks a few checks Bedrock needs, so small documented fallbacks fill the gaps:
//! 3GP (`ftyp` brand `3gp*`/`3g2*`), OLE2 containers (`D0 CF 11 E0 A1 B1 1A E1`; `infer` only
//! classifies them after parsing the whole compound file, so an OLE2 header counts as `doc`, or as
//! `xls` when the name or the caller says so), `mpg` versus `mpeg` (same bytes; the name decides),
//! and OOXML archives whose `word/` or `xl/` entry `infer` does not reach. Text formats (txt, md,
//! csv, html) have no magic number: they are recognised by extension plus a UTF-8 check, and html
//! also by a leading `<!doctype html` or `<html`. PNG files must end with an `IEND` chunk, so a
//! truncated PNG is rejected.

use std::fmt;

use crate::error::Error;
use crate::limits::Rule;

/// The three kinds of inline media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaKind {
    /// An image block.
    Image,
    /// A document block.
    Document,
    /// A video block.
    Video,
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Image => "image",
            Self::Document => "document",
            Self::Video => "video",
        })
    }
}

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $var),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$var),+];

            /// The wire spelling.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$var => $s),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::Error;
            fn from_str(s: &str) -> Result<Self, $crate::Error> {
                match s {
                    $($s => Ok(Self::$var),)+
                    other => Err($crate::Error::conversion(stringify!($name), format!("unknown value {other:?}"))),
                }
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum! {
    /// Image formats Bedrock accepts (`ImageFormat`).
    ImageFormat { /// PNG.
    Png = "png", /// JPEG.
    Jpeg = "jpeg", /// GIF.
    Gif = "gif", /// WebP.
    Webp = "webp" }
}

wire_enum! {
    /// Document formats Bedrock accepts (`DocumentFormat`).
    DocumentFormat { /// PDF.
    Pdf = "pdf", /// Comma-separated values (text).
    Csv = "csv", /// Word 97-2003 (OLE2).
    Doc = "doc", /// Word (OOXML).
    Docx = "docx", /// Excel 97-2003 (OLE2).
    Xls = "xls", /// Excel (OOXML).
    Xlsx = "xlsx", /// HTML (text).
    Html = "html", /// Plain text.
    Txt = "txt", /// Markdown (text).
    Md = "md" }
}

wire_enum! {
    /// Video formats Bedrock accepts (`VideoFormat`).
    VideoFormat { /// Matroska.
    Mkv = "mkv", /// QuickTime.
    Mov = "mov", /// MPEG-4.
    Mp4 = "mp4", /// WebM.
    Webm = "webm", /// Flash video.
    Flv = "flv", /// MPEG program stream, `.mpeg`.
    Mpeg = "mpeg", /// MPEG program stream, `.mpg`.
    Mpg = "mpg", /// Windows Media (ASF).
    Wmv = "wmv", /// 3GPP.
    ThreeGp = "three_gp" }
}

impl DocumentFormat {
    /// Whether the format is plain text (recognised by extension and a UTF-8 check).
    #[must_use]
    pub fn is_text(self) -> bool {
        matches!(self, Self::Csv | Self::Html | Self::Txt | Self::Md)
    }
}

/// Who decides the format of media when the caller states one and the content says otherwise.
///
/// The default trusts the content: Bedrock rejects bytes that do not match the stated format,
/// so sending what the bytes are avoids a failed call. A caller who knows better (a Markdown file
/// that starts with `<html>`, a format the magic numbers misread) insists with
/// [`FormatPolicy::ClaimWins`]; the stated format is then sent as is, with a
/// [`Warning::ClaimedFormatKept`] when the content disagrees. Only a format the caller states
/// (`image_bytes(.., format)`, `image_file_as(.., format)`, ...) can win; a file extension is a
/// hint, never a claim. Empty bytes are rejected under either policy.
///
/// The policy is part of [`Limits`](crate::Limits), so that a policy set once (on a manager, a
/// request builder) applies to every check of the same request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FormatPolicy {
    /// The content wins; a disagreeing claim becomes a [`Warning::FormatMismatch`] (the default).
    #[default]
    ContentWins,
    /// The caller's stated format wins, with a [`Warning::ClaimedFormatKept`] when the content
    /// is another format or no recognised format.
    ClaimWins,
}

/// Something worth knowing about a request that was nevertheless accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The name or caller claimed one format but the bytes are another; the bytes won.
    FormatMismatch {
        /// The file or block.
        part: String,
        /// What the extension or the caller said.
        claimed: String,
        /// What the content is, and what was sent.
        detected: String,
    },
    /// The caller insisted on a format ([`FormatPolicy::ClaimWins`]) that the content does not
    /// show; the caller's format was sent.
    ClaimedFormatKept {
        /// The file or block.
        part: String,
        /// What the caller stated, and what was sent.
        claimed: String,
        /// What the content looks like (a format, or a description when none was recognised).
        detected: String,
    },
}

impl Warning {
    /// The file or block the warning is about.
    #[must_use]
    pub fn part(&self) -> &str {
        match self {
            Self::FormatMismatch { part, .. } | Self::ClaimedFormatKept { part, .. } => part,
        }
    }

    pub(crate) fn map_part(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            Self::FormatMismatch {
                part,
                claimed,
                detected,
            } => Self::FormatMismatch {
                part: f(part),
                claimed,
                detected,
            },
            Self::ClaimedFormatKept {
                part,
                claimed,
                detected,
            } => Self::ClaimedFormatKept {
                part: f(part),
                claimed,
                detected,
            },
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FormatMismatch {
                part,
                claimed,
                detected,
            } => write!(
                f,
                "{part}: claimed {claimed} but content is {detected}; sending {detected}"
            ),
            Self::ClaimedFormatKept {
                part,
                claimed,
                detected,
            } => write!(
                f,
                "{part}: content is {detected} but the caller insisted on {claimed}; sending {claimed}"
            ),
        }
    }
}

/// What content sniffing found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sniff<F> {
    /// A known format of the kind.
    Found(F),
    /// Valid UTF-8 without a magic number.
    Text,
    /// A known format with a structural defect.
    Broken(&'static str),
    /// Nothing recognised.
    Unknown,
}

/// A media format family that can be recognised from names and bytes.
pub trait MediaFormat: Copy + Eq + fmt::Display + fmt::Debug + Send + Sync + 'static {
    /// The kind of media.
    const KIND: MediaKind;
    /// The format a file name implies, if any.
    fn from_name(name: &str) -> Option<Self>;
    /// Whether this format is a text format recognised without magic bytes.
    fn is_text_format(self) -> bool {
        false
    }
    #[doc(hidden)]
    fn default_text() -> Option<Self> {
        None
    }
    #[doc(hidden)]
    fn sniff_bytes(bytes: &[u8], hint: Option<Self>) -> SniffResult<Self>;
}

/// Opaque result of content sniffing (used by [`MediaFormat`] implementations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SniffResult<F>(Sniff<F>);

fn extension(name: &str) -> Option<String> {
    std::path::Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

fn guessed_mime(name: &str) -> Option<String> {
    mime_guess::from_path(name).first_raw().map(str::to_owned)
}

impl MediaFormat for ImageFormat {
    const KIND: MediaKind = MediaKind::Image;

    fn from_name(name: &str) -> Option<Self> {
        match guessed_mime(name)?.as_str() {
            "image/png" => Some(Self::Png),
            "image/jpeg" => Some(Self::Jpeg),
            "image/gif" => Some(Self::Gif),
            "image/webp" => Some(Self::Webp),
            _ => None,
        }
    }

    fn sniff_bytes(b: &[u8], _hint: Option<Self>) -> SniffResult<Self> {
        SniffResult(if infer::image::is_png(b) {
            if b.ends_with(&[0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82]) {
                Sniff::Found(Self::Png)
            } else {
                Sniff::Broken("truncated PNG (no IEND chunk at the end)")
            }
        } else if infer::image::is_jpeg(b) {
            Sniff::Found(Self::Jpeg)
        } else if infer::image::is_gif(b) {
            Sniff::Found(Self::Gif)
        } else if infer::image::is_webp(b) {
            Sniff::Found(Self::Webp)
        } else {
            Sniff::Unknown
        })
    }
}

const OLE2: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn head(b: &[u8], n: usize) -> &[u8] {
    b.get(..n).unwrap_or(b)
}

fn looks_like_html(b: &[u8]) -> bool {
    let start = head(b, 1024);
    let text = String::from_utf8_lossy(start);
    let t = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .to_ascii_lowercase();
    t.starts_with("<!doctype html") || t.starts_with("<html")
}

impl MediaFormat for DocumentFormat {
    const KIND: MediaKind = MediaKind::Document;

    fn from_name(name: &str) -> Option<Self> {
        let by_mime = match guessed_mime(name).as_deref() {
            Some("application/pdf") => Some(Self::Pdf),
            Some("text/csv") => Some(Self::Csv),
            Some("application/msword") => Some(Self::Doc),
            Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document") => {
                Some(Self::Docx)
            }
            Some("application/vnd.ms-excel") => Some(Self::Xls),
            Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet") => {
                Some(Self::Xlsx)
            }
            Some("text/html") => Some(Self::Html),
            Some("text/markdown" | "text/x-markdown") => Some(Self::Md),
            Some("text/plain") => Some(Self::Txt),
            _ => None,
        };
        // `mime_guess` maps `.md` and `.markdown` inconsistently across versions; the extension decides.
        match extension(name).as_deref() {
            Some("md" | "markdown") => Some(Self::Md),
            _ => by_mime,
        }
    }

    fn is_text_format(self) -> bool {
        self.is_text()
    }

    fn default_text() -> Option<Self> {
        Some(Self::Txt)
    }

    fn sniff_bytes(b: &[u8], hint: Option<Self>) -> SniffResult<Self> {
        let sniff = if infer::archive::is_pdf(b) {
            Sniff::Found(Self::Pdf)
        } else if infer::doc::is_docx(b) {
            Sniff::Found(Self::Docx)
        } else if infer::doc::is_xlsx(b) {
            Sniff::Found(Self::Xlsx)
        } else if infer::archive::is_zip(b) {
            // Fallback: an OOXML archive whose part names `infer` did not reach.
            let h = head(b, 64 * 1024);
            if contains(h, b"word/") {
                Sniff::Found(Self::Docx)
            } else if contains(h, b"xl/") {
                Sniff::Found(Self::Xlsx)
            } else {
                Sniff::Unknown
            }
        } else if b.starts_with(&OLE2) {
            // Fallback: OLE2 compound file; `infer` needs the full directory to tell doc from xls.
            if hint == Some(Self::Xls) || infer::doc::is_xls(b) {
                Sniff::Found(Self::Xls)
            } else {
                Sniff::Found(Self::Doc)
            }
        } else if std::str::from_utf8(b).is_ok() {
            if looks_like_html(b) {
                Sniff::Found(Self::Html)
            } else {
                Sniff::Text
            }
        } else {
            Sniff::Unknown
        };
        SniffResult(sniff)
    }
}

fn is_3gp(b: &[u8]) -> bool {
    b.len() > 11 && b.get(4..8) == Some(b"ftyp") && matches!(b.get(8..11), Some(b"3gp" | b"3g2"))
}

impl MediaFormat for VideoFormat {
    const KIND: MediaKind = MediaKind::Video;

    fn from_name(name: &str) -> Option<Self> {
        let ext = extension(name);
        match ext.as_deref() {
            Some("mpg") => return Some(Self::Mpg),
            Some("mpeg") => return Some(Self::Mpeg),
            Some("3gp") => return Some(Self::ThreeGp),
            _ => {}
        }
        match guessed_mime(name)?.as_str() {
            "video/x-matroska" => Some(Self::Mkv),
            "video/quicktime" => Some(Self::Mov),
            "video/mp4" => Some(Self::Mp4),
            "video/webm" => Some(Self::Webm),
            "video/x-flv" => Some(Self::Flv),
            "video/mpeg" => Some(Self::Mpeg),
            "video/x-ms-wmv" | "video/x-ms-asf" => Some(Self::Wmv),
            "video/3gpp" => Some(Self::ThreeGp),
            _ => None,
        }
    }

    fn sniff_bytes(b: &[u8], hint: Option<Self>) -> SniffResult<Self> {
        SniffResult(if infer::video::is_mkv(b) {
            Sniff::Found(Self::Mkv)
        } else if infer::video::is_webm(b) {
            // Any EBML file; the DocType says which.
            if contains(head(b, 64), b"matroska") {
                Sniff::Found(Self::Mkv)
            } else {
                Sniff::Found(Self::Webm)
            }
        } else if is_3gp(b) {
            Sniff::Found(Self::ThreeGp)
        } else if infer::video::is_mp4(b) || infer::video::is_m4v(b) {
            Sniff::Found(Self::Mp4)
        } else if infer::video::is_mov(b) {
            Sniff::Found(Self::Mov)
        } else if infer::video::is_flv(b) {
            Sniff::Found(Self::Flv)
        } else if infer::video::is_wmv(b) {
            Sniff::Found(Self::Wmv)
        } else if infer::video::is_mpeg(b) {
            if hint == Some(Self::Mpg) {
                Sniff::Found(Self::Mpg)
            } else {
                Sniff::Found(Self::Mpeg)
            }
        } else {
            Sniff::Unknown
        })
    }
}

/// The outcome of [`detect`]: the format to send and an optional warning.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Detected<F> {
    /// The format to send.
    pub format: F,
    /// Set when the claim and the content disagreed.
    pub warning: Option<Warning>,
}

/// Decides the format of `bytes`.
///
/// `claimed` is the caller's explicit format; `name` a file name whose extension is used when
/// nothing is claimed. `part` names the file or block in errors and warnings.
///
/// # Errors
/// [`Error::Invalid`] with [`Rule::EmptyBytes`] for empty input; [`Error::UnknownFormat`] when the
/// bytes are no known format of the kind (or a truncated PNG, or non-UTF-8 text).
pub fn detect<F: MediaFormat>(
    name: Option<&str>,
    bytes: &[u8],
    claimed: Option<F>,
    part: &str,
) -> Result<Detected<F>, Error> {
    detect_with(name, bytes, claimed, part, FormatPolicy::ContentWins)
}

/// [`detect`] under a [`FormatPolicy`]: with [`FormatPolicy::ClaimWins`] an explicit `claimed`
/// format is sent whatever the content is, with a [`Warning::ClaimedFormatKept`] when the
/// content disagrees or is not recognised.
///
/// ```
/// use bedrock_messages::format::{detect_with, FormatPolicy};
/// use bedrock_messages::{DocumentFormat, Warning};
///
/// let html = b"<html><body>Notes</body></html>";
/// let d = detect_with(None, html, Some(DocumentFormat::Md), "notes", FormatPolicy::ContentWins)?;
/// assert_eq!(d.format, DocumentFormat::Html);
/// let d = detect_with(None, html, Some(DocumentFormat::Md), "notes", FormatPolicy::ClaimWins)?;
/// assert_eq!(d.format, DocumentFormat::Md);
/// assert!(matches!(d.warning, Some(Warning::ClaimedFormatKept { .. })));
/// # Ok::<(), bedrock_messages::Error>(())
/// ```
///
/// # Errors
/// As for [`detect`]; with `ClaimWins` and a claim, only empty bytes.
pub fn detect_with<F: MediaFormat>(
    name: Option<&str>,
    bytes: &[u8],
    claimed: Option<F>,
    part: &str,
    policy: FormatPolicy,
) -> Result<Detected<F>, Error> {
    if let (FormatPolicy::ClaimWins, Some(claim)) = (policy, claimed) {
        if bytes.is_empty() {
            return Err(Error::invalid(part, Rule::EmptyBytes, "0 bytes"));
        }
        let seen = match F::sniff_bytes(bytes, Some(claim)).0 {
            Sniff::Found(found) if found == claim => None,
            Sniff::Found(found) => Some(found.to_string()),
            Sniff::Text if claim.is_text_format() => None,
            Sniff::Text => Some("plain text".to_owned()),
            Sniff::Broken(why) => Some(why.to_owned()),
            Sniff::Unknown => Some(format!("no known {} signature", F::KIND)),
        };
        return Ok(Detected {
            format: claim,
            warning: seen.map(|detected| Warning::ClaimedFormatKept {
                part: part.to_owned(),
                claimed: claim.to_string(),
                detected,
            }),
        });
    }
    if bytes.is_empty() {
        return Err(Error::invalid(part, Rule::EmptyBytes, "0 bytes"));
    }
    let hint = claimed.or_else(|| name.and_then(F::from_name));
    let unknown = |detail: String| Error::UnknownFormat {
        part: part.to_owned(),
        kind: F::KIND,
        detail,
    };
    let format = match F::sniff_bytes(bytes, hint).0 {
        Sniff::Found(found) => {
            let warning = match hint {
                Some(h) if h != found => Some(Warning::FormatMismatch {
                    part: part.to_owned(),
                    claimed: h.to_string(),
                    detected: found.to_string(),
                }),
                _ => None,
            };
            return Ok(Detected {
                format: found,
                warning,
            });
        }
        Sniff::Broken(why) => return Err(unknown(why.to_owned())),
        Sniff::Text => match hint {
            Some(h) if h.is_text_format() => h,
            Some(h) => return Err(unknown(format!("content is plain text, not {h}"))),
            None => F::default_text().ok_or_else(|| unknown("content is plain text".to_owned()))?,
        },
        Sniff::Unknown => {
            let what = match hint {
                Some(h) => format!("content is not {h} (no known {} signature)", F::KIND),
                None => format!("no known {} signature", F::KIND),
            };
            return Err(unknown(what));
        }
    };
    Ok(Detected {
        format,
        warning: None,
    })
}

/// Width and height of an image, when its header carries them cheaply (PNG, GIF, WebP VP8X/VP8L).
#[must_use]
pub fn image_dimensions(bytes: &[u8], format: ImageFormat) -> Option<(u32, u32)> {
    let be32 = |at: usize| -> Option<u32> {
        let s = bytes.get(at..at + 4)?;
        Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    };
    let le16 = |at: usize| -> Option<u32> {
        let s = bytes.get(at..at + 2)?;
        Some(u32::from(u16::from_le_bytes([s[0], s[1]])))
    };
    let le24 = |at: usize| -> Option<u32> {
        let s = bytes.get(at..at + 3)?;
        Some(u32::from_le_bytes([s[0], s[1], s[2], 0]))
    };
    match format {
        ImageFormat::Png if bytes.get(12..16) == Some(b"IHDR") => Some((be32(16)?, be32(20)?)),
        ImageFormat::Gif => Some((le16(6)?, le16(8)?)),
        ImageFormat::Webp => match bytes.get(12..16)? {
            b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
            b"VP8L" => {
                let s = bytes.get(21..25)?;
                let bits = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
                Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Checks a document name against Bedrock's rules: 1 to 200 characters of ASCII alphanumerics,
/// single whitespace characters, `-`, `(`, `)`, `[` and `]`.
///
/// # Errors
/// [`Error::Invalid`] or [`Error::Limit`] naming `part` and the broken rule.
pub fn validate_document_name(name: &str, part: &str) -> Result<(), Error> {
    let len = name.chars().count();
    let max = crate::limits::table_max(Rule::DocumentNameLength);
    if len == 0 {
        return Err(Error::invalid(
            part,
            Rule::DocumentNameLength,
            "empty document name",
        ));
    }
    if len as u64 > max {
        return Err(Error::limit(
            part,
            Rule::DocumentNameLength,
            max,
            len as u64,
        ));
    }
    let mut prev_space = false;
    for c in name.chars() {
        let space = c.is_whitespace();
        if space && prev_space {
            return Err(Error::invalid(
                part,
                Rule::DocumentNameCharacters,
                format!("{name:?} has consecutive whitespace"),
            ));
        }
        if !(space || c.is_ascii_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']')) {
            return Err(Error::invalid(
                part,
                Rule::DocumentNameCharacters,
                format!("{name:?} contains {c:?}"),
            ));
        }
        prev_space = space;
    }
    Ok(())
}

/// Rewrites any string into a valid document name: disallowed characters become spaces,
/// whitespace runs collapse to one space, the ends are trimmed, the result is cut to 200
/// characters, and an empty result becomes `document`. This is opt-in; names are otherwise
/// validated, never changed silently.
#[must_use]
pub fn sanitize_document_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let keep = c.is_ascii_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']');
        if keep {
            out.push(c);
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    let max = usize::try_from(crate::limits::table_max(Rule::DocumentNameLength)).unwrap_or(200);
    let trimmed: String = out.trim().chars().take(max).collect();
    let trimmed = trimmed.trim_end().to_owned();
    if trimmed.is_empty() {
        "document".to_owned()
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_doc(
        name: Option<&str>,
        bytes: &[u8],
        claimed: Option<DocumentFormat>,
        want: Result<DocumentFormat, Rule>,
    ) {
        let got = detect(name, bytes, claimed, "t")
            .map(|d| d.format)
            .map_err(|e| e.rule().unwrap());
        assert_eq!(got, want);
    }

    #[test]
    fn text_formats_come_from_the_extension() {
        check_doc(Some("a.csv"), b"a,b\n1,2\n", None, Ok(DocumentFormat::Csv));
        check_doc(Some("a.md"), b"# T\n", None, Ok(DocumentFormat::Md));
        check_doc(Some("a.txt"), b"hi", None, Ok(DocumentFormat::Txt));
        check_doc(Some("a.html"), b"<p>x</p>", None, Ok(DocumentFormat::Html));
        check_doc(None, b"plain", None, Ok(DocumentFormat::Txt));
        check_doc(Some("a.txt"), &[0xff, 0xfe, 0x00], None, Err(Rule::Format));
    }

    #[test]
    fn content_wins_over_the_extension_with_a_warning() {
        let d = detect(
            Some("x.txt"),
            b"%PDF-1.4\n%%EOF",
            None::<DocumentFormat>,
            "x.txt",
        )
        .unwrap();
        assert_eq!(d.format, DocumentFormat::Pdf);
        assert!(matches!(d.warning, Some(Warning::FormatMismatch { .. })));
    }

    #[test]
    fn text_claimed_as_binary_is_rejected() {
        check_doc(Some("a.pdf"), b"hello", None, Err(Rule::Format));
    }

    #[test]
    fn empty_bytes_are_rejected() {
        check_doc(None, b"", Some(DocumentFormat::Txt), Err(Rule::EmptyBytes));
    }

    #[test]
    fn names_are_validated_and_sanitised() {
        assert!(validate_document_name("Report (final) [v2]", "p").is_ok());
        assert_eq!(
            validate_document_name("a.b", "p").unwrap_err().rule(),
            Some(Rule::DocumentNameCharacters)
        );
        assert_eq!(
            validate_document_name("a  b", "p").unwrap_err().rule(),
            Some(Rule::DocumentNameCharacters)
        );
        assert_eq!(
            validate_document_name("", "p").unwrap_err().rule(),
            Some(Rule::DocumentNameLength)
        );
        assert_eq!(
            validate_document_name(&"a".repeat(201), "p")
                .unwrap_err()
                .rule(),
            Some(Rule::DocumentNameLength)
        );
        assert_eq!(sanitize_document_name("my_file.v2.pdf"), "my file v2 pdf");
        assert_eq!(sanitize_document_name("..."), "document");
        assert!(validate_document_name(&sanitize_document_name(&"é_".repeat(300)), "p").is_ok());
    }

    #[test]
    fn wire_names_round_trip() {
        for f in VideoFormat::ALL {
            assert_eq!(f.as_str().parse::<VideoFormat>().unwrap(), *f);
        }
        assert_eq!(
            serde_json::to_string(&VideoFormat::ThreeGp).unwrap(),
            "\"three_gp\""
        );
    }

    #[test]
    fn mpg_and_mpeg_share_bytes_and_the_name_decides() {
        let b = [0, 0, 1, 0xBA, 0x44, 0, 4, 0, 4, 1, 1, 0x89, 0xC3, 0xF8];
        assert_eq!(
            detect(Some("a.mpg"), &b, None::<VideoFormat>, "p")
                .unwrap()
                .format,
            VideoFormat::Mpg
        );
        assert_eq!(
            detect(Some("a.mpeg"), &b, None::<VideoFormat>, "p")
                .unwrap()
                .format,
            VideoFormat::Mpeg
        );
        assert_eq!(
            detect(None, &b, None::<VideoFormat>, "p").unwrap().format,
            VideoFormat::Mpeg
        );
    }
}
