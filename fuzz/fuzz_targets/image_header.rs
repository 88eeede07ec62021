//! The local provider's image header check: any bytes are an image within its limits or a
//! refusal, read without decoding a pixel (so a tiny file never costs more than its header).
#![no_main]

use libfuzzer_sys::fuzz_target;
use multiconvert_local::convert::{check_header, plan, Options};
use multiconvert_local::ImageLimits;

fuzz_target!(|data: &[u8]| {
    let limits = ImageLimits::default()
        .with_max_pixels(1 << 20)
        .with_max_alloc(16 << 20);
    if let Ok(header) = check_header(data, &limits) {
        assert!(u64::from(header.width) * u64::from(header.height) <= limits.max_pixels);
        assert!(header.decoded_bytes <= limits.max_alloc);
        let _ = plan(&header, &Options::default(), &limits);
    }
});
