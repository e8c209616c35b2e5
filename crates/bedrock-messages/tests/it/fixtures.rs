//! Generator for `fixtures/media/`: tiny real files of every format Bedrock accepts, plus bad ones.
//!
//! The files are made here, not downloaded. `fixtures_are_up_to_date` checks the committed files
//! against this generator; run it with `BEDROCK_MESSAGES_WRITE_FIXTURES=1` to rewrite them.

use std::path::PathBuf;

pub(crate) fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/media")
}

pub(crate) fn path(name: &str) -> PathBuf {
    dir().join(name)
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
    let mut c = kind.to_vec();
    c.extend_from_slice(data);
    out.extend_from_slice(&c);
    out.extend_from_slice(&crc32(&c).to_be_bytes());
}

/// A greyscale PNG of `w`×`h` pixels, stored (uncompressed) zlib data.
pub(crate) fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    let mut raw = Vec::new();
    for _ in 0..h {
        raw.push(0);
        raw.extend(std::iter::repeat_n(0x80u8, w as usize));
    }
    let mut z = vec![0x78, 0x01];
    for (i, chunk) in raw.chunks(65535).enumerate() {
        let last = (i + 1) * 65535 >= raw.len();
        z.push(u8::from(last));
        let len = u16::try_from(chunk.len()).unwrap();
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(chunk);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    png_chunk(&mut out, b"IDAT", &z);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A 1×1 grey baseline JPEG with one-code Huffman tables.
fn jpeg() -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8];
    v.extend_from_slice(&[
        0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
    ]);
    v.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
    v.extend_from_slice(&[1u8; 64]);
    v.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 8, 0, 1, 0, 1, 1, 1, 0x11, 0]);
    for class in [0x00u8, 0x10] {
        v.extend_from_slice(&[0xFF, 0xC4, 0x00, 0x14, class, 1]);
        v.extend_from_slice(&[0u8; 15]);
        v.push(0);
    }
    v.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 0x3F, 0]);
    v.push(0x3F);
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

fn gif() -> Vec<u8> {
    let mut v = b"GIF89a".to_vec();
    v.extend_from_slice(&[1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF]);
    v.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3B]);
    v
}

/// A 1×1 lossless WebP.
fn webp() -> Vec<u8> {
    let payload = [
        0x2F, 0, 0, 0, 0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xFE, 0x07,
    ];
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&26u32.to_le_bytes());
    v.extend_from_slice(b"WEBPVP8L");
    v.extend_from_slice(&13u32.to_le_bytes());
    v.extend_from_slice(&payload);
    v.push(0);
    v
}

/// A one-page PDF with a correct cross-reference table.
pub(crate) fn pdf() -> Vec<u8> {
    let objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] /Contents 4 0 R /Resources << >> >>",
        "<< /Length 0 >>\nstream\n\nendstream",
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A stored (uncompressed) ZIP archive.
fn zip(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = u32::try_from(out.len()).unwrap();
        let crc = crc32(data.as_bytes());
        let size = u32::try_from(data.len()).unwrap();
        let nlen = u16::try_from(name.len()).unwrap();
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&nlen.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
        };
        out.extend_from_slice(b"PK\x03\x04");
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data.as_bytes());
        central.extend_from_slice(b"PK\x01\x02\x14\x00");
        common(&mut central);
        central.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = u32::try_from(out.len()).unwrap();
    let cd_size = u32::try_from(central.len()).unwrap();
    out.extend_from_slice(&central);
    let n = u16::try_from(entries.len()).unwrap();
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

fn ooxml(dir: &str, main: &str, body: &str) -> Vec<u8> {
    let types = "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>";
    let rels = "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"/>";
    zip(&[
        ("[Content_Types].xml", types),
        ("_rels/.rels", rels),
        // Word and Excel write the part relationships third and the main part fourth; `infer`
        // reads the fourth entry's directory to tell docx from xlsx.
        (&format!("{dir}/_rels/{main}.rels"), rels),
        (&format!("{dir}/{main}"), body),
    ])
}

/// A minimal OLE2 compound file (version 3): header, one FAT sector, one directory sector whose
/// root entry carries the application CLSID (`00020906-…` Word, `00020820-…` Excel).
fn ole2(clsid_first: u32) -> Vec<u8> {
    const FREE: u32 = 0xFFFF_FFFF;
    const END: u32 = 0xFFFF_FFFE;
    const FAT: u32 = 0xFFFF_FFFD;
    let mut h = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    h.extend_from_slice(&[0u8; 16]);
    h.extend_from_slice(&[0x3E, 0x00, 0x03, 0x00, 0xFE, 0xFF, 0x09, 0x00, 0x06, 0x00]);
    h.extend_from_slice(&[0u8; 6]);
    for v in [0u32, 1, 1, 0, 4096, END, 0, END, 0] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h.extend_from_slice(&0u32.to_le_bytes());
    for _ in 1..109 {
        h.extend_from_slice(&FREE.to_le_bytes());
    }
    assert_eq!(h.len(), 512);
    let mut fat = Vec::new();
    for v in [FAT, END] {
        fat.extend_from_slice(&v.to_le_bytes());
    }
    while fat.len() < 512 {
        fat.extend_from_slice(&FREE.to_le_bytes());
    }
    let mut dir = vec![0u8; 512];
    let name: Vec<u8> = "Root Entry"
        .encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect();
    dir[..name.len()].copy_from_slice(&name);
    dir[64..66].copy_from_slice(&u16::try_from(name.len()).unwrap().to_le_bytes());
    dir[66] = 5;
    dir[67] = 1;
    for at in [68, 72, 76] {
        dir[at..at + 4].copy_from_slice(&FREE.to_le_bytes());
    }
    let mut clsid = clsid_first.to_le_bytes().to_vec();
    clsid.extend_from_slice(&[0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0x46]);
    dir[80..96].copy_from_slice(&clsid);
    dir[116..120].copy_from_slice(&END.to_le_bytes());
    for e in 1..4 {
        let base = e * 128;
        for at in [68, 72, 76] {
            dir[base + at..base + at + 4].copy_from_slice(&FREE.to_le_bytes());
        }
    }
    [h, fat, dir].concat()
}

