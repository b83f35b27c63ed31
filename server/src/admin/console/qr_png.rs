//! QR codes as PNG images, written by hand: the `qrcode` crate gives the modules, and a
//! PNG of black and white pixels needs only a header, one zlib stream of "stored" (not
//! compressed) deflate blocks, CRC-32 and Adler-32 — about sixty lines instead of the
//! `image` crate and its codecs. The picture is 1-bit greyscale, so it stays small
//! (a 4-pixel module QR of an enrollment URL is about 10 KiB).

use qrcode::{Color, QrCode};

/// Pixels per module.
pub const SCALE: usize = 6;
/// Light modules around the code (the standard asks for 4).
pub const QUIET: usize = 4;

fn crc32(data: &[&[u8]]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for part in data {
        for &b in *part {
            crc ^= u32::from(b);
            for _ in 0..8 {
                let mask = (crc & 1).wrapping_neg();
                crc = (crc >> 1) ^ (0xedb8_8320 & mask);
            }
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
}

/// A zlib stream holding `raw` in stored deflate blocks.
fn zlib_stored(raw: &[u8]) -> Vec<u8> {
    let mut z = vec![0x78, 0x01];
    let mut blocks = raw.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        z.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        z.push(u8::from(blocks.peek().is_none()));
        let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    z.extend_from_slice(&adler32(raw).to_be_bytes());
    z
}

/// A 1-bit greyscale PNG of `width` × `height` pixels; `dark(x, y)` is black.
pub fn png_1bit(width: usize, height: usize, dark: impl Fn(usize, usize) -> bool) -> Vec<u8> {
    let row_bytes = width.div_ceil(8);
    let mut raw = Vec::with_capacity((row_bytes + 1) * height);
    for y in 0..height {
        raw.push(0); // filter: none
        for bx in 0..row_bytes {
            let mut byte = 0u8;
            for bit in 0..8 {
                let x = bx * 8 + bit;
                // In greyscale 1-bit, 1 is white.
                if x >= width || !dark(x, y) {
                    byte |= 0x80 >> bit;
                }
            }
            raw.push(byte);
        }
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&u32::try_from(width).unwrap_or(0).to_be_bytes());
    ihdr.extend_from_slice(&u32::try_from(height).unwrap_or(0).to_be_bytes());
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]); // bit depth 1, greyscale, deflate, no filter, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib_stored(&raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

/// The QR code of `text` as a PNG.
pub fn qr_png(text: &str) -> Result<Vec<u8>, qrcode::types::QrError> {
    let code = QrCode::new(text.as_bytes())?;
    let n = code.width();
    let colors = code.to_colors();
    let size = (n + 2 * QUIET) * SCALE;
    Ok(png_1bit(size, size, |x, y| {
        let (mx, my) = (x / SCALE, y / SCALE);
        if mx < QUIET || my < QUIET || mx >= n + QUIET || my >= n + QUIET {
            return false;
        }
        colors[(my - QUIET) * n + (mx - QUIET)] == Color::Dark
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads back what `png_1bit` wrote (stored blocks only) and compares every pixel with
    /// the QR modules.
    #[test]
    fn png_holds_the_qr_modules() {
        let text = "kizuna://enroll?v=1&relay=https%3A%2F%2F127.0.0.1%3A8443&code=ABCD-EFGH-JKLM";
        let png = qr_png(text).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap()) as usize;
        // Walk the chunks, checking each CRC, and collect IDAT.
        let mut pos = 8;
        let mut idat = Vec::new();
        while pos < png.len() {
            let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
            let kind = &png[pos + 4..pos + 8];
            let data = &png[pos + 8..pos + 8 + len];
            let crc = u32::from_be_bytes(png[pos + 8 + len..pos + 12 + len].try_into().unwrap());
            assert_eq!(crc, crc32(&[kind, data]));
            if kind == b"IDAT" {
                idat.extend_from_slice(data);
            }
            pos += 12 + len;
        }
        // Inflate stored blocks.
        let mut raw = Vec::new();
        let mut p = 2;
        loop {
            let last = idat[p] & 1 == 1;
            let len = u16::from_le_bytes([idat[p + 1], idat[p + 2]]) as usize;
            raw.extend_from_slice(&idat[p + 5..p + 5 + len]);
            p += 5 + len;
            if last {
                break;
            }
        }
        assert_eq!(
            u32::from_be_bytes(idat[p..p + 4].try_into().unwrap()),
            adler32(&raw)
        );
        let code = QrCode::new(text.as_bytes()).unwrap();
        let n = code.width();
        assert_eq!(width, (n + 2 * QUIET) * SCALE);
        let colors = code.to_colors();
        let row = width.div_ceil(8) + 1;
        for my in 0..n {
            for mx in 0..n {
                let (x, y) = ((mx + QUIET) * SCALE + 1, (my + QUIET) * SCALE + 1);
                let byte = raw[y * row + 1 + x / 8];
                let white = byte & (0x80 >> (x % 8)) != 0;
                assert_eq!(
                    !white,
                    colors[my * n + mx] == Color::Dark,
                    "module {mx},{my}"
                );
            }
        }
    }

    #[test]
    fn crc_matches_the_png_spec_example() {
        // CRC of "IEND" with no data is the constant every PNG ends with.
        assert_eq!(crc32(&[b"IEND", b""]), 0xae42_6082);
    }
}
