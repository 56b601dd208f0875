//! A gzip bomb: a body that is small on the wire and huge once inflated,
//! the classic way to exhaust a client that caps bytes *received* instead
//! of bytes *decoded*.

use std::io::Write;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

/// gzip of at least `inflated` zero bytes (rounded up to whole MiB).
///
/// The fastest compression level still shrinks zeros about 200:1 and builds
/// 128 MiB in tens of milliseconds, ten times faster than the best level: a
/// test wants the bomb, not the best bomb.
pub(crate) fn gzip_zeros(inflated: usize) -> Bytes {
    let block = vec![0u8; 1 << 20];
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    for _ in 0..inflated.div_ceil(block.len()) {
        gz.write_all(&block).expect("writing to a Vec cannot fail");
    }
    gz.finish().expect("writing to a Vec cannot fail").into()
}

#[cfg(test)]
mod tests {
    use flate2::read::GzDecoder;

    use super::*;

    #[test]
    fn small_on_the_wire_huge_inflated() {
        let bomb = gzip_zeros(100 << 20);
        assert!(bomb.len() < 1 << 20, "{} bytes compressed", bomb.len());
        let inflated = std::io::copy(&mut GzDecoder::new(&bomb[..]), &mut std::io::sink()).unwrap();
        assert_eq!(inflated, 100 << 20);
    }
}
