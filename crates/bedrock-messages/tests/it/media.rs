//! Format detection and limits against the files in `fixtures/media/`.

use bedrock_messages::{
    ContentBlock, ConverseRequest, DocumentFormat, Error, ImageFormat, Limits, MediaKind, Message,
    Rule, VideoFormat, Warning,
};

use crate::fixtures::{self, path};

fn only_block(b: bedrock_messages::MessageBuilder) -> ContentBlock {
    let m = b.text("describe").build().unwrap();
    m.content.into_iter().next().unwrap()
}

#[test]
fn every_image_fixture_is_detected() {
    for (file, want) in [
        ("sample.png", ImageFormat::Png),
        ("sample.jpg", ImageFormat::Jpeg),
        ("sample.gif", ImageFormat::Gif),
        ("sample.webp", ImageFormat::Webp),
    ] {
        match only_block(Message::user().image_file(path(file))) {
            ContentBlock::Image(i) => assert_eq!(i.format, want, "{file}"),
            other => panic!("{file}: {other:?}"),
        }
    }
}

#[test]
fn every_document_fixture_is_detected() {
    for f in DocumentFormat::ALL {
        let file = format!("sample.{f}");
        match only_block(Message::user().document_file(path(&file))) {
            ContentBlock::Document(d) => {
                assert_eq!(d.format, *f, "{file}");
                assert_eq!(d.name, "sample");
            }
            other => panic!("{file}: {other:?}"),
        }
    }
}

#[test]
fn every_video_fixture_is_detected() {
    for f in VideoFormat::ALL {
        let ext = if *f == VideoFormat::ThreeGp {
            "3gp"
        } else {
            f.as_str()
        };
        let file = format!("sample.{ext}");
        match only_block(Message::user().video_file(path(&file))) {
            ContentBlock::Video(v) => assert_eq!(v.format, *f, "{file}"),
            other => panic!("{file}: {other:?}"),
        }
    }
}

#[test]
fn truncated_png_is_rejected_naming_the_file() {
    let e = Message::user()
        .text("x")
        .image_file(path("bad-truncated.png"))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::UnknownFormat {
                kind: MediaKind::Image,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("bad-truncated.png"), "{e}");
}

#[test]
fn pdf_renamed_jpg_is_not_an_image() {
    let e = Message::user()
        .text("x")
        .image_file(path("bad-pdf-renamed.jpg"))
        .build()
        .unwrap_err();
    assert_eq!(e.rule(), Some(Rule::Format));
    assert!(e.part().unwrap().contains("bad-pdf-renamed.jpg"));
}

#[test]
fn pdf_renamed_jpg_as_document_is_sent_as_pdf_with_a_warning() {
    let req = ConverseRequest::builder()
        .message_builder(
            Message::user()
                .text("read")
                .document_file_named(path("bad-pdf-renamed.jpg"), "renamed"),
        )
        .build()
        .unwrap();
    // `.jpg` names no document format, so there is no claim to contradict.
    assert!(req.warnings().is_empty());
    let req = ConverseRequest::builder()
        .message_builder(Message::user().text("read").document_bytes(
            fixtures::pdf(),
            DocumentFormat::Txt,
            "notes",
        ))
        .build()
        .unwrap();
    match req.warnings() {
        [
            Warning::FormatMismatch {
                part,
                claimed,
                detected,
            },
        ] => {
            assert_eq!(part, "messages[0].content[1]");
            assert_eq!((claimed.as_str(), detected.as_str()), ("txt", "pdf"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_file_is_rejected() {
    let e = Message::user()
        .text("x")
        .image_file(path("bad-empty.png"))
        .build()
        .unwrap_err();
    assert_eq!(e.rule(), Some(Rule::EmptyBytes));
}

#[test]
fn missing_file_is_an_io_error() {
    let e = Message::user()
        .image_file(path("does-not-exist.png"))
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
}

#[test]
fn document_name_rules_and_opt_in_sanitiser() {
    let p = path("bad-name_with.underscore.pdf");
    let e = Message::user()
        .text("x")
        .document_file(&p)
        .build()
        .unwrap_err();
    assert_eq!(e.rule(), Some(Rule::DocumentNameCharacters), "{e}");
    let m = Message::user()
        .sanitize_document_names()
        .text("x")
        .document_file(&p)
        .build()
        .unwrap();
    match &m.content[1] {
        ContentBlock::Document(d) => assert_eq!(d.name, "bad-name with underscore"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn one_byte_over_the_image_limit_is_rejected_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.png");
    let limit = Limits::bedrock().max_image_bytes;
    let mut bytes = fixtures::png(1, 1);
    bytes.resize(usize::try_from(limit).unwrap() + 1, 0);
    std::fs::write(&p, &bytes).unwrap();
    let e = Message::user()
        .text("x")
        .image_file(&p)
        .build()
        .unwrap_err();
    match e {
        Error::Limit {
            part,
            rule,
            limit: l,
            actual,
        } => {
            assert!(part.ends_with("big.png"));
            assert_eq!(rule, Rule::ImageSize);
            assert_eq!((l, actual), (limit, limit + 1));
        }
        other => panic!("{other}"),
    }
    // Exactly at the limit passes the size rule (and then fails the PNG structure check).
    bytes.truncate(usize::try_from(limit).unwrap());
    std::fs::write(&p, &bytes).unwrap();
    let e = Message::user()
        .text("x")
        .image_file(&p)
        .build()
        .unwrap_err();
    assert_eq!(e.rule(), Some(Rule::Format));
}

#[test]
fn max_size_mb_caps_files_like_the_original() {
    let e = Message::user()
        .max_size_mb(0.00001)
        .text("x")
        .image_file(path("sample.png"))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Limit {
                rule: Rule::ImageSize,
                limit: 10,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn image_pixel_limit_uses_the_header() {
    let big = fixtures::png(8001, 1);
    let e = ConverseRequest::builder()
        .message_builder(Message::user().text("x").image_bytes(big, ImageFormat::Png))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Limit {
                rule: Rule::ImageDimensions,
                limit: 8000,
                actual: 8001,
                ..
            }
        ),
        "{e}"
    );
}