fn ftyp(brand: &[u8; 4], compat: &[u8; 4]) -> Vec<u8> {
    let mut v = 24u32.to_be_bytes().to_vec();
    v.extend_from_slice(b"ftyp");
    v.extend_from_slice(brand);
    v.extend_from_slice(&0x200u32.to_be_bytes());
    v.extend_from_slice(brand);
    v.extend_from_slice(compat);
    v.extend_from_slice(&8u32.to_be_bytes());
    v.extend_from_slice(b"free");
    v
}

fn ebml(doctype: &str) -> Vec<u8> {
    let mut body = vec![
        0x42, 0x86, 0x81, 1, 0x42, 0xF7, 0x81, 1, 0x42, 0xF2, 0x81, 4, 0x42, 0xF3, 0x81, 8,
    ];
    body.extend_from_slice(&[0x42, 0x82, 0x80 | u8::try_from(doctype.len()).unwrap()]);
    body.extend_from_slice(doctype.as_bytes());
    body.extend_from_slice(&[0x42, 0x87, 0x81, 4, 0x42, 0x85, 0x81, 2]);
    let mut v = vec![
        0x1A,
        0x45,
        0xDF,
        0xA3,
        0x80 | u8::try_from(body.len()).unwrap(),
    ];
    v.extend_from_slice(&body);
    v.extend_from_slice(&[0x18, 0x53, 0x80, 0x67, 0x80]);
    v
}

fn mpeg_ps() -> Vec<u8> {
    vec![
        0, 0, 1, 0xBA, 0x44, 0, 4, 0, 4, 1, 1, 0x89, 0xC3, 0xF8, 0, 0, 1, 0xB9,
    ]
}

fn asf() -> Vec<u8> {
    let mut v = vec![
        0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE,
        0x6C,
    ];
    v.extend_from_slice(&30u64.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&[1, 2]);
    v
}

/// Every fixture: good files named `sample.<ext>`, bad ones named for what is wrong.
pub(crate) fn all() -> Vec<(&'static str, Vec<u8>)> {
    let png1 = png(1, 1);
    vec![
        ("sample.png", png1.clone()),
        ("sample.jpg", jpeg()),
        ("sample.gif", gif()),
        ("sample.webp", webp()),
        ("sample.pdf", pdf()),
        ("sample.csv", b"name,count\nalpha,1\nbeta,2\n".to_vec()),
        ("sample.doc", ole2(0x0002_0906)),
        ("sample.xls", ole2(0x0002_0820)),
        (
            "sample.docx",
            ooxml("word", "document.xml", "<w:document/>"),
        ),
        ("sample.xlsx", ooxml("xl", "workbook.xml", "<workbook/>")),
        (
            "sample.html",
            b"<!DOCTYPE html>\n<html><body><p>Hello</p></body></html>\n".to_vec(),
        ),
        ("sample.txt", b"Hello, Bedrock.\n".to_vec()),
        ("sample.md", b"# Title\n\nSome *markdown*.\n".to_vec()),
        ("sample.mkv", ebml("matroska")),
        ("sample.mov", ftyp(b"qt  ", b"qt  ")),
        ("sample.mp4", ftyp(b"isom", b"mp41")),
        ("sample.webm", ebml("webm")),
        (
            "sample.flv",
            b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec(),
        ),
        ("sample.mpeg", mpeg_ps()),
        ("sample.mpg", mpeg_ps()),
        ("sample.wmv", asf()),
        ("sample.3gp", ftyp(b"3gp4", b"isom")),
        ("bad-truncated.png", png1.get(..20).unwrap().to_vec()),
        ("bad-pdf-renamed.jpg", pdf()),
        ("bad-empty.png", Vec::new()),
        ("bad-name_with.underscore.pdf", pdf()),
    ]
}

#[test]
fn fixtures_are_up_to_date() {
    let write = std::env::var_os("BEDROCK_MESSAGES_WRITE_FIXTURES").is_some();
    for (name, bytes) in all() {
        let p = path(name);
        if write {
            std::fs::create_dir_all(dir()).unwrap();
            std::fs::write(&p, &bytes).unwrap();
        }
        let on_disk = std::fs::read(&p).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; regenerate with BEDROCK_MESSAGES_WRITE_FIXTURES=1",
                p.display()
            )
        });
        assert_eq!(on_disk, bytes, "{name} differs from the generator");
    }
}

#[test]
fn office_fixtures_are_recognised_by_infer_itself() {
    let get = |n: &str| all().into_iter().find(|(f, _)| *f == n).unwrap().1;
    assert!(infer::doc::is_doc(&get("sample.doc")));
    assert!(infer::doc::is_xls(&get("sample.xls")));
    assert!(infer::doc::is_docx(&get("sample.docx")));
    assert!(infer::doc::is_xlsx(&get("sample.xlsx")));
}

#[test]
fn generated_png_has_valid_crcs() {
    let p = png(2, 3);
    // IHDR CRC covers "IHDR" + 13 bytes and sits at 29..33.
    assert_eq!(crc32(&p[12..29]).to_be_bytes(), p[29..33]);
    assert_eq!(
        bedrock_messages::format::image_dimensions(&p, bedrock_messages::ImageFormat::Png),
        Some((2, 3))
    );
}
