//! Menu photos: an owner's upload (JPEG, PNG or WebP, told apart by their bytes, never by the
//! file name) is decoded, turned upright, stripped of everything but its pixels (location and
//! camera data go), resized to three widths and stored as JPEG under `<data dir>/images`.
//! Files are named after the upload's digest, so a URL never changes meaning and is cached
//! for a year.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::domain::ids::RestaurantId;

pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// The widths stored: a card thumbnail, the item sheet on a phone, a tablet or a sharp screen.
pub const WIDTHS: [u32; 3] = [320, 640, 1280];
/// The width `url` points at (the others are in `srcset`).
const DEFAULT_WIDTH: u32 = 640;
const JPEG_QUALITY: u8 = 80;
/// Larger pictures are refused before decoding (a small file can unpack to gigabytes): 40
/// megapixels is more than any phone camera takes.
const MAX_SIDE: u32 = 12_000;
const MAX_PIXELS: u64 = 40_000_000;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("the file is not a JPEG, PNG or WebP image")]
    NotAnImage,
    #[error("the image could not be read: {0}")]
    Unreadable(String),
    #[error("the image is too large (at most {MAX_SIDE} pixels on a side, 40 megapixels)")]
    TooManyPixels,
    #[error(transparent)]
    Storage(#[from] std::io::Error),
}

#[derive(Debug, serde::Serialize)]
pub struct StoredImage {
    /// The 640 px version: what `image_url` holds.
    pub url: String,
    /// Every stored width, for `<img srcset>`.
    pub srcset: String,
    pub width: u32,
    pub height: u32,
}

fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    match bytes {
        [0xff, 0xd8, 0xff, ..] => Some(ImageFormat::Jpeg),
        [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, ..] => Some(ImageFormat::Png),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some(ImageFormat::WebP),
        _ => None,
    }
}

fn decode(bytes: &[u8]) -> Result<DynamicImage, ImageError> {
    let format = sniff(bytes).ok_or(ImageError::NotAnImage)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(read_error)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageError::TooManyPixels);
    }
    let orientation = decoder.orientation().map_err(read_error)?;
    let mut picture = DynamicImage::from_decoder(decoder).map_err(read_error)?;
    picture.apply_orientation(orientation);
    Ok(picture)
}

fn read_error(err: image::ImageError) -> ImageError {
    match err {
        image::ImageError::Limits(_) => ImageError::TooManyPixels,
        other => ImageError::Unreadable(other.to_string()),
    }
}

fn file_name(digest: &str, width: u32) -> String {
    format!("{digest}-{width}.jpg")
}

/// Whether `name` is one of the files `store` writes (nothing else is ever served).
pub fn is_stored_name(name: &str) -> bool {
    let Some((digest, rest)) = name.split_once('-') else {
        return false;
    };
    digest.len() == 32
        && digest
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && WIDTHS.iter().any(|w| rest == format!("{w}.jpg"))
}

pub fn directory(data_dir: &Path, restaurant: RestaurantId) -> PathBuf {
    data_dir.join("images").join(restaurant.to_string())
}

/// Decodes `bytes`, stores every width and says where. Blocking: run it off the async threads.
pub fn store(
    data_dir: &Path,
    restaurant: RestaurantId,
    bytes: &[u8],
) -> Result<StoredImage, ImageError> {
    let picture = decode(bytes)?;
    let picture = if picture.color().has_alpha() {
        // Photos are opaque: transparency (a PNG logo) is laid on white.
        let rgba = picture.into_rgba8();
        let mut flat = image::RgbImage::new(rgba.width(), rgba.height());
        for (to, from) in flat.pixels_mut().zip(rgba.pixels()) {
            let alpha = u16::from(from[3]);
            for c in 0..3 {
                to[c] = ((u16::from(from[c]) * alpha + 255 * (255 - alpha)) / 255) as u8;
            }
        }
        DynamicImage::ImageRgb8(flat)
    } else {
        DynamicImage::ImageRgb8(picture.into_rgb8())
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let digest = crate::secrets::hex(&digest.as_ref()[..16]);
    let dir = directory(data_dir, restaurant);
    std::fs::create_dir_all(&dir)?;
    for width in WIDTHS {
        // Never enlarged: a small photo is stored at its own size under every name.
        let resized = if picture.width() > width {
            picture.resize(width, u32::MAX, FilterType::Triangle)
        } else {
            picture.clone()
        };
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
            .encode_image(&resized)
            .map_err(|e| ImageError::Unreadable(e.to_string()))?;
        let path = dir.join(file_name(&digest, width));
        let partial = path.with_extension("partial");
        std::fs::write(&partial, &jpeg)?;
        std::fs::rename(&partial, &path)?;
    }
    let base = format!("/images/{restaurant}");
    Ok(StoredImage {
        url: format!("{base}/{}", file_name(&digest, DEFAULT_WIDTH)),
        srcset: WIDTHS
            .iter()
            .map(|w| format!("{base}/{} {w}w", file_name(&digest, *w)))
            .collect::<Vec<_>>()
            .join(", "),
        width: picture.width(),
        height: picture.height(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_names_store_writes_are_served() {
        let digest = "0123456789abcdef0123456789abcdef";
        assert!(is_stored_name(&format!("{digest}-640.jpg")));
        assert!(!is_stored_name(&format!("{digest}-641.jpg")));
        assert!(!is_stored_name("../../etc/passwd"));
        assert!(!is_stored_name(&format!(
            "{}-640.jpg",
            digest.to_uppercase()
        )));
        assert!(!is_stored_name("x-640.jpg"));
    }

    #[test]
    fn formats_are_told_by_their_bytes() {
        assert_eq!(sniff(&[0xff, 0xd8, 0xff, 0xe0]), Some(ImageFormat::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(ImageFormat::Png));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(ImageFormat::WebP));
        assert_eq!(sniff(b"PK\x03\x04zip"), None);
    }
}
