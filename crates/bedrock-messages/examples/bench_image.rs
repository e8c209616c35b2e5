//! Measures building and serialising a request that carries a 3 MB image, against base64-encoding
//! the same bytes alone. Run with `cargo run --release -p bedrock-messages --example bench_image`.
#![allow(clippy::disallowed_methods, reason = "benchmark measures wall time")]
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "benchmark prints its figures: JSON lines on stdout, readable lines on stderr"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bedrock_messages::{ConverseRequest, ImageFormat, Message};
use bytes::Bytes;

const SIZE: usize = 3_000_000;
const RUNS: usize = 41;

/// A PNG-framed buffer of about `SIZE` bytes (signature, IHDR, one large IDAT, IEND).
fn image() -> Bytes {
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    v.extend_from_slice(&13u32.to_be_bytes());
    v.extend_from_slice(b"IHDR");
    v.extend_from_slice(&1000u32.to_be_bytes());
    v.extend_from_slice(&1000u32.to_be_bytes());
    v.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 0, 0]);
    let payload = SIZE - v.len() - 12 - 12;
    v.extend_from_slice(&u32::try_from(payload).unwrap_or(0).to_be_bytes());
    v.extend_from_slice(b"IDAT");
    let mut x: u32 = 0x1234_5678;
    v.extend((0..payload).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x.to_le_bytes()[0]
    }));
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]);
    Bytes::from(v)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn time(mut f: impl FnMut()) -> Duration {
    f();
    median(
        (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let img = image();
    let encode = time(|| {
        black_box(base64::engine::general_purpose::STANDARD.encode(black_box(&img[..])));
    });
    let build = time(|| {
        let req = ConverseRequest::builder()
            .system("Describe images.")
            .message_builder(
                Message::user()
                    .text("What is this?")
                    .image_bytes(img.clone(), ImageFormat::Png),
            )
            .max_tokens(512)
            .build();
        match req {
            Ok(req) => {
                black_box(req.to_json_vec().unwrap_or_default());
            }
            Err(e) => eprintln!("bench request failed to build: {e}"),
        }
    });
    let built = ConverseRequest::builder()
        .message_builder(
            Message::user()
                .text("What is this?")
                .image_bytes(img.clone(), ImageFormat::Png),
        )
        .build();
    let only_build = time(|| {
        black_box(
            ConverseRequest::builder()
                .message_builder(
                    Message::user()
                        .text("What is this?")
                        .image_bytes(img.clone(), ImageFormat::Png),
                )
                .build()
                .is_ok(),
        );
    });
    let only_serialise = time(|| {
        if let Ok(req) = &built {
            black_box(req.to_json_vec().unwrap_or_default());
        }
    });
    let plain_serde = time(|| {
        if let Ok(req) = &built {
            black_box(serde_json::to_vec(req).unwrap_or_default());
        }
    });
    let ratio = build.as_secs_f64() / encode.as_secs_f64();
    eprintln!("image bytes:              {}", img.len());
    eprintln!("base64 encode (median):   {encode:?}");
    eprintln!("build + serialise (med.): {build:?}");
    eprintln!("  of which build:         {only_build:?}");
    eprintln!("  of which serialise:     {only_serialise:?}");
    eprintln!("plain serde_json::to_vec: {plain_serde:?} (for comparison)");
    eprintln!("ratio:                    {ratio:.2} (target <= 1.5)");
    emit("build_serialise_over_base64", ratio, "×");
}

/// One measurement as a JSON line on stdout, the form `cargo xtask bench` reads; the readable
/// lines go to stderr.
fn emit(measure: &str, value: f64, unit: &str) {
    println!(
        "{}",
        serde_json::json!({ "measure": measure, "value": value, "unit": unit })
    );
}
