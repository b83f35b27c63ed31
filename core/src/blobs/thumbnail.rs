//! Small previews of photos (and of a frame the app takes from a video), made on the phone so
//! a room's list shows pictures before any full-size blob is downloaded.

use crate::blobs::BlobError;
use std::path::Path;

/// Longest side of a thumbnail, in pixels.
pub const SIDE: u32 = 320;
/// Largest image file the thumbnailer decodes (decoding needs the whole picture in memory).
pub const MAX_IMAGE_BYTES: u64 = 64 * 1024 * 1024;

/// A JPEG thumbnail of the image at `path` (JPEG or PNG), at most [`SIDE`] pixels on its long
/// side.
pub fn from_image_file(path: &Path) -> Result<Vec<u8>, BlobError> {
    let len = std::fs::metadata(path)
        .map_err(|e| BlobError::Io(format!("{:?}", e.kind())))?
        .len();
    if len > MAX_IMAGE_BYTES {
        return Err(BlobError::Io(
            "the image is too large for a thumbnail".into(),
        ));
    }
    let img = image::ImageReader::open(path)
        .map_err(|e| BlobError::Io(format!("{:?}", e.kind())))?
        .with_guessed_format()
        .map_err(|e| BlobError::Io(format!("{:?}", e.kind())))?
        .decode()
        .map_err(|_| BlobError::Io("the file is not an image this device can read".into()))?;
    let small = img.thumbnail(SIDE, SIDE).to_rgb8();
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80);
    small
        .write_with_encoder(encoder)
        .map_err(|_| BlobError::Io("the thumbnail could not be encoded".into()))?;
    Ok(out)
}
